"""Why the JS triplet rule saturates: posterior widths and per-dimension JS of a fitted run.

    python benchmarks/diagnose_triplet.py RUN_DIR [RUN_DIR ...]

For each run directory written by ``pyrolatent fit vae|triplet ... --triplets
...`` it rebuilds the model, reads the encoder's posteriors
:math:`\\mathcal N(\\mu_h(x), \\sigma_h(x)^2)` of the held-out objects and
prints, per latent dimension: the median posterior standard deviation, the
spread (standard deviation over objects) of the posterior means, and the
median exact JS divergence of the held-out positive pairs (anchor, positive)
and negative pairs (anchor, negative). A dimension whose JS is near
:math:`\\ln 2 \\approx 0.693` for both kinds of pair cannot tell them apart.
It also prints the held-out triplet accuracy of the summed JS over all
dimensions and over the model's oracle mask (the triplet VAE's rule).
"""

import sys
from pathlib import Path

import numpy as np
import torch

from pyrolatent.cli._triplet_eval import split_for_run
from pyrolatent.cli.common import _fit_data, _load_data, _read_run_json, _rebuild_args, entries
from pyrolatent.cli.vae import prepare_vae
from pyrolatent.components.divergences import js_divergence
from pyrolatent.inference import restore

torch.set_num_threads(1)


@torch.no_grad()
def diagnose(run: Path) -> None:
    saved = _rebuild_args(run, _read_run_json(run / "run.json"))
    entry = entries()[saved.model]
    data, _ = _load_data(saved, entry)
    model = entry.build(saved, data)
    restore(model, _fit_data(saved, entry, data), run / "checkpoint.pt")
    split = split_for_run(saved, prepare_vae, data)
    loc, scale = model.encoder(model.check_data(split.test.x)[0])
    a, p, n = split.test_triplets.index.T
    d_pos = js_divergence(loc[a], scale[a], loc[p], scale[p])
    d_neg = js_divergence(loc[a], scale[a], loc[n], scale[n])
    H = loc.shape[1]
    print(f"== {run}  ({saved.model}, {H} latent dimensions, {len(a)} held-out triplets)")
    print("posterior sd (median)   ", np.round(scale.median(0).values.numpy(), 3))
    print("spread of the means     ", np.round(loc.std(0).numpy(), 3))
    print("JS positives (median)   ", np.round(d_pos.median(0).values.numpy(), 3))
    print("JS negatives (median)   ", np.round(d_neg.median(0).values.numpy(), 3))
    mask = model.oracle_masks()[0] if hasattr(model, "oracle_masks") else torch.ones(H)
    for name, w in (("all dimensions", torch.ones(H)), ("oracle mask", mask)):
        acc = float(((d_pos * w).sum(-1) < (d_neg * w).sum(-1)).double().mean())
        print(f"JS-rule accuracy, {name:15s} {acc:.3f}  (mask {w.tolist()})")
    if hasattr(model, "triplet_scale"):
        print(f"logit scale s = {float(model.triplet_scale.detach()):.3f}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        diagnose(Path(arg))
