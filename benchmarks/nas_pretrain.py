"""Pre-train the arch2vec GraphVAE on all NAS-Bench-201 cells and write the embedding.

OMP_NUM_THREADS=1 nice -n 10 python benchmarks/nas_pretrain.py /work/shared/data/nasbench201 runs/nas/embedding
"""

import json
import sys

import torch

from pyrolatent.data import load_nasbench201
from pyrolatent.search.embedding import pretrain_graphvae, save_embedding

torch.set_num_threads(1)
table = load_nasbench201(sys.argv[1])
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
out = pretrain_graphvae(table, num_epochs=epochs, seed=0)
info = {
    "metrics": out["metrics"],
    "seconds": out["seconds"],
    "num_epochs": epochs,
    "final_loss": float(out["result"].losses[-1]),
}
save_embedding(sys.argv[2], out["embedding"], info)
torch.save(out["model"].state_dict(), f"{sys.argv[2]}/graphvae_state.pt")
print(json.dumps(info, indent=2))
