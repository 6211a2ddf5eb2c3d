"""Metrics for pairwise calibrated reward ensembles."""

from ._agreement import disagreement_scores, kendall_tau_matrix
from ._calibration import (
    calibration_error,
    calibration_scorer,
    regret,
    single_reward_floor,
)
from ._noise import noise_floor
from ._plot import PairCalibrationDisplay
from ._plot_agreement import MemberAgreementDisplay
from ._plot_staged import StagedErrorDisplay

__all__ = [
    "MemberAgreementDisplay",
    "PairCalibrationDisplay",
    "StagedErrorDisplay",
    "calibration_error",
    "calibration_scorer",
    "disagreement_scores",
    "kendall_tau_matrix",
    "noise_floor",
    "regret",
    "single_reward_floor",
]
