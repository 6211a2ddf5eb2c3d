"""The text example and the text benchmark's smoke run (small sizes, CPU)."""

import json
import math
import sys

import numpy as np
import pytest

from ._helpers import load_script as _load


@pytest.fixture
def isolated_sys_path(monkeypatch):
    """The benchmark puts the repo root on sys.path; undo that after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield


def test_text_pipeline_example_prints_sane_numbers(capsys):
    pytest.importorskip("torch")
    pytest.importorskip("pandas")
    example = _load("examples/plot_text_pipeline.py", "example_text_pipeline")

    result = example.main(
        ["--n-pairs", "600", "--n-estimators", "2", "--max-epochs", "5"]
    )

    out = capsys.readouterr().out
    assert "450 training pairs, 150 held-out pairs" in out
    assert "single-reward floor" in out and "CE / floor" in out
    assert result["n_train"] == 450 and result["n_test"] == 150
    assert 0 < result["floor"] <= 0.25
    # The constant 0.5 prediction errs by (p - 0.5)**2 <= 0.25 on every pair.
    assert 0 < result["constant"] <= 0.25
    errors = result["errors"]
    assert len(errors) == 2
    assert all(math.isfinite(e) and 0 <= e <= 1 for e in errors)
    # The pipeline's own predict_proba is the last staged prediction.
    assert result["final_error"] == pytest.approx(errors[-1])
    weights = result["weights"]
    assert weights.shape == (2,) and np.all(weights >= 0)
    assert weights.sum() == pytest.approx(1.0)


# ~13 s: smoke run of benchmarks/bench_text.py --quick (its JSON and its own
# exactly-once verdict). The embedding cache's exactly-once property under
# GridSearchCV is tested fast in test_text.py
# (test_grid_search_embeds_each_text_once_with_cache).
@pytest.mark.slow
def test_bench_text_quick_embeds_each_text_once_with_cache(tmp_path, isolated_sys_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    pytest.importorskip("pandas")
    bench = _load("benchmarks/bench_text.py", "bench_text")

    assert bench.main(["--quick", "--out-dir", str(tmp_path)]) == 0

    result = json.loads((tmp_path / "bench_text.quick.json").read_text())
    assert (tmp_path / "bench_text.quick.md").read_text().startswith("# bench_text")
    assert result["exactly_once"] is True
    counts = result["counts"]
    assert {r["cache"] for r in counts} == {True, False}
    for r in counts:
        n = r["n_unique_texts"]
        assert n > 0 and r["grid"] == [1, 2, 4, 8] and r["folds"] == 3
        if r["cache"]:
            # Each unique text went through the backbone exactly once over the
            # 12 fold fits, their scoring and the refit.
            assert r["exactly_once"] and r["max_repeats"] == 1
            assert r["n_embedded"] == r["n_unique_embedded"] == n
            assert r["n_missing"] == r["n_unexpected"] == 0
        else:
            # Without the cache every text is embedded in each candidate's 2
            # training folds and 1 test fold (GroupKFold), plus the refit.
            repeats = len(r["grid"]) * r["folds"] + 1
            assert r["max_repeats"] == repeats
            assert r["n_embedded"] == repeats * n
    stages = result["stages"]
    assert len(stages["stages"]) == result["meta"]["sizes"]["n_stages"]
    for stage in stages["stages"]:
        assert stage["member_fits"] >= 1 and stage["seconds"] >= 0
        assert 0 <= stage["train_error"] <= 1
    assert all(s["peak_rss_mb"] > 0 for s in stages["stages"])
    assert [t["phase"] for t in result["memory"]["tracemalloc"]]
    assert result["memory"]["process_max_rss_mb"] > 0
