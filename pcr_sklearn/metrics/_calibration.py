"""Pairwise calibration error and the single-reward floor."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Literal

import numpy as np
from sklearn.metrics import make_scorer

from .._compat import StrOptions, validate_params
from ..utils.validation import (
    check_pair_weights,
    check_probabilities,
    weighted_mean,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def _check_probabilities(values, name, n=None):
    """1-D probabilities, or predict_proba's (n, 2) output (column 1 is used)."""
    return check_probabilities(values, name, n, accept_proba=True)


@validate_params(
    {
        "y_true": ["array-like"],
        "y_prob": ["array-like"],
        "sample_weight": ["array-like", Real, None],
    },
    prefer_skip_nested_validation=True,
)
def calibration_error(
    y_true: ArrayLike, y_prob: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Pairwise calibration error: weighted mean of ``(y_prob - y_true)**2``.

    The headline metric of pairwise calibration (lower is better): a Brier
    score of the predicted share of rewards preferring A against the share of
    annotators who did.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        Soft labels in [0, 1]: the share of annotators preferring A.
    y_prob : array-like of shape (n_pairs,) or (n_pairs, 2)
        Predicted share preferring A; a ``predict_proba`` output is accepted
        (its column 1 is used).
    sample_weight : array-like of shape (n_pairs,), default=None
        Non-negative weights, e.g. the number of annotators per pair.

    Returns
    -------
    error : float
        The weighted mean squared difference, in [0, 1].

    See Also
    --------
    single_reward_floor : The least error any single hard-vote reward can reach.

    Examples
    --------
    >>> from pcr_sklearn.metrics import calibration_error
    >>> round(calibration_error([0.8, 0.4], [1.0, 0.5]), 6)
    0.025
    """
    y_true = _check_probabilities(y_true, "y_true")
    y_prob = _check_probabilities(y_prob, "y_prob", n=y_true.shape[0])
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty; need at least one pair.")
    weights = check_pair_weights(
        sample_weight, y_true.shape[0], "sample_weight", allow_all_zero=False
    )
    return float(weighted_mean((y_prob - y_true) ** 2, weights))


@validate_params(
    {"y_true": ["array-like"], "sample_weight": ["array-like", Real, None]},
    prefer_skip_nested_validation=True,
)
def single_reward_floor(
    y_true: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Least calibration error of any single reward with hard votes.

    A single deterministic reward votes 0 or 1 on each pair, so its error on a
    pair is at least ``min(p, 1 - p)**2``; the floor is the weighted mean of
    that (reached by always siding with the majority). Ensembles can go below
    it; a single reward cannot.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        Soft labels in [0, 1].
    sample_weight : array-like of shape (n_pairs,), default=None
        Non-negative weights.

    Returns
    -------
    floor : float
        The weighted mean of ``min(p, 1 - p)**2``, at most 0.25.

    See Also
    --------
    calibration_error : The error this floor bounds.

    Examples
    --------
    >>> from pcr_sklearn.metrics import single_reward_floor
    >>> round(single_reward_floor([0.8, 0.4, 1.0]), 6)
    0.066667
    """
    y_true = _check_probabilities(y_true, "y_true")
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty; need at least one pair.")
    weights = check_pair_weights(
        sample_weight, y_true.shape[0], "sample_weight", allow_all_zero=False
    )
    return float(weighted_mean(np.minimum(y_true, 1.0 - y_true) ** 2, weights))


@validate_params(
    {
        "y_true": ["array-like"],
        "y_prob": ["array-like"],
        "sample_weight": ["array-like", Real, None],
        "policy": [StrOptions({"sample", "majority"})],
    },
    prefer_skip_nested_validation=True,
)
def regret(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    policy: Literal["sample", "majority"] = "sample",
) -> float:
    """Share of annotators left unserved, above the best single choice per pair.

    A policy steered by the ensemble chooses A on a pair either with the
    ensemble's probability (``policy="sample"``: a member is drawn with its
    weight and its aligned policy decides) or whenever the weighted majority
    prefers A (``policy="majority"``). A share ``p`` of annotators prefers A,
    so the chosen response serves ``p`` or ``1 - p`` of them; the regret on a
    pair is the best achievable share, ``max(p, 1 - p)``, minus the served
    share in expectation. This is our definition (the paper's Appendix E
    discusses regret; its exact formula was not available to us).

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        Soft labels in [0, 1].
    y_prob : array-like of shape (n_pairs,) or (n_pairs, 2)
        Predicted share of rewards preferring A.
    sample_weight : array-like of shape (n_pairs,), default=None
        Pair weights of the mean; ``None``: all pairs weigh the same.
    policy : {"sample", "majority"}, default="sample"

    Returns
    -------
    regret : float
        In [0, 1/2]; 0 means every choice serves the larger side.

    Examples
    --------
    >>> from pcr_sklearn.metrics import regret
    >>> round(regret([0.8, 0.3], [0.8, 0.3]), 6)
    0.12
    >>> round(regret([0.8, 0.3], [0.8, 0.3], policy="majority"), 6)
    0.0
    """
    y_true = _check_probabilities(y_true, "y_true")
    y_prob = _check_probabilities(y_prob, "y_prob", n=y_true.shape[0])
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty; need at least one pair.")
    weights = check_pair_weights(
        sample_weight, y_true.shape[0], "sample_weight", allow_all_zero=False
    )
    if policy == "majority":
        # Ties are broken by a fair coin.
        y_prob = np.where(y_prob > 0.5, 1.0, np.where(y_prob < 0.5, 0.0, 0.5))
    served = y_prob * y_true + (1.0 - y_prob) * (1.0 - y_true)
    best = np.maximum(y_true, 1.0 - y_true)
    return float(weighted_mean(best - served, weights))


#: Scorer for model selection (``GridSearchCV(..., scoring=calibration_scorer)``);
#: it returns the negative calibration error, so higher is better.
calibration_scorer = make_scorer(
    calibration_error, greater_is_better=False, response_method="predict_proba"
)
