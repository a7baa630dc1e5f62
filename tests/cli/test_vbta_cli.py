"""``pyrolatent fit vbta``: digits against transposed digits, the summary's keys, bad pairs files."""

import json

import pytest

from pyrolatent.cli import main

# Small settings that run in seconds. The symmetrised KL (the VBTA authors' "JS") is used
# here because the exact JS saturates at ln 2 per dimension while the codes are still far
# apart, which slows the alignment down in a run this short (400 steps, 20 pairs: A->B
# 0.28 with JS against 0.53 with the symmetrised KL; no pairs: 0.09).
FAST = [
    "--steps",
    "300",
    "--lr",
    "3e-3",
    "--hidden",
    "64",
    "--n-components",
    "8",
    "--distance",
    "symmetric_kl",
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
        # seed 0 gave 0.38 / 0.35 with 20 pairs and 0.08 / 0.09 without (chance: 0.1)
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


@pytest.mark.parametrize("flag", ["--triplet-weight", "--cycle-weight"])
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


def test_report_rebuilds_a_vbta_run(tmp_path):
    out = tmp_path / "run"
    argv = ["fit", "vbta", "--data-b", "rot90", "--pairs", "10", "--steps", "5", "--hidden", "16", "--out", str(out)]
    assert main(argv) == 0
    assert main(["report", str(out)]) == 0
    assert (out / "report" / "translations_ab.png").is_file() and (out / "report" / "joint_samples.png").is_file()
