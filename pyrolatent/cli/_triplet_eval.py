"""The triplet evaluation that every ``fit`` command shares (``--triplets``).

``pyrolatent fit triplet`` and the metric-learning baselines train on the
triplets; ``fit vae``, ``fit autoencoder`` (and any model given
:func:`add_triplet_eval_arguments`) only **evaluate** their codes on them, with
the same split and the same summary keys, so any two methods compare with two
commands:

- ``test_triplet_accuracy``: share of the test triplets (over test objects
  only) that the model answers correctly: for a model with its own
  ``triplet_probability`` (the triplet VAE, the baselines) the share whose
  probability exceeds 1/2; for a model whose encoder gives per-dimension
  Gaussian posteriors (the plain VAE) the same rule under the summed exact
  Jensen-Shannon distance between posteriors (the triplet VAE's default
  distance, all dimensions, no oracle); otherwise the squared Euclidean
  distance between codes. ``triplet_accuracy_distance`` says which.
- ``test_triplet_accuracy_euclidean``: the Euclidean rule on the codes of
  ``encode`` (posterior means), the same for every model.
- ``test_triplet_accuracy_by_oracle`` with several oracles.
- ``knn1_accuracy``, ``knn5_accuracy``: test objects classified by the labels
  of their nearest training codes (when the data have labels).
- ``n_train_triplets``, ``n_test_triplets``, ``n_dropped_triplets``, ``n_oracles``.

The object split is :func:`pyrolatent.data.triplets.make_triplet_split`'s,
which is ``Dataset.split``'s: the same 90/10 split, by ``--seed``, as every
``fit`` command.
"""

from __future__ import annotations

import argparse

import torch

from pyrolatent.data import Dataset, load_dataset
from pyrolatent.data.triplets import TRIPLET_SPECS, make_triplet_split

__all__ = ["add_triplet_eval_arguments", "evaluate_triplets", "split_for_run", "triplet_answers"]


def add_triplet_eval_arguments(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    """``--triplets`` (required when the model trains on them) and ``--n-test-triplets``."""
    group = parser.add_argument_group(
        "triplets", "an oracle's judgements: " + ("fitted" if required else "evaluated only")
    )
    group.add_argument(
        "--triplets",
        required=required,
        default=None,
        help="one of: "
        + " | ".join(TRIPLET_SPECS)
        + " (join with +)"
        + ("" if required else "; evaluates the codes on held-out triplets (does not train on them)"),
    )
    group.add_argument("--n-test-triplets", type=int, default=10_000, help="test triplets made by labels:/attribute:")


def split_for_run(args, prepare=None, train: Dataset | None = None):
    """The run's object split and triplets, recomputed from ``--data``, ``--triplets``,
    ``--seed`` (and the entry's ``prepare`` of the data)."""
    data = load_dataset(args.data)
    if prepare is not None:
        data = prepare(args, data)
    split = make_triplet_split(
        data, args.triplets, test_fraction=0.1, seed=args.seed, n_test_triplets=args.n_test_triplets
    )
    if train is not None and split.train.n_samples != train.n_samples:  # pragma: no cover - defensive
        raise ValueError("The triplet split does not match the training data of this run.")
    return split


@torch.no_grad()
def triplet_answers(model, guide, x: torch.Tensor, triplets: torch.Tensor, oracle=None) -> tuple[torch.Tensor, str]:
    """``(p, rule)``: the model's probability (or 0/1 answer) that each anchor is closer
    to its positive (T,), and the name of the rule used (see the module docstring)."""
    from pyrolatent.components.embedding import squared_distances
    from pyrolatent.diagnostics.latent_metrics import posterior_distances

    if hasattr(model, "triplet_probability"):
        return model.triplet_probability(x, triplets, oracle).cpu(), "model"
    encoder = getattr(model, "encoder", None)
    if encoder is not None and hasattr(model, "check_data"):
        x_checked, _ = model.check_data(x)
        device = next(model.parameters()).device
        out = encoder(x_checked.to(device))
        if isinstance(out, tuple) and len(out) == 2:
            d_ij, d_il = posterior_distances(*(t.cpu() for t in out), triplets, distance="js")
            return 0.5 * (1 + torch.sign(d_il - d_ij)), "js"
    d_ij, d_il = squared_distances(model.encode(x, guide).cpu(), triplets)
    return 0.5 * (1 + torch.sign(d_il - d_ij)), "euclidean"


def evaluate_triplets(args, model, guide, train: Dataset, prepare=None, split=None) -> dict:
    """The triplet metrics of the module docstring for a fitted ``model`` (``{}`` without ``--triplets``)."""
    from pyrolatent.diagnostics.latent_metrics import knn_accuracy

    if getattr(args, "triplets", None) is None:
        return {}
    split = split if split is not None else split_for_run(args, prepare, train)
    out = split.summary()
    tt = split.test_triplets
    if len(tt):
        p, rule = triplet_answers(model, guide, split.test.x, tt.index, tt.oracle)
        correct = (p > 0.5).double()
        out["test_triplet_accuracy"] = float(correct.mean())
        out["triplet_accuracy_distance"] = rule
        if tt.n_oracles > 1:
            out["test_triplet_accuracy_by_oracle"] = [
                float(correct[tt.oracle == o].mean()) for o in range(tt.n_oracles)
            ]
    test_codes = train_codes = None
    if model.supports("encode"):
        from pyrolatent.components.embedding import squared_distances

        test_codes = model.encode(split.test.x, guide).cpu()
        if len(tt):
            d_ij, d_il = squared_distances(test_codes, tt.index)
            out["test_triplet_accuracy_euclidean"] = float((d_ij < d_il).double().mean())
        if split.train.y is not None and split.test.y is not None:
            train_codes = model.encode(split.train.x, guide).cpu()
            for k in (1, 5):
                out[f"knn{k}_accuracy"] = knn_accuracy(train_codes, split.train.y, test_codes, split.test.y, k)
    return out


def describe_triplets(summary: dict) -> str:
    """The metrics in one line ('' without them)."""
    text = ""
    if "test_triplet_accuracy" in summary:
        text += f"; held-out triplet accuracy {summary['test_triplet_accuracy']:.3f}"
    if "knn1_accuracy" in summary:
        text += f", 1-NN {summary['knn1_accuracy']:.3f}, 5-NN {summary['knn5_accuracy']:.3f}"
    return text


# -- the entries of the metric-learning baselines ---------------------------------------
def baseline_entry(build, add_model_arguments, *, default_lr: float = 1e-3):
    """A :class:`~pyrolatent.cli.common.ModelEntry` for a deterministic baseline trained
    on ``--triplets`` (required): fitted on the training objects and their triplets,
    summarised by :func:`evaluate_triplets` and the final training loss."""
    from .common import ModelEntry

    def add_arguments(parser):
        add_model_arguments(parser)
        add_triplet_eval_arguments(parser, required=True)

    def model_inputs(args, train: Dataset) -> dict:
        return {"x": train.x, **split_for_run(args, None, train).train_triplets.inputs()}

    def summarize(args, result, train: Dataset, test: Dataset | None) -> dict:
        model = result.model
        split = split_for_run(args, None, train)
        out = {
            "n_components": model.n_components,
            "n_train": train.n_samples,
            "final_training_loss": -result.final_elbo,
            "units": "final_training_loss: the summed triplet loss (times --loss-weight) over the training triplets",
        }
        if test is not None:
            out["n_test"] = test.n_samples
        out.update(evaluate_triplets(args, model, result.guide, train, split=split))
        return out

    def describe(summary: dict) -> str:
        return f"final training loss {summary['final_training_loss']:.4g}" + describe_triplets(summary)

    return ModelEntry(
        build,
        summarize,
        describe,
        default_lr=default_lr,
        default_batch_size=100,
        test_fraction=0.1,
        add_arguments=add_arguments,
        model_inputs=model_inputs,
    )
