"""Mixture-recovery tools: compare a fitted ensemble with a known population.

Array-level functions work from vote matrices (pairs x voters);
:func:`recovery_report` does everything in one call for a fitted ensemble and
the ground truth of :func:`pcr_sklearn.datasets.make_preference_mixture`.
"""

from ..utils.validation import hard_votes
from ._matching import agreement_matrix, match_members, matched_weight_error
from ._report import recovery_report, truth_on_pairs
from ._theory import (
    AnnotatorEnsemble,
    expected_annotator_ensemble_error,
    noise_term,
    oracle_calibration_error,
    sample_annotator_ensemble,
)

__all__ = [
    "AnnotatorEnsemble",
    "agreement_matrix",
    "expected_annotator_ensemble_error",
    "hard_votes",
    "match_members",
    "matched_weight_error",
    "noise_term",
    "oracle_calibration_error",
    "recovery_report",
    "sample_annotator_ensemble",
    "truth_on_pairs",
]
