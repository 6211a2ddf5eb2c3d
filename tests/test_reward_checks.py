"""The reward-learner conformance suite: passes on good learners, names what breaks."""

import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.rewards import LinearReward, MLPReward, TransformerReward
from pcr_sklearn.rewards._base import uses_prepared_pairs
from pcr_sklearn.utils.estimator_checks import (
    RewardLearnerCheckError,
    check_reward_learner,
    make_comparisons,
    yield_reward_learner_checks,
)


def _load_example():
    # Registered before it runs: the example pickles its own class.
    path = (
        Path(__file__).resolve().parents[1] / "examples/plot_custom_reward_learner.py"
    )
    spec = importlib.util.spec_from_file_location("custom_reward_learner", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


CUSTOM = _load_example()


def _learners():
    return [
        LinearReward(),
        MLPReward(hidden_layer_sizes=(8,), max_epochs=20, learning_rate=0.01),
        CUSTOM.LogisticRegressionReward(),
    ]


@pytest.mark.parametrize(
    "check", list(yield_reward_learner_checks()), ids=lambda c: c.__name__
)
@pytest.mark.parametrize("learner", _learners(), ids=lambda r: type(r).__name__)
def test_package_and_example_learners_pass(learner, check):
    check(learner, make_comparisons(learner), 1e-4)


def test_transformer_reward_passes(tiny_transformer):
    learner = TransformerReward(
        str(tiny_transformer.hf_dir),
        learning_rate=0.01,
        max_epochs=100,
        device="cpu",
        max_length=32,
    )
    check_reward_learner(learner)


def test_example_learner_works_as_a_member():
    a, b = np.random.default_rng(0).normal(size=(2, 600, 3))
    p = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    est = PairwiseCalibratedEnsemble(
        CUSTOM.LogisticRegressionReward(),
        n_estimators=2,
        members="stagewise",
        random_state=0,
    ).fit(np.hstack([a, b]), p)
    np.testing.assert_allclose(np.sort(est.estimator_weights_), [0.3, 0.7], atol=0.05)


def test_a_log_only_learner_is_refused_by_the_paper_objective():
    a, b = np.random.default_rng(0).normal(size=(2, 50, 3))
    est = PairwiseCalibratedEnsemble(
        CUSTOM.LogisticRegressionReward(), members="stagewise", objective="residual"
    )
    with pytest.raises(ValueError, match="objective='residual'.*'squared'"):
        est.fit(np.hstack([a, b]), (a[:, 0] > b[:, 0]).astype(float))


# ------------------------------------------------------------ broken learners


class IgnoresWeights(LinearReward):
    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        return super().fit(items_a, items_b, target, None, loss=loss)


class Float32Rewards(LinearReward):
    def reward(self, items):
        return super().reward(items).astype(np.float32)


class ColumnRewards(LinearReward):
    def reward(self, items):
        return super().reward(items)[:, None]


class BatchDependent(LinearReward):
    """Centres rewards on the batch: the reward of an item depends on its mates."""

    def reward(self, items):
        rewards = super().reward(items)
        return rewards - rewards.mean()


class SilentOnBadTargets(LinearReward):
    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        low = 0.0 if loss == "log" else -1.0
        target = np.clip(np.nan_to_num(np.asarray(target, float), nan=0.5), low, 1.0)
        return super().fit(items_a, items_b, target, sample_weight, loss=loss)


class Unseeded(LinearReward):
    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        super().fit(items_a, items_b, target, sample_weight, loss=loss)
        noise = np.random.default_rng().normal(scale=1e-3, size=self.coef_.shape)
        self.coef_ = self.coef_ + noise
        return self


class ForgetsWhenPickled(LinearReward):
    def __getstate__(self):
        state = dict(super().__getstate__())
        state["coef_"] = np.zeros_like(state["coef_"])
        return state


class ColdWarmStart(LinearReward):
    """Declares warm start but always starts from zero."""

    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        warm, self.warm_start = self.warm_start, False
        try:
            return super().fit(items_a, items_b, target, sample_weight, loss=loss)
        finally:
            self.warm_start = warm


class DeclaresUnknownLoss(LinearReward):
    def __reward_tags__(self):
        tags = super().__reward_tags__()
        tags.losses = ("log", "hinge")
        return tags


class PreparedIgnoresWeights(LinearReward):
    """The fast path drops the weights that fit uses."""

    def fit_prepared(self, prepared, target, sample_weight=None, *, loss="log"):
        return super().fit_prepared(prepared, target, None, loss=loss)


class MutatesPrepared(LinearReward):
    """Scales the shared differences after each fit."""

    def fit_prepared(self, prepared, target, sample_weight=None, *, loss="log"):
        super().fit_prepared(prepared, target, sample_weight, loss=loss)
        prepared.unit *= 0.5
        return self


@pytest.mark.parametrize(
    "learner, prop",
    [
        (PreparedIgnoresWeights(), "fit_prepared"),
        (MutatesPrepared(), "fit_prepared"),
        (IgnoresWeights(), "sample_weight zero"),
        (Float32Rewards(), "reward dtype"),
        (ColumnRewards(), "reward shape"),
        (BatchDependent(), "antisymmetry"),
        (SilentOnBadTargets(), "target range"),
        (Unseeded(), "deterministic"),
        (ForgetsWhenPickled(), "pickle"),
        (ColdWarmStart(), "warm start"),
        (DeclaresUnknownLoss(), "losses"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_broken_learners_fail_naming_the_property(learner, prop):
    with pytest.raises(RewardLearnerCheckError, match=rf"^\[{prop}\]"):
        check_reward_learner(learner)


def test_ignoring_weights_is_caught_even_without_zero_weights(monkeypatch):
    from pcr_sklearn.utils import _reward_checks

    check = _reward_checks.check_sample_weight_used
    with pytest.raises(RewardLearnerCheckError, match=r"^\[sample_weight used\]"):
        check(IgnoresWeights(), make_comparisons(LinearReward()), 1e-4)


def test_failure_is_an_assertion_error_and_picklable():
    err = RewardLearnerCheckError("[pickle] x")
    assert isinstance(err, AssertionError)
    assert str(pickle.loads(pickle.dumps(err))) == "[pickle] x"


# ------------------------------------------------- the prepared-pairs hook


def _mixture(n=300, seed=0):
    a, b = np.random.default_rng(seed).normal(size=(2, n, 3))
    return np.hstack([a, b]), 0.6 * (a[:, 0] > b[:, 0]) + 0.4 * (a[:, 1] > b[:, 1])


def _stagewise(estimator, **params):
    return PairwiseCalibratedEnsemble(
        estimator,
        n_estimators=3,
        members="stagewise",
        n_backfit=2,
        random_state=0,
        **params,
    )


def test_the_stage_loop_prepares_the_pairs_once(monkeypatch):
    calls = {"prepare_pairs": 0, "fit_prepared": 0, "fit": 0}
    for name in calls:
        original = getattr(LinearReward, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(LinearReward, name, counted)
    X, y = _mixture()
    _stagewise(LinearReward()).fit(X, y)
    # One preparation per ensemble fit; every member fit and re-fit uses it.
    assert calls["prepare_pairs"] == 1 and calls["fit"] == 0
    assert calls["fit_prepared"] >= 3


class OverridesFit(LinearReward):
    """Changes fit only: the inherited fit_prepared must not bypass it."""

    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        return super().fit(items_a, items_b, target, sample_weight, loss=loss)


def test_a_subclass_overriding_fit_alone_is_fitted_with_fit():
    assert uses_prepared_pairs(LinearReward())
    assert not uses_prepared_pairs(OverridesFit())
    assert not uses_prepared_pairs(IgnoresWeights())
    assert not uses_prepared_pairs(CUSTOM.LogisticRegressionReward())


@pytest.mark.parametrize("objective", ["weighted", "auto", "residual"])
@pytest.mark.parametrize("vote", ["hard", "soft"])
def test_the_fast_paths_change_nothing(vote, objective):
    # LinearReward: prepared pairs in fit, one product in predict.
    # OverridesFit: plain fit on every member, predictions member by member.
    X, y = _mixture()
    X_test, _ = _mixture(n=2000, seed=1)
    fast = _stagewise(LinearReward(), vote=vote, objective=objective).fit(X, y)
    plain = _stagewise(OverridesFit(), vote=vote, objective=objective).fit(X, y)
    assert_allclose(fast.estimator_weights_, plain.estimator_weights_, atol=1e-10)
    for mine, theirs in zip(fast.estimators_, plain.estimators_):
        assert_allclose(mine.coef_, theirs.coef_, rtol=1e-10, atol=1e-12)
    assert_allclose(fast.predict_proba(X_test), plain.predict_proba(X_test), atol=1e-10)
    assert_allclose(fast.train_score_, plain.train_score_, atol=1e-12)
