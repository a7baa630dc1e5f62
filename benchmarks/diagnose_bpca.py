"""Diagnostics of Bayesian PCA on Bishop's data and on digits: PSIS k-hat,
restarts as chains, LOO between two n_components, SVI against NUTS.

    python benchmarks/diagnose_bpca.py bishop|digits [psis] [restarts] [loo] [nuts]

Writes one JSON file per stage into runs/diagnose-bpca/ and prints them.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pyro
import torch

from pyrolatent.data import load_digits, make_bishop
from pyrolatent.diagnostics import (
    compare_models,
    compare_to_nuts,
    fit_restarts,
    psis_diagnostic,
    restart_diagnostics,
    run_nuts,
)
from pyrolatent.inference import fit
from pyrolatent.models import BayesianPCA

torch.set_num_threads(1)
pyro.enable_validation(False)
OUT = Path("runs/diagnose-bpca")
OUT.mkdir(parents=True, exist_ok=True)

which, stages = sys.argv[1], set(sys.argv[2:])
if which == "bishop":
    data, K, steps, lr, nuts_kw = (
        make_bishop(seed=0),
        9,
        2000,
        0.03,
        dict(num_warmup=500, num_samples=500, max_tree_depth=8),
    )
else:
    data, K, steps, lr, nuts_kw = load_digits(), 10, 2000, 0.03, dict(num_warmup=200, num_samples=200, max_tree_depth=6)
D = data.n_features


def dump(key, value):
    print(key, json.dumps(value, default=str), flush=True)
    json.dump(value, open(OUT / f"{which}-{key}.json", "w"), indent=1, default=str)


t = time.time()
result = fit(BayesianPCA(D, K), data, num_steps=steps, lr=lr, seed=0)
post = result.model.posterior(result.guide)
dump(
    "svi",
    {
        "seconds": time.time() - t,
        "n_effective": post.n_effective,
        "noise_variance": float(post.noise_variance),
        "relevance_sorted": [round(float(v), 4) for v in post.relevance[post.order]],
    },
)
if "psis" in stages:
    dump("psis", psis_diagnostic(result, num_samples=2000, seed=0).to_dict())
if "restarts" in stages:
    t = time.time()
    fits = [result] + fit_restarts(lambda: BayesianPCA(D, K), data, 3, seeds=[1, 2, 3], num_steps=steps, lr=lr)
    rd = restart_diagnostics(fits, num_samples=200)  # BayesianPCA.identifiable_quantities
    means = rd.means()
    dump(
        "restarts",
        {
            "seconds": time.time() - t,
            "summary": rd.summary(),
            "table": rd.table().reset_index().to_dict("records"),
            "n_effective": [f.model.posterior(f.guide).n_effective for f in fits],
            "final_elbo": rd.final_elbos,
            "noise_variance_means": means["noise_variance"].tolist(),
            "noise_variance_guide_sd": rd.draws["noise_variance"].std(1).tolist(),
            "relevance_means": np.round(means["relevance"], 4).tolist(),
        },
    )
if "loo" in stages:
    ks = (3, 1) if which == "bishop" else (10, 2)
    cmp = compare_models({f"K={k}": fit(BayesianPCA(D, k), data, num_steps=steps, lr=lr, seed=0) for k in ks})
    dump("loo", cmp.reset_index().astype(str).to_dict("records"))
if "nuts" in stages:
    nuts = run_nuts(BayesianPCA(D, K), data, seed=0, jit_compile=True, **nuts_kw)
    comp = compare_to_nuts(result, nuts)
    tab = comp.table()
    res = {
        "seconds": nuts.wall_time,
        "divergences": nuts.divergences,
        **nuts_kw,
        "tau_diag": nuts.site_diagnostics.get("tau"),
    }
    for name, d in (("nuts", comp.nuts_draws), ("svi", comp.svi_draws)):
        rel = d["relevance"].mean(0)
        nv = d["noise_variance"].mean()
        res[f"{name}_survivors_rel_ge_noise"] = int((rel >= nv).sum())
        res[f"{name}_survivors_rel_ge_quarter_noise"] = int((rel >= 0.25 * nv).sum())
    w = tab.loc[[i for i in tab.index if i.startswith("WtW")]]
    res["WtW"] = {
        "max_abs_z": float(w.z.abs().max()),
        "median_abs_z": float(w.z.abs().median()),
        "median_sd_ratio": float(w.sd_ratio.median()),
    }
    res["table"] = tab.loc[[i for i in tab.index if not i.startswith("WtW")]].reset_index().to_dict("records")
    print(tab.loc[[i for i in tab.index if not i.startswith("WtW")]].to_string(), flush=True)
    dump("nuts", res)
