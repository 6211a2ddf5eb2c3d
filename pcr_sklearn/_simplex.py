"""Exact least squares over the probability simplex.

The ensemble weights solve ``min_a sum_i w_i (V_i . a - p_i)**2`` subject to
``a >= 0`` and ``sum(a) = 1``: a convex quadratic programme in ``k`` variables
(``k`` = number of members, rarely above a few dozen). A primal active-set
method solves it exactly, up to floating point, in a finite number of steps;
a generic optimiser would let its stopping tolerance leak into the weights and
break the guarantee that adding a member never raises the training error.
"""

import numpy as np

from .utils.validation import rescale_weights


def simplex_least_squares(votes, target, sample_weight=None):
    """Weights on the simplex minimising the weighted squared error.

    Parameters
    ----------
    votes : ndarray of shape (n_samples, n_members)
        Column ``j`` holds member ``j``'s vote for each pair.
    target : ndarray of shape (n_samples,)
        Soft labels.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights; ``None`` means equal weights.

    Returns
    -------
    weights : ndarray of shape (n_members,)
        Non-negative weights summing to one.

    Examples
    --------
    >>> import numpy as np
    >>> votes = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    >>> simplex_least_squares(votes, np.array([0.7, 1.0, 0.0])).round(6)
    array([0.7, 0.3])
    """
    votes = np.asarray(votes, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if sample_weight is None:
        sample_weight = np.ones(votes.shape[0])
    # Normalising the weights keeps the Gram matrix O(1) whatever n is, so the
    # solver's tolerances are relative. Rescaling by a power of two first
    # (exact) keeps the sum finite for weights near the float64 limit.
    w = rescale_weights(sample_weight)
    w = w / w.sum()
    weighted = votes * w[:, None]
    gram = votes.T @ weighted
    linear = weighted.T @ target
    return solve_simplex_qp(gram, linear)


def solve_simplex_qp(gram, linear, *, max_iter=None):
    """Minimise ``a @ gram @ a - 2 * linear @ a`` over the probability simplex.

    ``gram`` must be symmetric positive semi-definite (singular is fine:
    duplicated members give a singular Gram matrix; the returned weights are
    then one of the minimisers).

    Parameters
    ----------
    gram : ndarray of shape (k, k)
    linear : ndarray of shape (k,)
    max_iter : int, default=None
        Cap on active-set changes; ``None`` means ``50 * k + 100``, far above
        what the method needs.

    Returns
    -------
    weights : ndarray of shape (k,)
    """
    gram = np.asarray(gram, dtype=np.float64)
    linear = np.asarray(linear, dtype=np.float64)
    k = linear.shape[0]
    if k == 1:
        return np.ones(1)
    if max_iter is None:
        max_iter = 50 * k + 100
    scale = max(np.abs(gram).max(), np.abs(linear).max(), 1e-300)
    tol = 1e-12 * scale

    # Start at the best vertex: feasible, and often already the answer's support.
    vertex_values = np.diag(gram) - 2.0 * linear
    first = int(np.argmin(vertex_values))
    weights = np.zeros(k)
    weights[first] = 1.0
    free = np.zeros(k, dtype=bool)
    free[first] = True

    for _ in range(max_iter):
        candidate = _solve_on_support(gram, linear, free)
        if np.all(candidate[free] >= 0.0):
            weights = candidate
            gradient = 2.0 * (gram @ weights - linear)
            # On the support all gradient entries equal -nu (the multiplier of
            # sum(a) = 1); an index off the support with a smaller gradient has
            # a negative multiplier and should enter.
            level = gradient[free].mean()
            multipliers = np.where(free, np.inf, gradient - level)
            entering = int(np.argmin(multipliers))
            if multipliers[entering] >= -tol:
                break
            free[entering] = True
        else:
            # Walk from the feasible point towards the candidate until the first
            # weight hits zero, then drop it from the support.
            shrinking = free & (candidate < weights)
            steps = np.full(k, np.inf)
            steps[shrinking] = weights[shrinking] / (
                weights[shrinking] - candidate[shrinking]
            )
            step = min(1.0, steps.min())
            weights = weights + step * (candidate - weights)
            leaving = free & ((weights <= tol) | (steps <= step))
            weights[leaving] = 0.0
            free &= ~leaving
            if not free.any():
                # Only reachable through round-off; restart from the best vertex.
                free[first] = True
                weights = np.zeros(k)
                weights[first] = 1.0
    weights = np.clip(weights, 0.0, None)
    return weights / weights.sum()


def _solve_on_support(gram, linear, free):
    """Minimiser over ``{a : sum(a) = 1, a_j = 0 off the support}``.

    Solves the KKT system with least squares so that a singular Gram block
    (identical members) still gives an exact minimiser.
    """
    idx = np.flatnonzero(free)
    m = idx.size
    kkt = np.zeros((m + 1, m + 1))
    kkt[:m, :m] = 2.0 * gram[np.ix_(idx, idx)]
    kkt[:m, m] = 1.0
    kkt[m, :m] = 1.0
    rhs = np.empty(m + 1)
    rhs[:m] = 2.0 * linear[idx]
    rhs[m] = 1.0
    solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    full = np.zeros(gram.shape[0])
    full[idx] = solution[:m]
    return full
