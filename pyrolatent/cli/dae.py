"""The ``dae`` entry of the command line (``pyrolatent fit dae ...``).

A denoising autoencoder (:class:`pyrolatent.models.DenoisingAutoencoder`) with
Gaussian corruption of level ``--sigma``. Besides the reconstruction errors of
the ``autoencoder`` entry, the summary gives the mean norm of the score
estimate ``(r(x) - x) / sigma^2`` on the held-out part; on the synthetic
mixture (an npy file of it) the field can be drawn as in tutorial 3.
"""

from __future__ import annotations

import argparse

from pyrolatent.data import Dataset

from .autoencoder import add_network_arguments, reconstruction_mse
from .common import ModelEntry

__all__ = ["ENTRY"]


def add_dae_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser)
    group = parser.add_argument_group("denoising", "options of the denoising autoencoder")
    group.add_argument(
        "--sigma",
        type=float,
        default=0.1,
        help="DAE: standard deviation of the Gaussian corruption (the score's smoothing level)",
    )


def build_dae(args, data: Dataset):
    from pyrolatent.models import DenoisingAutoencoder

    return DenoisingAutoencoder(
        n_features=data.n_features,
        n_components=args.n_components if args.n_components is not None else 2,
        sigma=args.sigma,
        image_shape=data.image_shape,
        hidden=tuple(args.hidden),
    )


def summarize_dae(args, result, train: Dataset, test: Dataset | None) -> dict:
    model = result.model
    held = test if test is not None else train
    out = {
        "n_components": model.n_components,
        "sigma": model.sigma,
        "n_train": train.n_samples,
        "train_mse": reconstruction_mse(model, train.x),
        "mean_score_norm": float(model.score(held.x).norm(dim=-1).mean()),
        "units": "squared error summed over features, mean over examples",
    }
    if test is not None:
        out.update(n_test=test.n_samples, test_mse=reconstruction_mse(model, test.x))
    return out


def describe_dae(summary: dict) -> str:
    text = f"sigma {summary['sigma']:g}: train reconstruction MSE {summary['train_mse']:.4g}"
    if "test_mse" in summary:
        text += f", test {summary['test_mse']:.4g}"
    return text + f"; mean |score estimate| {summary['mean_score_norm']:.3g}"


ENTRY = ModelEntry(
    build_dae,
    summarize_dae,
    describe_dae,
    default_lr=1e-3,
    default_batch_size=100,
    test_fraction=0.1,
    add_arguments=add_dae_arguments,
)
