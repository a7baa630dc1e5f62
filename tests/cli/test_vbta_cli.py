"""``pyrolatent fit vbta``: digits against transposed digits, the summary's keys, bad pairs files."""

import json

import pytest
import torch

from pyrolatent.cli import main

# Small settings that run in seconds, with the command's defaults for the cross-domain terms
# (--pair-weight balanced, --triplet-weight 100, exact JS). Seed 0 gives A->B 0.47, B->A 0.44
# with 20 pairs and 0.09 / 0.09 with none. (The symmetrised KL, unbounded, at triplet weight 100
# overwhelms the reconstructions here: 0.18; with --pair-weight 1 it gave 0.58.)
FAST = [
    "--steps",
    "300",
    "--lr",
    "3e-3",
    "--hidden",
    "64",
    "--n-components",
    "8",
    "--separate-heads",
]


def _fit(tmp_path, name, *extra):
    out = tmp_path / name
    assert main(["fit", "vbta", "--data", "digits", "--data-b", "transpose", *FAST, *extra, "--out", str(out)]) == 0
    return json.loads((out / "summary.json").read_text())


def test_twenty_pairs_translate_digits_far_better_than_no_pairs(tmp_path):
    full = _fit(tmp_path, "full", "--pairs", "20")
    none = _fit(tmp_path, "none", "--pairs", "0")
    assert (full["n_pairs"], none["n_pairs"]) == (20, 0)
    for key in ("translation_accuracy_ab", "translation_accuracy_ba"):
        # seed 0: 0.47 / 0.44 with 20 pairs and 0.09 / 0.09 without (chance: 0.1)
        assert full[key] > none[key] + 0.15, (key, full[key], none[key])
    assert full["target_classifier_accuracy"]["b"] > 0.9 and full["target_classifier_accuracy"]["a"] > 0.9
    assert full["retrieval_top1"] > 2 * full["retrieval_chance"]
    assert full["test_elbo"] < 0 and "logistic regression" in full["classifier"]


def test_a_pairs_file_with_a_bad_row_is_refused_naming_it(tmp_path, capsys):
    bad = tmp_path / "pairs.csv"
    bad.write_text("a,b\n0,0\n5,5\n5,7\n")
    argv = [
        "fit",
        "vbta",
        "--data",
        "digits",
        "--data-b",
        "digits",
        "--pairs-file",
        str(bad),
        "--steps",
        "1",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    assert "row 2 [5, 7] reuses the domain-A object of row 1" in capsys.readouterr().err


def test_revealed_pairs_need_aligned_domains(tmp_path, capsys):
    argv = [
        "fit",
        "vbta",
        "--data",
        "digits",
        "--data-b",
        "digits",
        "--pairs",
        "5",
        "--steps",
        "1",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    assert "aligned" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--triplet-weight", "--cycle-weight", "--pair-weight"])
def test_negative_weights_are_refused_by_flag(tmp_path, capsys, flag):
    argv = [
        "fit",
        "vbta",
        "--data-b",
        "transpose",
        "--pairs",
        "5",
        flag,
        "-1",
        "--steps",
        "1",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, match",
    [(["--pairs", "5"], "'--data-b' option is needed"), (["--data-b", "transpose"], "'--pairs N' and '--pairs-file")],
)
def test_the_second_domain_and_the_pairs_are_needed(tmp_path, capsys, argv, match):
    assert main(["fit", "vbta", *argv, "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    assert match in capsys.readouterr().err


def _spy_on_figures(monkeypatch) -> list:
    """Record what the VBTA figure function is given (and still draw the figures)."""
    from pyrolatent.models import VBTA
    from pyrolatent.reports.model_figures import MODEL_FIGURES

    seen, draw = [], MODEL_FIGURES[VBTA]

    def spy(model, guide, data, **kwargs):
        seen.append(data)
        return draw(model, guide, data, **kwargs)

    monkeypatch.setitem(MODEL_FIGURES, VBTA, spy)
    return seen


@pytest.mark.parametrize("how", ["transpose", "rot90"])
def test_the_report_shows_both_domains_of_the_held_out_rows(tmp_path, monkeypatch, how):
    seen = _spy_on_figures(monkeypatch)
    out = tmp_path / "run"
    argv = ["fit", "vbta", "--data-b", how, "--pairs", "10", "--steps", "5", "--hidden", "16", "--report"]
    assert main([*argv, "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0  # 'pyrolatent report DIR' rebuilds the same data
    assert len(seen) == 2
    summary = json.loads((out / "summary.json").read_text())
    for data in seen:
        x, y = data["x"].reshape(-1, 8, 8), data["y"].reshape(-1, 8, 8)
        assert x.shape[0] == y.shape[0] == summary["n_test_a"]  # the held-out rows, not the training part
        # domain B of this run is domain A transposed (rotated): the report sees both, row-aligned
        expected = x.transpose(1, 2) if how == "transpose" else torch.rot90(x, 1, dims=(1, 2))
        assert torch.equal(y, expected)
        assert data["pairs"].tolist() == [[i, i] for i in range(x.shape[0])]
    for name in ("translations_ab", "translations_ba", "joint_samples", "codes_both_domains"):
        assert (out / "report" / f"{name}.png").is_file(), name


def test_the_report_of_unaligned_domains_shows_round_trips(tmp_path, monkeypatch):
    from pyrolatent.reports import vbta_figures

    seen = _spy_on_figures(monkeypatch)
    labels = []
    grid = vbta_figures.translation_grid_figure

    def grid_spy(model, source, truth=None, **kwargs):
        labels.append(truth is None)
        return grid(model, source, truth, **kwargs)

    monkeypatch.setattr(vbta_figures, "translation_grid_figure", grid_spy)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a,b\n" + "".join(f"{i},{i + 1}\n" for i in range(0, 400, 10)))
    argv = ["fit", "vbta", "--data-b", "digits", "--pairs-file", str(pairs), "--steps", "5", "--hidden", "16"]
    assert main([*argv, "--report", "--out", str(tmp_path / "run")]) == 0
    (data,) = seen
    assert data["aligned"] is False and data["x"].shape == data["y"].shape
    assert labels == [True, True]  # no known test pairs: each grid's third row is the round trip
