"""Latent-variable models, one method per file."""

from .autoencoder import Autoencoder, DeltaGuide
from .base import LatentModel
from .bpca import BayesianPCA, BPCAGuide, BPCAPosterior
from .dae import CorruptingDeltaGuide, DenoisingAutoencoder
from .likelihoods import BernoulliLikelihood, ContinuousBernoulliLikelihood, GaussianLikelihood, Likelihood
from .vae import VAE, AmortizedNormalGuide
from .vae_guides import LowRankNormalGuide
from .vae_priors import DistributionPrior, MixturePrior, StandardNormalPrior, VampPrior

__all__ = ["Autoencoder", "CorruptingDeltaGuide", "DeltaGuide", "DenoisingAutoencoder"]
__all__ += ["BPCAGuide", "BPCAPosterior", "BayesianPCA", "LatentModel"]
__all__ += [
    "AmortizedNormalGuide",
    "BernoulliLikelihood",
    "ContinuousBernoulliLikelihood",
    "DistributionPrior",
    "GaussianLikelihood",
    "Likelihood",
    "LowRankNormalGuide",
    "MixturePrior",
    "StandardNormalPrior",
    "VAE",
    "VampPrior",
]
