"""Core costs: the defaults against plain reward fits, CV, predict and memory.

Usage::

    python benchmarks/bench_core.py            # full run, ~5 min on 2 cores
    python benchmarks/bench_core.py --quick    # small smoke run

One run reports, side by side:

* **fits** on 100,000 pairs x 64 features per item (a noisy 4-group linear
  mixture, soft labels from 5 votes), k=8: the time of 8 plain
  ``LinearReward`` fits; the new defaults -- ``PairwiseCalibratedEnsemble()``
  (population members: one member fit, 64 draws) and
  ``PairwiseCalibratedEnsemble(members="stagewise", n_estimators=8)`` with
  the new stagewise defaults -- and their time over the plain fits (target
  <= 4x); the old stagewise defaults (``objective="auto", n_backfit=5``,
  no budget: ``max_fits_per_stage=None``), with today's sharpened re-fits
  and with the log-loss re-fits of before (``LinearReward`` stripped of its
  ``penalty`` tag); ``n_member_fits_`` and the error on 50,000 held-out
  pairs of each;
* **choosing k** on the argument data (TF-IDF features of all 16,927 pairs,
  ``GroupKFold(3)`` by debate): ``PairwiseCalibratedEnsembleCV`` (one fit per
  fold, every prefix scored) against ``GridSearchCV`` over ``n_estimators``,
  for the population default (k in 8..128) and stagewise members (k in 1..8,
  the new stagewise defaults in both): the chosen k and the time ratio
  (target <= 0.4);
* **predict_proba** of 8 stagewise linear members on 1,000,000 pairs against
  the matrix product ``X @ W`` of the same shapes (target <= 1.5x), measured
  by ``benchmarks/bench_predict.py``'s ``worker_predict``;
* **memory**: peak traced memory of the stagewise default fit and the
  process's max RSS.

Everything runs with one BLAS thread: on this shared 2-core machine threaded
BLAS made the in-loop member fits 4-5x slower (oversubscription) while plain
fits barely changed, so threaded ratios measured the load, not the code
(``bench_predict.py`` does the same); the stagewise default's ratio with
every core given to BLAS is reported too, and CPU-time ratios next to the
wall-time ones. Writes
``benchmarks/results/bench_core.json`` and ``bench_core.md`` (``_quick``
suffix with ``--quick``).
"""

import argparse
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV, GroupKFold
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_predict  # noqa: E402
from recovery import LogRefitLinearReward  # noqa: E402

import pcr_sklearn  # noqa: E402
from pcr_sklearn import (  # noqa: E402
    PairwiseCalibratedEnsemble,
    PairwiseCalibratedEnsembleCV,
)
from pcr_sklearn.datasets import load_convincing_arguments  # noqa: E402
from pcr_sklearn.rewards import LinearReward  # noqa: E402
from pcr_sklearn.text import PairEmbedder  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
K = 8


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
    """Best wall time of ``repeats`` calls, and the last result."""
    return timed_cpu(func, repeats)[0::2]


def timed_cpu(func, repeats=1):
    """Best wall time, best CPU time of ``repeats`` calls, and the last result.

    With one BLAS thread the CPU time is what the code costs; the wall time
    adds whatever else the shared machine runs.
    """
    best, best_cpu = np.inf, np.inf
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = func()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, out


# ------------------------------------------------------------------ parts


def fit_costs(n_pairs, n_test, repeats):
    """Plain fits against the defaults, new and old."""
    X_all, y_all = make_data(n_pairs + n_test, 64)
    X, y, X_test, y_test = (
        X_all[:n_pairs],
        y_all[:n_pairs],
        X_all[n_pairs:],
        y_all[n_pairs:],
    )
    d = X.shape[1] // 2

    def plain_fits():
        for _ in range(K):
            LinearReward().fit(X[:, :d], X[:, d:], y)

    plain, plain_cpu, _ = timed_cpu(plain_fits, repeats)
    models = {
        "population default": (PairwiseCalibratedEnsemble(random_state=0), repeats),
        "stagewise, new defaults": (
            PairwiseCalibratedEnsemble(
                members="stagewise", n_estimators=K, random_state=0
            ),
            repeats,
        ),
        "stagewise, old defaults": (_old_defaults(LinearReward()), 1),
        "stagewise, old defaults, log re-fits": (
            _old_defaults(LogRefitLinearReward()),
            1,
        ),
    }
    rows = {}
    for name, (model, n) in models.items():
        seconds, cpu, fitted = timed_cpu(lambda model=model: model.fit(X, y), n)
        rows[name] = {
            "seconds": seconds,
            "over_plain": seconds / plain,
            "cpu_seconds": cpu,
            "cpu_over_plain": cpu / plain_cpu,
            "n_member_fits": int(fitted.n_member_fits_),
            "n_estimators": int(fitted.n_estimators_),
            "heldout_error": float(-fitted.score(X_test, y_test)),
            "params": {
                key: fitted.get_params()[key]
                for key in ("members", "objective", "n_backfit", "max_fits_per_stage")
            },
        }
    stagewise = models["stagewise, new defaults"][0]
    tracemalloc.start()
    stagewise.fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The same ratio with every core to BLAS, for reference.
    with threadpool_limits(limits=os.cpu_count()):
        threaded_plain, _ = timed(plain_fits, repeats)
        threaded, _ = timed(lambda: stagewise.fit(X, y), repeats)
    return {
        "plain_linear_fits_s": plain,
        "plain_linear_fits_cpu_s": plain_cpu,
        "models": rows,
        "fit_peak_traced_mb": peak / 2**20,
        "threaded": {
            "blas_threads": os.cpu_count(),
            "plain_linear_fits_s": threaded_plain,
            "stagewise_new_defaults_s": threaded,
            "over_plain": threaded / threaded_plain,
        },
    }


def _old_defaults(estimator):
    return PairwiseCalibratedEnsemble(
        estimator,
        members="stagewise",
        n_estimators=K,
        objective="auto",
        n_backfit=5,
        max_fits_per_stage=None,
        random_state=0,
    )


def choosing_k(n_pairs):
    """PairwiseCalibratedEnsembleCV against GridSearchCV on the argument data."""
    data = load_convincing_arguments(as_frame=False)
    X_text, y, debates = data.data, np.asarray(data.target, float), data.debate_ids
    if n_pairs is not None:
        keep = np.sort(np.random.RandomState(0).permutation(len(y))[:n_pairs])
        X_text, y, debates = X_text[keep], y[keep], debates[keep]
    X = PairEmbedder(
        "tfidf", prompt_mode="response", n_components=128, random_state=0
    ).fit_transform(X_text)
    new = PairwiseCalibratedEnsemble()
    stagewise_params = {"objective": new.objective, "n_backfit": new.n_backfit}
    cases = {
        "population": ([8, 16, 32, 64, 128], {}),
        "stagewise": ([1, 2, 4, 8], {"members": "stagewise", **stagewise_params}),
    }
    out = {}
    for name, (ks, params) in cases.items():
        cv_time, cv = timed(
            lambda ks=ks, params=params: PairwiseCalibratedEnsembleCV(
                n_estimators=ks, cv=GroupKFold(3), random_state=0, **params
            ).fit(X, y, groups=debates)
        )
        grid_time, grid = timed(
            lambda ks=ks, params=params: GridSearchCV(
                PairwiseCalibratedEnsemble(random_state=0, **params),
                {"n_estimators": ks},
                cv=GroupKFold(3),
            ).fit(X, y, groups=debates)
        )
        out[name] = {
            "ks": ks,
            "cv_k": int(cv.k_),
            "grid_k": int(grid.best_params_["n_estimators"]),
            "same_k": int(cv.k_) == int(grid.best_params_["n_estimators"]),
            "cv_s": cv_time,
            "grid_s": grid_time,
            "time_ratio": cv_time / grid_time,
            "cv_mean_scores": cv.cv_results_["mean_test_score"].tolist(),
            "grid_mean_scores": grid.cv_results_["mean_test_score"].tolist(),
        }
    return {"n_pairs": len(y), **out}


def _stagewise_model(n_features, vote, seed=0):
    """8 stagewise linear members (new defaults) on a small fit."""
    X, y = make_data(2000, n_features, seed=seed)
    return PairwiseCalibratedEnsemble(
        members="stagewise", n_estimators=K, vote=vote, random_state=0
    ).fit(X, y)


def predict_speed(n_pairs, repeats):
    """``bench_predict.worker_predict`` with stagewise members swapped in."""
    # worker_predict builds its model with the module's _model (a bagged
    # ensemble there); the measuring loop is reused as it is.
    original = bench_predict._model
    bench_predict._model = _stagewise_model
    try:
        return bench_predict.worker_predict(n_pairs, 64, repeats)
    finally:
        bench_predict._model = original


# -------------------------------------------------------------- reporting


def table(result):
    """Markdown rows: (measure, value, target)."""
    fits, models = result["fits"], result["fits"]["models"]
    rows = [
        (
            f"{K} plain LinearReward fits ({fits['n_pairs']:,} pairs x 64)",
            f"{fits['plain_linear_fits_s']:.2f} s",
            "",
        )
    ]
    for name, m in models.items():
        rows.append(
            (
                f"{name} ({m['n_estimators']} members)",
                f"{m['seconds']:.2f} s = {m['over_plain']:.2f}x plain (CPU "
                f"{m['cpu_over_plain']:.2f}x); {m['n_member_fits']} member fits; "
                "held-out error "
                f"{m['heldout_error']:.4f}",
                "<= 4x" if "new" in name or "population" in name else "",
            )
        )
    threaded = fits["threaded"]
    rows.append(
        (
            f"stagewise, new defaults, {threaded['blas_threads']} BLAS threads",
            f"{threaded['stagewise_new_defaults_s']:.2f} s vs plain "
            f"{threaded['plain_linear_fits_s']:.2f} s = {threaded['over_plain']:.2f}x",
            "",
        )
    )
    for name, c in result["choosing_k"].items():
        if name == "n_pairs":
            continue
        rows.append(
            (
                f"CV vs GridSearchCV, {name}, k in {c['ks']}",
                f"k {c['cv_k']} vs {c['grid_k']} (same: {c['same_k']}); "
                f"{c['cv_s']:.1f} s vs {c['grid_s']:.1f} s = {c['time_ratio']:.2f}",
                "<= 0.4",
            )
        )
    for vote, p in result["predict"].items():
        rows.append(
            (
                f"predict_proba / X @ W, {result['predict_pairs']:,} pairs, {vote}",
                f"{p['ratio']:.2f} ({p['predict_proba_s']:.3f} s vs "
                f"{p['x_at_w_s']:.3f} s)",
                "<= 1.5",
            )
        )
    rows.append(
        (
            "fit peak traced memory (stagewise)",
            f"{fits['fit_peak_traced_mb']:.0f} MiB",
            "",
        )
    )
    rows.append(("process max RSS", f"{result['max_rss_mb']:.0f} MiB", ""))
    return rows


def to_markdown(result):
    lines = [
        "# Core costs",
        "",
        f"pcr_sklearn {result['versions']['pcr_sklearn']}, numpy "
        f"{result['versions']['numpy']}, scikit-learn "
        f"{result['versions']['scikit-learn']}; {result['cpu_count']} CPUs "
        "(shared), one BLAS thread; times are the best of "
        f"{result['repeats_best_of']} (1 for the old defaults). k={K}.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in table(result)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        n_pairs, n_test, n_argument, n_predict, repeats = 5_000, 2_000, 3_000, 50_000, 1
    else:
        n_pairs, n_test, n_argument, n_predict, repeats = (
            100_000,
            50_000,
            None,
            1_000_000,
            3,
        )
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        fits = fit_costs(n_pairs, n_test, repeats)
        fits["n_pairs"] = n_pairs
        print(f"[{time.perf_counter() - started:4.0f}s] fits done", flush=True)
        choosing = choosing_k(n_argument)
        print(f"[{time.perf_counter() - started:4.0f}s] CV done", flush=True)
        predict = predict_speed(n_predict, repeats)
    result = {
        "fits": fits,
        "choosing_k": choosing,
        "predict": predict,
        "predict_pairs": n_predict,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "repeats_best_of": repeats,
        "blas_threads": 1,
        "versions": {
            "pcr_sklearn": pcr_sklearn.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "python": platform.python_version(),
        },
        "cpu_count": os.cpu_count(),
        "quick": args.quick,
        "run_s": time.perf_counter() - started,
    }
    markdown = to_markdown(result)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "bench_core" + ("_quick" if args.quick else "")
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown)
    print(f"wrote {args.out / stem}.json and .md")
    return result


if __name__ == "__main__":
    main()
