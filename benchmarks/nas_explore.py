"""Compare BO settings on one embedding: ``run_search`` with the same seed and protocol, one line per setting.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/nas_explore.py EMBEDDING DATASETS RUNS SEED CONFIGS [global]

EMBEDDING is ``onehot`` or a folder with ``embedding.pt``; DATASETS a comma-separated list; CONFIGS a JSON
object ``{name: keyword arguments of run_search}`` (``"method"`` defaults to ``"bo-gp"``, ``"queries"`` to 100);
``global`` standardises the features over the whole space first. Noise 0.3. Used for the exploration table
of ``NAS_RESULTS.md``, e.g.

    python benchmarks/nas_explore.py runs/nas/embedding cifar100 100 0 \\
        '{"base": {}, "all_top5": {"n_candidates": null, "batch_size": 5}}'
"""

import json
import sys

import torch

from pyrolatent.data import load_nasbench201
from pyrolatent.search import CellSpace, run_search
from pyrolatent.search.embedding import load_embedding, onehot_features

torch.set_num_threads(1)
table = load_nasbench201("/work/shared/data/nasbench201")
space = CellSpace(table.edge_ops)
feat_name, datasets, runs, seed = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4])
configs = json.loads(sys.argv[5])
feats = onehot_features(table) if feat_name == "onehot" else load_embedding(feat_name)
if len(sys.argv) > 6 and sys.argv[6] == "global":
    feats = (feats - feats.mean(0)) / feats.std(0).clamp_min(1e-6)
for ds in datasets:
    for name, cfg in configs.items():
        cfg = dict(cfg)
        method = cfg.pop("method", "bo-gp")
        queries = cfg.pop("queries", 100)
        r = run_search(
            method,
            table.accuracy[ds],
            space=space,
            features=feats,
            queries=queries,
            runs=runs,
            noise=0.3,
            seed=seed,
            **cfg,
        )
        s = r.summary()
        print(
            f"{ds:10s} {name:28s} {s['mean']:.3f} +- {s['std']:.3f} (sem {s['sem']:.3f}) {s['seconds']:.0f}s",
            flush=True,
        )
