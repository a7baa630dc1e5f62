"""Pre-train the arch2vec GraphVAE on all NAS-Bench-201 cells and write the embedding.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/nas_pretrain.py /work/shared/data/nasbench201 runs/nas/embedding \\
        [--epochs 10] [--beta 0.01] [--adjacency-weight 0.125] [--seed 0] \\
        [--posterior normal|delta] [--gaussian-epochs 0] [--dropout 0.0]

arch2vec's code, in effect (one VAE epoch with decoder dropout 0.3, then a deterministic
autoencoder with an L2 penalty on the codes; benchmarks/NAS_RESULTS.md):

    ... --beta 0.027 --posterior delta --gaussian-epochs 1 --dropout 0.3
"""

import argparse
import json

import torch

from pyrolatent.data import load_nasbench201
from pyrolatent.search.embedding import pretrain_graphvae, save_embedding

p = argparse.ArgumentParser()
p.add_argument("table")
p.add_argument("out")
p.add_argument("epochs", nargs="?", type=int, default=10, help="(positional, kept for old command lines)")
p.add_argument("--epochs", dest="epochs_opt", type=int, default=None)
p.add_argument("--beta", type=float, default=0.01, help="KL weight (0.027: arch2vec's effective 7 / (32 * 8))")
p.add_argument("--adjacency-weight", type=float, default=None, help="adjacency weight (default 1/8)")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--posterior", choices=("normal", "delta"), default="normal", help="guide: Gaussian or point estimate")
p.add_argument("--gaussian-epochs", type=int, default=0, help="with --posterior delta: Gaussian epochs first")
p.add_argument("--dropout", type=float, default=0.0, help="decoder dropout on the codes in training mode")
args = p.parse_args()
epochs = args.epochs_opt or args.epochs
torch.set_num_threads(1)
table = load_nasbench201(args.table)
out = pretrain_graphvae(
    table,
    num_epochs=epochs,
    beta=args.beta,
    adjacency_weight=args.adjacency_weight,
    posterior=args.posterior,
    gaussian_epochs=args.gaussian_epochs,
    decoder_dropout=args.dropout,
    seed=args.seed,
)
info = {
    "metrics": out["metrics"],
    "seconds": out["seconds"],
    "num_epochs": epochs,
    "beta": args.beta,
    "adjacency_weight": out["model"].adjacency_weight,
    "seed": args.seed,
    "posterior": args.posterior,
    "gaussian_epochs": args.gaussian_epochs,
    "decoder_dropout": args.dropout,
    "final_loss": float(out["result"].losses[-1]),
}
save_embedding(args.out, out["embedding"], info)
torch.save(out["model"].state_dict(), f"{args.out}/graphvae_state.pt")
print(json.dumps(info, indent=2))
