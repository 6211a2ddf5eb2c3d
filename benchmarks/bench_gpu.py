"""Throughput of TransformerReward on a GPU, and of a small model on the CPU.

Builds everything locally (no downloads): a WordPiece tokenizer trained on the
fly on synthetic text and a BERT model with random weights from a config
(BERT-base size on the GPU; throughput does not depend on weight values), saved
to a temporary directory. Then measures, per device:

* embedding throughput (texts/s): frozen backbone pass, tokenization included
  (the tokenizer call is also timed alone, to split the two);
* head-training throughput (pairs/s): ``trainable="head"`` on cached vectors;
* a k=4 ensemble fit in head mode, checking one backbone pass per unique text;
* ``"last-n"`` (n=2) fine-tuning throughput (pairs/s) once the frozen lower
  layers' states are cached, and the cost of caching them (texts/s);
* ``"all"`` (full fine-tuning) throughput (pairs/s);
* peak GPU memory per phase; pickle payload size and reload agreement.

Results go to ``$OUT/bench_gpu.json`` when ``OUT`` is set, else
``benchmarks/results/bench_gpu.json``; the JSON is rewritten after every phase
so a run cut short still leaves its numbers. Phases that would start after
``--time-budget`` seconds are skipped. If transformers/tokenizers or
pcr_sklearn cannot be imported but torch can, a pure-torch fallback measures a
BERT-base-shaped ``nn.TransformerEncoder`` instead (marked in the JSON).

Usage::

    python benchmarks/bench_gpu.py            # full sizes (GPU part needs CUDA)
    python benchmarks/bench_gpu.py --smoke    # tiny sizes, seconds on a laptop CPU
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import pickle
import platform
import sys
import tempfile
import time
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Model and workload sizes. "gpu": BERT-base; "cpu": a MiniLM-sized model.
SIZES = {
    "full": {
        "gpu": dict(
            hidden=768, layers=12, heads=12, intermediate=3072, vocab=8000,
            max_length=128, n_pairs=8192, ft_pairs=4096, all_pairs=1024,
            encode_batch_size=128, ft_batch_size=32, head_epochs=5,
        ),
        "cpu": dict(
            hidden=256, layers=4, heads=4, intermediate=1024, vocab=4000,
            max_length=64, n_pairs=512, ft_pairs=256, all_pairs=64,
            encode_batch_size=64, ft_batch_size=16, head_epochs=5,
        ),
    },
    "smoke": {
        "gpu": dict(
            hidden=64, layers=2, heads=2, intermediate=128, vocab=500,
            max_length=32, n_pairs=128, ft_pairs=64, all_pairs=32,
            encode_batch_size=32, ft_batch_size=16, head_epochs=2,
        ),
        "cpu": dict(
            hidden=32, layers=2, heads=2, intermediate=64, vocab=500,
            max_length=32, n_pairs=64, ft_pairs=32, all_pairs=16,
            encode_batch_size=16, ft_batch_size=8, head_epochs=2,
        ),
    },
}  # fmt: skip


def versions():
    out = {"python": platform.python_version()}
    for name in (
        "numpy", "scipy", "sklearn", "torch", "transformers", "tokenizers",
        "safetensors",
    ):  # fmt: skip
        try:
            out[name] = importlib.import_module(name).__version__
        except Exception as exc:  # noqa: BLE001 - report whatever went wrong
            out[name] = f"unavailable ({type(exc).__name__})"
    return out


class Report:
    """The JSON document, written again after every phase."""

    def __init__(self, path, meta):
        self.path = path
        self.data = {"meta": meta, "results": {}, "checks": {}, "errors": []}

    def save(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.data, fh, indent=2, default=str)
        os.replace(tmp, self.path)


class Phases:
    """Runs named phases under a time budget; records numbers or errors."""

    def __init__(self, report, deadline):
        self.report = report
        self.deadline = deadline

    def run(self, device, name, fn):
        section = self.report.data["results"].setdefault(device, {})
        if time.monotonic() > self.deadline:
            section[name] = {"skipped": "time budget exhausted"}
            print(f"[{device}] {name}: skipped (time budget)", flush=True)
        else:
            start = time.monotonic()
            try:
                section[name] = fn()
            except Exception as exc:  # noqa: BLE001 - keep the other phases
                section[name] = {"error": f"{type(exc).__name__}: {exc}"}
                self.report.data["errors"].append(
                    {"phase": f"{device}/{name}", "traceback": traceback.format_exc()}
                )
                print(f"[{device}] {name}: ERROR {exc}", flush=True)
            section[name]["phase_seconds"] = round(time.monotonic() - start, 3)
            print(f"[{device}] {name}: {section[name]}", flush=True)
        self.report.save()


# --------------------------------------------------------------------------- #
# Synthetic data and a locally built model
# --------------------------------------------------------------------------- #


def make_words(rng, n_words):
    syllables = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"]
    words = set()
    while len(words) < n_words:
        words.add("".join(rng.choice(syllables, rng.randint(1, 4))))
    return sorted(words)


def make_items(rng, words, n_pairs, max_length, n_prompts=64):
    """(prompt, response) items for A and B, soft labels; all texts distinct."""
    prompts = [" ".join(rng.choice(words, 8)) for _ in range(n_prompts)]

    def response(i):
        n = rng.randint(max(4, max_length // 4), max_length + 1)
        # The index keeps every response unique, so counts are exact.
        return f"r{i} " + " ".join(rng.choice(words, n))

    a = np.empty((n_pairs, 2), dtype=object)
    b = np.empty((n_pairs, 2), dtype=object)
    for i in range(n_pairs):
        prompt = prompts[i % n_prompts]
        a[i] = prompt, response(2 * i)
        b[i] = prompt, response(2 * i + 1)
    return a, b, rng.rand(n_pairs)


def build_model(directory, size, words, rng):
    """Tokenizer trained on the fly + BERT with random weights, saved locally."""
    from pcr_sklearn.utils._testing import build_random_bert

    corpus = [" ".join(rng.choice(words, 30)) for _ in range(2000)]
    built = build_random_bert(
        directory,
        corpus,
        hidden_size=size["hidden"],
        num_layers=size["layers"],
        num_heads=size["heads"],
        intermediate_size=size["intermediate"],
        vocab_size=size["vocab"],
        max_length=size["max_length"],
        sentence_transformers=False,
    )
    info = {"n_parameters": built.n_parameters, "vocab_size": built.vocab_size}
    return built.hf_dir, info


# --------------------------------------------------------------------------- #
# Measurements with TransformerReward
# --------------------------------------------------------------------------- #


class Clock:
    def __init__(self, torch, device):
        self.torch = torch
        self.cuda = device == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset_peak(self):
        if self.cuda:
            self.sync()
            self.torch.cuda.reset_peak_memory_stats()

    def peak_gib(self):
        if not self.cuda:
            return None
        return round(self.torch.cuda.max_memory_allocated() / 2**30, 3)

    def time(self, fn):
        self.sync()
        start = time.perf_counter()
        out = fn()
        self.sync()
        return time.perf_counter() - start, out


def bench_reward(device, size, model_dir, rng, words, phases, report):
    import torch
    from sklearn.base import clone

    from pcr_sklearn import PairwiseCalibratedEnsemble
    from pcr_sklearn.rewards import TransformerReward
    from pcr_sklearn.utils._testing import count_embeddings

    clock = Clock(torch, device)
    a, b, y = make_items(rng, words, size["n_pairs"], size["max_length"])
    n_texts = 2 * len(a)
    # Hidden states of "last-n" are cached on the host; give them room.
    TransformerReward.set_cache_limit(16 * 2**30)
    base = TransformerReward(
        model_dir,
        device=device,
        max_length=size["max_length"],
        encode_batch_size=size["encode_batch_size"],
        max_epochs=size["head_epochs"],
        random_state=0,
    )
    # Warm-up (CUDA context, cuBLAS handles, kernel selection) outside timings.
    clone(base).set_params(max_epochs=1).fit(a[:64], b[:64], y[:64]).reward(a[:64])

    def embedding():
        est = clone(base).fit(a[:64], b[:64], y[:64])
        items = np.vstack([a, b])
        # Untimed warm-up over a few full encoding batches (kernel selection for
        # the batch shapes, allocator growth), then cold caches for the timing.
        est.reward(items[: 4 * size["encode_batch_size"]])
        TransformerReward.clear_cache()
        # The tokenizer call alone (Rust; multi-threaded unless
        # TOKENIZERS_PARALLELISM=false), to split the time below.
        prompts, responses = list(items[:, 0]), list(items[:, 1])
        tokenizer = est._rt.tokenizer
        tokenize, _ = clock.time(
            lambda: tokenizer(
                prompts, responses, truncation=True, max_length=size["max_length"]
            )
        )
        clock.reset_peak()
        seconds, _ = clock.time(lambda: est.reward(items))
        return {
            "texts": n_texts,
            "seconds": round(seconds, 3),
            "texts_per_s": round(n_texts / seconds, 1),
            "tokenizer_seconds": round(tokenize, 3),
            "texts_per_s_without_tokenizer": (
                round(n_texts / (seconds - tokenize), 1) if seconds > tokenize else None
            ),
            "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
            "precision": est.precision_,
            "peak_gpu_gib": clock.peak_gib(),
        }

    def head_training():
        TransformerReward.clear_cache()
        cold, _ = clock.time(lambda: clone(base).fit(a, b, y))
        clock.reset_peak()
        warm, est = clock.time(lambda: clone(base).fit(a, b, y))
        pairs = len(a) * est.n_iter_
        return {
            "pairs": len(a),
            "epochs": est.n_iter_,
            "batch_size": est.batch_size_,
            "fit_seconds_cold_cache": round(cold, 3),
            "fit_seconds_warm_cache": round(warm, 3),
            "pairs_per_s": round(pairs / warm, 1),
            "peak_gpu_gib": clock.peak_gib(),
        }

    def ensemble():
        TransformerReward.clear_cache()
        X = np.column_stack([a[:, 0], a[:, 1], b[:, 1]])
        ens = PairwiseCalibratedEnsemble(clone(base), n_estimators=4, random_state=0)
        clock.reset_peak()
        with count_embeddings() as counter:
            seconds, _ = clock.time(lambda: ens.fit(X, y))
        backbones = {id(m._rt.backbone) for m in ens.estimators_}
        report.data["checks"][f"{device}_one_pass_per_text"] = (
            counter.max_repeats == 1 and counter.n_unique == n_texts
        )
        report.data["checks"][f"{device}_members_share_backbone"] = len(backbones) == 1
        return {
            "n_estimators": ens.n_estimators_,
            "fit_seconds": round(seconds, 3),
            "texts_embedded": counter.n_texts,
            "unique_texts": n_texts,
            "peak_gpu_gib": clock.peak_gib(),
        }

    def last_n():
        n = size["ft_pairs"]
        est = clone(base).set_params(
            trainable="last-n",
            n_trainable_layers=2,
            max_epochs=1,
            batch_size=size["ft_batch_size"],
        )
        TransformerReward.clear_cache()
        clock.reset_peak()
        cold, _ = clock.time(lambda: clone(est).fit(a[:n], b[:n], y[:n]))
        peak_cold = clock.peak_gib()
        clock.reset_peak()
        warm, fitted = clock.time(lambda: clone(est).fit(a[:n], b[:n], y[:n]))
        payload = len(pickle.dumps(fitted))
        rewards = fitted.reward(a[:256])
        reloaded = pickle.loads(pickle.dumps(fitted)).reward(a[:256])
        report.data["checks"][f"{device}_last_n_reload_max_abs_diff"] = float(
            np.abs(rewards - reloaded).max()
        )
        return {
            "pairs": n,
            "n_trainable_layers": 2,
            "batch_size": size["ft_batch_size"],
            "fit_seconds_cold_cache": round(cold, 3),
            "fit_seconds_warm_cache": round(warm, 3),
            "pairs_per_s": round(n / warm, 1),
            # cold - warm = the lower-layer pass; meaningless when it is noise.
            "state_caching_texts_per_s": (
                round(2 * n / (cold - warm), 1) if cold - warm > 0.05 * cold else None
            ),
            "peak_gpu_gib_cold": peak_cold,
            "peak_gpu_gib": clock.peak_gib(),
            "pickle_bytes": payload,
        }

    def full():
        n = size["all_pairs"]
        est = clone(base).set_params(
            trainable="all", max_epochs=1, batch_size=size["ft_batch_size"]
        )
        clock.reset_peak()
        seconds, fitted = clock.time(lambda: est.fit(a[:n], b[:n], y[:n]))
        return {
            "pairs": n,
            "batch_size": size["ft_batch_size"],
            "fit_seconds": round(seconds, 3),
            "pairs_per_s": round(n / seconds, 1),
            "peak_gpu_gib": clock.peak_gib(),
            "pickle_bytes": len(pickle.dumps(fitted)),
        }

    def persistence():
        TransformerReward.clear_cache()
        est = clone(base).fit(a[:256], b[:256], y[:256])
        buffer = io.BytesIO()
        pickle.dump(est, buffer)
        loaded = pickle.loads(buffer.getvalue())
        diff = float(np.abs(est.reward(a[:256]) - loaded.reward(a[:256])).max())
        report.data["checks"][f"{device}_head_reload_max_abs_diff"] = diff
        return {"head_pickle_bytes": len(buffer.getvalue()), "reload_max_diff": diff}

    phases.run(device, "embedding", embedding)
    phases.run(device, "head_training", head_training)
    phases.run(device, "ensemble_k4_head", ensemble)
    phases.run(device, "last_n_finetune", last_n)
    phases.run(device, "all_finetune", full)
    phases.run(device, "persistence", persistence)
    TransformerReward.clear_cache()


# --------------------------------------------------------------------------- #
# Pure-torch fallback (no transformers / tokenizers / pcr_sklearn)
# --------------------------------------------------------------------------- #


def bench_torch_only(device, size, phases):
    """BERT-shaped nn.TransformerEncoder on random token ids."""
    import torch

    nn = torch.nn
    clock = Clock(torch, device)
    d, length, n_texts = size["hidden"], size["max_length"], 2 * size["n_pairs"]
    use_bf16 = device == "cuda" and torch.cuda.is_bf16_supported()

    def autocast():
        if use_bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    def layer():
        return nn.TransformerEncoderLayer(
            d, size["heads"], size["intermediate"], batch_first=True, norm_first=False
        )

    torch.manual_seed(0)
    embed = nn.Embedding(size["vocab"], d).to(device)
    lower = nn.ModuleList(layer() for _ in range(size["layers"] - 2)).to(device)
    upper = nn.ModuleList(layer() for _ in range(2)).to(device)
    for module in (embed, lower, upper):
        module.eval().requires_grad_(False)
    ids = torch.randint(0, size["vocab"], (n_texts, length))

    def run(modules, x):
        for m in modules:
            x = m(x)
        return x

    def embedding():
        clock.reset_peak()
        out = []

        def go():
            with torch.no_grad(), autocast():
                step = size["encode_batch_size"]
                for i in range(0, n_texts, step):
                    x = embed(ids[i : i + step].to(device))
                    out.append(run(list(lower) + list(upper), x).mean(1).float())

        seconds, _ = clock.time(go)
        return {
            "texts_per_s": round(n_texts / seconds, 1),
            "peak_gpu_gib": clock.peak_gib(),
        }

    def last_n():
        n = size["ft_pairs"]
        bs = size["ft_batch_size"]
        with torch.no_grad(), autocast():
            states = [
                run(lower, embed(ids[i : i + bs].to(device))).cpu()
                for i in range(0, 2 * n, bs)
            ]
        top = nn.ModuleList(layer() for _ in range(2)).to(device).train()
        head = nn.Linear(d, 1).to(device)
        params = list(top.parameters()) + list(head.parameters())
        optimizer = torch.optim.AdamW(params, lr=5e-5)
        clock.reset_peak()

        def go():
            for i in range(0, len(states) - 1, 2):
                with autocast():
                    xa = run(top, states[i].to(device)).mean(1)
                    xb = run(top, states[i + 1].to(device)).mean(1)
                    diff = (head(xa.float()) - head(xb.float())).squeeze(-1)
                loss = nn.functional.binary_cross_entropy_with_logits(
                    diff, torch.full_like(diff, 0.7)
                )
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()

        seconds, _ = clock.time(go)
        pairs = (len(states) // 2) * bs
        return {
            "pairs_per_s": round(pairs / seconds, 1),
            "peak_gpu_gib": clock.peak_gib(),
        }

    phases.run(device, "embedding_torch_only", embedding)
    phases.run(device, "last_n_finetune_torch_only", last_n)


# --------------------------------------------------------------------------- #


def print_table(report):
    rows = [
        ("embedding texts/s", "embedding", "texts_per_s"),
        ("embedding tokenizer s", "embedding", "tokenizer_seconds"),
        ("embedding peak GiB", "embedding", "peak_gpu_gib"),
        ("head training pairs/s", "head_training", "pairs_per_s"),
        ("head training peak GiB", "head_training", "peak_gpu_gib"),
        ("k=4 ensemble fit s (head)", "ensemble_k4_head", "fit_seconds"),
        ("k=4 texts embedded", "ensemble_k4_head", "texts_embedded"),
        ("last-2 fine-tune pairs/s", "last_n_finetune", "pairs_per_s"),
        ("last-2 caching texts/s", "last_n_finetune", "state_caching_texts_per_s"),
        ("last-2 peak GiB", "last_n_finetune", "peak_gpu_gib"),
        ("full fine-tune pairs/s", "all_finetune", "pairs_per_s"),
        ("full fine-tune peak GiB", "all_finetune", "peak_gpu_gib"),
        ("torch-only embedding texts/s", "embedding_torch_only", "texts_per_s"),
        ("torch-only last-2 pairs/s", "last_n_finetune_torch_only", "pairs_per_s"),
    ]  # fmt: skip
    results = report.data["results"]
    devices = list(results)
    print()
    print(f"{'metric':34s}" + "".join(f"{d:>16s}" for d in devices))
    for label, phase, key in rows:
        values = [results[d].get(phase, {}).get(key) for d in devices]
        if all(v is None for v in values):
            continue
        print(f"{label:34s}" + "".join(f"{str(v):>16s}" for v in values))
    for name, value in report.data["checks"].items():
        print(f"check {name}: {value}")
    if report.data["errors"]:
        print(f"{len(report.data['errors'])} phase(s) failed; see the JSON.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument(
        "--devices",
        default="auto",
        help="comma list of cuda,cpu; 'auto' = cuda (if available) and cpu",
    )
    parser.add_argument("--time-budget", type=float, default=240.0, help="seconds")
    parser.add_argument("--output", default=None, help="JSON path")
    parser.add_argument(
        "--torch-only", action="store_true", help="force the pure-torch fallback"
    )
    args = parser.parse_args(argv)
    start = time.monotonic()
    deadline = start + args.time_budget
    out_dir = os.environ.get("OUT") or os.path.join(ROOT, "benchmarks", "results")
    path = args.output or os.path.join(out_dir, "bench_gpu.json")
    meta = {"versions": versions(), "args": vars(args), "host": platform.node()}
    report = Report(path, meta)
    phases = Phases(report, deadline)
    sizes = SIZES["smoke" if args.smoke else "full"]

    try:
        import torch
    except ImportError:
        report.data["errors"].append({"phase": "import", "traceback": "no torch"})
        report.save()
        print("torch is not importable: nothing to benchmark.", flush=True)
        return 1
    cuda = torch.cuda.is_available()
    if args.devices == "auto":
        devices = (["cuda"] if cuda else []) + ["cpu"]
    else:
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if cuda:
        props = torch.cuda.get_device_properties(0)
        meta["gpu"] = {
            "name": props.name,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}",
            "bf16": torch.cuda.is_bf16_supported(),
            "cuda": torch.version.cuda,
        }
    meta["cpu_threads"] = torch.get_num_threads()
    meta["sizes"] = {d: sizes["gpu" if d == "cuda" else "cpu"] for d in devices}

    backend = "transformer_reward"
    try:
        if args.torch_only:
            raise ImportError("--torch-only given")
        importlib.import_module("tokenizers")
        importlib.import_module("transformers")
        importlib.import_module("pcr_sklearn.rewards")
    except Exception as exc:  # noqa: BLE001 - fall back to what works
        backend = "torch_only"
        meta["fallback_reason"] = f"{type(exc).__name__}: {exc}"
    meta["backend"] = backend
    report.save()
    print(json.dumps(meta, indent=2, default=str), flush=True)

    rng = np.random.RandomState(0)
    words = make_words(rng, 3000)
    with tempfile.TemporaryDirectory(prefix="pcr_bench_") as tmp:
        for device in devices:
            size = sizes["gpu" if device == "cuda" else "cpu"]
            if backend == "torch_only":
                bench_torch_only(device, size, phases)
                continue
            t0 = time.monotonic()
            try:
                model_dir, info = build_model(
                    os.path.join(tmp, device), size, words, rng
                )
            except Exception as exc:  # noqa: BLE001
                report.data["errors"].append(
                    {"phase": f"{device}/build", "traceback": traceback.format_exc()}
                )
                print(f"[{device}] building the model failed: {exc}", flush=True)
                continue
            info["build_seconds"] = round(time.monotonic() - t0, 2)
            meta.setdefault("models", {})[device] = info
            report.save()
            bench_reward(device, size, model_dir, rng, words, phases, report)
    meta["total_seconds"] = round(time.monotonic() - start, 1)
    report.save()
    print_table(report)
    print(f"\nwrote {path}")
    return 0 if not report.data["errors"] else 2


if __name__ == "__main__":
    sys.exit(main())
