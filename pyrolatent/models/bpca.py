r"""Bayesian PCA with automatic relevance determination (Bishop 1998, 1999).

Generative story, for ``n_samples`` observations of ``n_features`` = D
dimensions and ``n_components`` = K candidate components:

.. math::

    \alpha_k &\sim \mathrm{Gamma}(a, b), \qquad k = 1..K
        \quad\text{(ARD precision of component } k)\\
    W_{k\cdot} &\sim \mathcal N(0, \alpha_k^{-1} I_D)
        \quad\text{(row } k \text{ of } W \in \mathbb R^{K\times D})\\
    \mu &\sim \mathcal N(0, s_\mu^2 I_D), \qquad
    \tau \sim \mathrm{Gamma}(c, d) \quad\text{(noise precision, } \sigma^2 = 1/\tau)\\
    z_n &\sim \mathcal N(0, I_K), \qquad
    x_n \mid z_n \sim \mathcal N(z_n W + \mu, \tau^{-1} I_D).

Integrating :math:`z_n` out gives the *collapsed* form
:math:`x_n \sim \mathcal N(\mu, W^\top W + \tau^{-1} I_D)`, a low-rank plus
diagonal normal. A component whose :math:`\alpha_k` grows without bound is
switched off; the surviving components estimate the latent dimensionality.
(Bishop writes W as D x K with columns :math:`w_k`; the rows here are those
columns.)

The model broadcasts a sample dimension on the left of every site, so it can
be run vectorised (``Predictive(parallel=True)``, importance weights).

References
----------
.. [1] C. M. Bishop, "Bayesian PCA", NIPS 11, 1998.
.. [2] C. M. Bishop, "Variational principal components", ICANN, 1999.

Examples
--------
>>> from pyrolatent.data import make_bishop
>>> from pyrolatent.inference import fit
>>> data = make_bishop(seed=0)
>>> model = BayesianPCA(n_features=10, n_components=9)
>>> result = fit(model, data, num_steps=3000, lr=0.02)  # doctest: +SKIP
>>> model.posterior(result.guide).n_effective  # doctest: +SKIP
3
"""

from __future__ import annotations

from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule, PyroSample

from pyrolatent._pyro import plate_subsample, with_local_params
from pyrolatent._validation import check_positive_float, check_positive_int, check_tensor, owner
from pyrolatent.components.hyperpriors import as_prior, broad_gamma

from .base import LatentModel
from .registry import ModelSpec, register

__all__ = ["BayesianPCA", "BPCAGuide", "BPCAPosterior"]


class BayesianPCA(LatentModel):
    """Bayesian PCA with an ARD prior on the components.

    Parameters
    ----------
    n_features : int
        Dimension D of each observation.
    n_components : int
        Number K of candidate components (``n_features - 1`` lets ARD choose).
    collapsed : bool
        Integrate the local codes ``z`` out (default). With False the model
        has an explicit ``z`` site in the ``"data"`` plate.
    alpha_prior : Distribution, optional
        Prior of each ARD precision ``alpha_k`` (a scalar distribution on the
        positive reals). Default ``Gamma(1e-3, 1e-3)``, Bishop's broad
        hyperprior; a narrow prior such as ``Gamma(1, 1)`` stops ARD from
        pruning.
    tau_prior : Distribution, optional
        Prior of the noise precision ``tau``. Default ``Gamma(1e-3, 1e-3)``.
    mu_scale : float
        Standard deviation of the normal prior on the mean ``mu``.

    Notes
    -----
    Any autoguide works. Start those that default to the prior median
    (``AutoDelta``, ``AutoLowRankMultivariateNormal``, ...) with
    ``init_loc_fn=init_to_feasible``: the median of the broad default
    ``Gamma(1e-3, 1e-3)`` underflows to 0 in single precision. With
    minibatches and the explicit ``z``, give an autoguide
    ``create_plates=model.create_plates`` so that it subsamples the same rows.

    Attributes
    ----------
    alpha, W, mu, tau : PyroSample
        The priors; reassign one to swap it (then build a new guide:
        autoguides cache the model's structure on first use).
    arviz_dims : dict
        Names of the dimensions of each site, for ArviZ.
    """

    arviz_dims = {
        "alpha": ("component",),
        "W": ("component", "feature"),
        "mu": ("feature",),
        "z": ("component",),
        "x": ("feature",),
    }

    def __init__(
        self,
        n_features: int,
        n_components: int,
        *,
        collapsed: bool = True,
        alpha_prior: dist.Distribution | None = None,
        tau_prior: dist.Distribution | None = None,
        mu_scale: float = 10.0,
    ):
        super().__init__()
        with owner(self):
            self.n_features = check_positive_int("n_features", n_features)
            self.n_components = check_positive_int("n_components", n_components)
            if not isinstance(collapsed, bool):
                raise ValueError(
                    f"The 'collapsed' argument of BayesianPCA must be True or False. Got {collapsed!r} instead."
                )
            self.collapsed = collapsed
            check_positive_float("mu_scale", mu_scale)
            alpha_prior = as_prior("alpha_prior", alpha_prior, broad_gamma())
            tau_prior = as_prior("tau_prior", tau_prior, broad_gamma())
        D, K = self.n_features, self.n_components
        self.alpha = PyroSample(alpha_prior.expand([K]).to_event(1))
        self.W = PyroSample(
            lambda self: dist.Normal(0.0, self.alpha.rsqrt().unsqueeze(-1).expand(self.alpha.shape + (D,))).to_event(2)
        )
        self.mu = PyroSample(dist.Normal(0.0, float(mu_scale)).expand([D]).to_event(1))
        self.tau = PyroSample(tau_prior)

    def data_plate(self, x, subsample=None, n_samples=None):
        """``(x checked as (n, D) or None, the "data" plate)`` for the model and guides."""
        subsample = plate_subsample(subsample, "data")
        if x is not None:
            # shape only: a value check would read the device on every step
            # (fit() checks the data once, before the loop)
            x = check_tensor("x", x, ndim=2, finite=False)
            if x.shape[-1] != self.n_features:
                raise ValueError(
                    f"The 'x' argument must have {self.n_features} columns (n_features); got shape {tuple(x.shape)}."
                )
            n_samples = x.shape[0]
        elif n_samples is None:
            n_samples = 1
        return x, pyro.plate("data", n_samples, subsample=subsample, dim=-1)

    def create_plates(self, x=None, subsample=None, *, n_samples=None):
        """The ``"data"`` plate, for autoguides over the explicit ``z`` with minibatches
        (``AutoNormal(model, create_plates=model.create_plates)``)."""
        return self.data_plate(x, subsample, n_samples)[1]

    def forward(self, x=None, subsample=None, *, n_samples=None):
        """Run the generative story; ``x`` enters only through ``obs=``.

        Called without ``x`` it samples ``n_samples`` observations from the prior.
        """
        W, mu, tau = self.W, self.mu, self.tau
        x, plate = self.data_plate(x, subsample, n_samples)
        subsample = plate_subsample(subsample, "data")
        noise_var = tau.reciprocal().unsqueeze(-1)
        with plate as idx:
            obs = x if x is None or subsample is None else x.index_select(0, idx)
            if self.collapsed:
                cov_diag = noise_var.expand(tau.shape + (self.n_features,))
                likelihood = dist.LowRankMultivariateNormal(mu, W.transpose(-1, -2), cov_diag)
            else:
                z = pyro.sample("z", dist.Normal(0.0, 1.0).expand([self.n_components]).to_event(1))
                # (..., n, 1, K) @ (..., 1, K, D): a sample dimension on the left broadcasts
                loc = (z.unsqueeze(-2) @ W).squeeze(-2)
                likelihood = dist.Normal(loc + mu, tau.rsqrt().unsqueeze(-1)).to_event(1)
            return pyro.sample("x", likelihood, obs=obs)

    def check_inputs(self, x=None, **inputs) -> None:
        """Check the data's shape before the first traced step."""
        if x is not None:
            self.data_plate(x)

    def default_guide(self):
        """A guide under which ARD prunes: mean-field normal on the globals
        (``AutoNormal``, initial scale 0.01) and, in the explicit form, the
        exact conditional posterior of ``z`` given them (:class:`BPCAGuide`)."""
        if self.collapsed:
            return AutoNormal(self, init_scale=0.01)
        return BPCAGuide(self)

    @torch.no_grad()
    @with_local_params
    def posterior(self, guide, *, num_samples: int = 200, x=None) -> BPCAPosterior:
        """Posterior means of the global sites under ``guide``, as a :class:`BPCAPosterior`.

        Draws ``num_samples`` times from the guide (called with ``x`` when an
        amortised guide needs data) and averages; the summaries live on the CPU
        whatever device the fit used.
        """
        num_samples = check_positive_int("num_samples", num_samples)
        draws = {"alpha": [], "W": [], "mu": [], "tau": []}
        for _ in range(num_samples):
            trace = poutine.trace(guide).get_trace(x=x) if x is not None else poutine.trace(guide).get_trace()
            for name in draws:
                draws[name].append(trace.nodes[name]["value"])
        means = {name: torch.stack(values).mean(0).cpu() for name, values in draws.items()}
        noise_variance = torch.stack(draws["tau"]).reciprocal().mean(0).cpu()
        return BPCAPosterior(means["W"], means["mu"], means["alpha"], noise_variance)

    # -- hooks for diagnostics and reports (see LatentModel) -----------------
    @with_local_params
    def identifiable_quantities(self, guide) -> dict:
        """One draw from ``guide`` of quantities that do not depend on how W is
        rotated or signed or its rows ordered: sorted relevances ``||W_k||^2``,
        sorted ARD precisions, the noise variance and ``W^T W`` (D x D)."""
        trace = poutine.trace(guide).get_trace()
        W, alpha, tau = (trace.nodes[name]["value"] for name in ("W", "alpha", "tau"))
        return {
            "relevance": torch.sort(W.pow(2).sum(-1), descending=True).values,
            "alpha": torch.sort(alpha).values,
            "noise_variance": tau.reciprocal(),
            "WtW": W.T @ W,
        }

    def _fitted(self, guide):
        if guide is None:
            raise ValueError(
                "The 'guide' argument of BayesianPCA must be the fitted guide (result.guide): the model's "
                "parameters are latent variables whose posterior the guide holds."
            )
        return self.posterior(guide)

    def encode(self, x, guide=None) -> torch.Tensor:
        """Posterior mean of ``z`` for each row of ``x``, components sorted by relevance."""
        post = self._fitted(guide)
        return post.transform(x)[:, post.order]

    def reconstruct(self, x, guide=None) -> torch.Tensor:
        """``E[z | x] W + mu`` for each row of ``x``."""
        return self._fitted(guide).reconstruct(x)

    def sample(self, n: int, guide=None) -> torch.Tensor:
        """``n`` new observations from the fitted generative model (posterior means of the globals)."""
        return self._fitted(guide).sample(n)


@dataclass(frozen=True)
class BPCAPosterior:
    """Point summaries of a fitted :class:`BayesianPCA` and what follows from them.

    Attributes
    ----------
    W : Tensor, (K, D)
        Posterior mean of the components.
    mu : Tensor, (D,)
        Posterior mean of the data mean.
    alpha : Tensor, (K,)
        Posterior mean of the ARD precisions.
    noise_variance : Tensor, ()
        Posterior mean of sigma^2 = 1 / tau.
    threshold : float
        A component *survives* when the variance it adds, ``||W_k||^2``, is at
        least ``threshold`` times the noise variance. Under the default
        mean-field guide, pruned components shrink towards zero (their alpha
        keeps growing): measured on Bishop's sets, survivors sit at 2.4 noise
        variances or more and pruned ones at 0.08 or less, so the rule does not
        depend on how long the fit ran once the groups have separated. It is a
        rule for variational point summaries: the exact posterior (NUTS) keeps
        spare columns at 0.5-0.9 noise variances with wide uncertainty, and is
        better read as P(||W_k||^2 >= sigma^2) > 1/2 (see
        :mod:`pyrolatent.diagnostics.nuts`).
    """

    W: torch.Tensor
    mu: torch.Tensor
    alpha: torch.Tensor
    noise_variance: torch.Tensor
    threshold: float = 0.25

    @property
    def relevance(self) -> torch.Tensor:
        """Variance added by each component, ``||W_k||^2`` (K,)."""
        return self.W.pow(2).sum(-1)

    @property
    def order(self) -> torch.Tensor:
        """Component indices sorted from most to least relevant."""
        return torch.argsort(self.relevance, descending=True)

    @property
    def surviving(self) -> torch.Tensor:
        """Boolean mask of the components that survive (see ``threshold``)."""
        return self.relevance >= self.threshold * self.noise_variance

    @property
    def n_effective(self) -> int:
        """Number of surviving components: the estimated latent dimensionality."""
        return int(self.surviving.sum())

    @property
    def components(self) -> torch.Tensor:
        """Surviving components, most relevant first (n_effective, D)."""
        keep = self.order[self.surviving[self.order]]
        return self.W[keep]

    def _precision(self):
        K = self.W.shape[0]
        return torch.eye(K, dtype=self.W.dtype) + self.W @ self.W.T / self.noise_variance

    def transform(self, x) -> torch.Tensor:
        """Posterior mean of ``z`` for each row of ``x`` (n, K), given the point estimates."""
        x = check_tensor("x", x, ndim=2).cpu()
        if x.shape[1] != self.W.shape[1]:
            raise ValueError(f"The 'x' argument must have {self.W.shape[1]} columns; got shape {tuple(x.shape)}.")
        rhs = self.W @ (x - self.mu).T / self.noise_variance
        return torch.linalg.solve(self._precision(), rhs).T

    def reconstruct(self, x) -> torch.Tensor:
        """Map ``x`` to its latent mean and back: ``E[z | x] W + mu``."""
        return self.transform(x) @ self.W + self.mu

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` new observations from the fitted generative model."""
        n = check_positive_int("n", n)
        K, D = self.W.shape
        z = torch.randn(n, K, generator=generator, dtype=self.W.dtype)
        eps = torch.randn(n, D, generator=generator, dtype=self.W.dtype)
        return z @ self.W + self.mu + eps * self.noise_variance.sqrt()


class BPCAGuide(PyroModule):
    r"""Default guide of the explicit (uncollapsed) :class:`BayesianPCA`.

    The global sites get a mean-field normal (``AutoNormal``); each ``z_n`` is
    then drawn from its exact conditional posterior given the drawn globals,

    .. math:: q(z_n \mid W, \mu, \tau) = \mathcal N\big(M^{-1} \tau W (x_n - \mu),\ M^{-1}\big),
              \qquad M = I_K + \tau W W^\top,

    so the only approximation is on the globals.
    """

    def __init__(self, model: BayesianPCA):
        super().__init__()
        self.globals = AutoNormal(poutine.block(model, hide=["z"]), init_scale=0.01)
        self.n_components = model.n_components
        self._model = (model,)  # not a submodule: the model's parameters are its own

    def forward(self, x=None, subsample=None, *, n_samples=None):
        draws = self.globals(x, subsample, n_samples=n_samples)
        W, mu, tau = draws["W"], draws["mu"], draws["tau"]
        model = self._model[0]
        x, plate = model.data_plate(x, subsample, n_samples)
        subsample = plate_subsample(subsample, "data")
        K = self.n_components
        precision = torch.eye(K, dtype=W.dtype, device=W.device) + tau[..., None, None] * (W @ W.transpose(-1, -2))
        with plate as idx:
            if x is None:  # nothing observed: the conditional is the prior
                return pyro.sample("z", dist.Normal(0.0, 1.0).expand([K]).to_event(1))
            xs = x if subsample is None else x.index_select(0, idx)
            # (..., 1, K, D) @ (..., n, D, 1) -> (..., n, K, 1): one solve per row
            rhs = tau[..., None, None] * (W @ (xs - mu).unsqueeze(-1))
            loc = torch.linalg.solve(precision, rhs).squeeze(-1)
            return pyro.sample("z", dist.MultivariateNormal(loc, precision_matrix=precision))


def _example_collapsed():
    from pyrolatent.data import make_bishop

    return BayesianPCA(10, 3), make_bishop(n_samples=40, seed=0)


def _example_explicit():
    from pyrolatent.data import make_bishop

    return BayesianPCA(10, 3, collapsed=False), make_bishop(n_samples=40, seed=0)


register(
    ModelSpec(
        name="bpca",
        cls=BayesianPCA,
        title="Bayesian PCA with ARD priors (Bishop 1998, 1999)",
        summary="collapsed and explicit forms; ARD prunes unused components",
        cli="pyrolatent.cli.bpca",
        examples={"collapsed": _example_collapsed, "explicit": _example_explicit},
    )
)
