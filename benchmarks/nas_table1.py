"""arch2vec's table 1 on NAS-Bench-201 with the loss and schedule of the authors' code, piece by piece.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/nas_table1.py /work/shared/data/nasbench201 OUT \\
        [--ops categorical|bce] [--adj-target loops|zero-diag|triu] [--clip 5] [--beta 0.027] [--adjacency-weight 0.875] \\
        [--posterior normal|delta] [--gaussian-epochs 1] [--dropout 0.3] [--epochs 10] [--seed 0] \\
        [--norm layer|batch] [--bn-after-switch frozen|batch] [--layers 5] \\
        [--split random|first] [--last-epoch-mus] [--every-epoch] [--order epoch|once]

What the authors' pre-training code (AIoT-MLSys-Lab/arch2vec, ``models/pretraining_nasbench201.py``,
``models/model.py``, ``utils/utils.py``) does differently from the library's GraphVAE defaults, each
switchable here (``benchmarks/NAS_RESULTS.md``, top section):

- ``--ops bce``: the operation decoder is a sigmoid per type with a binary cross-entropy against the
  one-hot row (7 Bernoulli terms per node), not a categorical (softmax) over the 7 types;
- ``--adj-target triu``: the adjacency loss covers the 28 entries of the strict upper triangle only
  (their ``prep_reverse`` takes ``triu(1)`` of both the decoded probabilities and the target before the
  BCE, so the diagonal and the lower triangle give zero loss), each weighed ``--adjacency-weight``;
  the library's target (``loops``) is the symmetric graph with self-loops (each edge counted twice, the
  diagonal pushed to 1); ``zero-diag`` the symmetric graph without self-loops (a misreading of theirs,
  kept for the record: its diagonal pulls every code towards 0);
- ``--clip 5``: the gradient norm clipped at 5;
- ``--beta 0.027 --adjacency-weight 0.875``: their loss read per operation BCE entry;
- ``--posterior delta --gaussian-epochs 1 --dropout 0.3``: one VAE epoch with decoder dropout 0.3,
  then (their model left in eval mode) a deterministic autoencoder with an L2 penalty on the codes;
- ``--norm batch``: their GIN's batch norm (over all nodes of the minibatch, after the MLP's first linear
  map and after the MLP) instead of our layer norm; with ``--gaussian-epochs 1`` the model is in eval
  mode from epoch 2 on, so the batch norms use the running statistics frozen at the end of epoch 1, as
  theirs (their ``model.eval()`` for the validity draws is never undone);
- ``--bn-after-switch batch`` (with ``--norm batch --gaussian-epochs 1``, a control, not theirs): the
  schedule's switch to eval mode leaves the batch norms in batch mode (batch statistics, running
  statistics still updated) for epochs 2-10; the final evaluation uses the running statistics;
- ``--layers 4``: their number of GIN layers (``--hops 5`` gives ``hops - 1 = 4`` layers; ours default to 5);
- ``--split first``: their split, the first 90 % of the table's rows (NAS-Bench-201's indices) for
  training and the last 10 % held out (ours: a random 10 % drawn with the seed);
- ``--last-epoch-mus``: also report the figures with the validity draws' mean and sd taken, as
  theirs, from the node means the guide computed for the last epoch's minibatches during training
  (every training cell once, each with the weights of its own step), beside the figures with those
  of the final encoder (``metrics``, the library's). Recording changes nothing in the fit;
- ``--order once``: their minibatch order (the training cells shuffled once, then the same minibatches in
  the same order every epoch); ``fit`` reshuffles every epoch (``epoch``, the default), so this flag replaces
  the engine's ``Batcher.draw`` for this script only;
- ``--every-epoch``: the same two sets of figures at the end of every epoch (``per_epoch``), as
  their log prints validity and uniqueness after each epoch.

Their input to the encoder (``preprocessing`` method 4 of cfg 4, ``A + triu(A, 1)^T``, on data without
self-loops) is ``A + A^T`` without self-loops: what ``GINEncoder`` receives (``undirected(adj)``), so no
option is needed for it (checked in ``benchmarks/NAS_RESULTS.md``, nas6 section).

Writes ``OUT/embedding.pt``, ``OUT/embedding.json`` (metrics, settings) and ``OUT/graphvae_state.pt``.
"""

import argparse
import json

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine

from pyrolatent.components.graph import NodeBatchNorm, undirected
from pyrolatent.data import load_nasbench201
from pyrolatent.inference import Callback, seeded
from pyrolatent.models.graph_vae import GraphVAE, pretraining_metrics
from pyrolatent.search.embedding import pretrain_graphvae, save_embedding


class AuthorsLossGraphVAE(GraphVAE):
    """GraphVAE with the authors' operation BCE and/or adjacency target without self-loops."""

    def __init__(self, *args, ops_bce: bool = False, adj_target: str = "loops", bn_moving: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.ops_bce = ops_bce
        self.adj_target = adj_target
        self.bn_moving = bn_moving  # keep the batch norms in batch mode through the schedule's first eval()
        self._evals = 0
        self.recorded = None  # a list while the node means of training steps are recorded

    def posterior(self, ops, adj):
        loc, scale = super().posterior(ops, adj)
        if self.recorded is not None and torch.is_grad_enabled():  # a training step's guide, not node_means
            self.recorded.append(loc.detach().clone())
        return loc, scale

    def train(self, mode: bool = True):
        super().train(mode)
        if not mode:
            self._evals += 1
            if self.bn_moving and self._evals == 1:  # the schedule's switch, not the final eval()
                for m in self.modules():
                    if isinstance(m, NodeBatchNorm):
                        m.train(True)
        return self

    def forward(self, ops=None, adj=None, subsample=None, *, x=None, n_samples: int = 1):
        ops, adj = self._inputs(ops, adj, x)
        n = ops.shape[0]
        with pyro.plate("data", n, subsample=subsample, dim=-1) as idx:
            prior = dist.Normal(torch.zeros(()), torch.ones(()))
            with poutine.scale(scale=self.beta):
                z = pyro.sample("z", prior.expand([len(idx), self.n_nodes, self.latent_dim]).to_event(2))
            dropped = z
            if self.decoder_dropout > 0 and self.training:
                dropped = torch.nn.functional.dropout(z, p=self.decoder_dropout, training=True)
            op_logits, adj_logits = self.decode(dropped)
            target_ops = ops.index_select(0, idx)
            target_adj = undirected(adj.index_select(0, idx))
            if self.adj_target == "loops":
                target_adj = (target_adj + torch.eye(self.n_nodes)).clamp(max=1.0)
            adj_dist = dist.Bernoulli(logits=adj_logits)
            if self.adj_target == "triu":
                adj_dist = adj_dist.mask(torch.ones(self.n_nodes, self.n_nodes, dtype=torch.bool).triu(1))
            if self.ops_bce:
                one_hot = torch.nn.functional.one_hot(target_ops, self.n_types).to(op_logits.dtype)
                pyro.sample("x", dist.Bernoulli(logits=op_logits).to_event(2), obs=one_hot)
            else:
                pyro.sample("x", dist.Categorical(logits=op_logits).to_event(1), obs=target_ops)
            with poutine.scale(scale=self.adjacency_weight):
                pyro.sample("A", adj_dist.to_event(2), obs=target_adj)
        return z


class RecordEpochs(Callback):
    """Collect the node means the guide computes in each epoch (as arch2vec's ``Z``) and call
    ``score(epoch, mus)`` at the end of the epochs in ``epochs`` (0-based). The list starts before
    the fit, so epoch 0 also holds the engine's set-up pass: only the last ``n_train`` rows count."""

    def __init__(self, steps_per_epoch: int, n_train: int, epochs, score):
        self.steps, self.n_train, self.epochs, self.score = steps_per_epoch, n_train, set(epochs), score
        self.mus = None

    def on_step(self, info) -> None:
        if (info.step + 1) % self.steps:
            return
        epoch = (info.step + 1) // self.steps - 1
        mus = torch.cat(info.model.recorded)
        info.model.recorded = []
        if mus.shape[0] < self.n_train:
            raise RuntimeError(f"recorded {mus.shape[0]} node-mean rows in epoch {epoch}, expected {self.n_train}")
        self.mus = mus[-self.n_train :]
        if epoch in self.epochs:
            self.score(epoch, self.mus)


p = argparse.ArgumentParser()
p.add_argument("table")
p.add_argument("out")
p.add_argument("--ops", choices=("categorical", "bce"), default="categorical")
p.add_argument("--adj-target", choices=("loops", "zero-diag", "triu"), default="loops")
p.add_argument("--no-self-loops", action="store_const", const="zero-diag", dest="adj_target")
p.add_argument("--clip", type=float, default=None)
p.add_argument("--beta", type=float, default=0.027)
p.add_argument("--adjacency-weight", type=float, default=None)
p.add_argument("--posterior", choices=("normal", "delta"), default="normal")
p.add_argument("--gaussian-epochs", type=int, default=0)
p.add_argument("--dropout", type=float, default=0.0)
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--norm", choices=("layer", "batch"), default="layer")
p.add_argument("--layers", type=int, default=5)
p.add_argument("--bn-after-switch", choices=("frozen", "batch"), default="frozen")
p.add_argument("--split", choices=("random", "first"), default="random")
p.add_argument("--last-epoch-mus", action="store_true")
p.add_argument("--every-epoch", action="store_true")
p.add_argument("--order", choices=("epoch", "once"), default="epoch")
args = p.parse_args()
torch.set_num_threads(1)

table = load_nasbench201(args.table)
drawn = []  # the steps at which --order once drew its permutation (the set-up pass's, then the fit's)
if args.order == "once":
    from pyrolatent.inference.batching import Batcher

    def draw_once(self, step):
        """One permutation of the cells for the whole fit (the first one drawn), cut into the same minibatches."""
        if not self.single:
            raise RuntimeError("--order once expects the single 'data' plate")
        b, n = self.batch["data"], self.sizes["data"]
        if self.perms["data"] is None:
            self.perms["data"] = torch.randperm(n, device=self.device)
            drawn.append(step)
        i = step % self.steps_per_epoch
        return self.perms["data"][i * b : (i + 1) * b]

    Batcher.draw = draw_once
with seeded(args.seed):
    model = AuthorsLossGraphVAE(
        beta=args.beta,
        adjacency_weight=args.adjacency_weight,
        decoder_dropout=args.dropout,
        ops_bce=args.ops == "bce",
        adj_target=args.adj_target,
        norm=args.norm,
        n_layers=args.layers,
        bn_moving=args.bn_after_switch == "batch",
    )
batch_size = 32
data = table.graph_data()
n_train = table.n_cells - round(0.1 * table.n_cells)
if args.split == "first":  # pretrain_graphvae's splits, known before the fit for the per-epoch figures
    split_idx = torch.arange(n_train), torch.arange(n_train, table.n_cells)
else:
    perm = torch.randperm(table.n_cells, generator=torch.Generator().manual_seed(args.seed))
    split_idx = perm[table.n_cells - n_train :], perm[: table.n_cells - n_train]
per_epoch = []


def score(epoch, mus):
    """Table 1 figures now: with the final encoder's statistics (the library's) and the epoch's mus (theirs)."""
    train_idx, test_idx = split_idx
    fig = dict(ops=data["ops"], adj=data["adj"], train_idx=train_idx, test_idx=test_idx, seed=args.seed)
    row = {"epoch": epoch + 1, "metrics": pretraining_metrics(model, **fig)}
    row["metrics_epoch_mus"] = pretraining_metrics(model, **fig, draw_stats=(mus.mean(0), mus.std(0)))
    # the share of those draws (the same 10,000: same seed) that decode to the fixed graph
    g = torch.Generator().manual_seed(args.seed)
    loc, sd = mus.mean(0), mus.std(0)
    _, dec_adj = model.reconstruct_graph(loc + sd * torch.randn((10000, *loc.shape), generator=g, dtype=loc.dtype))
    row["epoch_mus_draws_on_fixed_graph"] = 100 * float((dec_adj == data["adj"][0]).all(-1).all(-1).float().mean())
    per_epoch.append(row)


callbacks = ()
if args.last_epoch_mus or args.every_epoch:
    model.recorded = []
    steps = -(-n_train // batch_size)
    epochs = range(args.epochs) if args.every_epoch else ()
    recorder = RecordEpochs(steps, n_train, epochs, score)
    callbacks = (recorder,)
out = pretrain_graphvae(
    table,
    model=model,
    batch_size=batch_size,
    split=args.split,
    callbacks=callbacks,
    num_epochs=args.epochs,
    posterior=args.posterior,
    gaussian_epochs=args.gaussian_epochs,
    clip_norm=args.clip,
    seed=args.seed,
)
info = {
    "metrics": out["metrics"],
    "seconds": out["seconds"],
    **vars(args),
    "final_loss": float(out["result"].losses[-1]),
}
if args.order == "once":
    info["order_permutations_drawn_at"] = drawn
if args.last_epoch_mus or args.every_epoch:
    if not (torch.equal(out["train_idx"], split_idx[0]) and torch.equal(out["test_idx"], split_idx[1])):
        raise RuntimeError("the split assumed for the per-epoch figures is not pretrain_graphvae's")
    mus = recorder.mus
    final = torch.cat([model.node_means(data["ops"][i], data["adj"][i]) for i in out["train_idx"].split(4096)])
    loc, scale = mus.mean(0), mus.std(0)
    info["metrics_last_epoch_mus"] = pretraining_metrics(
        model, data["ops"], data["adj"], out["train_idx"], out["test_idx"], seed=args.seed, draw_stats=(loc, scale)
    )
    info["draw_stats"] = {
        "final_sd_mean": float(final.std(0).mean()),
        "last_epoch_sd_mean": float(scale.mean()),
        "sd_ratio_median": float((scale / final.std(0)).median()),
        "loc_shift_over_sd_max": float(((loc - final.mean(0)).abs() / final.std(0)).max()),
    }
    if per_epoch:
        info["per_epoch"] = per_epoch
save_embedding(args.out, out["embedding"], info)
torch.save(model.state_dict(), f"{args.out}/graphvae_state.pt")
print(json.dumps(info, indent=2))
