"""Pair inputs: layouts, label encoding and validation, with row-level errors.

Every public entry point of the package turns its ``pairs`` argument into two
aligned item arrays here, so the accepted layouts and the error wording live in
one place:

* flat numeric ``(n_pairs, 2 * d)`` = ``[features of A | features of B]``;
* stacked numeric ``(n_pairs, 2, d)``;
* text triples ``(prompt, response_a, response_b)`` as an ``(n_pairs, 3)``
  array of strings or a DataFrame, for reward learners whose
  text items (:func:`pcr_sklearn.rewards.get_reward_tags`); their items are
  ``(prompt, response)`` rows.
"""

import numbers

import numpy as np
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, column_or_1d

from ._compat import _num_samples, validate_data
from .utils.validation import (
    TEXT_COLUMNS,
    TEXT_ITEM_COLUMNS,
    check_finite,
    check_pair_weights,
    check_text_items,
    plain,
    split_pairs,
)


def validate_pairs(estimator, X, y=None, *, reset, text=False):
    """Validate pairs (and labels) at a public boundary.

    Parameters
    ----------
    estimator : estimator instance
        Receives ``n_features_in_`` (flat width, or 3 for text) and
        ``feature_names_in_`` on ``reset=True``; checked against them otherwise.
    X : array-like or DataFrame
        Pairs in any layout of the module docstring.
    y : array-like, default=None
        Labels to validate alongside (``"no_validation"`` skips them: the
        convention of :func:`sklearn.utils.validation.validate_data`).
    reset : bool
    text : bool, default=False
        Whether the pairs are text triples (the members take text items).

    Returns
    -------
    items_a, items_b : ndarray
        Aligned items of the two sides.
    y : ndarray
        Only when ``y`` is not ``"no_validation"``.
    """
    with_y = not (isinstance(y, str) and y == "no_validation")
    if with_y and y is not None:
        y = _check_label_array(y)
        n_rows = _num_samples(X)
        if n_rows != y.shape[0]:
            raise ValueError(
                f"pairs has {n_rows} rows but y has {y.shape[0]} labels; they must "
                "match."
            )
    if text:
        X = _select_text_columns(X)
        out = validate_data(
            estimator,
            X,
            y,
            reset=reset,
            dtype=None,
            ensure_all_finite=False,
            ensure_min_features=3,
        )
        X, y = out if with_y else (out, None)
        items_a, items_b = _split_text(X)
    else:
        X = _flatten_stacked(X)
        out = validate_data(
            estimator,
            X,
            y,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
        )
        X, y = out if with_y else (out, None)
        check_finite(X, "pairs")
        items_a, items_b = split_pairs(X)
    return (items_a, items_b, y) if with_y else (items_a, items_b)


def validate_items(estimator, items, *, text=False):
    """Validate items for ``rewards``: ``(n_items, d)`` numbers or text rows."""
    if text:
        return check_text_items(items, "items", TEXT_ITEM_COLUMNS)
    items = check_array(
        items,
        dtype=[np.float64, np.float32],
        ensure_all_finite=False,
        input_name="items",
    )
    check_finite(items, "items")
    expected = estimator.n_features_in_ // 2
    if items.shape[1] != expected:
        raise ValueError(
            f"items have {items.shape[1]} features, but the ensemble was fitted on "
            f"items with {expected} features (pairs of width {2 * expected})."
        )
    return items


def encode_labels(y, classes=None):
    """Soft labels ``P(A preferred)`` from ``y``; also return the classes.

    Numbers in [0, 1] are soft labels (0/1 included). Any other pair of label
    values (strings, {-1, 1}) maps to ``classes = [B-wins, A-wins]`` in sorted
    order, so scikit-learn's classifier machinery works. When ``classes`` is
    given (scoring a fitted model), labels are encoded with those classes.
    """
    y = _check_label_array(y)
    numeric = y.dtype.kind in "biuf"
    if classes is not None:
        fitted_soft = classes.dtype.kind in "biuf" and np.array_equal(classes, [0, 1])
        if fitted_soft and numeric:
            return _soft_labels(y), classes
        unknown = ~np.isin(y, classes)
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            raise ValueError(
                f"y has label {plain(y[row])!r} at row {row}, which was not seen "
                f"in fit (classes_ = {classes.tolist()})."
            )
        return (y == classes[1]).astype(np.float64), classes
    if numeric:
        values = y.astype(np.float64)
        if np.all((values >= 0.0) & (values <= 1.0)):
            return values, np.array([0, 1], dtype=y.dtype)
    classes = np.unique(y)
    if classes.shape[0] == 2:
        return (y == classes[1]).astype(np.float64), classes
    # (scikit-learn casts floats to int64 to spot integers: labels beyond
    # int64 are not, and are reported below as soft labels out of [0, 1].)
    with np.errstate(invalid="ignore", over="ignore"):
        target_type = type_of_target(y, input_name="y")
    if classes.shape[0] > 2 and target_type == "multiclass":
        raise ValueError(
            "Only binary classification is supported. The type of the target is "
            f"multiclass ({classes.shape[0]} label values); y must hold soft labels "
            "in [0, 1] (share of annotators preferring A) or two label values."
        )
    if numeric:
        return _soft_labels(y), None  # raises with the first offending row
    raise ValueError(
        f"y has a single class label {plain(classes[0])!r}; soft labels need "
        "numbers in [0, 1] or two label values (B wins, A wins)."
    )


def check_sample_weight(sample_weight, n):
    """Pair weights: finite, non-negative, not all zero; errors name the row."""
    if sample_weight is not None and not np.isscalar(sample_weight):
        sample_weight = np.asarray(sample_weight)
        if sample_weight.ndim != 1:
            raise ValueError(
                f"sample_weight must be 1-D, got shape {sample_weight.shape}."
            )
    return check_pair_weights(sample_weight, n, "sample_weight", allow_all_zero=False)


def _soft_labels(y):
    values = y.astype(np.float64)
    bad = (values < 0.0) | (values > 1.0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Unknown label type: 'continuous'. Soft labels (y) must lie in [0, 1] "
            "(share of annotators preferring A); "
            f"row {row} has {plain(values[row])!r}."
        )
    return values


def _check_label_array(y):
    y = column_or_1d(y, warn=True)
    if y.dtype.kind in "biuf":
        bad = ~np.isfinite(y.astype(np.float64))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"y must be finite (no NaN or inf); row {row} has {plain(y[row])!r}."
            )
    elif y.dtype.kind == "O":
        missing = np.array([v is None or v != v for v in y], dtype=bool)
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise ValueError(f"y has a missing label at row {row}.")
        _check_one_label_type(y)
    return y


def _label_kind(value):
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, numbers.Real):
        return "number"
    return type(value).__name__


def _check_one_label_type(y):
    """Object labels must be comparable (sorted into classes): one kind only."""
    if not y.shape[0]:
        return
    first = _label_kind(y[0])
    for row, value in enumerate(y):
        kind = _label_kind(value)
        if kind != first:
            raise ValueError(
                f"y mixes label types: row 0 has {plain(y[0])!r} ({first}) but row "
                f"{row} has {plain(value)!r} ({kind}); labels must be all numbers "
                "or all strings."
            )


def _flatten_stacked(X):
    """Stacked ``(n, 2, d)`` pairs become flat ``(n, 2 * d)``; others pass."""
    if hasattr(X, "iloc"):
        return X
    if not hasattr(X, "ndim"):
        # Lists, and array-likes such as sklearn's _NotAnArray, become arrays
        # here; check_array would convert them anyway.
        X = np.asarray(X)
    if X.ndim != 3:
        return X
    X = check_array(
        X,
        allow_nd=True,
        dtype=[np.float64, np.float32],
        ensure_all_finite=False,
        input_name="pairs",
    )
    if X.shape[1] != 2:
        raise ValueError(
            f"Stacked pairs must have shape (n_pairs, 2, d), got {X.shape}: axis 1 "
            "holds the two items A and B."
        )
    return X.reshape(X.shape[0], -1)


def _select_text_columns(X):
    if hasattr(X, "columns") and set(TEXT_COLUMNS).issubset(X.columns):
        return X[list(TEXT_COLUMNS)]
    return X


def _split_text(X):
    X = check_text_items(X, "pairs", TEXT_COLUMNS)
    return X[:, [0, 1]], X[:, [0, 2]]
