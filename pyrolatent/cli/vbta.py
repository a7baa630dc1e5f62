"""The ``vbta`` entry of the command line (``pyrolatent fit vbta ...``).

``--data SPEC_A --data-b SPEC_B|transpose|invert|rot90 [--aligned] (--pairs N | --pairs-file PATH)``
plus the VAE's model flags (``--likelihood``, ``--prior``, ``--hidden``,
``--network``, ``--n-components``) and the VBTA's own (``--triplet-weight``,
``--cycle-weight``, ``--pair-weight``, ``--negatives``, ``--separate-heads``, ...).

Defaults of the cross-domain terms (measured in ``benchmarks/VBTA_RESULTS.md``):
``--pair-weight balanced`` (the pairs weigh as much as the unpaired objects, as
in the authors' code; the lecture's ELBO, ``--pair-weight 1``, leaves a few
pairs with about 1/900 of the objective and translates poorly),
``--triplet-weight 100`` (the authors' effective weight, applied once),
``--cycle-weight 1``, shared heads, random negatives.

Data. Domain A is split 90/10 by ``--seed`` (the split of ``fit vae``). A
built-in second domain (``transpose``, ``invert``, ``rot90``) is made from A and
is row-aligned with it, as is a ``--data-b`` spec with ``--aligned`` (same
number of rows, row i of B shows row i of A); aligned domains share the split.
Any other domain B is split 90/10 by the same seed on its own. With the
Bernoulli likelihood both domains are binarised with ``--seed`` (a built-in B
is made from the binarised A). Known pairs: ``--pairs N`` reveals N seeded
training rows of aligned domains (the other rows are never paired; ``--pairs
0`` fits with no pairs, the ablation); ``--pairs-file PATH`` reads (row of A,
row of B) in file rows (:func:`pyrolatent.data.pairs.load_pairs`) and keeps the
pairs whose two objects are both training rows.

Summary (``summary.json``), on the held-out rows:

- ``translation_accuracy_ab``: a classifier of domain B (multinomial logistic
  regression, scikit-learn ``LogisticRegression(C=1, lbfgs)``, fitted on up to
  10,000 training rows of B before binarisation, with their labels) classifies
  the translations (decoder means) of A's test rows; the share that gets A's
  label. ``translation_accuracy_ba`` the other way round. The classifiers' own
  accuracy on the real test rows of their domain is ``target_classifier_accuracy``
  (``{"b": ..., "a": ...}``). Needs labels in both domains.
- ``retrieval_top1`` (aligned domains): share of A's test rows (at most 2,000)
  whose nearest B test row, by the squared distance between posterior means, is
  their own pair (chance: 1 / number of rows).
- ``test_elbo``: mean ELBO per test object of both domains (unpaired model,
  10 draws), in nats. ``n_pairs``, ``n_dropped_pairs``, ``aligned``.
"""

from __future__ import annotations

import argparse
import math

import pyro
import torch

from pyrolatent._pyro import local_params, seeded
from pyrolatent.data import Dataset, binarize, load_dataset
from pyrolatent.data.pairs import DOMAIN_TRANSFORMS, load_pairs, pairs_from_file_rows, reveal_pairs, second_domain

from .common import ModelEntry
from .vae import LIKELIHOOD_CHOICES, PRIOR_CHOICES, _hidden

__all__ = ["ENTRY", "vbta_data"]

TEST_FRACTION = 0.1
CLASSIFIER_ROWS = 10_000
RETRIEVAL_ROWS = 2_000


def add_vbta_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model", "networks and likelihoods of both domains (latent: --n-components)")
    group.add_argument(
        "--likelihood",
        choices=LIKELIHOOD_CHOICES,
        default="bernoulli",
        help="observation model of both domains (bernoulli binarises the data with --seed)",
    )
    group.add_argument("--prior", choices=PRIOR_CHOICES, default="normal", help="the shared prior of z")
    group.add_argument("--hidden", type=_hidden, default=(400,), help="encoder hidden sizes, e.g. 400 or 512,256")
    group.add_argument("--network", choices=("mlp", "conv"), default="mlp", help="networks of both domains")
    group.add_argument(
        "--separate-heads",
        action="store_true",
        help="separate networks per domain (default: shared encoder heads and decoder trunk)",
    )
    vb = parser.add_argument_group("domains", "the second domain, the known pairs and the cross-domain terms")
    vb.add_argument(
        "--data-b", default=None, help="(needed) " + "domain B: " + " | ".join(DOMAIN_TRANSFORMS) + " | a data spec"
    )
    vb.add_argument("--aligned", action="store_true", help="row i of --data-b shows row i of --data")
    pairs = vb.add_mutually_exclusive_group()  # one is needed: checked when the data are prepared
    pairs.add_argument("--pairs", type=int, help="reveal N seeded training pairs of aligned domains (0: none)")
    pairs.add_argument("--pairs-file", help="(row of A, row of B) pairs: a .csv or .npy file")
    vb.add_argument(
        "--triplet-weight",
        type=float,
        default=100.0,
        help="temperature of the triplet likelihood, applied once (0: no triplet term; default 100, the "
        "effective weight of the authors' code, which applies its 10 twice)",
    )
    vb.add_argument("--cycle-weight", type=float, default=1.0, help="temperature of the cycle terms (0: none)")
    vb.add_argument(
        "--pair-weight",
        type=_pair_weight,
        default="balanced",
        help="temperature of the pairs' likelihood, a number > 0 (1: the lecture's ELBO) or 'balanced' (the "
        "default): (unpaired objects) / (paired objects), so that the pairs weigh as much as the unpaired data",
    )
    vb.add_argument("--negatives", choices=("random", "hard"), default="random", help="triplet negatives")
    vb.add_argument("--distance", default="js", choices=("js", "symmetric_kl", "moment_matched", "sq_euclidean"))
    vb.add_argument("--triplet-scale", type=float, default=5.0, help="initial (or fixed) scale of the logits")
    vb.add_argument("--fixed-scale", action="store_true", help="keep --triplet-scale fixed")
    vb.add_argument("--pair-batch-size", type=int, default=None, help="pairs per step (default: min(P, 100))")


def _pair_weight(text: str):
    if text == "balanced":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or 'balanced'; got {text!r}") from None


def _split_rows(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train rows, test rows) exactly as :meth:`Dataset.split` draws them."""
    n_test = round(n * TEST_FRACTION)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_test:], perm[:n_test]


def vbta_data(args) -> dict:
    """Both domains, split, and the known pairs in training rows (recomputed from the arguments).

    Returns a dict with ``train_a``, ``test_a``, ``train_b``, ``test_b`` (the
    model's data), ``raw_train_a`` ... (before binarisation, for the
    classifiers), ``pairs`` ((P, 2) in training rows, or None), ``n_dropped_pairs``
    and ``aligned``.
    """
    bernoulli = args.likelihood == "bernoulli"
    raw_a = load_dataset(args.data)
    a = binarize(raw_a, seed=args.seed) if bernoulli else raw_a
    if args.data_b in DOMAIN_TRANSFORMS:
        raw_b, b, aligned = second_domain(raw_a, args.data_b), second_domain(a, args.data_b), True
    else:
        raw_b = load_dataset(args.data_b)
        b = binarize(raw_b, seed=args.seed + 1) if bernoulli else raw_b
        aligned = bool(args.aligned)
        if aligned and raw_b.n_samples != raw_a.n_samples:
            raise ValueError(
                f"The '--aligned' option needs as many rows in --data-b as in --data; "
                f"got {raw_b.n_samples} and {raw_a.n_samples}."
            )
    tr_a, te_a = _split_rows(a.n_samples, args.seed)
    tr_b, te_b = (tr_a, te_a) if aligned else _split_rows(b.n_samples, args.seed)
    out = dict(aligned=aligned, n_dropped_pairs=0, pairs=None)
    for name, ds, rows in (("a", a, (tr_a, te_a)), ("b", b, (tr_b, te_b))):
        out[f"train_{name}"], out[f"test_{name}"] = ds.subset(rows[0]), ds.subset(rows[1])
    for name, ds, rows in (("a", raw_a, (tr_a, te_a)), ("b", raw_b, (tr_b, te_b))):
        out[f"raw_train_{name}"], out[f"raw_test_{name}"] = ds.subset(rows[0]), ds.subset(rows[1])
    if args.pairs_file is not None:
        file_pairs = load_pairs(args.pairs_file, a.n_samples, b.n_samples)
        out["pairs"], out["n_dropped_pairs"] = pairs_from_file_rows(file_pairs, tr_a, tr_b)
        if out["pairs"].shape[0] == 0:
            out["pairs"] = None
    elif args.pairs:
        if args.pairs < 0:
            raise ValueError(f"The '--pairs' option must be a count >= 0. Got {args.pairs} instead.")
        if not aligned:
            raise ValueError(
                "The '--pairs' option reveals pairs of aligned domains: use a built-in --data-b, "
                "--aligned, or --pairs-file."
            )
        out["pairs"] = reveal_pairs(tr_a.numel(), args.pairs, seed=args.seed)
    return out


def build_vbta(args, data: Dataset):
    from pyrolatent.models import VBTA

    d = vbta_data(args)
    a, b = d["train_a"], d["train_b"]
    return VBTA(
        a.n_features,
        b.n_features,
        args.n_components if args.n_components is not None else 2,
        image_shape=a.image_shape,
        image_shape_b=b.image_shape,
        network=args.network,
        hidden=tuple(args.hidden),
        likelihood=args.likelihood,
        prior=args.prior,
        shared_heads=not args.separate_heads,
        distance=args.distance,
        scale=args.triplet_scale,
        learn_scale=not args.fixed_scale,
        triplet_weight=args.triplet_weight,
        cycle_weight=args.cycle_weight,
        negatives=args.negatives,
        pair_weight=args.pair_weight,
    )


def model_inputs(args, train: Dataset) -> dict:
    d = vbta_data(args)
    inputs = {"x": d["train_a"].x, "y": d["train_b"].x}
    if d["pairs"] is not None:
        inputs["pairs"] = d["pairs"]
    return inputs


def batch_sizes(args, inputs: dict, batch_size: int | None):
    """One minibatch size per plate: ``--batch-size`` (default 100) for each domain, capped at its rows, and
    ``--pair-batch-size`` (default min(P, 100)) for the pairs."""
    b = 100 if batch_size is None else batch_size
    sizes = {"data": min(b, inputs["x"].shape[0]), "data_b": min(b, inputs["y"].shape[0])}
    if "pairs" in inputs:
        P = inputs["pairs"].shape[0]
        pb = args.pair_batch_size if args.pair_batch_size is not None else min(P, 100)
        if pb < 1 or pb > P:
            raise ValueError(f"The '--pair-batch-size' option must be between 1 and the {P} pairs. Got {pb} instead.")
        sizes["pairs"] = pb
    return sizes


def fit_classifier(train: Dataset, seed: int):
    """Multinomial logistic regression on up to 10,000 seeded rows of ``train`` (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression

    rows = torch.randperm(train.n_samples, generator=torch.Generator().manual_seed(seed))[:CLASSIFIER_ROWS]
    clf = LogisticRegression(C=1.0, max_iter=1000)
    return clf.fit(train.x[rows].double().numpy(), train.y[rows].numpy())


def _accuracy(clf, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((torch.as_tensor(clf.predict(x.detach().cpu().double().numpy())) == y.cpu()).double().mean())


def test_elbo(model, guide, x: torch.Tensor, y: torch.Tensor, num_particles: int = 10) -> float:
    """Mean ELBO per object of the unpaired model on ``x`` (domain A) and ``y`` (domain B), in nats."""
    elbo = pyro.infer.Trace_ELBO(num_particles=num_particles, vectorize_particles=True, max_plate_nesting=2)
    device = model.log_scale.device
    with torch.no_grad(), local_params(model, guide):
        loss = elbo.loss(model, guide, x=x.to(device), y=y.to(device))
    return -loss / (x.shape[0] + y.shape[0])


def summarize_vbta(args, result, train: Dataset, test: Dataset | None) -> dict:
    model, guide = result.model, result.guide
    d = vbta_data(args)
    te_a, te_b = d["test_a"], d["test_b"]
    out = {
        "n_components": model.n_components,
        "likelihood": model.likelihood.name,
        "aligned": d["aligned"],
        "n_pairs": 0 if d["pairs"] is None else int(d["pairs"].shape[0]),
        "n_dropped_pairs": d["n_dropped_pairs"],
        "n_train_a": d["train_a"].n_samples,
        "n_train_b": d["train_b"].n_samples,
        "n_test_a": te_a.n_samples,
        "n_test_b": te_b.n_samples,
        "triplet_weight": model.triplet_weight,
        "cycle_weight": model.cycle_weight,
        "shared_heads": model.shared_heads,
        "triplet_scale": float(model.triplet_scale.detach()),
    }
    with seeded(args.seed):
        out["test_elbo"] = test_elbo(model, guide, te_a.x, te_b.x)
        raw = {k: d[f"raw_{k}"] for k in ("train_a", "test_a", "train_b", "test_b")}
        if all(ds.y is not None for ds in raw.values()):
            clf_b, clf_a = fit_classifier(raw["train_b"], args.seed), fit_classifier(raw["train_a"], args.seed)
            out["classifier"] = (
                f"multinomial logistic regression (scikit-learn, C=1, lbfgs) on up to "
                f"{CLASSIFIER_ROWS} training rows of the target domain, before binarisation"
            )
            out["target_classifier_accuracy"] = {
                "b": _accuracy(clf_b, raw["test_b"].x, raw["test_b"].y),
                "a": _accuracy(clf_a, raw["test_a"].x, raw["test_a"].y),
            }
            out["translation_accuracy_ab"] = _accuracy(clf_b, model.translate(te_a.x, "a"), te_a.y)
            out["translation_accuracy_ba"] = _accuracy(clf_a, model.translate(te_b.x, "b"), te_b.y)
        if d["aligned"]:
            n = min(te_a.n_samples, RETRIEVAL_ROWS)
            hits = model.retrieve(te_a.x[:n], te_b.x[:n], source="a")[:, 0] == torch.arange(n)
            out["retrieval_top1"] = float(hits.double().mean())
            out["retrieval_chance"] = 1.0 / n
    return out


def report_data(args, train: Dataset) -> dict:
    """What the report's VBTA figures are drawn from: the held-out rows of both domains,
    ``{"x": test rows of A, "y": test rows of B, "pairs": ...}``. Aligned domains pair
    test row i of A with test row i of B (the figures show the true counterpart beside
    each translation); other domains have no known test pairs (``"aligned": False``:
    the figures show the round trip instead)."""
    d = vbta_data(args)
    x, y = d["test_a"].x, d["test_b"].x
    if d["aligned"]:
        rows = torch.arange(x.shape[0])
        return {"x": x, "y": y, "pairs": torch.stack([rows, rows], 1)}
    return {"x": x, "y": y, "aligned": False}


def describe_vbta(summary: dict) -> str:
    text = f"{summary['n_pairs']} pairs; test ELBO {summary['test_elbo']:.2f} nats/object"
    if "translation_accuracy_ab" in summary:
        text += (
            f"; translation accuracy A->B {summary['translation_accuracy_ab']:.3f}, "
            f"B->A {summary['translation_accuracy_ba']:.3f}"
        )
    if "retrieval_top1" in summary:
        text += f"; retrieval top-1 {summary['retrieval_top1']:.3f}"
    return text


def _check_weights(args, data: Dataset) -> Dataset:
    # not argparse's required=: 'pyrolatent report' rebuilds the defaults without them
    if args.data_b is None:
        raise ValueError("The '--data-b' option is needed: " + " | ".join(DOMAIN_TRANSFORMS) + " | a data spec.")
    if args.pairs is None and args.pairs_file is None:
        raise ValueError("One of the '--pairs N' and '--pairs-file PATH' options is needed (--pairs 0: no pairs).")
    for flag, value in (("--triplet-weight", args.triplet_weight), ("--cycle-weight", args.cycle_weight)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"The '{flag}' option must be a finite number >= 0. Got {value} instead.")
    if args.pair_weight != "balanced" and not (math.isfinite(args.pair_weight) and args.pair_weight > 0):
        raise ValueError(
            f"The '--pair-weight' option must be a finite number > 0 or 'balanced'. Got {args.pair_weight}."
        )
    return binarize(data, seed=args.seed) if args.likelihood == "bernoulli" else data


ENTRY = ModelEntry(
    build_vbta,
    summarize_vbta,
    describe_vbta,
    default_lr=1e-3,
    default_batch_size=100,
    test_fraction=TEST_FRACTION,
    prepare=_check_weights,
    add_arguments=add_vbta_arguments,
    model_inputs=model_inputs,
    batch_sizes=batch_sizes,
    report_data=report_data,
)
