r"""Variational autoencoder (Kingma & Welling 2013) with swappable priors,
likelihoods and guides.

Generative story, for ``n_samples`` observations of ``n_features`` = D
dimensions and a latent code of ``n_components`` = K dimensions:

.. math::

    z_n &\sim p_\lambda(z) \qquad\text{(prior: } \mathcal N(0, I_K)\text{, a mixture, a VampPrior, ...)}\\
    x_n \mid z_n &\sim p(x \mid f_\theta(z_n)) \qquad\text{(likelihood on the decoder output } f_\theta(z_n))

with a neural decoder :math:`f_\theta` (an MLP or a small convolutional
network) and a likelihood that is Bernoulli on logits, continuous Bernoulli,
or Gaussian with a fixed or learned scale. The decoder weights, the scale and
the prior's parameters are point estimates (module parameters); the codes
:math:`z_n` are the latent variables. The default guide is the amortised
diagonal normal of the paper,

.. math:: q_\phi(z_n \mid x_n) = \mathcal N\big(\mu_\phi(x_n), \mathrm{diag}\,\sigma^2_\phi(x_n)\big),

and fitting maximises the ELBO
:math:`\mathbb E_q \log p(x \mid z) - \mathrm{KL}(q(z \mid x) \,\|\, p(z))`
(``elbo="trace"``; ``"meanfield"`` uses the KL in closed form where it exists;
``elbo="iwae", num_particles=K`` the importance-weighted bound of Burda et al.
2016, vectorised over K draws; see :mod:`pyrolatent.inference.objectives`).

The model broadcasts a sample dimension on the left (vectorised particles,
importance weights). Data enter only through ``obs=``: ``model(n_samples=n)``
draws from the prior predictive.

References
----------
.. [1] D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (arXiv:1312.6114).
.. [2] Y. Burda, R. Grosse, R. Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
.. [3] J. M. Tomczak, M. Welling, "VAE with a VampPrior", AISTATS 2018.

Examples
--------
>>> from pyrolatent.data import binarize, load_digits
>>> from pyrolatent.inference import fit
>>> from pyrolatent.models import VAE, LowRankNormalGuide, MixturePrior
>>> train, test = binarize(load_digits(), seed=0).split(0.1, seed=0)
>>> vae = VAE(n_features=64, n_components=2, image_shape=(8, 8), hidden=(128,))
>>> result = fit(vae, train, num_epochs=50, batch_size=128, lr=1e-3)  # doctest: +SKIP
>>> vae.log_likelihood(test.x, num_samples=1000).mean()  # doctest: +SKIP
>>> vae.prior = MixturePrior(2)        # swap the prior: one line
>>> guide = LowRankNormalGuide(vae)    # or the guide: fit(vae, train, guide=guide)
"""

from __future__ import annotations

import math
import weakref

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import PyroSample

from pyrolatent._pyro import plate_subsample, with_local_params
from pyrolatent._validation import check_choice, check_positive_int, check_tensor, owner
from pyrolatent.components.guides import AmortizedGuide, AmortizedNormalGuide
from pyrolatent.components.latent_priors import as_vae_prior
from pyrolatent.components.likelihoods import as_likelihood
from pyrolatent.components.nets import NETWORKS, check_hidden, make_decoder, make_encoder
from pyrolatent.inference import importance

from .base import LatentModel
from .registry import ModelSpec, register

__all__ = ["VAE", "AmortizedNormalGuide"]


class VAE(LatentModel):
    """Variational autoencoder: the model; see the module docstring for the story.

    Parameters
    ----------
    n_features : int
        Size D of one (flattened) observation.
    n_components : int
        Latent size K.
    image_shape : tuple of int, optional
        Shape of one image when rows are flattened images; needed by
        ``network="conv"`` and by the picture methods.
    network : {"mlp", "conv"}
        Encoder and decoder: MLPs with ``hidden`` sizes (the decoder mirrors
        the encoder), or two stride-2 convolutions plus a dense layer of size
        ``hidden[-1]``.
    hidden : int or sequence of int
        Hidden layer sizes of the encoder; ``()`` gives linear networks.
    activation : str
        One of :data:`pyrolatent.models.nets.ACTIVATIONS`.
    likelihood : {"bernoulli", "continuous_bernoulli", "gaussian"} or Likelihood
        The observation model (:mod:`pyrolatent.models.likelihoods`).
    prior : {"normal", "mixture", "vamp"}, Distribution or nn.Module
        The prior of ``z`` (:mod:`pyrolatent.models.vae_priors`); a
        distribution over R^K (or a scalar one, made i.i.d.), or a module whose
        ``forward()`` returns one.

    Attributes
    ----------
    encoder, decoder : nn.Module
        The inference network ``x -> (loc, scale)`` (used by the default
        guides and by the VampPrior) and the generative network ``z -> params``.
        Any module with the same call signature may replace them.
    prior : nn.Module
        The prior module; reassign it to swap the prior in one line.
    z : PyroSample
        The latent site, drawn from ``self.prior()``.
    likelihood : Likelihood
    arviz_dims : dict
        Names of the dimensions of each site, for ArviZ.
    """

    arviz_dims = {"z": ("latent",), "x": ("feature",)}

    def __init__(
        self,
        n_features: int,
        n_components: int = 2,
        *,
        image_shape=None,
        network: str = "mlp",
        hidden=(400,),
        activation: str = "softplus",
        likelihood="bernoulli",
        prior="normal",
    ):
        super().__init__()
        with owner(self):
            self._init(n_features, n_components, image_shape, network, hidden, activation, likelihood, prior)

    def _init(self, n_features, n_components, image_shape, network, hidden, activation, likelihood, prior):
        self.n_features = check_positive_int("n_features", n_features)
        self.n_components = check_positive_int("n_components", n_components)
        self.image_shape = _image_shape(image_shape, self.n_features)
        self.network = check_choice("network", network, NETWORKS)
        if network == "conv" and (self.image_shape is None or len(self.image_shape) != 2):
            raise ValueError(
                f"The 'image_shape' argument must be (height, width) for network='conv'. Got {image_shape!r} instead."
            )
        hidden = check_hidden(hidden)
        kw = dict(hidden=hidden, activation=activation, image_shape=self.image_shape)
        self.encoder = make_encoder(network, self.n_features, self.n_components, **kw)
        self.decoder = make_decoder(network, self.n_components, self.n_features, **kw)
        self.likelihood = as_likelihood(likelihood, self.n_features)
        self.prior = as_vae_prior(prior, self.n_components, encoder=self.encoder, n_features=self.n_features)
        self._checked = None

    @PyroSample
    def z(self):
        """The latent site: ``z ~ self.prior()`` (reassign ``prior`` to swap it)."""
        return self.prior()

    def __getstate__(self):  # the data-check cache holds a weak reference
        state = dict(self.__dict__)
        state["_checked"] = None
        return state

    # -- data ------------------------------------------------------------------
    def check_data(self, x, n_samples=None):
        """``(x as (n, D) float tensor or None, n)``; values checked once per tensor
        (against the likelihood's support, e.g. [0, 1] for Bernoulli)."""
        if x is None:
            return None, (1 if n_samples is None else check_positive_int("n_samples", n_samples))
        key = (x._version, id(self.likelihood)) if isinstance(x, torch.Tensor) else None
        if key is not None and self._checked is not None and self._checked[0]() is x and self._checked[1] == key:
            # the same object back for 2-D data, so that a nested call (a subclass's forward) hits the cache too
            return (x if x.dim() == 2 else x.reshape(x.shape[0], self.n_features)), x.shape[0]
        original = x
        x = check_tensor("x", x, ndim=(2, 3))
        D, shape = self.n_features, self.image_shape
        if x.dim() == 2 and x.shape[1] != D:
            raise ValueError(
                f"The 'x' argument must have n_features = {D} columns"
                + (f" (flattened images of shape {shape})" if shape else "")
                + f"; got shape {tuple(x.shape)}."
            )
        if x.dim() == 3 and (shape is None or tuple(x.shape[1:]) != shape):
            raise ValueError(
                f"The 'x' argument must hold images of shape {shape} or rows of {D} features; "
                f"got shape {tuple(x.shape)}."
                if shape
                else f"The 'x' argument must be 2-D (n_samples, {D}) for a model without image_shape; "
                f"got shape {tuple(x.shape)}."
            )
        if x.dim() == 3:
            x = x.reshape(x.shape[0], D)
        self.likelihood.check_data("x", x)
        if isinstance(original, torch.Tensor) and original.is_floating_point():
            self._checked = (weakref.ref(original), (original._version, id(self.likelihood)))
        return x, x.shape[0]

    def _device(self) -> torch.device:
        return next(self.decoder.parameters()).device

    # -- the model ---------------------------------------------------------------
    def forward(self, x=None, subsample=None, *, n_samples=None):
        """Run the generative story; ``x`` enters only through ``obs=``.

        ``x`` is ``(n, D)`` or ``(n, *image_shape)``; without it the model
        draws ``n_samples`` observations from the prior predictive.
        """
        x, n = self.check_data(x, n_samples)
        rows = plate_subsample(subsample, "data")
        with pyro.plate("data", n, subsample=rows, dim=-1) as idx:
            obs = None if x is None else (x if rows is None else x.index_select(0, idx))
            z = self.z
            return pyro.sample("x", self.likelihood(self.decoder(z)), obs=obs)

    def check_inputs(self, x=None, **inputs) -> None:
        """Check the data before the first traced step (shape and the likelihood's support)."""
        if x is not None:
            self.check_data(x)

    def default_guide(self) -> AmortizedNormalGuide:
        """The amortised diagonal normal guide on this model's encoder."""
        return AmortizedNormalGuide(self)

    # -- inference-side helpers ----------------------------------------------------
    def _setup(self, x, guide):
        x, _ = self.check_data(x)
        return x.to(self._device()), (guide if guide is not None else self.default_guide())

    @torch.no_grad()
    @with_local_params
    def encode(self, x, guide=None, *, num_samples: int = 100) -> torch.Tensor:
        """Posterior mean of ``z`` for each row of ``x`` (n, K).

        Uses the guide's ``posterior(x)`` when it has one, otherwise the mean of
        ``num_samples`` vectorised draws from the guide.
        """
        x, guide = self._setup(x, guide)
        if isinstance(guide, AmortizedGuide):
            return guide.posterior(x).mean
        with pyro.plate("_draws", check_positive_int("num_samples", num_samples), dim=-2):
            trace = poutine.trace(guide).get_trace(x=x)
        return trace.nodes["z"]["value"].mean(0)

    @torch.no_grad()
    @with_local_params
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of :math:`p(x \\mid z)` for codes ``z`` (..., K) -> (..., D)."""
        z = check_tensor("z", z).to(self._device())
        if z.shape[-1] != self.n_components:
            raise ValueError(f"The 'z' argument must end in n_components = {self.n_components}; got {tuple(z.shape)}.")
        return self.likelihood.mean(self.decoder(z))

    def reconstruct(self, x, guide=None) -> torch.Tensor:
        """Decode the posterior mean of each row: ``decode(encode(x))`` (n, D)."""
        return self.decode(self.encode(x, guide))

    @torch.no_grad()
    @with_local_params
    def sample(self, n: int, guide=None, *, mean: bool = False) -> torch.Tensor:
        """``n`` new observations (n, D): draws from the model, or with
        ``mean=True`` the decoder means of ``z ~ p(z)`` (smoother pictures).
        The guide plays no part (the decoder's weights are the model's)."""
        n = check_positive_int("n", n)
        if mean:
            return self.decode(self.prior().sample((n,)))
        return self(n_samples=n)

    @torch.no_grad()
    def latent_manifold(self, n_per_side: int = 20, *, dims=(0, 1)):
        """Decode a grid of codes pushed through the inverse normal CDF
        (Kingma & Welling, figure 4).

        Returns ``(images, z)``: ``images[i, j]`` (D,) decodes the code whose
        coordinate ``dims[0]`` is the ``j``-th and ``dims[1]`` the
        ``(n - 1 - i)``-th of the quantiles ``Phi^-1((k + 0.5) / n)``, the
        other coordinates 0; so the grid reads like a plot with z_2 upwards.
        """
        n = check_positive_int("n_per_side", n_per_side)
        d0, d1 = (check_positive_int("dims", d, minimum=0) for d in dims)
        if max(d0, d1) >= self.n_components or d0 == d1:
            raise ValueError(
                f"The 'dims' argument must be two different latent indices below {self.n_components}. "
                f"Got {tuple(dims)!r} instead."
            )
        q = dist.Normal(0.0, 1.0).icdf((torch.arange(n, dtype=torch.get_default_dtype()) + 0.5) / n)
        z = torch.zeros(n, n, self.n_components)
        z[:, :, d0] = q.unsqueeze(0)
        z[:, :, d1] = q.flip(0).unsqueeze(1)
        return self.decode(z), z

    # -- held-out evaluation -------------------------------------------------------
    @with_local_params
    def log_weights(self, x, guide=None, *, num_samples: int = 500, batch_size=None) -> torch.Tensor:
        """Importance log-weights ``log p(x_n, z) - log q(z | x_n)`` of ``num_samples``
        draws per row, ``(num_samples, n)``."""
        x, guide = self._setup(x, guide)
        return importance.log_weights(self, guide, x, num_samples=num_samples, batch_size=batch_size)

    @with_local_params
    def log_likelihood(
        self, x, guide=None, *, num_samples: int = 1000, batch_size=None, sample_batch_size=None
    ) -> torch.Tensor:
        r"""Importance-weighted estimate of :math:`\log p(x_n)` in nats, one per row (n,).

        :math:`\log \frac1S \sum_s p(x_n, z_s) / q(z_s \mid x_n)` with
        :math:`z_s \sim q(\cdot \mid x_n)` (Burda et al. 2016): a lower bound in
        expectation that tightens as ``num_samples`` grows. Computed without
        gradients, ``batch_size`` rows and ``sample_batch_size`` draws at a time
        (by default at most 32,768 rows of draws per pass, so S = 5,000 fits).
        """
        x, guide = self._setup(x, guide)
        return importance.importance_estimates(
            self, guide, x, num_samples=num_samples, batch_size=batch_size, sample_batch_size=sample_batch_size
        )[1]

    @with_local_params
    def elbo(self, x, guide=None, *, num_samples: int = 100, batch_size=None) -> torch.Tensor:
        """Monte-Carlo ELBO of each row in nats (n,), averaged over ``num_samples`` draws."""
        x, guide = self._setup(x, guide)
        return importance.importance_estimates(self, guide, x, num_samples=num_samples, batch_size=batch_size)[0]

    def psis_khat(self, x, guide=None, *, num_samples: int = 500, batch_size=None) -> torch.Tensor:
        """PSIS :math:`\\hat k` of the guide for each row (n,) (see
        :func:`pyrolatent.diagnostics.pareto_khat` for its reading)."""
        from pyrolatent.diagnostics.psis import pareto_khat

        return pareto_khat(self.log_weights(x, guide, num_samples=num_samples, batch_size=batch_size))


def _image_shape(image_shape, n_features):
    if image_shape is None:
        return None
    if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__iter__"):
        raise ValueError(
            f"The 'image_shape' argument must be a tuple of positive integers or None. Got {image_shape!r} instead."
        )
    shape = tuple(check_positive_int("image_shape", s) for s in image_shape)
    if not shape or math.prod(shape) != n_features:
        raise ValueError(
            f"The 'image_shape' argument must multiply out to n_features = {n_features}; "
            f"got {shape} (product {math.prod(shape) if shape else 0})."
        )
    return shape


def _example(**kwargs):
    from pyrolatent.data import make_bishop

    return VAE(10, 2, hidden=(8,), likelihood="gaussian", **kwargs), make_bishop(n_samples=40, seed=0)


register(
    ModelSpec(
        name="vae",
        cls=VAE,
        title="VAE (Kingma & Welling 2013)",
        summary=(
            "MLP or conv networks; normal, mixture or VampPrior priors; Bernoulli, continuous-Bernoulli or "
            "Gaussian likelihoods; diagonal or low-rank amortised guides; IWAE training and log-likelihood; "
            "2-D manifold pictures"
        ),
        cli="pyrolatent.cli.vae",
        examples={"gaussian": _example, "vamp": lambda: _example(prior="vamp")},
    )
)
