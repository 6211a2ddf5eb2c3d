"""Prediction speed and memory, and the linear fit path, before and after.

Usage::

    python benchmarks/bench_predict.py            # full run (about 2-3 minutes)
    python benchmarks/bench_predict.py --quick    # small smoke run
    python benchmarks/bench_predict.py --threads 0  # BLAS default threads

Side by side in one run, for the package at ``--before`` (default ``HEAD``,
exported with ``git archive`` into a temporary folder: the repository is
never touched) and the working tree:

* ``predict_proba`` time of 8 ``LinearReward`` members (hard and soft votes)
  on 1,000,000 pairs of 2 x 64 float64 features, as a ratio to the matrix
  product ``X @ W`` of the same shapes (``X`` (1e6, 128), ``W`` (128, 8)),
  timed in the same process (target <= 1.5);
* peak extra memory of ``predict_proba`` (tracemalloc, from after the input
  exists to the end of the call, output included) on 5,000,000 pairs of
  2 x 32 features with hard votes, float64 and float32 input, as a ratio to
  the input's bytes (target <= 0.25), each in a fresh process;
* the fit time of ``PairwiseCalibratedEnsemble(n_estimators=8,
  objective="weighted", n_backfit=2)`` (stagewise members) on 100,000 pairs
  of 2 x 64 features.

Every measurement runs in its own subprocess with the chosen package first
on ``sys.path``, BLAS limited to ``--threads`` threads (default 1: ratios on
a shared machine are noisy with more). Times are the best of ``--repeats``.
Prints a table and writes ``benchmarks/results/bench_predict.json``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
)


# ------------------------------------------------------------------ workers
# Run in a subprocess: ``bench_predict.py --worker NAME --args JSON``.


def _model(n_features, vote, seed=0):
    """8 LinearReward members (a bagged ensemble: the same API before/after)."""
    import numpy as np

    from pcr_sklearn.baselines import BaggedRewardEnsemble

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, 2 * n_features))
    y = rng.uniform(size=2000)
    return BaggedRewardEnsemble(n_estimators=8, vote=vote, random_state=0).fit(X, y)


def worker_predict(n_pairs, n_features, repeats):
    import numpy as np

    rng = np.random.default_rng(1)
    X = rng.normal(size=(n_pairs, 2 * n_features))
    W = rng.normal(size=(2 * n_features, 8))
    out = {}
    for vote in ("hard", "soft"):
        model = _model(n_features, vote)
        model.predict_proba(X[:1000])
        product, predict = [], []
        for _ in range(repeats):  # interleaved: both see the same load
            start = time.perf_counter()
            X @ W
            product.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.predict_proba(X)
            predict.append(time.perf_counter() - start)
        out[vote] = {
            "x_at_w_s": min(product),
            "predict_proba_s": min(predict),
            "ratio": min(predict) / min(product),
        }
    return out


def worker_memory(n_pairs, n_features, dtype):
    import tracemalloc

    import numpy as np

    rng = np.random.default_rng(2)
    X = np.empty((n_pairs, 2 * n_features), dtype=dtype)
    step = 250_000
    for start in range(0, n_pairs, step):
        block = X[start : start + step]
        block[:] = rng.standard_normal(size=block.shape, dtype=np.float32)
    model = _model(n_features, "hard")
    model.predict_proba(X[:1000])
    tracemalloc.start()
    start = time.perf_counter()
    model.predict_proba(X)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "input_mb": X.nbytes / 2**20,
        "peak_extra_mb": peak / 2**20,
        "ratio": peak / X.nbytes,
        "predict_proba_s": seconds,
    }


def worker_fit(n_pairs, n_features, repeats):
    import numpy as np

    from pcr_sklearn import PairwiseCalibratedEnsemble

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, n_pairs, n_features))
    coefs = rng.normal(size=(n_features, 3))
    y = ((a - b) @ coefs > 0) @ [0.5, 0.3, 0.2]
    X = np.hstack([a, b])
    est = PairwiseCalibratedEnsemble(
        n_estimators=8, objective="weighted", n_backfit=2, random_state=0
    )
    if "members" in est.get_params():
        est.set_params(members="stagewise")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        est.fit(X, y)
        times.append(time.perf_counter() - start)
    return {
        "fit_s": min(times),
        "train_error": float(est.train_score_[-1]),
        "weights": [round(float(w), 4) for w in est.estimator_weights_],
    }


WORKERS = {"predict": worker_predict, "memory": worker_memory, "fit": worker_fit}


# ------------------------------------------------------------------- driver


def export_package(ref, folder):
    """``pcr_sklearn`` as of ``ref``, into ``folder`` (read-only git use)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "pcr_sklearn"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_worker(package_root, name, threads, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(package_root))
    if threads:
        env.update({variable: str(threads) for variable in THREAD_VARIABLES})
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "import bench_predict as b, pcr_sklearn; "
        "out = b.WORKERS[sys.argv[2]](**json.loads(sys.argv[3])); "
        "out['package'] = pcr_sklearn.__file__; print(json.dumps(out))"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(Path(__file__).parent),
            name,
            json.dumps(kwargs),
        ],
        cwd=package_root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--before", default="HEAD", help="git ref to compare with")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (0: library default)"
    )
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-fit", action="store_true", help="skip the fit timing")
    args = parser.parse_args()
    sizes = {
        "predict_pairs": 100_000 if args.quick else 1_000_000,
        "predict_features": 64,
        "memory_pairs": 500_000 if args.quick else 5_000_000,
        "memory_features": 32,
        "fit_pairs": 10_000 if args.quick else 100_000,
        "fit_features": 64,
    }
    repeats = args.repeats or (3 if args.quick else 7)
    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"before": export_package(args.before, Path(tmp)), "after": ROOT}
        for label, root in roots.items():
            res = results[label] = {}
            res["predict"] = run_worker(
                root,
                "predict",
                args.threads,
                n_pairs=sizes["predict_pairs"],
                n_features=sizes["predict_features"],
                repeats=repeats,
            )
            for dtype in ("float64", "float32"):
                res[f"memory_{dtype}"] = run_worker(
                    root,
                    "memory",
                    args.threads,
                    n_pairs=sizes["memory_pairs"],
                    n_features=sizes["memory_features"],
                    dtype=dtype,
                )
            if not args.no_fit:
                res["fit"] = run_worker(
                    root,
                    "fit",
                    args.threads,
                    n_pairs=sizes["fit_pairs"],
                    n_features=sizes["fit_features"],
                    repeats=1 if args.quick else 2,
                )
    report(results, args, sizes, repeats, time.perf_counter() - started)


def report(results, args, sizes, repeats, seconds):
    import numpy
    import scipy

    rows = [
        ("predict_proba / X@W, hard", "predict", "hard", "ratio", "{:.2f}"),
        ("predict_proba / X@W, soft", "predict", "soft", "ratio", "{:.2f}"),
        ("predict_proba s, hard", "predict", "hard", "predict_proba_s", "{:.3f}"),
        ("X @ W s", "predict", "hard", "x_at_w_s", "{:.3f}"),
        ("peak extra / input, float64", "memory_float64", None, "ratio", "{:.3f}"),
        ("peak extra / input, float32", "memory_float32", None, "ratio", "{:.3f}"),
        ("peak extra MiB, float64", "memory_float64", None, "peak_extra_mb", "{:.0f}"),
        ("peak extra MiB, float32", "memory_float32", None, "peak_extra_mb", "{:.0f}"),
    ]
    if not args.no_fit:
        rows.append(("ensemble fit s", "fit", None, "fit_s", "{:.2f}"))
    print(f"{'':32} {'before':>10} {'after':>10}")
    for title, section, vote, key, fmt in rows:
        cells = []
        for label in ("before", "after"):
            entry = results[label][section]
            value = (entry[vote] if vote else entry)[key]
            cells.append(fmt.format(value))
        print(f"{title:32} {cells[0]:>10} {cells[1]:>10}")
    if not args.no_fit:
        speedup = results["before"]["fit"]["fit_s"] / results["after"]["fit"]["fit_s"]
        print(f"{'ensemble fit speed-up':32} {speedup:>21.2f}x")
    out = {
        "sizes": sizes,
        "targets": {"predict_ratio": 1.5, "peak_memory_ratio": 0.25},
        "results": results,
        "settings": {
            "before": args.before,
            "blas_threads": args.threads or "library default",
            "repeats_best_of": repeats,
            "members": 8,
            "quick": args.quick,
        },
        "versions": {
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
        },
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "run_s": round(seconds, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "bench_predict.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
