"""The ``vae`` entry of the command line (``pyrolatent fit vae ...``).

Data for the Bernoulli likelihood are binarised once, stochastically, with
the run's ``--seed`` (so ``pyrolatent report`` rebuilds the same data); the
held-out split (10 %) is fixed by the same seed. The summary adds, in nats per
example: ``test_elbo`` (mean log-weight), ``test_log_likelihood`` (the
importance-weighted estimate with ``--iwae-samples`` draws), the same two on
up to 1,000 training rows, a pixel-independent baseline's test
log-likelihood, and the share of test examples whose PSIS k-hat exceeds 0.7.
With ``--triplets SPEC`` it also evaluates (does not train) the codes on
held-out triplets with the same metrics and keys as ``fit triplet``
(:mod:`pyrolatent.cli._triplet_eval`).
"""

from __future__ import annotations

import argparse
import math

import torch

from pyrolatent._pyro import seeded
from pyrolatent.data import Dataset, binarize

from .common import ModelEntry

__all__ = ["ENTRY", "independent_baseline"]

LIKELIHOOD_CHOICES = ("bernoulli", "continuous_bernoulli", "gaussian")
PRIOR_CHOICES = ("normal", "mixture", "vamp")


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden must be comma-separated integers such as 400 or 512,256; got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be positive; got {text!r}")
    return sizes


def add_vae_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model", "options of the VAE (latent size: --n-components, default 2)")
    group.add_argument(
        "--likelihood",
        choices=LIKELIHOOD_CHOICES,
        default="bernoulli",
        help="VAE observation model (bernoulli binarises the data with --seed)",
    )
    group.add_argument("--prior", choices=PRIOR_CHOICES, default="normal", help="VAE prior of z")
    group.add_argument("--hidden", type=_hidden, default=(400,), help="VAE encoder hidden sizes, e.g. 400 or 512,256")
    group.add_argument("--network", choices=("mlp", "conv"), default="mlp", help="VAE networks")
    group.add_argument(
        "--iwae-samples",
        type=int,
        default=1000,
        help="VAE: importance samples per test example for test_log_likelihood",
    )


def prepare_vae(args, data: Dataset) -> Dataset:
    if getattr(args, "likelihood", "bernoulli") == "bernoulli":
        return binarize(data, seed=args.seed)
    return data


def build_vae(args, data: Dataset):
    from pyrolatent.models import VAE

    if args.iwae_samples < 1:
        raise ValueError(f"The '--iwae-samples' option must be a positive integer. Got {args.iwae_samples} instead.")
    return VAE(
        n_features=data.n_features,
        n_components=args.n_components if args.n_components is not None else 2,
        image_shape=data.image_shape,
        network=args.network,
        hidden=tuple(args.hidden),
        likelihood=args.likelihood,
        prior=args.prior,
    )


def independent_baseline(train: torch.Tensor, test: torch.Tensor, likelihood: str) -> float | None:
    """Mean test log-likelihood (nats per example) of a pixel-independent model
    fitted to ``train``: Bernoulli with Laplace-smoothed pixel means
    ``(k + 1) / (n + 2)``, or a normal per pixel (standard deviation floored at
    1e-3). None for the continuous Bernoulli."""
    if likelihood == "bernoulli":
        p = (train.sum(0) + 1.0) / (train.shape[0] + 2.0)
        return float(torch.distributions.Bernoulli(probs=p).log_prob(test).sum(-1).mean())
    if likelihood == "gaussian":
        loc, scale = train.mean(0), train.std(0).clamp_min(1e-3)
        return float(torch.distributions.Normal(loc, scale).log_prob(test).sum(-1).mean())
    return None


def _evaluate(model, guide, x: torch.Tensor, num_samples: int) -> dict:
    from pyrolatent.diagnostics import pareto_khat

    log_w = model.log_weights(x, guide, num_samples=num_samples).double()
    return {
        "elbo": float(log_w.mean()),
        "log_likelihood": float((log_w.logsumexp(0) - math.log(num_samples)).mean()),
        "khat": pareto_khat(log_w),
    }


def add_vae_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """``fit vae``'s flags: the model's, and ``--triplets`` to evaluate its codes."""
    from ._triplet_eval import add_triplet_eval_arguments

    add_vae_arguments(parser)
    add_triplet_eval_arguments(parser, required=False)


def summarize_vae_with_triplets(args, result, train: Dataset, test: Dataset | None) -> dict:
    """:func:`summarize_vae` plus, with ``--triplets``, the shared triplet metrics
    (:func:`pyrolatent.cli._triplet_eval.evaluate_triplets`): evaluated, not trained on."""
    from ._triplet_eval import evaluate_triplets

    out = summarize_vae(args, result, train, test)
    out.update(evaluate_triplets(args, result.model, result.guide, train, prepare=prepare_vae))
    return out


def summarize_vae(args, result, train: Dataset, test: Dataset | None) -> dict:
    model, guide = result.model, result.guide
    num_samples = args.iwae_samples
    out = {
        "n_components": model.n_components,
        "likelihood": model.likelihood.name,
        "prior": type(model.prior).__name__,
        "n_train": train.n_samples,
        "final_elbo_per_example": result.final_elbo / train.n_samples,
        "log_likelihood_num_samples": num_samples,
        "units": "nats per example (final_elbo: nats summed over the training data)",
    }
    with seeded(result.settings.seed or 0):
        sub = train.x[torch.randperm(train.n_samples)[:1000]]
        tr = _evaluate(model, guide, sub, num_samples)
        out["train_elbo"], out["train_log_likelihood"] = tr["elbo"], tr["log_likelihood"]
        if test is not None:
            te = _evaluate(model, guide, test.x, num_samples)
            out.update(n_test=test.n_samples, test_elbo=te["elbo"], test_log_likelihood=te["log_likelihood"])
            from pyrolatent.diagnostics.psis import USABLE

            khat = te["khat"]
            if bool(torch.isfinite(khat).any()):
                out[f"test_khat_share_above_{USABLE}"] = float((khat > USABLE).double().mean())
            out["baseline_test_log_likelihood"] = independent_baseline(train.x, test.x, model.likelihood.name)
    return out


def describe_vae(summary: dict) -> str:
    from ._triplet_eval import describe_triplets

    return _describe_vae(summary) + describe_triplets(summary)


def _describe_vae(summary: dict) -> str:
    if "test_elbo" not in summary:
        return f"train ELBO {summary['train_elbo']:.2f} nats/example"
    text = (
        f"test ELBO {summary['test_elbo']:.2f}, test log-likelihood {summary['test_log_likelihood']:.2f} "
        f"nats/example (IWAE, K={summary['log_likelihood_num_samples']})"
    )
    if summary.get("baseline_test_log_likelihood") is not None:
        text += f"; pixel-independent baseline {summary['baseline_test_log_likelihood']:.2f}"
    return text


ENTRY = ModelEntry(
    build_vae,
    summarize_vae_with_triplets,
    describe_vae,
    default_lr=1e-3,
    default_batch_size=100,
    test_fraction=0.1,
    prepare=prepare_vae,
    add_arguments=add_vae_fit_arguments,
)
