"""Core speed and memory: FSAM overhead over plain reward fits, predict throughput.

Usage::

    python benchmarks/bench_core.py            # 100,000 pairs x 64 features, k=8
    python benchmarks/bench_core.py --quick    # small smoke run

Compares, side by side in one run, the time of ``PairwiseCalibratedEnsemble``
with ``n_estimators=8`` against 8 plain ``LinearReward`` fits on the same
pairs (the FSAM overhead ratio, target <= 1.3 for plain FSAM: one member fit
per stage, ``objective="weighted", n_backfit=0``), reports
the default settings' time too, ``predict_proba`` throughput on 1,000,000
pairs (target < 2 s) and peak memory. Writes ``benchmarks/results/bench_core.json``.
"""

import argparse
import json
import os
import platform
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
import sklearn

import pcr_sklearn
from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.rewards import LinearReward

RESULTS = Path(__file__).parent / "results"


def make_data(n_pairs, n_features, n_groups=4, seed=0):
    """Pairs judged by a mixture of linear rewards, soft labels from 5 votes."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n_pairs, n_features))
    b = rng.normal(size=(n_pairs, n_features))
    coefs = rng.normal(size=(n_features, n_groups))
    prefers_a = (a - b) @ coefs > 0
    groups = rng.choice(n_groups, size=(n_pairs, 5), p=[0.4, 0.3, 0.2, 0.1])
    y = prefers_a[np.arange(n_pairs)[:, None], groups].mean(axis=1)
    return np.hstack([a, b]), y


def timed(func, repeats=1):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def time_predict(model, n_pairs, n_features, repeats):
    X, _ = make_data(n_pairs, n_features, seed=1)
    model.predict_proba(X[:1000])  # warm caches and BLAS threads
    return timed(lambda: model.predict_proba(X), repeats)[0]


def peak_traced(func):
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_core.json")
    args = parser.parse_args(argv)
    n_pairs, n_predict, repeats = (
        (5_000, 50_000, 1) if args.quick else (100_000, 1_000_000, 3)
    )
    n_features, k = 64, 8
    X, y = make_data(n_pairs, n_features)
    d = n_features

    def plain_fits():
        for _ in range(k):
            LinearReward().fit(X[:, :d], X[:, d:], y)

    def fsam(**params):
        return PairwiseCalibratedEnsemble(n_estimators=k, random_state=0, **params).fit(
            X, y
        )

    plain_time, _ = timed(plain_fits, repeats)
    # Plain FSAM fits one member per stage, so its time over 8 plain fits is
    # the overhead of the ensemble machinery (votes, weights, validation).
    fsam_time, model = timed(lambda: fsam(objective="weighted", n_backfit=0), repeats)
    auto_time, _ = timed(lambda: fsam(n_backfit=0), 1)
    default_time, default_model = timed(fsam, 1)

    predict_time = time_predict(model, n_predict, n_features, repeats)

    fit_peak = peak_traced(lambda: fsam(objective="weighted", n_backfit=0))
    result = {
        "n_pairs": n_pairs,
        "n_features_per_item": n_features,
        "n_estimators": k,
        "plain_linear_fits_s": plain_time,
        "fsam_weighted_n_backfit0_s": fsam_time,
        "fsam_overhead_ratio": fsam_time / plain_time,
        "fsam_auto_n_backfit0_s": auto_time,
        "fsam_auto_n_backfit0_over_plain": auto_time / plain_time,
        "fsam_default_s": default_time,
        "default_settings": {
            key: default_model.get_params()[key] for key in ("objective", "n_backfit")
        },
        "default_over_plain_ratio": default_time / plain_time,
        "predict_pairs": n_predict,
        "predict_proba_s": predict_time,
        "predict_pairs_per_s": n_predict / predict_time,
        "fit_peak_traced_mb": fit_peak / 2**20,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "train_error_weighted_n_backfit0": float(model.train_score_[-1]),
        "train_error_default": float(default_model.train_score_[-1]),
        "repeats_best_of": repeats,
        "versions": {
            "pcr_sklearn": pcr_sklearn.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "python": platform.python_version(),
        },
        "cpu_count": os.cpu_count(),
        "quick": args.quick,
    }
    rows = [
        ("pairs x features/item", f"{n_pairs:,} x {n_features}"),
        (f"{k} plain LinearReward fits", f"{plain_time:.2f} s"),
        (f"FSAM k={k}, weighted, n_backfit=0", f"{fsam_time:.2f} s"),
        ("FSAM overhead ratio (target <= 1.3)", f"{fsam_time / plain_time:.2f}"),
        (
            f"FSAM k={k}, auto (2 member fits/stage), n_backfit=0",
            f"{auto_time:.2f} s ({auto_time / plain_time:.1f}x plain)",
        ),
        (
            f"FSAM k={k}, defaults {result['default_settings']}",
            f"{default_time:.2f} s ({default_time / plain_time:.1f}x plain)",
        ),
        (
            f"predict_proba on {n_predict:,} pairs (target < 2 s)",
            f"{predict_time:.2f} s ({n_predict / predict_time:,.0f} pairs/s)",
        ),
        ("fit peak traced memory", f"{fit_peak / 2**20:.0f} MiB"),
        ("process max RSS", f"{result['max_rss_mb']:.0f} MiB"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
