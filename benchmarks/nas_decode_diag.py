"""Where the table 1 figures of a pre-training (``benchmarks/nas_table1.py`` or ``nas_pretrain.py``) come from.

    OMP_NUM_THREADS=1 python benchmarks/nas_decode_diag.py /work/shared/data/nasbench201 OUT [OUT ...]

Rebuilds the model from ``OUT/embedding.json`` and ``OUT/graphvae_state.pt`` (eval mode), recomputes
``pretraining_metrics`` with the run's seed, and adds for the same 10,000 prior draws: the share that
decode to NAS-Bench-201's fixed graph, the share of the authors'-valid draws that do, the held-out per-node type and per-entry
(upper triangle) adjacency accuracies, the number of
distinct node-type patterns among the authors'-valid draws (what uniqueness would count if the graph
were not part of the hash), and the mean and spread of the sd of the node means the draws use.
"""

import json
import sys
from pathlib import Path

import torch

from pyrolatent.data import load_nasbench201
from pyrolatent.models.graph_vae import GraphVAE, pretraining_metrics

torch.set_num_threads(1)
table = load_nasbench201(sys.argv[1])
data = table.graph_data()
rows = []
for folder in sys.argv[2:]:
    info = json.loads((Path(folder) / "embedding.json").read_text())
    model = GraphVAE(beta=info["beta"], norm=info.get("norm", "layer"), n_layers=info.get("layers", 5))
    model.load_state_dict(torch.load(Path(folder) / "graphvae_state.pt", weights_only=True))
    model.eval()
    seed = info["seed"]
    n = table.n_cells
    if info.get("split", "random") == "first":  # pretrain_graphvae's splits
        train_idx, test_idx = torch.arange(n - round(0.1 * n)), torch.arange(n - round(0.1 * n), n)
    else:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        test_idx, train_idx = perm[: round(0.1 * n)], perm[round(0.1 * n) :]
    metrics = pretraining_metrics(model, data["ops"], data["adj"], train_idx, test_idx, seed=seed)
    rec_ops, rec_adj = model.reconstruct_graph(model.node_means(data["ops"][test_idx], data["adj"][test_idx]))
    upper = torch.ones(8, 8, dtype=torch.bool).triu(1)
    node_acc = 100 * float((rec_ops == data["ops"][test_idx]).float().mean())
    entry_acc = 100 * float((rec_adj == data["adj"][test_idx])[:, upper].float().mean())
    mu = model.node_means(data["ops"][train_idx], data["adj"][train_idx])
    loc, scale = mu.mean(0), mu.std(0)
    eps = torch.randn((10000, *loc.shape), generator=torch.Generator().manual_seed(seed), dtype=loc.dtype)
    ops, adj = model.reconstruct_graph(loc + scale * eps)
    fixed = (adj == data["adj"][train_idx[0]]).all(-1).all(-1)
    loose = (ops[:, 0] == 0) & (ops[:, -1] == 6) & ((ops[:, 2:-1] > 0) & (ops[:, 2:-1] < 6)).all(-1)
    patterns = torch.unique(ops[loose], dim=0).shape[0]
    rows.append(
        {
            "run": folder,
            **{k: round(v, 2) for k, v in metrics.items()},
            "held_out_node_type_acc": round(node_acc, 2),
            "held_out_upper_entry_acc": round(entry_acc, 2),
            "draws_on_fixed_graph": round(100 * float(fixed.float().mean()), 2),
            "valid_on_fixed_graph": round(100 * float(fixed[loose].float().mean()), 2),
            "distinct_op_patterns_valid": patterns,
            "distinct_adjacencies_valid": torch.unique(adj[loose].flatten(1), dim=0).shape[0],
            "bn_batches_tracked": next(
                (int(b) for name, b in model.named_buffers() if name.endswith("num_batches_tracked")), None
            ),
            "node_mean_sd": round(float(scale.mean()), 4),
            "node_mean_norm": round(float(loc.norm(dim=-1).mean()), 4),
        }
    )
    print(json.dumps(rows[-1]))
