"""Outlier pruning of a calibrated ensemble (paper, Theorem 3)."""

import numpy as np


def prune_mask(disagreement, weights, beta):
    """Members to keep after dropping the most disagreeing ones.

    Members are dropped in decreasing order of ``disagreement`` (ties: later
    members first) while the dropped weight stays within ``1 / (beta - 1)``;
    at least one member is always kept. Dropping weight ``delta`` and
    renormalising moves every prediction by at most ``delta``, so an
    ensemble with calibration error ``eps`` keeps error at most
    ``(sqrt(eps) + 1 / (beta - 1))**2``.

    Parameters
    ----------
    disagreement : ndarray of shape (n_members,)
        ``E|V_j - p_hat|`` per member.
    weights : ndarray of shape (n_members,)
        Member weights on the simplex.
    beta : float
        Greater than 1.

    Returns
    -------
    keep : ndarray of shape (n_members,), dtype=bool

    Examples
    --------
    >>> import numpy as np
    >>> prune_mask(np.array([0.1, 0.5, 0.4]), np.array([0.6, 0.15, 0.25]), 5.0)
    array([ True, False,  True])
    """
    if not beta > 1:
        raise ValueError(f"beta must be greater than 1, got {beta!r}.")
    budget = 1.0 / (beta - 1.0)
    k = weights.shape[0]
    order = np.lexsort((-np.arange(k), -disagreement))
    keep = np.ones(k, dtype=bool)
    dropped = 0.0
    for j in order:
        if keep.sum() == 1 or dropped + weights[j] > budget * (1 + 1e-12):
            break
        keep[j] = False
        dropped += weights[j]
    return keep
