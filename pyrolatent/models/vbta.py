r"""VBTA: variational learning across domains with triplet information (Kuznetsova, Bakhteev, Ogaltsov [1]_).

One latent space shared by two domains, A (objects :math:`x`) and B (objects
:math:`y`), learned from plenty of unpaired objects of each and a few known
pairs :math:`(x_p, y_p)`, so that an object can be translated from one domain
to the other. Generative story, with one prior :math:`p(z)` and a decoder and
likelihood per domain (:mod:`pyrolatent.components`):

.. math::

    \text{unpaired } x_n:&\quad z_n \sim p(z),\ x_n \sim p_{\theta_x}(x \mid z_n)
        \qquad\text{(plate "data")}\\
    \text{unpaired } y_m:&\quad z_m \sim p(z),\ y_m \sim p_{\theta_y}(y \mid z_m)
        \qquad\text{(plate "data_b")}\\
    \text{pair } p:&\quad z_p \sim p(z),\ x_p \sim p_{\theta_x}(x \mid z_p),\ y_p \sim p_{\theta_y}(y \mid z_p),\
        t_p \sim p(t \mid z_p) \qquad\text{(plate "pairs")}

**The objective is the lecture's sum of two ELBOs** (lecture lines 153-163).
For a pair, the lecture adds the ELBO with the guide :math:`q_{\phi_x}(z \mid x)`
and the ELBO with :math:`q_{\phi_y}(z \mid y)` of the same joint
:math:`p(x, y, t, z)`:

.. math::

    \mathcal L_p = &-\mathrm{KL}(q_{\phi_x}(z \mid x_p) \| p(z)) - \mathrm{KL}(q_{\phi_y}(z \mid y_p) \| p(z))
        + \mathbb E_{q_{\phi_x}} \log p(x_p \mid z) + \mathbb E_{q_{\phi_y}} \log p(y_p \mid z) \\
        &+ \mathbb E_{q_{\phi_x}} \log p(y_p \mid z) + \mathbb E_{q_{\phi_y}} \log p(x_p \mid z)
        + \log p(t^{x}_p) + \log p(t^{y}_p)

(penalty, reconstruction, cycle-consistency, triplet likelihood). The model
writes this sum as one Pyro model: the pair's latent ``z`` lives in a plate
``"views"`` of size 2 over the two guides' copies (view 0 is drawn by
:math:`q_{\phi_x}(z \mid x)`, view 1 by :math:`q_{\phi_y}(z \mid y)`), and
each term of :math:`\mathcal L_p` is one observed site (``x_pair`` and
``y_pair``: reconstructions from :math:`z_x` and :math:`z_y`; ``y_cycle`` and
``x_cycle``: each domain decoded from the other's copy; ``t_x`` and ``t_y``: the
triplets anchored in A and in B), so that ``Trace_ELBO`` of this model and
:class:`VBTAGuide` is exactly
:math:`\sum_n \mathrm{ELBO}(x_n) + \sum_m \mathrm{ELBO}(y_m) + \sum_p \mathcal L_p`.
The objects of a pair are masked out of their domain's plate (each object is
explained once: unpaired objects only explain their own domain; paired ones
also explain the other domain and the triplets).

**Triplets across domains.** For ``t_x`` the anchor is :math:`x_p`, the positive
its pair :math:`y_p` and the negative :math:`y_l` of another pair :math:`l \ne p`;
for the anchor :math:`y_p` the roles of the domains swap (the authors' code alternates the
anchor's domain between steps; here both directions enter every step). With
the Bernoulli likelihood of the triplet oracle (Karaletsos et al. [2]_),

.. math::

    t \sim \mathrm{Bernoulli}\big(\mathrm{logits} = s\,(D_{il} - D_{ij})\big),\qquad
    D_{ab} = \textstyle\sum_h d\big(q(z_a^h), q(z_b^h)\big),

with :math:`d` the exact Jensen-Shannon divergence by default
(:mod:`pyrolatent.components.divergences`) between the encoders' per-dimension
posteriors, and a learned scale :math:`s`. The distances read the encoders'
outputs (as in :class:`~pyrolatent.models.TripletVAE`), so :math:`p(t)` does
not depend on the draw of :math:`z`: its expectation under either guide is
itself. Negatives are ``"random"`` (uniform over the other pairs: never the
positive) or ``"hard"`` (the other pair in the minibatch whose object is
nearest to the anchor by :math:`D`); each step draws new ones, so the
objective is an unbiased estimate of its average over negatives.

**Weights, applied once.** ``triplet_weight`` :math:`\lambda_t` and
``cycle_weight`` :math:`\lambda_c` temper their likelihoods,
:math:`p(t)^{\lambda_t}` and :math:`p(y_p \mid z_x)^{\lambda_c} p(x_p \mid z_y)^{\lambda_c}`
(``poutine.scale``); 1 is the lecture's model and 0 drops the term (the
ablations). The authors' public code multiplies its triplet weight twice
(effective :math:`\lambda^2`); here the weight multiplies the log-likelihood
exactly once.

**The pairs' temperature.** ``pair_weight`` :math:`\lambda_p` tempers the
whole pair plate, :math:`\sum_p \lambda_p \mathcal L_p` (``poutine.scale``
on the pairs' sites, in the model and the guide alike): as if each pair had
been seen :math:`\lambda_p` times. With 1 (the lecture's ELBO) a handful of
pairs is drowned by the unpaired objects: 10 pairs of MNIST against 18,000
unpaired reconstructions give the cross-domain terms about 1/900 of the
objective, and minibatches (each plate is subsampled and rescaled to its full
size) keep that ratio. ``pair_weight="balanced"`` sets
:math:`\lambda_p = (n_a + n_b - 2P) / (2P)`, so that the paired objects weigh
as much as the unpaired ones; it is what the authors' code does in effect (a
paired and an unpaired batch in every step, their terms weighted alike),
and it is what makes translation work with few pairs (MNIST against its
transpose, 10 pairs, 1,000 steps: translation accuracy about 0.8 instead of
0.3-0.4; ``benchmarks/VBTA_RESULTS.md``). Like the other weights it is a
likelihood temperature, not part of the lecture's model: the ELBO reported is
that of the tempered model.

**Networks.** Each domain has its own encoder and decoder
(:func:`~pyrolatent.components.nets.make_encoder`, ``make_decoder``). With
``shared_heads=True`` (the authors' design) the two encoder trunks feed one
pair of mean/scale heads, and one decoder trunk feeds a linear head per
domain (MLP networks).

Minibatches: the three plates are subsampled independently
(``fit(..., batch_size={"data": 100, "data_b": 100, "pairs": 10})``).

References
----------
.. [1] K. Kuznetsova, O. Bakhteev, A. Ogaltsov, "Variational learning across domains with triplet
   information", arXiv:1806.08672, 2018.
.. [2] T. Karaletsos, S. Belongie, G. Rätsch, "Bayesian representation learning with oracle
   constraints", ICLR 2016.

Examples
--------
>>> from pyrolatent.data import binarize, load_digits
>>> from pyrolatent.data.pairs import reveal_pairs, second_domain
>>> from pyrolatent.inference import fit
>>> a = binarize(load_digits(), seed=0)
>>> b = second_domain(a, "transpose")
>>> model = VBTA(64, 64, 8, hidden=(128,), shared_heads=True, triplet_weight=100.0, pair_weight="balanced")
>>> data = {"x": a.x, "y": b.x, "pairs": reveal_pairs(a.n_samples, 20, seed=0)}
>>> result = fit(model, data, num_steps=2000, lr=3e-3, batch_size={"data": 128, "data_b": 128})  # doctest: +SKIP
>>> model.translate(a.x[:5], source="a")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import weakref

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from pyrolatent._pyro import LocalParamsModule, plate_subsample, with_local_params
from pyrolatent._validation import check_choice, check_positive_float, check_positive_int, check_tensor, owner
from pyrolatent.components.divergences import draw_codes, get_distance
from pyrolatent.components.latent_priors import as_vae_prior
from pyrolatent.components.likelihoods import Likelihood, as_likelihood
from pyrolatent.components.nets import check_hidden, make_decoder, make_encoder
from pyrolatent.data.pairs import check_pairs

from .base import LatentModel
from .registry import ModelSpec, register

__all__ = ["VBTA", "VBTAGuide", "tiny_example"]

DOMAINS = ("a", "b")
NEGATIVES = ("random", "hard")


class VBTA(LatentModel):
    """The cross-domain model; see the module docstring for the story and the objective.

    Parameters
    ----------
    n_features, n_features_b : int
        Sizes of one object of domain A and of domain B (``n_features_b``
        defaults to ``n_features``).
    n_components : int
        Size K of the shared latent space.
    image_shape, image_shape_b : tuple, optional
        Image layouts (for ``network="conv"`` and pictures).
    network, hidden, activation
        As for :class:`~pyrolatent.models.VAE`, for both domains.
    likelihood, likelihood_b : str or Likelihood
        Observation models of A and B (``likelihood_b`` defaults to a copy of ``likelihood``).
    prior : str, Distribution or nn.Module
        The shared prior :math:`p(z)` (a VampPrior uses domain A's encoder).
    shared_heads : bool
        The authors' design: shared encoder heads and a shared decoder trunk (MLP only).
    distance : {"js", "symmetric_kl", "moment_matched", "sq_euclidean"}
        The per-dimension distance of the triplet likelihood.
    scale : float
        Initial (or, with ``learn_scale=False``, fixed) scale :math:`s` of the triplet logits.
    learn_scale : bool
    triplet_weight, cycle_weight : float
        Likelihood temperatures :math:`\\lambda_t`, :math:`\\lambda_c` (>= 0; 0 drops the term).
    pair_weight : float or "balanced"
        Temperature :math:`\\lambda_p` of the pair plate (> 0; 1 is the lecture's ELBO;
        ``"balanced"``: unpaired objects / paired objects, see the module docstring).
    negatives : {"random", "hard"}
        How each triplet's negative is chosen.
    """

    arviz_dims = {"z_x": ("latent",), "z_y": ("latent",), "z": ("latent",), "x": ("feature",), "y": ("feature_b",)}

    def __init__(
        self,
        n_features: int,
        n_features_b: int | None = None,
        n_components: int = 2,
        *,
        image_shape=None,
        image_shape_b=None,
        network: str = "mlp",
        hidden=(400,),
        activation: str = "softplus",
        likelihood="bernoulli",
        likelihood_b=None,
        prior="normal",
        shared_heads: bool = False,
        distance: str = "js",
        scale: float = 5.0,
        learn_scale: bool = True,
        triplet_weight: float = 1.0,
        cycle_weight: float = 1.0,
        negatives: str = "random",
        pair_weight: float | str = 1.0,
    ):
        super().__init__()
        with owner(self):
            self.n_features = check_positive_int("n_features", n_features)
            self.n_features_b = check_positive_int("n_features_b", n_features if n_features_b is None else n_features_b)
            self.n_components = K = check_positive_int("n_components", n_components)
            self.image_shape, self.image_shape_b = (
                image_shape,
                (image_shape if image_shape_b is None else image_shape_b),
            )
            self.shared_heads = bool(shared_heads)
            if self.shared_heads and network != "mlp":
                raise ValueError(f"The 'shared_heads' argument of VBTA needs network='mlp'. Got network={network!r}.")
            hidden = check_hidden(hidden)
            kw = dict(hidden=hidden, activation=activation)
            self.encoder = make_encoder(network, self.n_features, K, image_shape=self.image_shape, **kw)
            self.encoder_b = make_encoder(network, self.n_features_b, K, image_shape=self.image_shape_b, **kw)
            self.decoder = make_decoder(network, K, self.n_features, image_shape=self.image_shape, **kw)
            self.decoder_b = make_decoder(network, K, self.n_features_b, image_shape=self.image_shape_b, **kw)
            if self.shared_heads:  # one pair of heads, one decoder trunk
                self.encoder_b.loc, self.encoder_b.scale = self.encoder.loc, self.encoder.scale
                self.decoder_b[0] = self.decoder[0]
            if likelihood_b is None:
                likelihood_b = copy.deepcopy(likelihood) if isinstance(likelihood, Likelihood) else likelihood
            self.likelihood = as_likelihood(likelihood, self.n_features)
            self.likelihood_b = as_likelihood(likelihood_b, self.n_features_b)
            self.prior = as_vae_prior(prior, K, encoder=self.encoder, n_features=self.n_features)
            self.distance = distance
            self._distance = get_distance(distance, drawn=True)  # applied after draw_codes
            self.learn_scale = bool(learn_scale)
            log_scale = torch.tensor(math.log(check_positive_float("scale", scale)))
            if self.learn_scale:
                self.log_scale = nn.Parameter(log_scale)
            else:
                self.register_buffer("log_scale", log_scale)
            self.triplet_weight = check_positive_float("triplet_weight", triplet_weight, allow_zero=True)
            self.cycle_weight = check_positive_float("cycle_weight", cycle_weight, allow_zero=True)
            self.negatives = check_choice("negatives", negatives, NEGATIVES)
            if isinstance(pair_weight, str):
                self.pair_weight = check_choice("pair_weight", pair_weight, ("balanced",))
            else:
                self.pair_weight = check_positive_float("pair_weight", pair_weight)

    def pair_scale(self, n_a: int, n_b: int, n_pairs: int) -> float:
        """The temperature :math:`\\lambda_p` of the pairs' likelihood: ``pair_weight``, or with
        ``"balanced"`` :math:`(n_a + n_b - 2P) / (2P)` (the pairs weigh as much as the unpaired objects)."""
        if self.pair_weight != "balanced":
            return self.pair_weight
        return max(1.0, (n_a + n_b - 2 * n_pairs) / (2 * n_pairs))

    # -- per-domain parts --------------------------------------------------------------
    def _parts(self, domain: str):
        """``(encoder, decoder, likelihood, n_features)`` of domain ``"a"`` or ``"b"``."""
        if check_choice("domain", domain, DOMAINS) == "a":
            return self.encoder, self.decoder, self.likelihood, self.n_features
        return self.encoder_b, self.decoder_b, self.likelihood_b, self.n_features_b

    @property
    def triplet_scale(self) -> torch.Tensor:
        """The scale :math:`s` of the triplet logits."""
        return self.log_scale.exp()

    def _device(self) -> torch.device:
        return self.log_scale.device

    def check_data(self, x, n_samples=None, *, domain: str = "a", name: str = "x", support: bool = True):
        """``(rows as an (n, D) tensor or None, n)`` for ``domain``, checked against its
        likelihood's support unless ``support=False`` (encoders accept any finite rows,
        e.g. the grey translations that a round trip encodes)."""
        if x is None:
            return None, (1 if n_samples is None else check_positive_int("n_samples", n_samples))
        _, _, likelihood, D = self._parts(domain)
        x = check_tensor(name, x, ndim=2)
        if x.shape[1] != D:
            raise ValueError(
                f"The {name!r} argument of VBTA must have {D} columns (domain {domain.upper()}); "
                f"got shape {tuple(x.shape)}."
            )
        if support:
            likelihood.check_data(name, x)
        return x, x.shape[0]

    def check_inputs(self, x=None, y=None, pairs=None, negatives=None, **inputs) -> None:
        """Check both domains and the pairs before the first traced step."""
        with owner(self):
            _, n_a = self.check_data(x, domain="a", name="x")
            if y is not None:
                _, n_b = self.check_data(y, domain="b", name="y")
                if pairs is not None:
                    p = check_pairs(pairs, n_a, n_b)
                    if negatives is not None:
                        self._check_negatives(negatives, p.shape[0])
            elif pairs is not None:
                raise ValueError("The 'pairs' argument of VBTA needs 'y' (the objects of domain B).")

    @staticmethod
    def _check_negatives(negatives, n_pairs: int) -> torch.Tensor:
        neg = check_tensor("negatives", negatives, ndim=2, dtype="int").to(torch.long)
        if tuple(neg.shape) != (n_pairs, 2):
            raise ValueError(
                f"The 'negatives' argument of VBTA must be ({n_pairs}, 2): a negative pair per pair "
                f"and view; got shape {tuple(neg.shape)}."
            )
        own = torch.arange(n_pairs, device=neg.device).unsqueeze(1)
        bad = (neg < 0) | (neg >= n_pairs) | (neg == own)
        if bool(bad.any()):
            r = int(bad.any(1).nonzero()[0])
            raise ValueError(
                f"The 'negatives' argument of VBTA must name another pair in [0, {n_pairs}); "
                f"row {r} is {neg[r].tolist()}."
            )
        return neg

    def plate_sizes(self, x=None, y=None, pairs=None, **inputs) -> dict[str, int]:
        """``{"data": rows of x, "data_b": rows of y, "pairs": P}`` (the plates present)."""
        sizes = super().plate_sizes(x)
        if y is not None:
            sizes["data_b"] = int(y.shape[0])
            if pairs is not None:
                sizes["pairs"] = int(pairs.shape[0])
        return sizes

    # -- the model -----------------------------------------------------------------------
    def _rows_once(self, x, n_samples, domain, name):
        """:meth:`check_data`, with the value check done once per tensor (not every step)."""
        seen = self.__dict__.setdefault("_seen", {})
        if isinstance(x, torch.Tensor):
            ref, version = seen.get(name, (None, None))
            if ref is not None and ref() is x and version == x._version:
                return x, x.shape[0]
        out = self.check_data(x, n_samples, domain=domain, name=name)
        if isinstance(x, torch.Tensor) and out[0] is x:
            seen[name] = (weakref.ref(x), x._version)
        return out

    def __getstate__(self):  # the check cache holds weak references
        state = dict(self.__dict__)
        state.pop("_seen", None)
        return state

    def forward(self, x=None, y=None, pairs=None, negatives=None, subsample=None, *, n_samples=None):
        """Run the generative story (see the module docstring); data enter only through ``obs=``.

        Given only ``x`` (only ``y``), the model is the VAE of that domain; given
        neither, it draws ``n_samples`` objects of each domain from the prior.
        """
        x, n_a = self._rows_once(x, n_samples, "a", "x")
        y, n_b = self._rows_once(y, n_samples, "b", "y")
        prior = self.prior()
        paired = _paired_masks(pairs, n_a, n_b, x, y)
        prior_only = x is None and y is None  # without data both domains are drawn; with one, only its own
        for plate, site, obs_site, rows, domain in (("data", "z_x", "x", x, "a"), ("data_b", "z_y", "y", y, "b")):
            if rows is None and not prior_only:
                continue
            _, decoder, likelihood, _ = self._parts(domain)
            idx = plate_subsample(subsample, plate)
            with pyro.plate(plate, n_a if domain == "a" else n_b, subsample=idx, dim=-1) as i:
                mask = None if paired is None else ~paired[domain].index_select(0, i)
                with poutine.mask(mask=True if mask is None else mask):
                    z = pyro.sample(site, prior)
                    obs = None if rows is None else (rows if idx is None else rows.index_select(0, i))
                    pyro.sample(obs_site, likelihood(decoder(z)), obs=obs)
        if paired is None:
            return None
        pairs = pairs.to(torch.long)
        P = pairs.shape[0]
        idx = plate_subsample(subsample, "pairs")
        pair_scale = poutine.scale(scale=self.pair_scale(n_a, n_b, P))
        with pair_scale, pyro.plate("pairs", P, subsample=idx, dim=-1) as j:
            batch = pairs.index_select(0, j)
            xp, yp = x.index_select(0, batch[:, 0]), y.index_select(0, batch[:, 1])
            with pyro.plate("views", 2, dim=-2):
                z = pyro.sample("z", prior)  # view 0: the copy q(z_x | x) draws; view 1: q(z_y | y)'s
            z_x, z_y = z[..., 0:1, :, :], z[..., 1:2, :, :]  # keep the views dim (size 1) for particle dims
            (_, dec_a, lik_a, _), (_, dec_b, lik_b, _) = self._parts("a"), self._parts("b")
            pyro.sample("x_pair", lik_a(dec_a(z_x)), obs=xp)  # reconstruction, ELBO of q(z_x | x)
            pyro.sample("y_pair", lik_b(dec_b(z_y)), obs=yp)  # reconstruction, ELBO of q(z_y | y)
            if self.cycle_weight > 0:
                with poutine.scale(scale=self.cycle_weight):
                    pyro.sample("y_cycle", lik_b(dec_b(z_x)), obs=yp)  # y decoded from z_x
                    pyro.sample("x_cycle", lik_a(dec_a(z_y)), obs=xp)  # x decoded from z_y
            if self.triplet_weight > 0 and P > 1:
                neg = self._negatives(negatives, x, y, pairs, j, xp, yp)
                # anchor x takes the B object of its negative pair, anchor y the A object of its own
                y_neg = y.index_select(0, pairs[neg[:, 0], 1])
                x_neg = x.index_select(0, pairs[neg[:, 1], 0])
                logits = self.triplet_logits(xp, yp, x_neg, y_neg)
                with poutine.scale(scale=self.triplet_weight):
                    pyro.sample("t_x", dist.Bernoulli(logits=logits[0]), obs=torch.ones_like(logits[0]))
                    pyro.sample("t_y", dist.Bernoulli(logits=logits[1]), obs=torch.ones_like(logits[1]))
        return None

    def default_guide(self) -> VBTAGuide:
        """The two amortised diagonal normal guides :math:`q_{\\phi_x}(z \\mid x)`, :math:`q_{\\phi_y}(z \\mid y)`."""
        return VBTAGuide(self)

    # -- triplets --------------------------------------------------------------------------
    def triplet_logits(self, xp, yp, x_neg, y_neg) -> torch.Tensor:
        """Logits :math:`s (D_{il} - D_{ij})` (2, b): row 0 anchors ``xp`` (positive ``yp``,
        negative ``y_neg``), row 1 anchors ``yp`` (positive ``xp``, negative ``x_neg``)."""
        # a sampled distance: one code per object, so each anchor enters both of its pairs with it
        (la, sa), (lb, sb) = (
            draw_codes(self.distance, *self.encoder(xp)),
            draw_codes(self.distance, *self.encoder_b(yp)),
        )
        (lxn, sxn), (lyn, syn) = (
            draw_codes(self.distance, *self.encoder(x_neg)),
            draw_codes(self.distance, *self.encoder_b(y_neg)),
        )
        d = self._distance
        d_pos = d(la, sa, lb, sb).sum(-1)  # symmetric in its two arguments for every distance offered
        d_neg = torch.stack([d(la, sa, lyn, syn).sum(-1), d(lb, sb, lxn, sxn).sum(-1)])
        return self.triplet_scale * (d_neg - d_pos)

    def _negatives(self, negatives, x, y, pairs, j, xp, yp) -> torch.Tensor:
        """Negative pair of each pair in the minibatch ``j`` and view, (b, 2): given,
        random among the other pairs, or the nearest other pair in the minibatch."""
        P, b = pairs.shape[0], j.shape[0]
        if negatives is not None:
            return negatives.to(torch.long).index_select(0, j)
        if self.negatives == "hard" and b > 1:
            with torch.no_grad():
                (la, sa), (lb, sb) = (
                    draw_codes(self.distance, *self.encoder(xp)),
                    draw_codes(self.distance, *self.encoder_b(yp)),
                )
                # D between every anchor (row) and every candidate of the other domain (column)
                d_ab = self._distance(la[:, None], sa[:, None], lb[None], sb[None]).sum(-1)
                eye = torch.eye(b, dtype=torch.bool, device=d_ab.device)
                near_b = d_ab.masked_fill(eye, float("inf")).argmin(1)
                near_a = d_ab.T.masked_fill(eye, float("inf")).argmin(1)
            return torch.stack([j[near_b], j[near_a]], 1)
        shift = torch.randint(1, P, (b, 2), device=j.device)
        return (j.unsqueeze(1) + shift) % P

    # -- hooks ------------------------------------------------------------------------------
    @torch.no_grad()
    @with_local_params
    def encode(self, x, guide=None, *, domain: str = "a") -> torch.Tensor:
        """Posterior mean of the shared code of each row of domain ``domain`` (n, K)."""
        encoder = self._parts(domain)[0]
        x, _ = self.check_data(x, domain=domain, support=False)
        return encoder(x.to(self._device()))[0]

    @torch.no_grad()
    @with_local_params
    def decode(self, z, *, domain: str = "a") -> torch.Tensor:
        """Mean of :math:`p(x \\mid z)` of domain ``domain`` for codes ``z`` (..., K) -> (..., D)."""
        _, decoder, likelihood, _ = self._parts(domain)
        z = check_tensor("z", z).to(self._device())
        if z.shape[-1] != self.n_components:
            raise ValueError(
                f"The 'z' argument of VBTA must end in n_components = {self.n_components}; got {tuple(z.shape)}."
            )
        return likelihood.mean(decoder(z))

    def reconstruct(self, x, guide=None, *, domain: str = "a") -> torch.Tensor:
        """``decode(encode(x))`` within domain ``domain`` (n, D)."""
        return self.decode(self.encode(x, domain=domain), domain=domain)

    def translate(self, x, source: str = "a") -> torch.Tensor:
        """Translate rows of domain ``source`` into the other domain: the decoder
        mean of the other domain at the posterior mean of the code (n, D_other),
        on the model's device."""
        target = "b" if check_choice("source", source, DOMAINS) == "a" else "a"
        return self.decode(self.encode(x, domain=source), domain=target)

    @torch.no_grad()
    @with_local_params
    def sample(self, n: int, guide=None, *, domain: str = "a", mean: bool = False) -> torch.Tensor:
        """``n`` new objects of domain ``domain`` (n, D): draws, or decoder means with ``mean=True``."""
        x, y = self.sample_joint(n, mean=mean)
        return x if check_choice("domain", domain, DOMAINS) == "a" else y

    @torch.no_grad()
    @with_local_params
    def sample_joint(self, n: int, *, mean: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: for each of ``n`` codes :math:`z \\sim p(z)`, one object of each domain
        (draws, or decoder means with ``mean=True``)."""
        z = self.prior().sample((check_positive_int("n", n),))
        out = []
        for domain in DOMAINS:
            _, decoder, likelihood, _ = self._parts(domain)
            params = decoder(z)
            out.append(likelihood.mean(params) if mean else likelihood(params).sample())
        return out[0], out[1]

    @torch.no_grad()
    @with_local_params
    def retrieve(self, x, candidates, *, source: str = "a", k: int = 1, distance: str = "mean") -> torch.Tensor:
        """Cross-domain retrieval: for each row of ``x`` (domain ``source``), the indices
        of the ``k`` nearest ``candidates`` (rows of the other domain), (n, k).

        ``distance="mean"`` ranks by the squared Euclidean distance between
        posterior means; ``"model"`` by the model's :math:`D` (costlier: JS by quadrature).
        """
        target = "b" if check_choice("source", source, DOMAINS) == "a" else "a"
        k = check_positive_int("k", k)
        ex, ec = self._parts(source)[0], self._parts(target)[0]
        xs, _ = self.check_data(x, domain=source, support=False)
        cs, m = self.check_data(candidates, domain=target, name="candidates", support=False)
        (lq, sq), (lc, sc) = ex(xs.to(self._device())), ec(cs.to(self._device()))
        if check_choice("distance", distance, ("mean", "model")) == "mean":
            d = torch.cdist(lq, lc).pow(2)
        else:
            (lq, sq), (lc, sc) = draw_codes(self.distance, lq, sq), draw_codes(self.distance, lc, sc)
            d = torch.cat(
                [
                    self._distance(lq[i : i + 64, None], sq[i : i + 64, None], lc[None], sc[None]).sum(-1)
                    for i in range(0, lq.shape[0], 64)
                ]
            )
        return d.topk(min(k, m), dim=1, largest=False).indices.cpu()


class VBTAGuide(LocalParamsModule):
    r"""The default guide of :class:`VBTA`: :math:`q_{\phi_x}(z \mid x)` for the objects of
    A, :math:`q_{\phi_y}(z \mid y)` for those of B, and, for each pair, both
    (view 0 and view 1 of the pair's ``z``). It holds no weights: the encoders
    are the model's. Paired objects are masked out of their domain's plate, as
    in the model."""

    def __init__(self, model: VBTA):
        super().__init__()
        if not isinstance(model, VBTA):
            raise TypeError(f"The 'model' argument of VBTAGuide must be a VBTA. Got {type(model).__name__} instead.")
        self._model = (model,)

    @property
    def model(self) -> VBTA:
        return self._model[0]

    def forward(self, x=None, y=None, pairs=None, negatives=None, subsample=None, *, n_samples=None):
        m = self.model
        if x is None:
            raise ValueError("The 'x' argument of VBTAGuide must be the data; got None (to sample, call the model).")
        x, n_a = m._rows_once(x, None, "a", "x")
        y, n_b = m._rows_once(y, None, "b", "y")
        paired = _paired_masks(pairs, n_a, n_b, x, y)
        for plate, site, rows, domain, n in (("data", "z_x", x, "a", n_a), ("data_b", "z_y", y, "b", n_b)):
            if rows is None:
                continue
            idx = plate_subsample(subsample, plate)
            with pyro.plate(plate, n, subsample=idx, dim=-1) as i:
                mask = None if paired is None else ~paired[domain].index_select(0, i)
                with poutine.mask(mask=True if mask is None else mask):
                    loc, scale = m._parts(domain)[0](rows if idx is None else rows.index_select(0, i))
                    pyro.sample(site, dist.Normal(loc, scale).to_event(1))
        if paired is None:
            return
        pairs = pairs.to(torch.long)
        idx = plate_subsample(subsample, "pairs")
        pair_scale = poutine.scale(scale=m.pair_scale(n_a, n_b, pairs.shape[0]))
        with pair_scale, pyro.plate("pairs", pairs.shape[0], subsample=idx, dim=-1) as j:
            batch = pairs.index_select(0, j)
            (la, sa), (lb, sb) = m.encoder(x.index_select(0, batch[:, 0])), m.encoder_b(y.index_select(0, batch[:, 1]))
            with pyro.plate("views", 2, dim=-2):
                pyro.sample("z", dist.Normal(torch.stack([la, lb]), torch.stack([sa, sb])).to_event(1))


def _paired_masks(pairs, n_a, n_b, x, y):
    """``{"a": (n_a,) bool, "b": (n_b,) bool}``: the rows of each domain that are in a pair (None without pairs)."""
    if pairs is None or x is None or y is None:
        return None
    pairs = pairs.to(torch.long)
    out = {
        "a": torch.zeros(n_a, dtype=torch.bool, device=x.device),
        "b": torch.zeros(n_b, dtype=torch.bool, device=y.device),
    }
    out["a"][pairs[:, 0]] = True
    out["b"][pairs[:, 1]] = True
    return out


def tiny_example():
    """``(model, data)``: a VBTA on 12 binary rows of 6 features in A, their reversed
    columns as 12 rows of B, and 4 pairs, for the common model tests."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(12, 6, generator=g) < 0.5).to(torch.get_default_dtype())
    pairs = torch.tensor([[0, 0], [3, 3], [5, 5], [8, 8]])
    return VBTA(6, 6, 2, hidden=(8,), shared_heads=True), {"x": x, "y": x.flip(1).contiguous(), "pairs": pairs}


register(
    ModelSpec(
        name="vbta",
        cls=VBTA,
        title="VBTA cross-domain model with triplets (Kuznetsova, Bakhteev, Ogaltsov 2018)",
        summary=(
            "two domains in one latent space from unpaired objects and a few pairs: the lecture's sum of two "
            "ELBOs with cycle-consistency and cross-domain JS triplets; translation, joint samples, retrieval"
        ),
        cli="pyrolatent.cli.vbta",
        examples={"shared": tiny_example},
    )
)
