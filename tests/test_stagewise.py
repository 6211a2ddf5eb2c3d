"""Stagewise members: budget, sharpened re-fits, parallel growths, progress."""

import sys

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.datasets import make_preference_mixture
from pcr_sklearn.recovery import recovery_report
from pcr_sklearn.rewards import LinearReward, get_reward_tags
from pcr_sklearn.utils._reward_checks import (
    RewardLearnerCheckError,
    check_penalty,
    make_comparisons,
)

from ._helpers import linear_mixture

STAGEWISE = {"members": "stagewise"}


def mixture(n_pairs=400, seed=0):
    return linear_mixture(n_pairs, 4, (0.5, 0.3, 0.2), seed)


class LogRefitReward(LinearReward):
    """LinearReward without its penalty tag: log-loss re-fits."""

    def __reward_tags__(self):
        tags = super().__reward_tags__()
        tags.penalty = None
        return tags


def assert_same_model(left, right):
    assert left.n_estimators_ == right.n_estimators_
    assert left.n_member_fits_ == right.n_member_fits_
    assert_array_equal(left.estimator_weights_, right.estimator_weights_)
    for a, b in zip(left.estimators_, right.estimators_):
        assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(left.train_score_, right.train_score_)


def test_stagewise_defaults():
    est = PairwiseCalibratedEnsemble()
    assert est.members == "population"
    assert (est.objective, est.n_backfit, est.max_fits_per_stage) == ("weighted", 3, 6)
    assert est.n_jobs is None


@pytest.mark.parametrize("budget", [1, 2, 6])
def test_budget_bounds_member_fits(budget):
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(
        n_estimators=5, max_fits_per_stage=budget, random_state=0, **STAGEWISE
    ).fit(X, y)
    # Newcomers always fit; re-fits stop once j * budget is spent.
    assert est.n_member_fits_ <= max(5 * budget, 5)
    unlimited = PairwiseCalibratedEnsemble(
        n_estimators=5, max_fits_per_stage=None, random_state=0, **STAGEWISE
    ).fit(X, y)
    assert est.n_member_fits_ <= unlimited.n_member_fits_
    if budget == 1:
        # No room for any re-fit: plain FSAM.
        plain = PairwiseCalibratedEnsemble(
            n_estimators=5, n_backfit=0, random_state=0, **STAGEWISE
        ).fit(X, y)
        assert_same_model(est, plain)


@pytest.mark.parametrize("objective", ["weighted", "auto"])
def test_partial_fit_equals_fit_under_a_budget(objective):
    X, y, _ = mixture()
    params = dict(objective=objective, max_fits_per_stage=4, random_state=0)
    fitted = PairwiseCalibratedEnsemble(n_estimators=4, **params, **STAGEWISE)
    fitted.fit(X, y)
    stepped = PairwiseCalibratedEnsemble(**params, **STAGEWISE)
    for _ in range(4):
        stepped.partial_fit(X, y)
    assert_same_model(fitted, stepped)


def test_sharpened_refits_keep_the_prototype_params_and_sharpen():
    X, y, _ = mixture(1500)
    sharp = PairwiseCalibratedEnsemble(
        LinearReward(alpha=1e-2), n_estimators=3, random_state=0, **STAGEWISE
    ).fit(X, y)
    # Members report the prototype's parameters, whatever their re-fits used.
    assert all(m.alpha == 1e-2 and m.warm_start is False for m in sharp.estimators_)
    logged = PairwiseCalibratedEnsemble(
        LogRefitReward(alpha=1e-2), n_estimators=3, random_state=0, **STAGEWISE
    ).fit(X, y)
    # Same newcomers and seeds; only the re-fits differ, and they fit the
    # hard-vote error better (the groups are features 0, 1, 2).
    assert sharp.train_score_[-1] < logged.train_score_[-1]
    norms = [np.abs(m.coef_).max() for m in sharp.estimators_]
    assert min(norms) > max(np.abs(m.coef_).max() for m in logged.estimators_)


@pytest.mark.parametrize(
    "params",
    [dict(vote="soft"), dict(objective="residual")],
    ids=["soft votes", "paper objective"],
)
def test_no_sharpening_for_soft_votes_or_the_paper_objective(params):
    X, y, _ = mixture()
    models = [
        PairwiseCalibratedEnsemble(
            learner, n_estimators=3, random_state=0, **params, **STAGEWISE
        ).fit(X, y)
        for learner in (LinearReward(), LogRefitReward())
    ]
    assert_same_model(*models)


def test_new_defaults_recover_three_linear_groups():
    # One seed of the recovery target (benchmarks/recovery.py): all three
    # criteria hold with the default stagewise settings.
    X, y, truth = make_preference_mixture(
        n_prompts=200,
        n_responses=8,
        n_pairs=4000,
        n_features=4,
        group_weights=[0.5, 0.3, 0.2],
        n_annotators=50,
        return_truth=True,
        random_state=1,
    )
    test = truth.prompt_ids % 4 == 0
    est = PairwiseCalibratedEnsemble(n_estimators=3, random_state=1, **STAGEWISE)
    est.fit(X[~test], y[~test])
    report = recovery_report(
        est, X[test], y[test], truth, n_annotators=truth.n_annotators[test]
    )
    assert sorted(report.member_group.tolist()) == [0, 1, 2]
    assert report.matched_weight_error <= 0.05
    assert report.member_agreement.min() >= 0.95
    assert report.ratio_to_oracle <= 2.0


@pytest.mark.parametrize("n_jobs", [2, -1])
@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_auto_growths_in_parallel_equal_the_sequential_run(backend, n_jobs):
    X, y, _ = mixture()
    params = dict(n_estimators=3, objective="auto", random_state=0, **STAGEWISE)
    sequential = PairwiseCalibratedEnsemble(**params).fit(X, y)
    with joblib.parallel_config(backend=backend):
        parallel = PairwiseCalibratedEnsemble(**params, n_jobs=n_jobs).fit(X, y)
    assert_same_model(sequential, parallel)
    assert_array_equal(sequential.predict_proba(X), parallel.predict_proba(X))


def test_auto_keeps_the_better_growth():
    X, y, _ = mixture(500)
    errors = {
        objective: PairwiseCalibratedEnsemble(
            n_estimators=2, objective=objective, n_backfit=0, random_state=0
        )
        .set_params(**STAGEWISE)
        .fit(X, y)
        .train_score_
        for objective in ("auto", "weighted", "shared")
    }
    assert errors["auto"][0] == errors["weighted"][0] == errors["shared"][0]
    assert errors["auto"][1] == pytest.approx(
        min(errors["weighted"][1], errors["shared"][1])
    )


def test_member_fits_count_both_growths_of_auto():
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(
        n_estimators=3, objective="auto", n_backfit=0, random_state=0, **STAGEWISE
    ).fit(X, y)
    assert est.n_member_fits_ == 1 + 2 + 2


def test_verbose_falls_back_to_lines_without_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm fails
    X, y, _ = mixture()
    PairwiseCalibratedEnsemble(n_estimators=2, verbose=1, **STAGEWISE).fit(X, y)
    captured = capsys.readouterr()
    assert "stage 1" in captured.out and "stage 2" in captured.out
    assert captured.err == ""


def test_verbose_bar_replaces_the_lines(capsys):
    pytest.importorskip("tqdm")
    X, y, _ = mixture()
    for members in ("population", "stagewise"):
        PairwiseCalibratedEnsemble(n_estimators=3, members=members, verbose=1).fit(X, y)
        captured = capsys.readouterr()
        assert captured.out == ""  # no wall of prints
        assert "stage 3" in captured.err and "3/3" in captured.err


def test_linear_reward_declares_its_penalty():
    assert get_reward_tags(LinearReward()).penalty == "alpha"
    learner = LinearReward()
    check_penalty(learner, make_comparisons(learner), 1e-4)


class _BogusPenalty(LinearReward):
    def __reward_tags__(self):
        tags = super().__reward_tags__()
        tags.penalty = "max_iter"  # an int that does not regularise
        return tags


class _MissingPenalty(LinearReward):
    def __reward_tags__(self):
        tags = super().__reward_tags__()
        tags.penalty = "lambda_"
        return tags


@pytest.mark.parametrize("learner", [_BogusPenalty(), _MissingPenalty()])
def test_penalty_check_catches_a_wrong_declaration(learner):
    with pytest.raises(RewardLearnerCheckError, match=r"^\[penalty\]"):
        check_penalty(learner, make_comparisons(learner), 1e-4)


def test_n_jobs_is_validated():
    X, y, _ = mixture()
    with pytest.raises(ValueError, match="n_jobs"):
        PairwiseCalibratedEnsemble(n_jobs="two").fit(X, y)
    with pytest.raises(ValueError, match="max_fits_per_stage"):
        PairwiseCalibratedEnsemble(max_fits_per_stage=0).fit(X, y)
    assert_allclose(
        PairwiseCalibratedEnsemble(n_jobs=2, random_state=0).fit(X, y).predict_proba(X),
        PairwiseCalibratedEnsemble(random_state=0).fit(X, y).predict_proba(X),
    )
