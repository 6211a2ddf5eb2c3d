"""Estimator checks: pair-aware ensemble checks and the reward-learner suite.

:func:`check_reward_learner` checks that a reward learner follows the protocol
of :mod:`pcr_sklearn.rewards._base`; run it on your own learner before using it
as a member.

Pair-aware ensemble checks:

scikit-learn's common checks feed matrices with 3 or 5 columns to some checks;
a flat pair row ``[A | B]`` needs an even width, so those checks cannot pass
(see ``tests/test_common.py``). The checks here re-test the same properties on
even-width flat pairs and on stacked ``(n, 2, d)`` pairs, in the spirit of
imbalanced-learn's second layer of checks.

Use :func:`yield_pair_checks` with pytest::

    @pytest.mark.parametrize("check", yield_pair_checks(), ids=lambda c: c.__name__)
    def test_pair_checks(check):
        check(PairwiseCalibratedEnsemble(n_estimators=2, random_state=0))
"""

from __future__ import annotations

import pickle
import warnings
from typing import TYPE_CHECKING

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from ._reward_checks import (
    RewardLearnerCheckError,
    check_reward_learner,
    make_comparisons,
    yield_reward_learner_checks,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from numpy.typing import NDArray


def make_pairs(
    n_pairs: int = 60, n_features: int = 3, *, random_state: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Flat pairs with soft labels from a 2-reward mixture, for the checks.

    60% of the annotators prefer the item with the larger first feature, 40%
    the one with the larger last feature.

    Parameters
    ----------
    n_pairs : int, default=60
        Number of pairs.
    n_features : int, default=3
        Features per item (the flat rows have twice as many).
    random_state : int, default=0
        Seed of the features.

    Returns
    -------
    X : ndarray of shape (n_pairs, 2 * n_features)
        Flat pairs ``[A | B]``.
    y : ndarray of shape (n_pairs,)
        Soft labels in {0, 0.4, 0.6, 1}.

    Examples
    --------
    >>> from pcr_sklearn.utils.estimator_checks import make_pairs
    >>> X, y = make_pairs(5)
    >>> X.shape, set(y.tolist()) <= {0.0, 0.4, 0.6, 1.0}
    ((5, 6), True)
    """
    rng = np.random.RandomState(random_state)
    a = rng.normal(size=(n_pairs, n_features))
    b = rng.normal(size=(n_pairs, n_features))
    y = 0.6 * (a[:, 0] > b[:, 0]) + 0.4 * (a[:, -1] > b[:, -1])
    return np.hstack([a, b]), y


def check_fit_score_takes_y(estimator):
    X, y = make_pairs()
    est = clone(estimator).fit(X, y)
    assert np.isfinite(est.score(X, y))
    if hasattr(estimator, "partial_fit"):
        est = clone(estimator).partial_fit(X, y)
        assert np.isfinite(est.score(X, y))


def check_dont_overwrite_parameters(estimator):
    X, y = make_pairs()
    est = clone(estimator)
    before = dict(est.__dict__)
    est.fit(X, y)
    added = {k for k in est.__dict__ if k not in before}
    public = [k for k in added if not k.startswith("_") and not k.endswith("_")]
    assert not public, f"fit added public non-fitted attributes {public}"
    for key, value in before.items():
        assert est.__dict__[key] is value, f"fit changed parameter {key}"


def check_estimators_dtypes(estimator):
    X, y = make_pairs()
    for dtype in (np.float32, np.float64, np.int32, np.int64):
        Xd = (X * 3).astype(dtype)
        est = clone(estimator).fit(Xd, y)
        est.predict(Xd)
        est.predict_proba(Xd)


def check_sample_weights_list(estimator):
    X, y = make_pairs()
    weights = list(np.ones(len(y)))
    clone(estimator).fit(X, y, sample_weight=weights)


def check_pipeline_consistency(estimator):
    X, y = make_pairs()
    est = clone(estimator).fit(X, y)
    pipe = make_pipeline(FunctionTransformer(), clone(estimator)).fit(X, y)
    assert_allclose(est.predict_proba(X), pipe.predict_proba(X))
    assert_allclose(est.score(X, y), pipe.score(X, y))


def check_estimators_nan_inf(estimator):
    X, y = make_pairs()
    est = clone(estimator).fit(X, y)
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[3, 1] = bad
        for call, args in ((clone(estimator).fit, (Xb, y)), (est.predict, (Xb,))):
            try:
                call(*args)
            except ValueError as exc:
                assert "row 3" in str(exc), str(exc)
            else:
                raise AssertionError(f"{bad} in the pairs did not raise")


def check_estimators_pickle(estimator, readonly_memmap=False):
    X, y = make_pairs()
    est = clone(estimator).fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    if readonly_memmap:
        X = X.copy()
        X.setflags(write=False)
    for method in ("predict", "predict_proba", "score"):
        args = (X, y) if method == "score" else (X,)
        assert_allclose(getattr(est, method)(*args), getattr(loaded, method)(*args))


def check_f_contiguous_array_estimator(estimator):
    X, y = make_pairs()
    est = clone(estimator).fit(np.asfortranarray(X), y)
    assert_allclose(est.predict_proba(np.asfortranarray(X)), est.predict_proba(X))


def check_classifiers_one_label(estimator):
    # A reward can prefer A on every pair only if the pairs allow it (the
    # decision is antisymmetric), so A gets the larger first feature here.
    X, y = make_pairs()
    d = X.shape[1] // 2
    X[:, 0] = X[:, d] + np.abs(X[:, 0]) + 0.1
    ones = np.ones(len(y))
    est = clone(estimator).fit(X, ones)
    assert_array_equal(est.predict(X), ones)


def check_supervised_y_2d(estimator):
    X, y = make_pairs()
    est = clone(estimator).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est_2d = clone(estimator).fit(X, y[:, None])
    assert any("column-vector" in str(w.message) for w in caught)
    assert_allclose(est.predict_proba(X), est_2d.predict_proba(X))


def check_methods_sample_order_invariance(estimator):
    X, y = make_pairs()
    est = clone(estimator).fit(X, y)
    order = np.random.RandomState(1).permutation(len(y))
    assert_allclose(est.predict_proba(X)[order], est.predict_proba(X[order]))
    assert_array_equal(est.predict(X)[order], est.predict(X[order]))


def check_methods_subset_invariance(estimator):
    X, y = make_pairs()
    est = clone(estimator).fit(X, y)
    full = est.predict_proba(X)
    for batch in np.array_split(np.arange(len(y)), 4):
        assert_allclose(full[batch], est.predict_proba(X[batch]))


def check_dict_unchanged(estimator):
    X, y = make_pairs()
    est = clone(estimator).fit(X, y)
    before = {
        k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()
    }
    for method in ("predict", "predict_proba", "score"):
        getattr(est, method)(*((X, y) if method == "score" else (X,)))
        for key, value in vars(est).items():
            if isinstance(value, np.ndarray):
                assert_array_equal(
                    value, before[key], err_msg=f"{method} changed {key}"
                )
            else:
                assert value is before[key], f"{method} changed {key}"


def check_fit2d_predict1d(estimator):
    X, y = make_pairs()
    est = clone(estimator).fit(X, y)
    for method in ("predict", "predict_proba"):
        try:
            getattr(est, method)(X[0])
        except ValueError as exc:
            assert "2D array" in str(exc) or "Reshape" in str(exc), str(exc)
        else:
            raise AssertionError(f"{method} accepted a 1-D pair row")


def check_stacked_equals_flat(estimator):
    X, y = make_pairs()
    stacked = X.reshape(len(y), 2, -1)
    flat = clone(estimator).fit(X, y)
    stack = clone(estimator).fit(stacked, y)
    assert_allclose(flat.predict_proba(X), stack.predict_proba(stacked))
    assert_allclose(flat.predict_proba(stacked), flat.predict_proba(X))
    assert_allclose(flat.estimator_weights_, stack.estimator_weights_)


def check_swap_flips_probabilities(estimator):
    X, y = make_pairs()
    d = X.shape[1] // 2
    swapped = np.hstack([X[:, d:], X[:, :d]])
    est = clone(estimator).fit(X, y)
    assert_allclose(est.predict_proba(swapped), est.predict_proba(X)[:, ::-1])


_PAIR_CHECKS = (
    check_fit_score_takes_y,
    check_dont_overwrite_parameters,
    check_estimators_dtypes,
    check_sample_weights_list,
    check_pipeline_consistency,
    check_estimators_nan_inf,
    check_estimators_pickle,
    check_f_contiguous_array_estimator,
    check_classifiers_one_label,
    check_supervised_y_2d,
    check_methods_sample_order_invariance,
    check_methods_subset_invariance,
    check_dict_unchanged,
    check_fit2d_predict1d,
    check_stacked_equals_flat,
    check_swap_flips_probabilities,
)


def yield_pair_checks() -> Iterator[Callable[..., None]]:
    """Yield the pair-aware checks; each takes an unfitted estimator.

    They re-test the properties of scikit-learn's common checks that feed
    odd-width matrices, on even-width flat pairs and stacked pairs.

    Yields
    ------
    check : callable
        ``check(estimator)``; raises an ``AssertionError`` when its property
        does not hold.

    See Also
    --------
    check_reward_learner : The checks of a reward learner.

    Examples
    --------
    >>> from pcr_sklearn import PairwiseCalibratedEnsemble
    >>> from pcr_sklearn.utils.estimator_checks import yield_pair_checks
    >>> estimator = PairwiseCalibratedEnsemble(n_estimators=2, random_state=0)
    >>> for check in yield_pair_checks():
    ...     check(estimator)
    """
    yield from _PAIR_CHECKS


__all__ = [
    "RewardLearnerCheckError",
    "check_reward_learner",
    "make_comparisons",
    "make_pairs",
    "yield_pair_checks",
    "yield_reward_learner_checks",
]
