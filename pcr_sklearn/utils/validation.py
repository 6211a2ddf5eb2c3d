"""The bottom layer: the pair contract's validators, vote rule and vocabulary.

Everything here is plain NumPy and knows nothing about reward learners or
ensembles, so every other module of the package (metrics, datasets, recovery,
reward learners, estimators) can use it without pulling in a higher layer
(see ``docs/architecture.md``). Error messages name the argument and the first
offending row, so a user can find the bad value in their data.
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from numpy.typing import ArrayLike, NDArray

#: Column names of a text pair: the prompt and the two responses.
TEXT_COLUMNS = ("prompt", "response_a", "response_b")
#: Column names of a text item: a prompt and one response to it.
TEXT_ITEM_COLUMNS = ("prompt", "response")
#: Accepted values of the ``vote`` parameters.
VOTES = ("hard", "soft")


def plain(value: object) -> object:
    """NumPy scalars as Python ones, so messages read ``1.5``, not ``np.float64(1.5)``.

    Parameters
    ----------
    value : object
        Any value; NumPy scalars are converted with ``.item()``.

    Returns
    -------
    value : object
        The value, as a Python scalar when it was a NumPy one.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.utils.validation import plain
    >>> plain(np.float64(1.5))
    1.5
    """
    return value.item() if isinstance(value, np.generic) else value


def hard_votes(rewards_a: ArrayLike, rewards_b: ArrayLike) -> NDArray[np.float64]:
    """The paper's vote rule: 1 if ``r(A) > r(B)``, 0 if lower, 1/2 on a tie.

    This is the one place the rule is written; every hard vote in the package
    (ensemble predictions, recovery reports, synthetic ground truth) comes
    from here.

    Parameters
    ----------
    rewards_a, rewards_b : array-like of the same shape
        Rewards of the A and B items (one column per reward when 2-D).

    Returns
    -------
    votes : ndarray of that shape, float64
        1.0 where A's reward is higher, 0.0 where lower, 0.5 where equal.

    Examples
    --------
    >>> from pcr_sklearn.utils.validation import hard_votes
    >>> hard_votes([2.0, 1.0, 0.0], [1.0, 1.0, 3.0])
    array([1. , 0.5, 0. ])
    """
    a = np.asarray(rewards_a, dtype=np.float64)
    b = np.asarray(rewards_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"rewards_a and rewards_b must have the same shape, got {a.shape} and "
            f"{b.shape}."
        )
    return (a > b) + 0.5 * (a == b)


def sigmoid_pair(x: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(sigmoid(x), sigmoid(-x))``, each to full relative precision.

    Both come from one ``e = exp(-|x|)`` (which never overflows): the larger
    is ``1 / (1 + e)``, the smaller ``e / (1 + e)``, so a vote near zero keeps
    its relative precision (``1 - sigmoid(x)`` would not), and swapping
    ``x`` for ``-x`` swaps the two results exactly. NumPy's vectorised
    ``exp`` makes this several times faster than two calls to SciPy's
    ``expit``, which it matches to a few units in the last place.

    Parameters
    ----------
    x : array-like
        Reward differences ``r(A) - r(B)``.

    Returns
    -------
    sigmoid_x, sigmoid_minus_x : ndarray, float64
        ``sigmoid(x)`` and ``sigmoid(-x)``, of ``x``'s shape; they sum to one.

    Examples
    --------
    >>> from pcr_sklearn.utils.validation import sigmoid_pair
    >>> [v.round(3).tolist() for v in sigmoid_pair([0.0, 2.0])]
    [[0.5, 0.881], [0.5, 0.119]]
    """
    x = np.asarray(x, dtype=np.float64)
    small = np.negative(np.abs(x))
    np.exp(small, out=small)
    large = np.add(small, 1.0)
    np.divide(1.0, large, out=large)
    np.multiply(small, large, out=small)
    positive = x >= 0
    return np.where(positive, large, small), np.where(positive, small, large)


def pair_votes(
    rewards_a: ArrayLike,
    rewards_b: ArrayLike,
    vote: Literal["hard", "soft"] = "hard",
) -> NDArray[np.float64]:
    """Member votes for A from per-item rewards (columns are members).

    Parameters
    ----------
    rewards_a, rewards_b : ndarray of the same shape
        Rewards of the A and B items.
    vote : {"hard", "soft"}, default="hard"
        ``"hard"``: :func:`hard_votes`. ``"soft"``: ``sigmoid(r(A) - r(B))``,
        the Bradley-Terry probability.

    Returns
    -------
    votes : ndarray of that shape, float64
        Each member's vote for A, in [0, 1].

    Examples
    --------
    >>> from pcr_sklearn.utils.validation import pair_votes
    >>> pair_votes([0.0, 2.0], [0.0, 1.0], "soft").round(3)
    array([0.5  , 0.731])
    """
    if vote == "soft":
        return sigmoid_pair(np.subtract(rewards_a, rewards_b, dtype=np.float64))[0]
    if vote != "hard":
        raise ValueError(f"vote must be one of {VOTES}, got {vote!r}.")
    return hard_votes(rewards_a, rewards_b)


def check_pair_weights(
    sample_weight: ArrayLike | None,
    n: int,
    name: str = "sample_weight",
    *,
    allow_all_zero: bool = True,
) -> NDArray[np.float64]:
    """Float64 weights of length ``n`` (ones when ``None``), validated.

    Parameters
    ----------
    sample_weight : array-like of shape (n,), float or None
        The weights; a scalar is broadcast.
    n : int
        Number of pairs.
    name : str, default="sample_weight"
        Argument name used in error messages.
    allow_all_zero : bool, default=True
        Whether all-zero weights are accepted.

    Returns
    -------
    weights : ndarray of shape (n,), float64
        A new array (the input is never modified).

    Raises
    ------
    ValueError
        For a wrong length, NaN/inf or negative values (naming the first
        offending row), and all-zero weights unless allowed.

    Examples
    --------
    >>> from pcr_sklearn.utils.validation import check_pair_weights
    >>> check_pair_weights(None, 2)
    array([1., 1.])
    >>> check_pair_weights([1.0, -2.0], 2)
    Traceback (most recent call last):
    ...
    ValueError: Negative values in sample_weight are not allowed; row 1 has -2.0.
    """
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n, float(sample_weight))
    try:
        weights = np.array(sample_weight, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must hold numbers{_first_non_number(sample_weight)} ({exc})."
        ) from None
    if weights.shape[0] != n:
        raise ValueError(
            f"{name} has {weights.shape[0]} entries but there are {n} pairs."
        )
    _raise_first(~np.isfinite(weights), weights, f"{name} must be finite")
    _raise_first(weights < 0, weights, f"Negative values in {name} are not allowed")
    if not allow_all_zero and n > 0 and not weights.any():
        raise ValueError(f"{name} is all zero; at least one pair needs weight > 0.")
    return weights


def rescale_weights(weights: ArrayLike) -> NDArray[np.float64]:
    """Multiply weights by the power of two that brings the largest into [0.5, 1).

    Weights of 1e308 are valid float64 numbers, but their sum overflows to
    inf and every weighted mean built on it becomes 0 or NaN. Multiplying by
    a power of two is exact (short of underflowing weights below 1e-308 of
    the largest, which cannot move a mean), so every weighted mean and every
    ratio of weighted sums is unchanged bit for bit, while sums of up to
    ``2**1000`` weights stay finite.

    Parameters
    ----------
    weights : array-like
        Non-negative finite weights (as :func:`check_pair_weights` returns).

    Returns
    -------
    weights : ndarray, float64
        A new array; the input itself when it is empty or all zero.

    Examples
    --------
    >>> from pcr_sklearn.utils.validation import rescale_weights
    >>> w = rescale_weights([1e308, 1e308])
    >>> float(w.sum() / w[0])
    2.0
    >>> rescale_weights([1.0, 3.0]).tolist()
    [0.25, 0.75]
    """
    weights = np.asarray(weights, dtype=np.float64)
    if not weights.size:
        return weights
    largest = weights.max()
    if not (np.isfinite(largest) and largest > 0):
        return weights
    return np.ldexp(weights, -int(np.frexp(largest)[1]))


def weighted_mean(
    values: ArrayLike, weights: ArrayLike, axis: int | None = None
) -> float | NDArray[np.float64]:
    """``np.average(values, axis, weights)`` that cannot overflow in the weights.

    The weights are first rescaled with :func:`rescale_weights`, so the result
    is the same as ``np.average``'s wherever that one is finite, and correct
    for weights near the float64 limit too.

    Parameters
    ----------
    values : array-like
        The values to average.
    weights : array-like
        Non-negative weights along ``axis`` (or of ``values``' shape), not
        all zero.
    axis : int, default=None
        Axis to average over; ``None``: all values.

    Returns
    -------
    mean : float or ndarray
        The weighted mean, as ``np.average`` returns it.

    Examples
    --------
    >>> from pcr_sklearn.utils.validation import weighted_mean
    >>> float(weighted_mean([0.0, 1.0], [1e308, 1e308]))
    0.5
    """
    return np.average(values, axis=axis, weights=rescale_weights(weights))


def check_probabilities(
    values: ArrayLike, name: str, n: int | None = None, *, accept_proba: bool = False
) -> NDArray[np.float64]:
    """A 1-D float64 array of values in [0, 1].

    Parameters
    ----------
    values : array-like
        The values.
    name : str
        Argument name used in error messages.
    n : int, default=None
        Required length, if any.
    accept_proba : bool, default=False
        Also accept ``predict_proba``'s ``(n, 2)`` output and use column 1
        (``P(A preferred)``).

    Returns
    -------
    values : ndarray of shape (n,), float64
        The validated values (column 1 of a ``predict_proba`` output).

    Examples
    --------
    >>> from pcr_sklearn.utils.validation import check_probabilities
    >>> check_probabilities([[0.2, 0.8]], "y_prob", accept_proba=True)
    array([0.8])
    """
    values = np.asarray(values, dtype=np.float64)
    if accept_proba and values.ndim == 2 and values.shape[1] == 2:
        values = values[:, 1]
    if values.ndim != 1:
        expected = "1-D (or predict_proba's (n, 2) output)" if accept_proba else "1-D"
        raise ValueError(f"{name} must be {expected}, got shape {values.shape}.")
    if n is not None and values.shape[0] != n:
        raise ValueError(f"{name} has {values.shape[0]} entries, expected {n}.")
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0)
    _raise_first(bad, values, f"{name} must lie in [0, 1]")
    return values


def split_pairs(X: ArrayLike, name: str = "pairs") -> tuple[NDArray[Any], NDArray[Any]]:
    """Split numeric pairs, flat ``(n, 2 d)`` or stacked ``(n, 2, d)``, into A and B.

    Parameters
    ----------
    X : array-like
        Flat pairs ``[features of A | features of B]`` with an even number of
        columns, or stacked pairs with axis 1 holding A and B.
    name : str, default="pairs"
        Argument name used in error messages.

    Returns
    -------
    items_a, items_b : ndarray of shape (n, d)
        Views into ``X`` (no copy).

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.utils.validation import split_pairs
    >>> a, b = split_pairs(np.arange(8.0).reshape(2, 4))
    >>> a.tolist(), b.tolist()
    ([[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]])
    """
    X = np.asarray(X)
    if X.ndim == 3:
        if X.shape[1] != 2:
            raise ValueError(
                f"Stacked {name} must have shape (n_pairs, 2, d), got {X.shape}: "
                "axis 1 holds the two items A and B."
            )
        return X[:, 0], X[:, 1]
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be flat (n_pairs, 2 * d) or stacked (n_pairs, 2, d), got "
            f"shape {X.shape}."
        )
    width = X.shape[1]
    if width % 2:
        raise ValueError(
            f"Flat {name} need an even number of columns [A | B], got n_features="
            f"{width}. Pass (n_pairs, 2 * d) features or stacked (n_pairs, 2, d)."
        )
    d = width // 2
    return X[:, :d], X[:, d:]


def check_finite(X: NDArray[Any], name: str, *, first_row: int = 0) -> None:
    """Raise a ``ValueError`` naming the row and column of the first NaN/inf.

    Inside :func:`deferred_finite_checks`, the call is recorded instead, for
    the caller to run chunk by chunk.

    Parameters
    ----------
    X : ndarray
        Numbers; more than two axes are flattened per row.
    name : str
        Argument name used in the message.
    first_row : int, default=0
        Number of ``X``'s first row in the caller's data (``X`` a chunk of
        it), so that the message names the row the user knows.

    Raises
    ------
    ValueError
        If ``X`` holds a NaN or an infinity.

    See Also
    --------
    deferred_finite_checks : Run the checks later, chunk by chunk.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.utils.validation import check_finite
    >>> check_finite(np.array([[0.0, 1.0], [2.0, np.inf]]), "X", first_row=10)
    Traceback (most recent call last):
    ...
    ValueError: X contains NaN or inf: row 11, column 1 has inf.
    """
    pending = _DEFERRED_FINITE_CHECKS.get()
    if pending is not None:
        pending.append((X, name))
        return
    # Summing first is a cheap test that avoids a full boolean mask on the
    # common, clean path (it overflows to inf only for values near the
    # float limit, and then the exact mask below decides).
    if not X.size:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = X.sum()
    if np.isfinite(total):
        return
    flat = X.reshape(X.shape[0], -1)
    bad = ~np.isfinite(flat)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} contains NaN or inf: row {row + first_row}, column {col} has "
            f"{plain(flat[row, col])!r}."
        )


_DEFERRED_FINITE_CHECKS = contextvars.ContextVar(
    "pcr_sklearn_deferred_finite_checks", default=None
)


@contextlib.contextmanager
def deferred_finite_checks() -> Iterator[list[tuple[NDArray[Any], str]]]:
    """Record the :func:`check_finite` calls made in the block instead of running them.

    For a caller that reads the validated array chunk by chunk anyway
    (prediction): it runs :func:`check_finite` on each chunk, with
    ``first_row``, just before using it, instead of one more pass over the
    whole array in memory (the same errors, naming the same row; only the
    moment differs). The validation itself stays in one place.

    Yields
    ------
    pending : list of (ndarray, str)
        The ``(X, name)`` of every deferred check; the caller must run them.

    See Also
    --------
    check_finite : The check that is deferred.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.utils.validation import check_finite, deferred_finite_checks
    >>> X = np.array([[0.0], [np.nan]])
    >>> with deferred_finite_checks() as pending:
    ...     check_finite(X, "X")  # recorded, not run
    >>> len(pending)
    1
    >>> check_finite(X[1:], "X", first_row=1)  # the caller runs it per chunk
    Traceback (most recent call last):
    ...
    ValueError: X contains NaN or inf: row 1, column 0 has nan.
    """
    pending = []
    token = _DEFERRED_FINITE_CHECKS.set(pending)
    try:
        yield pending
    finally:
        _DEFERRED_FINITE_CHECKS.reset(token)


def check_text_items(
    items: ArrayLike,
    name: str = "items",
    columns: Sequence[str] = TEXT_ITEM_COLUMNS,
) -> NDArray[np.object_]:
    """Text rows as an object array, every cell a string.

    An empty prompt ``""`` means "no prompt" (the response is encoded
    alone); a missing value (``None``, NaN) is an error, so that a column
    lost in a data join is noticed instead of silently read as no prompt.

    Parameters
    ----------
    items : array-like or DataFrame of shape (n, len(columns))
        Text rows.
    name : str, default="items"
        Argument name used in error messages.
    columns : tuple of str, default=("prompt", "response")
        Names of the columns, for messages; also the required width.

    Returns
    -------
    items : ndarray of shape (n, len(columns)), dtype object
        The rows, every cell a ``str``.

    Examples
    --------
    >>> from pcr_sklearn.utils.validation import check_text_items
    >>> check_text_items([["Q?", "A."]]).shape
    (1, 2)
    >>> check_text_items([["Q?", None]])
    Traceback (most recent call last):
    ...
    ValueError: items must hold strings; row 0, column 'response' has None.
    """
    if hasattr(items, "to_numpy"):
        items = items.to_numpy(dtype=object)
    items = np.asarray(items, dtype=object)
    width = len(columns)
    if items.ndim != 2 or items.shape[1] != width:
        raise ValueError(
            f"{name} must have shape (n, {width}) holding ({', '.join(columns)}) "
            f"rows, got shape {items.shape}."
        )
    is_text = np.frompyfunc(lambda v: isinstance(v, str), 1, 1)(items).astype(bool)
    if not is_text.all():
        row, col = np.argwhere(~is_text)[0]
        raise ValueError(
            f"{name} must hold strings; row {row}, column {columns[col]!r} has "
            f"{plain(items[row, col])!r}."
        )
    return items


def _raise_first(bad, values, message):
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{message}; row {row} has {plain(values[row])!r}.")


def _overflow_is_an_error():
    """Whether NumPy's error state reports overflows (the default: it warns).

    Code that checks its own overflows raises a ValueError then; under
    ``np.errstate(over="ignore", invalid="ignore")`` it returns IEEE's values.
    """
    state = np.geterr()
    return state["over"] != "ignore" or state["invalid"] != "ignore"


def _first_non_number(values):
    """``"; row i has v"`` for the first entry that is not a number, else ``""``."""
    try:
        cells = np.asarray(values, dtype=object).reshape(-1)
    except ValueError:  # ragged nesting: no row to point at
        return ""
    for row, cell in enumerate(cells):
        try:
            float(cell)
        except (TypeError, ValueError):
            return f"; row {row} has {plain(cell)!r}"
    return ""
