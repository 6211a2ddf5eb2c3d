"""The Displays of pcr_sklearn.metrics, tested on the data they hold (headless)."""

import copy
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402

from pcr_sklearn import (  # noqa: E402
    PairwiseCalibratedEnsemble,
    PairwiseCalibratedEnsembleCV,
)
from pcr_sklearn.metrics import (  # noqa: E402
    MemberAgreementDisplay,
    PairCalibrationDisplay,
    StagedErrorDisplay,
    calibration_error,
    calibration_scorer,
    kendall_tau_matrix,
    noise_floor,
    single_reward_floor,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    """Pairs judged by a 0.7/0.3 mixture of two one-feature rewards."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 300, 3))
    y = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    return np.hstack([a, b]), y, a


@pytest.fixture(scope="module")
def ensemble(data):
    X, y, _ = data
    return PairwiseCalibratedEnsemble(n_estimators=8, random_state=0).fit(X, y)


# ------------------------------------------------------------------ import


def test_importing_metrics_does_not_import_matplotlib():
    code = (
        "import sys, pcr_sklearn.metrics as m; "
        "assert m.PairCalibrationDisplay and m.StagedErrorDisplay; "
        "bad = [n for n in sys.modules if n.split('.')[0] == 'matplotlib']; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------ PairCalibrationDisplay


def test_pair_calibration_golden_bins():
    # 0.5 sits on the inner edge and goes to the lower bin, as in scikit-learn.
    disp = PairCalibrationDisplay.from_predictions(
        [0.0, 0.5, 1.0, 0.7], [0.1, 0.5, 0.6, 0.9], n_bins=2
    )
    assert_allclose(disp.prob_pred, [0.3, 0.75])
    assert_allclose(disp.prob_true, [0.25, 0.85])
    assert_array_equal(disp.counts, [2, 2])
    assert_allclose(disp.y_prob, [0.1, 0.5, 0.6, 0.9])
    expected = calibration_error([0.0, 0.5, 1.0, 0.7], [0.1, 0.5, 0.6, 0.9])
    assert disp.calibration_error == pytest.approx(expected)


def test_pair_calibration_weighted_bins_and_empty_bins_dropped():
    y_true, y_prob = [0.0, 0.5, 1.0, 0.7], [0.1, 0.5, 0.6, 0.9]
    disp = PairCalibrationDisplay.from_predictions(
        y_true, y_prob, sample_weight=[1, 3, 1, 1], n_bins=4
    )
    # Bins (0, .25], (.25, .5], (.5, .75], (.75, 1]: all four hold a pair.
    assert_allclose(disp.prob_pred, [0.1, 0.5, 0.6, 0.9])
    disp = PairCalibrationDisplay.from_predictions(
        y_true, y_prob, sample_weight=[1, 3, 1, 1], n_bins=2
    )
    assert_allclose(disp.prob_pred, [(0.1 + 1.5) / 4, 0.75])
    assert_allclose(disp.prob_true, [1.5 / 4, 0.85])
    # A zero-weight pair is not counted; a bin of zero weight is dropped.
    disp = PairCalibrationDisplay.from_predictions(
        y_true, y_prob, sample_weight=[0, 1, 1, 1], n_bins=10
    )
    assert_array_equal(disp.counts, [1, 1, 1])
    assert_allclose(disp.prob_pred, [0.5, 0.6, 0.9])
    disp = PairCalibrationDisplay.from_predictions([0.2, 0.9], [0.1, 0.9], n_bins=10)
    assert_array_equal(disp.counts, [1, 1])
    assert disp.prob_true.shape == disp.prob_pred.shape == (2,)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_pair_calibration_matches_sklearn_on_binary_labels(strategy):
    rng = np.random.default_rng(1)
    y_prob = rng.uniform(size=200)
    y_true = (rng.uniform(size=200) < y_prob).astype(float)
    disp = PairCalibrationDisplay.from_predictions(
        y_true, y_prob, n_bins=7, strategy=strategy
    )
    prob_true, prob_pred = calibration_curve(
        y_true, y_prob, n_bins=7, strategy=strategy
    )
    assert_allclose(disp.prob_true, prob_true)
    assert_allclose(disp.prob_pred, prob_pred)
    assert disp.counts.sum() == 200


def test_pair_calibration_counts_and_proba_input(ensemble, data):
    X, y, _ = data
    disp = PairCalibrationDisplay.from_estimator(ensemble, X, y, strategy="quantile")
    assert disp.counts.sum() == len(y)
    assert_allclose(disp.y_prob, ensemble.predict_proba(X)[:, 1])
    assert disp.calibration_error == pytest.approx(-ensemble.score(X, y))
    assert disp.estimator_name == "PairwiseCalibratedEnsemble (hard votes)"
    # predict_proba's (n, 2) output is read by column 1.
    again = PairCalibrationDisplay.from_predictions(y, ensemble.predict_proba(X))
    assert_allclose(again.y_prob, disp.y_prob)


def test_pair_calibration_several_estimators_on_one_axis(ensemble, data):
    X, y, _ = data
    first = PairCalibrationDisplay.from_estimator(ensemble, X, y)
    second = PairCalibrationDisplay.from_estimator(
        ensemble, X, y, vote="soft", ax=first.ax_
    )
    PairCalibrationDisplay.from_predictions(
        y, np.full(len(y), 0.5), ax=first.ax_, name="1/2"
    )
    ax = first.ax_
    assert second.ax_ is ax and second.figure_ is ax.figure
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels.count("perfectly calibrated") == 1  # the diagonal is drawn once
    assert len(ax.get_lines()) == 4 and len(ax.collections) == 3
    assert labels[-1].startswith("1/2, CE ")
    assert len(ax.get_legend().get_texts()) == 4
    assert first.line_ is not second.line_
    assert_allclose(
        second.scatter_.get_offsets(), np.c_[second.prob_pred, second.prob_true]
    )


def test_pair_calibration_vote_soft_changes_y_prob_not_the_estimator(ensemble, data):
    X, y, _ = data
    hard = PairCalibrationDisplay.from_estimator(ensemble, X, y, vote="hard")
    soft = PairCalibrationDisplay.from_estimator(ensemble, X, y, vote="soft")
    assert ensemble.vote == "hard"
    assert not np.allclose(hard.y_prob, soft.y_prob)
    expected = copy.copy(ensemble).set_params(vote="soft").predict_proba(X)[:, 1]
    assert_allclose(soft.y_prob, expected)
    assert soft.estimator_name == "PairwiseCalibratedEnsemble (soft votes)"
    assert soft.calibration_error == pytest.approx(calibration_error(y, expected))


def test_pair_calibration_plot_from_constructor_returns_self():
    disp = PairCalibrationDisplay(
        np.array([0.2, 0.8]), np.array([0.25, 0.75]), np.array([3, 1]), None
    )
    assert disp.plot(name="mine", ref_line=False) is disp
    assert disp.line_.get_label() == "mine"
    assert len(disp.ax_.get_lines()) == 1
    sizes = disp.scatter_.get_sizes()
    assert sizes[0] > sizes[1]  # area grows with the count


class _NoVote:
    def get_params(self, deep=True):
        return {}

    def predict_proba(self, X):
        return np.full((len(X), 2), 0.5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"y_true": [0.2, 1.5], "y_prob": [0.1, 0.2]},
            ValueError,
            r"y_true must lie in \[0, 1\]",
        ),
        (
            {"y_true": [0.2, 0.5], "y_prob": [0.1]},
            ValueError,
            "y_prob has 1 entries, expected 2",
        ),
        ({"y_true": [], "y_prob": []}, ValueError, "y_true is empty"),
        (
            {"y_true": [0.2], "y_prob": [0.1], "n_bins": 0},
            ValueError,
            "n_bins must be an int >= 1",
        ),
        (
            {"y_true": [0.2], "y_prob": [0.1], "n_bins": 2.5},
            ValueError,
            "n_bins must be an int",
        ),
        (
            {"y_true": [0.2], "y_prob": [0.1], "strategy": "log"},
            ValueError,
            "strategy must be",
        ),
        (
            {"y_true": [0.2], "y_prob": [0.1], "sample_weight": [0]},
            ValueError,
            "all zero",
        ),
    ],
)
def test_pair_calibration_bad_predictions(kwargs, error, match):
    with pytest.raises(error, match=match):
        PairCalibrationDisplay.from_predictions(**kwargs)


def test_pair_calibration_bad_estimators(ensemble, data):
    X, y, _ = data
    with pytest.raises(ValueError, match="'vote' parameter; _NoVote has none"):
        PairCalibrationDisplay.from_estimator(_NoVote(), X, y, vote="soft")
    with pytest.raises(ValueError, match="vote must be None, 'hard' or 'soft'"):
        PairCalibrationDisplay.from_estimator(ensemble, X, y, vote="mixed")
    with pytest.raises(TypeError, match="needs an estimator with a predict_proba"):
        PairCalibrationDisplay.from_estimator(object(), X, y)
    # Without a vote parameter and vote=None, the estimator is used as it is.
    disp = PairCalibrationDisplay.from_estimator(_NoVote(), X, y)
    assert disp.estimator_name == "_NoVote"
    assert_array_equal(disp.counts, [len(y)])


# ---------------------------------------------------------- StagedErrorDisplay

Y = [0.8, 0.4, 0.6, 1.0]
STAGED = [[1.0, 0.0, 1.0, 1.0], [0.75, 0.5, 0.5, 1.0]]


def test_staged_golden_errors_and_floors():
    disp = StagedErrorDisplay.from_predictions(
        Y, STAGED, n_votes=[5, 5, 5, 5], baseline=("soft BT", 0.03)
    )
    assert_array_equal(disp.k, [1, 2])
    # The first stage is the majority vote: exactly at the single-reward floor.
    assert_allclose(disp.errors, [0.09, 0.005625])
    assert disp.floor == pytest.approx(0.09)
    assert disp.noise_floor == pytest.approx((0.16 + 0.24 + 0.24 + 0.0) / 4 / 4)
    assert (disp.baseline_label, disp.baseline_error) == ("soft BT", 0.03)
    assert disp.floor_line_.get_ydata()[0] == pytest.approx(disp.floor)
    assert disp.noise_floor_line_.get_ydata()[0] == pytest.approx(disp.noise_floor)
    assert disp.baseline_line_.get_label() == "soft BT = 0.0300"
    assert disp.baseline_line_.get_linestyle() == ":"
    assert "lower is better" in disp.ax_.get_ylabel()
    assert_allclose(disp.line_.get_ydata(), disp.errors)


def test_staged_floors_equal_the_metric_functions():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 6, size=50) / 5
    n_votes = rng.integers(1, 8, size=50)
    weight = rng.uniform(0.5, 2.0, size=50)
    staged = rng.uniform(size=(3, 50))
    disp = StagedErrorDisplay.from_predictions(
        y, staged, sample_weight=weight, n_votes=n_votes, k=[2, 4, 8]
    )
    assert disp.floor == single_reward_floor(y, sample_weight=weight)
    assert disp.noise_floor == noise_floor(y, n_votes, sample_weight=weight)
    expected = [calibration_error(y, p, sample_weight=weight) for p in staged]
    assert_allclose(disp.errors, expected)
    assert_array_equal(disp.k, [2, 4, 8])
    # Without n_votes there is no noise floor, and no line for it.
    plain = StagedErrorDisplay.from_predictions(y, staged)
    assert plain.noise_floor is None and plain.noise_floor_line_ is None
    assert plain.baseline_error is None and plain.baseline_line_ is None
    assert plain.errors_std is None and plain.band_ is None


def test_staged_from_estimator(ensemble, data):
    X, y, _ = data
    soft = copy.copy(ensemble).set_params(vote="soft")
    disp = StagedErrorDisplay.from_estimator(ensemble, X, y, baseline=soft)
    expected = [calibration_error(y, p) for p in ensemble.staged_predict_proba(X)]
    assert_allclose(disp.errors, expected)
    assert_array_equal(disp.k, np.arange(1, ensemble.n_estimators_ + 1))
    assert disp.baseline_error == pytest.approx(
        calibration_error(y, soft.predict_proba(X))
    )
    assert disp.baseline_label == "PairwiseCalibratedEnsemble (soft votes)"
    assert disp.estimator_name == "PairwiseCalibratedEnsemble (hard votes)"
    assert disp.floor == single_reward_floor(y)


def test_staged_several_estimators_on_one_axis_share_the_floors(ensemble, data):
    X, y, _ = data
    n_votes = np.full(len(y), 10)
    first = StagedErrorDisplay.from_estimator(ensemble, X, y, n_votes=n_votes, name="a")
    second = StagedErrorDisplay.from_predictions(
        y,
        list(ensemble.staged_predict_proba(X))[:3],
        n_votes=n_votes,
        ax=first.ax_,
        name="b",
    )
    ax = first.ax_
    curves = [line for line in ax.get_lines() if line.get_gid() != "reference"]
    references = [line for line in ax.get_lines() if line.get_gid() == "reference"]
    assert [line.get_label() for line in curves] == ["a", "b"]
    assert len(references) == 2  # one floor and one noise floor, not two of each
    assert second.floor_line_ is first.floor_line_
    # The legend lists the curves before the shared reference lines.
    texts = [text.get_text() for text in ax.get_legend().get_texts()]
    assert texts[:2] == ["a", "b"] and texts[2].startswith("single-reward floor = ")


def _fake_cv(**extra):
    params = [{"taste": t, "n_estimators": k} for t in (0.5, 1.0) for k in (3, 1, 2)]
    mean = -np.array([0.30, 0.10, 0.20, 0.35, 0.15, 0.25])
    std = np.array([0.03, 0.01, 0.02, 0.035, 0.015, 0.025])
    results = {"params": params, "mean_test_score": mean, "std_test_score": std}
    return SimpleNamespace(
        cv_results_=results,
        best_params_={"taste": 1.0, "n_estimators": 1},
        k_=1,
        **extra,
    )


def test_staged_from_cv_results_picks_the_chosen_grid_point():
    disp = StagedErrorDisplay.from_cv_results(_fake_cv(), Y, n_votes=[5, 5, 5, 5])
    assert_array_equal(disp.k, [1, 2, 3])
    assert_allclose(disp.errors, [0.15, 0.25, 0.35])
    assert_allclose(disp.errors_std, [0.015, 0.025, 0.035])
    assert disp.chosen_k == 1
    assert disp.floor == single_reward_floor(Y)
    assert disp.noise_floor == noise_floor(Y, [5, 5, 5, 5])
    assert disp.band_ is not None
    assert disp.estimator_name == "SimpleNamespace (CV mean)"
    no_y = StagedErrorDisplay.from_cv_results(_fake_cv(), name="cv")
    assert (
        no_y.floor is None and no_y.floor_line_ is None and no_y.estimator_name == "cv"
    )


def test_staged_from_cv_results_of_a_fitted_cv(data):
    X, y, _ = data
    cv = PairwiseCalibratedEnsembleCV(
        n_estimators=4, members="population", cv=3, random_state=0
    ).fit(X, y)
    disp = StagedErrorDisplay.from_cv_results(cv, y)
    assert_array_equal(disp.k, [1, 2, 3, 4])
    assert_allclose(disp.errors, -cv.cv_results_["mean_test_score"])
    assert_allclose(disp.errors_std, cv.cv_results_["std_test_score"])
    assert disp.chosen_k == cv.k_
    assert disp.errors[cv.k_ - 1] == pytest.approx(-cv.best_score_)


def test_staged_bad_inputs(ensemble, data):
    X, y, _ = data
    with pytest.raises(ValueError, match="staged_probas is empty"):
        StagedErrorDisplay.from_predictions(Y, [])
    with pytest.raises(
        ValueError, match=r"staged_probas\[1\] has 3 entries, expected 4"
    ):
        StagedErrorDisplay.from_predictions(Y, [[0.5] * 4, [0.5] * 3])
    with pytest.raises(ValueError, match="k has 3 entries for 2 stages"):
        StagedErrorDisplay.from_predictions(Y, STAGED, k=[1, 2, 3])
    with pytest.raises(
        ValueError, match="baseline must be None, a .label, error. pair"
    ):
        StagedErrorDisplay.from_predictions(Y, STAGED, baseline=("bt", -1.0))
    with pytest.raises(ValueError, match="from_estimator only"):
        StagedErrorDisplay.from_predictions(Y, STAGED, baseline=ensemble)
    with pytest.raises(ValueError, match="n_votes has 2 entries"):
        StagedErrorDisplay.from_predictions(Y, STAGED, n_votes=[5, 5])
    with pytest.raises(TypeError, match="staged_predict_proba"):
        StagedErrorDisplay.from_estimator(_NoVote(), X, y)
    with pytest.raises(ValueError, match="cv_results_ and best_params_"):
        StagedErrorDisplay.from_cv_results(ensemble)
    with pytest.raises(ValueError, match="is another score"):
        StagedErrorDisplay.from_cv_results(_fake_cv(scoring="accuracy"))
    with pytest.raises(ValueError, match="need y"):
        StagedErrorDisplay.from_cv_results(_fake_cv(), n_votes=[5, 5, 5, 5])
    # The calibration scorer is minus the calibration error: accepted.
    StagedErrorDisplay.from_cv_results(_fake_cv(scoring=calibration_scorer))


# ------------------------------------------------------ MemberAgreementDisplay


def test_member_agreement_golden_from_rewards():
    rewards = np.array([[1.0, 3.0, 1.0], [2.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    disp = MemberAgreementDisplay.from_rewards(rewards, [0.5, 0.3, 0.2])
    assert_allclose(disp.tau, [[1, -1, 1 / 3], [-1, 1, -1 / 3], [1 / 3, -1 / 3, 1]])
    assert_allclose(disp.weights, [0.5, 0.3, 0.2])
    assert_array_equal(disp.members, [0, 1, 2])
    assert_allclose(disp.im_.get_array(), disp.tau)
    assert_allclose([bar.get_height() for bar in disp.bars_], disp.weights)
    assert disp.colorbar_ is not None and disp.text_.shape == (3, 3)
    assert disp.text_[0, 1].get_text() == "-1.00"
    assert disp.im_.get_clim() == (-1.0, 1.0)


def test_member_agreement_from_estimator(ensemble, data):
    _, _, items = data
    disp = MemberAgreementDisplay.from_estimator(ensemble, items, include_values=False)
    assert_allclose(disp.tau, kendall_tau_matrix(ensemble.rewards(items)))
    assert_allclose(disp.weights, ensemble.estimator_weights_)
    assert disp.text_ is None


def test_member_agreement_shows_the_heaviest_members():
    rewards = np.random.default_rng(3).normal(size=(20, 5))
    weights = np.array([0.1, 0.3, 0.2, 0.3, 0.1])
    disp = MemberAgreementDisplay.from_rewards(rewards, weights, max_members=3)
    assert_array_equal(disp.members, [1, 2, 3])
    assert disp.n_members == 5
    assert_allclose(disp.tau, kendall_tau_matrix(rewards[:, [1, 2, 3]]))
    assert_allclose(disp.weights, [0.3, 0.2, 0.3])
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == ["1", "2", "3"]
    assert "3 of 5 members" in disp.weights_ax_.get_title()
    # Equal weights: the first ones.
    equal = MemberAgreementDisplay.from_rewards(rewards, max_members=2, colorbar=False)
    assert_array_equal(equal.members, [0, 1])
    assert_allclose(equal.weights, [0.2, 0.2])
    assert equal.colorbar_ is None


def test_member_agreement_constant_member_is_not_available():
    rewards = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    disp = MemberAgreementDisplay.from_rewards(rewards, [0.5, 0.5])
    assert np.isnan(disp.tau[0, 1])
    assert disp.text_[0, 1].get_text() == "n/a"


@pytest.mark.parametrize(
    "rewards, weights, max_members, match",
    [
        (np.ones(3), None, 16, "rewards must be 2-D"),
        (np.ones((3, 0)), None, 16, "at least one member"),
        (np.ones((3, 2)), [1.0], 16, r"weights must have shape \(2,\)"),
        (np.ones((3, 2)), [1.0, -1.0], 16, "Negative values in weights"),
        (np.ones((3, 2)), None, 0, "max_members must be an int >= 1"),
        (np.array([[1.0, np.nan]]), None, 16, "rewards must be finite"),
    ],
)
def test_member_agreement_bad_inputs(rewards, weights, max_members, match):
    with pytest.raises(ValueError, match=match):
        MemberAgreementDisplay.from_rewards(rewards, weights, max_members=max_members)


def test_member_agreement_bad_estimators():
    with pytest.raises(TypeError, match="with a rewards"):
        MemberAgreementDisplay.from_estimator(object(), np.ones((3, 2)))
    no_weights = SimpleNamespace(rewards=lambda items: np.ones((len(items), 2)))
    with pytest.raises(ValueError, match="no estimator_weights_; is it fitted"):
        MemberAgreementDisplay.from_estimator(no_weights, np.ones((3, 2)))
