#!/usr/bin/env python3
"""The VBTA acceptance grid: MNIST against transposed MNIST, full model and ablations.

Runs ``pyrolatent fit vbta`` once per (variant, number of pairs, seed), one
process at a time (a run directory that already holds a ``summary.json`` is
reused), and prints a markdown table of translation accuracy A->B / B->A,
retrieval top-1 and test ELBO. The exact command of every cell is printed with
``--commands``. Used for ``benchmarks/VBTA_RESULTS.md``.

Variants (all with the common flags in ``COMMON``):

- ``full`` — the model: reconstruction, cycle and triplet terms on the pairs.
- ``no triplet`` — ``--triplet-weight 0``.
- ``no cycle`` — ``--cycle-weight 0``.
- ``no pairs`` — ``--pairs 0`` (shared heads, no correspondences).
- ``two VAEs`` — ``--pairs 0 --separate-heads``: two networks with nothing in
  common but the prior, i.e. two separately fitted VAEs (they cannot translate).

Usage::

    python benchmarks/bench_vbta.py --mnist /work/shared/data/mnist --out runs/vbta --pairs 10 100 --seeds 0 1 [--steps 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

COMMON = ["--data-b", "transpose", "--n-components", "16", "--hidden", "256"]
VARIANTS = {
    "full": [],
    "no triplet": ["--triplet-weight", "0"],
    "no cycle": ["--cycle-weight", "0"],
}
NO_PAIRS = {"no pairs": [], "two VAEs": ["--separate-heads"]}


def command(mnist: str, out: Path, pairs: int, seed: int, extra: list[str], steps: int) -> list[str]:
    return [
        "python",
        "-m",
        "pyrolatent",
        "fit",
        "vbta",
        "--data",
        f"mnist:{mnist}",
        *COMMON,
        "--steps",
        str(steps),
        "--seed",
        str(seed),
        "--pairs",
        str(pairs),
        *extra,
        "--out",
        str(out),
    ]


def cells(args):
    for pairs in args.pairs:
        for name, extra in VARIANTS.items():
            for seed in args.seeds:
                yield name, pairs, seed, extra
    for name, extra in NO_PAIRS.items():
        for seed in args.seeds:
            yield name, 0, seed, extra


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", required=True, help="folder of the MNIST IDX files")
    p.add_argument("--out", type=Path, required=True, help="folder of the run directories")
    p.add_argument("--pairs", type=int, nargs="+", default=[10, 100, 1000])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=3000, help="steps of every fit (3000: the fit command's default)")
    p.add_argument("--commands", action="store_true", help="print the commands only")
    args = p.parse_args()
    rows = []
    for name, pairs, seed, extra in cells(args):
        tag = f"{name.replace(' ', '_')}-p{pairs}-s{seed}-{args.steps}steps"
        run = args.out / tag
        cmd = command(args.mnist, run, pairs, seed, extra, args.steps)
        if args.commands:
            print(" ".join(cmd))
            continue
        if not (run / "summary.json").is_file():
            env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            subprocess.run([sys.executable, *cmd[1:]], check=True, env=env, stdout=subprocess.DEVNULL)
        s = json.loads((run / "summary.json").read_text())
        rows.append((name, pairs, seed, s))
    if args.commands:
        return 0
    print("| variant | pairs | seed | A->B | B->A | retrieval top-1 | test ELBO |")
    print("|---|---|---|---|---|---|---|")
    for name, pairs, seed, s in rows:
        print(
            f"| {name} | {pairs} | {seed} | {s['translation_accuracy_ab']:.3f} | {s['translation_accuracy_ba']:.3f} "
            f"| {s['retrieval_top1']:.3f} | {s['test_elbo']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
