"""Stagewise settings: held-out error against member fits (the Pareto).

Usage::

    python benchmarks/bench_stagewise.py            # full run, ~10 min on 2 cores
    python benchmarks/bench_stagewise.py --quick    # smoke run, under a minute

Every setting of ``PairwiseCalibratedEnsemble(members="stagewise", ...)`` below
is measured on four cases, side by side:

* **argument pairs**: UKPConvArg1 (16,927 pairs), 25% held-out pairs
  (``train_test_split``, random_state 0); features
  ``PairEmbedder("tfidf", prompt_mode="response", n_components=128)`` fitted on
  the training part; ``LinearReward`` members, k=8; held-out error over the
  single-reward floor.
* **argument debates**: ``GroupKFold(4)`` over the debates, features fitted
  per training part; error over floor, averaged over the folds by size.
* **recovery target**: ``benchmarks/recovery.py``'s target run (3 linear
  groups 0.5/0.3/0.2, 50 deterministic annotators, 4,000 pairs, k=3, 10
  seeds): seeds meeting all three criteria and each one.
* **MLP**: ``MLPReward(hidden_layer_sizes=(32,), max_epochs=10)`` members,
  k=8, on 3,000 training pairs of the held-out-pairs split (a member fit
  costs ~10x a linear one here); held-out error over floor and fit time.

Settings: ``objective`` in {weighted, auto} x ``n_backfit`` in {0, 1, 2, 5},
with the backfitting re-fits of before (log loss at the member's own
penalty: ``LinearReward`` stripped of its ``penalty`` tag) and with sharpened
re-fits (sigmoid loss, penalty / 1000; what a learner declaring ``penalty``
gets now), each without a budget; then budgets ``max_fits_per_stage`` of
4-8 member fits per stage (newcomers included, averaged over the stages).
A last table runs the recovery target on 40 seeds for the settings closest
to the choice (and the default with the backfitting order reversed).
"member fits" is ``n_member_fits_`` per k=8 fit on the argument data (mean
over the 5 fits), time the mean CPU seconds per fit (one BLAS thread). MLP
members declare no penalty, so their re-fits are never sharpened.

Prints the table and writes ``benchmarks/results/bench_stagewise.{json,md}``
(``_quick`` suffix with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import sklearn
from joblib import Parallel, delayed
from sklearn.model_selection import GroupKFold, train_test_split
from threadpoolctl import threadpool_limits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "benchmarks")):
    if path not in sys.path:
        sys.path.insert(0, path)

import recovery  # noqa: E402
from recovery import LogRefitLinearReward  # noqa: E402

import pcr_sklearn  # noqa: E402
from pcr_sklearn import PairwiseCalibratedEnsemble  # noqa: E402
from pcr_sklearn.datasets import load_convincing_arguments  # noqa: E402
from pcr_sklearn.metrics import calibration_error, single_reward_floor  # noqa: E402
from pcr_sklearn.rewards import MLPReward  # noqa: E402
from pcr_sklearn.text import PairEmbedder  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")
K = 8


def _settings():
    """(name, family, params) of every measured setting."""
    rows = [("weighted, 0", "no re-fits", {"objective": "weighted", "n_backfit": 0})]
    rows.append(("auto, 0", "no re-fits", {"objective": "auto", "n_backfit": 0}))
    for family, sharp in (("log re-fits (before)", False), ("sharpened", True)):
        for objective in ("weighted", "auto"):
            for n_backfit in (1, 2, 5):
                params = {"objective": objective, "n_backfit": n_backfit}
                if not sharp:
                    params["estimator"] = "log"
                rows.append((f"{objective}, {n_backfit}", family, params))
    rows.append(("weighted, 3", "sharpened", {"objective": "weighted", "n_backfit": 3}))
    for objective, n_backfit, budget in (
        ("weighted", 3, 4),
        ("weighted", 3, 5),
        ("weighted", 3, 6),
        ("weighted", 5, 6),
        ("weighted", 3, 8),
        ("auto", 3, 6),
        ("auto", 5, 8),
    ):
        params = {
            "objective": objective,
            "n_backfit": n_backfit,
            "max_fits_per_stage": budget,
        }
        rows.append((f"{objective}, {n_backfit}, budget {budget}", "budget", params))
    for _, _, params in rows:
        params.setdefault("max_fits_per_stage", None)
    return rows


def _ensemble(params, estimator, random_state):
    params = dict(params)
    if params.pop("estimator", None) == "log":
        estimator = LogRefitLinearReward()
    return PairwiseCalibratedEnsemble(
        estimator,
        n_estimators=K,
        members="stagewise",
        random_state=random_state,
        **params,
    )


# ------------------------------------------------------------------- data


def argument_folds(n_pairs, seed=0):
    """{protocol: [(X_train, y_train, X_test, y_test), ...]} with TF-IDF features."""
    data = load_convincing_arguments(as_frame=False)
    X_text = data.data
    y = np.asarray(data.target, dtype=np.float64)
    debates = np.asarray(data.debate_ids)
    if n_pairs is not None and n_pairs < len(y):
        keep = np.sort(np.random.RandomState(seed).permutation(len(y))[:n_pairs])
        X_text, y, debates = X_text[keep], y[keep], debates[keep]
    index = np.arange(len(y))
    train, test = train_test_split(index, test_size=0.25, random_state=seed)
    splits = {
        "pairs": [(np.sort(train), np.sort(test))],
        "debates": list(GroupKFold(4).split(index, y, debates)),
    }
    folds = {}
    for protocol, parts in splits.items():
        folds[protocol] = []
        for train, test in parts:
            embedder = PairEmbedder(
                "tfidf", prompt_mode="response", n_components=128, random_state=seed
            ).fit(X_text[train])
            folds[protocol].append(
                (
                    embedder.transform(X_text[train]),
                    y[train],
                    embedder.transform(X_text[test]),
                    y[test],
                )
            )
    return folds


# ------------------------------------------------------------------ cases


def argument_case(params, folds):
    """Held-out error / floor at k=8 per protocol, member fits and seconds."""
    out, fits, seconds, cpu = {}, [], [], []
    for protocol, parts in folds.items():
        errors, floors, sizes = [], [], []
        for X_train, y_train, X_test, y_test in parts:
            start, start_cpu = time.perf_counter(), time.process_time()
            est = _ensemble(params, None, 0).fit(X_train, y_train)
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            fits.append(est.n_member_fits_)
            errors.append(calibration_error(y_test, est.predict_proba(X_test)))
            floors.append(single_reward_floor(y_test))
            sizes.append(len(y_test))
        out[protocol] = float(
            np.average(errors, weights=sizes) / np.average(floors, weights=sizes)
        )
    out["member_fits"] = float(np.mean(fits))
    out["seconds"] = float(np.mean(seconds))
    out["cpu_seconds"] = float(np.mean(cpu))
    return out


def mlp_case(params, folds, n_train):
    """MLP members on a subsample of the held-out-pairs split."""
    import torch

    torch.set_num_threads(1)
    X_train, y_train, X_test, y_test = folds["pairs"][0]
    keep = np.random.RandomState(0).permutation(len(y_train))[:n_train]
    mlp = MLPReward(hidden_layer_sizes=(32,), max_epochs=10)
    params = {key: value for key, value in params.items() if key != "estimator"}
    start, start_cpu = time.perf_counter(), time.process_time()
    est = _ensemble(params, mlp, 0).fit(X_train[keep], y_train[keep])
    seconds = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    error = calibration_error(y_test, est.predict_proba(X_test))
    return {
        "error_over_floor": float(error / single_reward_floor(y_test)),
        "member_fits": int(est.n_member_fits_),
        "seconds": seconds,
        "cpu_seconds": cpu,
    }


def _target_seed(sizes, params, seed):
    params = dict(params)
    if params.pop("estimator", None) == "log":
        params["estimator"] = LogRefitLinearReward()
    with threadpool_limits(limits=1):
        return recovery.run_target_seed(sizes, params, seed)


def recovery_case(params, sizes, seeds, n_jobs):
    """Pass counts of recovery.py's target run."""
    runs = Parallel(n_jobs=n_jobs)(
        delayed(_target_seed)(sizes, params, seed) for seed in seeds
    )
    summary = recovery._target_summary(runs)
    return {
        key: summary[key]
        for key in (
            "n_pass_all",
            "n_pass_weights",
            "n_pass_agreement",
            "n_pass_ratio",
            "n_seeds",
            "min_agreement_min",
            "ratio_mean",
        )
    }


def robustness(n_seeds, sizes, n_jobs):
    """All three recovery criteria on more seeds, for the close candidates.

    Includes the default budget with the backfitting order reversed
    (oldest member first), patched in for this run only; it runs in this
    process so the patch applies.
    """
    from pcr_sklearn._stages import StageLoop

    seeds = range(n_seeds)
    candidates = {
        "weighted, 3, budget 6 (default)": {},
        "weighted, 1": {"n_backfit": 1, "max_fits_per_stage": None},
        "weighted, 2": {"n_backfit": 2, "max_fits_per_stage": None},
        "weighted, 3": {"max_fits_per_stage": None},
        "weighted, 3, budget 5": {"max_fits_per_stage": 5},
        "auto, 5, log re-fits (old defaults)": {
            "objective": "auto",
            "n_backfit": 5,
            "max_fits_per_stage": None,
            "estimator": "log",
        },
    }
    out = {
        name: recovery_case(params, sizes, seeds, n_jobs)
        for name, params in candidates.items()
    }
    newest_first = StageLoop._backfit_order
    StageLoop._backfit_order = lambda loop: range(len(loop.members))
    try:
        out["weighted, 3, budget 6, oldest member first"] = recovery_case(
            {}, sizes, seeds, 1
        )
    finally:
        StageLoop._backfit_order = newest_first
    return out


# -------------------------------------------------------------- reporting


def to_markdown(result):
    meta = result["meta"]
    lines = [
        "# Stagewise settings: held-out error against member fits",
        "",
        f"pcr_sklearn {meta['pcr_sklearn']}, scikit-learn {meta['sklearn']}, "
        f"numpy {meta['numpy']}; {meta['cpu_count']} CPUs (shared), one BLAS "
        f"thread; wall time {meta['wall_time_s']:.0f} s. k={K} stagewise "
        "`LinearReward` members unless stated. Errors are held-out error / "
        "single-reward floor (lower is better); 'fits' and 'CPU s' are member "
        "fits and CPU seconds per fit on the argument data (mean of 5 fits; CPU "
        "time, since the wall time of a shared machine follows its load); recovery: "
        f"seeds of {meta['recovery_seeds']} meeting all three criteria "
        "(weights / agreement / ratio); MLP: error over floor, member fits, "
        "CPU seconds.",
        "",
        "| setting | re-fits | fits | CPU s | pairs | debates | recovery all "
        "(w/agr/ratio) | MLP err | MLP fits | MLP CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        arg, rec, mlp = row["argument"], row["recovery"], row["mlp"]
        lines.append(
            f"| {row['name']} | {row['family']} | {arg['member_fits']:.0f} | "
            f"{arg['cpu_seconds']:.2f} | {arg['pairs']:.3f} | {arg['debates']:.3f} | "
            f"{rec['n_pass_all']}/{rec['n_seeds']} ({rec['n_pass_weights']}/"
            f"{rec['n_pass_agreement']}/{rec['n_pass_ratio']}) | "
            f"{mlp['error_over_floor']:.3f} | {mlp['member_fits']} | "
            f"{mlp['cpu_seconds']:.1f} |"
        )
    robust = result["robustness"]
    n = next(iter(robust.values()))["n_seeds"]
    lines += [
        "",
        f"## Recovery target on {n} seeds",
        "",
        "Seeds meeting all three criteria (weights <= 0.05, every member's "
        "agreement >= 95%, error <= 2x oracle), for the settings closest to "
        "the choice; the last row reverses the backfitting order.",
        "",
        "| setting | all | weights | agreement | ratio | worst agreement |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {r['n_pass_all']}/{r['n_seeds']} | {r['n_pass_weights']} | "
        f"{r['n_pass_agreement']} | {r['n_pass_ratio']} | "
        f"{r['min_agreement_min']:.3f} |"
        for name, r in robust.items()
    ]
    lines += ["", "## Notes", ""] + [f"- {note}" for note in result["notes"]]
    return "\n".join(lines) + "\n"


def notes(rows):
    """Plain statements comparing each setting with the old defaults."""
    by_name = {(r["name"], r["family"]): r for r in rows}
    old = by_name[("auto, 5", "log re-fits (before)")]
    old_fits = old["argument"]["member_fits"]
    old_seconds = old["argument"]["cpu_seconds"]
    out = [
        "old stagewise defaults (auto, 5, log re-fits): "
        f"{old['argument']['member_fits']:.0f} fits, pairs "
        f"{old['argument']['pairs']:.3f}, debates {old['argument']['debates']:.3f}, "
        f"recovery {old['recovery']['n_pass_all']}/{old['recovery']['n_seeds']}."
    ]
    for row in rows:
        arg = row["argument"]
        within = all(
            arg[p] <= 1.02 * old["argument"][p] for p in ("pairs", "debates")
        ) and (row["recovery"]["n_pass_all"] >= old["recovery"]["n_pass_all"])
        if within and row is not old:
            out.append(
                f"{row['name']} ({row['family']}): within 2% of the old defaults "
                f"on both protocols and recovery not worse, with "
                f"{arg['member_fits'] / old_fits:.2f}x their member fits and "
                f"{arg['cpu_seconds'] / old_seconds:.2f}x their CPU time."
            )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--n-jobs", type=int, default=2, help="recovery workers")
    parser.add_argument("--out", default=RESULTS, help="output directory")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = _settings()
    if args.quick:
        settings = [
            s for s in settings if s[0] in ("weighted, 0", "weighted, 3, budget 6")
        ]
        sizes, seeds = recovery.SIZES["quick"], range(2)
        n_pairs, n_mlp = 1500, 300
    else:
        sizes, seeds = recovery.SIZES["full"], range(10)
        n_pairs, n_mlp = None, 3000
    with threadpool_limits(limits=1):
        folds = argument_folds(n_pairs)
    print(f"[{time.perf_counter() - started:5.0f}s] features ready", flush=True)
    rows, mlp_cache = [], {}
    for name, family, params in settings:
        with threadpool_limits(limits=1):
            argument = argument_case(params, folds)
            # MLP members declare no penalty: log and sharpened re-fits agree.
            key = json.dumps({k: v for k, v in params.items() if k != "estimator"})
            if key not in mlp_cache:
                mlp_cache[key] = mlp_case(params, folds, n_mlp)
        rec = recovery_case(params, sizes, seeds, args.n_jobs)
        row = {
            "name": name,
            "family": family,
            "params": {k: v for k, v in params.items()},
            "argument": argument,
            "recovery": rec,
            "mlp": mlp_cache[key],
        }
        rows.append(row)
        print(
            f"[{time.perf_counter() - started:5.0f}s] {name:28s} {family:20s} "
            f"fits {argument['member_fits']:5.0f} {argument['cpu_seconds']:5.2f}s "
            "pairs "
            f"{argument['pairs']:.3f} debates {argument['debates']:.3f} recovery "
            f"{rec['n_pass_all']}/{rec['n_seeds']} MLP "
            f"{row['mlp']['error_over_floor']:.3f} ({row['mlp']['member_fits']} fits, "
            f"{row['mlp']['cpu_seconds']:.1f}s)",
            flush=True,
        )
    result = {
        "meta": {
            "pcr_sklearn": pcr_sklearn.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "quick": args.quick,
            "k": K,
            "recovery_seeds": len(seeds),
            "mlp_train_pairs": n_mlp,
            "argument_pairs": n_pairs or 16927,
        },
        "rows": rows,
    }
    result["robustness"] = robustness(4 if args.quick else 40, sizes, args.n_jobs)
    result["notes"] = notes(rows) if not args.quick else []
    result["meta"]["wall_time_s"] = time.perf_counter() - started
    os.makedirs(args.out, exist_ok=True)
    stem = "bench_stagewise" + ("_quick" if args.quick else "")
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(result, f, indent=1)
    markdown = to_markdown(result)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write(markdown)
    print(markdown)
    return result


if __name__ == "__main__":
    main()
