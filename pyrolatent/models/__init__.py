"""Latent-variable models, one method per file; :data:`REGISTRY` lists them.

The parts that models share (networks, likelihoods, latent priors,
hyperpriors, amortised guides, divergences) live in
:mod:`pyrolatent.components` and are re-exported here under the names of
pyrolatent 0.1.
"""

from pyrolatent.components.guides import AmortizedNormalGuide, LowRankNormalGuide
from pyrolatent.components.latent_priors import DistributionPrior, MixturePrior, StandardNormalPrior, VampPrior
from pyrolatent.components.likelihoods import (
    BernoulliLikelihood,
    ContinuousBernoulliLikelihood,
    GaussianLikelihood,
    Likelihood,
)

from .autoencoder import Autoencoder, DeltaGuide
from .base import HOOKS, LatentModel
from .bpca import BayesianPCA, BPCAGuide, BPCAPosterior
from .dae import CorruptingDeltaGuide, DenoisingAutoencoder
from .graph_vae import GraphVAE, GraphVAEGuide
from .mahalanobis import MahalanobisMetric
from .registry import REGISTRY, ModelSpec, get_model_spec
from .siamese import SiameseNetwork
from .triplet_margin import TripletMarginNetwork
from .triplet_vae import TripletVAE
from .vae import VAE
from .vbta import VBTA, VBTAGuide

__all__ = [
    "HOOKS",
    "REGISTRY",
    "AmortizedNormalGuide",
    "Autoencoder",
    "CorruptingDeltaGuide",
    "DeltaGuide",
    "DenoisingAutoencoder",
    "BPCAGuide",
    "BPCAPosterior",
    "BayesianPCA",
    "BernoulliLikelihood",
    "ContinuousBernoulliLikelihood",
    "DistributionPrior",
    "GaussianLikelihood",
    "GraphVAE",
    "GraphVAEGuide",
    "LatentModel",
    "Likelihood",
    "LowRankNormalGuide",
    "MahalanobisMetric",
    "MixturePrior",
    "ModelSpec",
    "SiameseNetwork",
    "StandardNormalPrior",
    "TripletMarginNetwork",
    "TripletVAE",
    "VAE",
    "VBTA",
    "VBTAGuide",
    "VampPrior",
    "get_model_spec",
]
