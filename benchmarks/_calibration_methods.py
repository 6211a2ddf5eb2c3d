"""Methods of ``benchmarks/calibration.py``: one task = one method group, one split.

Every task gets the unique-text embeddings of one outer split, fits its
method(s) on the training pairs (model selection by the protocol's inner CV
on the training part only) and returns, per method and output (hard / soft
vote), the held-out probabilities and what the report needs (chosen k and
parameters, member fits, times, Kendall tau between members). The report
pools the held-out predictions (``_calibration_report.py``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import time
import warnings
from types import SimpleNamespace

import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from pcr_sklearn import PairwiseCalibratedEnsemble, PairwiseCalibratedEnsembleCV
from pcr_sklearn.baselines import (
    BaggedRewardEnsemble,
    MajorityVoteBradleyTerry,
    MixtureBradleyTerry,
    SoftBradleyTerry,
)
from pcr_sklearn.metrics import kendall_tau_matrix
from pcr_sklearn.rewards import LinearReward
from pcr_sklearn.text import PairEmbedder

HARD, SOFT, BOTH = ("hard",), ("soft",), ("hard", "soft")

# Method id -> (label, task that computes it, outputs). A task may compute
# several methods (the default ensemble and its pruned copy share one fit;
# the one-standard-error choice re-reads the grid search's cv_results_).
METHODS = {
    "pce_default": ("PCE default (population)", "default", HARD),
    "pce_default_pruned": ("PCE default .prune(beta=10)", "default", HARD),
    "pce_cv": ("PCE-CV, k by inner CV", "cv", HARD),
    "pce_cv_grid": ("PCE-CV, alpha/taste/length grid + k", "grid", HARD),
    "pce_cv_grid_1se": ("PCE-CV grid, one-standard-error k", "grid", HARD),
    "pce_soft": ("PCE vote=soft", "soft", SOFT),
    "pce_soft_cv": ("PCE-CV vote=soft, alpha + k", "soft_cv", SOFT),
    "pce_stagewise": ("PCE stagewise (stagewise defaults), CV k", "stagewise", HARD),
    "pce_paper_fsam": ("PCE paper FSAM (residual, no backfit), CV k", "fsam", HARD),
    "soft_bt": ("SoftBradleyTerry (alpha=1e-3)", "soft_bt", BOTH),
    "soft_bt_cv": ("SoftBradleyTerry, alpha by inner CV", "soft_bt_cv", BOTH),
    "majority_bt": ("MajorityVoteBradleyTerry", "majority_bt", BOTH),
    "bagged": ("BaggedRewardEnsemble(n_estimators=8)", "bagged", BOTH),
    "mixture": ("MixtureBradleyTerry(n_components=4)", "mixture", BOTH),
}
TASKS = tuple(dict.fromkeys(task for _, task, _ in METHODS.values()))
# Rough relative cost (TF-IDF, full data), to start the longest tasks first.
TASK_COST = {
    "grid": 60,
    "new_user": 25,
    "stagewise": 15,
    "check_1se": 60,
    "soft_cv": 8,
    "cv": 5,
    "mixture": 30,
    "check_gridsearch": 3,
    "fsam": 3,
    "bagged": 2,
    "soft_bt_cv": 1,
    "default": 1,
    "soft": 0.5,
    "soft_bt": 0.3,
    "majority_bt": 0.3,
}


def inner_cv(protocol):
    """Inner splitter of a protocol and whether it takes the debates as groups."""
    if protocol == "heldout_pairs":
        return KFold(3, shuffle=True, random_state=0), False
    return GroupKFold(3), True


def run_task(task, payload, cfg):
    """Run one task with one BLAS thread; record its time and warnings."""
    with (
        threadpool_limits(limits=1),
        warnings.catch_warnings(record=True) as caught,
        _watched_member_fits(),
    ):
        warnings.simplefilter("always")
        start = time.perf_counter()
        if task == "new_user":
            out = new_user_task(*payload, cfg)
        else:
            split = _split(*payload, cfg)
            out = TASK_FUNCTIONS[task](split)
        seconds = time.perf_counter() - start
    if cfg.get("log_tasks"):
        where = "text" if task == "new_user" else f"{payload[6]}, {payload[0].shape}"
        print(f"  {task} ({where}): {seconds:.0f} s", flush=True)
    counts = {}
    for w in caught:
        key = f"{w.category.__name__}: {str(w.message)[:100]}"
        counts[key] = counts.get(key, 0) + 1
    return {"result": out, "task_time": seconds, "warnings": counts}


def _split(E, text_ids, y, debates, train, test, protocol, cfg):
    cv, grouped = inner_cv(protocol)
    return SimpleNamespace(
        X_tr=_pairs(E, text_ids[train]),
        y_tr=y[train],
        X_te=_pairs(E, text_ids[test]),
        items=E[np.unique(text_ids[test])],
        cv=cv,
        groups=debates[train] if grouped else None,
        seed=cfg["seed"],
        cfg=cfg,
    )


def _pairs(E, ids):
    return np.hstack([E[ids[:, 0]], E[ids[:, 1]]])


# ------------------------------------------------------------- measurement


_MEMBER_FITS = [0]


@contextlib.contextmanager
def _watched_member_fits():
    """Count reward-learner fits and free each fit's memory right after it.

    The ensembles do not expose a member-fit count, so the benchmark wraps
    ``LinearReward``'s single fitting routine (``fit`` and ``fit_prepared``
    both go through it) for the whole task. Each fit's loss object holds the
    ``(n_pairs, n_features)`` pair differences in a reference cycle (it stores
    its own bound method), which NumPy allocations never prompt the cyclic
    garbage collector to free: MixtureBradleyTerry's ~400 fits reached 10 GB
    per worker. A collection after each fit frees them (~0.4 ms with the
    imported modules frozen out of the collector's view).
    """
    name = next(
        (n for n in ("_fit_prepared", "fit") if n in LinearReward.__dict__), None
    )
    if name is None:  # pragma: no cover - library layout changed
        yield
        return
    original = LinearReward.__dict__[name]

    def watched(self, *args, **kwargs):
        try:
            return original(self, *args, **kwargs)
        finally:
            _MEMBER_FITS[0] += 1
            gc.collect()

    gc.collect()
    gc.freeze()
    setattr(LinearReward, name, watched)
    try:
        yield
    finally:
        setattr(LinearReward, name, original)


def _timed_fit(model, X, y, **kwargs):
    """Fit; return (seconds, member fits)."""
    before = _MEMBER_FITS[0]
    start = time.perf_counter()
    model.fit(X, y, **kwargs)
    seconds = time.perf_counter() - start
    return seconds, getattr(model, "n_member_fits_", _MEMBER_FITS[0] - before)


def mean_tau(model, items, max_members, seed):
    """Mean Kendall tau between members' rewards on ``items`` (None if k=1).

    At most ``max_members`` members, drawn without replacement (seeded).
    """
    rewards = model.rewards(items)
    k = rewards.shape[1]
    if k < 2:
        return None
    if k > max_members:
        cols = np.random.RandomState(seed).choice(k, max_members, replace=False)
        rewards = rewards[:, np.sort(cols)]
    tau = kendall_tau_matrix(rewards)
    off = tau[~np.eye(tau.shape[0], dtype=bool)]
    return float(np.nanmean(off)) if np.isfinite(off).any() else None


def _record(model, s, fit, search=(0.0, 0), params=None, tau=None, **extra):
    """Held-out probabilities of ``model`` and the numbers the report needs."""
    fitted = getattr(model, "best_estimator_", model)
    if tau is None:
        tau = mean_tau(fitted, s.items, s.cfg["tau_members"], s.seed)
    return {
        "proba": model.predict_proba(s.X_te)[:, 1],
        "k": int(fitted.n_estimators_),
        "params": params,
        "tau": tau,
        "fit_time": float(fit[0]),
        "member_fits": fit[1],
        "search_time": float(search[0]),
        "search_member_fits": search[1],
        **extra,
    }


def _plain(params):
    return {
        k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()
    }


# ------------------------------------------------------------------- tasks


def default_task(s):
    """The installed defaults, their pruned copy, and the staged curve."""
    model = PairwiseCalibratedEnsemble(random_state=s.seed)
    fit = _timed_fit(model, s.X_tr, s.y_tr)
    staged = [p[:, 1] for p in model.staged_predict_proba(s.X_te)]
    curve = {k: staged[k - 1] for k in s.cfg["staged_ks"] if k <= len(staged)}
    start = time.perf_counter()
    pruned = model.prune(beta=s.cfg["prune_beta"])
    prune_time = time.perf_counter() - start
    return {
        "pce_default": {"hard": _record(model, s, fit)},
        "pce_default_pruned": {
            "hard": _record(
                pruned,
                s,
                (fit[0] + prune_time, fit[1]),
                pruned_members=pruned.pruned_members_.tolist(),
            )
        },
        "_staged": curve,
    }


@contextlib.contextmanager
def _fit_calls(cls):
    """Record (seconds, member fits) of every ``cls.fit`` call in the block."""
    calls, original = [], cls.__dict__["fit"]

    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        before, start = _MEMBER_FITS[0], time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            calls.append((time.perf_counter() - start, _MEMBER_FITS[0] - before))

    cls.fit = fit
    try:
        yield calls
    finally:
        cls.fit = original


def _cv_fit(cv_est, s, cls=PairwiseCalibratedEnsemble):
    """Fit a CV estimator: (its refit's seconds and member fits, the whole fit's).

    The refit at the chosen parameters is the last ``cls.fit`` call of the
    search (the fold fits come first).
    """
    with _fit_calls(cls) as calls:
        search = _timed_fit(cv_est, s.X_tr, s.y_tr, groups=s.groups)
    return calls[-1], search


def _cv_record(cv_est, s):
    fit, search = _cv_fit(cv_est, s)
    return _record(
        cv_est,
        s,
        fit,
        search,
        params=_plain(cv_est.best_params_),
        best_score=float(cv_est.best_score_),
    )


def cv_task(s):
    est = PairwiseCalibratedEnsembleCV(cv=s.cv, random_state=s.seed)
    return {"pce_cv": {"hard": _cv_record(est, s)}}


def one_standard_error_params(cv_results):
    """The one-standard-error choice, re-read from a search's ``cv_results_``.

    The rule of ``PairwiseCalibratedEnsembleCV(k_selection="one_standard_error")``:
    among the candidates of the best grid point, the smallest ``k`` whose mean
    score is within one standard error (of the per-fold difference to the
    best candidate) of the best.
    """
    mean = np.asarray(cv_results["mean_test_score"], dtype=float)
    params = cv_results["params"]
    n_folds = sum(1 for key in cv_results if key.startswith("split"))
    split = np.column_stack(
        [cv_results[f"split{f}_test_score"] for f in range(n_folds)]
    )
    best = int(np.nanargmax(mean))

    def point(i):
        return {k: v for k, v in params[i].items() if k != "n_estimators"}

    same = [i for i in range(len(params)) if point(i) == point(best)]
    diff = split[same] - split[best]
    se = np.nanstd(diff, axis=1, ddof=1) / np.sqrt(n_folds)
    close = [i for i, d, e in zip(same, np.nanmean(diff, axis=1), se) if d >= -e]
    chosen = min(close, key=lambda i: params[i]["n_estimators"])
    return _plain(params[chosen])


def grid_task(s):
    """The grid search; its one-standard-error choice from the same search."""
    cfg = s.cfg
    est = PairwiseCalibratedEnsembleCV(
        LinearReward(),  # explicit: estimator=None rejects estimator__alpha
        cv=s.cv,
        param_grid=cfg["grid"],
        n_estimators=list(cfg["grid_ks"]),
        random_state=s.seed,
    )
    best = _cv_record(est, s)
    params = one_standard_error_params(est.cv_results_)
    model = PairwiseCalibratedEnsemble(LinearReward(), random_state=s.seed)
    model.set_params(**params)
    fit = _timed_fit(model, s.X_tr, s.y_tr)
    search = (best["search_time"], best["search_member_fits"])
    one_se = _record(model, s, fit, search, params=params)
    return {"pce_cv_grid": {"hard": best}, "pce_cv_grid_1se": {"hard": one_se}}


def soft_task(s):
    model = PairwiseCalibratedEnsemble(vote="soft", random_state=s.seed)
    return {"pce_soft": {"soft": _record(model, s, _timed_fit(model, s.X_tr, s.y_tr))}}


def soft_cv_task(s):
    est = PairwiseCalibratedEnsembleCV(
        LinearReward(),
        vote="soft",
        cv=s.cv,
        param_grid={"estimator__alpha": list(s.cfg["alphas"])},
        n_estimators=list(s.cfg["soft_ks"]),
        random_state=s.seed,
    )
    return {"pce_soft_cv": {"soft": _cv_record(est, s)}}


def _stagewise(s, **params):
    return PairwiseCalibratedEnsembleCV(
        members="stagewise",
        n_estimators=list(s.cfg["stagewise_ks"]),
        cv=s.cv,
        random_state=s.seed,
        **params,
    )


def stagewise_task(s):
    return {"pce_stagewise": {"hard": _cv_record(_stagewise(s), s)}}


def fsam_task(s):
    est = _stagewise(s, objective="residual", n_backfit=0)
    return {"pce_paper_fsam": {"hard": _cv_record(est, s)}}


def _both_votes(model, s, fit, search=(0.0, 0), params=None):
    """Hard and soft reading of one fitted baseline."""
    fitted = getattr(model, "best_estimator_", model)
    tau = mean_tau(fitted, s.items, s.cfg["tau_members"], s.seed)
    extra = {"n_iter": int(fitted.n_iter_)} if hasattr(fitted, "n_iter_") else {}
    out = {}
    for vote in BOTH:
        fitted.set_params(vote=vote)
        out[vote] = _record(fitted, s, fit, search, params=params, tau=tau, **extra)
    return out


BASELINES = {
    "soft_bt": lambda seed: SoftBradleyTerry(random_state=seed),
    "majority_bt": lambda seed: MajorityVoteBradleyTerry(random_state=seed),
    "bagged": lambda seed: BaggedRewardEnsemble(n_estimators=8, random_state=seed),
    "mixture": lambda seed: MixtureBradleyTerry(n_components=4, random_state=seed),
}


def _baseline_task(method):
    def task(s):
        model = BASELINES[method](s.seed)
        return {method: _both_votes(model, s, _timed_fit(model, s.X_tr, s.y_tr))}

    return task


def soft_bt_cv_task(s):
    search = GridSearchCV(
        SoftBradleyTerry(LinearReward(), random_state=s.seed),
        {"estimator__alpha": list(s.cfg["alphas"])},
        cv=s.cv,
    )
    fit, searched = _cv_fit(search, s, SoftBradleyTerry)
    params = _plain(search.best_params_)
    return {"soft_bt_cv": _both_votes(search, s, fit, searched, params=params)}


def new_user_task(X_text, y, debates, train, test, ks, cfg):
    """What a new user would run: GridSearchCV over a text pipeline's k."""
    pipe = make_pipeline(
        PairEmbedder(prompt_mode="response", random_state=0),
        PairwiseCalibratedEnsemble(random_state=0),
    )
    step = pipe.steps[-1][0]
    search = GridSearchCV(pipe, {f"{step}__n_estimators": list(ks)}, cv=GroupKFold(3))
    start = time.perf_counter()
    search.fit(X_text[train], y[train], groups=debates[train])
    seconds = time.perf_counter() - start
    return {
        "proba": search.predict_proba(X_text[test])[:, 1],
        "k": int(search.best_params_[f"{step}__n_estimators"]),
        "inner_scores": dict(
            zip(map(int, ks), search.cv_results_["mean_test_score"].tolist())
        ),
        "time": seconds,
    }


# ------------------------------------------------------------- self-checks


def check_gridsearch_task(s):
    """PairwiseCalibratedEnsembleCV's staged scores vs GridSearchCV's refits."""
    ks = list(s.cfg["check_ks"])
    ours = PairwiseCalibratedEnsembleCV(n_estimators=ks, cv=s.cv, random_state=s.seed)
    ours.fit(s.X_tr, s.y_tr, groups=s.groups)
    start = time.perf_counter()
    theirs = GridSearchCV(
        PairwiseCalibratedEnsemble(random_state=s.seed),
        {"n_estimators": ks},
        cv=s.cv,
        refit=False,
    ).fit(s.X_tr, s.y_tr, groups=s.groups)
    seconds = time.perf_counter() - start
    a = theirs.cv_results_["mean_test_score"]
    b = ours.cv_results_["mean_test_score"]
    diff = float(np.max(np.abs(a - b)))
    same = bool(np.argmax(a) == np.argmax(b))
    return {
        "method": "pce_cv (population members)",
        "ks": ks,
        "gridsearch_mean_scores": a.tolist(),
        "cv_estimator_mean_scores": b.tolist(),
        "max_abs_difference": diff,
        "same_choice": same,
        "gridsearch_time_s": seconds,
        "agree": bool(diff < 1e-9 and same),
    }


def check_1se_task(s):
    """The re-read one-standard-error choice vs the estimator's own."""
    cfg = s.cfg
    est = PairwiseCalibratedEnsembleCV(
        LinearReward(),
        cv=s.cv,
        param_grid=cfg["grid"],
        n_estimators=list(cfg["grid_ks"]),
        k_selection="one_standard_error",
        random_state=s.seed,
    ).fit(s.X_tr, s.y_tr, groups=s.groups)
    ours = one_standard_error_params(est.cv_results_)
    theirs = _plain(est.best_params_)
    return {"estimator": theirs, "re_read": ours, "agree": ours == theirs}


TASK_FUNCTIONS = {
    "default": default_task,
    "cv": cv_task,
    "grid": grid_task,
    "soft": soft_task,
    "soft_cv": soft_cv_task,
    "stagewise": stagewise_task,
    "fsam": fsam_task,
    "soft_bt_cv": soft_bt_cv_task,
    "check_gridsearch": check_gridsearch_task,
    "check_1se": check_1se_task,
    **{method: _baseline_task(method) for method in BASELINES},
}
