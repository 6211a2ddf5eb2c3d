"""Shared hypothesis strategies for the calibration mathematics."""

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

unit = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)
positive = st.floats(0.01, 10.0, allow_nan=False, allow_infinity=False)


@st.composite
def vote_problems(draw, *, max_pairs=25, max_members=6, votes="hard"):
    """A member-vote matrix, soft labels and positive pair weights."""
    n = draw(st.integers(1, max_pairs))
    k = draw(st.integers(1, max_members))
    if votes == "hard":
        matrix = draw(arrays(np.float64, (n, k), elements=st.sampled_from([0, 0.5, 1])))
    else:
        matrix = draw(arrays(np.float64, (n, k), elements=unit))
    target = draw(arrays(np.float64, n, elements=unit))
    weights = draw(arrays(np.float64, n, elements=positive))
    return matrix, target, weights


@st.composite
def simplex_weights(draw, k):
    raw = draw(arrays(np.float64, k, elements=st.floats(0.0, 1.0)))
    raw = raw + 1e-3
    return raw / raw.sum()


# Item features: bounded, finite and not subnormal, so a failure shrinks to
# small readable numbers.
features = st.floats(
    -3.0, 3.0, allow_nan=False, allow_infinity=False, allow_subnormal=False
)


@st.composite
def small_pair_data(draw, *, max_pairs=40):
    """Flat pairs (2 features per item) with soft labels from a random mixture.

    Returns ``X`` of shape (n, 4) and ``y``; the features are drawn as arrays
    (not built from a drawn seed) so that hypothesis can shrink them. Some
    pair has A and B differing, so the data are never all ties.
    """
    n = draw(st.integers(8, max_pairs))
    a = draw(arrays(np.float64, (n, 2), elements=features))
    b = draw(arrays(np.float64, (n, 2), elements=features))
    assume(np.any(a != b))
    mix = draw(st.floats(0.05, 0.95))
    y = mix * (a[:, 0] > b[:, 0]) + (1 - mix) * (a[:, 1] > b[:, 1])
    return np.hstack([a, b]), y


# ----------------------------------------------------------------- fuzzing
#
# Strategies for tests/test_fuzz.py: they draw the *data* (never a seed), so
# that a failure shrinks to a small readable input. Each draws a ``(kind,
# value)`` pair: ``kind`` names what was done to the value ("valid",
# "nan", "odd width", ...) for the test's bookkeeping, and the first kind of
# every list is the plain valid one, which is where shrinking heads.

#: Floats that break naive numerics: NaN, the infinities, the float64 limit
#: and its neighbourhood, subnormals and signed zeros.
SPECIAL_FLOATS = (
    float("nan"),
    float("inf"),
    float("-inf"),
    1.7976931348623157e308,
    -1.7976931348623157e308,
    1e308,
    -1e308,
    1e300,
    1e-300,
    2.2250738585072014e-308,
    5e-324,
    -5e-324,
    0.0,
    -0.0,
)
#: Any float, the special ones drawn often.
nasty_floats = st.one_of(
    st.sampled_from(SPECIAL_FLOATS), st.floats(allow_nan=True, allow_infinity=True)
)
#: Finite floats only, the extreme ones drawn often.
huge_or_tiny = st.one_of(
    st.sampled_from([v for v in SPECIAL_FLOATS if np.isfinite(v)]),
    st.floats(allow_nan=False, allow_infinity=False),
)
#: Python values that are not numbers, or not plain ones.
junk_scalars = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.integers(-(2**70), 2**70),
    nasty_floats,
    st.booleans(),
)


def _object_array(values, shape):
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out.reshape(shape)


def _frame(values, columns=None):
    pd = __import__("pandas")
    return pd.DataFrame(values, columns=columns)


@st.composite
def fuzz_numbers(draw, shape, *, valid_only=False):
    """A float64 array of ``shape``: bounded features, or with nasty values
    (all drawn from :data:`huge_or_tiny` or :data:`nasty_floats`, or one
    planted among bounded features)."""
    if valid_only:
        return draw(arrays(np.float64, shape, elements=features))
    elements = draw(st.sampled_from([huge_or_tiny, nasty_floats, features]))
    if elements is features:
        # Bounded values with one special value planted.
        values = draw(arrays(np.float64, shape, elements=features))
        index = tuple(draw(st.integers(0, max(size - 1, 0))) for size in shape)
        if values.size:
            values[index] = draw(nasty_floats)
        return values
    return draw(arrays(np.float64, shape, elements=elements))


PAIR_KINDS = (
    "valid",
    "stacked",
    "list",
    "frame",
    "float32",
    "integers",
    "numbers",
    "odd width",
    "empty",
    "zero width",
    "1-D",
    "0-D",
    "4-D",
    "stacked, 3 items",
    "object",
    "strings",
    "complex",
    "wrong width",
)


_WELL_FORMED_PAIRS = ("valid", "stacked", "list", "frame", "float32", "integers")


@st.composite
def fuzz_pairs(draw, n, d, *, kinds=PAIR_KINDS):
    """Numeric pairs for ``n`` rows and ``d`` features per item, maybe broken.

    Returns ``(kind, X)``; ``kind`` is one of :data:`PAIR_KINDS`. Only
    "valid", "stacked", "list", "frame", "float32" and "integers" are
    well-formed (with bounded finite values); "numbers" holds NaN, inf,
    huge, tiny or negative values in the flat layout.
    """
    # Three groups drawn alike, so that the odd values are not drowned by
    # the many kinds of odd shapes.
    groups = [
        [k for k in kinds if k in _WELL_FORMED_PAIRS],
        [k for k in kinds if k == "numbers"],
        [k for k in kinds if k not in _WELL_FORMED_PAIRS and k != "numbers"],
    ]
    kind = draw(st.sampled_from([g for g in groups if g]).flatmap(st.sampled_from))
    flat = draw(fuzz_numbers((n, 2 * d), valid_only=True))
    if kind == "valid":
        return kind, flat
    if kind == "stacked":
        return kind, flat.reshape(n, 2, d)
    if kind == "list":
        return kind, flat.tolist()
    if kind == "frame":
        return kind, _frame(flat, [f"f{i}" for i in range(2 * d)])
    if kind == "float32":
        return kind, flat.astype(np.float32)
    if kind == "integers":
        return kind, draw(
            arrays(np.int64, (n, 2 * d), elements=st.integers(-(2**62), 2**62))
        )
    if kind == "numbers":
        return kind, draw(fuzz_numbers((n, 2 * d)))
    if kind == "odd width":
        return kind, draw(fuzz_numbers((n, 2 * d + 1), valid_only=True))
    if kind == "empty":
        return kind, np.empty((0, 2 * d))
    if kind == "zero width":
        return kind, np.empty((n, 0))
    if kind == "1-D":
        return kind, flat.reshape(-1)
    if kind == "0-D":
        return kind, np.float64(draw(nasty_floats))
    if kind == "4-D":
        return kind, flat.reshape(n, 2, d, 1)
    if kind == "stacked, 3 items":
        return kind, draw(fuzz_numbers((n, 3, d), valid_only=True))
    if kind == "object":
        cells = draw(st.lists(junk_scalars, min_size=2 * n * d, max_size=2 * n * d))
        return kind, _object_array(cells, (n, 2 * d))
    if kind == "strings":
        return kind, flat.astype(str)
    if kind == "complex":
        return kind, flat.astype(np.complex128)
    # "wrong width": another even width than the model's.
    return kind, draw(fuzz_numbers((n, 2 * d + 2), valid_only=True))


LABEL_KINDS = (
    "soft",
    "hard",
    "strings",
    "signs",
    "list",
    "series",
    "outside [0, 1]",
    "nan",
    "one class",
    "three classes",
    "object",
    "2-D",
    "wrong length",
)


@st.composite
def fuzz_labels(draw, n, *, kinds=LABEL_KINDS):
    """Labels for ``n`` pairs, maybe broken; returns ``(kind, y)``.

    "soft" to "series" are valid (soft labels, 0/1, two strings, {-1, 1});
    "strings" and "signs" hold both values, so for one pair they are "soft".
    """
    kind = draw(st.sampled_from(kinds))
    soft = draw(arrays(np.float64, n, elements=unit))
    if kind in ("soft", "strings", "signs"):
        return "soft", soft
    if kind == "hard":
        return kind, (soft > 0.5).astype(np.int64)
    if kind in ("strings", "signs") and n > 1:
        # Both values occur (one label value is not a valid y).
        hard = soft > 0.5
        hard[0], hard[-1] = True, n == 1
        values = ("A", "B") if kind == "strings" else (1, -1)
        return kind, np.where(hard, *values)
    if kind == "list":
        return kind, soft.tolist()
    if kind == "series":
        return kind, __import__("pandas").Series(soft)
    if kind == "outside [0, 1]":
        bad = draw(st.floats(allow_nan=False).filter(lambda v: not 0 <= v <= 1))
        soft[draw(st.integers(0, n - 1))] = bad
        return kind, soft
    if kind == "nan":
        soft[draw(st.integers(0, n - 1))] = np.nan
        return kind, soft
    if kind == "one class":
        value = draw(st.sampled_from(["A", 5, 2.5, -1]))
        return kind, np.full(n, value)
    if kind == "three classes":
        return kind, np.arange(n) % 3 + draw(st.sampled_from([2, -1]))
    if kind == "object":
        cells = draw(st.lists(junk_scalars, min_size=n, max_size=n))
        return kind, _object_array(cells, (n,))
    if kind == "2-D":
        return kind, soft.reshape(n, 1) if draw(st.booleans()) else np.c_[soft, soft]
    # "wrong length"
    return kind, np.resize(soft, n + draw(st.sampled_from([-1, 1, 5])))


WEIGHT_KINDS = (
    "none",
    "valid",
    "scalar",
    "list",
    "huge",
    "tiny",
    "all zero",
    "negative",
    "nan",
    "inf",
    "numbers",
    "wrong length",
    "2-D",
    "strings",
    "object",
)


@st.composite
def fuzz_weights(draw, n, *, kinds=WEIGHT_KINDS):
    """Pair weights for ``n`` pairs, maybe broken; returns ``(kind, weights)``.

    "none" to "tiny" are valid ("huge": weights up to 1e308; "tiny": down to
    the smallest subnormal).
    """
    kind = draw(st.sampled_from(kinds))
    positive = st.floats(0.01, 10.0)
    valid = draw(arrays(np.float64, n, elements=positive))
    if kind == "none":
        return kind, None
    if kind == "valid":
        return kind, valid
    if kind == "scalar":
        return kind, draw(nasty_floats)
    if kind == "list":
        return kind, valid.tolist()
    if kind == "huge":
        return kind, np.full(n, draw(st.sampled_from([1e308, 1.7976931348623157e308])))
    if kind == "tiny":
        return kind, valid * 1e-310  # subnormal, none zero
    if kind == "all zero":
        return kind, np.zeros(n)
    row = draw(st.integers(0, n - 1))
    if kind in ("negative", "nan", "inf"):
        valid[row] = {"negative": -draw(positive), "nan": np.nan, "inf": np.inf}[kind]
        return kind, valid
    if kind == "numbers":
        return kind, draw(arrays(np.float64, n, elements=nasty_floats))
    if kind == "wrong length":
        return kind, np.resize(valid, n + draw(st.sampled_from([-1, 1, 3])))
    if kind == "2-D":
        return kind, valid.reshape(n, 1)
    if kind == "strings":
        return kind, valid.astype(str) if draw(st.booleans()) else np.full(n, "w")
    cells = draw(st.lists(junk_scalars, min_size=n, max_size=n))
    return kind, _object_array(cells, (n,))


#: Cells of a text column: mostly strings (empty ones included), sometimes
#: None, NaN, numbers, booleans or bytes.
text_cells = st.one_of(
    st.text(max_size=12),
    st.just(""),
    st.sampled_from(["the cat", "a dog", "yes", "no", "maybe"]),
    st.none(),
    st.just(float("nan")),
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=16),
    st.booleans(),
    st.binary(max_size=3),
)
#: Strings only (every cell valid).
text_strings = st.one_of(
    st.sampled_from(["the cat", "a dog", "yes", "no", "maybe", ""]),
    st.text(max_size=12),
)

TEXT_KINDS = ("valid", "list", "frame", "cells", "frame cells", "width", "empty", "1-D")


@st.composite
def fuzz_text_triples(draw, n, *, kinds=TEXT_KINDS):
    """``(prompt, response_a, response_b)`` rows, maybe broken.

    Returns ``(kind, X)``; "valid", "list" and "frame" hold strings only
    (empty strings included), "cells" and "frame cells" any
    :data:`text_cells`.
    """
    kind = draw(st.sampled_from(kinds))
    cells = text_cells if "cells" in kind else text_strings
    values = draw(st.lists(cells, min_size=3 * n, max_size=3 * n))
    X = _object_array(values, (n, 3))
    if kind in ("valid", "cells"):
        return kind, X
    if kind == "list":
        return kind, X.tolist()
    if kind in ("frame", "frame cells"):
        frame = _frame(X, ["prompt", "response_a", "response_b"])
        if draw(st.booleans()):
            frame = frame[["response_b", "prompt", "response_a"]]
        return kind, frame
    if kind == "width":
        width = draw(st.sampled_from([1, 2, 4]))
        return kind, _object_array(
            draw(st.lists(text_strings, min_size=n * width, max_size=n * width)),
            (n, width),
        )
    if kind == "empty":
        return kind, np.empty((0, 3), dtype=object)
    return kind, X[:, 0]


# ------------------------------------------------------------ data files

#: Columns a preference file may have (the loader's defaults and options).
DATA_COLUMNS = (
    "prompt",
    "response_a",
    "response_b",
    "label",
    "votes_a",
    "votes_b",
    "votes_tie",
    "weight",
    "group",
    "id",
)
#: Numbers as a file may hold them: plain, out of range, huge, tiny, NaN,
#: integers beyond float64, numeric strings, junk.
file_numbers = st.one_of(
    unit,
    st.integers(0, 20),
    st.sampled_from(
        [-1, 2, 1e308, 1.7976931348623157e308, 5e-324, float("nan"), float("inf")]
    ),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0.5", " 1 ", "", "abc", "1e400", "NaN", "-0", "0x1"]),
    st.none(),
    st.booleans(),
)
#: Values of a JSON record: text, numbers, nesting.
json_values = st.recursive(
    st.one_of(text_strings, file_numbers), lambda inner: st.lists(inner, max_size=2)
)
#: Lines a broken file may hold between its records.
JUNK_LINES = (
    "{",
    "}",
    "[1, 2]",
    "null",
    '"text"',
    "42",
    "not json, not csv",
    '{"prompt": "unterminated',
    '{"label": 1e999}',
    "\ufeff",
    "a,b,c,d,e,f,g,h,i,j,k,l",
    '"unclosed quote, here',
    "x\x00y",
    "[" * 100_000,
    "{" * 100_000,
    '{"label": ' + "9" * 5000 + "}",
    '{"a":' * 2000 + "1" + "}" * 2000,
)


@st.composite
def fuzz_records(draw, *, max_records=5):
    """Records (dicts) of a preference file, each maybe missing columns or
    holding odd values; the first draws are well-formed rows."""
    records = []
    for _ in range(draw(st.integers(0, max_records))):
        record = {
            "prompt": draw(text_strings),
            "response_a": draw(text_strings),
            "response_b": draw(text_strings),
            "label": draw(unit),
            "votes_a": draw(st.integers(0, 9)),
            "votes_b": draw(st.integers(0, 9)),
            "votes_tie": draw(st.integers(0, 9)),
            "weight": draw(st.floats(0.5, 3.0)),
            "group": draw(st.integers(0, 3)),
            "id": draw(st.integers(0, 100)),
        }
        for column in draw(
            st.lists(st.sampled_from(DATA_COLUMNS), max_size=3, unique=True)
        ):
            if draw(st.booleans()):
                del record[column]
            elif column in ("prompt", "response_a", "response_b", "group", "id"):
                record[column] = draw(json_values)
            else:
                record[column] = draw(file_numbers)
        if draw(st.booleans()):
            record[draw(st.text(max_size=4))] = draw(json_values)
        records.append(record)
    return records


def _csv_cell(value):
    if isinstance(value, float) and value != value:
        return "nan"
    return "" if value is None else str(value)


@st.composite
def fuzz_data_file(draw, *, max_records=5):
    """``(suffix, text)`` of a JSONL, JSON, CSV or TSV preference file.

    Records from :func:`fuzz_records`, serialised with the suffix's format,
    with junk lines, blank lines, duplicate columns, a byte-order mark or a
    truncation mixed in. The suffix may also be unknown, or claim gzip.
    """
    import csv
    import io
    import json

    suffix = draw(
        st.sampled_from([".jsonl", ".csv", ".tsv", ".json", ".ndjson", ".txt", ""])
    )
    records = draw(fuzz_records(max_records=max_records))
    if suffix in (".csv", ".tsv"):
        columns = list(dict.fromkeys(c for r in records for c in r)) or list(
            DATA_COLUMNS[:4]
        )
        if draw(st.booleans()):
            columns.append(draw(st.sampled_from(columns)))  # a duplicate column
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="," if suffix == ".csv" else "\t")
        writer.writerow(columns)
        for record in records:
            writer.writerow([_csv_cell(record.get(c)) for c in columns])
        lines = buffer.getvalue().splitlines()
    elif suffix == ".json" and draw(st.booleans()):
        lines = json.dumps(records, default=str, indent=1).splitlines()
    else:
        lines = [json.dumps(record, default=str) for record in records]
    for _ in range(draw(st.integers(0, 2))):
        junk = draw(st.one_of(st.sampled_from(JUNK_LINES), st.text(max_size=20)))
        lines.insert(draw(st.integers(0, len(lines))), junk)
    text = "\n".join(lines)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    if draw(st.booleans()):
        text = "\ufeff" + text
    return suffix, text


ITEM_KINDS = (
    "valid",
    "list",
    "frame",
    "float32",
    "integers",
    "numbers",
    "empty",
    "zero width",
    "1-D",
    "0-D",
    "3-D",
    "object",
    "strings",
    "complex",
    "wrong width",
)
_WELL_FORMED_ITEMS = ("valid", "list", "frame", "float32", "integers")


@st.composite
def fuzz_items(draw, n, d, *, kinds=ITEM_KINDS):
    """Items: ``(n, d)`` features, maybe broken; returns ``(kind, items)``.

    The kinds mirror :func:`fuzz_pairs`; "valid" to "integers" are
    well-formed.
    """
    groups = [
        [k for k in kinds if k in _WELL_FORMED_ITEMS],
        [k for k in kinds if k == "numbers"],
        [k for k in kinds if k not in _WELL_FORMED_ITEMS and k != "numbers"],
    ]
    kind = draw(st.sampled_from([g for g in groups if g]).flatmap(st.sampled_from))
    items = draw(fuzz_numbers((n, d), valid_only=True))
    if kind == "valid":
        return kind, items
    if kind == "list":
        return kind, items.tolist()
    if kind == "frame":
        return kind, _frame(items, [f"f{i}" for i in range(d)])
    if kind == "float32":
        return kind, items.astype(np.float32)
    if kind == "integers":
        return kind, draw(arrays(np.int64, (n, d), elements=st.integers(-1000, 1000)))
    if kind == "numbers":
        return kind, draw(fuzz_numbers((n, d)))
    if kind == "empty":
        return kind, np.empty((0, d))
    if kind == "zero width":
        return kind, np.empty((n, 0))
    if kind == "1-D":
        return kind, items.reshape(-1)
    if kind == "0-D":
        return kind, np.float64(draw(nasty_floats))
    if kind == "3-D":
        return kind, items.reshape(n, d, 1)
    if kind == "object":
        cells = draw(st.lists(junk_scalars, min_size=n * d, max_size=n * d))
        return kind, _object_array(cells, (n, d))
    if kind == "strings":
        return kind, items.astype(str)
    if kind == "complex":
        return kind, items.astype(np.complex128)
    # "wrong width"
    return kind, draw(
        fuzz_numbers((n, d + draw(st.sampled_from([-1, 1]))), valid_only=True)
    )
