"""scikit-learn's common checks plus the package's pair-aware checks."""

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    estimator_checks_generator,
    parametrize_with_checks,
)

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.utils.estimator_checks import yield_pair_checks

from ._helpers import EXPECTED_FAILED_CHECKS, check_name, run_common_check


def _estimators():
    return [PairwiseCalibratedEnsemble(n_estimators=2, random_state=0)]


# No expected_failed_checks: an xfail would absorb any failure. The checks
# listed in EXPECTED_FAILED_CHECKS (tests/_helpers.py, with why) must fail,
# and with the error recorded there; every other check must pass.
@parametrize_with_checks(_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    run_common_check(estimator, check, EXPECTED_FAILED_CHECKS)


def test_every_expected_failure_names_a_check_that_runs():
    # A renamed or removed check would otherwise leave a stale entry behind.
    names = {check_name(c) for _, c in estimator_checks_generator(_estimators()[0])}
    assert set(EXPECTED_FAILED_CHECKS) <= names


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_dataframe_column_names_consistency(estimator):
    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)


@pytest.mark.parametrize("check", list(yield_pair_checks()), ids=lambda c: c.__name__)
@pytest.mark.parametrize("vote", ["hard", "soft"])
def test_pair_checks(check, vote):
    check(PairwiseCalibratedEnsemble(n_estimators=2, vote=vote, random_state=0))
