"""Reading users' own preference pairs and turning vote counts into soft labels.

Errors raised here are meant to be shown to a command-line user as they are:
one line, naming the file and the 1-based line (or record) at fault.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
from sklearn.utils import Bunch

from .._compat import StrOptions, validate_params
from ..utils.validation import TEXT_COLUMNS
from ._files import _records

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = ["load_preference_pairs", "soft_labels_from_votes"]

_TIES = ("half", "drop")


class _MissingFileError(ValueError, FileNotFoundError):
    """A missing data file: a ValueError like every other bad-file error, and
    still a FileNotFoundError for callers that catch the usual OS error."""


def _import_pandas(caller):
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas present in the tests
        raise ImportError(
            f"{caller}(as_frame=True) needs pandas; install it with "
            "`pip install pandas`, or pass as_frame=False to get numpy arrays."
        ) from exc
    return pd


def _short(value, limit=40):
    """repr() cut to one short line, so a bad 10 kB text cell cannot flood the
    one-line error message."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


@validate_params(
    {
        "votes_a": ["array-like"],
        "votes_b": ["array-like"],
        "votes_tie": ["array-like", None],
        "ties": [StrOptions(set(_TIES))],
    },
    prefer_skip_nested_validation=True,
)
def soft_labels_from_votes(
    votes_a: ArrayLike,
    votes_b: ArrayLike,
    votes_tie: ArrayLike | None = None,
    *,
    ties: Literal["half", "drop"] = "half",
) -> NDArray[np.float64]:
    """Soft preference labels P(A preferred over B) from vote counts.

    Parameters
    ----------
    votes_a, votes_b : array-like of shape (n_pairs,)
        Number of votes for response A and for response B. Counts may be
        non-integer (e.g. weighted votes) but must be finite and >= 0.
    votes_tie : array-like of shape (n_pairs,), default=None
        Number of "equally good" votes; None means no tie votes.
    ties : {"half", "drop"}, default="half"
        ``"half"``: a tie counts half a vote for each side,
        ``(a + 0.5 * tie) / (a + b + tie)``.
        ``"drop"``: ties are discarded, ``a / (a + b)``; a pair whose votes are
        all ties then carries no preference and gets exactly 0.5 (give it
        zero weight, e.g. ``sample_weight = a + b``, to leave it out).

    Returns
    -------
    labels : ndarray of shape (n_pairs,), dtype float64
        Values in [0, 1].

    Raises
    ------
    ValueError
        If ``ties`` is unknown, the arrays differ in length or are not 1-D,
        a count is negative or not finite (the message names the argument and
        0-based index), or a pair has no votes at all.

    Examples
    --------
    >>> from pcr_sklearn.datasets import soft_labels_from_votes
    >>> soft_labels_from_votes([3, 0, 1], [1, 0, 1], [1, 2, 0])
    array([0.7, 0.5, 0.5])
    >>> soft_labels_from_votes([3, 0, 1], [1, 0, 1], [1, 2, 0], ties="drop")
    array([0.75, 0.5 , 0.5 ])
    """
    named = {"votes_a": votes_a, "votes_b": votes_b}
    if votes_tie is not None:
        named["votes_tie"] = votes_tie
    arrays = {}
    for name, values in named.items():
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be an array of numeric counts") from exc
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            i = bad[0]
            raise ValueError(f"{name}[{i}] is {arr[i]}; counts must be finite")
        bad = np.flatnonzero(arr < 0)
        if bad.size:
            i = bad[0]
            raise ValueError(f"{name}[{i}] = {arr[i]:g} is negative")
        arrays[name] = arr
    lengths = {name: arr.shape[0] for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"vote arrays differ in length: {lengths}")
    a, b = arrays["votes_a"], arrays["votes_b"]
    tie = arrays.get("votes_tie", np.zeros_like(a))
    empty = np.flatnonzero(np.maximum(np.maximum(a, b), tie) == 0)
    if empty.size:
        raise ValueError(
            f"pair at index {empty[0]} has no votes "
            "(votes_a + votes_b + votes_tie == 0); a soft label needs at least one"
        )
    # Each pair's counts divided by a power of two near the largest count the
    # label uses: exact (ordinary counts give the same labels bit for bit),
    # and sums of counts near 1e308 no longer overflow to inf (label 0).
    exponent = -np.frexp(np.maximum(np.maximum(a, b), tie if ties == "half" else 0))[1]
    a, b = np.ldexp(a, exponent), np.ldexp(b, exponent)
    if ties == "half":
        tie = np.ldexp(tie, exponent)
        return (a + 0.5 * tie) / (a + b + tie)
    decisive = a + b
    labels = np.full(a.shape, 0.5)
    np.divide(a, decisive, out=labels, where=decisive > 0)
    return labels


# --------------------------------------------------------------------------
# File reading


def _text(path, where, col, value):
    if value is None:
        raise ValueError(f"{path}: {where}: column {col!r} is missing a value (null)")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"{path}: {where}: column {col!r} is NaN")
        return str(value)
    raise ValueError(
        f"{path}: {where}: column {col!r} must be text, got "
        f"{type(value).__name__} {_short(value)}"
    )


def _number(path, where, col, value):
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{path}: {where}: column {col!r} is empty")
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # a JSON integer such as 10**400
            raise ValueError(
                f"{path}: {where}: column {col!r} is {_short(value)}, beyond the "
                "float64 range"
            ) from None
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(
                f"{path}: {where}: column {col!r} is not a number: {_short(value)}"
            ) from None
    else:
        raise ValueError(
            f"{path}: {where}: column {col!r} must be a number, got "
            f"{type(value).__name__} {_short(value)}"
        )
    if math.isnan(number):
        raise ValueError(f"{path}: {where}: column {col!r} is NaN")
    return number


def _missing_columns_error(path, where, missing, present):
    names = ", ".join(repr(c) for c in missing)
    found = ", ".join(repr(c) for c in present) or "none"
    plural = "s" if len(missing) > 1 else ""
    return ValueError(
        f"{path}: {where}: missing column{plural} {names}; columns found: {found}"
    )


class _Columns(NamedTuple):
    """The columns one call reads; None (or "") leaves an optional one out."""

    prompt: str | None
    response_a: str
    response_b: str
    label: str | None
    votes: list | None
    weight: str | None
    group: str | None
    id: str | None

    def required(self):
        """Every column a record must have, in the order a message lists them."""
        return [
            *(c for c in (self.prompt, self.response_a, self.response_b) if c),
            *([self.label] if self.label else []),
            *(self.votes or []),
            *(c for c in (self.weight, self.group, self.id) if c),
        ]


#: What _read_rows collects per pair; a field whose column is not read stays [].
_ROW_FIELDS = (
    "prompt",
    "response_a",
    "response_b",
    "label",
    "votes",
    "weight",
    "group",
    "id",
    "line",
)


def _existing_file(path):
    """``path`` as a Path, checked to name a file that exists."""
    path = Path(os.fspath(path))
    if not path.exists():
        raise _MissingFileError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a JSONL or CSV file")
    return path


def _label(path, where, col, value):
    label = _number(path, where, col, value)
    if not 0.0 <= label <= 1.0:
        raise ValueError(
            f"{path}: {where}: column {col!r} is {label:g}, outside "
            "[0, 1] (it must be the probability that A is preferred)"
        )
    return label


def _vote_counts(path, where, votes_cols, record):
    counts = [_number(path, where, c, record[c]) for c in votes_cols]
    for col, count in zip(votes_cols, counts, strict=True):
        if not math.isfinite(count) or count < 0:
            raise ValueError(
                f"{path}: {where}: column {col!r} is {count:g}; vote "
                "counts must be finite and >= 0"
            )
    if sum(counts) == 0:
        raise ValueError(
            f"{path}: {where}: no votes (all of "
            f"{', '.join(map(repr, votes_cols))} are 0)"
        )
    return counts


def _weight(path, where, col, value):
    weight = _number(path, where, col, value)
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(
            f"{path}: {where}: column {col!r} is {weight:g}; "
            "weights must be finite and >= 0"
        )
    return weight


def _group_value(path, where, col, value):
    if value is None or isinstance(value, list | dict):
        raise ValueError(
            f"{path}: {where}: column {col!r} must be a text or "
            f"number group label, got {_short(value)}"
        )
    return value


def _parse_record(path, where, record, cols):
    """The checked values of one record, keyed by the fields of _ROW_FIELDS.

    Columns are checked in a fixed order, so the first problem of a record is
    the one reported.
    """
    parsed = {
        "prompt": (
            _text(path, where, cols.prompt, record[cols.prompt]) if cols.prompt else ""
        ),
        "response_a": _text(path, where, cols.response_a, record[cols.response_a]),
        "response_b": _text(path, where, cols.response_b, record[cols.response_b]),
    }
    if cols.label:
        parsed["label"] = _label(path, where, cols.label, record[cols.label])
    if cols.votes:
        parsed["votes"] = _vote_counts(path, where, cols.votes, record)
    if cols.weight:
        parsed["weight"] = _weight(path, where, cols.weight, record[cols.weight])
    if cols.group:
        parsed["group"] = _group_value(path, where, cols.group, record[cols.group])
    if cols.id:
        parsed["id"] = str(record[cols.id])
    parsed["line"] = int(where.split()[1])
    return parsed


def _read_rows(path, cols):
    """Read and check every record of ``path``.

    Returns a Bunch with one list per field of ``_ROW_FIELDS``, one entry per
    pair in file order.
    """
    required = cols.required()
    rows = Bunch(**{field: [] for field in _ROW_FIELDS})
    for where, record in _records(path):
        if where == "header":  # CSV: check the columns once, up front
            missing = [c for c in required if c not in record]
            if missing:
                raise _missing_columns_error(path, "line 1", missing, record)
            continue
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}: {where}: expected a JSON object with columns, got "
                f"{type(record).__name__} {_short(record)}"
            )
        missing = [c for c in required if c not in record]
        if missing:
            raise _missing_columns_error(path, where, missing, list(record))
        for field, value in _parse_record(path, where, record, cols).items():
            rows[field].append(value)
    if not rows.response_a:
        raise ValueError(f"{path}: no data rows (the file is empty)")
    return rows


def _targets(path, rows, cols, ties):
    """Soft labels, vote counts and sample weights of the rows read."""
    target = np.asarray(rows.label, dtype=np.float64) if cols.label else None
    n_votes = vote_counts = None
    if cols.votes:
        vote_counts = np.asarray(rows.votes, dtype=np.float64)
        # Plain counts stay ints: those float64 holds exactly (up to 2**53;
        # the counts were read as floats), so totals cannot wrap around.
        if np.all(vote_counts == np.round(vote_counts)) and np.all(
            vote_counts <= 2.0**53
        ):
            vote_counts = vote_counts.astype(np.int64)
        tie = vote_counts[:, 2] if len(cols.votes) == 3 else None
        target = soft_labels_from_votes(
            vote_counts[:, 0], vote_counts[:, 1], tie, ties=ties
        )
        with np.errstate(over="ignore"):  # decided below, naming the line
            n_votes = vote_counts[:, :2].sum(axis=1)
            if ties == "half" and tie is not None:
                n_votes = n_votes + tie
        _check_vote_totals(path, rows, n_votes)
    if cols.weight:
        sample_weight = np.asarray(rows.weight, dtype=np.float64)
    elif n_votes is not None:
        sample_weight = n_votes.astype(np.float64)
    else:
        sample_weight = None
    return Bunch(
        target=target,
        n_votes=n_votes,
        vote_counts=vote_counts,
        sample_weight=sample_weight,
    )


def _check_vote_totals(path, rows, n_votes):
    """Raise where a pair's number of votes (its weight) overflows float64."""
    bad = np.flatnonzero(~np.isfinite(n_votes))
    if bad.size:
        i = bad[0]
        counts = ", ".join(f"{count:g}" for count in rows.votes[i])
        raise ValueError(
            f"{path}: line {rows.line[i]}: the vote counts ({counts}) add up "
            "beyond the float64 range"
        )


def _group_keys(rows, cols):
    """What makes two pairs one group: the group column, else the prompt."""
    if cols.group:
        return rows.group
    if cols.prompt:
        return rows.prompt
    return list(range(len(rows.response_a)))  # no prompts: a group per pair


def _group_ids(keys):
    """Group ids in order of first appearance (so they are stable for a file),
    and the key of each group id."""
    first_seen: dict = {}
    groups = np.fromiter(
        (first_seen.setdefault(k, len(first_seen)) for k in keys), np.int64, len(keys)
    )
    group_names = np.empty(len(first_seen), dtype=object)
    group_names[:] = list(first_seen)
    return groups, group_names


def _data_and_frame(rows, targets, groups, pd):
    """The text pairs, as an object array, or (with ``pd``, pandas) a DataFrame
    together with the frame that adds target, weights and groups."""
    data = np.empty((len(groups), 3), dtype=object)
    data[:, 0], data[:, 1], data[:, 2] = rows.prompt, rows.response_a, rows.response_b
    if pd is None:
        return data, None
    frame = pd.DataFrame(data, columns=list(TEXT_COLUMNS))
    data = frame.copy()
    if targets.target is not None:
        frame["target"] = targets.target
    if targets.sample_weight is not None:
        frame["sample_weight"] = targets.sample_weight
    frame["group"] = groups
    return data, frame


def _describe(path, n_pairs, n_groups, cols, ties):
    if cols.votes:
        how = f"vote counts {cols.votes} with ties={ties!r}"
    elif cols.label:
        how = f"column {cols.label!r}"
    else:
        how = "none (unlabelled)"
    return (
        f"Preference pairs read from {path}.\n"
        f"{n_pairs} pairs, {n_groups} groups; labels: {how}.\n"
        "target = P(response_a preferred over response_b)."
    )


@validate_params(
    {
        "path": [str, os.PathLike],
        "prompt_col": [str, None],
        "response_a_col": [str],
        "response_b_col": [str],
        "label_col": [str, None],
        "votes_cols": ["array-like", None],
        "weight_col": [str, None],
        "group_col": [str, None],
        "id_col": [str, None],
        "ties": [StrOptions(set(_TIES))],
        "as_frame": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_preference_pairs(
    path: str | os.PathLike[str],
    *,
    prompt_col: str | None = "prompt",
    response_a_col: str = "response_a",
    response_b_col: str = "response_b",
    label_col: str | None = "label",
    votes_cols: Sequence[str] | None = None,
    weight_col: str | None = None,
    group_col: str | None = None,
    id_col: str | None = None,
    ties: Literal["half", "drop"] = "half",
    as_frame: bool = True,
) -> Bunch:
    """Load preference pairs from a JSON Lines or CSV file.

    The format follows the suffix: ``.jsonl``/``.ndjson``/``.json`` (JSON Lines,
    or one JSON array of objects), ``.csv`` or ``.tsv``; each may end in
    ``.gz``. Each row is one pair: a prompt, two responses and how often / how
    likely A was preferred over B.

    Parameters
    ----------
    path : str or path-like
        The data file.
    prompt_col, response_a_col, response_b_col : str
        Columns holding the prompt and the two responses. ``prompt_col=None``
        means the file has no prompts (they become empty strings).
    label_col : str or None, default="label"
        Column with P(A preferred over B): a number in [0, 1] (hard labels are
        0/1, soft labels anything between). None reads unlabelled pairs (e.g.
        for prediction): ``target`` is then None. Not read when
        ``votes_cols`` is given.
    votes_cols : sequence of 2 or 3 str, default=None
        Columns with vote counts ``(votes_a, votes_b[, votes_tie])``; the
        target is then computed by :func:`soft_labels_from_votes` with
        ``ties``, and ``n_votes`` holds the votes behind each label.
    weight_col : str, default=None
        Column of non-negative sample weights. Without it, ``sample_weight``
        is ``n_votes`` when ``votes_cols`` is given and None otherwise.
    group_col : str, default=None
        Column whose values define ``groups`` (for GroupKFold). Without it,
        pairs sharing a prompt share a group; with ``prompt_col=None`` every
        pair is its own group.
    id_col : str, default=None
        Column of pair identifiers, returned as strings in ``pair_ids``.
    ties : {"half", "drop"}, default="half"
        Tie handling for ``votes_cols``; see :func:`soft_labels_from_votes`.
    as_frame : bool, default=True
        If True, ``data`` is a pandas DataFrame with columns prompt,
        response_a, response_b and ``frame`` adds the target, weights and
        groups; needs pandas. If False, ``data`` is an object ndarray of shape
        (n_pairs, 3) and ``frame`` is None.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``, ``target`` (float array or None), ``n_votes`` (None unless
        ``votes_cols``), ``vote_counts`` ((n, 2 or 3) or None),
        ``sample_weight`` (or None), ``groups`` (int array), ``group_names``
        (group value of each group id), ``pair_ids`` (or None), ``lines``
        (1-based line or record number of each pair in the file), ``frame``,
        ``feature_names``, ``filename``, ``DESCR``.

    Raises
    ------
    ValueError
        On any problem with the file, as one line naming the file and the
        line: missing file, unknown suffix, empty file, malformed JSON or CSV
        row, missing column (the columns present are listed), empty or NaN
        value, label outside [0, 1], negative weight or count, pair without
        votes. A missing file raises a ValueError that is also a
        FileNotFoundError. A parameter of the wrong type or value (e.g.
        ``ties="mean"``) raises scikit-learn's ``InvalidParameterError``, a
        ValueError too.

    Examples
    --------
    >>> import json, os, tempfile
    >>> from pcr_sklearn.datasets import load_preference_pairs
    >>> rows = [
    ...     {"prompt": "Capital of France?", "response_a": "Paris",
    ...      "response_b": "Lyon", "label": 0.9},
    ...     {"prompt": "2 + 2?", "response_a": "5", "response_b": "4",
    ...      "label": 0.0},
    ... ]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "pairs.jsonl")
    ...     with open(path, "w") as fh:
    ...         _ = fh.write("\\n".join(json.dumps(r) for r in rows))
    ...     pairs = load_preference_pairs(path, as_frame=False)
    >>> pairs.data.shape, pairs.target.tolist(), pairs.groups.tolist()
    ((2, 3), [0.9, 0.0], [0, 1])
    """
    if votes_cols is not None:
        if len(votes_cols) not in (2, 3):
            raise ValueError(
                "votes_cols must be a sequence of 2 or 3 column names "
                f"(votes_a, votes_b[, votes_tie]), got {votes_cols!r}"
            )
        votes_cols = list(votes_cols)
        label_col = None  # the votes define the label
    pd = _import_pandas("load_preference_pairs") if as_frame else None
    path = _existing_file(path)
    cols = _Columns(
        prompt_col,
        response_a_col,
        response_b_col,
        label_col,
        votes_cols,
        weight_col,
        group_col,
        id_col,
    )

    rows = _read_rows(path, cols)
    targets = _targets(path, rows, cols, ties)
    groups, group_names = _group_ids(_group_keys(rows, cols))
    data, frame = _data_and_frame(rows, targets, groups, pd)
    return Bunch(
        data=data,
        target=targets.target,
        n_votes=targets.n_votes,
        vote_counts=targets.vote_counts,
        sample_weight=targets.sample_weight,
        groups=groups,
        group_names=group_names,
        pair_ids=np.asarray(rows.id, dtype=object) if id_col else None,
        lines=np.asarray(rows.line, dtype=np.int64),
        frame=frame,
        feature_names=list(TEXT_COLUMNS),
        filename=str(path),
        DESCR=_describe(path, len(groups), len(group_names), cols, ties),
    )
