"""Matching fitted ensemble members to the true annotator groups.

``hard_votes`` (the vote rule) is re-exported from
:mod:`pcr_sklearn.utils.validation`, where it is defined once.
"""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.utils import Bunch

from .._compat import validate_params
from ..utils.validation import check_pair_weights

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray


def _check_votes(votes, name, n=None):
    votes = np.asarray(votes, dtype=np.float64)
    if votes.ndim == 1:
        votes = votes[:, None]
    if votes.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_pairs, n_voters), got {votes.shape}."
        )
    if n is not None and votes.shape[0] != n:
        raise ValueError(f"{name} has {votes.shape[0]} rows, expected {n}.")
    bad = ~np.isfinite(votes) | (votes < 0) | (votes > 1)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(f"{name} must lie in [0, 1]; row {row} does not.")
    return votes


def _check_weights(weights, name, n):
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if weights.shape[0] != n:
        raise ValueError(f"{name} has {weights.shape[0]} entries, expected {n}.")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {weights!r}.")
    return weights


@validate_params(
    {
        "member_votes": ["array-like"],
        "group_votes": ["array-like"],
        "sample_weight": ["array-like", Real, None],
    },
    prefer_skip_nested_validation=True,
)
def agreement_matrix(
    member_votes: ArrayLike,
    group_votes: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Pairwise agreement between every member and every group.

    Agreement on a pair is ``1 - |v_member - v_group|``: 1 when both pick the
    same side, 0 when they pick opposite sides, 1/2 when exactly one of them
    calls a tie.

    Parameters
    ----------
    member_votes : array-like of shape (n_pairs, n_members)
        Hard votes of the fitted members (see :func:`hard_votes`).
    group_votes : array-like of shape (n_pairs, n_groups)
        Hard votes of the true group rewards.
    sample_weight : array-like of shape (n_pairs,), default=None
        Pair weights.

    Returns
    -------
    agreement : ndarray of shape (n_members, n_groups)
        Weighted share of pairs on which member ``j`` agrees with group ``g``.

    Examples
    --------
    >>> from pcr_sklearn.recovery import agreement_matrix
    >>> agreement_matrix([[1, 0], [0, 0]], [[1, 1], [0, 1]])
    array([[1. , 0.5],
           [0.5, 0. ]])
    """
    member_votes = _check_votes(member_votes, "member_votes")
    n = member_votes.shape[0]
    group_votes = _check_votes(group_votes, "group_votes", n)
    if n == 0:
        raise ValueError("member_votes is empty; need at least one pair.")
    weights = check_pair_weights(
        sample_weight, n, "sample_weight", allow_all_zero=False
    )
    weights = weights / weights.sum()
    # A dense (n_pairs, n_members, n_groups) array is fine: recovery studies
    # compare a handful of members with a handful of groups.
    diff = np.abs(member_votes[:, :, None] - group_votes[:, None, :])
    return 1.0 - np.einsum("i,ijk->jk", weights, diff)


@validate_params(
    {
        "member_votes": ["array-like"],
        "group_votes": ["array-like"],
        "sample_weight": ["array-like", Real, None],
    },
    prefer_skip_nested_validation=True,
)
def match_members(
    member_votes: ArrayLike,
    group_votes: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
) -> Bunch:
    """Match fitted members one-to-one to true groups by pairwise agreement.

    Solves the assignment problem that maximises the total agreement
    (Hungarian algorithm, :func:`scipy.optimize.linear_sum_assignment`). With
    more members than groups (or fewer), the surplus stays unmatched.

    Parameters
    ----------
    member_votes : array-like of shape (n_pairs, n_members)
        Hard votes of the fitted members.
    group_votes : array-like of shape (n_pairs, n_groups)
        Hard votes of the true group rewards.
    sample_weight : array-like of shape (n_pairs,), default=None
        Pair weights.

    Returns
    -------
    result : Bunch
        The matching, with these keys:

        member_index, group_index : ndarray of int of shape (n_matched,)
            Member ``member_index[i]`` is matched to group ``group_index[i]``
            (sorted by member).
        agreement : ndarray of shape (n_matched,)
            Agreement of each matched pair.
        member_group : ndarray of int of shape (n_members,)
            Matched group of each member, ``-1`` if unmatched.
        agreement_matrix : ndarray of shape (n_members, n_groups)
            See :func:`agreement_matrix`.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.recovery import match_members
    >>> groups = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 1]])
    >>> match_members(groups[:, [2, 0, 1]], groups).member_group
    array([2, 0, 1])
    """
    agreement = agreement_matrix(member_votes, group_votes, sample_weight=sample_weight)
    rows, cols = linear_sum_assignment(agreement, maximize=True)
    member_group = np.full(agreement.shape[0], -1, dtype=np.int64)
    member_group[rows] = cols
    return Bunch(
        member_index=rows.astype(np.int64),
        group_index=cols.astype(np.int64),
        agreement=agreement[rows, cols],
        member_group=member_group,
        agreement_matrix=agreement,
    )


@validate_params(
    {
        "member_weights": ["array-like"],
        "group_weights": ["array-like"],
        "member_index": ["array-like"],
        "group_index": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def matched_weight_error(
    member_weights: ArrayLike,
    group_weights: ArrayLike,
    member_index: ArrayLike,
    group_index: ArrayLike,
) -> float:
    """L1 distance between member weights and group weights after matching.

    ``sum |alpha_j - w_g|`` over matched pairs ``(j, g)``, plus the whole weight
    of every unmatched member and every unmatched group. It is 0 exactly when
    the matched members carry their groups' weights, and at most 2.

    Parameters
    ----------
    member_weights : array-like of shape (n_members,)
        Weights of the fitted members (e.g. ``estimator_weights_``).
    group_weights : array-like of shape (n_groups,)
        True mixture weights.
    member_index, group_index : array-like of int of shape (n_matched,)
        The matching, as returned by :func:`match_members`.

    Returns
    -------
    error : float
        The L1 weight error, in [0, 2].

    Examples
    --------
    >>> from pcr_sklearn.recovery import matched_weight_error
    >>> round(matched_weight_error([0.6, 0.4], [0.5, 0.3, 0.2], [0, 1], [0, 2]), 10)
    0.6
    """
    alpha = np.asarray(member_weights, dtype=np.float64).reshape(-1)
    w = np.asarray(group_weights, dtype=np.float64).reshape(-1)
    alpha = _check_weights(alpha, "member_weights", alpha.shape[0])
    w = _check_weights(w, "group_weights", w.shape[0])
    rows = np.asarray(member_index, dtype=np.int64).reshape(-1)
    cols = np.asarray(group_index, dtype=np.int64).reshape(-1)
    if rows.shape != cols.shape:
        raise ValueError(
            "member_index and group_index must have the same length, got "
            f"{rows.shape[0]} and {cols.shape[0]}."
        )
    if rows.size and (rows.min() < 0 or rows.max() >= alpha.shape[0]):
        raise ValueError(f"member_index out of range for {alpha.shape[0]} members.")
    if cols.size and (cols.min() < 0 or cols.max() >= w.shape[0]):
        raise ValueError(f"group_index out of range for {w.shape[0]} groups.")
    if np.unique(rows).size != rows.size or np.unique(cols).size != cols.size:
        raise ValueError("member_index and group_index must be one-to-one.")
    matched = np.abs(alpha[rows] - w[cols]).sum()
    unmatched_members = alpha.sum() - alpha[rows].sum()
    unmatched_groups = w.sum() - w[cols].sum()
    return float(matched + unmatched_members + unmatched_groups)
