"""Pair inputs: layouts, label encoding and validation, with row-level errors.

Every public entry point of the package turns its ``pairs`` argument into two
aligned item arrays here, so the accepted layouts and the error wording live in
one place:

* flat numeric ``(n_pairs, 2 * d)`` = ``[features of A | features of B]``;
* stacked numeric ``(n_pairs, 2, d)``;
* text triples ``(prompt, response_a, response_b)`` as an ``(n_pairs, 3)``
  array of strings or a DataFrame, for reward learners whose
  ``_pair_input`` is ``"text"``; their items are ``(prompt, response)`` rows.
"""

import numpy as np
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, column_or_1d

from ._compat import _num_samples, validate_data
from .rewards._base import _plain, check_pair_weights

TEXT_COLUMNS = ("prompt", "response_a", "response_b")


def validate_pairs(estimator, X, y=None, *, reset, pair_input="numeric"):
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
    pair_input : {"numeric", "text"}

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
    if pair_input == "text":
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
        _check_finite(X, "pairs")
        items_a, items_b = _split_flat(X)
    return (items_a, items_b, y) if with_y else (items_a, items_b)


def validate_items(estimator, items):
    """Validate items for ``rewards``: ``(n_items, d)`` numbers or text rows."""
    if getattr(estimator, "_pair_input", "numeric") == "text":
        items = _to_object_array(items)
        if items.ndim != 2 or items.shape[1] != 2:
            raise ValueError(
                "items must have shape (n_items, 2) holding (prompt, response) "
                f"rows, got shape {items.shape}."
            )
        _check_strings(items, "items", ("prompt", "response"))
        return items
    items = check_array(
        items,
        dtype=[np.float64, np.float32],
        ensure_all_finite=False,
        input_name="items",
    )
    _check_finite(items, "items")
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
                f"y has label {_plain(y[row])!r} at row {row}, which was not seen "
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
        f"y has a single class label {_plain(classes[0])!r}; soft labels need "
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


def pair_votes(rewards_a, rewards_b, vote):
    """Member votes from per-item rewards (columns are members).

    ``"hard"``: 1 when A's reward is higher, 0 when lower, 1/2 on a tie (the
    paper's definition). ``"soft"``: ``sigmoid(r(A) - r(B))``.
    """
    if vote == "soft":
        from scipy.special import expit

        return expit(rewards_a - rewards_b)
    return (rewards_a > rewards_b) + 0.5 * (rewards_a == rewards_b)


def _soft_labels(y):
    values = y.astype(np.float64)
    bad = (values < 0.0) | (values > 1.0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Unknown label type: 'continuous'. Soft labels (y) must lie in [0, 1] "
            "(share of annotators preferring A); "
            f"row {row} has {_plain(values[row])!r}."
        )
    return values


def _check_label_array(y):
    y = column_or_1d(y, warn=True)
    if y.dtype.kind in "biuf":
        bad = ~np.isfinite(y.astype(np.float64))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"y must be finite (no NaN or inf); row {row} has {_plain(y[row])!r}."
            )
    elif y.dtype.kind == "O":
        missing = np.array([v is None or v != v for v in y], dtype=bool)
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise ValueError(f"y has a missing label at row {row}.")
    return y


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


def _split_flat(X):
    width = X.shape[1]
    if width % 2:
        raise ValueError(
            f"Flat pairs need an even number of columns [A | B], got n_features="
            f"{width}. Pass (n_pairs, 2 * d) features or stacked (n_pairs, 2, d)."
        )
    d = width // 2
    return X[:, :d], X[:, d:]


def _check_finite(X, name):
    # Summing first is a cheap test that avoids a full boolean mask on the
    # common, clean path.
    if X.size and not np.isfinite(X.sum()):
        bad = ~np.isfinite(X.reshape(X.shape[0], -1))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"{name} contains NaN or inf: row {row}, column {col} has "
                f"{_plain(X.reshape(X.shape[0], -1)[row, col])!r}."
            )


def _select_text_columns(X):
    if hasattr(X, "columns") and set(TEXT_COLUMNS).issubset(X.columns):
        return X[list(TEXT_COLUMNS)]
    return X


def _to_object_array(X):
    if hasattr(X, "to_numpy"):
        X = X.to_numpy(dtype=object)
    return np.asarray(X, dtype=object)


def _split_text(X):
    X = _to_object_array(X)
    if X.ndim != 2 or X.shape[1] != 3:
        raise ValueError(
            "Text pairs must have 3 columns (prompt, response_a, response_b), got "
            f"shape {X.shape}."
        )
    _check_strings(X, "pairs", TEXT_COLUMNS)
    return X[:, [0, 1]], X[:, [0, 2]]


def _check_strings(X, name, columns):
    is_text = np.frompyfunc(lambda v: isinstance(v, str), 1, 1)(X).astype(bool)
    if not is_text.all():
        row, col = np.argwhere(~is_text)[0]
        raise ValueError(
            f"{name} must hold strings; row {row}, column {columns[col]!r} has "
            f"{_plain(X[row, col])!r}."
        )
