"""Tests for the ``search`` command's module (wired into the parser by the CLI package)."""

import argparse
import json

import pytest

cli_search = pytest.importorskip("pyrolatent.cli.search", reason="needs the pyrolatent.cli package (issue 7)")


def _args(shared_data, out, **overrides):
    """The parsed arguments of ``pyrolatent search`` (CIFAR-100, 20 queries, noise 0.3, seed 0) with ``overrides``."""
    args = {
        "table": shared_data / "nasbench201",
        "embedding": "randproj",
        "dataset": "cifar100",
        "method": "rs",
        "queries": 20,
        "runs": 4,
        "noise": 0.3,
        "seed": 0,
        "out": out,
    }
    return argparse.Namespace(**{**args, **overrides})


@pytest.mark.parametrize("method, embedding", [("rs", "onehot"), ("bo", "randproj")])
def test_search_writes_summary_and_report(shared_data, tmp_path, method, embedding):
    args = _args(shared_data, tmp_path / "run", embedding=embedding, dataset="cifar10", method=method, runs=5)
    cli_search.run_search_command(args)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key in ("mean", "std", "runs", "queries", "method", "dataset", "noise"):
        assert key in summary
    assert summary["runs"] == 5 and summary["queries"] == 20 and summary["method"] == method
    assert 10.0 < summary["mean"] <= 94.3734
    assert (tmp_path / "run" / "report" / "best_so_far.png").is_file()


@pytest.mark.parametrize("lengthscale", ["ard", "shared"])
def test_search_bo_gp_lengthscale_option(shared_data, tmp_path, monkeypatch, lengthscale):
    import pyrolatent.search.bayesopt as bayesopt

    built = []

    class Recording(bayesopt.BatchedGP):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            built.append(self.ard)

    monkeypatch.setattr(bayesopt, "BatchedGP", Recording)
    args = _args(shared_data, tmp_path / "run", method="bo-gp", runs=4, gp_lengthscale=lengthscale)
    summary = cli_search.run_search_command(args)
    assert summary["gp_lengthscale"] == lengthscale and summary["method"] == "bo-gp"
    assert built == [lengthscale == "ard"]  # the surrogate got the option
    assert 1.0 < summary["mean"] <= 73.5134


def test_fit_graphvae_then_search_in_its_embedding(shared_data, tmp_path):
    from pyrolatent.cli import main

    run_dir = tmp_path / "gv"
    data = f"nasbench201:{shared_data / 'nasbench201'}"
    assert main(["fit", "graphvae", "--data", data, "--steps", "5", "--out", str(run_dir)]) in (0, None)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {"reconstruction_accuracy", "validity", "uniqueness"} <= set(summary)
    args = _args(
        shared_data,
        tmp_path / "search",
        embedding=str(run_dir),
        dataset="imagenet16",
        method="bo",
        queries=18,
        runs=3,
        noise=0.0,
    )
    out = cli_search.run_search_command(args)
    assert out["runs"] == 3 and (tmp_path / "search" / "report" / "latent_space.png").is_file()
