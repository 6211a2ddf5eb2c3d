"""Smoke tests of the recovery example and the recovery benchmark script.

Both are loaded from their files and run in this process (quick sizes), so the
tests stay fast and the scripts cannot rot unnoticed.
"""

import json

import numpy as np
import pytest

from ._helpers import load_script as _load


def test_synthetic_recovery_example_quick(tmp_path, capsys):
    example = _load(
        "examples/plot_synthetic_recovery.py", "_example_synthetic_recovery"
    )
    figure = tmp_path / "recovery.png"
    results = example.main(["--quick", "--plot", str(figure)])

    assert set(results) == set(example.ESTIMATORS)
    for r in results.values():
        assert r["curve"].shape == (8,)
        assert np.all(np.isfinite(r["curve"]))
        report = r["report"]
        assert sorted(report.member_group.tolist()) == [0, 1, 2]
        assert report.oracle_error <= report.floor
    out = capsys.readouterr().out
    assert "matched weight error" in out and "noise term C" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not figure.exists()
    else:
        assert figure.stat().st_size > 0


def test_recovery_benchmark_quick_writes_json(tmp_path, capsys):
    bench = _load("benchmarks/recovery.py", "_bench_recovery")
    bench.main(["--quick", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "recovery_quick.json").read_text())
    assert (tmp_path / "recovery_quick.md").read_text().startswith("# ")

    assert set(result) >= {"meta", "variants", "grid", "target", "verdicts"}
    meta = result["meta"]
    for key in ("pcr_sklearn", "sklearn", "numpy", "cpu_count", "wall_time_s"):
        assert key in meta
    assert meta["quick"] is True
    all_variants = set(bench.VARIANTS) | set(bench.TARGET_EXTRA_VARIANTS)
    assert set(result["variants"]) == all_variants
    assert result["variants"]["paper"]["objective"] == "residual"

    n_k = meta["n_estimators"]
    assert {(row["noise"], row["n_annotators"]) for row in result["grid"]} == {
        ("none", 5),
        ("BT", 5),
    }
    for row in result["grid"]:
        summary = row["summary"]
        for key in ("floor", "oracle", "noise_term", "p_star_error"):
            assert summary[key] >= 0
        assert set(summary["variants"]) == set(bench.VARIANTS)
        for v in summary["variants"].values():
            assert len(v["error_by_k"]) == n_k
            assert 1 <= v["best_k"] <= n_k
            assert v["best_error"] == pytest.approx(min(v["error_by_k"]))
            assert 0 <= v["weight_error_at_G"] <= 2
            assert 0 <= v["min_agreement_at_G"] <= 1

    assert set(result["target"]) == all_variants
    for res in result["target"].values():
        summary = res["summary"]
        assert summary["n_seeds"] == len(res["runs"]) == 1
        run = res["runs"][0]
        assert len(run["agreement_by_group"]) == 3
        assert run["pass_all"] == (
            run["pass_weights"] and run["pass_agreement"] and run["pass_ratio"]
        )
    assert len(result["verdicts"]) == len(bench.VARIANTS) + len(all_variants)
    assert "Issue target" in capsys.readouterr().out
