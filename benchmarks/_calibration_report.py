"""Pooling, targets and Markdown of ``benchmarks/calibration.py``."""

from __future__ import annotations

import numpy as np
from _calibration_methods import METHODS

from pcr_sklearn import metrics
from pcr_sklearn.metrics import calibration_error, single_reward_floor

PROTOCOL_LABELS = {
    "heldout_pairs": "25% held-out pairs (random split, seed 0)",
    "heldout_debates": "held-out debates (GroupKFold(4) over 16 debates, pooled)",
}
INNER_CV_LABELS = {
    "heldout_pairs": "KFold(3, shuffle=True, random_state=0) over training pairs",
    "heldout_debates": "GroupKFold(3) over training debates",
}
FEATURE_LABELS = {
    "tfidf": "TF-IDF+SVD(128), fitted on each split's training texts",
    "minilm": "all-MiniLM-L6-v2 sentence embeddings (384, frozen)",
}
SHORT = {"heldout_pairs": "pairs", "heldout_debates": "debates"}
# Issue targets: ratio to the floor of the default hard-vote pipeline.
RATIO_TARGETS = {
    ("heldout_debates", "tfidf"): 0.92,
    ("heldout_debates", "minilm"): 0.90,
    ("heldout_pairs", "tfidf"): 0.72,
    ("heldout_pairs", "minilm"): 0.65,
}
BT_FACTOR = 1.10  # hard-vote ensemble error <= 1.10 x SoftBT probability error
NOISE_FLOOR_SOURCE = (
    "pcr_sklearn.metrics.noise_floor"
    if hasattr(metrics, "noise_floor")
    else "inline mean p(1-p)/(n-1)"
)


def _error(y, proba):
    return float(calibration_error(y, proba))


def noise_floor(y, n_votes):
    """Mean of ``p(1-p)/(n-1)`` over pairs with ``n >= 2`` votes."""
    if hasattr(metrics, "noise_floor"):
        return float(metrics.noise_floor(y, n_votes))
    # The library predates metrics.noise_floor: the same estimate, inline.
    n = np.asarray(n_votes, dtype=float)
    keep = n >= 2
    return float(np.mean(y[keep] * (1 - y[keep]) / (n[keep] - 1)))


def _stats(y, proba, floor, noise):
    err = _error(y, proba)
    return {
        "error": err,
        "ratio_to_floor": err / floor,
        "excess_over_noise": err - noise,
        "excess_fraction_of_floor_excess": (err - noise) / (floor - noise),
    }


def _output_entry(parts, per_fold, y, y_pool, floor, noise):
    proba = np.concatenate([p["proba"] for p in parts])
    taus = [p["tau"] for p in parts if p["tau"] is not None]
    return {
        **_stats(y_pool, proba, floor, noise),
        "fold_errors": [
            _error(y[r["test"]], p["proba"]) for r, p in zip(per_fold, parts)
        ],
        "k": [p["k"] for p in parts],
        "params": [p["params"] for p in parts],
        "kendall_tau_mean": float(np.mean(taus)) if taus else None,
        "member_fits": [p["member_fits"] for p in parts],
        "search_member_fits": [p["search_member_fits"] for p in parts],
        "fit_time_s": float(sum(p["fit_time"] for p in parts)),
        "search_time_s": float(sum(p["search_time"] for p in parts)),
        **(
            {"best_inner_score": [p["best_score"] for p in parts]}
            if "best_score" in parts[0]
            else {}
        ),
        **({"n_iter": [p["n_iter"] for p in parts]} if "n_iter" in parts[0] else {}),
        **(
            {"pruned_members": [p["pruned_members"] for p in parts]}
            if "pruned_members" in parts[0]
            else {}
        ),
    }


def aggregate(per_fold, y, n_votes, folds):
    """Pool one (protocol, features) column's held-out predictions.

    ``per_fold[f]`` merges the results of every task on outer split ``f``
    (keys: method ids, ``"_staged"``, ``"test"``, ``"task_time"``).
    """
    tests = np.concatenate([test for _, test in folds])
    y_pool = y[tests]
    floor = single_reward_floor(y_pool)
    noise = noise_floor(y_pool, n_votes[tests])
    methods = {}
    for method, (label, _, outputs) in METHODS.items():
        entry = {"label": label, "outputs": {}}
        for output in outputs:
            parts = [r[method][output] for r in per_fold]
            entry["outputs"][output] = _output_entry(
                parts, per_fold, y, y_pool, floor, noise
            )
        methods[method] = entry
    staged = {}
    for k in per_fold[0]["_staged"]:
        proba = np.concatenate([r["_staged"][k] for r in per_fold])
        staged[str(k)] = _stats(y_pool, proba, floor, noise)
    return {
        "n_test": int(len(tests)),
        "floor": floor,
        "noise_floor": noise,
        "noise_floor_ratio": noise / floor,
        "constant": _error(y_pool, np.full(len(y_pool), 0.5)),
        "methods": methods,
        "staged_default": staged,
        "task_time_s": {
            task: float(sum(r["task_time"].get(task, 0.0) for r in per_fold))
            for task in per_fold[0]["task_time"]
        },
    }


def aggregate_new_user(per_fold, y, n_votes, folds):
    """Pool the new-user GridSearchCV runs of one k grid."""
    tests = np.concatenate([test for _, test in folds])
    y_pool = y[tests]
    floor = single_reward_floor(y_pool)
    noise = noise_floor(y_pool, n_votes[tests])
    proba = np.concatenate([r["proba"] for r in per_fold])
    return {
        **_stats(y_pool, proba, floor, noise),
        "k": [r["k"] for r in per_fold],
        "inner_mean_scores": [r["inner_scores"] for r in per_fold],
        "fold_errors": [
            _error(y[test], r["proba"]) for (_, test), r in zip(folds, per_fold)
        ],
        "time_s": float(sum(r["time"] for r in per_fold)),
    }


# ------------------------------------------------------------------ targets


def _target(text, where, method, value, threshold, primary, unit):
    # A float tie counts as met: pce_soft with taste 0 is SoftBradleyTerry's
    # reward averaged k times, equal up to rounding (1e-9 relative).
    met = bool(value <= threshold * (1 + 1e-9))
    return {
        "target": text,
        "protocol": where[0],
        "features": where[1],
        "method": method,
        "primary": primary,
        "value": value,
        "threshold": threshold,
        "measured": f"{value:.4f}{unit} (threshold {threshold:.2f}{unit})",
        "met": met,
        "gap": f"{'met' if met else 'missed'} by {abs(threshold - value):.4f}{unit}",
    }


def _column_targets(where, m, limit):
    """Targets of one (protocol, features) column; ``m`` its methods."""
    name = f"{SHORT[where[0]]}, {where[1]}"
    out = []
    for method, primary in (
        ("pce_default", True),
        ("pce_cv", False),
        ("pce_cv_grid", False),
    ):
        ratio = m[method]["outputs"]["hard"]["ratio_to_floor"]
        text = f"{name}: {method} hard error <= {limit} x floor"
        out.append(_target(text, where, method, ratio, limit, primary, " x floor"))
    checks = [
        ("pce_default", "hard", BT_FACTOR, True),
        ("pce_cv", "hard", BT_FACTOR, False),
        # Like for like: member regularisation chosen by CV, as soft_bt_cv's.
        ("pce_cv_grid", "hard", BT_FACTOR, False),
        ("pce_soft", "soft", 1.0, True),
        ("pce_soft_cv", "soft", 1.0, False),
    ]
    for method, vote, factor, primary in checks:
        for bt in ("soft_bt", "soft_bt_cv"):
            value = (
                m[method]["outputs"][vote]["error"] / m[bt]["outputs"]["soft"]["error"]
            )
            bound = f"{factor} x {bt}" if factor != 1.0 else bt
            text = f"{name}: {method} {vote} error <= {bound} probability error"
            out.append(_target(text, where, method, value, factor, primary, f" x {bt}"))
    return out


def targets(protocols):
    """The issue's targets, measured; primary = the default pipeline's."""
    out = []
    for where, limit in RATIO_TARGETS.items():
        res = protocols.get(where[0], {}).get("features", {}).get(where[1])
        if res is not None and "methods" in res:
            out += _column_targets(where, res["methods"], limit)
    return out


def target_lines(result):
    return [
        f"target: {t['target']} -- measured {t['measured']} -- "
        f"{'MET' if t['met'] else 'MISSED'} ({t['gap']})"
        + ("" if t["primary"] else " [also reported]")
        for t in result["targets"]
    ]


# ----------------------------------------------------------------- markdown


def _fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def _columns(result):
    return [
        (protocol, feat, res)
        for protocol, pres in result["protocols"].items()
        for feat, res in pres["features"].items()
        if "methods" in res
    ]


def _header(result):
    meta = result["meta"]
    git = meta["git"]
    changed = git["pcr_sklearn_changed"]
    s = meta["settings"]
    return [
        "# Calibration benchmark: argument data (UKPConvArg1), new prompts",
        "",
        f"`python benchmarks/calibration.py{''.join(' ' + a for a in meta['argv'])}`"
        f" -- {meta['n_pairs']:,} pairs, {meta['n_texts']:,} texts; wall time "
        f"{meta['wall_time_s']:.0f} s on {meta['cpu_count']} CPUs, "
        f"{meta['n_jobs']} worker(s); load average {meta['load_average_start']} "
        f"at start, {meta['load_average_end']} at end.",
        "",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + f"; git {str(git['commit'])[:10]}"
        + (
            f" + uncommitted changes in {len(changed)} pcr_sklearn files (source "
            f"sha256 {git['pcr_sklearn_source_sha256'][:12]})"
            if changed
            else ""
        )
        + (
            " (edited during the run, after the workers imported the library"
            " unless within its first minute: "
            + ", ".join(meta["pcr_sklearn_files_changed_during_run"])
            + ")"
            if meta.get("pcr_sklearn_files_changed_during_run")
            else ""
        )
        + "; PairwiseCalibratedEnsemble defaults: "
        + ", ".join(f"{k}={v}" for k, v in meta["pce_defaults"].items())
        + ".",
        "",
        "Error = unweighted mean of (prediction - soft label)^2 over the pooled "
        "held-out pairs; x floor = ratio to the single-reward floor of the same "
        "pairs; noise = mean p(1-p)/(n-1) over them (n = votes; "
        f"{meta['noise_floor_source']}); excess = (error - noise) / (floor - "
        "noise). Inner model selection on the training part only: "
        + "; ".join(f"{SHORT[p]}: {d}" for p, d in meta["inner_cv"].items())
        + f". Grid (pce_cv_grid): {s['grid']}, k in {s['grid_ks']}; "
        f"alpha grid (soft CV methods): {s['alphas']}; pce_soft_cv k in "
        f"{s['soft_ks']}; stagewise k in {s['stagewise_ks']}; pce_cv k in 1..128. "
        "pce_cv_grid_1se re-reads pce_cv_grid's cv_results_ with the "
        "estimator's one-standard-error rule (same search, so same search time).",
        "",
    ]


def _summary(result):
    cols = _columns(result)
    if not cols:
        return []
    lines = [
        "## Summary: held-out error / single-reward floor",
        "",
        "| method | vote | "
        + " | ".join(f"{SHORT[p]}, {f}" for p, f, _ in cols)
        + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for method, entry in cols[0][2]["methods"].items():
        for output in entry["outputs"]:
            cells = [
                f"{res['methods'][method]['outputs'][output]['ratio_to_floor']:.3f}"
                for _, _, res in cols
            ]
            lines.append(f"| {entry['label']} | {output} | " + " | ".join(cells) + " |")
    new_user = result.get("new_user_check", {})
    for name, nres in new_user.get("grids", {}).items():
        cells = [
            f"{nres['ratio_to_floor']:.3f}"
            if (p, f) == ("heldout_debates", "tfidf")
            else "-"
            for p, f, _ in cols
        ]
        lines.append(
            f"| new user: GridSearchCV pipeline, k in {name} | hard | "
            + " | ".join(cells)
            + " |"
        )
    rows = [
        ("constant 0.5", lambda r: r["constant"] / r["floor"]),
        ("noise floor (x floor)", lambda r: r["noise_floor_ratio"]),
        ("(single-reward floor, absolute)", lambda r: r["floor"]),
        ("(noise floor, absolute)", lambda r: r["noise_floor"]),
    ]
    for name, value in rows:
        cells = " | ".join(f"{value(res):.4f}" for _, _, res in cols)
        lines.append(f"| {name} | - | {cells} |")
    return lines + [""]


def _target_table(result):
    lines = [
        "## Targets",
        "",
        "Primary: the default pipeline (pce_default; pce_soft for soft votes). "
        "Also reported: pce_cv, pce_cv_grid (alpha chosen by CV, like "
        "soft_bt_cv) and pce_soft_cv. Never loosened.",
        "",
        "| target | primary | measured | result | gap |",
        "|---|---|---|---|---|",
    ]
    for t in result["targets"]:
        lines.append(
            f"| {t['target']} | {'yes' if t['primary'] else 'no'} | {t['measured']}"
            f" | {'MET' if t['met'] else 'MISSED'} | {t['gap']} |"
        )
    return lines + [""]


def _new_user(result):
    check = result.get("new_user_check")
    if not check:
        return []
    lines = [
        "## New-user check (held-out debates, TF-IDF, raw text)",
        "",
        f"`{check['code']}` per outer split; held-out error pooled.",
        "",
        "| k grid | chosen k per split | error | x floor | excess | time s |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in check["grids"].items():
        lines.append(
            f"| {name} | {', '.join(map(str, r['k']))} | {r['error']:.4f} | "
            f"{r['ratio_to_floor']:.3f} | "
            f"{r['excess_fraction_of_floor_excess']:.3f} | {r['time_s']:.0f} |"
        )
    return lines + [""]


def _detail(res):
    lines = [
        f"{res['n_test']:,} held-out pairs; floor {res['floor']:.4f}; noise floor "
        f"{res['noise_floor']:.4f} ({res['noise_floor_ratio']:.3f} x floor); "
        f"constant 0.5: {res['constant']:.4f} "
        f"({res['constant'] / res['floor']:.3f} x floor); embedding "
        f"{res['embed_time_s']:.1f} s.",
        "",
        "| method | vote | k per split | error | x floor | - noise | excess | tau "
        "| member fits (fit / search) | fit s | search s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in res["methods"].values():
        for output, v in entry["outputs"].items():
            fits = sum(f or 0 for f in v["member_fits"])
            search = sum(f or 0 for f in v["search_member_fits"])
            lines.append(
                f"| {entry['label']} | {output} | {','.join(map(str, v['k']))} | "
                f"{v['error']:.4f} | {v['ratio_to_floor']:.3f} | "
                f"{v['excess_over_noise']:.4f} | "
                f"{v['excess_fraction_of_floor_excess']:.3f} | "
                f"{_fmt(v['kendall_tau_mean'], 2)} | {fits} / {search} | "
                f"{v['fit_time_s']:.1f} | {v['search_time_s']:.1f} |"
            )
    return lines + [""]


def _params_and_curve(res):
    lines = ["Chosen parameters per outer split:", ""]
    for method, entry in res["methods"].items():
        params = next(iter(entry["outputs"].values()))["params"]
        if any(params):
            shown = "; ".join(
                ", ".join(f"{k.replace('estimator__', '')}={v}" for k, v in p.items())
                for p in params
            )
            lines.append(f"- {method}: {shown}")
    staged = res["staged_default"]
    lines += [
        "",
        "Default ensemble's `staged_predict_proba` prefixes (Monte-Carlo curve), "
        "held-out error / floor:",
        "",
        "| " + " | ".join(f"k={k}" for k in staged) + " |",
        "|" + "---|" * len(staged),
        "| " + " | ".join(f"{v['ratio_to_floor']:.3f}" for v in staged.values()) + " |",
        "",
    ]
    return lines


def markdown(result):
    """The Markdown report of a benchmark result."""
    lines = _header(result)
    for name, check in result.get("self_checks", {}).items():
        lines += [
            f"Self-check {name}: {'agree' if check['agree'] else 'DISAGREE'} "
            f"({ {k: v for k, v in check.items() if k != 'agree'} }).",
            "",
        ]
    lines += _summary(result) + _target_table(result) + _new_user(result)
    for protocol, pres in result["protocols"].items():
        lines += [f"## {PROTOCOL_LABELS[protocol]}", ""]
        if "leakage" in pres:
            leak = pres["leakage"]
            lines += [
                "Text overlap: "
                f"{leak['test_pairs_both_texts_in_train']:.1%} of held-out pairs "
                "have both texts in training pairs, "
                f"{leak['test_pairs_one_text_in_train']:.1%} one, "
                f"{leak['test_pairs_no_text_in_train']:.1%} none.",
                "",
            ]
        for features, res in pres["features"].items():
            if "skipped" in res:
                lines += [f"### {features}: skipped ({res['skipped']})", ""]
                continue
            lines += [f"### {FEATURE_LABELS[features]}", ""]
            lines += _detail(res) + _params_and_curve(res)
    return "\n".join(lines)
