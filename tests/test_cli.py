"""The pcr-sklearn command: demo, fit/evaluate/predict, one-line errors."""

import json
import subprocess
import sys
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
    model = tmp_path / "model.joblib"
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
    assert model.exists()
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
    assert main(["fit", str(data), "--out", str(tmp_path / "m.joblib")]) == 2
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
            "--max-estimators",
            "2",
            "--n-folds",
            "2",
            "--out-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "ensemble, k=2" in result.stdout
    assert "single-reward floor" in result.stdout
    assert "SoftBradleyTerry" in result.stdout


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
    args = ["--n-pairs", "600", "--max-estimators", "2", "--n-folds", "2"]
    assert main(["demo", *args, "--out-dir", str(tmp_path)]) == 0
    assert svg_backend.get_backend() == "svg"
    if pyplot is not None:  # nothing left open in pyplot's global state
        assert pyplot.get_fignums() == open_figures
    out = capsys.readouterr().out
    assert "| ensemble, k=2 " in out and "| constant 0.5 " in out
    assert f"plot: {tmp_path / 'demo.png'}" in out
    assert (tmp_path / "demo.png").read_bytes().startswith(b"\x89PNG")


def test_demo_plot_without_pyplot(tmp_path, svg_backend):
    from pcr_sklearn._demo import plot_demo

    results = {
        name: {"ensemble": [0.2, 0.1, 0.08], "floor": 0.09, "soft_bt": 0.07}
        for name in ("held-out pairs", "held-out debates")
    }
    path = plot_demo(results, 3, tmp_path / "plots")
    assert path == tmp_path / "plots" / "demo.png" and path.stat().st_size > 0
    assert svg_backend.get_backend() == "svg"


def test_demo_without_matplotlib(tmp_path, capsys, monkeypatch):
    from pcr_sklearn._demo import plot_demo

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    results = {"p": {"ensemble": [0.2], "floor": 0.09, "soft_bt": 0.07}}
    assert plot_demo(results, 1, tmp_path) is None
    assert "install matplotlib" in capsys.readouterr().out
    assert not (tmp_path / "demo.png").exists()


def test_readme_quickstart_runs():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    est = namespace["est"]
    assert est.n_estimators_ == 2
    assert namespace["rewards"].shape == (2000, 2)
