"""The irreducible part of the calibration error: the noise floor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._compat import validate_params
from ..utils.validation import check_pair_weights, check_probabilities

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@validate_params(
    {
        "y_true": ["array-like"],
        "n_votes": ["array-like"],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def noise_floor(
    y_true: ArrayLike, n_votes: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """Unbiased estimate of the error no predictor can remove: mean ``p(1-p)/(n-1)``.

    A soft label ``p`` that is the share of ``n`` annotators' votes scatters
    around the population's probability ``p*``; by the paper's Lemma 1 the
    expected calibration error of any predictor is its error against ``p*``
    plus ``C = E[p*(1 - p*)/n]``. ``p(1 - p)/(n - 1)`` is an unbiased
    estimate of ``p*(1 - p*)/n`` for each pair (the sample variance of the
    votes divided by ``n``), so its mean estimates ``C``. Report the excess
    error above it next to the ratio to the single-reward floor.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        Soft labels: the share of annotators preferring A (a tie counting
        1/2 makes the per-pair estimate slightly conservative).
    n_votes : array-like of shape (n_pairs,)
        Number of votes behind each label; pairs with fewer than 2 votes
        carry no information about the noise and get weight 0.
    sample_weight : array-like of shape (n_pairs,), default=None
        Pair weights, as for :func:`calibration_error`.

    Returns
    -------
    noise : float
        The estimated irreducible error, on the scale of
        :func:`calibration_error`.

    See Also
    --------
    single_reward_floor : The least error of a single hard-vote reward.
    calibration_error : The error this part of is irreducible.

    Examples
    --------
    >>> from pcr_sklearn.metrics import noise_floor
    >>> # 3 of 5 votes for A: 0.6 * 0.4 / 4; a unanimous pair has no noise.
    >>> round(noise_floor([0.6, 1.0], [5, 5]), 6)
    0.03
    """
    y_true = check_probabilities(np.ravel(y_true), "y_true")
    n = np.asarray(n_votes, dtype=np.float64).reshape(-1)
    if n.shape != y_true.shape:
        raise ValueError(
            f"n_votes has {n.shape[0]} entries but y_true has {y_true.shape[0]}."
        )
    bad = ~np.isfinite(n) | (n < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"n_votes must be finite and >= 0; row {row} has {n[row]}.")
    weights = check_pair_weights(sample_weight, y_true.shape[0], "sample_weight")
    informative = n >= 2
    weights = np.where(informative, weights, 0.0)
    if not weights.any():
        raise ValueError(
            "noise_floor needs at least one pair with 2 or more votes and a "
            "positive weight."
        )
    per_pair = np.zeros_like(y_true)
    per_pair[informative] = (
        y_true[informative] * (1.0 - y_true[informative]) / (n[informative] - 1.0)
    )
    return float(np.average(per_pair, weights=weights))
