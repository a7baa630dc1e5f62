"""The ``mahalanobis`` entry of the command line (``pyrolatent fit mahalanobis --triplets SPEC ...``).

A learned Mahalanobis metric :math:`\\|L(x_a - x_b)\\|^2` on the inputs
(:class:`pyrolatent.models.MahalanobisMetric`; ``--n-components`` is the rank
K of L, default the number of features), trained on the training triplets of
``--triplets`` (objects split 90/10 by ``--seed``) and summarised with the
shared triplet metrics (:mod:`pyrolatent.cli._triplet_eval`) on the codes Lx.
"""

from __future__ import annotations

from pyrolatent.data import Dataset

from ._triplet_eval import baseline_entry

__all__ = ["ENTRY"]


def add_mahalanobis_arguments(parser) -> None:
    group = parser.add_argument_group("model", "options of the Mahalanobis metric (rank of L: --n-components)")
    group.add_argument("--mu", type=float, default=0.5, help="weight of the hinge against the pull term, in (0, 1)")
    group.add_argument("--loss-weight", type=float, default=1.0, help="weight of the loss in the factor")


def build_mahalanobis(args, data: Dataset):
    from pyrolatent.models import MahalanobisMetric

    return MahalanobisMetric(
        data.n_features, args.n_components, mu=args.mu, loss_weight=args.loss_weight, image_shape=data.image_shape
    )


ENTRY = baseline_entry(build_mahalanobis, add_mahalanobis_arguments)
