"""The pcr-sklearn command: demo, fit/evaluate/predict, one-line errors."""

import json
import pathlib
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pcr_sklearn._cli import main

pytest.importorskip("pandas")


def write_pairs(path, n=120, seed=0, labels=True):
    rng = np.random.RandomState(seed)
    words = ["good", "bad", "clear", "vague", "kind", "rude", "short", "long"]
    rows = []
    for i in range(n):
        a, b = rng.choice(words, 3), rng.choice(words, 3)
        score = lambda t: sum(w in ("good", "clear", "kind") for w in t)  # noqa: E731
        row = {
            "prompt": f"question {i % 10}",
            "response_a": " ".join(a),
            "response_b": " ".join(b),
        }
        if labels:
            row["label"] = float(np.clip(0.5 + 0.2 * (score(a) - score(b)), 0, 1))
        rows.append(row)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_fit_evaluate_predict_round_trip(tmp_path, capsys):
    data = write_pairs(tmp_path / "train.jsonl")
    model = tmp_path / "model.skops"
    assert (
        main(
            [
                "fit",
                str(data),
                "--out",
                str(model),
                "--n-estimators",
                "2",
                "--n-components",
                "8",
            ]
        )
        == 0
    )
    assert model.exists() and zipfile.is_zipfile(model)  # skops, not pickle
    assert "fitted 2 members" in capsys.readouterr().out
    assert (
        main(["evaluate", str(model), str(write_pairs(tmp_path / "t.jsonl", seed=1))])
        == 0
    )
    out = capsys.readouterr().out
    assert "calibration error" in out and "single-reward floor" in out
    unlabelled = write_pairs(tmp_path / "new.jsonl", n=5, labels=False)
    predictions = tmp_path / "p.csv"
    assert (
        main(["predict", str(model), str(unlabelled), "--out", str(predictions)]) == 0
    )
    lines = predictions.read_text().splitlines()
    assert lines[0] == "line,p_a,prefers_a" and len(lines) == 6
    p = np.array([float(line.split(",")[1]) for line in lines[1:]])
    assert np.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"prompt": "q", "response_a": "x", "response_b": "y", "label": 1.5}\n',
            "line 1",
        ),
        ('{"prompt": "q", "response_a": "x", "label": 0.5}\n', "response_b"),
        ("", "empty"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, capsys, content, message):
    data = tmp_path / "bad.jsonl"
    data.write_text(content)
    # Invalid content is exit status 1 (2 is for usage errors).
    assert main(["fit", str(data), "--out", str(tmp_path / "m.skops")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pcr-sklearn: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_model_and_bad_featurizer(tmp_path, capsys):
    data = write_pairs(tmp_path / "d.jsonl", n=20)
    assert main(["evaluate", str(tmp_path / "none.joblib"), str(data)]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert (
        main(
            ["fit", str(data), "--out", str(tmp_path / "m"), "--featurizer", "word2vec"]
        )
        == 2
    )
    assert "--featurizer must be" in capsys.readouterr().err


# ------------------------------------------- model files, paths, one line


def _one_line_error(capsys, *fragments):
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("pcr-sklearn: error:"), err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A small fitted model in the safe format, and data for it."""
    folder = tmp_path_factory.mktemp("cli")
    data = write_pairs(folder / "train.jsonl", n=40)
    model = folder / "model.skops"
    args = ["fit", str(data), "--out", str(model), "--n-estimators", "2"]
    assert main([*args, "--n-components", "4"]) == 0
    return model, data


class Payload:
    """Unpickling this creates a file: proof that code from the file ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (self.target,))


@pytest.mark.parametrize("name", ["model.joblib", "model.pkl", "model.skops"])
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_malicious_pickle_is_refused_without_trust_pickle(
    tmp_path, capsys, fitted, name, command
):
    target = tmp_path / "pwned"
    model = tmp_path / name
    model.write_bytes(pickle.dumps(Payload(target)))
    assert main([command, str(model), str(fitted[1])]) == 2
    _one_line_error(capsys, str(model), "pickle", "arbitrary code", "--trust-pickle")
    assert not target.exists()


def test_trust_pickle_round_trip_and_its_help(tmp_path, capsys, fitted):
    data = fitted[1]
    model = tmp_path / "model.joblib"
    args = ["fit", str(data), "--out", str(model), "--n-components", "4"]
    assert main(args) == 2  # a pickle is written only when asked for
    _one_line_error(capsys, "--out", ".skops", "--trust-pickle")
    assert not model.exists()
    assert main([*args, "--n-estimators", "2", "--trust-pickle"]) == 0
    assert not zipfile.is_zipfile(model)
    capsys.readouterr()
    assert main(["predict", str(model), str(data), "--trust-pickle"]) == 0
    assert capsys.readouterr().out.startswith("line,p_a,prefers_a")
    # The safe format loads with or without the flag.
    assert main(["predict", str(fitted[0]), str(data), "--trust-pickle"]) == 0
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "arbitrary code" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("kind", "status", "fragment"),
    [
        ("directory", 2, "is a directory"),
        ("empty", 1, "empty"),
        ("text", 1, "not a skops model file"),
        ("truncated", 1, "truncated"),
        ("dict-with-trust-pickle", 1, "holds a dict, not a fitted"),
        ("garbage-with-trust-pickle", 1, "cannot be loaded as a pickle"),
        ("untrusted", 1, "untrusted types"),
    ],
)
def test_bad_model_files_give_one_line_errors(
    tmp_path, capsys, fitted, kind, status, fragment
):
    model = tmp_path / "model.skops"
    extra = []
    if kind == "directory":
        model = tmp_path
    elif kind == "empty":
        model.write_bytes(b"")
    elif kind == "text":
        model.write_text("this is not a model\n")
    elif kind == "truncated":
        model.write_bytes(fitted[0].read_bytes()[:2000])
    elif kind == "dict-with-trust-pickle":
        model = tmp_path / "model.pkl"
        model.write_bytes(pickle.dumps({"weights": [1, 2]}))
        extra = ["--trust-pickle"]
    elif kind == "garbage-with-trust-pickle":
        model.write_text("garbage")
        extra = ["--trust-pickle"]
    else:
        from pcr_sklearn.io import save

        save({"call": sys.exit}, model)
    for command in ("predict", "evaluate"):
        assert main([command, str(model), str(fitted[1]), *extra]) == status
        _one_line_error(capsys, str(model), fragment)


def test_fit_out_errors_and_atomic_replacement(tmp_path, capsys, fitted, monkeypatch):
    data = fitted[1]
    fit = ["fit", str(data), "--n-components", "4", "--n-estimators", "2"]
    assert main([*fit, "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "--out", "is a directory")
    assert main([*fit, "--out", str(data / "model.skops")]) == 2
    _one_line_error(capsys, "--out", "is a file, not a folder")

    # A failed write keeps the previous model and leaves no partial file.
    model = tmp_path / "model.skops"
    model.write_bytes(fitted[0].read_bytes())
    import skops.io

    def fail(obj, file, **kwargs):
        pathlib.Path(file).write_bytes(b"PK half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(skops.io, "dump", fail)
    assert main([*fit, "--out", str(model)]) == 2
    _one_line_error(capsys, "--out", "No space left on device")
    assert model.read_bytes() == fitted[0].read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.skops"]


@pytest.mark.parametrize(
    ("featurizer", "fragment"),
    [
        ("transformers:/bad/path", "no such model directory /bad/path"),
        ("sentence-transformers:./missing", "no such model directory"),
        ("transformers", "needs a model"),
    ],
)
def test_bad_featurizer_model_is_a_usage_error(tmp_path, capsys, featurizer, fragment):
    data = write_pairs(tmp_path / "d.jsonl", n=20)
    out = tmp_path / "m.skops"
    assert main(["fit", str(data), "--out", str(out), "--featurizer", featurizer]) == 2
    _one_line_error(capsys, "--featurizer", fragment)
    assert not out.exists()


def test_unloadable_local_featurizer_model(tmp_path, capsys):
    pytest.importorskip("transformers")
    data = write_pairs(tmp_path / "d.jsonl", n=20)
    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    out = tmp_path / "m.skops"
    args = [
        "fit",
        str(data),
        "--out",
        str(out),
        "--featurizer",
        f"transformers:{broken}",
    ]
    assert main(args) == 2
    _one_line_error(capsys, "--featurizer", "cannot load the model")


def test_evaluate_with_hard_labels_reports_no_ratio(tmp_path, capsys, fitted):
    data = tmp_path / "hard.jsonl"
    rows = [json.loads(line) for line in fitted[1].read_text().splitlines()]
    data.write_text(
        "\n".join(json.dumps(dict(r, label=float(r["label"] > 0.5))) for r in rows)
    )
    assert main(["evaluate", str(fitted[0]), str(data)]) == 0
    out = capsys.readouterr().out
    assert "n/a (floor is 0)" in out and "| single-reward floor | 0.0000" in out


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        (
            "deep.jsonl",
            '{"prompt": ' + "[" * 50_000 + "]" * 50_000 + "}\n",
            ["deep.jsonl: line 1:", "nested too deeply"],
        ),
        (
            "huge.jsonl",
            '{"prompt": "q", "response_a": "a", "response_b": "b", "label": 0.5}\n'
            '{"prompt": "q", "response_a": "a", "response_b": "b", "label": '
            + "1" * 5000
            + "}\n",
            ["huge.jsonl: line 2:", "more than"],
        ),
        (
            "dup.csv",
            "prompt,response_a,response_b,label,label\nq,a,b,0.1,0.9\n",
            ["dup.csv", "duplicate column 'label'"],
        ),
        (
            "cut.jsonl",
            '{"prompt": "unterminated\n',
            ["cut.jsonl: line 1: invalid JSON"],
        ),
    ],
    ids=["deep", "huge-int", "duplicate-column", "unterminated"],
)
def test_hostile_data_files_give_one_line_errors(
    tmp_path, capsys, fitted, name, content, fragments
):
    data = tmp_path / name
    data.write_text(content)
    assert main(["fit", str(data), "--out", str(tmp_path / "m.skops")]) == 1
    err = _one_line_error(capsys, *fragments)
    assert "at at" not in err
    assert main(["evaluate", str(fitted[0]), str(data)]) == 1
    _one_line_error(capsys, *fragments)


def test_data_path_errors_are_usage_errors(tmp_path, capsys, fitted):
    assert main(["predict", str(fitted[0]), str(tmp_path)]) == 2
    _one_line_error(capsys, "is a directory")
    assert main(["predict", str(fitted[0]), str(tmp_path / "none.jsonl")]) == 2
    _one_line_error(capsys, "no such file")
    out = tmp_path / "sub"
    out.mkdir()
    assert main(["predict", str(fitted[0]), str(fitted[1]), "--out", str(out)]) == 2
    _one_line_error(capsys, "--out", "is a directory")


def test_demo_quick(tmp_path):
    # Through the real console entry (python -m) to check the packaging too.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pcr_sklearn",
            "demo",
            "--n-pairs",
            "1500",
            "--n-folds",
            "2",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # It says what it measures, against which yardsticks, and what each is for.
    for phrase in (
        "calibration error",
        "single-reward floor",
        "noise floor",
        '"x floor"',
        "hard vote",
        "ensemble, 64 members, hard votes (default)",
        "one soft Bradley-Terry reward, its probability",
        "What each is for",
        "likes best",
        "likes least",
        "new debates (2-fold)",
        "new pairs (25%)",
    ):
        assert phrase in out, phrase
    assert (tmp_path / "staged_error.png").stat().st_size > 0
    assert (tmp_path / "calibration.png").stat().st_size > 0


@pytest.fixture
def svg_backend():
    """matplotlib switched to a non-Agg backend for the test, then restored:
    with the default Agg, a demo that switched to Agg would go unnoticed."""
    matplotlib = pytest.importorskip("matplotlib")
    original = matplotlib.get_backend()
    matplotlib.use("svg")
    yield matplotlib
    matplotlib.use(original)


def test_demo_leaves_the_matplotlib_backend_alone(tmp_path, capsys, svg_backend):
    pyplot = sys.modules.get("matplotlib.pyplot")
    open_figures = pyplot.get_fignums() if pyplot else []
    args = ["--n-pairs", "600", "--n-folds", "2"]
    assert main(["demo", *args, "--out", str(tmp_path)]) == 0
    assert svg_backend.get_backend() == "svg"
    if pyplot is not None:  # nothing left open in pyplot's global state
        assert pyplot.get_fignums() == open_figures
    out = capsys.readouterr().out
    assert "| constant 0.5 " in out and "| noise floor (unreachable) " in out
    assert f"pictures: {(tmp_path / 'staged_error.png').resolve()}" in out
    assert (tmp_path / "staged_error.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "calibration.png").read_bytes().startswith(b"\x89PNG")


def _demo_results():
    rng = np.random.default_rng(0)
    y = rng.uniform(size=40)
    staged = np.clip(y + rng.normal(scale=0.2, size=(3, 40)), 0, 1)
    return {
        name: {
            "y": y,
            "n_votes": np.full(40, 5),
            "staged": staged,
            "soft_bt": np.clip(y + 0.1, 0, 1),
            "soft_bt_error": 0.05,
        }
        for name in ("new debates", "new pairs")
    }


def test_demo_plot_without_pyplot(tmp_path, svg_backend):
    from pcr_sklearn._demo import plot_demo

    paths = plot_demo(_demo_results(), tmp_path / "plots")
    assert paths == [
        tmp_path / "plots" / "staged_error.png",
        tmp_path / "plots" / "calibration.png",
    ]
    assert all(path.stat().st_size > 0 for path in paths)
    assert svg_backend.get_backend() == "svg"


def test_demo_without_matplotlib(tmp_path, capsys, monkeypatch):
    from pcr_sklearn._demo import plot_demo

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert plot_demo(_demo_results(), tmp_path) is None
    assert "install matplotlib" in capsys.readouterr().out
    assert not (tmp_path / "staged_error.png").exists()


def test_readme_quickstart_runs():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    est = namespace["est"]
    assert est.n_estimators_ == 64
    assert est.n_member_fits_ == 1
    assert namespace["rewards"].shape == (2000, 64)
    # The stagewise members find the two groups: weights near 0.6 / 0.4.
    weights = np.sort(namespace["groups"].estimator_weights_)
    np.testing.assert_allclose(weights, [0.4, 0.6], atol=0.05)


def test_control_characters_in_arguments_stay_on_the_error_line(tmp_path, capsys):
    # "\x1e" ends a line for str.splitlines: echoed raw, the error read as
    # two lines (measured before: the last one was "0").
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "m.skops", "d.jsonl", "\x1e0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "pcr-sklearn: error: unrecognized arguments: \\x1e0"
    )
