#!/usr/bin/env python3
"""Steps per second of the pyrolatent VAE through ``fit``, beside the speed anchors.

Our VAE is configured like the anchors' (784-400-20 softplus MLPs, Bernoulli
logits, N(0, I) prior, amortised diagonal normal guide, Adam lr 1e-3) and
trained on the anchors' synthetic MNIST-shaped binary data, starting from the
anchors' initial weights (``vae_data_np`` and ``vae_init_np`` of
``anchor_bench.py``; our scale head is softplus where theirs is exp, the only
difference). The anchors (plain PyTorch, torch.compile, CUDA graphs, Pyro's own
``SVI.step`` variants, NumPyro) run in the same invocation, in their own worker
processes, via ``anchor_bench.py``.

Two numbers per variant and batch size:

- ``fit steps/s``: throughput of one ``fit`` call (after a warm-up call),
  with the engine's usual host reads once per check window and no per-step
  synchronisation: what a user gets.
- ``ms/step (sync)``: median wall time of a step with a device sync after
  every step (a callback), measured exactly as the anchors measure theirs.

Variants: ``V.trace`` (Trace_ELBO, Pyro validation off), ``V.trace.val``
(validation on, Pyro's default), ``V.meanfield`` (TraceMeanField_ELBO, analytic
KL), ``V.iwae5`` (ImportanceWeightedELBO, 5 vectorised particles; more work per
step, for information).

Run on a GPU machine::

    python benchmarks/bench_vae.py                     # batches 256,4096, N=60000, all anchors

On a CPU (small, one thread, anchors in their smoke mode)::

    python benchmarks/bench_vae.py --smoke

Options: ``--batches``, ``--n``, ``--warmup``, ``--steps``, ``--device``,
``--threads``, ``--anchors PATH`` (default ``../shared/bench/anchor_bench.py``
beside the repository), ``--anchor-only KEYS`` (BENCH_ONLY), ``--no-anchors``,
``--variants``, ``--profile`` (cProfile of a few ``V.trace`` steps),
``--json PATH`` (default ``$OUT/bench_vae.json``).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import math
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyrolatent.inference import Callback

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ANCHORS = REPO.parent / "shared" / "bench" / "anchor_bench.py"
VARIANTS = {
    "V.trace": ("pyrolatent fit, Trace_ELBO (validation off)", "trace", False, False),
    "V.trace.val": ("pyrolatent fit, Trace_ELBO (validation on)", "trace", True, False),
    "V.meanfield": ("pyrolatent fit, TraceMeanField_ELBO", "meanfield", False, False),
    "V.mf.trace": ("fit, TraceMeanField_ELBO, compile='trace'", "meanfield", False, "trace"),
    "V.mf.ind": ("fit, TraceMeanField_ELBO, compile='inductor'", "meanfield", False, "inductor"),
    "V.iwae5": ("pyrolatent fit, IWAE bound, 5 particles", "iwae5", False, False),
}
#: Our BayesianPCA on the anchors' BPCA problem (N=2000, D=50, K=20, full batch):
#: the explicit-z model with Pyro's AutoNormal (init_scale 0.1) and Trace_ELBO, as
#: the anchors P.pyro and P.numpyro fit it.
BPCA_VARIANTS = {
    "P.fit": ("pyrolatent fit, BPCA explicit z, AutoNormal", False),
    "P.fit.trace": ("fit, BPCA, compile='trace'", "trace"),
    "P.fit.ind": ("fit, BPCA, compile='inductor'", "inductor"),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="small CPU run: N=8192, 3+10 steps, anchors in smoke mode")
    p.add_argument("--batches", default=None, help="comma-separated batch sizes (default 256,4096)")
    p.add_argument("--n", type=int, default=None, help="rows of synthetic data (default 60000; smoke 8192)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 30; smoke 3)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 200; smoke 10)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: 1 on CPU, library default on GPU)"
    )
    p.add_argument("--anchors", type=Path, default=DEFAULT_ANCHORS, help="path of anchor_bench.py")
    p.add_argument("--anchor-only", default=None, help="BENCH_ONLY for the anchors (default: all VAE anchors)")
    p.add_argument("--no-anchors", action="store_true", help="skip the anchors")
    p.add_argument("--variants", default=",".join(VARIANTS), help="which of our VAE variants")
    p.add_argument("--no-bpca", dest="bpca", action="store_false", help="skip our BPCA on the anchors' BPCA problem")
    p.add_argument("--profile", action="store_true", help="print a cProfile of V.trace steps at the first batch size")
    p.add_argument("--json", type=Path, default=None, help="where to write the JSON results")
    args = p.parse_args(argv)
    args.batches = [int(b) for b in (args.batches or "256,4096").split(",")]
    args.n = args.n or (8192 if args.smoke else 60000)
    args.warmup = args.warmup if args.warmup is not None else (3 if args.smoke else 30)
    args.steps = args.steps or (10 if args.smoke else 200)
    return args


def load_anchor_module(path: Path, n: int):
    """Import anchor_bench.py for its data and initial weights (it imports only numpy at top level)."""
    if not path.is_file():
        return None
    os.environ["BENCH_N"] = str(n)
    spec = importlib.util.spec_from_file_location("anchor_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_data_and_init(anchors, n: int):
    import numpy as np

    if anchors is not None:
        return anchors.vae_data_np(), anchors.vae_init_np()
    rng = np.random.default_rng(0)  # fallback: binary noise with a latent structure, default init
    z = rng.standard_normal((n, 16)).astype(np.float32)
    logits = z @ rng.standard_normal((16, 784)).astype(np.float32) * 0.5
    return (1.0 / (1.0 + np.exp(-logits)) > 0.5).astype(np.float32), None


def build_vae(init):
    import torch

    from pyrolatent.models import VAE

    vae = VAE(784, 20, hidden=(400,), activation="softplus", likelihood="bernoulli", prior="normal")
    if init is not None:
        targets = {
            "enc.fc1": vae.encoder.trunk[0],
            "enc.fc21": vae.encoder.loc,
            "enc.fc22": vae.encoder.scale,
            "dec.fc1": vae.decoder[0][0],
            "dec.fc21": vae.decoder[1],
        }
        with torch.no_grad():
            for name, layer in targets.items():
                layer.weight.copy_(torch.from_numpy(init[name + ".weight"]))
                layer.bias.copy_(torch.from_numpy(init[name + ".bias"]))
    return vae


class SyncTimer(Callback):
    """Callback: wall time of every step, with a device sync after each."""

    def __init__(self, device):
        import torch

        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        self.times, self.last = [], None

    def start(self):
        self.sync()
        self.last = time.perf_counter()

    def on_step(self, info):
        self.sync()
        now = time.perf_counter()
        self.times.append(now - self.last)
        self.last = now


def run_variant(key, X, init, batch, args, device):
    import pyro
    import torch

    from pyrolatent.inference import ImportanceWeightedELBO, fit

    _, elbo_name, validate, compile_ = VARIANTS[key]
    elbo = ImportanceWeightedELBO(num_particles=5) if elbo_name == "iwae5" else elbo_name
    pyro.enable_validation(validate)
    try:
        torch.manual_seed(0)
        vae = build_vae(init)
        guide = vae.default_guide()
        common = dict(
            guide=guide, batch_size=batch, lr=1e-3, elbo=elbo, device=device, progress=False, compile=compile_
        )
        t0 = time.perf_counter()
        fit(vae, X, num_steps=max(1, args.warmup), seed=0, **common)
        first = time.perf_counter() - t0
        timed = fit(vae, X, num_steps=args.steps, seed=1, **common)
        timer = SyncTimer(timed.device)
        timer.start()
        synced = fit(vae, X, num_steps=args.steps, seed=2, callbacks=[timer], **common)
        losses = torch.cat([timed.losses, synced.losses])
        ms = [t * 1e3 for t in timer.times]
        return {
            "key": key,
            "batch": batch,
            "status": "ok",
            "device": str(timed.device),
            "fit_steps_per_s": timed.steps_per_second,
            "fit_samples_per_s": timed.steps_per_second * batch,
            "median_ms_sync": statistics.median(ms),
            "p10_ms_sync": sorted(ms)[len(ms) // 10],
            "p90_ms_sync": sorted(ms)[(9 * len(ms)) // 10],
            "warmup_call_s": first,
            "train_elbo_per_point": float(-losses[-20:].mean() / X.shape[0]),
        }
    except Exception as exc:  # noqa: BLE001 - a failing variant is reported, not fatal
        return {"key": key, "batch": batch, "status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        pyro.enable_validation(True)


def run_bpca_variant(key, anchors, args, device):
    """Our BPCA on the anchors' BPCA data, timed like ``run_variant``."""
    import pyro
    import torch
    from pyro.infer.autoguide import AutoNormal

    from pyrolatent.inference import fit
    from pyrolatent.models import BayesianPCA

    _, compile_ = BPCA_VARIANTS[key]
    c = anchors.CFG["bpca"]
    X = torch.from_numpy(anchors.bpca_data_np())
    pyro.enable_validation(False)
    try:
        torch.manual_seed(0)
        model = BayesianPCA(c["D"], c["K"], collapsed=False)
        common = dict(lr=c["lr"], device=device, progress=False, compile=compile_)
        t0 = time.perf_counter()
        fit(model, X, guide=AutoNormal(model, init_scale=0.1), num_steps=max(1, args.warmup), seed=0, **common)
        first = time.perf_counter() - t0
        timer = SyncTimer(torch.device(device))
        timer.start()
        synced = fit(
            model, X, guide=AutoNormal(model, init_scale=0.1), num_steps=args.steps, seed=2, callbacks=[timer], **common
        )
        ms = [t * 1e3 for t in timer.times]
        return {
            "key": key,
            "batch": c["N"],
            "status": "ok",
            "median_ms_sync": statistics.median(ms),
            "warmup_call_s": first,
            "train_elbo_per_point": float(-synced.losses[-20:].mean() / X.shape[0]),
        }
    except Exception as exc:  # noqa: BLE001 - a failing variant is reported, not fatal
        return {"key": key, "batch": c["N"], "status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        pyro.enable_validation(True)


def profile_steps(X, init, batch, device, steps=20):
    import pyro

    from pyrolatent.inference import fit

    pyro.enable_validation(False)
    vae = build_vae(init)
    fit(vae, X, num_steps=3, batch_size=batch, lr=1e-3, device=device)
    prof = cProfile.Profile()
    prof.enable()
    fit(vae, X, num_steps=steps, batch_size=batch, lr=1e-3, device=device)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
    pyro.enable_validation(True)
    return out.getvalue()


def run_anchors(args, out_dir: Path) -> dict:
    """Run anchor_bench.py in a subprocess; return {key: {batch: sub}} and its stdout."""
    env = dict(os.environ, OUT=str(out_dir), BENCH_N=str(args.n), BENCH_BATCHES=",".join(map(str, args.batches)))
    if args.smoke:
        env["BENCH_SMOKE"] = "1"
        env.setdefault("BENCH_WARMUP", str(args.warmup))
        env.setdefault("BENCH_STEPS", str(args.steps))
    only = args.anchor_only or ("A,B.mat,C,E,F.jnp,P" if args.smoke else "A,A.cg,B.ro,B.mat,C,C.val,D,E,F,P")
    env["BENCH_ONLY"] = only
    proc = subprocess.run([sys.executable, str(args.anchors)], env=env, capture_output=True, text=True)
    table = {}
    path = out_dir / "anchor_bench.json"
    if path.is_file():
        doc = json.loads(path.read_text())
        for r in doc["results"]:
            table[r["key"]] = {s.get("batch"): s for s in r.get("subs") or []}
            table[r["key"]]["_status"] = r.get("status")
    return {"table": table, "stdout": proc.stdout[-6000:], "stderr": proc.stderr[-2000:], "returncode": proc.returncode}


def fmt(v, spec):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def report(ours, anchors, args, meta) -> str:
    lines = [
        f"bench_vae{' [SMOKE]' if args.smoke else ''}  |  {meta['device_name']}  |  torch {meta['torch']}  "
        f"pyro {meta['pyro']}  |  N={args.n}, warm-up {args.warmup} + timed {args.steps} steps, "
        f"threads={meta['threads']}"
    ]
    head = (
        f"{'key':<12} {'what':<44} {'batch':>6} {'fit steps/s':>12} {'ms/step sync':>13} {'vs A':>6} {'vs C':>6} "
        f"{'vs F':>6} {'ELBO/pt':>9}"
    )
    lines += [head, "-" * len(head)]
    table = anchors.get("table", {}) if anchors else {}
    bpca_n = meta.get("bpca_n")

    def anchor_ms(key, batch):
        s = table.get(key, {}).get(batch)
        return s.get("median_ms") if s and s.get("status") == "ok" else None

    for r in ours:
        bpca = r["key"] in BPCA_VARIANTS
        what = (BPCA_VARIANTS if bpca else VARIANTS)[r["key"]][0]
        if r["status"] != "ok":
            lines.append(f"{r['key']:<12} {what:<44} {r['batch']:>6}  {r['status']}: {r.get('error', '')}")
            continue
        # the VAE against A (plain torch), C (Pyro SVI.step), F.jnp (NumPyro); BPCA against P.torch, P.pyro, P.numpyro
        keys = ("P.torch", "P.pyro", "P.numpyro") if bpca else ("A", "C", "F.jnp")
        a, c, f = (anchor_ms(k, r["batch"]) for k in keys)
        ms = r["median_ms_sync"]
        lines.append(
            f"{r['key']:<12} {what:<44} {r['batch']:>6} {fmt(r.get('fit_steps_per_s'), '12.1f')} {fmt(ms, '13.3f')} "
            f"{fmt(ms / a if a else None, '6.2f')} {fmt(ms / c if c else None, '6.2f')} "
            f"{fmt(ms / f if f else None, '6.2f')} {fmt(r['train_elbo_per_point'], '9.2f')}"
        )
    if table:
        lines.append("")
        lines.append("anchors (anchor_bench.py, same run): median ms/step with a sync after each step")
        for key, subs in table.items():
            cells = []
            for b in args.batches if not key.startswith("P.") else [bpca_n]:
                s = subs.get(b)
                cells.append(
                    f"batch {b}: "
                    + (
                        fmt(s.get("median_ms"), ".3f") + " ms"
                        if s and s.get("status") == "ok"
                        else (s or {}).get("status", subs.get("_status", "-"))
                    )
                )
            lines.append(f"  {key:<8} " + "   ".join(cells))
    lines.append("")
    lines.append(
        "vs A / vs C / vs F = our synced ms/step divided by the anchor's (VAE rows: A plain PyTorch eager, "
        "C Pyro SVI.step with Trace_ELBO and validation off, F NumPyro F.jnp; BPCA rows: P.torch, P.pyro, "
        "P.numpyro); below 1 is faster. fit steps/s has no per-step sync."
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = Path(os.environ.get("OUT") or tempfile.gettempdir())
    out_dir.mkdir(parents=True, exist_ok=True)
    anchor_mod = load_anchor_module(args.anchors, args.n)

    import pyro
    import torch

    from pyrolatent.inference import resolve_device

    device = resolve_device(args.device)
    threads = args.threads or (1 if device.type == "cpu" else 0)
    if threads:
        torch.set_num_threads(threads)
    X_np, init = make_data_and_init(anchor_mod, args.n)
    X = torch.from_numpy(X_np)
    meta = {
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (no CUDA GPU)",
        "anchors_file": str(args.anchors) if anchor_mod is not None else None,
        "same_data_and_init_as_anchors": anchor_mod is not None,
    }
    ours = []
    for batch in args.batches:
        for key in [k.strip() for k in args.variants.split(",") if k.strip()]:
            if key not in VARIANTS:
                raise SystemExit(f"unknown variant {key!r}; choose from {', '.join(VARIANTS)}")
            ours.append(run_variant(key, X, init, batch, args, device))
            print(
                f"[bench_vae] {key} batch {batch}: {ours[-1].get('status')} "
                f"{fmt(ours[-1].get('fit_steps_per_s'), '.1f')} steps/s",
                file=sys.stderr,
                flush=True,
            )
    if anchor_mod is not None and args.bpca:
        meta["bpca_n"] = anchor_mod.CFG["bpca"]["N"]
        for key in BPCA_VARIANTS:
            ours.append(run_bpca_variant(key, anchor_mod, args, device))
            print(f"[bench_vae] {key}: {ours[-1].get('status')}", file=sys.stderr, flush=True)
    anchors = None
    if not args.no_anchors and anchor_mod is not None:
        print("[bench_vae] running anchors ...", file=sys.stderr, flush=True)
        anchors = run_anchors(args, out_dir)
    text = report(ours, anchors, args, meta)
    print(text)
    if args.profile:
        print("\ncProfile of V.trace, 20 steps at batch", args.batches[0])
        print(profile_steps(X, init, args.batches[0], device))
    path = args.json or out_dir / "bench_vae.json"
    path.write_text(
        json.dumps(
            {"meta": meta, "args": {k: str(v) for k, v in vars(args).items()}, "ours": ours, "anchors": anchors},
            indent=1,
            default=str,
        )
    )
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
