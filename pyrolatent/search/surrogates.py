r"""Batched Bayesian surrogates for Bayesian optimisation: DNGO and an exact GP.

Both surrogates fit ``R`` independent regression problems at once: inputs of
shape ``(R, n, d)``, targets ``(R, n)``, every parameter carries a leading run
dimension, and the losses of the runs are summed, so the gradient of each
run's parameters is that of its own loss. One batched computation therefore
replaces ``R`` separate fits (the searches of many runs advance in lock step
and always hold the same number of points).

DNGO [1]_ trains a small network :math:`f(x) = w^\top \phi(x) + b`,
:math:`\phi(x) = \tanh(W x + c)`, by least squares, then treats the last layer
as a Bayesian linear regression on the features :math:`\phi`:

.. math::

    w \sim \mathcal N(0, \alpha^{-1} I), \quad
    y \mid w \sim \mathcal N(\Phi w, \beta^{-1} I), \quad
    A = \alpha I + \beta \Phi^\top \Phi,

    \mu(x) = \beta \phi(x)^\top A^{-1} \Phi^\top y, \quad
    \sigma^2(x) = \beta^{-1} + \phi(x)^\top A^{-1} \phi(x),

with :math:`(\alpha, \beta)` maximising the evidence (here over a log grid).
All of it goes through one thin SVD :math:`\Phi = U S V^\top`.

The GP [2]_ is an exact Gaussian process with a Matern-5/2 kernel whose log
length scale, output scale and noise maximise the marginal likelihood (Adam,
warm-started from the previous iteration). By default one length scale is
shared by all input dimensions: with 16 to 100 queried cells in 16
dimensions, one length scale per dimension (``ard=True``) switches off
dimensions and interpolates the noise, and searched NAS-Bench-201 worse on four
of five feature sets and no better on the fifth (``benchmarks/NAS_RESULTS.md``).
Options: ARD, the squared exponential kernel, no input scaling, a rank
(copula) warp of the targets and a fixed noise variance.

References
----------
.. [1] J. Snoek et al., "Scalable Bayesian Optimization Using Deep Neural
   Networks", ICML 2015 (DNGO).
.. [2] C. E. Rasmussen, C. K. I. Williams, "Gaussian Processes for Machine
   Learning", MIT Press 2006, eq. 2.25-2.26 and 4.17.
"""

from __future__ import annotations

import math

import torch

from pyrolatent._validation import check_choice, check_positive_float, check_positive_int, owned

__all__ = ["KERNELS", "BatchedDNGO", "BatchedGP", "expected_improvement", "matern52", "rbf"]


def expected_improvement(mean: torch.Tensor, var: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    r"""Expected improvement over ``best`` for a maximisation:

    .. math:: \mathrm{EI} = (\mu - y^*)\,\Phi(u) + \sigma\,\varphi(u), \quad u = (\mu - y^*) / \sigma.

    ``best`` broadcasts against ``mean`` (e.g. shape ``(R, 1)``).
    """
    sigma = var.clamp_min(1e-12).sqrt()
    u = (mean - best) / sigma
    normal = torch.distributions.Normal(torch.zeros((), dtype=mean.dtype), torch.ones((), dtype=mean.dtype))
    return (mean - best) * normal.cdf(u) + sigma * normal.log_prob(u).exp()


class _Scaler:
    """Per-run standardisation of inputs (over the training points)."""

    def __init__(self, x: torch.Tensor):
        self.loc = x.mean(1, keepdim=True)
        scale = x.std(1, keepdim=True)
        self.scale = torch.where(scale > 1e-3, scale, torch.ones_like(scale))  # constant columns stay as they are

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.loc) / self.scale


class BatchedDNGO:
    """DNGO surrogates of ``R`` runs, trained as one batched computation.

    Parameters
    ----------
    n_hidden : int
        Width of the tanh layer whose outputs are the basis functions (128 in arch2vec).
    num_epochs : int
        Training epochs, each a pass over the points in shuffled minibatches (100 in arch2vec).
    batch_size : int or None
        Minibatch size: 10 is pybnn's default, which arch2vec used; None (the
        default here) trains on all points at every step, ``num_epochs`` steps
        in all, which is about ten times fewer steps at 100 points and what
        keeps 500 runs within the time budget.
    lr : float
        Adam learning rate (1e-2 in arch2vec).
    warm_start_epochs : int or None
        When :meth:`fit` is called again on the same runs (the next BO
        iteration, one point more), continue from the previous weights for
        this many epochs instead of training new networks for ``num_epochs``.
        None retrains from scratch every time, as arch2vec does; 20 (the
        default) costs five times fewer steps, which the 2-core budget needs.
    generator : torch.Generator, optional
        Source of the initial weights and the shuffles.
    """

    def __init__(self, n_hidden=128, num_epochs=100, batch_size=None, lr=1e-2, warm_start_epochs=20, generator=None):
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        self.num_epochs = check_positive_int("num_epochs", num_epochs)
        self.batch_size = check_positive_int("batch_size", batch_size, allow_none=True)
        self.lr = check_positive_float("lr", lr)
        self.warm_start_epochs = check_positive_int("warm_start_epochs", warm_start_epochs, allow_none=True)
        self.generator = generator
        self._weights = None

    def _uniform(self, shape, bound, like):
        u = torch.rand(shape, generator=self.generator, dtype=like.dtype)
        return ((2 * u - 1) * bound).requires_grad_()

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> BatchedDNGO:
        """Train on ``x`` ``(R, n, d)`` and ``y`` ``(R, n)`` (standardised inside)."""
        runs, n, d = x.shape
        self.scaler_ = _Scaler(x)
        x = self.scaler_(x)
        self.y_loc_ = y.mean(1, keepdim=True)
        self.y_scale_ = y.std(1, keepdim=True).clamp_min(1e-6)
        y = (y - self.y_loc_) / self.y_scale_
        epochs = self.num_epochs
        warm = self._weights is not None and self._weights[0].shape == (runs, d, self.n_hidden)
        if warm and self.warm_start_epochs is not None:
            params = [w.detach().clone().requires_grad_() for w in self._weights]
            epochs = self.warm_start_epochs
        else:  # nn.Linear's initialisation, one network per run
            params = [
                self._uniform((runs, d, self.n_hidden), 1 / math.sqrt(d), x),
                self._uniform((runs, 1, self.n_hidden), 1 / math.sqrt(d), x),
                self._uniform((runs, self.n_hidden, 1), 1 / math.sqrt(self.n_hidden), x),
                self._uniform((runs, 1, 1), 1 / math.sqrt(self.n_hidden), x),
            ]
        w1, b1, w2, b2 = params
        optim = torch.optim.Adam(params, lr=self.lr)
        batch = n if self.batch_size is None else self.batch_size
        n_batches = math.ceil(n / batch)
        for _ in range(epochs):
            order = torch.rand(runs, n, generator=self.generator).argsort(1) if n_batches > 1 else None
            for b in range(n_batches):
                if order is None:
                    xb, yb = x, y
                else:
                    idx = order[:, b * batch : (b + 1) * batch]
                    xb = x.gather(1, idx.unsqueeze(-1).expand(-1, -1, d))
                    yb = y.gather(1, idx)
                pred = (torch.tanh(xb @ w1 + b1) @ w2 + b2).squeeze(-1)
                loss = ((pred - yb) ** 2).mean(1).sum()
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
        self._weights = [p.detach() for p in params]
        self.w1_, self.b1_ = w1.detach(), b1.detach()
        self._fit_blr(torch.tanh(x @ self.w1_ + self.b1_), y)
        return self

    def _fit_blr(self, phi: torch.Tensor, y: torch.Tensor) -> None:
        """Bayesian linear regression on the basis ``phi`` ``(R, n, D)``; evidence-maximising
        ``(alpha, beta)`` on a log grid, everything through the SVD of ``phi``."""
        runs, n, dim = phi.shape
        u, s, vh = torch.linalg.svd(phi, full_matrices=False)  # u (R,n,r) s (R,r) vh (R,r,D)
        c = (u.transpose(1, 2) @ y.unsqueeze(-1)).squeeze(-1)  # U^T y, (R, r)
        resid0 = (y**2).sum(1) - (c**2).sum(1)  # part of y outside the span of phi
        log_alpha = torch.linspace(-6, 4, 21, dtype=phi.dtype).view(1, -1, 1, 1)
        log_beta = torch.linspace(-2, 8, 21, dtype=phi.dtype).view(1, 1, -1, 1)
        alpha, beta = log_alpha.exp(), log_beta.exp()
        s2 = (s**2).view(runs, 1, 1, -1)
        cc = c.view(runs, 1, 1, -1)
        lam = alpha + beta * s2  # eigenvalues of A in the span
        fit_err = resid0.view(runs, 1, 1) + ((alpha / lam) ** 2 * cc**2).sum(-1)
        m_sq = ((beta * s.view(runs, 1, 1, -1) * cc / lam) ** 2).sum(-1)
        r = s.shape[1]
        a, b = alpha.squeeze(-1), beta.squeeze(-1)
        evidence = (
            0.5 * dim * a.log()
            + 0.5 * n * b.log()
            - 0.5 * b * fit_err
            - 0.5 * a * m_sq
            - 0.5 * (lam.log().sum(-1) + (dim - r) * a.log())
        )
        best = evidence.reshape(runs, -1).argmax(1)
        ai, bi = best // evidence.shape[2], best % evidence.shape[2]
        self.alpha_ = log_alpha.view(-1)[ai].exp().view(runs, 1)
        self.beta_ = log_beta.view(-1)[bi].exp().view(runs, 1)
        lam = self.alpha_ + self.beta_ * s**2  # (R, r)
        self.v_ = vh.transpose(1, 2)  # (R, D, r)
        self.lam_ = lam
        self.coef_ = self.beta_ * s * c / lam  # mean weights in the V basis

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        """Signals on the scale of :meth:`predict`: the identity (kept for the interface of :class:`BatchedGP`)."""
        return y

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive mean and variance at ``x`` ``(R, m, d)``, in the units of ``y``."""
        phi = torch.tanh(self.scaler_(x) @ self.w1_ + self.b1_)  # (R, m, D)
        proj = phi @ self.v_  # (R, m, r)
        mean = (proj * self.coef_.unsqueeze(1)).sum(-1)
        outside = (phi**2).sum(-1) - (proj**2).sum(-1)
        var = 1 / self.beta_ + outside.clamp_min(0) / self.alpha_ + (proj**2 / self.lam_.unsqueeze(1)).sum(-1)
        return mean * self.y_scale_ + self.y_loc_, var * self.y_scale_**2


def matern52(x: torch.Tensor, z: torch.Tensor, lengthscale: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    r"""Batched Matern-5/2 kernel, the formula of ``pyro.contrib.gp.kernels.Matern52``:
    :math:`k = \sigma^2 (1 + \sqrt5 r + \tfrac53 r^2) e^{-\sqrt5 r}`, :math:`r = \|(x - z)/\ell\|`.

    ``x`` ``(R, n, d)``, ``z`` ``(R, m, d)``, ``lengthscale`` ``(R, 1, d)``, ``variance`` ``(R, 1, 1)``.
    """
    xs, zs = x / lengthscale, z / lengthscale
    r2 = (xs**2).sum(-1, keepdim=True) - 2 * xs @ zs.transpose(1, 2) + (zs**2).sum(-1).unsqueeze(1)
    r = r2.clamp_min(1e-12).sqrt()
    sqrt5_r = math.sqrt(5) * r
    return variance * (1 + sqrt5_r + (5 / 3) * r2.clamp_min(0)) * torch.exp(-sqrt5_r)


def rbf(x: torch.Tensor, z: torch.Tensor, lengthscale: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    r"""Batched squared-exponential kernel, the formula of ``pyro.contrib.gp.kernels.RBF``:
    :math:`k = \sigma^2 e^{-r^2 / 2}`, :math:`r = \|(x - z)/\ell\|`; shapes as :func:`matern52`.
    """
    xs, zs = x / lengthscale, z / lengthscale
    r2 = (xs**2).sum(-1, keepdim=True) - 2 * xs @ zs.transpose(1, 2) + (zs**2).sum(-1).unsqueeze(1)
    return variance * torch.exp(-0.5 * r2.clamp_min(0))


KERNELS = {"matern52": matern52, "rbf": rbf}


def _rank_warp(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-run rank (copula) transform of ``y`` ``(R, n)``: the ``i``-th smallest value goes to
    :math:`\Phi^{-1}((i - 1/2)/n)`. Returns the sorted ``y`` and their images (both ``(R, n)``),
    the knots of the monotone map that :func:`_apply_warp` interpolates."""
    n = y.shape[1]
    levels = (torch.arange(n, dtype=y.dtype) + 0.5) / n
    z = torch.distributions.Normal(torch.zeros((), dtype=y.dtype), torch.ones((), dtype=y.dtype)).icdf(levels)
    return y.sort(1).values, z.expand(y.shape[0], n).contiguous()


def _apply_warp(knots_y: torch.Tensor, knots_z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of the monotone map ``knots_y -> knots_z`` at ``v`` ``(R, m)``
    (flat beyond the end knots)."""
    n = knots_y.shape[1]
    hi = torch.searchsorted(knots_y, v.contiguous()).clamp(1, n - 1)
    lo = hi - 1
    y0, y1 = knots_y.gather(1, lo), knots_y.gather(1, hi)
    z0, z1 = knots_z.gather(1, lo), knots_z.gather(1, hi)
    w = ((v - y0) / (y1 - y0).clamp_min(1e-12)).clamp(0, 1)
    return z0 + w * (z1 - z0)


def _cholesky(k: torch.Tensor) -> torch.Tensor:
    """Batched Cholesky factor; a matrix that fails gets growing jitter on its diagonal."""
    chol, info = torch.linalg.cholesky_ex(k)
    jitter = 1e-5
    while bool((info > 0).any()):
        if jitter > 1.0:
            raise torch.linalg.LinAlgError("BatchedGP: the kernel matrix is not positive definite even with jitter 1.")
        bad = (info > 0).view(-1, 1, 1).to(k.dtype)
        k = k + bad * jitter * torch.eye(k.shape[-1], dtype=k.dtype)
        chol, info = torch.linalg.cholesky_ex(k)
        jitter *= 10
    return chol


@owned
class BatchedGP:
    r"""Exact GP surrogates of ``R`` runs, hyperparameters fitted in one batch.

    The targets are standardised per run (or rank-warped, ``output="rank"``), the inputs
    standardised per run over the training points (``input_scaling="train"``) or taken as they
    are (``"none"``: e.g. features standardised or whitened once over the whole space, see
    :func:`pyrolatent.search.embedding.scale_features`). The kernel's length scales (one per input
    dimension with ``ard=True``, one shared by default), output scale and noise variance maximise
    the log marginal likelihood (Rasmussen & Williams eq. 2.30) by Adam, warm-started from the
    previous fit, within a box.

    Parameters
    ----------
    num_steps : int
        Adam steps on the negative log marginal likelihood per :meth:`fit`
        (the first fit runs five times as many).
    lr : float
        Adam learning rate.
    jitter : float
        Added to the kernel diagonal.
    kernel : {"matern52", "rbf"}
        Matern-5/2 (the default) or the squared exponential.
    ard : bool
        One length scale per input dimension, or one for all (default).
    input_scaling : {"train", "none"}
        Standardise every input dimension over the run's training points (default), or not.
    output : {"standardize", "rank"}
        Targets standardised per run (default; :meth:`predict` answers in the units of ``y``),
        or replaced by the normal scores of their ranks, :math:`\Phi^{-1}((i - 1/2)/n)` for the
        ``i``-th smallest (a Gaussian copula; :meth:`predict` then answers on that scale and
        :meth:`transform` maps signals onto it), which keeps a few very bad cells from setting
        the scale of the whole fit.
    noise_variance : float or None
        Fit the noise variance (None, default), or fix it to this value in the squared units of
        ``y`` (e.g. ``0.3**2`` for signals with noise sd 0.3; ``output="standardize"`` only).
    """

    def __init__(
        self,
        num_steps=10,
        lr=0.05,
        jitter=1e-6,
        *,
        kernel="matern52",
        ard=False,
        input_scaling="train",
        output="standardize",
        noise_variance=None,
    ):
        self.num_steps = check_positive_int("num_steps", num_steps)
        self.lr = check_positive_float("lr", lr)
        self.jitter = check_positive_float("jitter", jitter)
        self.kernel = check_choice("kernel", kernel, tuple(KERNELS))
        if not isinstance(ard, bool):
            raise TypeError(f"The 'ard' argument of BatchedGP must be a bool; got {type(ard).__name__}.")
        self.ard = ard
        self.input_scaling = check_choice("input_scaling", input_scaling, ("train", "none"))
        self.output = check_choice("output", output, ("standardize", "rank"))
        self.noise_variance = check_positive_float("noise_variance", noise_variance, allow_none=True)
        if self.noise_variance is not None and self.output != "standardize":
            raise ValueError(
                "The 'noise_variance' argument of BatchedGP needs output='standardize' (a variance in the "
                f"units of y); got output={self.output!r}."
            )
        self._state = None

    _BOUNDS = ((-4.0, 6.0), (-6.0, 4.0), (-9.0, 1.0))  # log lengthscale, log variance, log noise

    def _unpack(self):
        log_ls, log_var, log_noise = self._state
        if self.noise_variance is not None:
            noise = torch.as_tensor(self.noise_variance, dtype=log_ls.dtype) / self.y_scale_.view(-1, 1, 1) ** 2
        else:
            noise = log_noise.exp() + 1e-4
        return log_ls.exp(), log_var.exp(), noise

    def _project(self, params) -> None:
        """Keep the hyperparameters in their box; a run whose step went non-finite restarts at the default."""
        with torch.no_grad():
            for p, (lo, hi), default in zip(params, self._BOUNDS, self._defaults, strict=True):
                bad = ~torch.isfinite(p)
                p.copy_(torch.where(bad, torch.full_like(p, default), p.clamp(lo, hi)))

    def _scale_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.scaler_(x) if self.input_scaling == "train" else x

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        """Map signals ``y`` ``(R, m)`` onto the scale of :meth:`predict` (the identity unless
        ``output="rank"``)."""
        if self.output == "standardize":
            return y
        return _apply_warp(self.knots_y_, self.knots_z_, y)

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> BatchedGP:
        """Fit to ``x`` ``(R, n, d)``, ``y`` ``(R, n)``; warm-starts from the previous fit."""
        runs, n, d = x.shape
        self.scaler_ = _Scaler(x)
        x = self._scale_inputs(x)
        if self.output == "rank":
            self.knots_y_, self.knots_z_ = _rank_warp(y)
            y = _apply_warp(self.knots_y_, self.knots_z_, y)
        self.y_loc_ = y.mean(1, keepdim=True)
        self.y_scale_ = y.std(1, keepdim=True).clamp_min(1e-6)
        y = (y - self.y_loc_) / self.y_scale_
        steps = self.num_steps
        n_ls = d if self.ard else 1
        self._defaults = (math.log(math.sqrt(d)), 0.0, math.log(0.1))
        if self._state is None or self._state[0].shape[0] != runs or self._state[0].shape[-1] != n_ls:
            self._state = [
                torch.full((runs, 1, n_ls), math.log(math.sqrt(d)), dtype=x.dtype),
                torch.zeros(runs, 1, 1, dtype=x.dtype),
                torch.full((runs, 1, 1), math.log(0.1), dtype=x.dtype),
            ]
            steps *= 5
        params = [p.detach().requires_grad_() for p in self._state]
        self._state = params
        optim = torch.optim.Adam(params, lr=self.lr)
        eye = torch.eye(n, dtype=x.dtype)
        kern = KERNELS[self.kernel]
        for _ in range(steps):
            ls, var, noise = self._unpack()
            chol = _cholesky(kern(x, x, ls, var) + (noise + self.jitter) * eye)
            alpha = torch.cholesky_solve(y.unsqueeze(-1), chol)
            nll = 0.5 * (y.unsqueeze(1) @ alpha).view(runs) + chol.diagonal(dim1=1, dim2=2).log().sum(-1)
            optim.zero_grad(set_to_none=True)
            nll.sum().backward()
            for p in params:
                if p.grad is not None:  # the noise has none when it is fixed
                    p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=0.0, neginf=0.0)
            optim.step()
            self._project(params)
        with torch.no_grad():
            self._state = [p.detach() for p in params]
            ls, var, noise = self._unpack()
            self.chol_ = _cholesky(kern(x, x, ls, var) + (noise + self.jitter) * eye)
            self.alpha_ = torch.cholesky_solve(y.unsqueeze(-1), self.chol_)
            self.x_ = x
        return self

    @property
    def hyperparameters(self) -> dict:
        """``{"lengthscale": (R, d) or (R, 1), "variance": (R,), "noise": (R,)}`` of the last fit
        (standardised units)."""
        ls, var, noise = self._unpack()
        return {"lengthscale": ls[:, 0], "variance": var.view(-1), "noise": noise.reshape(-1)}

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive mean and variance of the latent function at ``x`` ``(R, m, d)`` (Rasmussen &
        Williams eq. 2.25-2.26), in the units of ``y`` (on the rank scale with ``output="rank"``)."""
        ls, var, _ = self._unpack()
        xs = self._scale_inputs(x)
        k_star = KERNELS[self.kernel](self.x_, xs, ls, var)  # (R, n, m)
        mean = (k_star * self.alpha_).sum(1)
        v = torch.linalg.solve_triangular(self.chol_, k_star, upper=False)
        f_var = var.view(-1, 1) - (v**2).sum(1)
        return mean * self.y_scale_ + self.y_loc_, f_var.clamp_min(1e-10) * self.y_scale_**2
