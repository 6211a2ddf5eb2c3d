"""Numerics that used to fail silently: weights and counts near the float64 limit.

Every place that sums or averages pair weights rescales them by a power of two
first (exact), so weights of 1e308 give the model that weights of 1 give,
without overflow warnings; vote counts are rescaled per pair the same way.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn._simplex import simplex_least_squares
from pcr_sklearn._stages import weighted_error
from pcr_sklearn.baselines import SoftBradleyTerry
from pcr_sklearn.datasets import soft_labels_from_votes
from pcr_sklearn.metrics import (
    calibration_error,
    disagreement_scores,
    regret,
    single_reward_floor,
)
from pcr_sklearn.utils.validation import (
    check_finite,
    deferred_finite_checks,
    rescale_weights,
    weighted_mean,
)


@pytest.fixture(autouse=True)
def _overflow_is_an_error():
    # "Without overflow" means without the warning too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


#: Times weights in [0.5, 2): the largest is 1e308.
HUGE = 5e307


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.uniform(size=n)
    y_prob = np.clip(y_true + rng.normal(scale=0.2, size=n), 0, 1)
    weight = rng.uniform(0.5, 2.0, size=n)
    return y_true, y_prob, weight


# ------------------------------------------------------------ the helpers


def test_rescale_weights_is_exact_and_bounded():
    weight = np.array([3.0, 0.0, 1e-3, 7.5])
    scaled = rescale_weights(weight)
    assert 0.5 <= scaled.max() < 1.0
    # A power of two: every ratio, hence every weighted mean, is unchanged.
    assert_array_equal(scaled / scaled[0], weight / weight[0])
    assert np.isfinite(rescale_weights(np.full(1000, 1.7e308)).sum())
    assert_array_equal(rescale_weights(np.zeros(3)), np.zeros(3))
    assert rescale_weights(np.empty(0)).shape == (0,)


def test_weighted_mean_equals_np_average_and_survives_huge_weights():
    y_true, y_prob, weight = _data()
    values = (y_prob - y_true) ** 2
    # Bit for bit where np.average is finite.
    assert weighted_mean(values, weight) == np.average(values, weights=weight)
    assert_allclose(
        weighted_mean(values, weight * HUGE), np.average(values, weights=weight)
    )
    matrix = np.column_stack([values, 2 * values])
    assert_allclose(
        weighted_mean(matrix, np.full(len(values), 1e308), axis=0),
        matrix.mean(axis=0),
    )


# --------------------------------------------- every weighted mean or sum


@pytest.mark.parametrize(
    "metric",
    [calibration_error, regret, lambda t, p, **kw: single_reward_floor(t, **kw)],
)
def test_metrics_with_weights_near_the_float64_limit(metric):
    # Measured before: np.average's weight sum overflowed (0/inf or nan).
    y_true, y_prob, weight = _data()
    expected = metric(y_true, y_prob, sample_weight=weight)
    assert_allclose(metric(y_true, y_prob, sample_weight=weight * HUGE), expected)
    assert_allclose(metric(y_true, y_prob, sample_weight=1e308), metric(y_true, y_prob))


def test_disagreement_and_training_error_with_huge_weights():
    y_true, y_prob, weight = _data()
    votes = (np.random.default_rng(1).uniform(size=(len(y_true), 3)) > 0.5) * 1.0
    assert_allclose(
        disagreement_scores(votes, y_true, sample_weight=weight * HUGE),
        disagreement_scores(votes, y_true, sample_weight=weight),
    )
    assert_allclose(
        weighted_error(y_prob, y_true, weight * HUGE),
        weighted_error(y_prob, y_true, weight),
    )


def test_simplex_weights_with_huge_weights():
    rng = np.random.default_rng(2)
    votes = (rng.uniform(size=(300, 4)) > 0.5) * 1.0
    target = votes @ [0.5, 0.3, 0.2, 0.0]
    weight = rng.uniform(0.5, 2.0, size=300)
    expected = simplex_least_squares(votes, target, weight)
    assert_allclose(simplex_least_squares(votes, target, weight * HUGE), expected)
    assert_allclose(expected, [0.5, 0.3, 0.2, 0.0], atol=1e-9)


def test_estimators_with_weights_near_the_float64_limit():
    # Measured before: a constant model and overflow warnings.
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 300, 3))
    y = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    X = np.hstack([a, b])
    weight = np.full(300, 1e308)
    for make in (
        lambda: PairwiseCalibratedEnsemble(
            n_estimators=2, members="stagewise", n_backfit=1, random_state=0
        ),
        lambda: SoftBradleyTerry(random_state=0),
    ):
        plain = make().fit(X, y)
        huge = make().fit(X, y, sample_weight=weight)
        assert_allclose(huge.predict_proba(X), plain.predict_proba(X), atol=1e-10)
        assert_allclose(huge.score(X, y, sample_weight=weight), plain.score(X, y))


# ---------------------------------------------------------- vote counts


def test_soft_labels_from_huge_vote_counts():
    # Measured before: 1e308 + 1e308 = inf, so the label was 0, not 0.5.
    assert_array_equal(soft_labels_from_votes([1e308], [1e308]), [0.5])
    assert_array_equal(soft_labels_from_votes([1e308], [1e308], [1e308]), [0.5])
    assert_allclose(soft_labels_from_votes([1.5e308], [0.5e308]), [0.75])
    assert_allclose(
        soft_labels_from_votes([1e308, 3.0], [1e308, 1.0], [1e308, 0.0], ties="drop"),
        [0.5, 0.75],
    )
    # Ties far larger than the decisive votes do not drown them with "drop".
    assert_allclose(
        soft_labels_from_votes([2e-300], [1e-300], [1e308], ties="drop"), [2 / 3]
    )


def test_soft_labels_of_ordinary_counts_are_unchanged_bit_for_bit():
    rng = np.random.default_rng(4)
    a, b, tie = rng.integers(0, 50, size=(3, 500)).astype(float)
    a[0] = b[0] = tie[0] = 0.0
    a[0] = 1.0
    assert_array_equal(
        soft_labels_from_votes(a, b, tie), (a + 0.5 * tie) / (a + b + tie)
    )
    decisive = a + b
    expected = np.divide(a, decisive, out=np.full(500, 0.5), where=decisive > 0)
    assert_array_equal(soft_labels_from_votes(a, b, tie, ties="drop"), expected)
    with pytest.raises(ValueError, match="index 2 has no votes"):
        soft_labels_from_votes([1, 1, 0], [0, 1, 0], [0, 0, 0])


# ---------------------------------------------- deferred finiteness checks


def test_check_finite_names_the_row_of_the_callers_data():
    X = np.ones((4, 3))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="row 102, column 1"):
        check_finite(X, "pairs", first_row=100)
    with deferred_finite_checks() as pending:
        check_finite(X, "pairs")  # recorded, not run
    assert len(pending) == 1 and pending[0][0] is X
    with pytest.raises(ValueError, match="row 2"):
        check_finite(X, "pairs")  # the context is over


# ------------------- the last three places: transformer, mixture, theory
#
# 2**1023 is a power of two, so the rescaled weights are the very same array
# as for weights of 1 and everything downstream is equal bit for bit; 1e308
# is not, so its sums round differently in the last place.

POW2 = 2.0**1023


def test_mixture_bradley_terry_with_weights_near_the_float64_limit():
    # Measured before: the E-step's np.average overflowed (RuntimeWarning).
    from pcr_sklearn.baselines import MixtureBradleyTerry

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 200, 2))
    y = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    X = np.hstack([a, b])

    def fit(sample_weight=None):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return MixtureBradleyTerry(n_components=2, random_state=0).fit(
                X, y, sample_weight=sample_weight
            )

    plain = fit()
    exact = fit(np.full(200, POW2))
    assert_array_equal(exact.predict_proba(X), plain.predict_proba(X))
    assert_array_equal(exact.estimator_weights_, plain.estimator_weights_)
    assert_array_equal(exact.log_likelihood_curve_, plain.log_likelihood_curve_)
    huge = fit(np.full(200, 1e308))
    assert_allclose(huge.predict_proba(X), plain.predict_proba(X), atol=1e-10)
    assert_allclose(huge.estimator_weights_, plain.estimator_weights_, atol=1e-10)
    assert_allclose(huge.log_likelihood_, plain.log_likelihood_, rtol=1e-12)
    assert np.all(np.isfinite(huge.log_likelihood_curve_))


def test_theory_weighted_means_with_weights_near_the_float64_limit():
    # Measured before: np.average / w.sum() overflowed (RuntimeWarning).
    from pcr_sklearn.recovery import (
        expected_annotator_ensemble_error,
        noise_term,
        oracle_calibration_error,
    )

    rng = np.random.default_rng(6)
    n = 50
    p_star = rng.uniform(size=n)
    counts = rng.integers(1, 10, size=n)
    votes = (rng.uniform(size=(n, 3)) > 0.5) * 1.0
    group_weights = np.array([0.5, 0.3, 0.2])
    weight = rng.uniform(0.5, 2.0, size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for scale, check in ((POW2 / 2, assert_array_equal), (HUGE, assert_allclose)):
            # Pair weights.
            check(
                noise_term(p_star, counts, sample_weight=weight * scale),
                noise_term(p_star, counts, sample_weight=weight),
            )
            check(
                expected_annotator_ensemble_error(
                    votes, group_weights, 3, y_true=p_star, sample_weight=weight * scale
                ),
                expected_annotator_ensemble_error(
                    votes, group_weights, 3, y_true=p_star, sample_weight=weight
                ),
            )
            # Group (mixture) weights.
            check(
                expected_annotator_ensemble_error(votes, group_weights * scale * 4, 3),
                expected_annotator_ensemble_error(votes, group_weights, 3),
            )
            check(
                oracle_calibration_error(p_star, votes, group_weights * scale * 4),
                oracle_calibration_error(p_star, votes, group_weights),
            )
        assert noise_term(p_star, counts, sample_weight=1e308) == noise_term(
            p_star, counts
        )
        assert expected_annotator_ensemble_error(
            votes, [1e308] * 3, 2
        ) == expected_annotator_ensemble_error(votes, [1.0] * 3, 2)


def test_transformer_reward_with_weights_near_the_float64_limit(tiny_transformer):
    # Measured before: the training loop's weight sum overflowed to inf, so
    # every comparison weight became 0 (and a RuntimeWarning escaped).
    torch = pytest.importorskip("torch")
    from pcr_sklearn.rewards import TransformerReward

    rng = np.random.RandomState(0)
    words = " ".join(tiny_transformer.corpus).split()

    def sentence():
        return " ".join(rng.choice(words, rng.randint(2, 7)))

    n = 16
    prompts = [f"prompt {i % 3}" for i in range(n)]
    a = np.array([[p, sentence()] for p in prompts], dtype=object)
    b = np.array([[p, sentence()] for p in prompts], dtype=object)
    y = rng.rand(n)

    def rewards(sample_weight):
        TransformerReward.clear_cache()
        reward = TransformerReward(
            str(tiny_transformer.hf_dir),
            device="cpu",
            random_state=0,
            max_epochs=2,
            batch_size=8,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reward.fit(a, b, y, sample_weight)
        return reward.reward(np.vstack([a, b]))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = rewards(np.ones(n))
        # Weights scaled to mean 1 in float32: 1e308 and 1 give the same
        # tensor, hence the same training, bit for bit.
        assert_array_equal(rewards(np.full(n, 1e308)), plain)
        assert_array_equal(rewards(np.full(n, POW2)), plain)
        # Trained at all (before: every weight became 0, nothing moved).
        assert np.ptp(plain) > 0
    finally:
        torch.set_num_threads(threads)


# ------------------ population members and bagging: weights and items at
# the float64 limit (each measured before as a RuntimeWarning)


def _pairs(n=300, d=3, seed=3):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n, d))
    y = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    return np.hstack([a, b]), y, rng.uniform(0.5, 2.0, size=n)


def test_population_with_weights_near_the_float64_limit():
    # Measured before: "overflow encountered in reduce" in the centre of the
    # taste features and in fit_taste's weight sum.
    from pcr_sklearn._population import fit_taste

    X, y, weight = _pairs()
    make = lambda: PairwiseCalibratedEnsemble(n_estimators=8, random_state=0)  # noqa: E731
    plain = make().fit(X, y, sample_weight=weight)
    huge = make().fit(X, y, sample_weight=weight * HUGE)
    assert_allclose(huge.predict_proba(X), plain.predict_proba(X), atol=1e-10)
    assert_allclose(huge.taste_, plain.taste_, rtol=1e-9)
    limit = make().fit(X, y, sample_weight=np.full(len(y), np.finfo(float).max))
    assert_allclose(limit.predict_proba(X), make().fit(X, y).predict_proba(X))
    margin, spread = np.linspace(-2, 2, 5), np.full(5, 0.5)
    target = np.array([0.1, 0.3, 0.5, 0.6, 0.9])
    assert fit_taste(margin, spread, target, np.full(5, 1e308)) == pytest.approx(
        fit_taste(margin, spread, target, np.ones(5)), rel=1e-12
    )


def test_bagging_with_weights_near_the_float64_limit():
    # Measured before: weight * bootstrap count overflowed to inf.
    from pcr_sklearn.baselines import BaggedRewardEnsemble

    X, y, weight = _pairs()
    make = lambda: BaggedRewardEnsemble(n_estimators=3, random_state=0)  # noqa: E731
    plain = make().fit(X, y, sample_weight=weight)
    for scale in (HUGE, np.finfo(float).max / 2):
        huge = make().fit(X, y, sample_weight=weight * scale)
        assert_allclose(huge.predict_proba(X), plain.predict_proba(X), atol=1e-10)


def test_population_items_beyond_float32_get_features_computed_in_float64():
    # 1e30 is finite in float32 but 1e30 taste lengths from the training
    # items: the float32 phases were rounding (and at 1e39 overflowed).
    X, y, _ = _pairs()
    est = PairwiseCalibratedEnsemble(n_estimators=16, random_state=0).fit(X, y)
    far = X.copy()
    far[:5, 0], far[:5, 3] = 1e200, -1e200  # A far ahead of B on feature 0
    proba = est.predict_proba(far)
    assert np.all(np.isfinite(proba))
    assert_array_equal(proba[:5, 1], 1.0)  # the mean reward decides
    assert_array_equal(proba[5:], est.predict_proba(X[5:]))
    rewards = est.rewards(far[:, :3])
    assert np.all(np.isfinite(rewards)) and rewards.shape == (300, 16)
    features = est.estimators_[0].features.transform(far[:5, :3])
    assert features.dtype == np.float32 and np.all(np.abs(features) <= 0.0625)


def test_population_items_at_the_float64_limit_raise_naming_the_row():
    # Measured before: "overflow encountered in matmul" (and a NaN share).
    X, y, _ = _pairs()
    est = PairwiseCalibratedEnsemble(n_estimators=4, random_state=0).fit(X, y)
    huge = X.copy()
    huge[7, 1] = 1e308
    with pytest.raises(
        ValueError, match=r"items row 7 is too far .*feature 1 is 1e\+308"
    ):
        est.predict_proba(huge)
    with pytest.raises(ValueError, match=r"items row 7 is too far"):
        est.rewards(huge[:, :3])
    # In training: the outlier drags the centre; it is the pair named.
    with pytest.raises(ValueError, match=r"pairs row 7 is too far .*1e\+308"):
        PairwiseCalibratedEnsemble(n_estimators=4, random_state=0).fit(huge, y)


def test_linear_rewards_that_overflow_raise_naming_the_item():
    # Measured before: "overflow encountered in matmul" and inf rewards.
    from pcr_sklearn.rewards import LinearReward

    X, y, _ = _pairs()
    reward = LinearReward().fit(X[:, :3] * 1e-3, X[:, 3:] * 1e-3, y)  # coef ~ 1e3
    items = np.zeros((4, 3))
    items[2, 0] = np.sign(reward.coef_[0]) * 1e307
    for rewards in (reward.reward, lambda v: LinearReward.batch_rewards([reward], v)):
        with pytest.raises(ValueError, match=r"items row 2 has 1e\+307 in column 0"):
            rewards(items)
    est = PairwiseCalibratedEnsemble(
        n_estimators=2, members="stagewise", random_state=0
    ).fit(X * 1e-3, y)
    with pytest.raises(ValueError, match="items row 2"):
        est.rewards(items)


@pytest.mark.parametrize("layout", ["flat", "fortran"])
def test_votes_from_rewards_that_overflow_are_their_limits_or_ties(layout):
    # Votes need no reward value, only its limit: inf beats any finite
    # reward, and inf - inf (or a reward that is itself inf - inf) is a tie,
    # soft votes included (measured before: a NaN probability).
    from pcr_sklearn.rewards import LinearReward

    X, y, _ = _pairs(d=2)
    est = PairwiseCalibratedEnsemble(
        n_estimators=2, members="stagewise", vote="soft", random_state=0
    ).fit(X, y)
    extreme = np.full((2, 4), np.finfo(float).max)
    extreme[1, 2:] = 0.0  # B ordinary
    if layout == "fortran":  # the path through LinearReward.batch_rewards
        extreme = np.asfortranarray(extreme)
    proba = est.predict_proba(extreme)
    assert np.all(np.isfinite(proba))
    reward = est.estimators_[0]
    with np.errstate(over="ignore", invalid="ignore"):
        limit = reward.reward(extreme[:, :2])  # IEEE's values, as asked
    assert not np.all(np.isfinite(limit))
    with pytest.raises(ValueError, match="items row 0"):
        reward.reward(extreme[:, :2])  # by default: an error
    assert isinstance(reward, LinearReward)
