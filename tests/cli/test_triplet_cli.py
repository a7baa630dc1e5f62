"""``pyrolatent fit triplet`` writes the summary keys the issue names."""

import json

from pyrolatent.cli import main


def test_fit_triplet_on_digits_writes_the_triplet_summary(tmp_path):
    out = tmp_path / "run"
    argv = [
        "fit",
        "triplet",
        "--triplets",
        "labels:200",
        "--n-test-triplets",
        "100",
        "--steps",
        "20",
        "--hidden",
        "16",
        "--iwae-samples",
        "5",
        "--batch-size",
        "64",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("test_triplet_accuracy", "knn1_accuracy", "knn5_accuracy", "test_elbo"):
        assert 0.0 <= summary[key] <= 1.0 or key == "test_elbo"
    assert (summary["n_train_triplets"], summary["n_test_triplets"]) == (200, 100)


def _two_oracles(out, *flags) -> dict:
    """Fit the label and ink oracles on the digits with ``flags``; the run's summary."""
    argv = ["fit", "triplet", "--triplets", "labels:100+attribute:ink:100", "--n-test-triplets", "50", *flags]
    argv += ["--hidden", "16", "--iwae-samples", "5", "--batch-size", "64", "--out", str(out)]
    assert main(argv) == 0
    return json.loads((out / "summary.json").read_text())


def test_two_oracles_with_split_masks_report_the_subspace_matrix(tmp_path):
    summary = _two_oracles(tmp_path / "run", "--n-components", "4", "--masks", "split", "--steps", "10")
    assert summary["n_oracles"] == 2 and len(summary["oracle_subspace_accuracy"]) == 2
    assert summary["oracle_masks"] == [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]


def test_oracle_dims_give_each_oracle_its_block_and_leave_the_rest_to_the_elbo(tmp_path):
    summary = _two_oracles(tmp_path / "run", "--n-components", "5", "--oracle-dims", "2", "--steps", "5")
    assert summary["oracle_masks"] == [[1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 0.0]]


def test_too_many_oracle_dims_are_refused_with_exit_code_2(tmp_path, capsys):
    argv = ["fit", "triplet", "--triplets", "labels:100", "--n-components", "2", "--oracle-dims", "3"]
    assert main([*argv, "--steps", "2", "--out", str(tmp_path / "r")]) == 2
    assert "'--oracle-dims' option must be a positive integer" in capsys.readouterr().err


def test_bad_triplet_spec_is_one_line_and_exit_code_2(tmp_path, capsys):
    argv = ["fit", "triplet", "--triplets", "pairs:10", "--steps", "2", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "must be one of labels:N" in capsys.readouterr().err


def test_report_rebuilds_a_triplet_run_whose_fit_had_required_flags(tmp_path, capsys):
    from pyrolatent.cli import main

    out = tmp_path / "run"
    args = [
        "fit",
        "triplet",
        "--triplets",
        "labels:200",
        "--n-components",
        "2",
        "--hidden",
        "16",
        "--steps",
        "5",
        "--iwae-samples",
        "5",
        "--n-test-triplets",
        "50",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    # a run written before the optional --oracle-dims flag existed still rebuilds (the flag was off)
    saved = json.loads((out / "run.json").read_text())
    assert saved.pop("oracle_dims") is None
    (out / "run.json").write_text(json.dumps(saved))
    assert main(["report", str(out)]) == 0
    assert (out / "report" / "index.html").is_file()
