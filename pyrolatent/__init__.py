"""pyrolatent: latent-variable models for projection into a latent space, in Pyro.

Importing pyrolatent changes no global setting. The engine, the models'
public methods, diagnostics and reports run with Pyro's
``module_local_params`` themselves, so the parameters of every model live in
the model, never in Pyro's global parameter store, and two models (or two
fits) in one process cannot share or overwrite each other's parameters.
"""

__version__ = "0.2.0"

__all__ = ["__version__"]
