r"""The Bernoulli triplet oracle with Jensen-Shannon distances (Karaletsos, Belongie, Rätsch [1]_).

A VAE whose latent space also explains an oracle's relative judgements
"object :math:`i` is more similar to :math:`j` than to :math:`l`". For objects
:math:`n = 1..N` and triplets :math:`(i, j, l)` in their own plate:

.. math::

    z_n &\sim p_\lambda(z), \qquad x_n \mid z_n \sim p(x \mid f_\theta(z_n))
        \qquad\text{(the VAE of } :mod:`pyrolatent.models.vae`)\\
    t_{ijl} &\sim \mathrm{Bernoulli}\Big(\frac{e^{-D_{ij}}}{e^{-D_{ij}} + e^{-D_{il}}}\Big)
        = \mathrm{Bernoulli}\big(\mathrm{logits} = s\,(D_{il} - D_{ij})\big),\\
    D_{ab} &= \sum_{h=1}^{H} w_{o,h}\; d\big(q(z_a^h),\, q(z_b^h)\big),

where :math:`d` is a distance between the per-dimension posteriors of the two
objects (:mod:`pyrolatent.components.divergences`; by default the exact
Jensen-Shannon divergence), :math:`w_o` the latent mask of the oracle
:math:`o` that answered the triplet (all ones for a single oracle; a fixed 0/1
mask per oracle for the paper's compartmentalised latent space; or learned
soft gates :math:`w_{o,h} = \sigma(\gamma_{o,h})`), and :math:`s > 0` a scale
(learned by default, or fixed). The paper's likelihood is :math:`s = 1`; a sum
of JS terms is bounded by :math:`H \ln 2`, so without a scale the
probabilities cannot approach 0 or 1. Every triplet is stored as
(anchor, positive, negative), so the observed answers are :math:`t = 1`
unless ``t`` says otherwise.

**What the distance reads.** :math:`q(z_a^h) = \mathcal N(\mu^h_\phi(x_a),
\sigma^h_\phi(x_a)^2)` are the outputs of the amortised encoder, the same
network as the default guide's. The triplet term is therefore a likelihood of
:math:`t` given the observed objects through a deterministic function of them,
:math:`p(t \mid x_i, x_j, x_l; \phi, s, w)`; it is written in the model as an
observed Bernoulli site ``"t"`` in the ``"triplets"`` plate, so the ELBO is the
VAE's ELBO plus :math:`\sum \log p(t_{ijl} \mid \cdot)`, and its gradients
reach the encoder through the distance. It does not depend on the guide passed
to :func:`~pyrolatent.inference.fit`: with another guide the distances still
come from the model's encoder. ``distance="sq_euclidean"`` uses one
reparameterised draw per object from that encoder instead.

**Why a subspace.** The exact JS of one dimension is bounded by
:math:`\ln 2` and reaches it once two means are a few posterior standard
deviations apart. A VAE's posteriors are narrow (on MNIST with 8 latent
dimensions, median :math:`\sigma \approx 0.2` against a spread of the means
of about 1.3), so most pairs of objects, similar or not, sit near the ceiling
in most dimensions and :math:`D_{il} - D_{ij}` is small and noisy. For the
oracle to read a dimension its posteriors must be broad compared with the
distances it encodes, which costs reconstruction when the same dimension also
carries the detail of the image. A fixed mask over a few dimensions
(``masks`` with zero columns: the compartmentalised space) lets those
dimensions hold the oracle's coarse structure while the others serve the
ELBO; dimensions that no mask reads are left out of the distance.

**Which distance.** The exact JS is the paper's and the default. From few
triplets it generalises poorly: a bounded per-dimension term is satisfied on
the training triplets by the widths of the objects they touch, which unseen
objects do not share. The sampled squared Euclidean distance (the paper's
fully generative variant) has no ceiling and moves the means instead. On
MNIST (latent 16, ``benchmarks/TRIPLET_RESULTS.md``) it scores 0.815 on held-out
triplets from 100 training triplets and 0.880 from 1,000 (4 oracle
dimensions), against 0.701 and 0.756 for JS on 2, within the same 5 nats of
the plain VAE's ELBO; from 10,000 the two are level (about 0.94). A mixture
prior (``prior="mixture"``) charges less KL for the clusters the oracle's
dimensions hold: with it, 6 oracle dimensions and 10,000 steps, 0.907 from
1,000 triplets (the triplet-margin network: 0.904) and 0.961 from 10,000
(0.977), within 3.2 nats of the plain VAE's ELBO. An oracle block gathers the
oracle's structure in its few dimensions, so nearest neighbours over the whole
code get worse; for neighbour search leave the mask out (at 10,000 triplets,
seeds 0 / 1: 1-NN 0.954 / 0.952 with all dimensions, level with the plain
VAE's 0.948 / 0.956, against 0.925 / 0.932 with a 6-dimension block).

Objects and triplets are minibatched independently (:meth:`plate_sizes`):
``forward(..., subsample={"data": idx, "triplets": jdx})``.

References
----------
.. [1] T. Karaletsos, S. Belongie, G. Rätsch, "Bayesian representation learning with oracle
   constraints", ICLR 2016 (arXiv:1506.05011).
.. [2] D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014.

Examples
--------
>>> from pyrolatent.data import binarize, load_digits
>>> from pyrolatent.data.triplets import make_triplet_split
>>> from pyrolatent.inference import fit
>>> split = make_triplet_split(binarize(load_digits(), seed=0), "labels:2000")
>>> model = TripletVAE(64, 4, hidden=(128,))
>>> data = {"x": split.train.x, **split.train_triplets.inputs()}
>>> result = fit(model, data, num_steps=500, lr=3e-3)  # doctest: +SKIP
>>> model.triplet_probability(split.test.x, split.test_triplets.index)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import weakref

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from pyrolatent._pyro import plate_subsample
from pyrolatent._validation import check_positive_float, check_positive_int, check_tensor, owner
from pyrolatent.components.divergences import SAMPLED_DISTANCES, draw_codes, get_distance
from pyrolatent.components.guides import AmortizedNormalGuide

from .registry import ModelSpec, register
from .vae import VAE

__all__ = ["TripletVAE", "tiny_example"]


class TripletVAE(VAE):
    r"""VAE plus the Bernoulli triplet oracle; see the module docstring for the story.

    Parameters
    ----------
    n_features, n_components
        As for :class:`~pyrolatent.models.VAE` (D and the latent size H).
    distance : {"js", "symmetric_kl", "moment_matched", "sq_euclidean"}
        The per-dimension distance :math:`d`.
    scale : float
        The scale :math:`s` of the logits: its initial value, or its value when
        ``learn_scale=False``.
    learn_scale : bool
        Learn :math:`s` (a point estimate, kept positive through its log).
    n_oracles : int
        Number of oracles (oracle ids of the triplets run from 0).
    masks : None, "learn" or array-like (n_oracles, H)
        The latent mask of each oracle: None uses all dimensions for every
        oracle; an array gives fixed non-negative weights (0/1: the oracle's
        subspace), fixed at construction (the buffer ``masks``; the dimensions
        no oracle reads are found once, then left out of every distance); ``"learn"`` learns soft gates :math:`\sigma(\gamma_{o,h})`
        that start at 1/2. Nothing pushes learned gates towards 0: they show
        which dimensions each oracle uses, they do not force a split.
    triplet_weight : float
        Weight :math:`\lambda` of the triplet log-likelihood in the objective
        (a tempered likelihood, :math:`p(t \mid \cdot)^\lambda`, applied with
        ``poutine.scale``). 1 is the paper's model; larger values let a few
        thousand triplets compete with the reconstruction of every pixel (the
        VBTA authors' code uses a weight of 10).
    **vae_kwargs
        Passed to :class:`~pyrolatent.models.VAE` (``image_shape``, ``network``,
        ``hidden``, ``activation``, ``likelihood``, ``prior``).
    """

    arviz_dims = {"z": ("latent",), "x": ("feature",), "t": ()}

    def __init__(
        self,
        n_features: int,
        n_components: int = 2,
        *,
        distance: str = "js",
        scale: float = 5.0,
        learn_scale: bool = True,
        n_oracles: int = 1,
        masks=None,
        triplet_weight: float = 1.0,
        **vae_kwargs,
    ):
        super().__init__(n_features, n_components, **vae_kwargs)
        with owner(self):
            self._init_triplets(distance, scale, learn_scale, n_oracles, masks, triplet_weight)

    def _init_triplets(self, distance, scale, learn_scale, n_oracles, masks, triplet_weight):
        self.distance = distance
        self.triplet_weight = check_positive_float("triplet_weight", triplet_weight)
        self._distance = get_distance(distance, drawn=True)
        self.learn_scale = bool(learn_scale)
        log_scale = torch.tensor(math.log(check_positive_float("scale", scale)))
        if self.learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)
        self.n_oracles = check_positive_int("n_oracles", n_oracles)
        H = self.n_components
        self.learn_masks = isinstance(masks, str) and masks == "learn"
        if self.learn_masks:
            self.gate_logits = nn.Parameter(torch.zeros(self.n_oracles, H))
        elif masks is None:
            self.register_buffer("masks", torch.ones(self.n_oracles, H))
        elif isinstance(masks, str):
            raise ValueError(
                f"The 'masks' argument of TripletVAE must be None, 'learn' or an array "
                f"(n_oracles, n_components). Got {masks!r} instead."
            )
        else:
            m = check_tensor("masks", masks, ndim=2)
            if tuple(m.shape) != (self.n_oracles, H) or bool((m < 0).any()) or bool((m.sum(1) == 0).any()):
                raise ValueError(
                    f"The 'masks' argument of TripletVAE must be a non-negative ({self.n_oracles}, {H}) "
                    f"array (n_oracles, n_components) with a non-zero row per oracle; "
                    f"got shape {tuple(m.shape)}."
                )
            self.register_buffer("masks", m.to(torch.get_default_dtype()))
        if not self.learn_masks:
            # the latent dimensions some oracle reads, found once: the training step slices the
            # distance to them without a data-dependent (host-synchronising) nonzero every step
            self.register_buffer("oracle_dims", (self.masks != 0).any(0).nonzero().squeeze(-1), persistent=False)
        self._checked_triplets = None

    def __getstate__(self):
        state = super().__getstate__()
        state["_checked_triplets"] = None
        return state

    # -- parameters --------------------------------------------------------------------
    @property
    def triplet_scale(self) -> torch.Tensor:
        """The scale :math:`s` of the logits."""
        return self.log_scale.exp()

    def oracle_masks(self) -> torch.Tensor:
        """The weights :math:`w_{o,h}` of each oracle's latent dimensions (n_oracles, H)."""
        return torch.sigmoid(self.gate_logits) if self.learn_masks else self.masks

    # -- data ----------------------------------------------------------------------------
    def _triplets(self, triplets, oracle, t, n: int, *, need_oracle: bool = True):
        """Check triplet inputs once per tensor; return them as tensors on the model's device."""
        key = tuple(None if a is None else (id(a), getattr(a, "_version", None)) for a in (triplets, oracle, t))
        cached = self._checked_triplets
        if cached is not None and cached[0] == key and cached[1]() is triplets:
            return triplets, oracle, t
        cacheable = (  # inputs that come back unchanged when the check is skipped next time
            isinstance(triplets, torch.Tensor)
            and triplets.dtype == torch.long
            and (oracle is None or (isinstance(oracle, torch.Tensor) and oracle.dtype == torch.long))
            and (t is None or (isinstance(t, torch.Tensor) and t.is_floating_point()))
        )
        idx = check_tensor("triplets", triplets, ndim=2, dtype="int").to(torch.long)
        if idx.shape[1] != 3:
            raise ValueError(
                f"The 'triplets' argument of TripletVAE must have 3 columns (anchor, positive, "
                f"negative); got shape {tuple(idx.shape)}."
            )
        bad = ((idx < 0) | (idx >= n)).any(1)
        if bool(bad.any()):
            r = int(bad.nonzero()[0])
            raise ValueError(
                f"The 'triplets' argument of TripletVAE must hold rows of 'x' in [0, {n}); "
                f"row {r} is {idx[r].tolist()}."
            )
        T = idx.shape[0]
        if oracle is not None:
            oracle = check_tensor("oracle", oracle, ndim=1, dtype="int").to(torch.long)
            if oracle.shape[0] != T or bool(((oracle < 0) | (oracle >= self.n_oracles)).any()):
                raise ValueError(
                    f"The 'oracle' argument of TripletVAE must hold one id in [0, {self.n_oracles}) "
                    f"per triplet ({T}); got shape {tuple(oracle.shape)}, values "
                    f"{sorted(set(oracle.tolist()))[:10]}."
                )
        elif self.n_oracles > 1 and need_oracle:
            raise ValueError(f"The 'oracle' argument of TripletVAE is needed with n_oracles = {self.n_oracles}.")
        if t is not None:
            t = check_tensor("t", t, ndim=1)
            if t.shape[0] != T or bool(((t != 0) & (t != 1)).any()):
                raise ValueError(
                    f"The 't' argument of TripletVAE must hold one answer in {{0, 1}} per triplet "
                    f"({T}); got shape {tuple(t.shape)}."
                )
        if cacheable and need_oracle:
            self._checked_triplets = (key, weakref.ref(triplets))
        return idx, oracle, t

    def plate_sizes(self, x=None, triplets=None, **inputs) -> dict[str, int]:
        """Full size of each plate: ``{"data": N, "triplets": T}`` (only ``"data"`` without triplets)."""
        sizes = {"data": self.check_data(x, inputs.get("n_samples"))[1]}
        if triplets is not None:
            sizes["triplets"] = int(triplets.shape[0])
        return sizes

    # -- the model -----------------------------------------------------------------------
    def forward(self, x=None, triplets=None, oracle=None, t=None, subsample=None, *, n_samples=None):
        """Run the generative story: the VAE over ``x`` and, with ``triplets`` (T, 3),
        the observed answers ``t`` (default all ones) in the ``"triplets"`` plate."""
        triplet_idx = plate_subsample(subsample, "triplets")
        x_checked, n = self.check_data(x, n_samples)
        out = super().forward(x_checked, subsample, n_samples=n_samples)
        if triplets is None:
            return out
        if x_checked is None:
            raise ValueError(
                "The 'x' argument of TripletVAE is needed with 'triplets': the distances are "
                "computed from the encoder's posteriors of the objects."
            )
        idx, oracle, t = self._triplets(triplets, oracle, t, n)
        with pyro.plate("triplets", idx.shape[0], subsample=triplet_idx, dim=-1) as j:
            batch = idx if triplet_idx is None else idx.index_select(0, j)
            who = None if oracle is None else (oracle if triplet_idx is None else oracle.index_select(0, j))
            logits = self.triplet_logits(x_checked, batch, who)
            obs = torch.ones_like(logits) if t is None else (t if triplet_idx is None else t.index_select(0, j))
            with poutine.scale(scale=self.triplet_weight):
                pyro.sample("t", dist.Bernoulli(logits=logits), obs=obs.to(logits.dtype))
        return out

    def check_inputs(self, x=None, triplets=None, oracle=None, t=None, **inputs) -> None:
        """Check the data and the triplets before the first traced step."""
        x, n = self.check_data(x)
        if triplets is not None:
            self._triplets(triplets, oracle, t, n)

    def default_guide(self) -> AmortizedNormalGuide:
        """The amortised diagonal normal guide on this model's encoder (it ignores the triplets)."""
        return AmortizedNormalGuide(self)

    # -- distances -----------------------------------------------------------------------
    def triplet_distances(self, x, triplets, oracle=None, *, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(D_ij, D_il)`` (T,) for rows ``x`` (n, D) and triplets (T, 3) of row ids.

        ``mask`` (H,) replaces the oracles' masks (e.g. to score an oracle on
        another oracle's subspace); by default triplet k uses ``oracle[k]``'s mask.
        With ``distance="sq_euclidean"`` each object of a triplet is drawn once
        (the anchor's one draw enters both distances).
        """
        return self._weighted_distances(*self._triplet_posteriors(x, triplets, oracle, mask))

    def _triplet_posteriors(self, x, triplets, oracle, mask):
        """Encoder outputs ``(loc, scale)`` (T, 3, H') and weights ``w`` (T, H') of the
        triplets, restricted to the dimensions some weight reads."""
        T = triplets.shape[0]
        loc, scale = self.encoder(x.index_select(0, triplets.reshape(-1)))
        loc, scale = loc.reshape(T, 3, -1), scale.reshape(T, 3, -1)
        if mask is not None:
            w = torch.as_tensor(mask, dtype=loc.dtype, device=loc.device).expand(T, loc.shape[-1])
            used = (w[0] != 0).nonzero().squeeze(-1)  # an explicit mask is for evaluation, not the training step
        else:
            masks = self.oracle_masks()
            w = masks[0].expand(T, -1) if oracle is None else masks.index_select(0, oracle)
            used = None if self.learn_masks else self.oracle_dims
        if used is not None and used.numel() < loc.shape[-1]:
            # dimensions that no weight reads are left out of the (costly) distance
            loc, scale, w = loc.index_select(-1, used), scale.index_select(-1, used), w.index_select(-1, used)
        return loc, scale, w

    def _weighted_distances(self, loc, scale, w):
        loc, scale = draw_codes(self.distance, loc, scale)  # a sampled distance: one code per object
        d_ij = self._distance(loc[:, 0], scale[:, 0], loc[:, 1], scale[:, 1])
        d_il = self._distance(loc[:, 0], scale[:, 0], loc[:, 2], scale[:, 2])
        return (d_ij * w).sum(-1), (d_il * w).sum(-1)

    def triplet_logits(self, x, triplets, oracle=None) -> torch.Tensor:
        """Logits :math:`s (D_{il} - D_{ij})` of :math:`t_{ijl} = 1` (T,)."""
        d_ij, d_il = self.triplet_distances(x, triplets, oracle)
        return self.triplet_scale * (d_il - d_ij)

    @torch.no_grad()
    def triplet_probability(self, x, triplets, oracle=None, *, mask=None, num_samples: int = 100) -> torch.Tensor:
        r"""Model probability that each anchor is closer to its positive (T,), for data rows
        ``x`` and triplets of row ids; ``mask`` as in :meth:`triplet_distances`.

        With the sampled distance (``"sq_euclidean"``) the probability is
        :math:`p(t = 1 \mid x) = \mathbb E_\varepsilon\,\sigma\big(s (D_{il} - D_{ij})\big)`
        over the draws of the codes, estimated with ``num_samples`` draws (from
        torch's global generator); the other distances are deterministic and
        ignore ``num_samples``.
        """
        x, _ = self.check_data(x)
        x = x.to(self._device())
        n = x.shape[0]
        idx, oracle, _ = self._triplets(triplets, oracle, None, n, need_oracle=mask is None)
        idx = idx.to(x.device)
        oracle = None if oracle is None else oracle.to(x.device)
        posteriors = self._triplet_posteriors(x, idx, oracle, mask)
        draws = check_positive_int("num_samples", num_samples) if self.distance in SAMPLED_DISTANCES else 1
        p = 0.0
        for _ in range(draws):
            d_ij, d_il = self._weighted_distances(*posteriors)
            p = p + torch.sigmoid(self.triplet_scale * (d_il - d_ij))
        return (p / draws).cpu()


def tiny_example():
    """``(model, data)``: a TripletVAE on 12 random binary rows of 6 features and 10
    triplets, for the common model tests."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(12, 6, generator=g) < 0.5).to(torch.get_default_dtype())
    triplets = torch.stack([torch.randperm(12, generator=g)[:3] for _ in range(10)])
    return TripletVAE(6, 2, hidden=(8,)), {"x": x, "triplets": triplets}


register(
    ModelSpec(
        name="triplet",
        cls=TripletVAE,
        title="Bernoulli triplet oracle with JS distances (Karaletsos, Belongie, Rätsch 2016)",
        summary=(
            "a VAE whose latent space also explains relative judgements (i closer to j than to l) from labels, "
            "an attribute or a file; exact JS, symmetrised KL, moment-matched or sampled distances; several "
            "oracles with fixed or learned latent masks"
        ),
        cli="pyrolatent.cli.triplet",
        examples={"js": tiny_example},
    )
)
