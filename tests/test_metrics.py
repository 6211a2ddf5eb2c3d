"""Metrics: golden values and argument checks."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from pcr_sklearn._compat import InvalidParameterError
from pcr_sklearn.metrics import (
    calibration_error,
    disagreement_scores,
    kendall_tau_matrix,
    regret,
    single_reward_floor,
)


def test_calibration_error_golden_and_weights():
    assert calibration_error([0.8, 0.4], [1.0, 0.5]) == pytest.approx(0.025)
    assert calibration_error([0.8, 0.4], [1.0, 0.5], sample_weight=[3, 1]) == (
        pytest.approx((3 * 0.04 + 0.01) / 4)
    )
    proba = np.array([[0.0, 1.0], [0.5, 0.5]])
    assert calibration_error([0.8, 0.4], proba) == pytest.approx(0.025)


def test_floor_golden():
    assert single_reward_floor([0.5, 0.5]) == pytest.approx(0.25)
    assert single_reward_floor([0.0, 1.0, 0.9]) == pytest.approx(0.01 / 3)


def test_regret_golden():
    # Sampling policy on p = 0.8: serves 0.8*0.8 + 0.2*0.2 = 0.68, best 0.8.
    assert regret([0.8], [0.8]) == pytest.approx(0.12)
    assert regret([0.8], [0.8], policy="majority") == pytest.approx(0.0)
    assert regret([0.8], [0.3], policy="majority") == pytest.approx(0.6)
    assert regret([0.8], [0.5], policy="majority") == pytest.approx(0.3)
    with pytest.raises(ValueError, match="'policy' parameter of regret must be"):
        regret([0.5], [0.5], policy="best")


def test_kendall_tau_matrix():
    r = np.array([[1.0, 3.0, 1.0], [2.0, 2.0, 1.0], [3.0, 1.0, 1.0]])
    tau = kendall_tau_matrix(r)
    assert_allclose(tau[:2, :2], [[1, -1], [-1, 1]])
    assert np.isnan(tau[0, 2]) and tau[2, 2] == 1
    with pytest.raises(ValueError, match="must be 2-D"):
        kendall_tau_matrix(np.ones(3))
    with pytest.raises(ValueError, match="row 1 is not"):
        kendall_tau_matrix(np.array([[1.0, 2.0], [np.nan, 1.0]]))


def test_disagreement_scores():
    votes = np.array([[1, 0], [1, 1], [0, 0.5]])
    assert_allclose(disagreement_scores(votes, [1.0, 0.5, 0.0]), [0.5 / 3, 2 / 3])
    with pytest.raises(ValueError, match="n_pairs=2"):
        disagreement_scores(votes, [1.0, 0.5])


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: calibration_error([0.5, 1.2], [0.5, 0.5]),
            r"y_true must lie in \[0, 1\]; row 1",
        ),
        (lambda: calibration_error([0.5], [np.nan]), "y_prob must lie.*row 0"),
        (
            lambda: calibration_error([0.5, 0.5], [0.5]),
            "y_prob has 1 entries, expected 2",
        ),
        (lambda: calibration_error([], []), "y_true is empty"),
        (lambda: calibration_error([0.5], [0.5], sample_weight=[0]), "all zero"),
        (lambda: single_reward_floor([[0.5, 0.2, 0.1]]), "must be 1-D"),
    ],
)
def test_metric_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: calibration_error(0.5, [0.5]),
            "The 'y_true' parameter of calibration_error must be an array-like",
        ),
        (lambda: calibration_error([0.5], "p"), "'y_prob' parameter"),
        (lambda: calibration_error([0.5], [0.5], sample_weight="w"), "'sample_weight'"),
        (
            lambda: single_reward_floor(None),
            "'y_true' parameter of single_reward_floor",
        ),
        (
            lambda: regret([0.5], [0.5], policy="Sample"),
            r"'policy' parameter of regret must be a str among "
            r"\{'(sample|majority)', '(sample|majority)'\}",
        ),
        (lambda: kendall_tau_matrix(3.0), "'rewards' parameter of kendall_tau_matrix"),
        (lambda: disagreement_scores([[1]], 1.0), "'y_true' parameter of disagreement"),
    ],
)
def test_invalid_parameters_name_the_parameter(call, message):
    with pytest.raises(InvalidParameterError, match=message):
        call()


def test_scalar_sample_weight_is_broadcast():
    assert calibration_error([0.8, 0.4], [1.0, 0.5], sample_weight=3.0) == (
        pytest.approx(0.025)
    )
    assert single_reward_floor([0.5, 0.5], sample_weight=2) == pytest.approx(0.25)
