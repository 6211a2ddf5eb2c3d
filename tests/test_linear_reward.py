"""LinearReward: exact gradients, both losses, protocol behaviour."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import OptimizeResult, check_grad
from scipy.special import expit, log_expit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from pcr_sklearn.rewards import LinearReward
from pcr_sklearn.rewards._linear import (
    PairDifferences,
    _log_loss,
    _PairLoss,
    _squared_loss,
)


@pytest.mark.parametrize("loss", [_log_loss, _squared_loss])
def test_gradients_are_exact(loss):
    rng = np.random.RandomState(0)
    diff = rng.normal(size=(50, 4))
    target = rng.uniform(-1 if loss is _squared_loss else 0, 1, size=50)
    weight = rng.uniform(size=50)
    for coef in rng.normal(size=(5, 4)):
        error = check_grad(
            lambda c: loss(c, diff, target, weight, 0.1)[0],
            lambda c: loss(c, diff, target, weight, 0.1)[1],
            coef,
        )
        assert error < 1e-5


@pytest.mark.parametrize("loss", ["log", "squared"])
def test_fused_loss_matches_the_textbook_formula_and_its_gradient(loss):
    # The fused evaluation (one exp(-|m|) for loss and gradient, standardised
    # coordinates c = coef * rms) against the plain formulas with SciPy.
    rng = np.random.RandomState(1)
    diff = 30 * rng.normal(size=(80, 3))  # margins far into both tails
    target = rng.uniform(-1 if loss == "squared" else 0, 1, size=80)
    weight = rng.uniform(size=80)
    rms = np.array([0.5, 2.0, 7.0])
    penalty = np.array([1.0, 0.25, 3.0])
    objective = _PairLoss(diff, rms, penalty, target, weight, 0.1, loss)
    for coef in rng.normal(size=(5, 3)):
        margin = diff @ (coef / rms)
        if loss == "log":
            expected = -weight @ (
                target * log_expit(margin) + (1 - target) * log_expit(-margin)
            )
        else:
            expected = weight @ (expit(margin) - target) ** 2
        value, _ = objective(coef)
        assert_allclose(value, expected + 0.05 * coef @ (penalty * coef), rtol=1e-12)
        error = check_grad(lambda c: objective(c)[0], lambda c: objective(c)[1], coef)
        assert error < 1e-5 * max(1.0, np.abs(objective(coef)[1]).max())


def test_log_loss_matches_logistic_regression_with_a_scaled_ridge_penalty():
    rng = np.random.RandomState(0)
    # Features of very different scales: the penalty stays a plain ridge one
    # in the features' own coordinates (no per-feature standardisation).
    a, b = rng.normal(size=(2, 300, 3)) * [0.1, 1.0, 5.0]
    labels = ((a - b) @ [10.0, -2.0, 0.1] + rng.logistic(size=300) > 0).astype(float)
    alpha = 0.01
    reward = LinearReward(alpha=alpha, tol=1e-10).fit(a, b, labels)
    # The penalty is alpha/2 s^2 |coef|^2, s^2 half the mean squared norm of
    # the differences: LogisticRegression on a - b with C = 1 / (alpha s^2 n).
    s2 = 0.5 * np.mean(np.sum((a - b) ** 2, axis=1))
    reference = LogisticRegression(
        C=1 / (alpha * s2 * 300), fit_intercept=False, tol=1e-12, max_iter=10_000
    ).fit(a - b, labels)
    assert_allclose(reward.coef_, reference.coef_[0], rtol=1e-5)


def test_penalty_is_the_plain_one_on_unit_size_items():
    # Differences with mean squared norm exactly 2 (what independent unit-norm
    # items have): the objective is the plain alpha/2 |coef|^2 one.
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    diff = a - b
    diff *= np.sqrt(2 / np.mean(np.sum(diff**2, axis=1)))
    labels = (diff @ [1.0, -2.0, 0.5] + rng.logistic(size=300) > 0).astype(float)
    reward = LinearReward(alpha=0.01, tol=1e-10).fit(diff, np.zeros_like(diff), labels)
    reference = LogisticRegression(
        C=1 / (0.01 * 300), fit_intercept=False, tol=1e-12, max_iter=10_000
    ).fit(diff, labels)
    assert_allclose(reward.coef_, reference.coef_[0], rtol=1e-5)


def test_rewards_and_differences():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
    target = 1 / (1 + np.exp(-((a - b) @ [2.0, 0.0])))  # soft labels from BT
    reward = LinearReward(alpha=0.0, tol=1e-10, max_iter=1000).fit(a, b, target)
    assert_allclose(reward.coef_, [2.0, 0.0], atol=1e-3)
    assert_allclose(reward.reward(a) - reward.reward(b), (a - b) @ reward.coef_)
    assert not hasattr(clone(reward), "coef_")


def test_squared_loss_fits_a_negative_residual_with_negative_direction():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    # A sigmoid can only approach a negative target from above: it shrinks
    # towards sigmoid -> 0 on those pairs.
    target = np.where(a[:, 0] > b[:, 0], -0.5, 0.5)
    reward = LinearReward().fit(a, b, target, loss="squared")
    assert reward.coef_[0] < 0


def test_sample_weights_and_zero_weights():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(60, 2)), rng.normal(size=(60, 2))
    target = (a[:, 0] > b[:, 0]).astype(float)
    weights = rng.randint(0, 3, size=60).astype(float)
    weighted = LinearReward(tol=1e-10).fit(a, b, target, weights)
    repeated = LinearReward(tol=1e-10).fit(
        np.repeat(a, weights.astype(int), 0),
        np.repeat(b, weights.astype(int), 0),
        np.repeat(target, weights.astype(int)),
    )
    assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-5, atol=1e-8)
    zero = LinearReward().fit(a, b, target, np.zeros(60))
    assert_allclose(zero.coef_, 0.0)


def test_batch_rewards_equals_one_by_one():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    members = [
        LinearReward().fit(a, b, (a[:, j] > b[:, j]).astype(float)) for j in range(3)
    ]
    stacked = LinearReward.batch_rewards(members, a)
    assert_allclose(stacked, np.column_stack([m.reward(a) for m in members]))
    with pytest.raises(ValueError, match=r"shape \(n_items, 3\)"):
        members[0].reward(a[:, :2])


def test_warm_start_reaches_the_same_optimum_in_fewer_iterations():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(300, 4)), rng.normal(size=(300, 4))
    target = ((a - b) @ [1.0, -1.0, 0.5, 0.0] > 0).astype(float)
    cold = LinearReward(tol=1e-9).fit(a, b, target)
    warm = LinearReward(tol=1e-9).fit(a, b, target)
    warm.set_params(warm_start=True).fit(a, b, target)
    assert_allclose(warm.coef_, cold.coef_, rtol=1e-5, atol=1e-7)
    assert warm.n_iter_ < cold.n_iter_


# ------------------------------------------------- numerics (scale, overflow)


def _comparisons(n=300, seed=0):
    rng = np.random.RandomState(seed)
    a, b = rng.normal(size=(n, 4)), rng.normal(size=(n, 4))
    soft = expit((a - b) @ [1.0, -2.0, 0.5, 0.0])
    return a, b, soft


def _probabilities(reward, a, b):
    return expit(reward.reward(a) - reward.reward(b))


@pytest.mark.parametrize("loss", ["log", "squared"])
@pytest.mark.parametrize(
    "scale", [1e-300, 1e-200, 1e-8, 1e-6, 1e-4, 1e6, 1e50, 1e200, 1e300]
)
def test_predictions_do_not_depend_on_the_feature_scale(scale, loss):
    # Measured before: an all-zero model (every probability 0.5) at 1e-8 and
    # 1e50, and an ignored ABNORMAL stop at 1e200, all without a warning.
    a, b, soft = _comparisons()
    target = soft if loss == "log" else soft - 0.5
    unit = LinearReward().fit(a, b, target, loss=loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or convergence warning
        scaled = LinearReward().fit(a * scale, b * scale, target, loss=loss)
        proba = _probabilities(scaled, a * scale, b * scale)
    assert_allclose(proba, _probabilities(unit, a, b), rtol=0, atol=1e-6)
    assert_allclose(scaled.coef_ * scale, unit.coef_, rtol=1e-5, atol=1e-8)


def test_features_of_wildly_different_scales_fit_without_trouble():
    # A feature 1e7 times larger dominates the ridge penalty's geometry (as in
    # any ridge model), but the optimiser, working on standardised
    # coordinates, still converges: same result as a well-scaled reference.
    a, b, soft = _comparisons()
    factors = np.array([1e-5, 1.0, 1e7, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mixed = LinearReward(tol=1e-10).fit(a * factors, b * factors, soft)
        rescaled = LinearReward(tol=1e-10).fit(
            a * factors * 1e-7, b * factors * 1e-7, soft
        )
    assert_allclose(
        _probabilities(mixed, a * factors, b * factors),
        _probabilities(rescaled, a * factors * 1e-7, b * factors * 1e-7),
        atol=1e-6,
    )


def test_differences_that_overflow_raise_naming_the_overflow():
    a = np.array([[1.0, 1.5e308], [2.0, 0.0]])
    b = np.array([[0.0, -1.5e308], [1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"overflows float64 at row 0, feature 1"):
            LinearReward().fit(a, b, [1.0, 0.0])


def test_reaching_max_iter_warns():
    a, b, soft = _comparisons()
    with pytest.warns(ConvergenceWarning, match=r"max_iter=1\b"):
        reward = LinearReward(max_iter=1, tol=1e-12).fit(a, b, soft)
    assert reward.n_iter_ == 1


def test_an_abnormal_stop_warns(monkeypatch):
    import pcr_sklearn.rewards._linear as linear

    def abnormal(fun, x0, **kwargs):
        return OptimizeResult(
            x=x0, jac=fun(x0)[1], nit=3, status=2, message="ABNORMAL: LINE SEARCH"
        )

    monkeypatch.setattr(linear, "minimize", abnormal)
    a, b, soft = _comparisons()
    with pytest.warns(ConvergenceWarning, match="stopped abnormally.*ABNORMAL"):
        LinearReward().fit(a, b, soft)


def test_converged_fits_do_not_warn():
    a, b, soft = _comparisons()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for tol in (1e-4, 1e-6, 1e-9):
            LinearReward(tol=tol).fit(a, b, soft)
            LinearReward(tol=tol).fit(a, b, soft - 0.5, loss="squared")


def test_tol_is_the_stopping_rule():
    # SciPy's default relative-decrease test used to stop at gradients ~1e-5
    # whatever tol said; a tighter tol now gives a more precise optimum.
    a, b, _ = _comparisons()
    labels = ((a - b) @ [1.0, -1.0, 0.5, 0.0] > 0).astype(float)
    loose = LinearReward(tol=1e-4).fit(a, b, labels)
    tight = LinearReward(tol=1e-10, max_iter=1000).fit(a, b, labels)
    tighter = LinearReward(tol=1e-12, max_iter=1000).fit(a, b, labels)
    assert_allclose(tight.coef_, tighter.coef_, rtol=1e-7)
    assert tight.n_iter_ > loose.n_iter_


def test_weights_near_the_float64_limit():
    # Measured before: weights of 1e308 summed to inf, every normalised
    # weight became 0 and the fit returned the all-zero model.
    a, b, soft = _comparisons()
    weight = np.random.RandomState(1).uniform(0.5, 1.5, size=len(soft))
    base = LinearReward().fit(a, b, soft, weight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = LinearReward().fit(a, b, soft, weight * 1e308)
    assert_allclose(huge.coef_, base.coef_, rtol=1e-10)
    tiny = LinearReward().fit(a, b, soft, weight * 1e-300)
    assert_allclose(tiny.coef_, base.coef_, rtol=1e-10)


# ------------------------------------------------------ prepared pairs hook


def test_fit_is_fit_prepared_of_prepare_pairs():
    a, b, soft = _comparisons()
    weight = np.random.RandomState(2).uniform(size=len(soft))
    prepared = LinearReward().prepare_pairs(a, b)
    assert isinstance(prepared, PairDifferences) and len(prepared) == len(soft)
    assert np.abs(prepared.unit).max() <= 1.0
    assert prepared.unit.flags.c_contiguous
    before = prepared.unit.copy()
    for loss, target in (("log", soft), ("squared", 2 * soft - 1)):
        fitted = LinearReward(alpha=0.01).fit(a, b, target, weight, loss=loss)
        fast = LinearReward(alpha=0.01).fit_prepared(
            prepared, target, weight, loss=loss
        )
        assert_array_equal(fast.coef_, fitted.coef_)
    assert_array_equal(prepared.unit, before)  # fits never modify it


def test_fit_prepared_validates_its_arguments():
    a, b, soft = _comparisons(n=20)
    prepared = LinearReward().prepare_pairs(a, b)
    with pytest.raises(TypeError, match="prepare_pairs returns"):
        LinearReward().fit_prepared(a - b, soft)
    with pytest.raises(ValueError, match="row 3"):
        LinearReward().fit_prepared(prepared, np.where(np.arange(20) == 3, 2.0, soft))
    with pytest.raises(ValueError, match="20 comparisons"):
        LinearReward().fit_prepared(prepared, soft[:5])


def test_float32_items_are_differenced_in_float64():
    a, b, soft = _comparisons()
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    prepared = LinearReward().prepare_pairs(a32, b32)
    exact = a32.astype(np.float64) - b32.astype(np.float64)
    assert_array_equal(prepared.unit * prepared.scale, exact)


# ------------------------------------------- items at the edges of float64


def test_reward_validates_items_naming_them():
    # Measured before: NumPy's "ufunc 'matmul' did not contain a loop",
    # "unsupported operand type(s)", a ComplexWarning and a NaN reward,
    # none naming items.
    a, b, soft = _comparisons(n=40)
    reward = LinearReward().fit(a, b, soft)
    objects = np.array([[1.0, None, 0.0, 0.0]], dtype=object)
    for bad, match in [
        (np.array([["a", "b", "c", "d"]]), "items must be numbers.*convert string"),
        (np.array([[1j, 0, 0, 0]]), "items must be numbers.*Complex"),
        (objects, r"items contains NaN or inf: row 0, column 1"),
        (np.array([[0.0, 0.0, np.inf, 0.0]]), r"items contains NaN .*column 2"),
        (np.zeros(4), "items must be numbers.*Expected 2D array"),
        (np.zeros((2, 3)), r"items must have shape \(n_items, 4\), got \(2, 3\)"),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match=match):
                reward.reward(bad)
    # Valid items in any form: the same numbers as before, bit for bit.
    pd = pytest.importorskip("pandas")
    for items in (a, a.tolist(), pd.DataFrame(a), a.astype(np.float32)):
        before = np.asarray(np.asarray(items) @ reward.coef_, dtype=np.float64)
        assert_array_equal(reward.reward(items), before)
    assert reward.reward(np.empty((0, 4))).shape == (0,)


def test_differences_near_the_float64_limit_fit_like_any_other():
    # Measured before: the power-of-two scale of differences above 2**1023
    # was ldexp(1, 1024) = inf (an overflow warning and a zero model), and
    # check_array warned on the items' sum (inf - inf).
    a, b, soft = _comparisons()
    unit = LinearReward().fit(a, b, soft)
    factor = 1.7e308 / np.abs(a - b).max()  # largest difference 1.7e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = LinearReward().fit(a * factor, b * factor, soft)
        proba = _probabilities(huge, a * factor, b * factor)
        # Finite differences of items whose sum is inf - inf.
        extreme = np.array([[1.7e308], [1.7e308], [-1.7e308], [-1.7e308]])
        LinearReward().fit(extreme, 0.5 * extreme, [0.9, 0.8, 0.2, 0.1])
    assert_allclose(proba, _probabilities(unit, a, b), rtol=0, atol=1e-6)


def test_differences_too_small_for_a_coefficient_raise_naming_the_feature():
    # Measured before: coef_ = x / rms / scale overflowed to inf (a warning,
    # and infinite rewards).
    reward = LinearReward().fit([[1.0], [0.0]], [[0.0], [1.0]], [0.9, 0.1])
    before = reward.coef_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            ValueError, match=r"items_a - items_b: feature 0 differs by less than"
        ):
            reward.fit([[5e-324]], [[0.0]], [1.0])
    assert_array_equal(reward.coef_, before)  # the previous fit is kept


def test_a_non_numeric_target_names_target_and_row():
    target = np.array([0.5, ""], dtype=object)
    with pytest.raises(ValueError, match="target must hold numbers; row 1 has ''"):
        LinearReward().fit([[0.0], [1.0]], [[1.0], [0.0]], target)


def test_warm_start_from_a_fit_on_another_scale_starts_from_zero():
    # A partial_fit on pairs of another scale: the previous coefficients put
    # the penalty at 1e600 (measured before: an overflow warning in matmul).
    reward = LinearReward(warm_start=True).fit([[1e-300]], [[0.0]], [0.9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reward.fit([[1.0], [0.0]], [[0.0], [1.0]], [0.9, 0.1])
    cold = LinearReward().fit([[1.0], [0.0]], [[0.0], [1.0]], [0.9, 0.1])
    assert_allclose(reward.coef_, cold.coef_, rtol=1e-6)


@settings(deadline=None)
@given(
    items=arrays(
        np.float64,
        (2, 40, 3),
        elements=st.floats(-3, 3, allow_nan=False, width=32),
    ),
    shared=arrays(np.float64, (40, 4), elements=st.floats(-1e3, 1e3, allow_nan=False)),
)
def test_columns_the_same_for_a_and_b_change_nothing(items, shared):
    # Prompt features of prompt_mode="concat" are the same for A and B: they
    # carry no preference and must not change the penalty of the others
    # (they did, through the size of a typical difference).
    a, b = items
    target = ((a - b) @ [2.0, 1.0, 0.0] > 0).astype(float)
    plain = LinearReward().fit(a, b, target)
    padded = LinearReward().fit(np.hstack([a, shared]), np.hstack([b, shared]), target)
    assert_allclose(padded.coef_[:3], plain.coef_, rtol=1e-6, atol=1e-9)
    assert_array_equal(padded.coef_[3:], 0.0)


def test_columns_the_same_for_a_and_b_golden():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 500, 3))
    target = ((a - b) @ [2.0, 1.0, 0.0] > 0).astype(float)
    shared = rng.normal(size=(500, 5))
    padded = LinearReward().fit(np.hstack([a, shared]), np.hstack([b, shared]), target)
    # The coefficients of a fit without the shared columns (before the fix,
    # the shared columns shrank them to [3.38, 1.67, -0.031]).
    assert_allclose(padded.coef_[:3], [4.74155068, 2.36381685, -0.03365491], rtol=1e-6)
