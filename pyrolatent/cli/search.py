"""``pyrolatent search``: architecture search on a NAS-Bench-201 table, in a learned latent space or not.

    pyrolatent search --table PATH --embedding DIR --dataset cifar10 --method bo \\
        --queries 100 --runs 500 --noise 0.3 --seed 0 --out DIR

``--embedding`` is a folder holding ``embedding.pt`` (``(n_cells, d)``, row =
API index), or a run directory of ``pyrolatent fit graphvae`` (the model is
rebuilt from it and every cell embedded); ``onehot`` and ``randproj`` name
the ablation's unlearned spaces. Writes ``summary.json`` (``mean``, ``std``
(ddof 0), ``sem``, ``runs``, ``queries``, ``method``, ``dataset``, ``noise``,
``seconds``, the sensitivity of smaller budgets; ``gp_lengthscale`` for ``bo-gp``), ``curves.npy`` (runs x
queries) and a ``report/`` folder with the best-so-far curves and the
latent space coloured by accuracy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

__all__ = ["add_search_arguments", "load_features", "run_search_command"]

DATASET_CHOICES = ("cifar10", "cifar100", "imagenet16")
OPTIMA = {"cifar10": 94.37, "cifar100": 73.51, "imagenet16": 47.31}


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    from pyrolatent.search import METHODS

    parser.add_argument("--table", required=True, type=Path, help="NAS-Bench-201 CSV (or its folder)")
    parser.add_argument(
        "--embedding",
        default="onehot",
        help="folder with embedding.pt, a 'fit graphvae' run directory, or onehot | randproj",
    )
    parser.add_argument("--dataset", choices=DATASET_CHOICES, default="cifar10")
    parser.add_argument("--method", choices=METHODS, default="bo")
    parser.add_argument("--queries", type=int, default=100, help="queries per run, initial random cells included")
    parser.add_argument("--runs", type=int, default=500, help="independent runs (batched)")
    parser.add_argument("--noise", type=float, default=0.3, help="sd of the Gaussian noise on the signal (points)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--gp-lengthscale",
        choices=("ard", "shared"),
        default="shared",
        help="bo-gp: one length scale for all latent dimensions (shared, the default) or one per dimension (ard)",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder to write")


def load_features(spec: str, table):
    """The search space named by ``--embedding`` for the cells of ``table``, ``(n_cells, d)``."""
    from pyrolatent.search.embedding import load_embedding, onehot_features, random_projection

    if spec == "onehot":
        return onehot_features(table)
    if spec == "randproj":
        return random_projection(table, 16, seed=0)
    folder = Path(spec)
    if (folder / "run.json").is_file() and not (folder / "embedding.pt").is_file():
        return _embed_from_run(folder, table)
    features = load_embedding(folder)
    if features.shape[0] != table.n_cells:
        raise ValueError(
            f"The '--embedding' option must give one row per cell ({table.n_cells}); "
            f"got {features.shape[0]} rows in '{spec}'."
        )
    return features


def _embed_from_run(run_dir: Path, table):
    from pyrolatent.inference.checkpoint import load_checkpoint

    from .graphvae import build_graphvae, embed_cells

    saved = argparse.Namespace(**json.loads((run_dir / "run.json").read_text()))
    if getattr(saved, "model", None) != "graphvae":
        raise ValueError(
            f"The '--embedding' option must name a 'fit graphvae' run; '{run_dir}' is a "
            f"{getattr(saved, 'model', '?')} run."
        )
    data = table.to_dataset()
    model = build_graphvae(saved, data)
    # the model's parameters only (restore() would also rebuild the optimiser and batching state)
    params = load_checkpoint(run_dir / "checkpoint.pt")["params"]
    model.load_state_dict({k[len("model.") :]: v for k, v in params.items() if k.startswith("model.")})
    model.eval()
    return embed_cells(model, data)


def run_search_command(args) -> dict:
    from pyrolatent._files import check_out, new_run_id, replacing_dir, run_lock, write_marker
    from pyrolatent.data import load_nasbench201
    from pyrolatent.reports.search_figures import best_so_far_figure, latent_accuracy_figure
    from pyrolatent.search import CellSpace, run_search

    out = check_out(args.out)  # a run directory replaces only an earlier run: refused before the search
    table = load_nasbench201(args.table)
    accuracy = table.accuracy[args.dataset]
    features = load_features(args.embedding, table) if args.method.startswith("bo") else None
    lengthscale = getattr(args, "gp_lengthscale", "shared")
    options = {"surrogate_options": {"ard": lengthscale == "ard"}} if args.method == "bo-gp" else {}
    result = run_search(
        args.method,
        accuracy,
        space=CellSpace(table.edge_ops),
        features=features,
        queries=args.queries,
        runs=args.runs,
        noise=args.noise,
        seed=args.seed,
        **options,
    )
    summary = {
        **result.summary(),
        "dataset": args.dataset,
        "embedding": str(args.embedding),
        "seed": args.seed,
        "optimum": float(accuracy.max()),
    }
    if args.method == "bo-gp":
        summary["gp_lengthscale"] = lengthscale
    summary["sensitivity"] = {str(q): result.summary(q) for q in (50, 100, 150, 200) if q <= result.queries}
    with run_lock(out), replacing_dir(out) as tmp:
        write_marker(tmp, id=new_run_id(), state="complete")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        np.save(tmp / "curves.npy", result.curves)
        report = tmp / "report"
        report.mkdir()
        fig = best_so_far_figure(
            {args.method: result.curves}, optimum=float(accuracy.max()), title=f"{args.dataset}, noise {args.noise}"
        )
        fig.savefig(report / "best_so_far.png")
        if features is not None:
            fig = latent_accuracy_figure(features.numpy(), accuracy.numpy(), title=f"{args.embedding}: {args.dataset}")
            fig.savefig(report / "latent_space.png")
    print(
        f"pyrolatent: {args.method} on {args.dataset}: {summary['mean']:.2f} +- {summary['std']:.2f} "
        f"({args.runs} runs, {args.queries} queries, noise {args.noise}) in {summary['seconds']:.1f} s"
    )
    return summary
