"""Profile the frozen-embedding pass on a GPU: the package against direct loops.

The package's pass is ``TransformerReward(trainable="head")``'s frozen
backbone pass (``cached_pass`` through ``item_features``, feature cache
emptied before each timing, token ids cached: tokenization is timed apart).
It is compared with direct loops over the same pre-tokenized texts (all
exactly ``--length`` tokens: long texts truncated) and the same BERT-base
sized model (random weights, built locally; never downloads). ``direct_ref``
does what the package does (bf16 weights under bf16 autocast, SDPA attention,
no attention mask for a batch without padding, inputs through pinned memory
with ``non_blocking=True``, pooled vectors kept on the device and copied
once); every other direct loop differs from it in ONE thing:

* ``fp32_weights_autocast``: fp32 weights under bf16 autocast;
* ``bf16_no_autocast``: bf16 weights, no autocast;
* ``sync_per_batch``: ``.cpu()`` of every batch's vectors;
* ``pageable_h2d``: inputs copied from pageable memory (a stream sync);
* ``ones_mask``: an all-ones attention mask passed, as a loop that always
  passes the tokenizer's mask does (transformers then checks ``mask.all()``,
  a host sync, before dropping it; a mask it keeps rules out the flash
  kernel);
* ``eager``: ``attn_implementation="eager"`` instead of SDPA.

For every variant: texts/s, the ratio to the best direct loop, host syncs per
batch (``aten::_local_scalar_dense`` and stream/device synchronizations seen
by ``torch.profiler``), and the top CUDA kernels; for the attention, which
SDPA kernel ran (flash, memory-efficient, cuDNN or the math fallback), read
from the kernel names. ``direct_ref`` and the package run at every batch size
of ``--batch-sizes`` (default 64, 256, 512, 1024), the variants at
``--variant-batch`` (256).

Results go to ``$OUT/gpu_embedding_profile.json`` when ``OUT`` is set (else
``benchmarks/results/``), rewritten after every phase; phases that would start
after ``--time-budget`` seconds are skipped. ``--dry-run`` runs everything on
the CPU with a tiny model in seconds (what the tests run); its numbers mean
nothing.

Usage::

    python benchmarks/gpu_embedding_profile.py              # CUDA, ~2-3 min
    python benchmarks/gpu_embedding_profile.py --dry-run    # CPU, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

BASE = dict(hidden=768, layers=12, heads=12, intermediate=3072, vocab=8000)
TINY = dict(hidden=32, layers=2, heads=2, intermediate=64, vocab=500)
VARIANTS = {
    # name: what differs from direct_ref
    "direct_ref": {},
    "fp32_weights_autocast": {"weights": "fp32"},
    "bf16_no_autocast": {"autocast": False},
    "sync_per_batch": {"sync_per_batch": True},
    "pageable_h2d": {"pinned": False},
    "ones_mask": {"mask": True},
    "eager": {"attention": "eager"},
}
SYNC_EVENTS = (
    "aten::_local_scalar_dense",
    "cudaStreamSynchronize",
    "cudaDeviceSynchronize",
)


class Report:
    """The JSON document, rewritten after every phase."""

    def __init__(self, path, meta):
        self.path = path
        self.data = {"meta": meta, "results": {}, "kernels": {}, "errors": []}

    def save(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.data, fh, indent=2, default=str)
        os.replace(tmp, self.path)


def make_texts(n, n_words, seed=0):
    """Distinct texts of random syllable words (long: truncated to length)."""
    rng = np.random.RandomState(seed)
    syllables = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"]
    words = ["".join(rng.choice(syllables, rng.randint(1, 4))) for _ in range(3000)]
    return [f"t{i} " + " ".join(rng.choice(words, n_words)) for i in range(n)]


# --------------------------------------------------------------------------- #
# Timing and profiling
# --------------------------------------------------------------------------- #


class Device:
    def __init__(self, torch, name):
        self.torch = torch
        self.device = torch.device(name)
        self.cuda = self.device.type == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def time(self, fn, repeats):
        """Best wall time of ``repeats`` calls (after one warm-up call)."""
        fn()
        best = float("inf")
        for _ in range(repeats):
            self.sync()
            start = time.perf_counter()
            fn()
            self.sync()
            best = min(best, time.perf_counter() - start)
        return best

    def profile(self, fn, n_batches, top):
        """Top kernels (or CPU ops in a dry run) and host syncs per batch."""
        profiler = self.torch.profiler
        activities = [profiler.ProfilerActivity.CPU]
        if self.cuda:
            activities.append(profiler.ProfilerActivity.CUDA)
        with profiler.profile(activities=activities) as prof:
            fn()
            self.sync()
        events = prof.key_averages()
        syncs = sum(e.count for e in events if e.key in SYNC_EVENTS)

        def device_us(event):
            for name in ("self_device_time_total", "self_cuda_time_total"):
                value = getattr(event, name, None)
                if value:
                    return float(value)
            return 0.0

        if self.cuda:
            kernels = [e for e in events if device_us(e) > 0 and not e.is_legacy]
            kernels = [e for e in kernels if not e.key.startswith("aten::")]
            timed = sorted(kernels, key=device_us, reverse=True)
            total = sum(device_us(e) for e in kernels) or 1.0
            rows = [
                {
                    "kernel": e.key[:160],
                    "calls": e.count,
                    "device_ms": round(device_us(e) / 1e3, 3),
                    "share": round(device_us(e) / total, 4),
                }
                for e in timed[:top]
            ]
            names = [e.key for e in kernels]
        else:
            timed = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)
            rows = [
                {
                    "op": e.key[:160],
                    "calls": e.count,
                    "cpu_ms": round(e.self_cpu_time_total / 1e3, 3),
                }
                for e in timed[:top]
            ]
            names = [e.key for e in events]
        return {
            "top": rows,
            "host_syncs_per_batch": round(syncs / max(n_batches, 1), 2),
            "attention_kernel": attention_kernel(names),
        }


def attention_kernel(names):
    """Which SDPA kernel ran, from the kernel (or op) names of a profile."""
    lowered = [n.lower() for n in names]

    def has(*parts):
        return [n for n in lowered if all(p in n for p in parts)]

    if has("flash"):
        return {"kernel": "flash", "names": has("flash")[:3]}
    efficient = has("fmha") + has("efficient_attention") + has("mem_eff")
    if efficient:
        return {"kernel": "memory-efficient", "names": efficient[:3]}
    if has("cudnn") and (has("attention") or has("sdpa")):
        return {"kernel": "cudnn", "names": has("cudnn")[:3]}
    if has("_scaled_dot_product_attention_math") or has("softmax"):
        return {"kernel": "math (bmm + softmax)", "names": has("softmax")[:3]}
    return {"kernel": "unknown", "names": []}


# --------------------------------------------------------------------------- #
# The package's pass and the direct loops
# --------------------------------------------------------------------------- #


def package_runner(torch, model_dir, texts, device, length, batch_size):
    """``() -> vectors`` of the package's frozen pass (feature cache emptied)."""
    from pcr_sklearn.rewards import TransformerReward
    from pcr_sklearn.rewards._transformer._backbone import feature_cache

    fit_items = np.array([["", t] for t in texts[:4]], dtype=object)
    est = TransformerReward(
        model_dir,
        device=device,
        max_length=length,
        encode_batch_size=batch_size,
        max_epochs=1,
        random_state=0,
    ).fit(fit_items[:2], fit_items[2:], [0.7, 0.3])
    items = np.array([["", t] for t in texts], dtype=object)
    start = time.perf_counter()
    est.item_features(items)  # tokenizes once: token ids stay cached
    cold = time.perf_counter() - start

    def run():
        feature_cache().clear()
        return est.item_features(items)

    return run, est, cold


def load_direct_models(torch, transformers, model_dir, device):
    load = transformers.AutoModel.from_pretrained
    models = {}
    for weights, attention in (("bf16", "sdpa"), ("fp32", "sdpa"), ("bf16", "eager")):
        dtype = torch.bfloat16 if weights == "bf16" else torch.float32
        net = load(model_dir, dtype=dtype, attn_implementation=attention)
        models[weights, attention] = net.to(device).eval().requires_grad_(False)
    return models


def direct_runner(torch, models, ids, device, batch_size, options):
    """``() -> vectors`` of one direct loop (see the module docstring)."""
    settings = {
        "weights": "bf16",
        "attention": "sdpa",
        "autocast": True,
        "sync_per_batch": False,
        "pinned": True,
        "mask": False,
        **options,
    }
    model = models[settings["weights"], settings["attention"]]
    cuda = device.type == "cuda"

    def to_device(x):
        if cuda and settings["pinned"]:
            return x.pin_memory().to(device, non_blocking=True)
        return x.to(device)

    def run():
        outs = []
        autocast = torch.autocast(
            device_type=device.type,
            dtype=torch.bfloat16,
            enabled=settings["autocast"],
        )
        with torch.inference_mode(), autocast:
            for start in range(0, ids.shape[0], batch_size):
                x = to_device(ids[start : start + batch_size])
                mask = torch.ones_like(x) if settings["mask"] else None
                states = model(input_ids=x, attention_mask=mask).last_hidden_state
                # No padding: the masked mean of the package is the plain mean.
                vectors = states.float().mean(1)
                outs.append(vectors.cpu() if settings["sync_per_batch"] else vectors)
        return torch.cat(outs).cpu()

    return run


# --------------------------------------------------------------------------- #


def run_phases(args, report, deadline):
    import torch
    import transformers

    from pcr_sklearn.rewards import TransformerReward
    from pcr_sklearn.utils._testing import build_random_bert

    dry = args.dry_run
    size = TINY if dry else BASE
    dev = Device(torch, "cpu" if dry else "cuda")
    length = 16 if dry else args.length
    n_texts = 64 if dry else args.n_texts
    batch_sizes = [8, 16] if dry else args.batch_sizes
    variant_batch = 16 if dry else args.variant_batch
    repeats = 1 if dry else args.repeats
    texts = make_texts(n_texts, n_words=length * 2)
    results = report.data["results"]

    with tempfile.TemporaryDirectory(prefix="pcr_gpu_profile_") as tmp:
        start = time.monotonic()
        built = build_random_bert(
            tmp,
            texts[:2000],
            hidden_size=size["hidden"],
            num_layers=size["layers"],
            num_heads=size["heads"],
            intermediate_size=size["intermediate"],
            vocab_size=size["vocab"],
            max_length=max(length, 32),
            sentence_transformers=False,
        )
        report.data["meta"]["model"] = {
            **size,
            "n_parameters": built.n_parameters,
            "build_seconds": round(time.monotonic() - start, 1),
        }
        tokenizer = transformers.AutoTokenizer.from_pretrained(built.hf_dir)
        encoded = tokenizer(texts, truncation=True, max_length=length)
        ids = torch.tensor(encoded["input_ids"])
        assert ids.shape == (n_texts, length), ids.shape  # no padding anywhere
        models = load_direct_models(torch, transformers, built.hf_dir, dev.device)
        report.data["meta"]["sdpa_backends"] = sdpa_backends(torch)
        report.save()

        def phase(name, fn):
            if time.monotonic() > deadline:
                results[name] = {"skipped": "time budget exhausted"}
            else:
                try:
                    results[name] = fn()
                except Exception as exc:  # noqa: BLE001 - keep the other phases
                    results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                    report.data["errors"].append(
                        {"phase": name, "traceback": traceback.format_exc()}
                    )
            print(f"{name}: {results[name]}", flush=True)
            report.save()

        def measure(run, batch_size, profile=True):
            seconds = dev.time(run, repeats)
            row = {
                "batch_size": batch_size,
                "texts_per_s": round(n_texts / seconds, 1),
                "seconds": round(seconds, 4),
            }
            if profile:
                n_batches = -(-n_texts // batch_size)
                row.update(dev.profile(run, n_batches, args.top))
            return row

        for bs in batch_sizes:

            def package(bs=bs):
                run, est, cold = package_runner(
                    torch, built.hf_dir, texts, dev.device.type, length, bs
                )
                row = measure(run, bs)
                row["precision"] = est.precision_
                row["cold_seconds_with_tokenization"] = round(cold, 4)
                TransformerReward.clear_cache()
                return row

            phase(f"package/bs{bs}", package)
            phase(
                f"direct_ref/bs{bs}",
                lambda bs=bs: measure(
                    direct_runner(torch, models, ids, dev.device, bs, {}), bs
                ),
            )

        def agreement():
            # The package's vectors against direct_ref's (cosine: both bf16 on
            # CUDA, up to summation order).
            run, _, _ = package_runner(
                torch, built.hf_dir, texts, dev.device.type, length, variant_batch
            )
            ref = direct_runner(torch, models, ids, dev.device, variant_batch, {})
            a, b = torch.as_tensor(run()).float(), ref().float()
            cosine = torch.nn.functional.cosine_similarity(a, b, dim=1)
            TransformerReward.clear_cache()
            return {
                "cosine_min": round(float(cosine.min()), 6),
                "max_abs_diff": float((a - b).abs().max()),
            }

        phase("agreement_package_vs_direct_ref", agreement)
        for name, options in VARIANTS.items():
            if name == "direct_ref":
                continue
            phase(
                f"{name}/bs{variant_batch}",
                lambda o=options: measure(
                    direct_runner(torch, models, ids, dev.device, variant_batch, o),
                    variant_batch,
                ),
            )
    summarize(report)


def sdpa_backends(torch):
    cuda = getattr(torch.backends, "cuda", None)
    out = {}
    for name in ("flash", "mem_efficient", "math", "cudnn"):
        check = getattr(cuda, f"{name}_sdp_enabled", None)
        out[name] = bool(check()) if check is not None else None
    return out


def summarize(report):
    """Ratios to the best direct loop (per batch size where it exists)."""
    results = report.data["results"]
    rates = {
        name: row["texts_per_s"]
        for name, row in results.items()
        if isinstance(row, dict) and "texts_per_s" in row
    }
    direct = {n: r for n, r in rates.items() if not n.startswith("package")}
    if not direct:
        return
    best_name = max(direct, key=direct.get)
    report.data["best_direct"] = {"name": best_name, "texts_per_s": direct[best_name]}
    for name, rate in rates.items():
        results[name]["ratio_to_best_direct"] = round(rate / direct[best_name], 3)
        same = f"direct_ref/{name.split('/')[-1]}"
        if name.startswith("package") and same in rates:
            results[name]["ratio_to_direct_ref_same_batch"] = round(
                rate / rates[same], 3
            )
    report.save()


def print_table(report):
    results = report.data["results"]
    print(f"\n{'phase':34s}{'texts/s':>11s}{'vs best':>9s}{'syncs/b':>9s}  attention")
    for name, row in results.items():
        if "texts_per_s" not in row:
            print(f"{name:34s}  {row}")
            continue
        kernel = row.get("attention_kernel", {}).get("kernel", "")
        print(
            f"{name:34s}{row['texts_per_s']:>11.1f}"
            f"{row.get('ratio_to_best_direct', float('nan')):>9.3f}"
            f"{row.get('host_syncs_per_batch', float('nan')):>9.2f}  {kernel}"
        )
    best = report.data.get("best_direct")
    if best:
        print(f"best direct loop: {best['name']} ({best['texts_per_s']} texts/s)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny, seconds")
    parser.add_argument("--n-texts", type=int, default=8192)
    parser.add_argument("--length", type=int, default=128, help="tokens per text")
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[64, 256, 512, 1024]
    )
    parser.add_argument("--variant-batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--top", type=int, default=8, help="kernels per profile")
    parser.add_argument("--time-budget", type=float, default=240.0, help="seconds")
    parser.add_argument("--output", default=None, help="JSON path")
    args = parser.parse_args(argv)

    import torch

    if args.dry_run:
        torch.set_num_threads(1)  # tiny model: threads only add contention
    if not args.dry_run and not torch.cuda.is_available():
        print("No CUDA device: run with --dry-run for the CPU smoke run.")
        return 1
    out_dir = os.environ.get("OUT") or os.path.join(ROOT, "benchmarks", "results")
    name = "gpu_embedding_profile.dry.json" if args.dry_run else None
    path = args.output or os.path.join(out_dir, name or "gpu_embedding_profile.json")
    meta = {
        "args": vars(args),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
    }
    if torch.cuda.is_available() and not args.dry_run:
        props = torch.cuda.get_device_properties(0)
        meta["gpu"] = {
            "name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
        }
    report = Report(path, meta)
    report.save()
    run_phases(args, report, time.monotonic() + args.time_budget)
    print_table(report)
    print(f"\nwrote {path}")
    return 0 if not report.data["errors"] else 2


if __name__ == "__main__":
    sys.exit(main())
