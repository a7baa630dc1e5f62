r"""Denoising autoencoder (Vincent et al. 2008) and the score it estimates (Alain & Bengio 2014).

The model is the deterministic :class:`~pyrolatent.models.Autoencoder`: a flat
prior on the code :math:`z_n`, a Gaussian likelihood
:math:`x_n \mid z_n \sim \mathcal N(f_\theta(z_n), s^2 I)` on the decoder
output. Only the guide differs: it encodes a *corrupted* copy of the example,

.. math::

    \tilde x_n = x_n + \sigma \varepsilon_n,\quad \varepsilon_n \sim \mathcal N(0, I_D), \qquad
    q(z_n \mid x_n, \varepsilon_n) = \delta\big(z_n - g_\phi(\tilde x_n)\big),

so the objective ``fit`` maximises is, up to constants,

.. math::

    \mathbb E_{\varepsilon}\,\log p\big(x_n \mid f_\theta(g_\phi(x_n + \sigma\varepsilon_n))\big)
    = -\frac{1}{2 s^2}\,\mathbb E_{\varepsilon}\,\|r(x_n + \sigma\varepsilon_n) - x_n\|^2 + \text{const},
    \qquad r = f_\theta \circ g_\phi,

the denoising criterion. How the corruption enters the Pyro program, honestly:
:math:`\varepsilon` is drawn with ``torch.randn`` inside the guide and is *not*
a Pyro sample site. The guide is therefore a point mass at a random location,
the ELBO estimator sees one reparameterised draw of :math:`z` per step and the
gradient is an unbiased estimate of the gradient of the criterion above; the
"ELBO" reported by ``fit`` is this Monte-Carlo denoising log-likelihood, not a
bound on :math:`\log p(x)`. (Making :math:`\varepsilon` a site would force a
matching site in the model with no role in the generative story.) The
corruption is used only while fitting: :meth:`DenoisingAutoencoder.reconstruct`
and :meth:`score` apply :math:`r` to clean inputs.

The minimiser of the criterion over all functions is the posterior mean
:math:`r^*(\tilde x) = \mathbb E[x \mid \tilde x]`, and Tweedie's formula gives

.. math::

    \frac{r^*(x) - x}{\sigma^2} = \nabla_x \log p_\sigma(x), \qquad p_\sigma = p * \mathcal N(0, \sigma^2 I),

the score of the data density smoothed by the corruption, which tends to the
score :math:`\nabla_x \log p(x)` as :math:`\sigma \to 0` (Alain & Bengio 2014,
theorem 1, where the limit is taken for the squared-error DAE). The estimate is
the *vector* :math:`(r(x) - x)/\sigma^2`, not its norm.

References
----------
.. [1] P. Vincent, H. Larochelle, Y. Bengio, P.-A. Manzagol, "Extracting and composing robust
       features with denoising autoencoders", ICML 2008.
.. [2] G. Alain, Y. Bengio, "What regularized auto-encoders learn from the data-generating
       distribution", JMLR 15, 2014.
.. [3] B. Efron, "Tweedie's formula and selection bias", JASA 106, 2011.

Examples
--------
>>> from pyrolatent.data import make_gaussian_mixture
>>> from pyrolatent.inference import fit
>>> from pyrolatent.models import DenoisingAutoencoder
>>> data = make_gaussian_mixture(2000, seed=0)
>>> dae = DenoisingAutoencoder(2, 8, sigma=0.2, hidden=(64, 64))
>>> result = fit(dae, data, num_steps=2000, lr=3e-3)  # doctest: +SKIP
>>> s = dae.score(data.x)  # (2000, 2), compare with data.truth["mixture"].score(data.x)  # doctest: +SKIP
"""

from __future__ import annotations

import torch

from pyrolatent._pyro import with_local_params
from pyrolatent._validation import check_positive_float, owner
from pyrolatent.components.likelihoods import GaussianLikelihood, Likelihood

from .autoencoder import Autoencoder, DeltaGuide
from .registry import ModelSpec, register

__all__ = ["DenoisingAutoencoder", "CorruptingDeltaGuide", "tiny_example"]


class DenoisingAutoencoder(Autoencoder):
    r"""Denoising autoencoder with Gaussian corruption of level ``sigma``; see the
    module docstring for the model, the guide and the score.

    Parameters
    ----------
    n_features, n_components, image_shape, hidden, activation, prior
        As for :class:`~pyrolatent.models.Autoencoder`.
    sigma : float
        Standard deviation of the Gaussian corruption :math:`\tilde x = x + \sigma\varepsilon`.
    likelihood : Likelihood, optional
        Default: Gaussian with one learned scale shared by all features
        (squared error). The score needs the reconstruction to be the
        conditional mean, which a Gaussian likelihood's mean is.
    """

    def __init__(
        self,
        n_features: int,
        n_components: int = 2,
        *,
        sigma: float = 0.1,
        image_shape=None,
        hidden=(400,),
        activation: str = "softplus",
        likelihood: Likelihood | None = None,
        prior="flat",
    ):
        with owner(self):
            sigma = check_positive_float("sigma", sigma)
        if likelihood is None:
            likelihood = GaussianLikelihood(per_feature=False)
        super().__init__(
            n_features,
            n_components,
            image_shape=image_shape,
            hidden=hidden,
            activation=activation,
            likelihood=likelihood,
            prior=prior,
        )
        self.sigma = float(sigma)

    def default_guide(self) -> CorruptingDeltaGuide:
        """The point-mass guide at the encoding of the corrupted input (:class:`CorruptingDeltaGuide`)."""
        return CorruptingDeltaGuide(self)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`x + \sigma\varepsilon` with fresh :math:`\varepsilon \sim \mathcal N(0, I)` (torch's global RNG)."""
        return x + self.sigma * torch.randn_like(x)

    @torch.no_grad()
    @with_local_params
    def score(self, x) -> torch.Tensor:
        r"""The score estimate :math:`(r(x) - x) / \sigma^2` at each row of ``x`` (n, D).

        It estimates :math:`\nabla_x \log p_\sigma(x)`, the score of the data
        density convolved with the corruption, and so :math:`\nabla_x \log p(x)`
        for small ``sigma`` (Alain & Bengio 2014).
        """
        x, _ = self.check_data(x)
        x = x.to(self._device())
        return (self.reconstruct(x) - x) / self.sigma**2


class CorruptingDeltaGuide(DeltaGuide):
    r""":math:`q(z_n \mid x_n) = \delta(z_n - g_\phi(x_n + \sigma\varepsilon_n))`: a point mass
    at the code of a freshly corrupted copy of each example (:math:`\varepsilon` is
    not a Pyro site; see :mod:`pyrolatent.models.dae`)."""

    def __init__(self, model: DenoisingAutoencoder):
        if not isinstance(model, DenoisingAutoencoder):
            raise TypeError(
                f"The 'model' argument of CorruptingDeltaGuide must be a DenoisingAutoencoder. "
                f"Got {type(model).__name__}."
            )
        super().__init__(model)

    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.corrupt(x)


def tiny_example():
    """``(model, data)``: a small DAE on 40 rows of a 2-D Gaussian mixture (common tests)."""
    from pyrolatent.data import make_gaussian_mixture

    return DenoisingAutoencoder(2, 2, sigma=0.3, hidden=(8,)), make_gaussian_mixture(40, seed=0)


register(
    ModelSpec(
        name="dae",
        cls=DenoisingAutoencoder,
        title="Denoising autoencoder and its score (Alain & Bengio 2014)",
        summary="Gaussian corruption of level sigma; (r(x) - x) / sigma^2 estimates the score",
        cli="pyrolatent.cli.dae",
        examples={"mixture": tiny_example},
    )
)
