"""The ``bpca`` entry of the command line (``pyrolatent fit bpca ...``)."""

from __future__ import annotations

from pyrolatent.data import Dataset
from pyrolatent.inference import FitResult

from .common import ModelEntry

__all__ = ["ENTRY"]


def build(args, data: Dataset):
    from pyrolatent.models import BayesianPCA

    if args.n_components is not None:
        k = args.n_components
    elif data.n_features >= 2:
        k = data.n_features - 1
    else:
        raise ValueError(
            f"The data have {data.n_features} column: the default --n-components (n_features - 1) would be 0; "
            "Bayesian PCA needs at least 2 columns, or pass --n-components."
        )
    return BayesianPCA(n_features=data.n_features, n_components=k)


def summarize(args, result: FitResult, data: Dataset, test: Dataset | None) -> dict:
    post = result.model.posterior(result.guide)
    return {
        "n_components": result.model.n_components,
        "effective_dims": post.n_effective,
        "noise_variance": float(post.noise_variance),
        "relevance_sorted": [float(v) for v in post.relevance[post.order]],
        "alpha_sorted": [float(v) for v in post.alpha[post.order]],
        "survival_threshold": post.threshold,
    }


def describe(summary: dict) -> str:
    return (
        f"{summary['effective_dims']} of {summary['n_components']} components survive ARD; "
        f"noise variance {summary['noise_variance']:.4g}"
    )


ENTRY = ModelEntry(build, summarize, describe, default_lr=0.02)
