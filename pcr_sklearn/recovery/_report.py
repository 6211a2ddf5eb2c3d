"""One-call comparison of a fitted ensemble with the generating mixture."""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils import Bunch

from .._compat import HasMethods, validate_params
from ..datasets._synthetic import _vote_distribution
from ..metrics import calibration_error, single_reward_floor
from ..utils.validation import check_probabilities, hard_votes, split_pairs
from ._matching import match_members, matched_weight_error
from ._theory import _normalised_group_weights, noise_term

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@validate_params(
    {"truth": "no_validation", "X": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def truth_on_pairs(truth: Bunch, X: ArrayLike) -> Bunch:
    """Evaluate the generating mixture on arbitrary pairs.

    Everything that depends only on the pair (not on which annotators judged
    it) can be recomputed from the group rewards, so held-out or newly built
    pairs need no bookkeeping of row indices.

    Parameters
    ----------
    truth : Bunch
        Ground truth from ``make_preference_mixture(..., return_truth=True)``.
    X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d)
        Pairs of item features.

    Returns
    -------
    result : Bunch
        The mixture on these pairs, with these keys:

        group_votes : ndarray of shape (n_pairs, n_groups)
            Hard votes of each group reward.
        group_prefs : ndarray of shape (n_pairs, n_groups)
            Probability that an annotator of each group prefers A (ties 1/2).
        p_star : ndarray of shape (n_pairs,)
            Probability that a random annotator prefers A.
        vote_variance : ndarray of shape (n_pairs,)
            Variance of one random annotator's vote.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.datasets import make_preference_mixture
    >>> from pcr_sklearn.recovery import truth_on_pairs
    >>> X, y, truth = make_preference_mixture(
    ...     n_prompts=5, temperature=0.5, return_truth=True, random_state=0)
    >>> bool(np.allclose(truth_on_pairs(truth, X).p_star, truth.p_star))
    True
    """
    items_a, items_b = split_pairs(X, "X")
    w = _normalised_group_weights(truth.group_weights, len(truth.rewards))
    distribution = _vote_distribution(
        np.column_stack([r(items_a) for r in truth.rewards]),
        np.column_stack([r(items_b) for r in truth.rewards]),
        w,
        temperature=truth.temperature,
        tie_margin=truth.tie_margin,
    )
    return Bunch(
        group_votes=distribution.group_votes,
        group_prefs=distribution.group_prefs,
        p_star=distribution.p_star,
        vote_variance=distribution.vote_variance,
    )


def _member_rewards(estimator, items):
    if hasattr(estimator, "rewards"):
        return np.asarray(estimator.rewards(items), dtype=np.float64)
    return np.column_stack([m.reward(items) for m in estimator.estimators_])


def _member_agreement(estimator, items_a, items_b, group_votes, sample_weight):
    """Match the members' hard votes to the groups' (see :func:`match_members`);
    also returns each member's agreement with its group (NaN: unmatched)."""
    votes = hard_votes(
        _member_rewards(estimator, items_a), _member_rewards(estimator, items_b)
    )
    match = match_members(votes, group_votes, sample_weight=sample_weight)
    agreement = np.full(votes.shape[1], np.nan)
    agreement[match.member_index] = match.agreement
    return match, agreement


def _errors(y, proba, ref, group_weights, sample_weight):
    """The ensemble's and the oracle's errors, against ``y`` and against ``p*``."""
    oracle = ref.group_votes @ group_weights
    error = calibration_error(y, proba, sample_weight=sample_weight)
    oracle_error = calibration_error(y, oracle, sample_weight=sample_weight)
    return Bunch(
        calibration_error=error,
        oracle_error=oracle_error,
        ratio_to_oracle=error / oracle_error if oracle_error > 0 else float("inf"),
        floor=single_reward_floor(y, sample_weight=sample_weight),
        error_vs_p_star=calibration_error(
            ref.p_star, proba, sample_weight=sample_weight
        ),
        oracle_error_vs_p_star=calibration_error(
            ref.p_star, oracle, sample_weight=sample_weight
        ),
    )


def _noise(X, truth, ref, n_annotators, sample_weight):
    """The noise term of the pairs, NaN when their annotator counts are unknown."""
    if n_annotators is None and _is_generated_data(X, truth):
        n_annotators = truth.n_annotators
    if n_annotators is None:
        return float("nan")
    return noise_term(
        ref.p_star,
        n_annotators,
        vote_variance=ref.vote_variance,
        sample_weight=sample_weight,
    )


@validate_params(
    {
        "estimator": [HasMethods(["predict_proba"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "truth": "no_validation",
        "n_annotators": ["array-like", None],
        "sample_weight": ["array-like", Real, None],
    },
    prefer_skip_nested_validation=True,
)
def recovery_report(
    estimator: Any,
    X: ArrayLike,
    y: ArrayLike,
    truth: Bunch,
    *,
    n_annotators: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
) -> Bunch:
    """Compare a fitted ensemble with the mixture that generated the data.

    Parameters
    ----------
    estimator : fitted ensemble
        A fitted :class:`~pcr_sklearn.PairwiseCalibratedEnsemble` or an
        :class:`AnnotatorEnsemble`: anything with ``predict_proba``,
        ``estimator_weights_`` and either ``rewards(items)`` or
        ``estimators_`` whose members have ``reward(items)``.
    X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d)
        Pairs to evaluate on (typically held-out pairs or prompts).
    y : array-like of shape (n_pairs,)
        Their soft labels.
    truth : Bunch
        Ground truth from ``make_preference_mixture(..., return_truth=True)``.
    n_annotators : array-like of shape (n_pairs,), default=None
        Annotators per pair of ``X`` (e.g. ``truth.n_annotators[test]``), for
        the noise term. ``None``: taken from ``truth`` when ``X`` is the full
        generated data in its original order, else the noise term is NaN.
    sample_weight : array-like of shape (n_pairs,), default=None
        Pair weights for every average in the report.

    Returns
    -------
    report : Bunch
        The comparison, with these keys:

        calibration_error : float
            Error of the ensemble's ``predict_proba`` against ``y``.
        oracle_error : float
            Error of the oracle ensemble (true rewards as hard-vote members,
            true weights) against ``y``.
        ratio_to_oracle : float
            ``calibration_error / oracle_error`` (inf if the oracle is exact).
        floor : float
            Single-reward floor of ``y``.
        noise_term : float
            ``C = mean(Var(vote) / n)`` (``p* (1 - p*) / n`` without ties).
        error_vs_p_star, oracle_error_vs_p_star : float
            The same two errors against the exact ``p*`` instead of ``y``.
        member_weights : ndarray of shape (n_members,)
            The ensemble's member weights.
        group_weights : ndarray of shape (n_groups,)
            The population's true group weights.
        member_group : ndarray of int of shape (n_members,)
            Matched group of each member (``-1``: unmatched).
        member_agreement : ndarray of shape (n_members,)
            Share of pairs on which each member agrees with its matched group
            (NaN if unmatched).
        agreement_matrix : ndarray of shape (n_members, n_groups)
            Agreement of every member with every group.
        matched_weight_error : float
            L1 weight error after matching (:func:`matched_weight_error`).

    Examples
    --------
    >>> from pcr_sklearn.datasets import make_preference_mixture
    >>> from pcr_sklearn.recovery import recovery_report, sample_annotator_ensemble
    >>> X, y, truth = make_preference_mixture(
    ...     n_prompts=30, n_groups=2, group_weights=[0.5, 0.5],
    ...     return_truth=True, random_state=0)
    >>> ens = sample_annotator_ensemble(truth, 2, random_state=1)
    >>> report = recovery_report(ens, X, y, truth)
    >>> sorted(report.member_group.tolist())
    [0, 1]
    >>> report.matched_weight_error
    0.0
    """
    items_a, items_b = split_pairs(np.asarray(X, dtype=np.float64), "X")
    n = items_a.shape[0]
    # Raveled, so that a (n_pairs, 1) column is accepted too.
    y = check_probabilities(np.ravel(y), "y", n)
    if n == 0:
        raise ValueError("X is empty; need at least one pair.")
    ref = truth_on_pairs(truth, X)
    group_w = _normalised_group_weights(truth.group_weights, len(truth.rewards))
    member_w = np.asarray(estimator.estimator_weights_, dtype=np.float64)

    match, member_agreement = _member_agreement(
        estimator, items_a, items_b, ref.group_votes, sample_weight
    )
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)[:, 1]
    errors = _errors(y, proba, ref, group_w, sample_weight)
    return Bunch(
        calibration_error=errors.calibration_error,
        oracle_error=errors.oracle_error,
        ratio_to_oracle=errors.ratio_to_oracle,
        floor=errors.floor,
        noise_term=_noise(X, truth, ref, n_annotators, sample_weight),
        error_vs_p_star=errors.error_vs_p_star,
        oracle_error_vs_p_star=errors.oracle_error_vs_p_star,
        member_weights=member_w,
        group_weights=group_w,
        member_group=match.member_group,
        member_agreement=member_agreement,
        agreement_matrix=match.agreement_matrix,
        matched_weight_error=matched_weight_error(
            member_w, group_w, match.member_index, match.group_index
        ),
    )


def _is_generated_data(X, truth):
    """Whether ``X`` is exactly the generated pairs, row for row."""
    pair_items = truth.pair_items
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] != pair_items.shape[0]:
        return False
    items = truth.item_features
    flat = X.reshape(X.shape[0], -1)
    if flat.shape[1] != 2 * items.shape[1]:
        return False
    return bool(
        np.array_equal(flat[:, : items.shape[1]], items[pair_items[:, 0]])
        and np.array_equal(flat[:, items.shape[1] :], items[pair_items[:, 1]])
    )
