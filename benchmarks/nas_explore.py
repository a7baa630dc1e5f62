"""Compare BO settings on one embedding: ``run_search`` with the same seed and protocol, one line per setting.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/nas_explore.py EMBEDDING DATASETS RUNS SEED CONFIGS [global]

EMBEDDING is ``onehot`` or a folder with ``embedding.pt``; DATASETS a comma-separated list; CONFIGS a JSON
object ``{name: keyword arguments of run_search}`` (``"method"`` defaults to ``"bo-gp"``, ``"queries"`` to 100);
``global`` standardises the features over the whole space first; ``save=DIR`` writes the final accuracy of
every run to ``DIR/DATASET__NAME.npy`` (for paired comparisons: the same seed draws the same initial cells
and the same first noise). Noise 0.3. Used for the exploration table
of ``NAS_RESULTS.md``, e.g.

    python benchmarks/nas_explore.py runs/nas/embedding cifar100 100 0 \\
        '{"base": {}, "all_top5": {"n_candidates": null, "batch_size": 5}}'
"""

import json
import sys
from pathlib import Path

import numpy as np
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
extra = sys.argv[6:]
save = next((Path(a[5:]) for a in extra if a.startswith("save=")), None)
if save is not None:
    save.mkdir(parents=True, exist_ok=True)
if "global" in extra:
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
        if save is not None:
            np.save(save / f"{ds}__{name}.npy", r.final)
        print(
            f"{ds:10s} {name:28s} {s['mean']:.3f} +- {s['std']:.3f} (sem {s['sem']:.3f}) {s['seconds']:.0f}s",
            flush=True,
        )
