"""LinearReward: exact gradients, both losses, protocol behaviour."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import check_grad
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from pcr_sklearn.rewards import LinearReward
from pcr_sklearn.rewards._linear import _log_loss, _squared_loss


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


def test_log_loss_matches_logistic_regression_on_differences():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    labels = ((a - b) @ [1.0, -2.0, 0.5] + rng.logistic(size=300) > 0).astype(float)
    alpha = 0.01
    reward = LinearReward(alpha=alpha, tol=1e-10).fit(a, b, labels)
    # Same objective: mean log-loss + alpha/2 |w|^2  <=>  C = 1 / (alpha * n).
    reference = LogisticRegression(
        C=1 / (alpha * 300), fit_intercept=False, tol=1e-12, max_iter=10_000
    ).fit(a - b, labels)
    assert_allclose(reward.coef_, reference.coef_[0], rtol=1e-4)


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
