"""Where the searches look: a pre-trained GraphVAE embedding, or the ablation's unlearned spaces.

- :func:`pretrain_graphvae` — arch2vec pre-training (90 % of the cells, batch 32, Adam 1e-3,
  10 epochs, no labels) through :func:`pyrolatent.inference.fit`, then table 1 figures and the
  embedding (mean of node means) of every cell.
- :func:`onehot_features`, :func:`random_projection` — the raw one-hot encoding and a Gaussian
  random projection of it to the latent size: the same BO on a space that was not learned.
- :func:`save_embedding`, :func:`load_embedding` — the folder a pre-training writes and a search reads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from pyrolatent._validation import check_choice, check_positive_int, owner
from pyrolatent.inference.callbacks import Callback

__all__ = [
    "load_embedding",
    "onehot_features",
    "pretrain_graphvae",
    "random_projection",
    "save_embedding",
    "scale_features",
]

EMBEDDING_FILE = "embedding.pt"


def onehot_features(table) -> torch.Tensor:
    """The flattened arch2vec one-hot matrix of every cell, ``(n, 56)``."""
    return table.one_hot().reshape(table.n_cells, -1)


def random_projection(table, dim: int = 16, seed: int = 0) -> torch.Tensor:
    """A Gaussian random projection of the one-hot encoding to ``dim`` dimensions, ``(n, dim)``."""
    dim = check_positive_int("dim", dim)
    x = onehot_features(table)
    generator = torch.Generator().manual_seed(seed)
    return x @ (torch.randn(x.shape[1], dim, generator=generator, dtype=x.dtype) / x.shape[1] ** 0.5)


def scale_features(features: torch.Tensor, how: str = "none") -> torch.Tensor:
    r"""Standardise or whiten the features of every cell, over the whole space.

    With the mean :math:`m` and covariance :math:`C = V \Lambda V^\top` of the rows of
    ``features`` (ddof 1):

    - ``"none"``: unchanged;
    - ``"standardize"``: :math:`(x - m) / \sqrt{\operatorname{diag} C}` per column;
    - ``"whiten"``: PCA whitening :math:`\Lambda^{-1/2} V^\top (x - m)`, so that the rows have
      identity covariance and the columns are the principal axes (directions of variance below
      ``1e-8`` times the largest are dropped).

    Columns of zero variance are left centred and unscaled by ``"standardize"``.
    """
    with owner("scale_features"):
        how = check_choice("how", how, ("none", "standardize", "whiten"))
    if how == "none":
        return features
    centred = features - features.mean(0)
    if how == "standardize":
        scale = centred.std(0)
        return centred / torch.where(scale > 1e-12, scale, torch.ones_like(scale))
    cov = centred.T @ centred / (features.shape[0] - 1)
    eigval, eigvec = torch.linalg.eigh(cov)
    keep = eigval > 1e-8 * eigval.max()
    eigval, eigvec = eigval[keep].flip(0), eigvec[:, keep].flip(1)  # largest variance first
    return centred @ eigvec / eigval.sqrt()


def pretrain_graphvae(
    table,
    *,
    num_epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    latent_dim: int = 16,
    hidden: int = 128,
    n_layers: int = 5,
    beta: float = 0.01,
    adjacency_weight: float | None = None,
    test_fraction: float = 0.1,
    split: str = "random",
    posterior: str = "normal",
    gaussian_epochs: int = 0,
    decoder_dropout: float = 0.0,
    clip_norm: float | None = None,
    model=None,
    callbacks=(),
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Pre-train a :class:`~pyrolatent.models.graph_vae.GraphVAE` on the cells of ``table``, without labels.

    ``beta``, ``adjacency_weight`` and ``decoder_dropout`` are options of
    :class:`~pyrolatent.models.graph_vae.GraphVAE`, ``posterior`` (``"normal"`` or ``"delta"``)
    that of :class:`~pyrolatent.models.graph_vae.GraphVAEGuide`. With ``posterior="delta"``,
    the first ``gaussian_epochs`` epochs train the Gaussian guide with the model in training
    mode; then the guide becomes the point estimate and the model goes to eval mode (decoder
    dropout off). ``posterior="delta", gaussian_epochs=1, decoder_dropout=0.3`` is what
    arch2vec's pre-training code effectively runs (``benchmarks/NAS_RESULTS.md``).
    ``clip_norm`` clips the gradient norm (:func:`~pyrolatent.inference.fit`). ``model``, a
    :class:`~pyrolatent.models.graph_vae.GraphVAE` (or a subclass) built by the caller,
    is pre-trained instead of the one the model options above describe (they are then unused).
    ``split``: ``"random"`` (default) holds out a random ``test_fraction`` of the cells (a permutation
    drawn with ``seed``), ``"first"`` trains on the first ``1 - test_fraction`` of the table's rows
    and holds out the rest, as arch2vec's code does with NAS-Bench-201's indices.
    ``callbacks`` (:class:`~pyrolatent.inference.Callback` objects) are passed on to
    :func:`~pyrolatent.inference.fit` after the schedule's own.
    Returns ``{"model", "result", "metrics", "embedding" (n, latent_dim), "train_idx",
    "test_idx", "seconds"}``.
    """
    from pyrolatent._pyro import seeded
    from pyrolatent._validation import check_choice, owner
    from pyrolatent.inference import fit
    from pyrolatent.models.graph_vae import GraphVAE, GraphVAEGuide, pretraining_metrics

    with owner("pretrain_graphvae"):
        num_epochs = check_positive_int("num_epochs", num_epochs)
        posterior = check_choice("posterior", posterior, ("normal", "delta"))
        gaussian_epochs = check_positive_int("gaussian_epochs", gaussian_epochs, minimum=0)
        split = check_choice("split", split, ("random", "first"))
    if gaussian_epochs and (posterior != "delta" or gaussian_epochs >= num_epochs):
        raise ValueError(
            "The 'gaussian_epochs' argument of pretrain_graphvae must be 0, or with posterior='delta' "
            f"fewer than num_epochs ({num_epochs}); got {gaussian_epochs} with posterior={posterior!r}."
        )

    data = table.graph_data()
    n = table.n_cells
    n_test = round(test_fraction * n)
    if split == "first":
        train_idx, test_idx = torch.arange(n - n_test), torch.arange(n - n_test, n)
    else:
        generator = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=generator)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    train = {k: v[train_idx] for k, v in data.items()}
    if model is None:
        with seeded(seed):  # the initial weights too: without it two pre-trainings with one seed differ
            model = GraphVAE(
                n_nodes=8,
                n_types=7,
                latent_dim=latent_dim,
                hidden=hidden,
                n_layers=n_layers,
                beta=beta,
                adjacency_weight=adjacency_weight,
                decoder_dropout=decoder_dropout,
            )
    elif not isinstance(model, GraphVAE):
        raise TypeError(f"The 'model' argument of pretrain_graphvae must be a GraphVAE. Got {type(model).__name__}.")
    model.train()
    guide = GraphVAEGuide(model, posterior="normal" if gaussian_epochs else posterior)
    schedule = ()
    if gaussian_epochs:
        steps_per_epoch = -(-len(train_idx) // batch_size)
        schedule = (_PointEstimateAfter(gaussian_epochs * steps_per_epoch),)
    if isinstance(callbacks, (Callback, str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(
            "The 'callbacks' argument of pretrain_graphvae must be a sequence of Callback objects "
            f"(use () for none). Got {callbacks!r} instead."
        )
    callbacks = (*schedule, *callbacks)
    start = time.perf_counter()
    result = fit(
        model,
        train,
        guide=guide,
        callbacks=callbacks,
        num_epochs=num_epochs,
        batch_size=batch_size,
        lr=lr,
        clip_norm=clip_norm,
        seed=seed,
        progress=progress,
        device="cpu",
    )
    seconds = time.perf_counter() - start
    model.eval()
    metrics = pretraining_metrics(model, data["ops"], data["adj"], train_idx, test_idx, seed=seed)
    embedding = model.embed(data["ops"], data["adj"])
    return {
        "model": model,
        "result": result,
        "metrics": metrics,
        "embedding": embedding,
        "train_idx": train_idx,
        "test_idx": test_idx,
        "seconds": seconds,
    }


class _PointEstimateAfter(Callback):
    """Callback of :func:`pretrain_graphvae`: after ``steps`` steps, the guide becomes the point
    estimate and the model goes to eval mode (arch2vec's code after its first epoch)."""

    def __init__(self, steps: int):
        self.steps = steps

    def on_step(self, info) -> None:
        if info.step + 1 == self.steps:
            info.guide.posterior = "delta"
            info.model.eval()


def save_embedding(folder, embedding: torch.Tensor, info: dict | None = None) -> Path:
    """Write ``embedding.pt`` (and ``embedding.json`` with ``info``) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(embedding.detach().cpu(), folder / EMBEDDING_FILE)
    (folder / "embedding.json").write_text(json.dumps(info or {}, indent=2))
    return folder / EMBEDDING_FILE


def load_embedding(folder) -> torch.Tensor:
    """Read the ``(n_cells, d)`` embedding a pre-training wrote (a folder or the ``.pt`` file)."""
    path = Path(folder)
    if path.is_dir():
        path = path / EMBEDDING_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"The 'embedding' argument must be a folder holding {EMBEDDING_FILE} (written by "
            f"'pyrolatent fit graphvae') or that file; got '{folder}'."
        )
    embedding = torch.load(path, weights_only=True)
    if not isinstance(embedding, torch.Tensor) or embedding.dim() != 2:
        raise ValueError(f"The file '{path}' must hold a 2-D tensor (n_cells, d); got {type(embedding).__name__}.")
    return embedding
