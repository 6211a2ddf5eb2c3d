"""Smoke test of the calibration benchmark script (``--quick``, ~60 s).

The script is loaded from its file and run in this process on a subsample of
the argument data, so it cannot rot unnoticed; the full run is the benchmark.
Marked ``slow`` (``python -m pytest -m slow`` runs it): it checks the layout of
the benchmark's JSON and the benchmark's own self-checks (the CV estimator's
staged scores equal GridSearchCV's refits; the one-standard-error choice it
re-reads from the grid search equals the estimator's own).
"""

import json

import numpy as np
import pytest

from ._helpers import load_script as _load


def _check_output(v, res, n_folds):
    assert {
        "error",
        "ratio_to_floor",
        "excess_over_noise",
        "excess_fraction_of_floor_excess",
        "k",
        "params",
        "kendall_tau_mean",
        "member_fits",
        "search_member_fits",
        "fit_time_s",
        "search_time_s",
    } <= set(v)
    assert np.isclose(v["ratio_to_floor"], v["error"] / res["floor"])
    assert np.isclose(v["excess_over_noise"], v["error"] - res["noise_floor"])
    assert np.isclose(
        v["excess_fraction_of_floor_excess"],
        (v["error"] - res["noise_floor"]) / (res["floor"] - res["noise_floor"]),
    )
    assert len(v["k"]) == len(v["member_fits"]) == n_folds
    assert all(isinstance(k, int) and k >= 1 for k in v["k"])


@pytest.mark.slow
def test_calibration_benchmark_quick_writes_json(tmp_path, capsys):
    bench = _load("benchmarks/calibration.py", "_bench_calibration")
    bench.main(["--quick", "--n-jobs", "1", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "calibration_quick.json").read_text())
    assert (tmp_path / "calibration_quick.md").read_text().startswith("# ")
    assert "target:" in capsys.readouterr().out

    assert set(result) >= {
        "meta",
        "protocols",
        "targets",
        "self_checks",
        "new_user_check",
    }
    meta = result["meta"]
    for key in ("versions", "git", "pcr_sklearn", "sklearn", "cpu_count"):
        assert key in meta
    assert meta["wall_time_s"] > 0 and meta["load_average_end"] is not None
    assert meta["quick"] is True
    assert set(meta["inner_cv"]) == {"heldout_pairs", "heldout_debates"}
    assert result["self_checks"]["gridsearch"]["agree"]
    assert result["self_checks"]["1se"]["agree"]

    assert set(result["protocols"]) == {"heldout_pairs", "heldout_debates"}
    leakage = result["protocols"]["heldout_pairs"]["leakage"]
    assert 0 <= leakage["test_pairs_both_texts_in_train"] <= 1
    staged_ks = [str(k) for k in meta["settings"]["staged_ks"]]
    for protocol, pres in result["protocols"].items():
        res = pres["features"]["tfidf"]
        assert {"floor", "noise_floor", "constant", "n_test", "methods"} <= set(res)
        assert 0 < res["noise_floor"] < res["floor"] < res["constant"]
        assert set(res["methods"]) == set(bench.METHODS)
        assert list(res["staged_default"]) == staged_ks
        n_folds = 1 if protocol == "heldout_pairs" else 4
        for method, entry in res["methods"].items():
            assert set(entry["outputs"]) == set(bench.METHODS[method][2])
            for v in entry["outputs"].values():
                _check_output(v, res, n_folds)
        grid = res["methods"]["pce_cv_grid"]["outputs"]["hard"]
        assert all(k in meta["settings"]["grid_ks"] for k in grid["k"])
        assert all(set(p) >= {"n_estimators", "taste"} for p in grid["params"])
        default = res["methods"]["pce_default"]["outputs"]["hard"]
        assert default["member_fits"] == [1] * n_folds

    new_user = result["new_user_check"]["grids"]
    assert set(new_user) == set(meta["settings"]["new_user_ks"])
    for name, entry in new_user.items():
        assert len(entry["k"]) == 4
        assert set(entry["k"]) <= set(meta["settings"]["new_user_ks"][name])

    # tfidf only, two protocols: 10 targets per (protocol, features) column.
    assert len(result["targets"]) == 20
    assert sum(t["primary"] for t in result["targets"]) == 10
    for target in result["targets"]:
        assert {"target", "measured", "met", "gap", "value", "threshold"} <= set(target)
