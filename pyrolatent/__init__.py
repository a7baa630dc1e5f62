"""pyrolatent: latent-variable models for projection into a latent space, in Pyro.

Importing pyrolatent turns on Pyro's ``module_local_params`` setting: the
parameters of every ``PyroModule`` live in the module itself, never in Pyro's
global parameter store, so two models (or two fits) in one process cannot
silently share or overwrite each other's parameters.
"""

import pyro

pyro.settings.set(module_local_params=True)

__version__ = "0.1.0"

__all__ = ["__version__"]
