"""Reference quantities from the theory: oracle, noise term, Theorem 2.

Notation (DESIGN.md section 1): ``p*`` is the probability that a random
annotator prefers A, ``n`` the number of annotators of a pair, ``y`` the soft
label. Lemma 1 of the paper: ``E[CE(y)] = CE(p*) + C`` with
``C = mean(Var(vote) / n)``, which is ``mean(p* (1 - p*) / n)`` without ties.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
from sklearn.utils import check_random_state

from .._compat import Interval, validate_params
from ..metrics import calibration_error
from ..utils.validation import (
    check_pair_weights,
    check_probabilities,
    hard_votes,
    rescale_weights,
    split_pairs,
    weighted_mean,
)
from ._matching import _check_votes, _check_weights

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from numpy.typing import ArrayLike, NDArray
    from sklearn.utils import Bunch


def _check_n_members(n_members):
    # Runs behind validate_params too: bool is an Integral, which the decorator
    # lets through as 1.
    if (
        isinstance(n_members, bool)
        or not isinstance(n_members, Integral)
        or n_members < 1
    ):
        raise ValueError(f"n_members must be a positive integer, got {n_members!r}.")
    return int(n_members)


def _normalised_group_weights(group_weights, n_groups):
    # Rescaled by a power of two first (exact): group weights of 1e308 are
    # valid, but their sum overflows.
    w = rescale_weights(_check_weights(group_weights, "group_weights", n_groups))
    total = w.sum()
    if total <= 0:
        raise ValueError("group_weights must not be all zero.")
    return w / total


@validate_params(
    {
        "p_star": ["array-like"],
        "n_annotators": ["array-like"],
        "vote_variance": ["array-like", None],
        "sample_weight": ["array-like", Real, None],
    },
    prefer_skip_nested_validation=True,
)
def noise_term(
    p_star: ArrayLike,
    n_annotators: ArrayLike,
    *,
    vote_variance: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Irreducible calibration error from finite annotator counts.

    ``C = mean(Var(vote) / n)``: the expected error of a *perfect* predictor
    ``p*`` against soft labels averaged over ``n`` annotators (paper Lemma 1).
    Without ties ``Var(vote) = p* (1 - p*)``.

    Parameters
    ----------
    p_star : array-like of shape (n_pairs,)
        Probability that a random annotator prefers A.
    n_annotators : array-like of shape (n_pairs,)
        Annotators per pair (positive).
    vote_variance : array-like of shape (n_pairs,), default=None
        Variance of one annotator's vote when ties (votes of 1/2) are possible;
        ``None`` uses ``p_star * (1 - p_star)``.
    sample_weight : array-like of shape (n_pairs,), default=None
        Pair weights.

    Returns
    -------
    C : float
        The weighted mean of ``Var(vote) / n``.

    Examples
    --------
    >>> from pcr_sklearn.recovery import noise_term
    >>> noise_term([0.5, 1.0], [5, 5])
    0.025
    """
    # Raveled, so that a (n_pairs, 1) column is accepted too.
    p_star = check_probabilities(np.ravel(p_star), "p_star")
    n = p_star.shape[0]
    if n == 0:
        raise ValueError("p_star is empty; need at least one pair.")
    counts = np.asarray(n_annotators, dtype=np.float64).reshape(-1)
    if counts.shape[0] != n:
        raise ValueError(f"n_annotators has {counts.shape[0]} entries, expected {n}.")
    bad = ~np.isfinite(counts) | (counts <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"n_annotators must be positive; row {row} has {counts[row]!r}."
        )
    if vote_variance is None:
        variance = p_star * (1.0 - p_star)
    else:
        variance = np.asarray(vote_variance, dtype=np.float64).reshape(-1)
        if variance.shape[0] != n:
            raise ValueError(
                f"vote_variance has {variance.shape[0]} entries, expected {n}."
            )
        if not np.all(np.isfinite(variance)) or np.any(variance < 0):
            raise ValueError("vote_variance must be finite and non-negative.")
    weights = check_pair_weights(
        sample_weight, n, "sample_weight", allow_all_zero=False
    )
    return float(weighted_mean(variance / counts, weights))


@validate_params(
    {
        "y_true": ["array-like"],
        "group_votes": ["array-like"],
        "group_weights": ["array-like"],
        "sample_weight": ["array-like", Real, None],
    },
    prefer_skip_nested_validation=True,
)
def oracle_calibration_error(
    y_true: ArrayLike,
    group_votes: ArrayLike,
    group_weights: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Calibration error of the oracle ensemble (true rewards, true weights).

    The oracle predicts ``group_votes @ group_weights``: the true group rewards
    as hard-vote members with the true mixture weights.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        Soft labels (or ``p*`` for the error against the truth).
    group_votes : array-like of shape (n_pairs, n_groups)
        Hard votes of the true group rewards.
    group_weights : array-like of shape (n_groups,)
        True mixture weights (normalised to sum to 1).
    sample_weight : array-like of shape (n_pairs,), default=None
        Pair weights.

    Returns
    -------
    error : float
        Calibration error of ``group_votes @ group_weights`` against ``y_true``.

    Examples
    --------
    >>> from pcr_sklearn.recovery import oracle_calibration_error
    >>> err = oracle_calibration_error([0.7, 0.2], [[1, 0], [0, 0]], [0.75, 0.25])
    >>> round(err, 6)
    0.02125
    """
    y_true = check_probabilities(np.ravel(y_true), "y_true")
    votes = _check_votes(group_votes, "group_votes", y_true.shape[0])
    w = _normalised_group_weights(group_weights, votes.shape[1])
    return calibration_error(y_true, votes @ w, sample_weight=sample_weight)


class AnnotatorEnsemble:
    """Ensemble of sampled annotators' rewards with equal weights (Theorem 2).

    Built by :func:`sample_annotator_ensemble`. It exposes the parts of the
    fitted-ensemble API that recovery tools use, so it can be passed to
    :func:`recovery_report` like a fitted
    :class:`~pcr_sklearn.PairwiseCalibratedEnsemble`.

    Parameters
    ----------
    rewards : list of callable
        Member rewards, each mapping items ``(n_items, d)`` to ``(n_items,)``.
    groups : array-like of int of shape (n_members,)
        The group each member was sampled from.

    Attributes
    ----------
    estimators_ : list of callable
        The member rewards (each also has a ``reward`` method).
    estimator_weights_ : ndarray of shape (n_members,)
        ``1 / n_members`` each.
    n_estimators_ : int
        Number of members.
    groups_ : ndarray of int of shape (n_members,)
        Sampled group of each member; members from the same group repeat.

    See Also
    --------
    sample_annotator_ensemble : Builds one from a known population.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.recovery import AnnotatorEnsemble
    >>> ens = AnnotatorEnsemble([lambda x: x[:, 0], lambda x: x[:, 1]], [0, 1])
    >>> X = np.array([[1.0, 0.0, 0.0, 1.0]])  # A = (1, 0), B = (0, 1)
    >>> ens.predict_proba(X)  # one member prefers A, the other B
    array([[0.5, 0.5]])
    """

    def __init__(
        self,
        rewards: Iterable[Callable[[NDArray[np.float64]], NDArray[np.float64]]],
        groups: ArrayLike,
    ) -> None:
        self.estimators_ = list(rewards)
        self.groups_ = np.asarray(groups, dtype=np.int64)
        self.n_estimators_ = len(self.estimators_)
        self.estimator_weights_ = np.full(self.n_estimators_, 1.0 / self.n_estimators_)

    def rewards(self, items: ArrayLike) -> NDArray[np.float64]:
        """Per-member rewards of items.

        Parameters
        ----------
        items : array-like of shape (n_items, d)
            Item features.

        Returns
        -------
        rewards : ndarray of shape (n_items, n_members)
            Column ``j`` is member ``j``'s reward.
        """
        items = np.asarray(items, dtype=np.float64)
        return np.column_stack([r(items) for r in self.estimators_])

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Share of members preferring A (hard votes).

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d)
            Pairs of item features.

        Returns
        -------
        proba : ndarray of shape (n_pairs, 2)
            Column 1: the share of members preferring A; column 0: one minus it.
        """
        items_a, items_b = split_pairs(X, "X")
        p = hard_votes(self.rewards(items_a), self.rewards(items_b))
        p = p @ self.estimator_weights_
        return np.column_stack([1.0 - p, p])

    def score(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> float:
        """Negative calibration error against soft labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d)
            Pairs of item features.
        y : array-like of shape (n_pairs,)
            Soft labels in [0, 1].
        sample_weight : array-like of shape (n_pairs,), default=None
            Pair weights; ``None``: all pairs weigh the same.

        Returns
        -------
        score : float
            ``-calibration_error(y, predict_proba(X)[:, 1])``.
        """
        proba = self.predict_proba(X)[:, 1]
        return -calibration_error(y, proba, sample_weight=sample_weight)

    def __repr__(self) -> str:
        return f"AnnotatorEnsemble(n_members={self.n_estimators_})"


@validate_params(
    {
        "truth": "no_validation",
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def sample_annotator_ensemble(
    truth: Bunch,
    n_members: int,
    *,
    random_state: int | np.random.RandomState | None = None,
) -> AnnotatorEnsemble:
    """Theorem 2 construction: rewards of ``k`` random annotators, weights ``1/k``.

    Draws ``n_members`` annotators independently from the population (group
    ``g`` with probability ``truth.group_weights[g]``) and uses each one's group
    reward as a member with weight ``1 / n_members``. With deterministic
    annotators its expected calibration error against ``p*`` is
    ``mean(p* (1 - p*)) / k <= 1 / (4 k)`` (paper Theorem 2); see
    :func:`expected_annotator_ensemble_error` for the exact value.

    Parameters
    ----------
    truth : Bunch
        Ground truth from ``make_preference_mixture(..., return_truth=True)``
        (uses ``rewards`` and ``group_weights``).
    n_members : int
        Number of sampled annotators ``k``.
    random_state : int, RandomState instance or None, default=None
        Controls the sampling.

    Returns
    -------
    ensemble : AnnotatorEnsemble
        The sampled members' group rewards with equal weights.

    Examples
    --------
    >>> from pcr_sklearn.datasets import make_preference_mixture
    >>> from pcr_sklearn.recovery import sample_annotator_ensemble
    >>> X, y, truth = make_preference_mixture(
    ...     n_prompts=10, return_truth=True, random_state=0)
    >>> ens = sample_annotator_ensemble(truth, 4, random_state=0)
    >>> ens.estimator_weights_
    array([0.25, 0.25, 0.25, 0.25])
    >>> ens.predict_proba(X).shape
    (100, 2)
    """
    n_members = _check_n_members(n_members)
    rewards = list(truth.rewards)
    w = _normalised_group_weights(truth.group_weights, len(rewards))
    rng = check_random_state(random_state)
    groups = rng.choice(len(rewards), size=n_members, p=w)
    return AnnotatorEnsemble([rewards[g] for g in groups], groups)


@validate_params(
    {
        "group_votes": ["array-like"],
        "group_weights": ["array-like"],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "y_true": ["array-like", None],
        "sample_weight": ["array-like", Real, None],
    },
    prefer_skip_nested_validation=True,
)
def expected_annotator_ensemble_error(
    group_votes: ArrayLike,
    group_weights: ArrayLike,
    n_members: int,
    *,
    y_true: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Exact expected error of :func:`sample_annotator_ensemble`.

    A member's vote on pair ``i`` is ``V = group_votes[i, g]`` with ``g`` drawn
    from ``group_weights``; the ensemble predicts the mean of ``k`` independent
    draws. So, with ``m = E[V]``, ``s = E[V^2]`` and target ``t``,
    ``E[(p_hat - t)^2] = (m - t)^2 + (s - m^2) / k`` per pair, averaged over
    pairs with ``sample_weight``. With deterministic annotators and
    ``t = p* = m`` this is ``mean(p* (1 - p*)) / k <= 1 / (4 k)``
    (paper Theorem 2); with Bradley-Terry noise the bias ``(m - p*)^2`` stays.

    Parameters
    ----------
    group_votes : array-like of shape (n_pairs, n_groups)
        Hard votes of the group rewards.
    group_weights : array-like of shape (n_groups,)
        Population weights (normalised to sum to 1).
    n_members : int
        Number of sampled annotators ``k``.
    y_true : array-like of shape (n_pairs,), default=None
        Target (``p*`` or soft labels). ``None`` uses the population's mean
        hard vote ``m``, which equals ``p*`` for deterministic annotators.
    sample_weight : array-like of shape (n_pairs,), default=None
        Pair weights.

    Returns
    -------
    error : float
        The expected calibration error over the draws of the members.

    Examples
    --------
    >>> from pcr_sklearn.recovery import expected_annotator_ensemble_error
    >>> expected_annotator_ensemble_error([[1, 0], [1, 1]], [0.5, 0.5], 2)
    0.0625
    """
    votes = _check_votes(group_votes, "group_votes")
    n = votes.shape[0]
    if n == 0:
        raise ValueError("group_votes is empty; need at least one pair.")
    w = _normalised_group_weights(group_weights, votes.shape[1])
    k = _check_n_members(n_members)
    mean = votes @ w
    second = votes**2 @ w
    if y_true is None:
        target = mean
    else:
        target = check_probabilities(np.ravel(y_true), "y_true", n)
    per_pair = (mean - target) ** 2 + np.clip(second - mean**2, 0.0, None) / k
    weights = check_pair_weights(
        sample_weight, n, "sample_weight", allow_all_zero=False
    )
    return float(weighted_mean(per_pair, weights))
