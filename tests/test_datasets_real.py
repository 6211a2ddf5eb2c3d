"""Bundled UKPConvArg1 data, user file loading and vote -> soft label rules."""

import gzip
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from pcr_sklearn._compat import InvalidParameterError
from pcr_sklearn.datasets import (
    load_convincing_arguments,
    load_preference_pairs,
    soft_labels_from_votes,
)

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared/data/ukpconvarg1/UKPConvArg1-full.votes.jsonl.gz"
needs_source = pytest.mark.skipif(
    not SOURCE.exists(), reason="shared UKPConvArg1 source not available"
)


@pytest.fixture(scope="module")
def args_np():
    return load_convincing_arguments(as_frame=False)


@pytest.fixture(scope="module")
def args_df():
    pytest.importorskip("pandas")
    return load_convincing_arguments()


# --------------------------------------------------------------------------
# load_convincing_arguments


def test_counts_match_provenance(args_np):
    b = args_np
    assert b.data.shape == (16927, 3) and b.data.dtype == object
    assert b.target.shape == b.n_votes.shape == b.groups.shape == (16927,)
    assert np.unique(b.groups).size == 32 and len(b.prompts) == 32
    assert np.unique(b.debate_ids).size == 16 and len(b.debate_names) == 16
    assert np.bincount(b.n_votes).tolist()[4:] == [190, 16737]
    assert b.vote_counts.sum(axis=0).tolist() == [32849, 32491, 19105]
    assert len(b.texts) == 1038 and len(set(b.texts)) == 1038
    assert len(set(b.pair_ids)) == 16927
    assert len(b.votes.pair) == 84445 and len(set(b.votes.worker)) == 3815
    assert "CC-BY 4.0" in b.DESCR and "Habernal" in b.DESCR


def test_design_floor_and_constant_error(args_np):
    p = args_np.target
    floor = np.mean(np.minimum(p, 1 - p) ** 2)
    constant = np.mean((p - 0.5) ** 2)
    assert round(floor, 4) == 0.0826
    assert round(constant, 4) == 0.0960


def test_arrays_are_consistent(args_np):
    b = args_np
    np.testing.assert_array_equal(b.data[:, 1], b.texts[b.text_ids[:, 0]])
    np.testing.assert_array_equal(b.data[:, 2], b.texts[b.text_ids[:, 1]])
    np.testing.assert_array_equal(b.data[:, 0], b.prompts[b.groups])
    # Votes table and per-pair counts describe the same votes.
    for j, name in enumerate(["a1", "a2", "equal"]):
        counts = np.bincount(b.votes.pair[b.votes.label == name], minlength=16927)
        np.testing.assert_array_equal(counts, b.vote_counts[:, j])
    assert set(b.votes.stance) == {"same", "opposite", "none", None}
    # Debates are unions of two prompts (the two stances).
    assert all(np.unique(b.debate_ids[b.groups == g]).size == 1 for g in range(32))
    assert b.data[0, 0] == "Ban plastic water bottles? Stance: No, bad for the economy."
    assert b.topic_names[b.groups[0]] == (
        "ban-plastic-water-bottles_no-bad-for-the-economy"
    )


def test_loader_returns_fresh_arrays(args_np):
    b = load_convincing_arguments(as_frame=False)
    b.texts[0] = "changed"
    b.vote_counts[0] = 0
    again = load_convincing_arguments(as_frame=False)
    assert again.texts[0] != "changed" and again.vote_counts[0].sum() > 0


def test_ties_drop(args_np):
    b = load_convincing_arguments(as_frame=False, ties="drop")
    a1, a2, eq = b.vote_counts.T
    decisive = a1 + a2
    np.testing.assert_array_equal(b.n_votes, decisive)
    ok = decisive > 0
    np.testing.assert_allclose(b.target[ok], a1[ok] / decisive[ok])
    # Pairs with only "equal" votes: explicit 0.5, zero weight, rows kept.
    assert (~ok).sum() == 127 and np.all(b.target[~ok] == 0.5)
    assert np.all(eq[~ok] == args_np.n_votes[~ok])
    np.testing.assert_array_equal(b.sample_weight, decisive.astype(float))


@pytest.mark.parametrize("ties", ["mean", None, "HALF"])
def test_bad_ties(ties):
    with pytest.raises(
        ValueError,
        match=r"'ties' parameter of load_convincing_arguments must be a str among "
        r"\{'(half|drop)', '(half|drop)'\}",
    ):
        load_convincing_arguments(as_frame=False, ties=ties)


def test_as_frame(args_df, args_np):
    b = args_df
    assert list(b.data.columns) == ["prompt", "response_a", "response_b"]
    assert b.data.shape == (16927, 3)
    assert {"target", "n_votes", "group", "debate", "topic", "pair_id"} <= set(
        b.frame.columns
    )
    assert list(b.votes.columns) == ["pair", "worker", "label", "stance"]
    assert len(b.votes) == 84445
    np.testing.assert_array_equal(b.data.to_numpy(dtype=object), args_np.data)
    np.testing.assert_array_equal(b.target, args_np.target)


def test_without_pandas(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    b = load_convincing_arguments(as_frame=False)
    assert b.frame is None and b.data.shape == (16927, 3)
    with pytest.raises(ImportError, match="pip install pandas"):
        load_convincing_arguments()
    path = tmp_path / "p.csv"
    path.write_text("prompt,response_a,response_b,label\nq,a,b,1\n")
    assert load_preference_pairs(path, as_frame=False).target.tolist() == [1.0]
    with pytest.raises(ImportError, match="pip install pandas"):
        load_preference_pairs(path)


@needs_source
def test_packed_data_reproduce_the_source(args_np):
    b = args_np
    with gzip.open(SOURCE, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    assert [r["id"] for r in rows] == list(b.pair_ids)
    assert [r["a1"] for r in rows] == list(b.data[:, 1])
    assert [r["a2"] for r in rows] == list(b.data[:, 2])
    assert [r["topic"] for r in rows] == list(b.topic_names[b.groups])
    assert [r["gold"] for r in rows] == list(b.gold)
    flat = [tuple(v) for r in rows for v in r["votes"]]
    packed = list(zip(b.votes.worker, b.votes.label, b.votes.stance, strict=True))
    assert flat == packed
    assert np.repeat(
        np.arange(len(rows)), [len(r["votes"]) for r in rows]
    ).tolist() == (b.votes.pair.tolist())


@needs_source
def test_build_script_is_reproducible():
    spec = importlib.util.spec_from_file_location(
        "build_argument_data", REPO / "scripts" / "build_argument_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = REPO / "pcr_sklearn/datasets/data/UKPConvArg1.json.gz"
    assert module.build(SOURCE) == shipped.read_bytes()
    assert shipped.stat().st_size < 1_000_000
    meta = json.loads(gzip.decompress(shipped.read_bytes()))["source"]
    assert meta["sha256"] == module.SOURCE_SHA256


# --------------------------------------------------------------------------
# soft_labels_from_votes


def test_soft_labels_values():
    np.testing.assert_allclose(
        soft_labels_from_votes([3, 0, 1, 2], [1, 0, 1, 0], [1, 2, 0, 0]),
        [0.7, 0.5, 0.5, 1.0],
    )
    np.testing.assert_allclose(
        soft_labels_from_votes([3, 0, 1, 2], [1, 0, 1, 0], [1, 2, 0, 0], ties="drop"),
        [0.75, 0.5, 0.5, 1.0],
    )
    # Without tie counts both rules agree; fractional (weighted) votes are fine.
    np.testing.assert_allclose(soft_labels_from_votes([1.5, 0], [0.5, 2]), [0.75, 0])


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1, -1], [1, 1]), {}, r"votes_a\[1\] = -1 is negative"),
        (([1, 1], [1, 1], [0, -2]), {}, r"votes_tie\[1\] = -2 is negative"),
        (([1, np.nan], [1, 1]), {}, r"votes_a\[1\] is nan"),
        (([1, 0], [1, 0], [0, 0]), {}, "pair at index 1 has no votes"),
        (([1, 0], [1, 0]), {"ties": "drop"}, "pair at index 1 has no votes"),
        (([1, 2], [1]), {}, "differ in length"),
        (([[1, 2]], [[1, 2]]), {}, "votes_a must be 1-D"),
        ((["x"], [1]), {}, "votes_a must be an array of numeric counts"),
        (([1], [1]), {"ties": "ignore"}, "'ties' parameter of soft_labels_from_votes"),
    ],
)
def test_soft_labels_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        soft_labels_from_votes(*args, **kwargs)


# --------------------------------------------------------------------------
# load_preference_pairs: round trips

ROWS = [
    {"prompt": "Q1", "response_a": "A, with comma", "response_b": "B", "label": 0.25},
    {"prompt": "Q2", "response_a": 'say "hi"', "response_b": "B2", "label": 1},
    {"prompt": "Q1", "response_a": "multi\nline", "response_b": "B3", "label": 0.0},
]


def _write_jsonl(path, rows, opener=open):
    with opener(path, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path


def _write_csv(path, rows, delimiter=",", opener=open):
    import csv

    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _check_round_trip(b):
    np.testing.assert_array_equal(
        b.data, [[r["prompt"], r["response_a"], r["response_b"]] for r in ROWS]
    )
    np.testing.assert_allclose(b.target, [0.25, 1.0, 0.0])
    assert b.groups.tolist() == [0, 1, 0]
    assert list(b.group_names) == ["Q1", "Q2"]
    assert b.sample_weight is None and b.n_votes is None


@pytest.mark.parametrize(
    "name",
    ["p.jsonl", "p.ndjson", "p.json", "p.jsonl.gz", "p.csv", "p.csv.gz", "p.tsv"],
)
def test_round_trip(tmp_path, name):
    path = tmp_path / name
    opener = gzip.open if name.endswith(".gz") else open
    if ".json" in name or ".ndjson" in name:
        _write_jsonl(path, ROWS, opener)
    else:
        _write_csv(path, ROWS, "\t" if ".tsv" in name else ",", opener)
    b = load_preference_pairs(path, as_frame=False)
    _check_round_trip(b)
    assert b.frame is None and b.filename == str(path)


def test_round_trip_json_array_and_frame(tmp_path):
    pytest.importorskip("pandas")
    path = tmp_path / "p.json"
    path.write_text(json.dumps(ROWS, indent=1))
    b = load_preference_pairs(path)
    _check_round_trip(
        load_preference_pairs(path, as_frame=False),
    )
    assert list(b.data.columns) == ["prompt", "response_a", "response_b"]
    assert b.frame["target"].tolist() == [0.25, 1.0, 0.0]
    assert b.lines.tolist() == [1, 2, 3]  # records of the array


def test_line_numbers_skip_blank_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("\n" + json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1]) + "\n")
    assert load_preference_pairs(path, as_frame=False).lines.tolist() == [2, 4]
    path = tmp_path / "p.csv"
    _write_csv(path, ROWS)  # row 3 holds a quoted newline: starts on line 4
    assert load_preference_pairs(path, as_frame=False).lines.tolist() == [2, 3, 4]


def test_votes_weights_groups_ids(tmp_path):
    rows = [
        {"q": "x", "a": "1", "b": "2", "na": 3, "nb": 1, "nt": 1, "w": 2, "g": "u"},
        {"q": "y", "a": "1", "b": "2", "na": 0, "nb": 0, "nt": 2, "w": 0, "g": "v"},
        {"q": "z", "a": "1", "b": "2", "na": 1, "nb": 1, "nt": 0, "w": 1, "g": "u"},
    ]
    path = _write_jsonl(
        tmp_path / "v.jsonl", [dict(r, id=i) for i, r in enumerate(rows)]
    )
    cols = {"prompt_col": "q", "response_a_col": "a", "response_b_col": "b"}
    b = load_preference_pairs(
        path, **cols, votes_cols=("na", "nb", "nt"), as_frame=False
    )
    np.testing.assert_allclose(b.target, [0.7, 0.5, 0.5])
    assert b.n_votes.tolist() == [5, 2, 2] and b.sample_weight.tolist() == [5, 2, 2]
    assert b.vote_counts.dtype.kind == "i"
    b = load_preference_pairs(
        path, **cols, votes_cols=("na", "nb", "nt"), ties="drop", as_frame=False
    )
    np.testing.assert_allclose(b.target, [0.75, 0.5, 0.5])
    assert b.n_votes.tolist() == [4, 0, 2]
    b = load_preference_pairs(
        path,
        **cols,
        votes_cols=("na", "nb", "nt"),
        ties="drop",
        weight_col="w",
        group_col="g",
        id_col="id",
        as_frame=False,
    )
    np.testing.assert_allclose(b.target, [0.75, 0.5, 0.5])
    assert b.sample_weight.tolist() == [2.0, 0.0, 1.0]
    assert b.groups.tolist() == [0, 1, 0] and list(b.pair_ids) == ["0", "1", "2"]


def test_unlabelled_and_no_prompt(tmp_path):
    path = _write_csv(tmp_path / "u.csv", [{"a": "x", "b": "y"}, {"a": "z", "b": "w"}])
    b = load_preference_pairs(
        path,
        prompt_col=None,
        response_a_col="a",
        response_b_col="b",
        label_col=None,
        as_frame=False,
    )
    assert b.target is None and b.data[:, 0].tolist() == ["", ""]
    assert b.groups.tolist() == [0, 1]  # no prompts: each pair its own group


# --------------------------------------------------------------------------
# load_preference_pairs: bad files

HEADER = "prompt,response_a,response_b,label\n"
GOOD = json.dumps(ROWS[0])


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("e.jsonl", "", r"e\.jsonl: no data rows \(the file is empty\)"),
        ("e.jsonl", "\n\n", r"e\.jsonl: no data rows"),
        ("e.csv", "", r"e\.csv: no data rows"),
        ("e.csv", HEADER, r"e\.csv: no data rows"),
        (
            "m.jsonl",
            GOOD + "\n{bad json\n",
            r"m\.jsonl: line 2: invalid JSON \(Expecting property name",
        ),
        ("m.json", "[\n" + GOOD + ",\n{oops]\n", r"m\.json: line 3: invalid JSON"),
        ("l.jsonl", "[1, 2]\n", r"l\.jsonl: record 1: expected a JSON object"),
        ("l.jsonl", GOOD + "\n[1, 2]\n", r"l\.jsonl: line 2: expected a JSON object"),
        (
            "c.csv",
            "prompt,response_a,score\nq,a,1\n",
            r"c\.csv: line 1: missing columns 'response_b', 'label'; columns found: "
            r"'prompt', 'response_a', 'score'$",
        ),
        (
            "c.jsonl",
            GOOD + '\n{"prompt": "q", "response_a": "a", "response_b": "b"}\n',
            r"c\.jsonl: line 2: missing column 'label'; columns found: 'prompt', "
            r"'response_a', 'response_b'$",
        ),
        (
            "r.csv",
            HEADER + "q,a,b,0.5\nq,a,b,1.5\n",
            r"r\.csv: line 3: .*1\.5, outside",
        ),
        ("r.csv", HEADER + "q,a,b,-1\n", r"r\.csv: line 2: column 'label' is -1"),
        ("r.csv", HEADER + "q,a,b,inf\n", r"line 2: column 'label' is inf, outside"),
        ("n.csv", HEADER + "q,a,b,nan\n", r"n\.csv: line 2: column 'label' is NaN"),
        ("n.csv", HEADER + "q,a,b,\n", r"n\.csv: line 2: column 'label' is empty"),
        ("n.csv", HEADER + "q,a,b,high\n", r"line 2: column 'label' is not a number"),
        ("n.csv", HEADER + "q,a,b\n", r"n\.csv: line 2: has 3 fields but the header"),
        (
            "n.jsonl",
            '{"prompt": "q", "response_a": "a", "response_b": "b", "label": NaN}',
            r"n\.jsonl: line 1: column 'label' is NaN",
        ),
        (
            "n.jsonl",
            '{"prompt": "q", "response_a": null, "response_b": "b", "label": 1}',
            r"n\.jsonl: line 1: column 'response_a' is missing a value \(null\)",
        ),
        (
            "n.jsonl",
            '{"prompt": "q", "response_a": ["x"], "response_b": "b", "label": 1}',
            r"line 1: column 'response_a' must be text, got list \['x'\]",
        ),
        (
            "x.txt",
            "whatever",
            r"x\.txt: cannot tell the format from the suffix '\.txt'",
        ),
        ("g.csv.gz", "not gzip", r"g\.csv\.gz: not a readable gzip file"),
    ],
)
def test_bad_files(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        load_preference_pairs(path, as_frame=False)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "7" * 5000


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        # A string cut by a newline: the message once read "starting at at".
        (
            "u.jsonl",
            GOOD + '\n{"prompt": "q\n',
            r"u\.jsonl: line 2: invalid JSON \(Invalid control character at "
            r"column 14\)$",
        ),
        # JSON nested deeper than Python's recursion limit (was RecursionError).
        (
            "d.jsonl",
            GOOD + '\n{"prompt": ' + DEEP + "}\n",
            r"d\.jsonl: line 2: invalid JSON \(nested too deeply\)$",
        ),
        ("d.json", "\n[\n" + DEEP + "]\n", r"d\.json: line 2: invalid JSON \(nested"),
        # An integer past Python's int-conversion limit (was a bare ValueError
        # naming neither file nor line).
        (
            "h.jsonl",
            GOOD + "\n" + GOOD[:-1] + ', "n": ' + HUGE + "}\n",
            r"h\.jsonl: line 2: invalid JSON \(a number with more than \d+ digits\)$",
        ),
        (
            "h.json",
            "[\n" + GOOD + ",\n\n" + GOOD[:-1] + ', "n": ' + HUGE + "}]\n",
            r"h\.json: line 4: invalid JSON \(a number with more than",
        ),
        # A duplicate CSV column (the last one used to win silently).
        (
            "dup.csv",
            "prompt,label,response_a,response_b,label\nq,0.1,a,b,0.9\n",
            r"dup\.csv: line 1: duplicate column 'label'",
        ),
        (
            "dup.tsv",
            "prompt\tresponse_a\t response_a \tresponse_b\tlabel\nq\ta\tx\tb\t1\n",
            r"dup\.tsv: line 1: duplicate column 'response_a'",
        ),
    ],
    ids=[
        "at-at",
        "deep-jsonl",
        "deep-array",
        "huge-int-jsonl",
        "huge-int-array",
        "dup-csv",
        "dup-tsv",
    ],
)
def test_hostile_files_give_one_line_errors(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        load_preference_pairs(path, as_frame=False)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "at at" not in message


@pytest.mark.parametrize(
    ("row", "kwargs", "match"),
    [
        ("q,a,b,1,-2,1", {"weight_col": "w"}, "column 'w' is -2; weights must be"),
        ("q,a,b,1,1,-1", {"votes_cols": ("w", "v")}, "column 'v' is -1; vote counts"),
        ("q,a,b,1,0,0", {"votes_cols": ("w", "v")}, r"no votes \(all of 'w', 'v'"),
        ("q,a,b,1,x,1", {"weight_col": "w"}, "column 'w' is not a number: 'x'"),
    ],
)
def test_bad_weights_and_votes(tmp_path, row, kwargs, match):
    path = tmp_path / "wv.csv"
    path.write_text("prompt,response_a,response_b,label,w,v\n" + row)
    with pytest.raises(ValueError, match=r"wv\.csv: line 2: " + match):
        load_preference_pairs(path, as_frame=False, **kwargs)


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(ValueError, match=r"nope\.jsonl: no such file") as info:
        load_preference_pairs(missing, as_frame=False)
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(ValueError, match="is a directory"):
        load_preference_pairs(tmp_path, as_frame=False)


def test_bad_arguments(tmp_path):
    path = _write_jsonl(tmp_path / "p.jsonl", ROWS)
    with pytest.raises(ValueError, match="'ties' parameter of load_preference_pairs"):
        load_preference_pairs(path, ties="maybe", as_frame=False)
    with pytest.raises(
        ValueError, match="'votes_cols' parameter of load_preference_pairs must be"
    ):
        load_preference_pairs(path, votes_cols="label", as_frame=False)
    with pytest.raises(ValueError, match="votes_cols must be a sequence of 2 or 3"):
        load_preference_pairs(path, votes_cols=["a", "b", "c", "d"], as_frame=False)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"as_frame": "yes"}, "as_frame"),
        ({"prompt_col": 0}, "prompt_col"),
        ({"response_a_col": None}, "response_a_col"),
        ({"label_col": 1}, "label_col"),
        ({"weight_col": ["w"]}, "weight_col"),
        ({"group_col": 3}, "group_col"),
        ({"id_col": 3}, "id_col"),
        ({"ties": None}, "ties"),
    ],
)
def test_load_preference_pairs_parameter_errors(tmp_path, kwargs, name):
    path = _write_jsonl(tmp_path / "p.jsonl", ROWS)
    with pytest.raises(
        InvalidParameterError, match=f"'{name}' parameter of load_preference_pairs"
    ):
        load_preference_pairs(path, **kwargs)


def test_load_preference_pairs_path_must_be_a_path():
    with pytest.raises(InvalidParameterError, match="'path' parameter"):
        load_preference_pairs(42)


def test_loaders_and_vote_rule_parameter_errors():
    with pytest.raises(InvalidParameterError, match="'as_frame' parameter"):
        load_convincing_arguments(as_frame="no")
    with pytest.raises(InvalidParameterError, match="'votes_a' parameter"):
        soft_labels_from_votes(3, [1])
    with pytest.raises(InvalidParameterError, match="'votes_tie' parameter"):
        soft_labels_from_votes([3], [1], "none")


def test_numbers_beyond_float64_give_one_line_errors(tmp_path):
    # Measured before: OverflowError "int too large to convert to float" for
    # a JSON integer of 400 digits, and vote counts of 1e308 cast to int64
    # (garbage counts, an "invalid value in cast" warning) whose total was
    # inf.
    path = tmp_path / "big.jsonl"
    path.write_text(GOOD + "\n" + GOOD[:-1].replace("0.25", str(10**400)) + "}\n")
    with pytest.raises(ValueError, match=r"big\.jsonl: line 2: column 'label' is 1000"):
        load_preference_pairs(path, as_frame=False)
    votes = {"votes_cols": ["va", "vb"], "label_col": None, "as_frame": False}
    rows = [dict(ROWS[0], va=3, vb=1), dict(ROWS[1], va=1e308, vb=1e308)]
    with pytest.raises(
        ValueError,
        match=r"votes\.jsonl: line 2: the vote counts \(1e\+308, 1e\+308\) add up "
        r"beyond the float64 range$",
    ):
        load_preference_pairs(_write_jsonl(tmp_path / "votes.jsonl", rows), **votes)
    rows[1].update(va=1e308, vb=1)  # a total float64 holds: counts stay floats
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        data = load_preference_pairs(_write_jsonl(tmp_path / "v.jsonl", rows), **votes)
    assert data.vote_counts.dtype == np.float64
    np.testing.assert_array_equal(data.vote_counts, [[3, 1], [1e308, 1]])
    np.testing.assert_allclose(data.target, [0.75, 1.0])
    ordinary = load_preference_pairs(
        _write_jsonl(tmp_path / "o.jsonl", rows[:1]), **votes
    )
    assert ordinary.vote_counts.dtype == np.int64  # plain counts stay ints
