"""Behaviour of PairwiseCalibratedEnsemble: stages, API contract, persistence."""

import pickle

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.metrics import calibration_error, calibration_scorer
from pcr_sklearn.rewards import LinearReward

from ._helpers import linear_mixture


def mixture(n_pairs=400, n_features=4, weights=(0.5, 0.3, 0.2), seed=0):
    return linear_mixture(n_pairs, n_features, weights, seed)


def assert_same_model(left, right):
    assert left.n_estimators_ == right.n_estimators_
    assert_allclose(left.estimator_weights_, right.estimator_weights_)
    for a, b in zip(left.estimators_, right.estimators_):
        if hasattr(a, "taste"):  # drawn from a population
            assert_allclose(a.taste, b.taste)
            a, b = a.mean, b.mean
        assert_allclose(a.coef_, b.coef_)
    assert_allclose(left.train_score_, right.train_score_)


STAGEWISE = {"members": "stagewise"}
SETTINGS = [
    dict(members="stagewise", vote="hard", objective="weighted", n_backfit=1),
    dict(members="stagewise", vote="hard", objective="residual", n_backfit=0),
    dict(members="stagewise", vote="soft", objective="shared", n_backfit=2),
    dict(members="stagewise", vote="soft", objective="residual", n_backfit=1),
]


@pytest.mark.parametrize("params", SETTINGS)
def test_partial_fit_k_times_equals_fit(params):
    X, y, _ = mixture()
    fitted = PairwiseCalibratedEnsemble(n_estimators=3, random_state=0, **params)
    fitted.fit(X, y)
    stepped = PairwiseCalibratedEnsemble(random_state=0, **params)
    for _ in range(3):
        stepped.partial_fit(X, y)
    assert_same_model(fitted, stepped)
    assert_allclose(fitted.predict_proba(X), stepped.predict_proba(X))


@pytest.mark.parametrize("params", SETTINGS[:2])
def test_warm_start_continues_the_fitted_stages(params):
    X, y, _ = mixture()
    direct = PairwiseCalibratedEnsemble(n_estimators=4, random_state=0, **params)
    direct.fit(X, y)
    warm = PairwiseCalibratedEnsemble(
        n_estimators=2, warm_start=True, random_state=0, **params
    ).fit(X, y)
    first_two = list(warm.estimators_)
    warm.set_params(n_estimators=4).fit(X, y)
    assert warm.n_estimators_ == 4
    assert_same_model(direct, warm)
    if params["n_backfit"] == 0:
        # Without backfitting the first members are kept as they were.
        assert warm.estimators_[:2] == first_two


def test_warm_start_rejects_fewer_estimators_and_cold_fit_resets():
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(n_estimators=3, warm_start=True, random_state=0)
    est.fit(X, y)
    with pytest.raises(ValueError, match="n_estimators=2 must be at least"):
        est.set_params(n_estimators=2).fit(X, y)
    est.set_params(warm_start=False, n_estimators=2).fit(X, y)
    assert est.n_estimators_ == 2


@pytest.mark.parametrize("params", SETTINGS)
def test_staged_predict_proba(params):
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(n_estimators=4, random_state=0, **params)
    est.fit(X, y)
    staged = list(est.staged_predict_proba(X))
    assert len(staged) == est.n_estimators_ == 4
    assert_allclose(staged[-1], est.predict_proba(X))
    errors = [calibration_error(y, proba) for proba in staged]
    assert np.all(np.diff(errors) <= 1e-12), errors
    assert np.all(np.diff(est.train_score_) <= 1e-12), est.train_score_
    assert_allclose(errors[-1], est.train_score_[-1])
    # Each stage is a fresh array: changing one does not change another.
    staged[0][:] = -1
    assert np.all(staged[1] >= 0)
    # Each prefix uses its own optimal weights: one member has weight 1.
    diff = est.rewards(X[:, :4])[:, 0] - est.rewards(X[:, 4:])[:, 0]
    vote = (
        (diff > 0) + 0.5 * (diff == 0)
        if params["vote"] == "hard"
        else (1 / (1 + np.exp(-diff)))
    )
    assert_allclose(next(est.staged_predict_proba(X))[:, 1], vote)


def test_predict_proba_is_weighted_hard_vote_of_member_rewards():
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(n_estimators=3, random_state=0).fit(X, y)
    ra, rb = est.rewards(X[:, :4]), est.rewards(X[:, 4:])
    assert ra.shape == (len(y), 3)
    votes = (ra > rb) + 0.5 * (ra == rb)
    proba = est.predict_proba(X)
    assert_allclose(proba[:, 1], votes @ est.estimator_weights_)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(est.predict(X), (proba[:, 1] > 0.5).astype(int))
    assert est.estimator_weights_.min() >= 0
    assert est.estimator_weights_.sum() == pytest.approx(1.0)
    assert est.score(X, y) == pytest.approx(-calibration_error(y, proba))


def test_soft_vote_uses_member_sigmoids():
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(n_estimators=2, vote="soft", random_state=0)
    est.fit(X, y)
    diff = est.rewards(X[:, :4]) - est.rewards(X[:, 4:])
    expected = (1 / (1 + np.exp(-diff))) @ est.estimator_weights_
    assert_allclose(est.predict_proba(X)[:, 1], expected)


def test_recovers_a_linear_mixture_and_beats_single_reward():
    X, y, _ = mixture(n_pairs=2000)
    est = PairwiseCalibratedEnsemble(
        n_estimators=3, objective="shared", n_backfit=5, random_state=0, **STAGEWISE
    ).fit(X, y)
    # Members line up with features 0, 1, 2; compare weights feature by feature.
    dominant = [int(np.argmax(np.abs(m.coef_))) for m in est.estimators_]
    recovered = np.zeros(3)
    for feature, weight in zip(dominant, est.estimator_weights_):
        recovered[feature] += weight
    assert np.abs(recovered - [0.5, 0.3, 0.2]).sum() < 0.05
    Xt, yt, _ = mixture(n_pairs=2000, seed=1)
    single = PairwiseCalibratedEnsemble(n_estimators=1, random_state=0, **STAGEWISE)
    single.fit(X, y)
    assert -est.score(Xt, yt) < 0.25 * -single.score(Xt, yt)


def test_weighted_objective_with_backfitting_beats_paper_objective():
    X, y, _ = mixture(n_pairs=1500)
    Xt, yt, _ = mixture(n_pairs=1500, seed=2)
    ours = PairwiseCalibratedEnsemble(n_estimators=3, random_state=0, **STAGEWISE)
    ours.fit(X, y)
    paper = PairwiseCalibratedEnsemble(
        n_estimators=3, objective="residual", n_backfit=0, random_state=0, **STAGEWISE
    ).fit(X, y)
    assert -ours.score(Xt, yt) < -paper.score(Xt, yt)


@pytest.mark.parametrize("members", ["population", "stagewise"])
def test_same_random_state_same_model_and_refit_is_identical(members):
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(
        n_estimators=3, vote="soft", members=members, random_state=7
    )
    first = clone(est).fit(X, y)
    again = est.fit(X, y).fit(X, y)
    assert_same_model(first, again)


def test_binary_and_string_labels_map_to_classes():
    X, y, _ = mixture()
    hard = (y > 0.5).astype(int)
    est = PairwiseCalibratedEnsemble(n_estimators=2, random_state=0).fit(X, hard)
    assert_array_equal(est.classes_, [0, 1])
    words = np.where(hard == 1, "A", "B")
    est_words = PairwiseCalibratedEnsemble(n_estimators=2, random_state=0)
    est_words.fit(X, words)
    assert_array_equal(est_words.classes_, ["A", "B"])
    # "B" sorts last, so it is the A-wins class: the probabilities flip.
    assert_allclose(est_words.predict_proba(X), est.predict_proba(X)[:, ::-1])
    signs = np.where(hard == 1, 1, -1)
    est_signs = PairwiseCalibratedEnsemble(n_estimators=2, random_state=0)
    est_signs.fit(X, signs)
    assert_allclose(est_signs.predict_proba(X), est.predict_proba(X))
    assert set(est_signs.predict(X)) <= {-1, 1}


def test_integer_sample_weights_equal_duplicated_rows():
    X, y, _ = mixture(n_pairs=200)
    counts = np.random.RandomState(0).randint(0, 3, size=len(y))
    counts[0] = 1
    weighted = PairwiseCalibratedEnsemble(n_estimators=3, random_state=0)
    weighted.fit(X, y, sample_weight=counts)
    repeated = PairwiseCalibratedEnsemble(n_estimators=3, random_state=0)
    repeated.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    assert_allclose(weighted.estimator_weights_, repeated.estimator_weights_, atol=1e-6)
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-6)
    assert weighted.score(X, y, counts) == pytest.approx(
        repeated.score(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    )


def test_grid_search_over_n_estimators_with_group_kfold():
    X, y, groups = mixture(n_pairs=600)
    search = GridSearchCV(
        PairwiseCalibratedEnsemble(random_state=0),
        {"n_estimators": [1, 2, 4]},
        cv=GroupKFold(3),
    ).fit(X, y, groups=groups)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(scores <= 0)
    # Three groups of annotators: one member is clearly not enough.
    assert search.best_params_["n_estimators"] > 1
    assert scores[0] < scores[1]
    scorer_search = GridSearchCV(
        PairwiseCalibratedEnsemble(random_state=0),
        {"n_estimators": [1, 2]},
        cv=GroupKFold(3),
        scoring=calibration_scorer,
    ).fit(X, y, groups=groups)
    assert_allclose(
        scorer_search.cv_results_["mean_test_score"],
        search.cv_results_["mean_test_score"][:2],
    )


def test_clone_pickle_joblib_round_trip(tmp_path):
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(n_estimators=3, random_state=0).fit(X, y)
    unfitted = clone(est)
    assert not hasattr(unfitted, "estimators_")
    loaded = pickle.loads(pickle.dumps(est))
    assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    assert_array_equal(joblib.load(path).predict_proba(X), est.predict_proba(X))
    assert_array_equal(
        list(loaded.staged_predict_proba(X))[0], list(est.staged_predict_proba(X))[0]
    )


def test_works_in_a_pipeline_and_with_dataframes():
    pd = pytest.importorskip("pandas")
    X, y, _ = mixture()
    names = [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)]
    frame = pd.DataFrame(X, columns=names)
    pipe = make_pipeline(
        FunctionTransformer(),
        PairwiseCalibratedEnsemble(n_estimators=2, random_state=0),
    )
    pipe.fit(frame, y)
    est = pipe[-1]
    assert_array_equal(est.feature_names_in_, names)
    assert_allclose(pipe.predict_proba(frame), est.predict_proba(X))


def test_early_stopping_with_explicit_validation_keeps_best_prefix():
    X, y, _ = mixture(n_pairs=600)
    Xv, yv, _ = mixture(n_pairs=300, seed=3)
    est = PairwiseCalibratedEnsemble(
        n_estimators=8, early_stopping=True, n_iter_no_change=2, random_state=0
    ).fit(X, y, X_val=Xv, y_val=yv)
    run = len(est.validation_score_)
    assert est.n_estimators_ <= run <= 8
    assert est.n_estimators_ == int(np.argmin(est.validation_score_)) + 1 or (
        # Improvements smaller than tol do not count as improvements.
        est.validation_score_[est.n_estimators_ - 1]
        <= est.validation_score_.min() + est.tol
    )
    assert len(est.train_score_) == est.n_estimators_
    assert -est.score(Xv, yv) == pytest.approx(
        est.validation_score_[est.n_estimators_ - 1]
    )
    # A validation set that disagrees with training stops after one stage run
    # past the patience window and keeps the first member.
    adversarial = PairwiseCalibratedEnsemble(
        n_estimators=8, early_stopping=True, n_iter_no_change=1, random_state=0
    ).fit(X, y, X_val=Xv, y_val=1 - yv)
    assert adversarial.n_estimators_ < 8


def test_early_stopping_split_keeps_groups_together():
    X, y, groups = mixture(n_pairs=600)
    est = PairwiseCalibratedEnsemble(
        n_estimators=3, early_stopping=True, validation_fraction=0.25, random_state=0
    )
    train, validation = est._reset() or est._split(
        (X[:, :4], X[:, 4:], y, np.ones(len(y))), None, None, None, groups
    )
    train_rows = {tuple(row) for row in train[0]}
    held_out = [g for g, row in zip(groups, X[:, :4]) if tuple(row) not in train_rows]
    assert len(validation[2]) == len(held_out) > 0
    assert not set(held_out) & {
        g for g, row in zip(groups, X[:, :4]) if tuple(row) in train_rows
    }
    est.fit(X, y, groups=groups)
    assert len(est.validation_score_) >= est.n_estimators_


def test_early_stopping_arguments_are_checked():
    X, y, _ = mixture()
    with pytest.raises(ValueError, match="only used with early_stopping=True"):
        PairwiseCalibratedEnsemble().fit(X, y, X_val=X, y_val=y)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        PairwiseCalibratedEnsemble(early_stopping=True).fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="groups has 3 entries"):
        PairwiseCalibratedEnsemble(early_stopping=True).fit(X, y, groups=[1, 2, 3])


@pytest.mark.parametrize("members", ["population", "stagewise"])
def test_verbose_prints_stages(capsys, members):
    X, y, _ = mixture()
    PairwiseCalibratedEnsemble(n_estimators=2, members=members, verbose=1).fit(X, y)
    # A tqdm bar on stderr (per-stage lines on stdout without tqdm).
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "stage 1" in out and "stage 2" in out


def test_custom_reward_learner_without_random_state():
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(
        LinearReward(alpha=1.0), n_estimators=2, **STAGEWISE
    ).fit(X, y)
    assert all(m.alpha == 1.0 for m in est.estimators_)
    assert est.estimator_ is est.estimator


def test_metadata_routing_sends_sample_weight_to_fit_and_score():
    from sklearn import config_context

    X, y, groups = mixture(n_pairs=300)
    weights = np.random.RandomState(0).randint(1, 4, size=len(y)).astype(float)
    with config_context(enable_metadata_routing=True):
        est = PairwiseCalibratedEnsemble(random_state=0)
        est.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
        search = GridSearchCV(est, {"n_estimators": [1, 2]}, cv=GroupKFold(3))
        search.fit(X, y, sample_weight=weights, groups=groups)
    direct = PairwiseCalibratedEnsemble(
        n_estimators=search.best_params_["n_estimators"], random_state=0
    ).fit(X, y, sample_weight=weights)
    assert_allclose(search.best_estimator_.predict_proba(X), direct.predict_proba(X))


def test_skops_lists_our_types_as_untrusted(tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(n_estimators=2, random_state=0).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert "pcr_sklearn._ensemble.PairwiseCalibratedEnsemble" in untrusted
    loaded = sio.load(path, trusted=untrusted)
    assert_allclose(loaded.predict_proba(X), est.predict_proba(X))


def test_warm_start_can_switch_early_stopping_on():
    X, y, _ = mixture()
    Xv, yv, _ = mixture(seed=5)
    est = PairwiseCalibratedEnsemble(n_estimators=2, warm_start=True, random_state=0)
    est.fit(X, y)
    est.set_params(n_estimators=5, early_stopping=True).fit(X, y, X_val=Xv, y_val=yv)
    assert 2 <= est.n_estimators_ <= 5
    assert len(est.validation_score_) >= est.n_estimators_ - 2
    est.set_params(warm_start=False, early_stopping=False).fit(X, y)
    assert not hasattr(est, "validation_score_")


def test_auto_objective_keeps_the_better_of_weighted_and_shared():
    X, y, _ = mixture(n_pairs=500)
    errors = {
        objective: PairwiseCalibratedEnsemble(
            n_estimators=2, objective=objective, random_state=0
        )
        .fit(X, y)
        .train_score_
        for objective in ("auto", "weighted", "shared")
    }
    # Stage 1 is the same for all; stage 2 of "auto" is the better candidate.
    assert errors["auto"][0] == errors["weighted"][0] == errors["shared"][0]
    assert errors["auto"][1] == pytest.approx(
        min(errors["weighted"][1], errors["shared"][1])
    )


def test_backfitting_warm_starts_linear_members_without_changing_their_params():
    X, y, _ = mixture()
    est = PairwiseCalibratedEnsemble(n_estimators=3, random_state=0, **STAGEWISE)
    est.fit(X, y)
    assert all(member.warm_start is False for member in est.estimators_)
