"""Smoke test of the calibration benchmark script (``--quick``, ~15 s).

The script is loaded from its file and run in this process on a subsample of
the argument data, so it cannot rot unnoticed; the full run is the benchmark.
Marked ``slow`` (``python -m pytest -m slow`` runs it): it checks the layout of
the benchmark's JSON and the benchmark's own GridSearchCV self-check; the
staged predictions that self-check relies on are tested in test_ensemble.py.
"""

import json

import numpy as np
import pytest

from ._helpers import load_script as _load


@pytest.mark.slow
def test_calibration_benchmark_quick_writes_json(tmp_path, capsys):
    bench = _load("benchmarks/calibration.py", "_bench_calibration")
    bench.main(["--quick", "--n-jobs", "1", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "calibration_quick.json").read_text())
    assert (tmp_path / "calibration_quick.md").read_text().startswith("# ")
    assert "target:" in capsys.readouterr().out

    assert set(result) >= {"meta", "protocols", "targets", "gridsearch_check"}
    meta = result["meta"]
    for key in ("versions", "pcr_sklearn", "sklearn", "cpu_count", "wall_time_s"):
        assert key in meta
    assert meta["quick"] is True
    # The warm-started inner search is GridSearchCV's, score for score.
    assert result["gridsearch_check"]["agree"]

    assert set(result["protocols"]) == {"heldout_pairs", "heldout_debates"}
    leakage = result["protocols"]["heldout_pairs"]["leakage"]
    assert 0 <= leakage["test_pairs_both_texts_in_train"] <= 1
    for protocol, pres in result["protocols"].items():
        res = pres["features"]["tfidf"]
        assert {"floor", "constant", "n_test", "methods"} <= set(res)
        assert set(res["methods"]) == set(bench.METHODS)
        n_folds = 1 if protocol == "heldout_pairs" else 4
        for method, entry in res["methods"].items():
            outputs = entry["outputs"]
            assert set(outputs) == set(bench.METHODS[method][3])
            for v in outputs.values():
                assert {
                    "error",
                    "ratio_to_floor",
                    "k",
                    "kendall_tau_mean",
                    "fit_time_s",
                } <= set(v)
                assert np.isclose(v["ratio_to_floor"], v["error"] / res["floor"])
                assert len(v["k"]) == n_folds
            if method.startswith("pce_"):
                assert len(entry["staged_error"]) == meta["max_k"]
                assert all(k in meta["grid"] for k in outputs[next(iter(outputs))]["k"])

    # tfidf only: held-out pairs, held-out debates, soft votes on both protocols.
    assert len(result["targets"]) == 4
    for target in result["targets"]:
        assert {"target", "measured", "met", "gap"} <= set(target)
