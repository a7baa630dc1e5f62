"""Engine overhead: steps through ``pyrolatent.inference.fit`` (eager, and
with the compiled step: ``compile="trace"`` and ``compile="inductor"``) beside
a loop of Pyro's own ``Trace_ELBO`` without the engine and a hand-written plain-PyTorch ELBO of the same model
and guide (eager, and with ``torch.compile``), in one process, on one device.

    python benchmarks/bench_engine.py                 # CPU, 1 thread
    python benchmarks/bench_engine.py --threads 2     # CPU, 2 threads
    python benchmarks/bench_engine.py --device cuda   # on a GPU

Problems: tiny BPCA (Bishop's N=300, D=10, K=9), medium BPCA (N=10,000,
D=64, K=20), both full batch; the VAE of ``anchor_bench.py`` (784-400-20
softplus MLPs, Bernoulli logits, analytic KL: ``elbo="meanfield"``) at batch
256 on synthetic binary data.

Every variant is timed per step, with a device sync after each step (a
callback for ``fit``), after its warm-up (for the compiled variants that
includes tracing and compilation, whose cost is printed separately); each
variant runs ``--rounds`` times in turn, and the table shows the median over
rounds of the median ms/step, with the ratio to plain eager PyTorch. Pyro's
validation is off for every variant (it costs time in the hot loop and is a
debugging aid).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F

from pyrolatent._pyro import local_params
from pyrolatent.data import make_low_rank
from pyrolatent.inference import Callback, fit
from pyrolatent.models import VAE, BayesianPCA


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_ms(step, warmup, steps, device):
    """Median wall time of ``step()`` in ms (a sync after each), after ``warmup`` calls;
    and the seconds the warm-up took (compilation for the compiled variants)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    setup = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times), setup


class StepTimer(Callback):
    """Wall time of every step of a fit, with a device sync after each."""

    def __init__(self, device):
        self.device, self.times, self.last = device, [], None

    def on_step(self, info):
        sync(self.device)
        now = time.perf_counter()
        if self.last is not None:
            self.times.append(now - self.last)
        self.last = now


# -- the problems ------------------------------------------------------------------
class BPCAProblem:
    elbo, lr, batch_size = "trace", 0.02, None

    def __init__(self, n, stds, k):
        self.data, self.k = make_low_rank(n_samples=n, stds=stds, seed=0).x, k

    def model(self):
        return BayesianPCA(self.data.shape[1], self.k)

    def plain_torch(self, device, compiled):
        """The same model and mean-field guide, ELBO written by hand (no Pyro)."""
        n, d = self.data.shape
        k = self.k
        x = self.data.to(device)
        shapes = {"alpha": (k,), "W": (k, d), "mu": (d,), "tau": ()}
        locs = {s: torch.zeros(shape, device=device, requires_grad=True) for s, shape in shapes.items()}
        log_scales = {
            s: torch.full(shape, math.log(0.01), device=device, requires_grad=True) for s, shape in shapes.items()
        }
        opt = torch.optim.Adam([*locs.values(), *log_scales.values()], lr=self.lr)
        gamma = dist.Gamma(torch.tensor(1e-3, device=device), torch.tensor(1e-3, device=device))

        def loss_fn():
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
            return -(log_lik + log_prior + entropy)

        return _torch_step(loss_fn, opt, compiled)


class VAEProblem:
    """The VAE of anchor_bench.py: 784-400-20, Bernoulli logits, analytic KL."""

    elbo, lr = "meanfield", 1e-3

    def __init__(self, n, batch_size):
        g = torch.Generator().manual_seed(0)
        z = torch.randn(n, 16, generator=g)
        self.data = (z @ torch.randn(16, 784, generator=g) > 0).float()
        self.batch_size = batch_size

    def model(self):
        return VAE(784, 20, hidden=(400,), activation="softplus", likelihood="bernoulli", prior="normal")

    def plain_torch(self, device, compiled):
        x_all = self.data.to(device)
        enc1, enc_loc, enc_scale = torch.nn.Linear(784, 400), torch.nn.Linear(400, 20), torch.nn.Linear(400, 20)
        dec1, dec2 = torch.nn.Linear(20, 400), torch.nn.Linear(400, 784)
        layers = torch.nn.ModuleList([enc1, enc_loc, enc_scale, dec1, dec2]).to(device)
        opt = torch.optim.Adam(layers.parameters(), lr=self.lr)
        n, b = x_all.shape[0], self.batch_size
        perm = {"p": torch.randperm(n, device=device), "i": 0}

        def batch():
            if perm["i"] + b > n:
                perm["p"], perm["i"] = torch.randperm(n, device=device), 0
            idx = perm["p"][perm["i"] : perm["i"] + b]
            perm["i"] += b
            return x_all.index_select(0, idx)

        def loss_fn(x):
            h = F.softplus(enc1(x))
            loc, scale = enc_loc(h), F.softplus(enc_scale(h)) + 1e-4
            z = loc + scale * torch.randn_like(loc)
            logits = dec2(F.softplus(dec1(z)))
            rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
            kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1.0).sum(-1) - scale.log().sum(-1)
            return -(rec - kl).sum() * (n / b)

        return _torch_step(loss_fn, opt, compiled, batch)


def _torch_step(loss_fn, opt, compiled, batch=None):
    if compiled:
        loss_fn = torch.compile(loss_fn)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn() if batch is None else loss_fn(batch())
        loss.backward()
        opt.step()

    return step


def pyro_loop(problem, device):
    """Pyro without the engine: its own ``Trace_ELBO`` (``TraceMeanField_ELBO`` for the
    VAE) ``differentiable_loss``, ``backward`` and a torch optimizer, the loop Pyro
    documents for modules that keep their parameters (``examples/svi_lightning.py``).
    Pyro's ``SVI.step`` itself reads the loss back every step; anchor_bench.py times it."""
    model = problem.model().to(device)
    guide = model.default_guide()
    elbo = pyro.infer.TraceMeanField_ELBO() if problem.elbo == "meanfield" else pyro.infer.Trace_ELBO()
    x = problem.data.to(device)
    n, b = x.shape[0], problem.batch_size
    with local_params(model, guide):
        elbo.differentiable_loss(model, guide, x=x[:2] if b else x)  # builds lazy parameters
    params = list({id(p): p for m in (model, guide) for p in m.parameters()}.values())
    opt = torch.optim.Adam(params, lr=problem.lr)

    def step():
        kwargs = {"x": x} if b is None else {"x": x, "subsample": torch.randint(n, (b,), device=device)}
        with local_params(model, guide):
            opt.zero_grad(set_to_none=True)
            elbo.differentiable_loss(model, guide, **kwargs).backward()
            opt.step()

    return step


# -- the variants -------------------------------------------------------------------
def run_fit(problem, device, warmup, steps, compile_):
    timer = StepTimer(device)
    model = problem.model()
    t0 = time.perf_counter()
    fit(
        model,
        problem.data,
        num_steps=warmup + steps,
        lr=problem.lr,
        elbo=problem.elbo,
        batch_size=problem.batch_size,
        device=device,
        compile=compile_,
        callbacks=[timer],
        seed=0,
    )
    timed = timer.times[warmup - 1 :]  # the first step (tracing, compiling) has no entry of its own
    return 1000 * statistics.median(timed), time.perf_counter() - t0 - sum(timed)


VARIANTS = {
    "pyro loop": lambda p, dev, w, s: median_ms(pyro_loop(p, dev), w, s, dev),
    "pyrolatent fit": lambda p, dev, w, s: run_fit(p, dev, w, s, False),
    "fit compile=trace": lambda p, dev, w, s: run_fit(p, dev, w, s, "trace"),
    "fit compile=inductor": lambda p, dev, w, s: run_fit(p, dev, w, s, "inductor"),
    "plain torch": lambda p, dev, w, s: median_ms(p.plain_torch(dev, False), w, s, dev),
    "plain torch.compile": lambda p, dev, w, s: median_ms(p.plain_torch(dev, True), w, s, dev),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per variant and round")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation happens here)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--problems", default="tiny,medium,vae256", help="comma-separated: tiny, medium, vae256")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variant names")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pyro.enable_validation(False)
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch's compiler stack about itself
    device = torch.device(args.device)
    problems = {
        "tiny": ("tiny BPCA (Bishop: N=300, D=10, K=9)", lambda: BPCAProblem(300, [1.0] * 3 + [0.5] * 7, 9)),
        "medium": ("medium BPCA (N=10,000, D=64, K=20)", lambda: BPCAProblem(10_000, [3.0] * 10 + [1.0] * 54, 20)),
        "vae256": ("VAE 784-400-20, batch 256 (N=4,096)", lambda: VAEProblem(4096, 256)),
    }
    chosen = [v.strip() for v in args.variants.split(",")]
    print(
        f"device {device}, {args.threads} thread(s), {args.warmup} warm-up + {args.steps} timed steps x "
        f"{args.rounds} rounds; median ms/step (sync after each step)"
    )
    for key in args.problems.split(","):
        label, make = problems[key]
        problem = make()
        times = {name: [] for name in chosen}
        setups = {name: [] for name in chosen}
        for _ in range(args.rounds):
            for name in chosen:
                out = VARIANTS[name](problem, device, args.warmup, args.steps)
                if out is not None:
                    times[name].append(out[0])
                    setups[name].append(out[1])
        base = statistics.median(times["plain torch"]) if times.get("plain torch") else math.nan
        print(f"\n{label}")
        print(f"  {'variant':22s} {'ms/step':>9s}  {'x plain torch':>13s}  {'first call s':>12s}")
        for name in chosen:
            if not times[name]:
                print(f"  {name:22s} {'-':>9s}")
                continue
            med = statistics.median(times[name])
            print(f"  {name:22s} {med:9.3f}  {med / base:13.2f}  {max(setups[name]):12.1f}")


if __name__ == "__main__":
    main()
