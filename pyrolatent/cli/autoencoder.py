"""The ``autoencoder`` entry of the command line (``pyrolatent fit autoencoder ...``).

A deterministic autoencoder (:class:`pyrolatent.models.Autoencoder`): flat prior
on the code, point-mass guide, Gaussian likelihood with one learned scale per
feature. The held-out split (10 %) is fixed by ``--seed``; the summary gives
the mean squared reconstruction error per example on both parts. With
``--triplets SPEC`` it also evaluates (does not train) the codes on held-out
triplets with the same metrics and keys as ``fit triplet``
(:mod:`pyrolatent.cli._triplet_eval`).
"""

from __future__ import annotations

import torch

from pyrolatent.data import Dataset

from .common import ModelEntry
from .vae import _hidden

__all__ = ["ENTRY", "add_network_arguments", "reconstruction_mse"]


def add_network_arguments(parser) -> None:
    group = parser.add_argument_group("model", "options of the autoencoder (latent size: --n-components, default 2)")
    group.add_argument("--hidden", type=_hidden, default=(400,), help="encoder hidden sizes, e.g. 400 or 512,256")


def add_autoencoder_fit_arguments(parser) -> None:
    """``fit autoencoder``'s flags: the network's, and ``--triplets`` to evaluate its codes."""
    from ._triplet_eval import add_triplet_eval_arguments

    add_network_arguments(parser)
    add_triplet_eval_arguments(parser, required=False)


def build_autoencoder(args, data: Dataset):
    from pyrolatent.models import Autoencoder

    return Autoencoder(
        n_features=data.n_features,
        n_components=args.n_components if args.n_components is not None else 2,
        image_shape=data.image_shape,
        hidden=tuple(args.hidden),
    )


def reconstruction_mse(model, x: torch.Tensor) -> float:
    """Mean over rows of the squared reconstruction error summed over features."""
    return float((model.reconstruct(x).cpu() - x.cpu()).pow(2).sum(-1).mean())


def summarize_autoencoder(args, result, train: Dataset, test: Dataset | None) -> dict:
    model = result.model
    out = {
        "n_components": model.n_components,
        "n_train": train.n_samples,
        "train_mse": reconstruction_mse(model, train.x),
        "units": "squared error summed over features, mean over examples",
    }
    if test is not None:
        out.update(n_test=test.n_samples, test_mse=reconstruction_mse(model, test.x))
    if getattr(args, "triplets", None) is not None:
        from ._triplet_eval import evaluate_triplets

        out.update(evaluate_triplets(args, model, result.guide, train))
    return out


def describe_autoencoder(summary: dict) -> str:
    text = f"train reconstruction MSE {summary['train_mse']:.4g}"
    if "test_mse" in summary:
        text += f", test {summary['test_mse']:.4g}"
    from ._triplet_eval import describe_triplets

    return text + " (summed over features)" + describe_triplets(summary)


ENTRY = ModelEntry(
    build_autoencoder,
    summarize_autoencoder,
    describe_autoencoder,
    default_lr=1e-3,
    default_batch_size=100,
    test_fraction=0.1,
    add_arguments=add_autoencoder_fit_arguments,
)
