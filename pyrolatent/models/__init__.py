"""Latent-variable models, one method per file."""

from .base import LatentModel
from .bpca import BayesianPCA, BPCAGuide, BPCAPosterior

__all__ = ["BPCAGuide", "BPCAPosterior", "BayesianPCA", "LatentModel"]
