"""reStructuredText tables from ``benchmarks/results/*.json``.

One renderer per results file: ``render(data, path) -> list of rst lines``.
Each shows the settings the numbers were measured with (versions, machine,
sizes, parameters, the command) next to the numbers, all read from the file.
A renderer that meets a layout it does not know raises (``KeyError``, ...)
and the caller falls back to :func:`render_generic`, which shows whatever the
file holds. No number is written here; every cell comes from the JSON.
"""

from __future__ import annotations

import json
from numbers import Number

# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def lookup(data, key):
    """``data["a"]["b"][0]`` for ``key="a.b.0"``."""
    value = data
    for part in key.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        else:
            value = value[part]
    return value


def num(value, spec=".4g"):
    """A cell: numbers formatted, ``None`` as a dash, the rest as text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Number):
        return format(value, spec)
    if isinstance(value, (list, tuple)):
        return ", ".join(num(v, spec) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _cell(text):
    text = str(text).replace("\n", " ").strip()
    if text in ("-", "*", "+"):
        return "\\" + text  # a lone "-" would start a bullet list
    return text if text else " "


def table(header, rows, *, title=None, widths=None):
    """A ``list-table`` (one header row)."""
    lines = [f".. list-table:: {title}" if title else ".. list-table::"]
    lines.append("   :header-rows: 1")
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("   :class: pcr-bench-table")
    lines.append("")
    for row in [header, *rows]:
        cells = [_cell(c) for c in row]
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {c}" for c in cells[1:]]
    lines.append("")
    return lines


def literal(text):
    return "``" + str(text).replace("``", "`") + "``"


def settings(items, title="Measured with"):
    """A field list of settings: ``[(name, value), ...]``, Nones skipped."""
    lines = [f".. rubric:: {title}", ""]
    for name, value in items:
        if value is None or value == {} or value == []:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {num(v)}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            value = num(value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, Number):
            value = num(value)
        lines.append(f":{name}: {_cell(value)}")
    lines.append("")
    return lines


def source(path, command=None):
    text = f"Generated from ``{path}`` when these docs were built"
    if command:
        text += f"; written by ``{command}``"
    return [text + ".", ""]


def heading(text, char="~"):
    return [text, char * len(text), ""]


def versions(mapping):
    return ", ".join(f"{k} {v}" for k, v in mapping.items())


# --------------------------------------------------------------------------- #
# Generic: whatever a file holds
# --------------------------------------------------------------------------- #

_SETTINGS_KEYS = (
    "meta",
    "settings",
    "sizes",
    "versions",
    "args",
    "default_settings",
    "target_settings",
    "targets",
)


def _leaves(value, prefix=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(v, (dict, list)) for v in value)
    ):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{prefix}.{i}")
    else:
        yield prefix, value


def render_generic(data, path):
    """Every setting and every number of a results file, as stored."""
    lines = source(path)
    if not isinstance(data, dict):
        return lines + [".. code-block:: json", "", "   " + json.dumps(data)[:2000], ""]
    meta = [(k, data[k]) for k in _SETTINGS_KEYS if k in data]
    flat_settings = []
    for key, value in meta:
        for leaf, v in _leaves(value, key):
            flat_settings.append((leaf, v))
    if flat_settings:
        lines += settings(flat_settings)
    rows = []
    for key, value in data.items():
        if key in _SETTINGS_KEYS:
            continue
        for leaf, v in _leaves(value, key):
            rows.append((literal(leaf), num(v)))
    if rows:
        lines += table(["value", "measured"], rows)
    return lines


# --------------------------------------------------------------------------- #
# calibration.json: the argument data, two protocols, many methods
# --------------------------------------------------------------------------- #

_PROTOCOL_SHORT = {"heldout_pairs": "pairs", "heldout_debates": "debates"}


def _ks(values):
    values = list(values or [])
    if values and all(v == values[0] for v in values):
        return num(values[0])
    return num(values)


def _fits(output):
    fit = output.get("member_fits")
    search = output.get("search_member_fits")
    if fit is None:
        return "-"
    first = fit[0] if isinstance(fit, list) else fit
    second = (search[0] if isinstance(search, list) else search) if search else 0
    return f"{num(first)} / {num(second)}"


def render_calibration(data, path):
    meta = data["meta"]
    protocols = data["protocols"]
    command = "python benchmarks/calibration.py " + " ".join(meta.get("argv", []))
    lines = source(path, command.strip())
    git = meta.get("git", {})
    lines += settings(
        [
            (
                "data",
                f"UKPConvArg1, {num(meta.get('n_pairs'))} pairs, "
                f"{num(meta.get('n_texts'))} texts",
            ),
            ("features", meta.get("features")),
            ("ensemble defaults", meta.get("pce_defaults")),
            ("inner model selection", meta.get("inner_cv")),
            ("search grids", meta.get("settings")),
            ("noise floor", meta.get("noise_floor_source")),
            ("random state", meta.get("random_state")),
            ("sample weight", meta.get("sample_weight") or "none (unweighted)"),
            (
                "machine",
                f"{num(meta.get('cpu_count'))} CPUs, "
                f"{num(meta.get('n_jobs'))} worker(s), {meta.get('platform', '?')}",
            ),
            ("wall time", f"{num(meta.get('wall_time_s'), '.0f')} s"),
            (
                "load average",
                f"{num(meta.get('load_average_start'))} at start, "
                f"{num(meta.get('load_average_end'))} at end",
            ),
            ("versions", versions(meta.get("versions", {}))),
            ("git commit", git.get("commit")),
            (
                "sources changed during the run",
                meta.get("pcr_sklearn_source_changed_during_run"),
            ),
            ("quick run", meta.get("quick")),
        ]
    )
    lines += [
        "Error: mean of (prediction - soft label)\\ :sup:`2` over the pooled "
        "held-out pairs; **x floor**: ratio to the single-reward floor of the "
        "same pairs (lower is better); **noise**: "
        ":func:`~pcr_sklearn.metrics.noise_floor` of those pairs; **excess**: "
        "(error - noise) / (floor - noise).",
        "",
    ]
    # Summary: one row per (method, vote), one column per protocol x features.
    columns = [
        (pk, fk) for pk, protocol in protocols.items() for fk in protocol["features"]
    ]
    header = ["method", "vote"] + [
        f"{_PROTOCOL_SHORT.get(pk, pk)}, {fk}" for pk, fk in columns
    ]
    rows = {}
    for pk, fk in columns:
        methods = protocols[pk]["features"][fk]["methods"]
        for mk, method in methods.items():
            for vote, out in method["outputs"].items():
                key = (method.get("label", mk), vote)
                rows.setdefault(key, {})[(pk, fk)] = out.get("ratio_to_floor")
    body = [
        [label, vote] + [num(values.get(c), ".3f") for c in columns]
        for (label, vote), values in rows.items()
    ]
    for name, key in (
        ("noise floor (x floor)", "noise_floor_ratio"),
        ("single-reward floor (absolute)", "floor"),
        ("noise floor (absolute)", "noise_floor"),
    ):
        body.append(
            [name, "-"]
            + [num(protocols[p]["features"][f].get(key), ".4f") for p, f in columns]
        )
    lines += heading("Summary: held-out error / single-reward floor")
    lines += table(header, body)
    # Each protocol and feature set in detail.
    for pk, protocol in protocols.items():
        lines += heading(protocol.get("description", pk))
        lines += settings(
            [
                ("inner model selection", protocol.get("inner_cv")),
                ("outer splits", protocol.get("n_folds")),
                ("text overlap", protocol.get("leakage")),
            ],
            title="Protocol",
        )
        for fk, feat in protocol["features"].items():
            lines += [
                f"**{feat.get('description', fk)}**: {num(feat.get('n_test'))} "
                f"held-out pairs; floor {num(feat.get('floor'), '.4f')}; noise "
                f"floor {num(feat.get('noise_floor'), '.4f')}; constant 0.5 "
                f"{num(feat.get('constant'), '.4f')}.",
                "",
            ]
            body = []
            for mk, method in feat["methods"].items():
                for vote, out in method["outputs"].items():
                    body.append(
                        [
                            method.get("label", mk),
                            vote,
                            _ks(out.get("k")),
                            num(out.get("error"), ".4f"),
                            num(out.get("ratio_to_floor"), ".3f"),
                            num(out.get("excess_fraction_of_floor_excess"), ".3f"),
                            num(out.get("kendall_tau_mean"), ".2f"),
                            _fits(out),
                            num(out.get("fit_time_s"), ".1f"),
                            num(out.get("search_time_s"), ".1f"),
                        ]
                    )
            lines += table(
                [
                    "method",
                    "vote",
                    "k",
                    "error",
                    "x floor",
                    "excess",
                    "tau",
                    "member fits (fit / search)",
                    "fit s",
                    "search s",
                ],
                body,
            )
            staged = feat.get("staged_default")
            if staged:
                lines += [
                    "The default ensemble's first *k* members "
                    "(``staged_predict_proba``):",
                    "",
                ]
                lines += table(
                    ["k", "error", "x floor"],
                    [
                        [
                            k,
                            num(v.get("error"), ".4f"),
                            num(v.get("ratio_to_floor"), ".3f"),
                        ]
                        for k, v in staged.items()
                    ],
                )
    check = data.get("new_user_check")
    if check:
        lines += heading("New-user check (held-out debates, raw text)")
        lines += [literal(check.get("code", "")), ""]
        lines += table(
            ["k grid", "chosen k per split", "error", "x floor", "excess", "time s"],
            [
                [
                    grid,
                    _ks(r.get("k"))
                    if len(set(r.get("k", []))) == 1
                    else num(r.get("k")),
                    num(r.get("error"), ".4f"),
                    num(r.get("ratio_to_floor"), ".3f"),
                    num(r.get("excess_fraction_of_floor_excess"), ".3f"),
                    num(r.get("time_s"), ".0f"),
                ]
                for grid, r in check.get("grids", {}).items()
            ],
        )
    targets = data.get("targets")
    if targets:
        lines += heading("Targets")
        lines += table(
            ["target", "primary", "measured", "result"],
            [
                [
                    t["target"],
                    num(t.get("primary")),
                    t.get("measured", "-"),
                    "met" if t.get("met") else "**missed**",
                ]
                for t in targets
            ],
        )
    return lines


# --------------------------------------------------------------------------- #
# recovery.json: synthetic mixtures with a known answer
# --------------------------------------------------------------------------- #


def render_recovery(data, path):
    meta = data["meta"]
    command = "python benchmarks/recovery.py " + " ".join(meta.get("argv", []))
    lines = source(path, command.strip())
    lines += settings(
        [
            (
                "data",
                f"make_preference_mixture, reward {meta.get('reward')}, "
                f"{num(meta.get('n_pairs'))} pairs, "
                f"{num(meta.get('test_fraction'))} of the prompts held out",
            ),
            ("sizes", meta.get("sizes")),
            ("BT temperature (noisy rows)", meta.get("temperature")),
            ("seeds", meta.get("seeds")),
            ("machine", f"{num(meta.get('cpu_count'))} CPUs, {meta.get('platform')}"),
            ("wall time", f"{num(meta.get('wall_time_s'), '.0f')} s"),
            (
                "versions",
                ", ".join(
                    f"{k} {meta[k]}"
                    for k in ("pcr_sklearn", "sklearn", "numpy", "scipy", "python")
                    if k in meta
                ),
            ),
            ("quick run", meta.get("quick")),
        ]
    )
    variants = data["variants"]
    lines += heading("Variants")
    lines += table(
        ["variant", "objective", "n_backfit", "n_estimators", "vote"],
        [
            [
                name,
                p.get("objective"),
                num(p.get("n_backfit")),
                num(p.get("n_estimators")),
                p.get("vote"),
            ]
            for name, p in variants.items()
        ],
    )
    grid = data["grid"]
    n_k = len(next(iter(grid[0]["summary"]["variants"].values()))["error_by_k"])
    lines += heading("Held-out error along k (mean over seeds)")
    lines += [
        "Held-out calibration error of the first *k* members of one fit; floor: "
        "single-reward floor; oracle: the true rewards with the true weights; C: "
        "the noise term; 'beats floor': seeds whose best *k* is below the floor; "
        "'w err@G' / 'min agr@G': matched L1 weight error and least member "
        "agreement of a fit with as many members as groups.",
        "",
    ]
    body = []
    for row in grid:
        s = row["summary"]
        first = True
        for name, v in s["variants"].items():
            lead = (
                [
                    num(row.get("n_groups")),
                    num(row.get("n_annotators")),
                    row.get("noise"),
                    num(s.get("floor"), ".4f"),
                    num(s.get("oracle"), ".4f"),
                    num(s.get("noise_term"), ".4f"),
                ]
                if first
                else [""] * 6
            )
            first = False
            body.append(
                lead
                + [name]
                + [num(e, ".4f") for e in v["error_by_k"]]
                + [
                    num(v.get("best_k")),
                    num(v.get("best_error_over_floor"), ".2f"),
                    f"{num(v.get('beats_floor_seeds'))}/{num(meta.get('seeds'))}",
                    num(v.get("weight_error_at_G"), ".3f"),
                    num(v.get("min_agreement_at_G"), ".3f"),
                ]
            )
    lines += table(
        ["G", "ann.", "noise", "floor", "oracle", "C", "variant"]
        + [f"k={k}" for k in range(1, n_k + 1)]
        + ["best k", "best / floor", "beats floor", "w err@G", "min agr@G"],
        body,
    )
    target = data.get("target")
    if target:
        ts = data.get("target_settings", {})
        lines += heading("Recovery target")
        lines += settings(
            [
                ("group weights", ts.get("group_weights")),
                ("annotators per pair", ts.get("n_annotators")),
                ("temperature", ts.get("temperature")),
                ("members", ts.get("n_estimators")),
                ("weights within (L1)", ts.get("max_weight_error")),
                ("agreement at least", ts.get("min_agreement")),
                ("error / oracle at most", ts.get("max_ratio_to_oracle")),
                ("seeds", ts.get("seeds")),
            ],
            title="Target settings",
        )
        lines += table(
            [
                "variant",
                "weights",
                "agreement",
                "error / oracle",
                "all three",
                "mean weight error",
                "worst agreement",
                "mean error / oracle",
            ],
            [
                [
                    name,
                    f"{num(s['n_pass_weights'])}/{num(s['n_seeds'])}",
                    f"{num(s['n_pass_agreement'])}/{num(s['n_seeds'])}",
                    f"{num(s['n_pass_ratio'])}/{num(s['n_seeds'])}",
                    f"{num(s['n_pass_all'])}/{num(s['n_seeds'])}",
                    num(s.get("weight_error_mean"), ".3f"),
                    num(s.get("min_agreement_min"), ".3f"),
                    num(s.get("ratio_mean"), ".2f"),
                ]
                for name, s in ((n, r["summary"]) for n, r in target.items())
            ],
        )
    verdicts = data.get("verdicts")
    if verdicts:
        lines += [".. rubric:: Verdicts written by the benchmark", ""]
        lines += [f"- {v}" for v in verdicts] + [""]
    return lines


# --------------------------------------------------------------------------- #
# Speed and memory
# --------------------------------------------------------------------------- #


def _params(params):
    return ", ".join(f"{k}={v!r}" for k, v in (params or {}).items())


def render_bench_core(data, path):
    fits, choosing, predict = data["fits"], data["choosing_k"], data["predict"]
    lines = source(path, "python benchmarks/bench_core.py")
    lines += settings(
        [
            ("training pairs (fits)", fits["n_pairs"]),
            ("argument pairs (choosing k)", choosing.get("n_pairs")),
            ("pairs scored by predict_proba", data.get("predict_pairs")),
            ("timing", f"best of {num(data.get('repeats_best_of'))}"),
            ("BLAS threads", data.get("blas_threads")),
            ("CPUs", data.get("cpu_count")),
            ("versions", versions(data.get("versions", {}))),
            ("run time", f"{num(data.get('run_s'), '.0f')} s"),
            ("quick run", data.get("quick")),
        ]
    )
    plain = fits["plain_linear_fits_s"]
    lines += heading("Fitting cost against plain reward fits")
    rows = [
        [
            "plain LinearReward fits, one per stagewise member",
            "-",
            "-",
            f"{num(plain, '.2f')} s",
            "1 x",
            "1 x",
            "-",
        ]
    ]
    for name, model in fits["models"].items():
        rows.append(
            [
                f"{name}: {literal(_params(model.get('params')))}",
                num(model["n_estimators"]),
                num(model["n_member_fits"]),
                f"{num(model['seconds'], '.2f')} s",
                f"{num(model['over_plain'], '.2f')} x",
                f"{num(model.get('cpu_over_plain'), '.2f')} x",
                num(model["heldout_error"], ".4f"),
            ]
        )
    threaded = fits.get("threaded")
    if threaded:
        rows.append(
            [
                f"stagewise, new defaults, {num(threaded['blas_threads'])} BLAS "
                "threads (plain fits: "
                f"{num(threaded['plain_linear_fits_s'], '.2f')} s)",
                "-",
                "-",
                f"{num(threaded['stagewise_new_defaults_s'], '.2f')} s",
                f"{num(threaded['over_plain'], '.2f')} x",
                "-",
                "-",
            ]
        )
    lines += table(
        [
            "model",
            "members",
            "member fits",
            "fit time",
            "over plain (wall)",
            "over plain (CPU)",
            "held-out error",
        ],
        rows,
        widths=[40, 9, 9, 10, 10, 10, 12],
    )
    lines += heading("Choosing k: one fit per fold against GridSearchCV")
    rows = []
    for members in ("population", "stagewise"):
        c = choosing[members]
        rows.append(
            [
                members,
                num(c["ks"]),
                num(c["cv_k"]),
                num(c["grid_k"]),
                f"{num(c['cv_s'], '.2f')} s",
                f"{num(c['grid_s'], '.2f')} s",
                f"{num(c['time_ratio'], '.2f')} x",
            ]
        )
    lines += table(
        [
            "members",
            "candidate k",
            "k chosen by PairwiseCalibratedEnsembleCV",
            "k chosen by GridSearchCV",
            "CV time",
            "GridSearchCV time",
            "time ratio",
        ],
        rows,
    )
    lines += heading("Prediction and memory")
    rows = []
    for vote in ("hard", "soft"):
        p = predict[vote]
        rows.append(
            [
                f"predict_proba, {vote} votes",
                f"{num(p['predict_proba_s'], '.3f')} s",
                f"{num(p['ratio'], '.2f')} x the matrix product X @ W "
                f"({num(p['x_at_w_s'], '.3f')} s)",
            ]
        )
    if fits.get("fit_peak_traced_mb") is not None:
        rows.append(
            [
                "fit peak traced memory, stagewise defaults",
                f"{num(fits['fit_peak_traced_mb'], '.0f')} MB",
                "",
            ]
        )
    if data.get("max_rss_mb") is not None:
        rows.append(["process peak RSS", f"{num(data['max_rss_mb'], '.0f')} MB", ""])
    lines += table(["measurement", "value", "relative"], rows)
    return lines


def render_bench_predict(data, path):
    s = data["settings"]
    lines = source(path, "python benchmarks/bench_predict.py")
    lines += settings(
        [
            ("sizes", data.get("sizes")),
            ("members", s.get("members")),
            ("BLAS threads", s.get("blas_threads")),
            ("timing", f"best of {num(s.get('repeats_best_of'))}"),
            ("'before' is", s.get("before")),
            ("targets", data.get("targets")),
            ("CPUs", data.get("cpu_count")),
            ("versions", versions(data.get("versions", {}))),
            ("run time", f"{num(data.get('run_s'), '.0f')} s"),
        ]
    )
    res = data["results"]
    body = []
    for when, r in res.items():
        for vote in ("hard", "soft"):
            p = r["predict"][vote]
            body.append(
                [
                    when,
                    f"predict_proba, {vote} votes",
                    f"{num(p['predict_proba_s'], '.3f')} s",
                    f"{num(p['ratio'], '.2f')} x "
                    f"(X @ w: {num(p['x_at_w_s'], '.3f')} s)",
                ]
            )
        for dtype in ("float64", "float32"):
            m = r.get(f"memory_{dtype}")
            if m:
                body.append(
                    [
                        when,
                        f"peak extra memory, {dtype} input of "
                        f"{num(m['input_mb'], '.0f')} MB",
                        f"{num(m['peak_extra_mb'], '.0f')} MB",
                        f"{num(m['ratio'], '.3f')} x input",
                    ]
                )
        f = r.get("fit")
        if f:
            body.append(
                [
                    when,
                    "fit",
                    f"{num(f['fit_s'], '.2f')} s",
                    f"training error {num(f['train_error'], '.4g')}",
                ]
            )
    lines += table(["code", "measurement", "value", "relative"], body)
    return lines


def render_bench_text(data, path):
    meta = data["meta"]
    lines = source(path, "python benchmarks/bench_text.py")
    lines += settings(
        [
            ("date", meta.get("date")),
            ("sizes", meta.get("sizes")),
            (
                "torch threads",
                f"{num(meta.get('torch_threads'))} (torch default "
                f"{num(meta.get('torch_default_threads'))})",
            ),
            (
                "CPUs",
                f"{num(meta.get('cpu_count'))}, load average "
                f"{num(meta.get('loadavg_start'))} at start, "
                f"{num(meta.get('loadavg_end'))} at end",
            ),
            ("versions", versions(meta.get("versions", {}))),
            ("total time", f"{num(meta.get('total_seconds'), '.0f')} s"),
            ("quick run", meta.get("quick")),
        ]
    )
    counts = data.get("counts", [])
    if counts:
        c0 = counts[0]
        lines += heading(
            f"Embeddings during GridSearchCV (n_estimators in {num(c0.get('grid'))}, "
            f"{num(c0.get('folds'))} folds)"
        )
        lines += table(
            [
                "backbone",
                "backend",
                "cache",
                "pairs",
                "unique texts",
                "embedded",
                "max repeats",
                "backbone calls",
                "exactly once",
                "seconds",
                "peak RSS MB",
            ],
            [
                [
                    r.get("model"),
                    r.get("backend"),
                    "on" if r.get("cache") else "off",
                    num(r.get("n_pairs")),
                    num(r.get("n_unique_texts")),
                    num(r.get("n_embedded")),
                    num(r.get("max_repeats")),
                    num(r.get("n_backbone_calls")),
                    num(r.get("n_embedded") == r.get("n_unique_texts")),
                    num(r.get("seconds"), ".1f"),
                    num(r.get("peak_rss_mb"), ".0f"),
                ]
                for r in counts
            ],
        )
    stages = data.get("stages")
    if stages:
        feat = stages.get("features", {})
        lines += heading(
            f"MLP head fit per stage ({num(stages.get('n_pairs'))} pairs, "
            f"{num(stages.get('item_dim'))}-dim items)"
        )
        lines += settings(
            [
                ("features", feat.get("description")),
                ("feature time", f"{num(feat.get('seconds'), '.1f')} s"),
                ("MLPReward", stages.get("mlp")),
                ("n_backfit", stages.get("n_backfit")),
                ("torch threads", stages.get("torch_threads")),
            ],
            title="Settings",
        )
        lines += table(
            [
                "stage",
                "seconds",
                "CPU seconds",
                "member fits",
                "epochs",
                "s / epoch",
                "train error",
                "peak RSS MB",
            ],
            [
                [
                    num(s.get("stage")),
                    num(s.get("seconds"), ".1f"),
                    num(s.get("cpu_seconds"), ".1f"),
                    num(s.get("member_fits")),
                    num(s.get("epochs")),
                    num(s.get("seconds_per_epoch"), ".2f"),
                    num(s.get("train_error"), ".4f"),
                    num(s.get("peak_rss_mb"), ".0f"),
                ]
                for s in stages.get("stages", [])
            ],
        )
        threads = stages.get("thread_comparison")
        if threads:
            lines += ["The same fit by torch thread count:", ""]
            lines += table(
                [
                    "torch threads",
                    "epochs",
                    "fit seconds",
                    "s / epoch",
                    "pairs x epochs / s",
                ],
                [
                    [
                        num(t.get("torch_threads")),
                        num(t.get("epochs")),
                        num(t.get("fit_seconds"), ".2f"),
                        num(t.get("seconds_per_epoch"), ".2f"),
                        num(t.get("pairs_per_second"), ".0f"),
                    ]
                    for t in threads
                ],
            )
    return lines


def render_bench_text_cpu(data, path):
    meta = data["meta"]
    model = meta.get("model", {})
    lines = source(path, "python benchmarks/bench_text_cpu.py")
    lines += settings(
        [
            ("model", model),
            ("texts", f"{num(meta.get('n_texts'))} ({meta.get('texts')})"),
            (
                "batch size / max length",
                f"{num(meta.get('batch_size'))} / {num(meta.get('max_length'))}",
            ),
            (
                "CPU",
                f"{meta.get('cpu')} ({meta.get('cpu_capability')}), torch "
                f"threads {num(meta.get('torch_threads'))}",
            ),
            ("repeats", meta.get("repeats")),
            (
                "versions",
                f"python {meta.get('python')}, torch {meta.get('torch')}, "
                f"transformers {meta.get('transformers')}",
            ),
        ]
    )
    lines += heading("Encoding throughput")
    lines += table(
        ["path", "best CPU s", "texts / CPU s", "texts / wall s"],
        [
            [
                name,
                num(r.get("best_cpu_seconds"), ".2f"),
                num(r.get("texts_per_cpu_s"), ".2f"),
                num(r.get("texts_per_wall_s"), ".2f"),
            ]
            for name, r in data["throughput"].items()
        ],
    )
    precision = data.get("precision")
    if precision:
        lines += heading("Precision on the CPU: bf16 against fp32, by hidden size")
        lines += table(
            [
                "hidden size",
                "auto choice",
                "fp32 texts / CPU s",
                "bf16 texts / CPU s",
                "speed-up",
                "least cosine bf16 / fp32",
            ],
            [
                [
                    h,
                    r.get("auto_choice"),
                    num(r.get("fp32_texts_per_cpu_s"), ".1f"),
                    num(r.get("bf16_texts_per_cpu_s"), ".1f"),
                    num(r.get("speedup_bf16_over_fp32"), ".2f"),
                    num(r.get("cosine_bf16_to_fp32_min"), ".6f"),
                ]
                for h, r in sorted(precision.items(), key=lambda kv: int(kv[0]))
            ],
        )
    return lines


def render_bench_gpu(data, path):
    meta = data["meta"]
    gpu = meta.get("gpu", {})
    lines = source(path, "bash benchmarks/gpu_check.sh")
    lines += settings(
        [
            (
                "GPU",
                f"{gpu.get('name')}, {num(gpu.get('memory_gib'))} GiB, "
                f"CUDA {gpu.get('cuda')}, bf16 {num(gpu.get('bf16'))}",
            ),
            ("CPU threads", meta.get("cpu_threads")),
            ("sizes (cuda)", meta.get("sizes", {}).get("cuda")),
            ("sizes (cpu)", meta.get("sizes", {}).get("cpu")),
            ("versions", versions(meta.get("versions", {}))),
            ("total time", f"{num(meta.get('total_seconds'))} s"),
        ]
    )
    res = data["results"]
    devices = list(res)
    rows = [
        ("embedding: texts / s", "embedding", "texts_per_s"),
        ("embedding: precision", "embedding", "precision"),
        ("embedding: peak GPU GiB", "embedding", "peak_gpu_gib"),
        ("head training: pairs / s", "head_training", "pairs_per_s"),
        (
            "head training: fit s (warm cache)",
            "head_training",
            "fit_seconds_warm_cache",
        ),
        ("k=4 heads ensemble: fit s", "ensemble_k4_head", "fit_seconds"),
        (
            "k=4 heads ensemble: texts embedded / unique",
            "ensemble_k4_head",
            ("texts_embedded", "unique_texts"),
        ),
        ("last-n fine-tuning: pairs / s", "last_n_finetune", "pairs_per_s"),
        ("full fine-tuning: pairs / s", "all_finetune", "pairs_per_s"),
        ("full fine-tuning: peak GPU GiB", "all_finetune", "peak_gpu_gib"),
        ("reload: max abs difference", "persistence", "reload_max_diff"),
    ]
    body = []
    for label, section, key in rows:
        cells = []
        for d in devices:
            r = res[d].get(section, {})
            if isinstance(key, tuple):
                cells.append(" / ".join(num(r.get(k)) for k in key))
            else:
                cells.append(num(r.get(key), ".4g"))
        body.append([label] + cells)
    lines += table(["measurement"] + devices, body)
    checks = data.get("checks")
    if checks:
        lines += table(["check", "result"], [[k, num(v)] for k, v in checks.items()])
    return lines


RENDERERS = {
    "calibration": render_calibration,
    "recovery": render_recovery,
    "bench_core": render_bench_core,
    "bench_predict": render_bench_predict,
    "bench_text": render_bench_text,
    "bench_text_cpu": render_bench_text_cpu,
    "bench_gpu_h200": render_bench_gpu,
}
