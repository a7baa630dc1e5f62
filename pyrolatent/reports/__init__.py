"""Self-contained run reports: :func:`write_report` and the figures it draws.

``write_report(result, data, out_dir)`` writes ``out_dir/report/index.html``
(figures embedded as PNG data URIs, so the file stands alone), the figures as
PNG files, ``inference_data.nc`` (ArviZ groups) and ``diagnostics.json``.
"""

from . import (
    triplet_figures,  # noqa: F401  (registers the TripletVAE figures)
    vbta_figures,  # noqa: F401,E402 - registers the VBTA figures
)
from .figures import (
    elbo_figure,
    image_grid_figure,
    khat_figure,
    latent_scatter_figure,
    nuts_figure,
    ppc_figure,
    restarts_figure,
)
from .model_figures import model_figures, register_figures
from .report import REPORT_DIR, write_report

__all__ = [
    "REPORT_DIR",
    "elbo_figure",
    "image_grid_figure",
    "khat_figure",
    "latent_scatter_figure",
    "model_figures",
    "nuts_figure",
    "ppc_figure",
    "register_figures",
    "restarts_figure",
    "write_report",
]
