"""Fits are transactions: a failed fit leaves the previous model exactly as it was."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.baselines import (
    BaggedRewardEnsemble,
    MajorityVoteBradleyTerry,
    MixtureBradleyTerry,
    SoftBradleyTerry,
)
from pcr_sklearn.rewards import LinearReward

from ._helpers import linear_mixture

# How many member fits may still succeed before the next one raises; shared by
# every clone of FailingReward (clones do not share attributes).
BUDGET = {"fits": np.inf, "error": RuntimeError}


class FailingReward(LinearReward):
    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        if BUDGET["fits"] <= 0:
            raise BUDGET["error"]("member fit failed")
        BUDGET["fits"] -= 1
        return super().fit(items_a, items_b, target, sample_weight, loss=loss)


@pytest.fixture(autouse=True)
def _reset_budget():
    BUDGET.update(fits=np.inf, error=RuntimeError)
    yield
    BUDGET.update(fits=np.inf, error=RuntimeError)


def _fail_after(n, error=RuntimeError):
    BUDGET.update(fits=n, error=error)


X, Y, _ = linear_mixture(300, 3, [0.6, 0.4], seed=0)
X_WIDE, _, _ = linear_mixture(300, 4, [0.6, 0.4], seed=1)


def _ensemble(**params):
    params = {
        "n_estimators": 4,
        "n_backfit": 0,
        "objective": "weighted",
        "members": "stagewise",
        **params,
    }
    return PairwiseCalibratedEnsemble(FailingReward(), random_state=0, **params)


def _assert_consistent(est):
    k = est.n_estimators_
    assert len(est.estimators_) == k == len(est.estimator_weights_)
    assert len(est.train_score_) == k == len(est._staged_weights)
    assert len(est.member_disagreement_) == k
    proba = est.predict_proba(X)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_fresh_fit_that_fails_stays_unfitted():
    est = _ensemble()
    _fail_after(2)
    with pytest.raises(RuntimeError, match="member fit failed"):
        est.fit(X, Y)
    assert not hasattr(est, "estimators_") and not hasattr(est, "n_estimators_")
    with pytest.raises(NotFittedError):
        est.predict_proba(X)


def test_failed_refit_keeps_the_old_model():
    est = _ensemble().fit(X, Y)
    before = est.predict_proba(X)
    state = {k: v for k, v in vars(est).items() if not k.startswith("_")}
    _fail_after(1)
    with pytest.raises(RuntimeError):
        est.fit(X[:200], Y[:200])
    assert_array_equal(est.predict_proba(X), before)
    for key, value in state.items():
        assert getattr(est, key) is value, key
    _assert_consistent(est)


def test_failed_refit_on_a_new_width_keeps_the_old_width():
    est = _ensemble().fit(X, Y)
    before = est.predict_proba(X)
    _fail_after(0)
    with pytest.raises(RuntimeError):
        est.fit(X_WIDE, Y)
    assert est.n_features_in_ == X.shape[1]
    assert_array_equal(est.predict_proba(X), before)


def test_keyboard_interrupt_keeps_the_finished_stages():
    est = _ensemble()
    _fail_after(2, KeyboardInterrupt)
    with pytest.warns(UserWarning, match="kept the 2 stage"):
        with pytest.raises(KeyboardInterrupt):
            est.fit(X, Y)
    assert est.n_estimators_ == 2
    _assert_consistent(est)
    # The kept model is the two-stage fit, exactly.
    BUDGET.update(fits=np.inf)
    reference = _ensemble(n_estimators=2).fit(X, Y)
    assert_array_equal(est.predict_proba(X), reference.predict_proba(X))


def test_keyboard_interrupt_before_any_stage_restores_everything():
    est = _ensemble()
    _fail_after(0, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, Y)
    assert not hasattr(est, "estimators_")


def test_keyboard_interrupt_with_early_stopping_keeps_a_consistent_best_prefix():
    est = _ensemble(early_stopping=True, n_iter_no_change=5)
    _fail_after(3, KeyboardInterrupt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(KeyboardInterrupt):
            est.fit(X, Y)
    assert 1 <= est.n_estimators_ <= 3
    _assert_consistent(est)


def test_partial_fit_after_a_failure_is_consistent():
    est = _ensemble()
    est.partial_fit(X, Y)
    _fail_after(0)
    with pytest.raises(RuntimeError):
        est.partial_fit(X, Y)
    _assert_consistent(est)
    BUDGET.update(fits=np.inf)
    est.partial_fit(X, Y)
    reference = _ensemble(n_estimators=2).fit(X, Y)
    _assert_consistent(est)
    assert_array_equal(est.predict_proba(X), reference.predict_proba(X))


def test_warm_start_after_a_failure_reaches_n_estimators():
    est = _ensemble(n_estimators=2, warm_start=True).fit(X, Y)
    est.set_params(n_estimators=4)
    _fail_after(1)
    with pytest.raises(RuntimeError):
        est.fit(X, Y)
    assert est.n_estimators_ == 2
    BUDGET.update(fits=np.inf)
    est.fit(X, Y)
    assert est.n_estimators_ == 4
    reference = _ensemble(n_estimators=4).fit(X, Y)
    assert_array_equal(est.predict_proba(X), reference.predict_proba(X))


@pytest.mark.parametrize(
    "baseline",
    [
        SoftBradleyTerry(FailingReward()),
        MajorityVoteBradleyTerry(FailingReward()),
        BaggedRewardEnsemble(FailingReward(), n_estimators=3, random_state=0),
        MixtureBradleyTerry(FailingReward(), n_components=2, random_state=0),
    ],
    ids=lambda b: type(b).__name__,
)
def test_baseline_failed_refit_keeps_the_old_model(baseline):
    baseline.fit(X, Y)
    before = baseline.predict_proba(X)
    _fail_after(0)
    with pytest.raises(RuntimeError):
        baseline.fit(X_WIDE, Y)
    assert baseline.n_features_in_ == X.shape[1]
    assert_array_equal(baseline.predict_proba(X), before)


@pytest.mark.parametrize("broken", ["empty", "mismatched"])
def test_prediction_from_an_unusable_ensemble_raises(broken):
    est = _ensemble(n_estimators=2).fit(X, Y)
    if broken == "empty":
        est.estimators_ = []
    else:
        est.estimator_weights_ = est.estimator_weights_[:1]
    for method in (est.predict_proba, est.predict):
        with pytest.raises(NotFittedError, match="not a usable fitted model"):
            method(X)
    with pytest.raises(NotFittedError):
        est.rewards(X[:, :3])
