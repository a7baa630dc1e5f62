"""How the cost of a fit grows: time per epoch and peak memory against the
number of rows N, and time per epoch against the number of processes.

    python benchmarks/bench_scaling.py                   # the full table (minutes)
    python benchmarks/bench_scaling.py --quick           # small sizes only
    python benchmarks/bench_scaling.py --plot scaling.png

Each configuration runs in a fresh process (so its peak resident memory,
``VmHWM``, is its own): BPCA (D = 50, K = 10) on 10^3 .. 10^6 rows and a VAE
(D = 100 binary features, K = 10, hidden 200) on 10^3 .. 10^5 rows, both with
minibatches of 256. A configuration times ``--steps`` steps after a warm-up
and reports the time of one epoch as ``steps per epoch x time per step``.
With ``--world 2`` it also runs BPCA on 10^5 rows with two gloo processes
(each fits half of every minibatch; see ``pyrolatent.inference.distributed``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

CHILD = r"""
import json, math, os, sys, time, torch
torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
import pyro
pyro.enable_validation(False)
from pyrolatent.inference import fit
from pyrolatent.models import VAE, BayesianPCA

model_name, n, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
g = torch.Generator().manual_seed(0)
if model_name == "bpca":
    w = torch.randn(10, 50, generator=g)
    x = torch.randn(n, 10, generator=g) @ w + 0.5 * torch.randn(n, 50, generator=g)
    make = lambda: BayesianPCA(50, 10)
else:
    x = (torch.rand(n, 100, generator=g) < 0.3).float()
    make = lambda: VAE(100, 10, hidden=(200,))
if int(os.environ.get("WORLD_SIZE", "1")) > 1:
    from pyrolatent.inference.distributed import init_from_env
    init_from_env(device="cpu")
fit(make(), x, num_steps=5, batch_size=batch, lr=1e-3, seed=0)  # warm-up
result = fit(make(), x, num_steps=steps, batch_size=batch, lr=1e-3, seed=0, log_every=steps)
per_step = result.wall_time / steps
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
rank = int(os.environ.get("RANK", "0"))
if rank == 0:
    print(json.dumps({"model": model_name, "n": n, "batch": batch, "ms_per_step": 1e3 * per_step,
                      "steps_per_epoch": math.ceil(n / batch), "epoch_s": per_step * math.ceil(n / batch),
                      "peak_mb": hwm, "world": int(os.environ.get("WORLD_SIZE", "1"))}))
"""


def _run(model: str, n: int, batch: int, steps: int, world: int = 1) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if world == 1:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, model, str(n), str(batch), str(steps)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(world):
        e = {
            **env,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", CHILD, model, str(n), str(batch), str(steps)],
                env=e,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate()[0] for p in procs]
    return json.loads(outs[0].strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the small sizes")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--world", type=int, default=2, help="also time BPCA on 1e5 rows with this many processes")
    parser.add_argument("--plot", default=None, help="write a PNG of time per epoch and peak memory against N")
    args = parser.parse_args(argv)
    bpca_sizes = [10**3, 10**4] if args.quick else [10**3, 10**4, 10**5, 10**6]
    vae_sizes = [10**3, 10**4] if args.quick else [10**3, 10**4, 10**5]
    rows = []
    t0 = time.perf_counter()
    for model, sizes in (("bpca", bpca_sizes), ("vae", vae_sizes)):
        for n in sizes:
            rows.append(_run(model, n, args.batch, args.steps))
            print(json.dumps(rows[-1]), flush=True)
    if args.world > 1:
        n = 10**4 if args.quick else 10**5
        rows.append(_run("bpca", n, args.batch, args.steps, world=args.world))
        print(json.dumps(rows[-1]), flush=True)
    print(
        "\n| model | N | processes | ms/step | steps/epoch | s/epoch | peak MB |\n| --- | --- | --- | --- | --- | --- | --- |"
    )
    for r in rows:
        print(
            f"| {r['model']} | {r['n']:.0e} | {r['world']} | {r['ms_per_step']:.2f} | {r['steps_per_epoch']} | "
            f"{r['epoch_s']:.2f} | {r['peak_mb']:.0f} |"
        )
    print(f"\n({time.perf_counter() - t0:.0f} s in all)")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
        for model in ("bpca", "vae"):
            rs = [r for r in rows if r["model"] == model and r["world"] == 1]
            a.loglog([r["n"] for r in rs], [r["epoch_s"] for r in rs], "o-", label=model)
            b.semilogx([r["n"] for r in rs], [r["peak_mb"] for r in rs], "o-", label=model)
        ns = [r["n"] for r in rows if r["model"] == "bpca" and r["world"] == 1]
        a.loglog(ns, [rows[0]["epoch_s"] * n / ns[0] for n in ns], "k:", label="linear in N")
        a.set(xlabel="rows N", ylabel="seconds per epoch", title=f"batch {args.batch}")
        b.set(xlabel="rows N", ylabel="peak resident MB", title="memory")
        a.legend()
        b.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
