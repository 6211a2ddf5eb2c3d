"""Bad input gets a clear ValueError naming the argument and the first bad row."""

import warnings

import numpy as np
import pytest

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.rewards import LinearReward


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 6))
    y = (X[:, 0] > X[:, 3]).astype(float) * 0.8 + 0.1
    return X, y


def fitted(X, y):
    return PairwiseCalibratedEnsemble(n_estimators=2, random_state=0).fit(X, y)


@pytest.mark.parametrize(
    "bad, match",
    [
        (1.5, r"Soft labels \(y\) must lie in \[0, 1\].*row 4 has 1.5"),
        (np.nan, "y must be finite.*row 4"),
        (np.inf, "y must be finite.*row 4"),
    ],
)
def test_labels(data, bad, match):
    X, y = data
    y = y.copy()
    y[4] = bad
    with pytest.raises(ValueError, match=match):
        fitted(X, y)


def test_multiclass_and_single_string_label(data):
    X, _ = data
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        fitted(X, np.arange(30) % 3)
    with pytest.raises(ValueError, match="single class label 'a'"):
        fitted(X, np.array(["a"] * 30))
    y = np.array(["a", "b"] * 15, dtype=object)
    y[7] = None
    with pytest.raises(ValueError, match="missing label at row 7"):
        fitted(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_in_pairs(data, bad):
    X, y = data
    X = X.copy()
    X[6, 2] = bad
    with pytest.raises(ValueError, match="pairs contains NaN or inf: row 6, column 2"):
        fitted(X, y)
    with pytest.raises(ValueError, match="row 6"):
        fitted(data[0], y).predict_proba(X)


def test_odd_flat_width_and_bad_stacked_shape(data):
    X, y = data
    with pytest.raises(ValueError, match="even number of columns.*n_features=5"):
        fitted(X[:, :5], y)
    with pytest.raises(ValueError, match=r"shape \(n_pairs, 2, d\), got \(30, 3, 2\)"):
        fitted(X.reshape(30, 3, 2), y)
    with pytest.raises(ValueError, match="Found array with dim 4"):
        fitted(X.reshape(30, 2, 3, 1), y)


def test_mismatched_lengths(data):
    X, y = data
    with pytest.raises(ValueError, match="pairs has 30 rows but y has 29 labels"):
        fitted(X, y[:29])
    with pytest.raises(
        ValueError, match="sample_weight has 29 entries but there are 30"
    ):
        PairwiseCalibratedEnsemble().fit(X, y, sample_weight=np.ones(29))
    est = fitted(X, y)
    with pytest.raises(ValueError, match="y has 29 entries but X has 30 pairs"):
        est.score(X, y[:29])


@pytest.mark.parametrize(
    "weights, match",
    [
        (-1.0, "Negative values in sample_weight are not allowed; row 3"),
        (np.nan, "sample_weight must be finite; row 3"),
    ],
)
def test_bad_sample_weights(data, weights, match):
    X, y = data
    sw = np.ones(30)
    sw[3] = weights
    with pytest.raises(ValueError, match=match):
        PairwiseCalibratedEnsemble().fit(X, y, sample_weight=sw)


def test_all_zero_and_2d_sample_weights(data):
    X, y = data
    with pytest.raises(ValueError, match="sample_weight is all zero"):
        PairwiseCalibratedEnsemble().fit(X, y, sample_weight=np.zeros(30))
    with pytest.raises(ValueError, match="sample_weight must be 1-D"):
        PairwiseCalibratedEnsemble().fit(X, y, sample_weight=np.ones((30, 1)))


def test_empty_input(data):
    X, y = data
    with pytest.raises(ValueError, match="0 sample"):
        fitted(X[:0], y[:0])


def test_different_feature_width_at_predict(data):
    X, y = data
    est = fitted(X, y)
    with pytest.raises(
        ValueError,
        match="X has 4 features, but PairwiseCalibratedEnsemble is expecting 6",
    ):
        est.predict_proba(X[:, :4])
    with pytest.raises(
        ValueError,
        match="items have 2 features, but the ensemble was fitted on items with 3",
    ):
        est.rewards(X[:, :2])
    with pytest.raises(ValueError, match="items contains NaN or inf: row 1"):
        est.rewards(np.array([[0.0, 1, 2], [np.nan, 0, 0]]))


def test_unseen_label_at_score(data):
    X, y = data
    words = np.where(y > 0.5, "A", "B")
    est = PairwiseCalibratedEnsemble(n_estimators=1).fit(X, words)
    with pytest.raises(
        ValueError, match="label 'C' at row 0, which was not seen in fit"
    ):
        est.score(X, np.array(["C"] + ["A"] * 29))


def test_parameter_errors(data):
    X, y = data
    with pytest.raises(ValueError, match="'objective' parameter"):
        PairwiseCalibratedEnsemble(objective="nope").fit(X, y)
    with pytest.raises(ValueError, match="'n_estimators' parameter"):
        PairwiseCalibratedEnsemble(n_estimators=0).fit(X, y)
    with pytest.raises(ValueError, match="classes must hold exactly two"):
        PairwiseCalibratedEnsemble().partial_fit(X, y, classes=[0, 1, 2])


def test_reward_learner_protocol_errors():
    reward = LinearReward()
    a = np.zeros((4, 2))
    with pytest.raises(ValueError, match="loss must be one of"):
        reward.fit(a, a, np.zeros(4), loss="hinge")
    with pytest.raises(
        ValueError, match=r"target must lie in \[0, 1\] for loss='log'; row 2"
    ):
        reward.fit(a, a, np.array([0, 0, -0.5, 0]))
    with pytest.raises(ValueError, match="same shape"):
        reward.fit(a, np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="target has 3 entries but there are 4"):
        reward.fit(a, a, np.zeros(3))


def test_non_numeric_sample_weights_name_sample_weight_and_row(data):
    # Measured before: NumPy's "could not convert string to float: 'w'".
    X, y = data
    for weights, shown in [(np.array(["1"] * 29 + ["w"]), "'w'"), (["a"] * 30, "'a'")]:
        with pytest.raises(
            ValueError, match=f"sample_weight must hold numbers; row (29|0) has {shown}"
        ):
            PairwiseCalibratedEnsemble().fit(X, y, sample_weight=weights)


def test_labels_mixing_strings_and_numbers_name_y_and_rows(data):
    # Measured before: NumPy's TypeError "'<' not supported between
    # instances of 'int' and 'str'" from sorting the classes.
    X, _ = data
    y = np.array(["a", "b"] * 15, dtype=object)
    y[4] = 1
    with pytest.raises(
        ValueError, match="y mixes label types: row 0 has 'a' .* row 4 has 1"
    ):
        fitted(X, y)
    est = fitted(X, np.array(["a", "b"] * 15, dtype=object))
    with pytest.raises(ValueError, match="y mixes label types"):
        est.score(X, y)


def test_labels_beyond_int64_are_out_of_range_soft_labels(data):
    # Measured before: scikit-learn's int64 cast warned (invalid value).
    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*row 0 has 9.2"):
            fitted(X[:1], np.array([9.22337204e18]))


@pytest.mark.parametrize("n_labels", [29, 31])
def test_cv_checks_the_number_of_labels_up_front(data, n_labels):
    # Measured before: an IndexError from a fold fit.
    from sklearn.model_selection import KFold

    from pcr_sklearn import PairwiseCalibratedEnsembleCV

    X, y = data
    cv = PairwiseCalibratedEnsembleCV(n_estimators=2, cv=KFold(2), random_state=0)
    with pytest.raises(ValueError, match=f"pairs has 30 rows but y has {n_labels}"):
        cv.fit(X, np.resize(y, n_labels))
    with pytest.raises(ValueError, match="y must hold one label per pair, got 0.5"):
        cv.fit(X, 0.5)
