"""The ``triplet_margin`` entry of the command line (``pyrolatent fit triplet_margin --triplets SPEC ...``).

A FaceNet-style triplet-margin MLP with unit-sphere codes
(:class:`pyrolatent.models.TripletMarginNetwork`), trained on the training
triplets of ``--triplets`` (objects split 90/10 by ``--seed``) and summarised
with the shared triplet metrics (:mod:`pyrolatent.cli._triplet_eval`).
"""

from __future__ import annotations

from pyrolatent.data import Dataset

from ._triplet_eval import baseline_entry
from .vae import _hidden

__all__ = ["ENTRY"]


def add_triplet_margin_arguments(parser) -> None:
    group = parser.add_argument_group("model", "options of the triplet-margin network (code size: --n-components)")
    group.add_argument("--hidden", type=_hidden, default=(400,), help="MLP hidden sizes, e.g. 400 or 512,256")
    group.add_argument("--margin", type=float, default=0.2, help="margin alpha in squared distance")
    group.add_argument("--no-normalize", action="store_true", help="do not project the codes onto the unit sphere")
    group.add_argument("--loss-weight", type=float, default=1.0, help="weight of the loss in the factor")


def build_triplet_margin(args, data: Dataset):
    from pyrolatent.models import TripletMarginNetwork

    return TripletMarginNetwork(
        data.n_features,
        args.n_components if args.n_components is not None else 2,
        hidden=tuple(args.hidden),
        margin=args.margin,
        normalize=not args.no_normalize,
        loss_weight=args.loss_weight,
        image_shape=data.image_shape,
    )


ENTRY = baseline_entry(build_triplet_margin, add_triplet_margin_arguments)
