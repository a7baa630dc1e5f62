r"""GraphVAE: the arch2vec graph variational autoencoder of neural architecture cells.

Generative story for cell :math:`n` with :math:`N` nodes, :math:`T` node types
and a :math:`K`-dimensional code per node [1]_:

.. math::

    z_{n,i} &\sim \mathcal N(0, I_K), \qquad i = 1..N,

    x_{n,i} \mid z &\sim \mathrm{Categorical}\big(\mathrm{softmax}(W z_{n,i} + b)\big)
        \quad\text{(operation of node } i\text{)},

    A_{n,ij} \mid z &\sim \mathrm{Bernoulli}\big(\sigma(z_{n,i}^\top z_{n,j})\big)
        \quad\text{(inner-product decoder)},

where :math:`A` is the undirected adjacency with self-loops,
:math:`\min(A^{\rightarrow} + A^{\rightarrow\top} + I, 1)`, of the directed cell
graph :math:`A^{\rightarrow}` (the inner product is symmetric; the decoded
directed graph is the upper triangle, the nodes being in topological order).
The guide is a GIN encoder giving a Gaussian per node,
:math:`q(z_{n,i} \mid X_n, A_n) = \mathcal N(\mu_i, \mathrm{diag}\,\sigma_i^2)`.
An architecture's embedding is the mean of its node means,
:math:`\bar\mu_n = \frac1N \sum_i \mu_{n,i}`.

Data enter as a mapping ``{"ops": (n, N) long, "adj": (n, N, N) float}``
(``NASBench201.graph_data()``), through the ``"data"`` plate; or, for cells that
share one graph (NAS-Bench-201), as ``x``, the flattened one-hot matrix
``(n, N * T)`` of :func:`~pyrolatent.data.load_dataset` ``("nasbench201:PATH")``,
with the graph given once as the model's ``adjacency``.

References
----------
.. [1] S. Yan, Y. Zheng, W. Ao, X. Zeng, M. Zhang, "Does Unsupervised
   Architecture Representation Learning Help Neural Architecture Search?",
   NeurIPS 2020, sec. 3 and table 1.
"""

from __future__ import annotations

import contextlib
import weakref

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import PyroModule
from torch import nn

from pyrolatent._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_probability,
    check_tensor,
    owned,
    owner,
)
from pyrolatent.components.graph import NORMS, GINEncoder, undirected
from pyrolatent.models.base import LatentModel
from pyrolatent.models.registry import ModelSpec, register

__all__ = ["GraphVAE", "GraphVAEGuide", "pretraining_metrics", "tiny_example", "tiny_graphs"]


@owned
class GraphVAE(LatentModel):
    """The arch2vec graph VAE (see the module docstring for the generative story).

    Parameters
    ----------
    n_nodes : int
        Nodes per graph (8 for NAS-Bench-201 in the arch2vec encoding).
    n_types : int
        Node types (7).
    latent_dim : int
        Code dimension per node (16 in arch2vec).
    hidden : int
        Width of the GIN layers (128).
    n_layers : int
        GIN layers.
    beta : float
        Weight of the KL term: the sample site ``z`` is scaled by ``beta`` in model and guide
        (``poutine.scale``), so the ELBO becomes :math:`\\mathbb E_q \\log p(X, A \\mid z) -
        \\beta\\,\\mathrm{KL}(q \\,\\|\\, p)`. arch2vec's loss [1]_ averages the operation BCE over
        the :math:`B N T` entries of a minibatch of :math:`B` cells (:math:`T` sigmoid outputs per
        node), the adjacency BCE over the :math:`B N^2` entries, and divides its KL (averaged over
        the :math:`B N` nodes) by :math:`B N` once more. Counting a node's :math:`T` BCE terms as its
        operation term (our categorical), the KL weighs :math:`T / (B N) = 7 / (32 \\cdot 8)
        \\approx 0.027` at the paper's batch of 32. With ``beta = 1`` the inner-product decoder's
        posterior collapses to :math:`\\mu = 0` early in training (every edge probability 1/2);
        0.027 trained with seed 0 (and gave BO its best CIFAR-100 result) but collapsed with seed
        1, so the default stays at 0.01 (seed 0 trained in both pre-trainings made with it; other
        seeds untried; ``benchmarks/NAS_RESULTS.md``). A collapsed fit shows as a reconstruction accuracy of 0.
    adjacency_weight : float, optional
        Scale of the adjacency log-likelihood (``poutine.scale`` on site ``A``). None (default)
        weighs an adjacency entry :math:`1/N` relative to a node's operation term, what arch2vec's
        loss gives when a node's operation term is one averaged cross-entropy. (The reading that
        gives ``beta = 0.027`` gives :math:`T/N = 7/8` here, with which this fit collapses as
        with weight 1; so the two defaults come from two readings of the authors' loss, chosen
        because each trains.) With weight 1 the fit sits on the saddle
        :math:`z = 0` (every edge 1/2, every operation uniform) for hundreds of steps.
        The authors' code applies its adjacency BCE to the strict upper triangle only (the
        diagonal and lower triangle are zeroed before the loss), where this model's target is
        the symmetric graph with self-loops (each edge counted twice, the diagonal pushed to 1);
        ``benchmarks/nas_table1.py`` trains their target for comparison.
    adjacency : torch.Tensor, optional
        The graph shared by all cells, used when the data come as ``x`` (default: NAS-Bench-201's).
    decoder_dropout : float
        Dropout probability on the codes before both decoders, in training mode only
        (``model.train()``; ``model.eval()`` turns it off, and :meth:`decode` never applies it).
        arch2vec's decoder drops its codes with :math:`p = 0.3` [1]_; the default 0 keeps the
        likelihood the generative story above.
    norm : {"layer", "batch"}
        Normalisation inside the GIN encoder (:class:`~pyrolatent.components.graph.GINEncoder`):
        ``"layer"`` (default) a layer norm per node, ``"batch"`` GIN's batch norm over all nodes of
        the minibatch [1]_, as arch2vec's encoder. With ``"batch"`` the encoder depends on the
        module mode: batch statistics (and running-statistics updates) under ``model.train()``,
        the running statistics under ``model.eval()``, which :meth:`node_means`, :meth:`embed`
        (hence :func:`pretraining_metrics`) switch to themselves, and back. arch2vec's code leaves its model in eval mode from the
        second epoch on, so its batch norms normalise with the statistics frozen at the end of
        epoch 1; ``pretrain_graphvae(..., posterior="delta", gaussian_epochs=1)`` does the same
        (it calls ``model.eval()`` after the first epoch).

    Examples
    --------
    >>> model, data = tiny_example()
    >>> from pyrolatent.inference import fit
    >>> result = fit(model, data, num_steps=5, progress=False)  # doctest: +SKIP
    >>> model.embed(data["ops"], data["adj"]).shape  # doctest: +SKIP
    torch.Size([6, 16])
    """

    def __init__(
        self,
        n_nodes: int = 8,
        n_types: int = 7,
        latent_dim: int = 16,
        hidden: int = 128,
        n_layers: int = 5,
        beta: float = 0.01,
        adjacency_weight: float | None = None,
        adjacency: torch.Tensor | None = None,
        decoder_dropout: float = 0.0,
        norm: str = "layer",
    ):
        super().__init__()
        self.decoder_dropout = check_probability("decoder_dropout", decoder_dropout)
        self.beta = check_positive_float("beta", beta)
        self.adjacency_weight = (
            1.0 / n_nodes if adjacency_weight is None else check_positive_float("adjacency_weight", adjacency_weight)
        )
        self.n_nodes = check_positive_int("n_nodes", n_nodes)
        self.n_types = check_positive_int("n_types", n_types)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.norm = check_choice("norm", norm, NORMS)
        self.encoder = GINEncoder(n_types, latent_dim, hidden, n_layers, norm=norm)
        self.op_decoder = nn.Linear(latent_dim, n_types)
        if adjacency is None:
            from pyrolatent.data.nasbench import ADJACENCY

            adjacency = ADJACENCY if n_nodes == ADJACENCY.shape[0] else torch.zeros(n_nodes, n_nodes)
        adjacency = check_tensor("adjacency", adjacency, ndim=2)
        if adjacency.shape != (n_nodes, n_nodes):
            raise ValueError(
                f"The 'adjacency' argument of GraphVAE must have shape ({n_nodes}, {n_nodes}); "
                f"got {tuple(adjacency.shape)}."
            )
        self.register_buffer("adjacency", adjacency.clone())

    def __getstate__(self):  # the data-check cache holds weak references
        state = dict(self.__dict__)
        state["_checked"] = None
        return state

    def _inputs(self, ops, adj, x):
        """``(ops, adj)`` from either form of the data (``x``: flattened one-hot, shared graph).

        The values are checked once per input tensor (by identity and version),
        not at every step: a check reads values back from the device."""
        given = (ops, adj, x)
        key = tuple((t._version, weakref.ref(t)) if isinstance(t, torch.Tensor) else None for t in given)
        cached = getattr(self, "_checked", None)
        if cached is not None and all(_same(k, c, t) for k, c, t in zip(key, cached, given, strict=True)):
            return self._derive(ops, adj, x)
        out = self._derive(ops, adj, x, check=True)
        self._checked = key
        return out

    def _derive(self, ops, adj, x, check: bool = False):
        if x is not None:
            if check:
                x = check_tensor("x", x, ndim=2)
            if x.shape[1] != self.n_nodes * self.n_types:
                raise ValueError(
                    f"The 'x' argument of GraphVAE must have {self.n_nodes * self.n_types} columns "
                    f"(n_nodes x n_types one-hot); got shape {tuple(x.shape)}."
                )
            ops = x.view(-1, self.n_nodes, self.n_types).argmax(-1)
            adj = self.adjacency.to(x.dtype).expand(x.shape[0], -1, -1)
        if ops is None:
            return None, None
        if adj is None:
            adj = self.adjacency.expand(ops.shape[0], -1, -1)
        return self._check(ops, adj) if check else (ops, adj)

    def _check(self, ops, adj):
        ops = check_tensor("ops", ops, ndim=2, dtype="int")
        adj = check_tensor("adj", adj, ndim=3)
        n, nodes = ops.shape
        if nodes != self.n_nodes or adj.shape != (n, nodes, nodes):
            raise ValueError(
                f"The 'ops' and 'adj' arguments of GraphVAE must have shapes (n, {self.n_nodes}) and "
                f"(n, {self.n_nodes}, {self.n_nodes}); got {tuple(ops.shape)} and {tuple(adj.shape)}."
            )
        if int(ops.min()) < 0 or int(ops.max()) >= self.n_types:
            raise ValueError(
                f"The 'ops' argument of GraphVAE must hold node types in [0, {self.n_types}); got values in "
                f"[{int(ops.min())}, {int(ops.max())}]."
            )
        return ops, adj

    def plate_sizes(self, x=None, ops=None, adj=None, **inputs) -> dict[str, int]:
        """``{"data": number of cells}``, from ``x`` or ``ops``."""
        rows = x if x is not None else ops
        if rows is None:
            raise ValueError("The 'x' (or 'ops') argument of GraphVAE is needed to size the 'data' plate; got None.")
        return {"data": int(rows.shape[0])}

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Operation logits ``(..., N, T)`` and adjacency logits ``(..., N, N)`` of codes ``z`` ``(..., N, K)``."""
        return self.op_decoder(z), z @ z.transpose(-1, -2)

    def forward(self, ops=None, adj=None, subsample=None, *, x=None, n_samples: int = 1):
        ops, adj = self._inputs(ops, adj, x)
        if ops is not None:
            n = ops.shape[0]
        else:
            n = check_positive_int("n_samples", n_samples)
        device = self.op_decoder.weight.device
        with pyro.plate("data", n, subsample=subsample, dim=-1) as idx:
            prior = dist.Normal(torch.zeros((), device=device), torch.ones((), device=device))
            with poutine.scale(scale=self.beta):
                z = pyro.sample("z", prior.expand([len(idx), self.n_nodes, self.latent_dim]).to_event(2))
            dropped = z
            if self.decoder_dropout > 0 and self.training:
                dropped = nn.functional.dropout(z, p=self.decoder_dropout, training=True)
            op_logits, adj_logits = self.decode(dropped)
            target_ops = None if ops is None else ops.index_select(0, idx)
            target_adj = None
            if adj is not None:
                eye = torch.eye(self.n_nodes, dtype=adj.dtype, device=adj.device)
                target_adj = (undirected(adj.index_select(0, idx)) + eye).clamp(max=1.0)
            pyro.sample("x", dist.Categorical(logits=op_logits).to_event(1), obs=target_ops)
            with poutine.scale(scale=self.adjacency_weight):
                pyro.sample("A", dist.Bernoulli(logits=adj_logits).to_event(2), obs=target_adj)
        return z

    def default_guide(self) -> GraphVAEGuide:
        return GraphVAEGuide(self)

    def posterior(self, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Node means and scales ``(n, N, K)`` of :math:`q(z \\mid X, A)`."""
        # one-hot by comparison: ``one_hot`` reads the values back to check their range (checked once in _inputs)
        x = (ops.unsqueeze(-1) == torch.arange(self.n_types, device=ops.device)).to(adj.dtype)
        return self.encoder(x, adj)

    @torch.no_grad()
    def node_means(self, ops, adj) -> torch.Tensor:
        """Node means ``(n, N, K)`` of :math:`q(z \\mid X, A)` (the encoder, which the model holds),
        computed in eval mode (with ``norm="batch"``: the running statistics, which stay as they are)."""
        ops, adj = self._check(ops, adj)
        with _eval_mode(self):
            return self.posterior(ops, adj)[0]

    @torch.no_grad()
    def encode(self, x, guide=None) -> torch.Tensor:
        """The hook: arch2vec embedding ``(n, K)`` (mean of the node means) of cells given as ``x``,
        the flattened one-hot ``(n, N * T)`` on the model's shared graph. The default guide is
        the model's encoder; another ``guide`` is not supported."""
        ops, adj = self._inputs(None, None, x)
        return self.embed(ops, adj)

    @torch.no_grad()
    def embed(self, ops, adj, *, batch_size: int = 4096) -> torch.Tensor:
        """arch2vec embedding: the mean of the node means, ``(n, K)``, computed in eval mode (as
        :meth:`node_means`), so each cell's embedding does not depend on the batch it is in."""
        ops, adj = self._check(ops, adj)
        with _eval_mode(self):
            parts = [
                self.posterior(ops[i : i + batch_size], adj[i : i + batch_size])[0].mean(1)
                for i in range(0, ops.shape[0], batch_size)
            ]
        return torch.cat(parts)

    @torch.no_grad()
    def reconstruct_graph(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode codes ``(n, N, K)`` to node types ``(n, N)`` (argmax) and a directed adjacency
        ``(n, N, N)``: the strict upper triangle of :math:`\\sigma(z z^\\top) > 1/2`."""
        op_logits, adj_logits = self.decode(z)
        adj = (adj_logits > 0).to(z.dtype).triu(diagonal=1)
        return op_logits.argmax(-1), adj


@contextlib.contextmanager
def _eval_mode(module: nn.Module):
    """Put ``module`` in eval mode for the block, then back in the mode it was in."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class GraphVAEGuide(PyroModule):
    """The default guide: :math:`q(z_n \\mid X_n, A_n) = \\prod_i \\mathcal N(\\mu_i, \\mathrm{diag}\\,\\sigma_i^2)`
    from the model's GIN encoder (the model holds its parameters).

    Parameters
    ----------
    model : GraphVAE
    posterior : {"normal", "delta"}
        ``"normal"`` (default): the Gaussian above. ``"delta"``: a point estimate at the encoder
        mean, :math:`q(z_n) = \\delta(z_n - \\mu)`, whose entropy term is zero, so the (scaled)
        ELBO becomes :math:`\\log p(X, A \\mid z = \\mu) - \\tfrac{\\beta}{2} \\lVert\\mu\\rVert^2`
        up to a constant: a deterministic autoencoder with an L2 penalty on the codes. This is
        what arch2vec's pre-training code trains after its first epoch [1]_ (its validity check
        puts the model in eval mode and nothing puts it back, so its reparameterisation returns
        the mean); see ``benchmarks/NAS_RESULTS.md``. The attribute may be changed between steps.
    """

    def __init__(self, model: GraphVAE, posterior: str = "normal"):
        super().__init__()
        if not isinstance(model, GraphVAE):
            raise TypeError(f"The 'model' argument of GraphVAEGuide must be a GraphVAE. Got {type(model).__name__}.")
        self._model = (model,)
        self.posterior = posterior

    @property
    def posterior(self) -> str:
        return self._posterior

    @posterior.setter
    def posterior(self, value: str) -> None:
        with owner(self):
            self._posterior = check_choice("posterior", value, ("normal", "delta"))

    def forward(self, ops=None, adj=None, subsample=None, *, x=None, n_samples: int = 1):
        model = self._model[0]
        ops, adj = model._inputs(ops, adj, x)
        if ops is None:
            raise ValueError("The 'ops' (or 'x') argument of GraphVAEGuide must be the data; got None.")
        with pyro.plate("data", ops.shape[0], subsample=subsample, dim=-1) as idx:
            loc, scale = model.posterior(ops.index_select(0, idx), adj.index_select(0, idx))
            with poutine.scale(scale=model.beta):
                if self._posterior == "delta":
                    return pyro.sample("z", dist.Delta(loc, event_dim=2))
                return pyro.sample("z", dist.Normal(loc, scale).to_event(2))


@torch.no_grad()
def pretraining_metrics(
    model: GraphVAE,
    ops: torch.Tensor,
    adj: torch.Tensor,
    train_idx: torch.Tensor,
    test_idx: torch.Tensor,
    *,
    num_samples: int = 10000,
    seed: int = 0,
    draw_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict:
    """arch2vec's table 1 figures (percent) of a pre-trained :class:`GraphVAE` [1]_.

    - **reconstruction accuracy**: share of held-out cells (``test_idx``) whose
      node types and directed adjacency are both decoded exactly from their node means;
    - **validity**: share of ``num_samples`` codes :math:`z = \\mu + \\sigma \\odot \varepsilon`,
      :math:`\varepsilon \\sim \\mathcal N(0, I)`, with :math:`\\mu, \\sigma` the mean and sd (per
      node and dimension) of the training cells' node means, that decode to a valid cell:
      input first, output last, an edge operation on every other node, and the adjacency
      of the training cells (NAS-Bench-201's graph is fixed);
    - **uniqueness**: share of distinct cells among the valid decoded ones.

    The authors' code (``is_valid_nasbench201`` of arch2vec's ``utils.py``, which gave
    the paper's 79.41 / 98.72) is looser, and is reported beside as ``validity_arch2vec``
    and ``uniqueness_arch2vec``: a draw is valid when node 0 decodes to the input,
    the last node to the output and nodes 2 .. N-2 to edge operations (node 1 is not
    checked, the check's loop starting at index 2, and the decoded adjacency is not
    checked at all); uniqueness counts distinct (adjacency, node types) pairs among
    those valid draws (their graph hash; here the exact pair, which never merges
    more than the isomorphism-invariant hash does).

    ``draw_stats``, a pair ``(mu, sigma)`` of shape ``(N, K)`` each, replaces the mean and sd of
    the training cells' node means in the draws (arch2vec's code takes them from the node means
    of the last training epoch's minibatches, while the model still changes); the default
    (``None``) computes them with the final encoder.

    Returns ``{"reconstruction_accuracy", "validity", "uniqueness", "validity_arch2vec",
    "uniqueness_arch2vec"}``.
    """
    ops, adj = model._check(ops, adj)
    mu_test = model.node_means(ops[test_idx], adj[test_idx])
    rec_ops, rec_adj = model.reconstruct_graph(mu_test)
    exact = (rec_ops == ops[test_idx]).all(-1) & (rec_adj == adj[test_idx]).all(-1).all(-1)
    if draw_stats is None:
        mu_train = torch.cat([model.node_means(ops[i], adj[i]) for i in train_idx.split(4096)])
        loc, scale = mu_train.mean(0), mu_train.std(0)
    else:
        shape = (model.n_nodes, model.latent_dim)
        got = (
            [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in draw_stats]
            if isinstance(draw_stats, (tuple, list))
            else repr(draw_stats)
        )
        if got != [shape, shape]:
            raise ValueError(
                f"The 'draw_stats' argument of pretraining_metrics must be a pair of tensors of shape {shape} "
                f"(the mean and sd of the node means); got {got}."
            )
        loc, scale = (t.detach().to(mu_test) for t in draw_stats)
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn((num_samples, *loc.shape), generator=generator, dtype=loc.dtype).to(loc.device)
    dec_ops, dec_adj = model.reconstruct_graph(loc + scale * eps)
    reference = adj[train_idx[0]]
    last = model.n_types - 1
    valid = (
        (dec_ops[:, 0] == 0)
        & (dec_ops[:, -1] == last)
        & ((dec_ops[:, 1:-1] > 0) & (dec_ops[:, 1:-1] < last)).all(-1)
        & (dec_adj == reference).all(-1).all(-1)
    )
    n_valid = int(valid.sum())
    unique = torch.unique(dec_ops[valid], dim=0).shape[0] if n_valid else 0
    loose = (
        (dec_ops[:, 0] == 0) & (dec_ops[:, -1] == last) & ((dec_ops[:, 2:-1] > 0) & (dec_ops[:, 2:-1] < last)).all(-1)
    )
    n_loose = int(loose.sum())
    pairs = torch.cat([dec_ops[loose].to(dec_adj.dtype), dec_adj[loose].flatten(1)], dim=1)
    unique_loose = torch.unique(pairs, dim=0).shape[0] if n_loose else 0
    return {
        "reconstruction_accuracy": 100.0 * float(exact.float().mean()),
        "validity": 100.0 * n_valid / num_samples,
        "uniqueness": 100.0 * unique / n_valid if n_valid else float("nan"),
        "validity_arch2vec": 100.0 * n_loose / num_samples,
        "uniqueness_arch2vec": 100.0 * unique_loose / n_loose if n_loose else float("nan"),
    }


def tiny_graphs() -> tuple[GraphVAE, dict]:
    """A small GraphVAE and six NAS-Bench-201-like cells as the mapping ``{"ops", "adj"}``."""
    from pyrolatent.data.nasbench import ADJACENCY

    generator = torch.Generator().manual_seed(0)
    edge_ops = torch.randint(5, (6, 6), generator=generator)
    ops = torch.cat([torch.zeros(6, 1, dtype=torch.long), edge_ops + 1, torch.full((6, 1), 6)], dim=1)
    adj = ADJACENCY.to(torch.get_default_dtype()).expand(6, 8, 8).clone()
    return GraphVAE(n_nodes=8, n_types=7, latent_dim=4, hidden=16, n_layers=2), {"ops": ops, "adj": adj}


def tiny_example():
    """A small GraphVAE and six NAS-Bench-201-like cells as a :class:`~pyrolatent.data.Dataset`
    (``x`` = flattened one-hot, the graph shared), for the common model tests."""
    from pyrolatent.data import Dataset

    model, data = tiny_graphs()
    x = nn.functional.one_hot(data["ops"], model.n_types).to(torch.get_default_dtype()).reshape(6, -1)
    return model, Dataset(x, name="nasbench201-tiny")


register(
    ModelSpec(
        name="graphvae",
        cls=GraphVAE,
        title="Graph VAE of architecture cells, arch2vec (Yan et al. 2020)",
        summary="GIN encoder, per-node Gaussian codes, inner-product adjacency and operation decoders",
        cli="pyrolatent.cli.graphvae",
        examples={"nasbench201": tiny_example},
    )
)


def _same(key, cached, tensor) -> bool:
    """Whether ``tensor`` is the object (at the version) that ``cached`` remembers."""
    if key is None or cached is None:
        return key is None and cached is None
    return cached[0] == key[0] and cached[1]() is tensor
