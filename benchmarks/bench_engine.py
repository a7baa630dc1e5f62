"""Engine overhead: BPCA steps through ``pyrolatent.inference.fit`` against
Pyro's own ``SVI.step`` with ``Trace_ELBO`` and a hand-written plain-PyTorch
ELBO of the same model and guide, in one process, on one device.

    python benchmarks/bench_engine.py                 # CPU, 1 thread
    python benchmarks/bench_engine.py --device cuda   # on a GPU

Each variant runs ``--steps`` steps after a warm-up, ``--rounds`` times in
turn; the table shows the median milliseconds per step and the ratio to Pyro's
``SVI.step``. Pyro's validation is off for every variant (it costs time in the
hot loop and is a debugging aid).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import pyro
import pyro.distributions as dist
import torch

from pyrolatent.data import make_low_rank
from pyrolatent.inference import fit
from pyrolatent.models import BayesianPCA


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_fit(data, k, steps, lr, device):
    model = BayesianPCA(data.shape[1], k)
    fit(model, data, num_steps=5, lr=lr, device=device)  # warm-up (imports, allocator)
    model = BayesianPCA(data.shape[1], k)
    # wall_time counts the loop only (set-up excluded, as the warm-up is for the others)
    result = fit(model, data, num_steps=steps, lr=lr, device=device, log_every=steps)
    return result.wall_time / steps


def time_pyro_svi(data, k, steps, lr, device):
    model = BayesianPCA(data.shape[1], k).to(device)
    guide = model.default_guide()
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": lr}), pyro.infer.Trace_ELBO())
    x = data.to(device)
    for _ in range(5):
        svi.step(x=x)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        svi.step(x=x)  # returns a float: one host sync per step, as Pyro does
    sync(device)
    return (time.perf_counter() - t0) / steps


def time_plain_torch(data, k, steps, lr, device):
    """The same model and mean-field guide, ELBO written by hand (no Pyro)."""
    n, d = data.shape
    x = data.to(device)
    shapes = {"alpha": (k,), "W": (k, d), "mu": (d,), "tau": ()}
    locs = {s: torch.zeros(shape, device=device, requires_grad=True) for s, shape in shapes.items()}
    log_scales = {
        s: torch.full(shape, math.log(0.01), device=device, requires_grad=True) for s, shape in shapes.items()
    }
    opt = torch.optim.Adam([*locs.values(), *log_scales.values()], lr=lr)
    gamma = dist.Gamma(torch.tensor(1e-3, device=device), torch.tensor(1e-3, device=device))

    def step():
        opt.zero_grad(set_to_none=True)
        u = {s: locs[s] + log_scales[s].exp() * torch.randn_like(locs[s]) for s in shapes}
        entropy = sum(log_scales[s].sum() for s in shapes)
        alpha, tau = u["alpha"].exp(), u["tau"].exp()
        log_prior = (
            (gamma.log_prob(alpha) + u["alpha"]).sum()
            + (gamma.log_prob(tau) + u["tau"])
            + dist.Normal(0.0, alpha.rsqrt().unsqueeze(-1)).log_prob(u["W"]).sum()
            + dist.Normal(0.0, 10.0).log_prob(u["mu"]).sum()
        )
        cov_diag = tau.reciprocal().expand(d)
        log_lik = dist.LowRankMultivariateNormal(u["mu"], u["W"].T, cov_diag).log_prob(x).sum()
        loss = -(log_lik + log_prior + entropy)
        loss.backward()
        opt.step()
        return loss.detach()

    for _ in range(5):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - t0) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pyro.enable_validation(False)
    device = torch.device(args.device)
    problems = {
        "tiny (Bishop: N=300, D=10, K=9)": (300, [1.0] * 3 + [0.5] * 7, 9),
        "medium (N=10,000, D=64, K=20)": (10_000, [3.0] * 10 + [1.0] * 54, 20),
    }
    variants = {"pyro SVI.step": time_pyro_svi, "pyrolatent fit": time_fit, "plain torch": time_plain_torch}
    print(f"device {device}, {args.threads} thread(s), {args.steps} steps x {args.rounds} rounds, median ms/step")
    for label, (n, stds, k) in problems.items():
        data = make_low_rank(n_samples=n, stds=stds, seed=0).x
        times = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                times[name].append(fn(data, k, args.steps, 0.02, device))
        base = statistics.median(times["pyro SVI.step"])
        print(f"\n{label}")
        for name in variants:
            med = statistics.median(times[name])
            print(f"  {name:16s} {1000 * med:8.3f} ms   ratio to SVI.step {med / base:5.2f}")


if __name__ == "__main__":
    main()
