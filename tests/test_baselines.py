"""Baselines: the ensemble's pairs API, and what each baseline is meant to do."""

import pickle

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    estimator_checks_generator,
    parametrize_with_checks,
)

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.baselines import (
    BaggedRewardEnsemble,
    MajorityVoteBradleyTerry,
    MixtureBradleyTerry,
    SoftBradleyTerry,
    majority_labels,
)
from pcr_sklearn.metrics import calibration_error
from pcr_sklearn.rewards import LinearReward
from pcr_sklearn.utils.estimator_checks import yield_pair_checks

from ._helpers import (
    EXPECTED_FAILED_CHECKS,
    ExpectedFailure,
    check_name,
    linear_mixture,
    run_common_check,
)


def _baselines():
    return [
        SoftBradleyTerry(random_state=0),
        MajorityVoteBradleyTerry(random_state=0),
        BaggedRewardEnsemble(n_estimators=2, random_state=0),
        MixtureBradleyTerry(n_components=2, random_state=0),
    ]


def _name(est):
    return type(est).__name__


def mixture(n_pairs=400, weights=(0.7, 0.3), n_features=3, seed=0):
    return linear_mixture(n_pairs, n_features, weights, seed)


# ------------------------------------------------------------ common checks

_BOOTSTRAP = ExpectedFailure(
    "each member fits a bootstrap sample drawn by row; integer weights are not "
    "the same draws as repeated rows (scikit-learn's BaggingClassifier fails "
    "it too)",
    AssertionError,
    r"Comparing the output of BaggedRewardEnsemble\.predict_proba revealed that "
    r"fitting with `sample_weight` is not equivalent to fitting with removed or "
    r"repeated data points",
)


def _expected_failed(est):
    failed = dict(EXPECTED_FAILED_CHECKS)
    if isinstance(est, BaggedRewardEnsemble):
        failed["check_sample_weight_equivalence_on_dense_data"] = _BOOTSTRAP
    return failed


# Each listed check must fail with its recorded error (see run_common_check);
# no xfail, which would absorb any failure.
@parametrize_with_checks(_baselines())
def test_sklearn_compatible_baseline(estimator, check):
    run_common_check(estimator, check, _expected_failed(estimator))


@pytest.mark.parametrize("estimator", _baselines(), ids=_name)
def test_every_expected_failure_names_a_check_that_runs(estimator):
    names = {check_name(c) for _, c in estimator_checks_generator(estimator)}
    assert set(_expected_failed(estimator)) <= names


@pytest.mark.parametrize("estimator", _baselines(), ids=_name)
def test_param_validation_and_column_names(estimator):
    check_param_validation(_name(estimator), estimator)
    check_dataframe_column_names_consistency(_name(estimator), estimator)


@pytest.mark.parametrize("check", list(yield_pair_checks()), ids=lambda c: c.__name__)
@pytest.mark.parametrize("estimator", _baselines(), ids=_name)
def test_pair_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", _baselines(), ids=_name)
def test_grid_search_group_kfold_pipeline(estimator):
    X, y, groups = mixture(n_pairs=240)
    search = GridSearchCV(
        make_pipeline(FunctionTransformer(), clone(estimator)),
        {f"{_name(estimator).lower()}__vote": ["soft", "hard"]},
        cv=GroupKFold(3),
    ).fit(X, y, groups=groups)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores <= 0)


@pytest.mark.parametrize("estimator", _baselines(), ids=_name)
def test_clone_pickle_joblib_and_determinism(estimator, tmp_path):
    X, y, _ = mixture(n_pairs=200)
    est = clone(estimator).fit(X, y)
    assert not hasattr(clone(est), "estimators_")
    again = clone(estimator).fit(X, y)
    assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    assert_array_equal(again.rewards(X[:, :3]), est.rewards(X[:, :3]))
    loaded = pickle.loads(pickle.dumps(est))
    assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    joblib.dump(est, tmp_path / "model.joblib")
    assert_array_equal(
        joblib.load(tmp_path / "model.joblib").predict_proba(X), est.predict_proba(X)
    )


def _with_nan(X, y):
    X = X.copy()
    X[3, 1] = np.nan
    return X, y


_BAD_INPUTS = [
    ("y out of range", lambda X, y: (X, np.r_[y[:-1], 1.5]), {}),
    ("NaN pair", _with_nan, {}),
    ("odd width", lambda X, y: (X[:, :5], y), {}),
    ("three classes", lambda X, y: (X, np.arange(len(y)) % 3 + 2), {}),
    ("length mismatch", lambda X, y: (X, y[:-1]), {}),
    ("negative weight", lambda X, y: (X, y), {"sample_weight": -np.ones(60)}),
    ("zero weights", lambda X, y: (X, y), {"sample_weight": np.zeros(60)}),
]


@pytest.mark.parametrize(
    "make, kwargs", [b[1:] for b in _BAD_INPUTS], ids=[b[0] for b in _BAD_INPUTS]
)
@pytest.mark.parametrize("estimator", _baselines(), ids=_name)
def test_bad_input_same_errors_as_the_ensemble(estimator, make, kwargs):
    X, y, _ = mixture(n_pairs=60)
    bad_X, bad_y = make(X, y)
    with pytest.raises(ValueError) as expected:
        PairwiseCalibratedEnsemble(n_estimators=1).fit(bad_X, bad_y, **kwargs)
    with pytest.raises(ValueError) as got:
        clone(estimator).fit(bad_X, bad_y, **kwargs)
    assert str(got.value) == str(expected.value)


def test_predict_with_wrong_width_same_error_as_the_ensemble():
    X, y, _ = mixture(n_pairs=60)
    ensemble = PairwiseCalibratedEnsemble(n_estimators=1).fit(X, y)
    with pytest.raises(ValueError) as expected:
        ensemble.predict_proba(X[:, :4])
    for est in _baselines():
        est.fit(X, y)
        with pytest.raises(ValueError) as got:
            est.predict_proba(X[:, :4])
        assert str(got.value) == str(expected.value).replace(
            "PairwiseCalibratedEnsemble", _name(est)
        )


# -------------------------------------------------- hard and soft outputs


@pytest.mark.parametrize("estimator", _baselines(), ids=_name)
def test_vote_switches_between_probability_and_hard_share(estimator):
    X, y, _ = mixture(n_pairs=200)
    est = clone(estimator).fit(X, y)
    d = X.shape[1] // 2
    diff = est.rewards(X[:, :d]) - est.rewards(X[:, d:])
    weights = est.estimator_weights_
    assert weights.min() >= 0 and weights.sum() == pytest.approx(1.0)
    soft = est.predict_proba(X)[:, 1]
    assert_allclose(soft, expit(diff) @ weights)
    # vote does not enter fit: switching it on the fitted model is valid.
    hard = est.set_params(vote="hard").predict_proba(X)[:, 1]
    assert_allclose(hard, ((diff > 0) + 0.5 * (diff == 0)) @ weights)
    assert est.score(X, y) == pytest.approx(-calibration_error(y, hard))
    assert clone(estimator).set_params(vote="hard").fit(X, y).score(X, y) == (
        pytest.approx(est.score(X, y))
    )
    # Both outputs pick the same side when there is a single reward.
    if est.n_estimators_ == 1:
        assert_array_equal(soft > 0.5, hard > 0.5)


# ------------------------------------------------------------- per baseline


def test_soft_bradley_terry_recovers_a_single_bt_model():
    # Annotators follow one Bradley-Terry model, so the probability error
    # can fall to the sampling noise of the soft labels, E[p*(1-p*)/n].
    rng = np.random.RandomState(0)
    n_pairs, n_annotators, coef = 3000, 5, np.array([2.0, -1.0, 0.5])
    a, b = rng.normal(size=(n_pairs, 3)), rng.normal(size=(n_pairs, 3))
    p_star = expit((a - b) @ coef)
    y = rng.binomial(n_annotators, p_star) / n_annotators
    X = np.hstack([a, b])
    est = SoftBradleyTerry(random_state=0).fit(X, y)
    fitted = est.estimators_[0].coef_
    cosine = fitted @ coef / np.linalg.norm(fitted) / np.linalg.norm(coef)
    noise = np.mean(p_star * (1 - p_star) / n_annotators)
    to_truth = calibration_error(p_star, est.predict_proba(X))
    # Measured: cosine 0.99999, error 0.02182 against noise 0.02177, and
    # 3.7e-6 from p*.
    assert cosine > 0.999
    assert -est.score(X, y) < noise * 1.01
    assert to_truth < 1e-4
    # Its hard vote is a single deterministic reward: it cannot beat the
    # single-reward floor, mean min(p, 1-p)^2.
    est.set_params(vote="hard")
    assert -est.score(X, y) >= np.mean(np.minimum(y, 1 - y) ** 2)


@pytest.mark.parametrize("scale", [1e-4, 1e6])
def test_soft_bradley_terry_does_not_depend_on_the_feature_scale(scale):
    # Measured before at 1e-4: one L-BFGS iteration, then the constant 0.5
    # model (calibration error 0.143 against 0.041 at unit scale).
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(500, 3)), rng.normal(size=(500, 3))
    y = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    X = np.hstack([a, b])
    unit = SoftBradleyTerry(random_state=0).fit(X, y)
    scaled = SoftBradleyTerry(random_state=0).fit(X * scale, y)
    assert_allclose(scaled.predict_proba(X * scale), unit.predict_proba(X), atol=1e-6)
    assert_allclose(scaled.score(X * scale, y), unit.score(X, y), atol=1e-7)
    assert -unit.score(X, y) < 0.05


def test_majority_labels_and_tie_handling():
    assert_array_equal(
        majority_labels([0.0, 0.2, 0.5, 0.5 + 1e-13, 0.6, 1.0]),
        [0.0, 0.0, np.nan, np.nan, 1.0, 1.0],
    )
    X, y, _ = mixture(n_pairs=300, weights=(0.5, 0.5))
    tie = y == 0.5
    assert 50 < tie.sum() < 250
    dropped = MajorityVoteBradleyTerry(random_state=0).fit(X, y)
    assert dropped.n_ties_ == tie.sum()
    # "drop" is exactly a soft-label fit on the hardened, tie-free rows.
    reference = SoftBradleyTerry(random_state=0).fit(X[~tie], (y[~tie] > 0.5) * 1.0)
    assert_allclose(dropped.estimators_[0].coef_, reference.estimators_[0].coef_)
    half = MajorityVoteBradleyTerry(ties="half", random_state=0).fit(X, y)
    reference = SoftBradleyTerry(random_state=0).fit(X, np.where(tie, 0.5, y > 0.5))
    assert_allclose(half.estimators_[0].coef_, reference.estimators_[0].coef_)
    with pytest.raises(ValueError, match="Every comparison is a tie"):
        MajorityVoteBradleyTerry().fit(X, np.full(len(y), 0.5))


def test_majority_vote_is_overconfident_where_soft_labels_are_not():
    X, y, _ = mixture(n_pairs=400)
    majority = MajorityVoteBradleyTerry(random_state=0).fit(X, y)
    soft = SoftBradleyTerry(random_state=0).fit(X, y)
    # Majority labels follow the 70% group only: its reward ignores feature 1.
    coef = majority.estimators_[0].coef_
    assert abs(coef[1]) < 0.1 * abs(coef[0])
    assert -soft.score(X, y) < -majority.score(X, y)
    # Its hard vote is the majority rule itself, so it sits at the floor, while
    # the soft-label reward's hard vote does not even reach it (measured:
    # 0.0448 = floor, against 0.0978).
    floor = np.mean(np.minimum(y, 1 - y) ** 2)
    majority.set_params(vote="hard")
    soft.set_params(vote="hard")
    assert -majority.score(X, y) == pytest.approx(floor, abs=0.002)
    assert -soft.score(X, y) > 1.5 * floor


def test_bagged_members_differ_and_average():
    X, y, _ = mixture(n_pairs=200)
    est = BaggedRewardEnsemble(n_estimators=3, random_state=0).fit(X, y)
    coefs = np.array([m.coef_ for m in est.estimators_])
    assert np.ptp(coefs, axis=0).max() > 0.05
    assert_allclose(est.estimator_weights_, np.full(3, 1 / 3))
    for counts in est.estimators_samples_:
        assert counts.sum() == len(y) and (counts == 0).any()
    # The hard-vote share takes the values j / k.
    hard = est.set_params(vote="hard").predict_proba(X)[:, 1]
    assert set(np.round(hard * 6).astype(int)) <= {0, 2, 3, 4, 6}
    # Without bootstrap, a deterministic learner gives identical members.
    plain = BaggedRewardEnsemble(n_estimators=2, bootstrap=False).fit(X, y)
    assert_allclose(plain.estimators_[0].coef_, plain.estimators_[1].coef_)
    other = BaggedRewardEnsemble(n_estimators=3, random_state=1).fit(X, y)
    assert not np.allclose(other.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("init", ["residual", "random"])
def test_mixture_recovers_two_components(init):
    X, y, _ = mixture(n_pairs=400, weights=(0.7, 0.3))
    # LinearReward scales its ridge penalty by half the mean squared norm of
    # the pair differences (about 3 for these 3-D standard-normal items):
    # alpha = 2.5e-4 is the plain penalty of 1e-3 these numbers were measured
    # with.
    est = MixtureBradleyTerry(
        LinearReward(alpha=2.5e-4), n_components=2, init=init, random_state=0
    ).fit(X, y)
    curve = est.log_likelihood_curve_
    assert est.converged_ and est.n_iter_ == len(curve)
    # EM never lowers the likelihood beyond the M-step's inexactness.
    assert np.diff(curve).min() > -1e-6
    assert est.log_likelihood_ == curve.max()
    # Measured: weights 0.702 / 0.298 with either init (18 EM iterations
    # from "residual", 24 from "random").
    order = np.argsort(est.estimator_weights_)[::-1]
    assert_allclose(est.estimator_weights_[order], [0.7, 0.3], atol=0.02)
    # Head k follows feature k: its reward points along that axis.
    coefs = np.array([est.estimators_[k].coef_ for k in order])
    assert np.argmax(np.abs(coefs[0])) == 0 and np.argmax(np.abs(coefs[1])) == 1
    soft = -est.score(X, y)
    hard = -est.set_params(vote="hard").score(X, y)
    # Measured: soft 0.0093, hard 0.0075, single-reward floor 0.0448.
    floor = np.mean(np.minimum(y, 1 - y) ** 2)
    assert hard < 0.25 * floor and soft < 0.25 * floor


def test_mixture_with_one_component_is_the_soft_bradley_terry():
    X, y, _ = mixture(n_pairs=200)
    mix = MixtureBradleyTerry(n_components=1, random_state=0).fit(X, y)
    soft = SoftBradleyTerry(random_state=0).fit(X, y)
    assert_allclose(mix.estimator_weights_, [1.0])
    assert_allclose(mix.predict_proba(X), soft.predict_proba(X), atol=1e-6)
