"""The ``graphvae`` entry of the command line (``pyrolatent fit graphvae --data nasbench201:PATH``).

arch2vec pre-training: the data are the NAS-Bench-201 cells in the arch2vec
encoding (``x`` = flattened 8 x 7 one-hot, the fixed graph held by the model),
10 % held out (seeded by ``--seed``), batch 32, Adam 1e-3 (the paper's
settings; the paper trains 10 epochs: ``--steps 4400`` at batch 32 on 14,062
cells). The summary adds the paper's table 1 figures (reconstruction accuracy
on the held-out cells, validity, uniqueness; percent) beside the paper's.
``pyrolatent search --embedding RUN_DIR`` rebuilds the model from the run
directory and embeds every cell.
"""

from __future__ import annotations

import argparse

import torch

from pyrolatent.data import Dataset

from .common import ModelEntry

__all__ = ["ENTRY", "PAPER_TABLE1", "build_graphvae", "embed_cells"]

#: arch2vec table 1, NAS-Bench-201 (percent).
PAPER_TABLE1 = {"reconstruction_accuracy": 100.0, "validity": 79.41, "uniqueness": 98.72}


def add_graphvae_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model", "options of the GraphVAE (code size per node: --n-components, 16)")
    group.add_argument("--gin-hidden", type=int, default=128, help="GraphVAE: width of the GIN layers")
    group.add_argument("--gin-layers", type=int, default=5, help="GraphVAE: number of GIN layers")
    group.add_argument("--kl-weight", type=float, default=0.01, help="GraphVAE: weight beta of the KL term")


def build_graphvae(args, data: Dataset):
    from pyrolatent.models.graph_vae import GraphVAE

    if data.n_features != 56:
        raise ValueError(
            f"The '--data' option of 'fit graphvae' must be nasbench201:PATH (56 one-hot columns); "
            f"got {data.n_features} columns."
        )
    return GraphVAE(
        n_nodes=8,
        n_types=7,
        latent_dim=args.n_components if args.n_components is not None else 16,
        hidden=args.gin_hidden,
        n_layers=args.gin_layers,
        beta=args.kl_weight,
    )


def _graphs(model, data: Dataset):
    ops = data.x.view(-1, model.n_nodes, model.n_types).argmax(-1)
    return ops, model.adjacency.to(data.x.dtype).expand(ops.shape[0], -1, -1)


def embed_cells(model, data: Dataset) -> torch.Tensor:
    """The arch2vec embedding (mean of node means) of every row of ``data``, ``(n, K)``."""
    return model.embed(*_graphs(model, data))


def summarize_graphvae(args, result, train: Dataset, test: Dataset | None) -> dict:
    from pyrolatent.models.graph_vae import pretraining_metrics

    model = result.model
    model.eval()
    both = train if test is None else Dataset(torch.cat([train.x, test.x]), name=train.name)
    ops, adj = _graphs(model, both)
    n_train = train.n_samples
    test_idx = torch.arange(n_train, both.n_samples) if test is not None else torch.arange(n_train)
    metrics = pretraining_metrics(model, ops, adj, torch.arange(n_train), test_idx, seed=args.seed)
    return {**metrics, "paper_table1": PAPER_TABLE1}


def describe_graphvae(summary: dict) -> str:
    return (
        f"reconstruction {summary['reconstruction_accuracy']:.2f} %, validity {summary['validity']:.2f} %, "
        f"uniqueness {summary['uniqueness']:.2f} %; with the authors' looser check validity "
        f"{summary['validity_arch2vec']:.2f} %, uniqueness {summary['uniqueness_arch2vec']:.2f} % "
        "(arch2vec: 100 / 79.41 / 98.72)"
    )


ENTRY = ModelEntry(
    build_graphvae,
    summarize_graphvae,
    describe_graphvae,
    default_lr=1e-3,
    default_batch_size=32,
    test_fraction=0.1,
    add_arguments=add_graphvae_arguments,
)
