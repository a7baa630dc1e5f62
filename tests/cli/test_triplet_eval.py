"""``--triplets`` on ``fit vae``, ``fit autoencoder`` and the baselines: the same
metrics and keys as ``fit triplet``, evaluated (not trained on) for the former."""

import json

import pyro
import pytest

from pyrolatent.cli import main

KEYS = ("test_triplet_accuracy", "knn1_accuracy", "knn5_accuracy", "n_train_triplets", "n_test_triplets")
COMMON = ["--n-test-triplets", "100", "--steps", "15", "--batch-size", "64", "--n-components", "3"]


def _fit(tmp_path, name, *extra):
    out = tmp_path / name
    assert main(["fit", name, *COMMON, *extra, "--out", str(out)]) == 0
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize(
    "name, extra",
    [
        ("vae", ["--hidden", "16", "--iwae-samples", "5"]),
        ("autoencoder", ["--hidden", "16"]),
        ("siamese", ["--hidden", "16"]),
        ("triplet_margin", ["--hidden", "16"]),
        ("mahalanobis", []),
    ],
)
def test_every_method_reports_the_triplet_metrics(tmp_path, name, extra):
    summary = _fit(tmp_path, name, "--triplets", "labels:200", *extra)
    for key in KEYS[:3]:
        assert 0.0 <= summary[key] <= 1.0
    assert (summary["n_train_triplets"], summary["n_test_triplets"]) == (200, 100)


def test_vae_evaluates_but_does_not_train_on_the_triplets(tmp_path):
    pyro.set_rng_seed(0)  # the networks are initialised when the model is built, before fit seeds itself
    plain = _fit(tmp_path, "vae", "--hidden", "16", "--iwae-samples", "5")
    pyro.set_rng_seed(0)
    with_triplets = _fit(tmp_path / "t", "vae", "--hidden", "16", "--iwae-samples", "5", "--triplets", "labels:200")
    assert "test_triplet_accuracy" not in plain
    assert with_triplets["final_elbo"] == plain["final_elbo"]  # the same fit, to the bit
    assert with_triplets["triplet_accuracy_distance"] == "js"


def test_the_baselines_need_triplets(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["fit", "siamese", "--out", str(tmp_path / "r")])
    assert "--triplets" in capsys.readouterr().err
