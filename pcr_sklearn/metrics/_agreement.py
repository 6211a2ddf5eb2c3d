"""How members relate to each other and to the annotators."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import kendalltau

from .._compat import validate_params
from ..utils.validation import check_pair_weights, weighted_mean
from ._calibration import _check_probabilities

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray


@validate_params({"rewards": ["array-like"]}, prefer_skip_nested_validation=True)
def kendall_tau_matrix(rewards: ArrayLike) -> NDArray[np.float64]:
    """Kendall rank correlation between every two members' rewards.

    Parameters
    ----------
    rewards : array-like of shape (n_items, n_members)
        Column ``j`` holds member ``j``'s reward for each item, e.g. the output
        of :meth:`PairwiseCalibratedEnsemble.rewards`.

    Returns
    -------
    tau : ndarray of shape (n_members, n_members)
        Symmetric, ones on the diagonal (tau-b, so ties are handled). A member
        with constant rewards has no ranking: its off-diagonal entries are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.metrics import kendall_tau_matrix
    >>> r = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    >>> kendall_tau_matrix(r)
    array([[ 1., -1.],
           [-1.,  1.]])
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 2:
        raise ValueError(
            f"rewards must be 2-D (n_items, n_members), got shape {rewards.shape}."
        )
    if not np.isfinite(rewards).all():
        row = int(np.flatnonzero(~np.isfinite(rewards).all(axis=1))[0])
        raise ValueError(f"rewards must be finite; row {row} is not.")
    k = rewards.shape[1]
    tau = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            if np.ptp(rewards[:, i]) == 0 or np.ptp(rewards[:, j]) == 0:
                value = np.nan
            else:
                value = kendalltau(rewards[:, i], rewards[:, j]).statistic
            tau[i, j] = tau[j, i] = value
    return tau


@validate_params(
    {
        "votes": ["array-like"],
        "y_true": ["array-like"],
        "sample_weight": ["array-like", Real, None],
    },
    prefer_skip_nested_validation=True,
)
def disagreement_scores(
    votes: ArrayLike, y_true: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Disagreement of each member with the annotators, ``Phi_j = E|V_j - p|``.

    Parameters
    ----------
    votes : array-like of shape (n_pairs, n_members)
        Each member's vote per pair (1 for A, 0 for B, 1/2 for a tie; soft
        votes are accepted too).
    y_true : array-like of shape (n_pairs,)
        Soft labels, or any reference probability such as the ensemble's own
        prediction (the pruning rule of the paper's Theorem 3 uses that).
    sample_weight : array-like of shape (n_pairs,), default=None
        Pair weights of the mean; ``None``: all pairs weigh the same.

    Returns
    -------
    scores : ndarray of shape (n_members,)
        Weighted mean absolute difference between each member's votes and
        ``y_true``.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.metrics import disagreement_scores
    >>> disagreement_scores(np.array([[1, 0], [1, 1]]), [1.0, 0.5])
    array([0.25, 0.75])
    """
    y_true = _check_probabilities(y_true, "y_true")
    votes = np.asarray(votes, dtype=np.float64)
    if votes.ndim != 2 or votes.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"votes must have shape (n_pairs, n_members) with n_pairs="
            f"{y_true.shape[0]}, got {votes.shape}."
        )
    weights = check_pair_weights(
        sample_weight, y_true.shape[0], "sample_weight", allow_all_zero=False
    )
    return weighted_mean(np.abs(votes - y_true[:, None]), weights, axis=0)
