"""Records of a preference-pair file: JSON Lines, a JSON array, or CSV/TSV.

The file layer of :func:`pcr_sklearn.datasets.load_preference_pairs`
(:mod:`._io` reads the values of the records). Errors are one line, naming the
file and the 1-based line (or record) at fault.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import sys

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}


def _open_text(path):
    """Text handle for path, transparently gunzipping *.gz."""
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig", newline="")


def _format_of(path):
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = os.path.splitext(name)[1]
    if suffix in _JSONL_SUFFIXES:
        return "json", None
    if suffix in _CSV_SUFFIXES:
        return "csv", _CSV_SUFFIXES[suffix]
    supported = ", ".join([*_JSONL_SUFFIXES, *_CSV_SUFFIXES])
    raise ValueError(
        f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; "
        f"use one of {supported} (optionally + .gz)"
    )


def _loads(path, text, line_no, start=None):
    """``json.loads(text)`` whose errors are one line naming the file and line.

    ``text`` starts at line ``line_no`` of the file; a JSON array is padded
    with newlines instead, so that its line numbers are the file's (``start``
    = 1).
    """
    start = line_no if start is None else start
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Some messages end in "at" ("Unterminated string starting at").
        at = "" if exc.msg.endswith(" at") else " at"
        raise ValueError(
            f"{path}: line {start + exc.lineno - 1}: invalid JSON ({exc.msg}{at} "
            f"column {exc.colno})"
        ) from None
    except RecursionError:
        raise ValueError(
            f"{path}: line {line_no}: invalid JSON (nested too deeply)"
        ) from None
    except ValueError:  # Python's limit on the digits of an integer
        limit = sys.get_int_max_str_digits()
        digits = re.search(rf"\d{{{limit + 1},}}", text)
        line = start + text.count("\n", 0, digits.start() if digits else 0)
        raise ValueError(
            f"{path}: line {line}: invalid JSON (a number with more than {limit} "
            "digits)"
        ) from None


def _iter_json(path, fh):
    """Yield (where, record) from a JSON Lines file, or from a JSON array when
    the first non-blank line starts with '[' (a .json export of a table)."""
    line_no = 0
    seen_content = False
    while line := fh.readline():
        line_no += 1
        if not line.strip():
            continue
        if not seen_content and line.lstrip().startswith("["):
            # Leading newlines keep JSONDecodeError.lineno equal to the file's.
            text = "\n" * (line_no - 1) + line + fh.read()
            records = _loads(path, text, line_no, start=1)
            if not isinstance(records, list):  # pragma: no cover - '[' => list
                raise ValueError(f"{path}: expected a JSON array of objects")
            for i, record in enumerate(records, start=1):
                yield f"record {i}", record
            return
        seen_content = True
        yield f"line {line_no}", _loads(path, line, line_no)


def _iter_csv(path, fh, delimiter):
    reader = csv.reader(fh, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    duplicate = next((h for i, h in enumerate(header) if h in header[:i]), None)
    if duplicate is not None:
        raise ValueError(
            f"{path}: line {reader.line_num}: duplicate column {duplicate!r} in "
            "the header (which one holds the data?)"
        )
    yield "header", header
    start = reader.line_num + 1
    for row in reader:
        where = f"line {start}"
        start = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue  # blank line, as in JSONL
        if len(row) != len(header):
            raise ValueError(
                f"{path}: {where}: has {len(row)} fields but the header has "
                f"{len(header)}"
            )
        yield where, dict(zip(header, row, strict=True))


def _records(path):
    """Yield (where, record_dict) with every record checked to be an object;
    a CSV yields ("header", names) first."""
    kind, delimiter = _format_of(path)
    try:
        with _open_text(path) as fh:
            if kind == "json":
                yield from _iter_json(path, fh)
            else:
                yield from _iter_csv(path, fh, delimiter)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise ValueError(f"{path}: not a readable gzip file ({exc})") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: malformed CSV ({exc})") from None
