"""Posterior diagnostics for any fitted pyrolatent model.

- :func:`to_inference_data` — a fit as ``arviz.InferenceData`` (posterior,
  posterior predictive, pointwise log-likelihood, observed data, importance
  log-weights, the ELBO trace, settings and timings);
  :func:`save_inference_data` / :func:`load_inference_data` for netCDF.
- :func:`psis_diagnostic` — PSIS k-hat of the whole guide with its verdict and
  the importance-sampling ESS (Yao et al. 2018).
- :func:`fit_restarts`, :func:`restart_diagnostics` — independent fits as
  chains: R-hat and ESS on identifiable quantities.
- :func:`loo`, :func:`compare_models` — PSIS-LOO and ``az.compare``.
- :func:`run_nuts`, :func:`compare_to_nuts` — a NUTS reference for small
  problems and a table of SVI against it.

Only :mod:`._arviz` knows which ArviZ (0.23 or 1.x) is installed.
"""

from .inference_data import load_inference_data, model_inputs, save_inference_data, to_inference_data
from .loo import LOO, compare_models, loo
from .nuts import NUTSComparison, NUTSResult, ReplayGuide, compare_to_nuts, run_nuts
from .psis import (
    GOOD,
    MIN_DRAWS,
    USABLE,
    PSISDiagnostic,
    khat_verdict,
    pareto_khat,
    pareto_smooth,
    psis_diagnostic,
    psis_from_log_weights,
)
from .restarts import RestartDiagnostic, draw_quantities, fit_restarts, restart_diagnostics

__all__ = [
    "GOOD",
    "MIN_DRAWS",
    "USABLE",
    "LOO",
    "NUTSComparison",
    "NUTSResult",
    "PSISDiagnostic",
    "ReplayGuide",
    "RestartDiagnostic",
    "compare_models",
    "compare_to_nuts",
    "draw_quantities",
    "fit_restarts",
    "khat_verdict",
    "pareto_khat",
    "pareto_smooth",
    "load_inference_data",
    "loo",
    "model_inputs",
    "psis_diagnostic",
    "psis_from_log_weights",
    "restart_diagnostics",
    "run_nuts",
    "save_inference_data",
    "to_inference_data",
]
