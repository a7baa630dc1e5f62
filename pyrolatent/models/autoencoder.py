r"""A deterministic autoencoder written as a Pyro model/guide pair (the lecture's baseline).

Generative story, for ``n_samples`` observations of ``n_features`` = D
dimensions and codes of ``n_components`` = K dimensions:

.. math::

    z_n &\sim p(z) \qquad\text{(default: the flat, improper } p(z) \propto 1 \text{ on } \mathbb R^K)\\
    x_n \mid z_n &\sim p(x \mid f_\theta(z_n)) \qquad\text{(Gaussian or Bernoulli on the decoder output)}

and the guide puts a point mass at the encoder's output,

.. math:: q_\phi(z_n \mid x_n) = \delta\big(z_n - g_\phi(x_n)\big).

With these two choices the ELBO of one example is

.. math::

    \mathbb E_q\big[\log p(x_n \mid z_n) + \log p(z_n) - \log q(z_n \mid x_n)\big]
    = \log p\big(x_n \mid f_\theta(g_\phi(x_n))\big) + \text{const},

because the flat prior's log-density is 0 and Pyro's ``Delta`` has
log-density 0 at its point (the entropy of a point mass, :math:`-\infty`, is
dropped: this is MAP estimation of the codes, not variational inference).
So ``fit`` maximises the reconstruction log-likelihood, which for a Gaussian
likelihood with a fixed scale :math:`s` is the squared error
:math:`\|x_n - f_\theta(g_\phi(x_n))\|^2 / 2s^2` and for a Bernoulli likelihood
the cross-entropy: the classical autoencoder (lecture: "autoencoder",
Hinton & Salakhutdinov 2006). ``prior="normal"`` replaces the flat prior by
:math:`\mathcal N(0, I_K)`, which adds :math:`\|z_n\|^2/2` to the loss (MAP
codes with weight decay on the code); a deterministic autoencoder with the
flat prior has no prior predictive, so the model cannot be sampled without
data.

References
----------
.. [1] G. E. Hinton, R. R. Salakhutdinov, "Reducing the dimensionality of data with
       neural networks", Science 313, 2006.
.. [2] D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (the
       same networks with a stochastic guide: :class:`pyrolatent.models.VAE`).

Examples
--------
>>> from pyrolatent.data import load_digits
>>> from pyrolatent.inference import fit
>>> from pyrolatent.models import Autoencoder
>>> data = load_digits()
>>> ae = Autoencoder(n_features=64, n_components=2, hidden=(128,), likelihood="gaussian")
>>> result = fit(ae, data, num_steps=2000, batch_size=128, lr=1e-3)  # doctest: +SKIP
>>> z = ae.encode(data.x)  # (1797, 2) codes  # doctest: +SKIP
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroSample
from torch import nn

from pyrolatent._pyro import LocalParamsModule, plate_subsample, with_local_params
from pyrolatent._validation import check_positive_int, check_tensor
from pyrolatent.components.likelihoods import as_likelihood
from pyrolatent.components.nets import MLP, check_hidden, make_decoder

from .base import LatentModel
from .registry import ModelSpec, register

__all__ = ["Autoencoder", "DeltaGuide", "tiny_example"]

PRIORS = ("flat", "normal")


def _code_prior(prior, n_components: int, owner: str) -> dist.Distribution:
    if isinstance(prior, dist.Distribution):
        if tuple(prior.event_shape) != (n_components,) or tuple(prior.batch_shape) != ():
            raise ValueError(
                f"The 'prior' argument of {owner} must be a distribution with event shape ({n_components},) "
                f"and no batch shape. Got batch shape {tuple(prior.batch_shape)}, "
                f"event shape {tuple(prior.event_shape)} instead."
            )
        return prior
    if prior == "flat":
        return dist.ImproperUniform(constraints.real, (), (n_components,))
    if prior == "normal":
        return dist.Normal(0.0, 1.0).expand([n_components]).to_event(1)
    raise ValueError(
        f"The 'prior' argument of {owner} must be one of 'flat', 'normal' or a Distribution over R^{n_components}. "
        f"Got {prior!r} instead."
    )


class Autoencoder(LatentModel):
    r"""Deterministic autoencoder: flat prior on the code, point-mass guide at the
    encoder's output (MAP); see the module docstring for the construction.

    Parameters
    ----------
    n_features : int
        Size D of one (flattened) observation.
    n_components : int
        Code size K.
    image_shape : tuple of int, optional
        Shape of one image when rows are flattened images (kept for reports).
    hidden : int or sequence of int
        Hidden sizes of the encoder MLP; the decoder mirrors them. ``()`` gives
        a linear autoencoder (which spans the PCA subspace at its optimum).
    activation : str
        One of :data:`pyrolatent.models.nets.ACTIVATIONS`.
    likelihood : {"gaussian", "bernoulli", "continuous_bernoulli"} or Likelihood
        The observation model (:mod:`pyrolatent.models.likelihoods`); the
        default Gaussian learns one scale per feature.
    prior : {"flat", "normal"} or Distribution
        Prior of the code: flat (the classical autoencoder) or standard normal
        (an L2 penalty on the codes); any distribution with event shape (K,).

    Attributes
    ----------
    encoder : nn.Module
        ``x (..., D) -> z (..., K)``.
    decoder : nn.Module
        ``z (..., K) -> likelihood parameters (..., D)``.
    z : PyroSample
        The code site; reassign (``ae.z = PyroSample(dist...)``) to swap the prior.
    """

    arviz_dims = {"z": ("latent",), "x": ("feature",)}

    def __init__(
        self,
        n_features: int,
        n_components: int = 2,
        *,
        image_shape=None,
        hidden=(400,),
        activation: str = "softplus",
        likelihood="gaussian",
        prior="flat",
    ):
        super().__init__()
        owner = type(self).__name__
        self.n_features = check_positive_int("n_features", n_features)
        self.n_components = check_positive_int("n_components", n_components)
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        hidden = check_hidden(hidden)
        trunk = MLP(self.n_features, hidden, activation)
        self.encoder = nn.Sequential(trunk, nn.Linear(trunk.out_features, self.n_components))
        self.decoder = make_decoder("mlp", self.n_components, self.n_features, hidden=hidden, activation=activation)
        self.likelihood = as_likelihood(likelihood, self.n_features)
        self.z = PyroSample(_code_prior(prior, self.n_components, owner))

    # -- data ------------------------------------------------------------------
    def _device(self) -> torch.device:
        return next(self.decoder.parameters()).device

    # -- the model ---------------------------------------------------------------
    def forward(self, x=None, subsample=None, *, n_samples=None):
        """Run the generative story; ``x`` enters only through ``obs=``.

        Without ``x`` it draws ``n_samples`` observations from the prior
        predictive, which exists only for a proper prior (``prior="normal"``).
        """
        x, n = self.check_data(x, n_samples)
        if x is None and isinstance(self._pyro_samples["z"], dist.ImproperUniform):
            raise ValueError(
                f"{type(self).__name__} with the flat prior has no prior predictive: pass the data 'x', "
                "or build the model with prior='normal' to sample from it."
            )
        rows = plate_subsample(subsample, "data")
        with pyro.plate("data", n, subsample=rows, dim=-1) as idx:
            obs = None if x is None else (x if rows is None else x.index_select(0, idx))
            z = self.z
            return pyro.sample("x", self.likelihood(self.decoder(z)), obs=obs)

    def check_inputs(self, x=None, **inputs) -> None:
        """Check the data's shape before the first traced step."""
        if x is not None:
            self.check_data(x)

    def default_guide(self) -> DeltaGuide:
        """The point-mass guide at the encoder's output (:class:`DeltaGuide`)."""
        return DeltaGuide(self)

    # -- codes and reconstructions ----------------------------------------------
    @torch.no_grad()
    @with_local_params
    def encode(self, x, guide=None) -> torch.Tensor:
        """The code ``g(x)`` of each row (n, K); ``guide`` is accepted for the common
        hook signature and ignored (the guide is the encoder)."""
        x, _ = self.check_data(x)
        return self.encoder(x.to(self._device()))

    @torch.no_grad()
    @with_local_params
    def decode(self, z) -> torch.Tensor:
        """Mean of :math:`p(x \\mid z)` for codes ``z`` (..., K) -> (..., D)."""
        z = check_tensor("z", z).to(self._device())
        if z.shape[-1] != self.n_components:
            raise ValueError(
                f"The 'z' argument of {type(self).__name__} must end in n_components = {self.n_components}; "
                f"got shape {tuple(z.shape)}."
            )
        return self.likelihood.mean(self.decoder(z))

    def reconstruct(self, x, guide=None) -> torch.Tensor:
        """``decode(encode(x))`` (n, D): the mean of the likelihood at each row's code."""
        return self.decode(self.encode(x))


class DeltaGuide(LocalParamsModule):
    r""":math:`q(z_n \mid x_n) = \delta(z_n - g_\phi(x_n))` on the model's encoder (whose
    parameters the model holds, so the guide has none of its own)."""

    def __init__(self, model: Autoencoder):
        super().__init__()
        if not isinstance(model, Autoencoder):
            raise TypeError(f"The 'model' argument of DeltaGuide must be an Autoencoder. Got {type(model).__name__}.")
        self._model = (model,)  # not a submodule: the encoder's parameters are the model's

    @property
    def model(self) -> Autoencoder:
        return self._model[0]

    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the encoder sees during fitting: ``x`` itself here; a denoising
        autoencoder's guide corrupts it."""
        return x

    def forward(self, x=None, subsample=None, *, n_samples=None, **inputs):
        x, n = self.model.check_data(x, n_samples)
        if x is None:
            raise ValueError("The 'x' argument of DeltaGuide must be the data; got None.")
        rows = plate_subsample(subsample, "data")
        with pyro.plate("data", n, subsample=rows, dim=-1) as idx:
            xs = x if rows is None else x.index_select(0, idx)
            return pyro.sample("z", dist.Delta(self.model.encoder(self.encoder_input(xs)), event_dim=1))


def tiny_example():
    """``(model, data)``: a small Gaussian autoencoder on 40 rows of Bishop's set (common tests)."""
    from pyrolatent.data import make_bishop

    return Autoencoder(10, 2, hidden=(8,)), make_bishop(n_samples=40, seed=0)


register(
    ModelSpec(
        name="autoencoder",
        cls=Autoencoder,
        title="Deterministic autoencoder (MAP: flat prior, point-mass guide)",
        summary="the lecture's baseline; Gaussian or Bernoulli reconstruction; codes, reconstructions",
        cli="pyrolatent.cli.autoencoder",
        examples={"flat": tiny_example},
    )
)
