"""The ``siamese`` entry of the command line (``pyrolatent fit siamese --triplets SPEC ...``).

A siamese MLP with the contrastive margin loss
(:class:`pyrolatent.models.SiameseNetwork`), trained on the training triplets
of ``--triplets`` (the objects split 90/10 by ``--seed``, as every ``fit``
command) and summarised with the shared triplet metrics
(:mod:`pyrolatent.cli._triplet_eval`).
"""

from __future__ import annotations

from pyrolatent.data import Dataset

from ._triplet_eval import baseline_entry
from .vae import _hidden

__all__ = ["ENTRY"]


def add_siamese_arguments(parser) -> None:
    group = parser.add_argument_group("model", "options of the siamese network (code size: --n-components, default 2)")
    group.add_argument("--hidden", type=_hidden, default=(400,), help="MLP hidden sizes, e.g. 400 or 512,256")
    group.add_argument("--margin", type=float, default=1.0, help="contrastive margin m (Euclidean distance)")
    group.add_argument("--loss-weight", type=float, default=1.0, help="weight of the loss in the factor")


def build_siamese(args, data: Dataset):
    from pyrolatent.models import SiameseNetwork

    return SiameseNetwork(
        data.n_features,
        args.n_components if args.n_components is not None else 2,
        hidden=tuple(args.hidden),
        margin=args.margin,
        loss_weight=args.loss_weight,
        image_shape=data.image_shape,
    )


ENTRY = baseline_entry(build_siamese, add_siamese_arguments)
