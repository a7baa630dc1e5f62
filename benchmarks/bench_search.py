"""Time the search protocol and write the comparison table (arch2vec table 3 on our NAS-Bench-201 table).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_search.py \
        --table /work/shared/data/nasbench201 --embedding runs/nas/embedding --runs 500 --out runs/nas/table

Runs every method (``bo``, ``bo-gp``, ``rs``, ``re``, and the ablation ``bo-onehot``, ``bo-gp-onehot``,
``bo-randproj``) on the three data sets with ``--queries`` queries and ``--noise``, writes ``results.json``
(mean, std, sem, seconds, differences in standard errors) and ``curves.npz``, and prints the table with wall
times.

``--queries 50,100,150,200`` is the sensitivity sweep: each run is made once with the largest budget and
read at the smaller ones (every method decides its query ``t`` without looking ahead, so the first ``q``
queries of a longer run are a run of budget ``q`` with the same seed); ``results.json`` then holds
``sensitivity`` (budget -> mean, std, sem), the table is printed per budget, and ``--figures`` draws the
best-so-far curves with bands of one standard deviation, one figure per data set.

``--bo-options '{"incumbent": "mean"}'`` passes keyword arguments to every BO method.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from pyrolatent.data import load_nasbench201
from pyrolatent.search import CellSpace, run_search
from pyrolatent.search.embedding import load_embedding, onehot_features, random_projection

PAPER = {"rs": (93.75, 72.05, 45.33), "re": (93.84, 72.86, 45.63), "bo": (94.18, 73.37, 46.27)}
DATASETS = ("cifar10", "cifar100", "imagenet16")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--table", required=True)
    p.add_argument("--embedding", required=True)
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--bo-runs", type=int, default=None, help="runs of the BO methods (default: --runs)")
    p.add_argument("--queries", default="100", help="budget, or a comma-separated sweep (the largest is run)")
    p.add_argument("--bo-options", default="{}", help="JSON keyword arguments of every BO method")
    p.add_argument("--figures", action="store_true", help="best-so-far figures, one per data set")
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--tag", default="", help="suffix of the output files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="rs,re,bo,bo-gp,bo-onehot,bo-randproj")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    table = load_nasbench201(args.table)
    space = CellSpace(table.edge_ops)
    features = {
        "latent": load_embedding(args.embedding) if args.embedding != "none" else None,
        "onehot": onehot_features(table),
        "randproj": random_projection(table, 16, seed=0),
    }
    budgets = sorted({int(q) for q in str(args.queries).split(",")})
    bo_options = json.loads(args.bo_options)
    args.out.mkdir(parents=True, exist_ok=True)
    results, curves = {}, {}
    total = time.perf_counter()
    for ds in args.datasets.split(","):
        acc = table.accuracy[ds]
        for method in args.methods.split(","):
            base, space_name = method, "latent"
            for name in ("onehot", "randproj"):
                if method.endswith(f"-{name}"):
                    base, space_name = method[: -len(name) - 1], name
            kind = base
            feats = features[space_name]
            r = run_search(
                kind,
                acc,
                space=space,
                features=feats,
                queries=budgets[-1],
                runs=args.runs if kind in ("rs", "re") else (args.bo_runs or args.runs),
                noise=args.noise,
                seed=args.seed,
                **(bo_options if kind.startswith("bo") else {}),
            )
            r.method = method
            results[f"{ds}/{method}"] = {**r.summary(), "dataset": ds}
            if len(budgets) > 1:
                results[f"{ds}/{method}"]["sensitivity"] = {
                    str(q): {k: r.summary(q)[k] for k in ("mean", "std", "sem")} for q in budgets
                }
            curves[f"{ds}/{method}"] = r.curves
            s = results[f"{ds}/{method}"]
            print(
                f"{ds:10s} {method:12s} {s['mean']:.2f} +- {s['std']:.2f} (sem {s['sem']:.3f}) {s['seconds']:.1f}s",
                flush=True,
            )
            np.savez_compressed(
                args.out / f"curves{args.tag}.npz", **{k.replace("/", "__"): v for k, v in curves.items()}
            )
            (args.out / f"results{args.tag}.json").write_text(json.dumps(results, indent=2))
        for method in args.methods.split(","):
            for base in ("rs", "re"):
                if method.startswith("bo") and f"{ds}/{base}" in curves:
                    a, b = curves[f"{ds}/{method}"][:, -1], curves[f"{ds}/{base}"][:, -1]
                    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
                    results[f"{ds}/{method}"][f"vs_{base}_in_se"] = float((a.mean() - b.mean()) / se)
    results["total_seconds"] = time.perf_counter() - total
    (args.out / f"results{args.tag}.json").write_text(json.dumps(results, indent=2))
    print(f"total {results['total_seconds']:.1f}s")
    if len(budgets) > 1:
        print("\nsensitivity to the budget: mean +- std (the same runs read at each budget)")
        print(f"{'':24s}" + "".join(f"{q:>16d}" for q in budgets))
        for key, value in results.items():
            if isinstance(value, dict) and "sensitivity" in value:
                row = "".join(f"{v['mean']:9.2f} +- {v['std']:.2f}" for v in value["sensitivity"].values())
                print(f"{key:24s}{row}")
    if args.figures:
        from pyrolatent.reports.search_figures import best_so_far_figure

        for ds in args.datasets.split(","):
            by_method = {k.split("/", 1)[1]: v for k, v in curves.items() if k.startswith(f"{ds}/")}
            fig = best_so_far_figure(
                by_method, optimum=float(table.accuracy[ds].max()), title=f"{ds}, noise {args.noise}"
            )
            fig.savefig(args.out / f"best_so_far_{ds}{args.tag}.png")


if __name__ == "__main__":
    main()
