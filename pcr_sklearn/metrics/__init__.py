"""Metrics for pairwise calibrated reward ensembles."""

from ._agreement import disagreement_scores, kendall_tau_matrix
from ._calibration import (
    calibration_error,
    calibration_scorer,
    regret,
    single_reward_floor,
)

__all__ = [
    "calibration_error",
    "calibration_scorer",
    "disagreement_scores",
    "kendall_tau_matrix",
    "regret",
    "single_reward_floor",
]
