"""The command line: a run directory, its summary, and one-line errors."""

import json

import numpy as np
import pytest

from pyrolatent.cli import main
from pyrolatent.data import make_bishop
from pyrolatent.inference import restore
from pyrolatent.models import BayesianPCA


@pytest.fixture
def bishop_csv(tmp_path):
    path = tmp_path / "bishop.csv"
    np.savetxt(path, make_bishop(seed=0).x.numpy(), delimiter=",")
    return path


def test_fit_bpca_writes_a_complete_run_directory(tmp_path, bishop_csv, capsys):
    out = tmp_path / "run"
    code = main(["fit", "bpca", "--data", f"csv:{bishop_csv}", "--steps", "300", "--lr", "0.03", "--seed", "0",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt", "settings.json", "losses.csv", "summary.json", "run.json"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_steps"] == 300 and summary["device"] == "cpu"
    assert summary["n_components"] == 9  # default: n_features - 1
    for key in ("final_elbo", "wall_time_s", "noise_variance"):
        assert np.isfinite(summary[key])
    losses = np.loadtxt(out / "losses.csv", delimiter=",", skiprows=1)
    assert losses.shape == (300, 2)
    assert summary["final_elbo"] == pytest.approx(-losses[-30:, 1].mean(), rel=1e-5)
    assert json.loads((out / "settings.json").read_text())["lr"] == 0.03
    printed = capsys.readouterr().out
    assert f"{summary['effective_dims']} of 9 components survive" in printed and str(out) in printed
    # the checkpoint loads into a fresh model and gives the same summary
    model = BayesianPCA(10, 9)
    result = restore(model, make_bishop(seed=0), out / "checkpoint.pt")
    post = model.posterior(result.guide)
    assert post.n_effective == summary["effective_dims"]
    assert float(post.noise_variance) == pytest.approx(summary["noise_variance"], rel=0.05)


def test_a_failed_run_leaves_no_directory_and_keeps_an_old_one(tmp_path, bishop_csv, capsys):
    out = tmp_path / "run"
    assert main(["fit", "bpca", "--data", f"csv:{bishop_csv}", "--steps", "5", "--out", str(out)]) == 0
    before = (out / "summary.json").read_text()
    code = main(["fit", "bpca", "--data", f"csv:{bishop_csv}", "--steps", "5", "--lr", "-1", "--out", str(out)])
    assert code == 2
    assert (out / "summary.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bishop.csv", "run"]  # no temp folder left
    fresh = tmp_path / "fresh"
    assert main(["fit", "bpca", "--data", f"csv:{bishop_csv}", "--n-components", "0", "--out", str(fresh)]) == 2
    assert not fresh.exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ("pictures", "The '--data' option must be one of digits, mnist:PATH"),
        ("mnist:/no/such/dir", "/no/such/dir"),
        ("csv:", "'--data' option"),
    ],
)
def test_bad_data_exits_with_one_clear_line(tmp_path, capsys, data, message):
    code = main(["fit", "bpca", "--data", data, "--steps", "5", "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("pyrolatent: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_non_numeric_csv_exits_with_one_clear_line(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("1,2,3\n4,five,6\n")
    assert main(["fit", "bpca", "--data", f"csv:{path}", "--steps", "5", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "five" in err and err.count("\n") == 1


def test_unknown_model_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "nosuch", "--out", "x"])
    assert exc.value.code == 2
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err


def test_report_of_a_missing_run_directory(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none")]) == 2
    assert "run.json" in capsys.readouterr().err


def test_fit_with_report_then_report_again_from_the_run_directory(tmp_path, bishop_csv, capsys):
    out = tmp_path / "run"
    assert main(["fit", "bpca", "--data", f"csv:{bishop_csv}", "--steps", "50", "--out", str(out), "--report"]) == 0
    page = out / "report" / "index.html"
    assert page.is_file() and (out / "report" / "inference_data.nc").is_file()
    assert str(page) in capsys.readouterr().out
    first = page.stat().st_mtime_ns
    assert main(["report", str(out)]) == 0
    assert page.stat().st_mtime_ns > first
    assert "report written to" in capsys.readouterr().out
    html = page.read_text()
    assert "BayesianPCA" in html and "ard_relevance" in html


def test_restarts_are_compared_and_reported(tmp_path, bishop_csv, capsys):
    out = tmp_path / "run"
    code = main(["fit", "bpca", "--data", f"csv:{bishop_csv}", "--steps", "1500", "--lr", "0.03",
                 "--restarts", "3", "--report", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    # converged fits of a well-posed problem agree on the identifiable quantities
    assert summary["restarts"] == 3 and summary["restarts_agree"] is True and summary["restarts_max_rhat"] < 1.1
    assert "3 restarts" in capsys.readouterr().out
    assert "restart" in (out / "report" / "index.html").read_text().lower()


def test_restarts_that_did_not_converge_disagree(tmp_path, bishop_csv):
    # the negative control: three fits stopped after 5 steps sit at their random starts
    out = tmp_path / "run"
    assert main(["fit", "bpca", "--data", f"csv:{bishop_csv}", "--steps", "5", "--restarts", "3", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["restarts_agree"] is False and summary["restarts_max_rhat"] > 1.1


@pytest.mark.parametrize("value", ["1", "0"])
def test_restarts_needs_at_least_two(tmp_path, bishop_csv, capsys, value):
    assert main(["fit", "bpca", "--data", f"csv:{bishop_csv}", "--restarts", value, "--out", str(tmp_path / "r")]) == 2
    assert f"'--restarts' option must be an integer >= 2. Got {value}" in capsys.readouterr().err
