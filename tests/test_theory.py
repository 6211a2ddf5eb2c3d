"""The calibration theory of DESIGN.md, each claim as a property next to an
exact (golden) test of the same claim."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.stats import binom

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn._pruning import prune_mask
from pcr_sklearn._simplex import simplex_least_squares
from pcr_sklearn.metrics import calibration_error, single_reward_floor

from .strategies import simplex_weights, small_pair_data, unit, vote_problems


def objective(votes, target, weights, alpha):
    return np.average((votes @ alpha - target) ** 2, weights=weights)


def brute_force_simplex(votes, target, weights):
    """Best weights by enumerating every support (exact, for small k)."""
    w = weights / weights.sum()
    gram = votes.T @ (votes * w[:, None])
    linear = (votes * w[:, None]).T @ target
    k = votes.shape[1]
    best = (np.inf, None)
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            idx = list(support)
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = 2 * gram[np.ix_(idx, idx)]
            kkt[:size, size] = kkt[size, :size] = 1
            rhs = np.r_[2 * linear[idx], 1]
            solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:size]
            if np.all(solution >= -1e-12):
                alpha = np.zeros(k)
                alpha[idx] = np.clip(solution, 0, None)
                alpha /= alpha.sum()
                value = objective(votes, target, weights, alpha)
                if value < best[0]:
                    best = (value, alpha)
    return best


# ----------------------------------------------------------- simplex solver


def test_simplex_golden_values():
    votes = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert_allclose(simplex_least_squares(votes, np.array([0.7, 1.0, 0.0])), [0.7, 0.3])
    # Unconstrained optimum outside the simplex: the answer sits on a vertex.
    assert_allclose(
        simplex_least_squares(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([1.0, 1.0])),
        [1.0, 0.0],
    )
    # Duplicated members (singular Gram matrix) still give an optimum.
    votes = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    alpha = simplex_least_squares(votes, np.array([0.25, 0.75]))
    assert alpha[0] + alpha[1] == pytest.approx(0.25)
    assert alpha[2] == pytest.approx(0.75)


@given(vote_problems())
def test_simplex_solver_is_feasible_optimal_and_satisfies_kkt(problem):
    votes, target, weights = problem
    alpha = simplex_least_squares(votes, target, weights)
    k = votes.shape[1]
    assert np.all(alpha >= 0) and alpha.sum() == pytest.approx(1.0)
    value = objective(votes, target, weights, alpha)
    # Never worse than any vertex or the uniform weights, and equal to the
    # exhaustive optimum.
    for j in range(k):
        assert value <= objective(votes, target, weights, np.eye(k)[j]) + 1e-12
    assert value <= objective(votes, target, weights, np.full(k, 1 / k)) + 1e-12
    assert value <= brute_force_simplex(votes, target, weights)[0] + 1e-12
    # KKT: the gradient is equal on the support and not smaller off it.
    w = weights / weights.sum()
    gradient = 2 * votes.T @ (w * (votes @ alpha - target))
    support = alpha > 1e-9
    level = gradient[support].mean()
    assert_allclose(gradient[support], level, atol=1e-9)
    assert np.all(gradient[~support] >= level - 1e-9)


# --------------------------------------------------------- single-reward floor


def test_floor_golden_value_and_majority_reaches_it():
    p = np.array([0.8, 0.4, 1.0, 0.5])
    assert single_reward_floor(p) == pytest.approx((0.04 + 0.16 + 0 + 0.25) / 4)
    majority = (p > 0.5).astype(float)
    assert calibration_error(p, majority) == pytest.approx(single_reward_floor(p))


@given(vote_problems(max_members=1))
def test_any_single_hard_vote_reward_is_at_least_the_floor(problem):
    votes, target, weights = problem
    decisive = np.round(votes[:, 0])  # a deterministic reward votes 0 or 1
    assert (
        calibration_error(target, decisive, sample_weight=weights)
        >= single_reward_floor(target, sample_weight=weights) - 1e-15
    )


# ------------------------------------------- oracle error = sampling noise


def _expected_error_of_oracle(p_star, n):
    """E over y ~ Binomial(n, p*)/n of the oracle's error, computed exactly by
    feeding every outcome with its probability as a sample weight."""
    outcomes = np.arange(n + 1) / n
    return calibration_error(
        outcomes,
        np.full(n + 1, p_star),
        sample_weight=binom.pmf(np.arange(n + 1), n, p_star),
    )


def test_oracle_error_equals_noise_term_golden():
    assert _expected_error_of_oracle(0.3, 5) == pytest.approx(0.3 * 0.7 / 5)
    assert _expected_error_of_oracle(0.5, 1) == pytest.approx(0.25)


@given(st.floats(0.01, 0.99), st.integers(1, 60))
def test_oracle_error_equals_noise_term(p_star, n):
    assert _expected_error_of_oracle(p_star, n) == pytest.approx(
        p_star * (1 - p_star) / n, rel=1e-9
    )


# ------------------------------------------------ Theorem 3: outlier pruning


def test_prune_mask_golden():
    keep = prune_mask(np.array([0.1, 0.5, 0.4]), np.array([0.6, 0.15, 0.25]), 5.0)
    assert keep.tolist() == [True, False, True]  # budget 0.25: only 0.15 fits
    keep = prune_mask(np.array([0.1, 0.5, 0.4]), np.array([0.6, 0.15, 0.25]), 2.0)
    assert keep.tolist() == [True, False, False]  # budget 1, one member stays
    with pytest.raises(ValueError, match="beta must be greater than 1"):
        prune_mask(np.ones(2), np.full(2, 0.5), 1.0)


@given(vote_problems(votes="hard"), st.floats(1.5, 20.0), st.data())
def test_pruned_error_and_weight_bounds(problem, beta, data):
    votes, target, weights = problem
    alpha = data.draw(simplex_weights(votes.shape[1]))
    share = votes @ alpha
    eps = calibration_error(target, np.clip(share, 0, 1), sample_weight=weights)
    disagreement = np.average(np.abs(votes - share[:, None]), axis=0, weights=weights)
    keep = prune_mask(disagreement, alpha, beta)
    dropped = alpha[~keep].sum()
    assert dropped <= 1 / (beta - 1) + 1e-9
    pruned = votes[:, keep] @ (alpha[keep] / alpha[keep].sum())
    error = calibration_error(target, np.clip(pruned, 0, 1), sample_weight=weights)
    assert error <= (np.sqrt(eps) + 1 / (beta - 1)) ** 2 + 1e-9


def test_estimator_prune_drops_the_outlier():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(400, 3)), rng.normal(size=(400, 3))
    y = 0.9 * (a[:, 0] > b[:, 0]) + 0.1 * (a[:, 1] > b[:, 1])
    X = np.hstack([a, b])
    est = PairwiseCalibratedEnsemble(
        n_estimators=2, n_backfit=2, members="stagewise", random_state=0
    )
    est.fit(X, y)
    pruned = est.prune(beta=6.0)  # budget 0.2: the 0.1-weight member goes
    assert pruned.n_estimators_ == 1 and est.n_estimators_ == 2
    assert pruned.pruned_members_.tolist() == [int(np.argmin(est.estimator_weights_))]
    assert_allclose(pruned.estimator_weights_, [1.0])
    eps = -est.score(X, y)
    assert -pruned.score(X, y) <= (np.sqrt(eps) + 1 / 5) ** 2
    # Measuring disagreement on given pairs gives the same choice here.
    assert est.prune(6.0, X).pruned_members_.tolist() == pruned.pruned_members_.tolist()
    assert_allclose(list(pruned.staged_predict_proba(X))[-1], pruned.predict_proba(X))


# ----------------------------------------- ensemble-level invariances


@given(small_pair_data())
def test_training_error_never_increases_over_stages(data):
    # Stagewise members: each stage re-optimises the weights, and the previous
    # ones padded with zero are feasible.
    X, y = data
    est = PairwiseCalibratedEnsemble(
        n_estimators=4, members="stagewise", random_state=0
    ).fit(X, y)
    assert np.all(np.diff(est.train_score_) <= 1e-12)
    staged = [calibration_error(y, p) for p in est.staged_predict_proba(X)]
    assert np.all(np.diff(staged) <= 1e-12)


def test_training_error_golden_two_group_mixture():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    y = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    est = PairwiseCalibratedEnsemble(
        n_estimators=2, objective="shared", members="stagewise", random_state=0
    )
    est.fit(np.hstack([a, b]), y)
    # One reward can do no better than the floor; two recover the mixture.
    assert est.train_score_[0] >= single_reward_floor(y)
    assert est.train_score_[1] < 0.1 * single_reward_floor(y)
    assert_allclose(np.sort(est.estimator_weights_), [0.3, 0.7], atol=0.01)


@given(small_pair_data(), st.randoms(use_true_random=False))
def test_member_order_does_not_change_predictions(data, random):
    X, y = data
    est = PairwiseCalibratedEnsemble(n_estimators=3, random_state=0).fit(X, y)
    order = list(range(3))
    random.shuffle(order)
    expected = est.predict_proba(X)
    est.estimators_ = [est.estimators_[j] for j in order]
    est.estimator_weights_ = est.estimator_weights_[order]
    assert_allclose(est.predict_proba(X), expected)


@given(small_pair_data(), st.sampled_from(["hard", "soft"]))
def test_swapping_a_and_b_flips_predictions(data, vote):
    X, y = data
    est = PairwiseCalibratedEnsemble(n_estimators=2, vote=vote, random_state=0)
    est.fit(X, y)
    swapped = np.hstack([X[:, 2:], X[:, :2]])
    assert_allclose(est.predict_proba(swapped), est.predict_proba(X)[:, ::-1])


@given(
    small_pair_data(),
    st.lists(st.integers(0, 3), min_size=40, max_size=40),
    st.sampled_from(["population", "stagewise"]),
)
def test_integer_sample_weights_equal_duplicated_rows(data, counts, members):
    X, y = data
    counts = np.array(counts[: len(y)])
    counts[0] = max(counts[0], 1)
    est = PairwiseCalibratedEnsemble(n_estimators=2, members=members, random_state=0)
    weighted = est.fit(X, y, sample_weight=counts).predict_proba(X)
    repeated = est.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    assert_allclose(repeated.predict_proba(X), weighted, atol=1e-6)


@given(unit, unit)
def test_calibration_error_is_squared_difference(p, q):
    assert calibration_error([p], [q]) == pytest.approx((p - q) ** 2)
