"""CPU embedding throughput: the package's transformers path against direct loops.

Same texts, same model, same run (timings interleaved, best of ``--repeats``;
process CPU time, robust to other jobs on a shared machine, and wall time):

* ``package``: :func:`pcr_sklearn.text._hf.encode_texts`, what
  ``PairEmbedder(backend="transformers")`` runs: tokenize once, batches in order
  of token length, right padding, masked mean pooling, one host copy;
* ``package_pairembedder``: ``PairEmbedder.transform`` end to end on pairs
  that hold the same texts (``prompt_mode="response"``), uncached;
* ``direct_token_sorted``: a plain ``AutoModel`` loop written against the
  transformers API, the reference the package must be within 1.05x of;
* ``old_char_sorted``: the former ``encode_texts`` (batches in order of
  characters, padded by the tokenizer per batch, one ``.cpu()`` per batch).

Plus the padded-token ratio of both batchings (padded tokens / real tokens),
and ``precision="auto"`` on this CPU: the bf16 capability found, the choice
``TransformerReward`` makes, the bf16/fp32 speed ratio of its frozen pass
(``item_features``) and the cosine of bf16 to fp32 embeddings, for the main
model and for narrow 2-layer models on all 1,038 texts (the width threshold of the
choice).

Texts: argument texts of UKPConvArg1 (``load_convincing_arguments``, shipped
with the package), truncated at 128 tokens. Model: a random-weight BERT built
locally by ``build_random_bert`` (WordPiece trained on the texts; never
downloads), BERT-base sized by default (768 wide, 12 layers); throughput does
not depend on weight values.

Usage::

    python benchmarks/bench_text_cpu.py            # BERT-base, ~10 min on 1 core
    python benchmarks/bench_text_cpu.py --quick    # tiny model, seconds

One torch thread by default: on a shared machine, OpenMP threads spinning
against other jobs make timings erratic (``--threads`` changes it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SIZES = {
    "base": dict(hidden=768, layers=12, heads=12, intermediate=3072),
    "quick": dict(hidden=32, layers=2, heads=2, intermediate=64),
}
NARROW_WIDTHS = (16, 64, 128, 256)


def load_texts(n, seed=0):
    from pcr_sklearn.datasets import load_convincing_arguments

    texts = [str(t) for t in load_convincing_arguments().texts]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    return texts, [texts[i] for i in chosen]


def build(directory, corpus, size, max_length, vocab=8000):
    from pcr_sklearn.utils._testing import build_random_bert

    return build_random_bert(
        directory,
        corpus,
        hidden_size=size["hidden"],
        num_layers=size["layers"],
        num_heads=size["heads"],
        intermediate_size=size["intermediate"],
        vocab_size=vocab,
        max_length=max_length,
        sentence_transformers=False,
    )


# --------------------------------------------------------------------------- #
# The three embedding paths
# --------------------------------------------------------------------------- #


def direct_token_sorted(torch, tokenizer, model, texts, batch_size, max_length):
    """A plain transformers loop: tokenize once, sort by tokens, pad, mean-pool."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    ids = [torch.tensor(x) for x in encoded["input_ids"]]
    # BERT's token types default to zeros when the tokenizer makes none.
    types = [torch.tensor(x) for x in encoded.get("token_type_ids", [])]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = torch.empty(len(texts), model.config.hidden_size)
    pad = torch.nn.utils.rnn.pad_sequence
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            lengths = torch.tensor([len(ids[i]) for i in idx])
            input_ids = pad([ids[i] for i in idx], batch_first=True, padding_value=0)
            mask = (torch.arange(input_ids.shape[1]) < lengths[:, None]).long()
            extra = {}
            if types:
                extra["token_type_ids"] = pad([types[i] for i in idx], batch_first=True)
            states = model(
                input_ids=input_ids, attention_mask=mask, **extra
            ).last_hidden_state
            summed = (states * mask[..., None]).sum(1)
            out[torch.from_numpy(idx)] = summed / lengths[:, None]
    return out.numpy()


def old_char_sorted(torch, tokenizer, model, texts, batch_size, max_length):
    """The former encode_texts: character order, per-batch padding and copy."""
    from pcr_sklearn.text._hf import pool

    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            encoded = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            states = model(**encoded).last_hidden_state
            out[idx] = pool(states, encoded["attention_mask"]).float().cpu().numpy()
    return out


def padded_ratios(tokenizer, texts, batch_size, max_length):
    """Padded tokens / real tokens for token-length and character batching."""
    lengths = np.array(
        [len(x) for x in tokenizer(texts, truncation=True, max_length=max_length)[
            "input_ids"
        ]]
    )  # fmt: skip

    def padded(order):
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        return sum(len(b) * lengths[b].max() for b in batches) / lengths.sum()

    return {
        "real_tokens": int(lengths.sum()),
        "mean_tokens_per_text": round(float(lengths.mean()), 1),
        "token_sorted": round(padded(np.argsort(lengths, kind="stable")), 4),
        "char_sorted": round(
            padded(np.argsort([len(t) for t in texts], kind="stable")), 4
        ),
        "unsorted": round(padded(np.arange(len(texts))), 4),
    }


# --------------------------------------------------------------------------- #
# precision="auto"
# --------------------------------------------------------------------------- #


def frozen_pass(model_dir, texts, precision, max_length, batch_size, repeats=1):
    """Best CPU seconds and vectors of TransformerReward's frozen pass."""
    from pcr_sklearn.rewards import TransformerReward

    fit_items = np.array([["", t] for t in texts[:4]], dtype=object)
    est = TransformerReward(
        model_dir,
        device="cpu",
        precision=precision,
        max_length=max_length,
        encode_batch_size=batch_size,
        max_epochs=1,
        random_state=0,
    ).fit(fit_items[:2], fit_items[2:], [0.7, 0.3])
    items = np.array([["", t] for t in texts], dtype=object)
    est.item_features(items[:batch_size])  # warm-up: kernels for this dtype
    seconds = float("inf")
    for _ in range(repeats):
        TransformerReward.clear_cache()
        start = time.process_time()  # CPU time: see main()
        vectors = est.item_features(items)
        seconds = min(seconds, time.process_time() - start)
    TransformerReward.clear_cache()
    return seconds, vectors, est.precision_


def precision_report(model_dir, texts, max_length, batch_size, repeats=1):
    import torch

    from pcr_sklearn._torch import cpu_bf16_support
    from pcr_sklearn.rewards._transformer._backbone import choose_precision

    cpu = torch.device("cpu")
    run = (model_dir, texts)
    fp32_s, fp32, _ = frozen_pass(*run, "fp32", max_length, batch_size, repeats)
    bf16_s, bf16, _ = frozen_pass(*run, "bf16", max_length, batch_size, repeats)
    cosine = np.sum(fp32 * bf16, 1) / (
        np.linalg.norm(fp32, axis=1) * np.linalg.norm(bf16, axis=1)
    )
    return {
        "auto_choice": choose_precision(torch, "auto", cpu, model_dir, strict=True),
        "cpu_bf16_support": cpu_bf16_support(),
        "fp32_texts_per_cpu_s": round(len(texts) / fp32_s, 2),
        "bf16_texts_per_cpu_s": round(len(texts) / bf16_s, 2),
        "speedup_bf16_over_fp32": round(fp32_s / bf16_s, 3),
        "cosine_bf16_to_fp32_min": round(float(cosine.min()), 6),
        "cosine_bf16_to_fp32_mean": round(float(cosine.mean()), 6),
    }


# --------------------------------------------------------------------------- #


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, seconds")
    parser.add_argument("--n-texts", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--output", default=None, help="JSON path")
    args = parser.parse_args(argv)

    import torch
    import transformers

    from pcr_sklearn.text import PairEmbedder
    from pcr_sklearn.text._hf import encode_texts, get_shared_model

    if args.threads:
        torch.set_num_threads(args.threads)
    size = SIZES["quick" if args.quick else "base"]
    n_texts = 64 if args.quick else args.n_texts
    corpus, texts = load_texts(n_texts)
    bs, max_length = args.batch_size, args.max_length
    report = {
        "meta": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "model": {**size, "weights": "random (build_random_bert)"},
            "n_texts": len(texts),
            "batch_size": bs,
            "max_length": max_length,
            "texts": "UKPConvArg1 argument texts (load_convincing_arguments)",
            "repeats": args.repeats,
        }
    }
    with tempfile.TemporaryDirectory(prefix="pcr_bench_text_cpu_") as tmp:
        built = build(os.path.join(tmp, "main"), corpus, size, max_length)
        tokenizer, model = get_shared_model(built.hf_dir, device="cpu")
        report["meta"]["model"]["n_parameters"] = built.n_parameters
        report["meta"]["model"]["attn_implementation"] = (
            model.config._attn_implementation
        )
        half = len(texts) // 2
        pairs = np.array(
            [["p", texts[2 * i], texts[2 * i + 1]] for i in range(half)], dtype=object
        )
        embedder = PairEmbedder(
            "transformers",
            model=built.hf_dir,
            device="cpu",
            prompt_mode="response",
            batch_size=bs,
            max_length=max_length,
        ).fit(pairs[:1])
        paths = {
            "package": lambda: encode_texts(
                texts, tokenizer=tokenizer, model=model, batch_size=bs,
                max_length=max_length,
            ),
            "package_pairembedder": lambda: embedder.transform(pairs),
            "direct_token_sorted": lambda: direct_token_sorted(
                torch, tokenizer, model, texts, bs, max_length
            ),
            "old_char_sorted": lambda: old_char_sorted(
                torch, tokenizer, model, texts, bs, max_length
            ),
        }  # fmt: skip
        # CPU time of the process (all its threads) is what the ratios use: on
        # a shared machine, wall time also counts the other jobs' time slices.
        times = {name: [] for name in paths}
        walls = {name: [] for name in paths}
        outputs = {}
        encode_texts(texts[:bs], tokenizer=tokenizer, model=model)  # warm-up
        for repeat in range(args.repeats):
            for name, fn in paths.items():
                start, wall = time.process_time(), time.perf_counter()
                outputs[name] = fn()
                times[name].append(time.process_time() - start)
                walls[name].append(time.perf_counter() - wall)
                print(
                    f"[{repeat}] {name:22s} cpu {times[name][-1]:8.2f} s, "
                    f"wall {walls[name][-1]:8.2f} s",
                    flush=True,
                )
        n_embedded = {"package_pairembedder": 2 * half}
        report["throughput"] = {
            name: {
                "best_cpu_seconds": round(min(t), 3),
                "all_cpu_seconds": [round(x, 3) for x in t],
                "all_wall_seconds": [round(x, 3) for x in walls[name]],
                "texts_per_cpu_s": round(n_embedded.get(name, len(texts)) / min(t), 2),
                "texts_per_wall_s": round(
                    n_embedded.get(name, len(texts)) / min(walls[name]), 2
                ),
            }
            for name, t in times.items()
        }
        ref = outputs["direct_token_sorted"]
        report["agreement_max_abs_diff_to_direct"] = {
            name: float(np.abs(outputs[name] - ref).max())
            for name in ("package", "old_char_sorted")
        }
        best = {name: min(t) for name, t in times.items()}
        report["ratios"] = {
            "package_time_over_direct": round(
                best["package"] / best["direct_token_sorted"], 3
            ),
            "old_time_over_package": round(
                best["old_char_sorted"] / best["package"], 3
            ),
            "old_time_over_direct": round(
                best["old_char_sorted"] / best["direct_token_sorted"], 3
            ),
        }
        report["padded_token_ratio"] = padded_ratios(tokenizer, texts, bs, max_length)
        # The timed sample holds few batches; the whole corpus, for the ratio.
        report["padded_token_ratio_all_texts"] = padded_ratios(
            tokenizer, corpus, bs, max_length
        )
        print("precision: main model", flush=True)
        report["precision"] = {
            str(size["hidden"]): precision_report(built.hf_dir, texts, max_length, bs)
        }
        for width in () if args.quick else NARROW_WIDTHS:
            print(f"precision: width {width}", flush=True)
            narrow = dict(
                hidden=width, layers=2, heads=max(1, width // 64) if width >= 64 else 2,
                intermediate=4 * width,
            )  # fmt: skip
            small = build(os.path.join(tmp, f"w{width}"), corpus, narrow, max_length)
            # All the texts, best of 3: a narrow model's pass is short.
            report["precision"][str(width)] = precision_report(
                small.hf_dir, corpus, max_length, bs, repeats=3
            )
            report["precision"][str(width)]["n_texts"] = len(corpus)
            report["precision"][str(width)]["model"] = narrow
    print_table(report)
    out_dir = os.path.join(ROOT, "benchmarks", "results")
    name = "bench_text_cpu.quick.json" if args.quick else "bench_text_cpu.json"
    path = args.output or os.path.join(out_dir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"\nwrote {path}")
    return 0


def print_table(report):
    meta = report["meta"]
    model = meta["model"]
    print(
        f"\nmodel: {model['hidden']} wide, {model['layers']} layers "
        f"({model.get('n_parameters', '?')} parameters, random weights); "
        f"{meta['n_texts']} texts, batch {meta['batch_size']}, "
        f"max_length {meta['max_length']}, {meta['torch_threads']} threads"
    )
    print(f"{'path':24s}{'texts/cpu-s':>12s}{'texts/wall-s':>13s}{'best cpu-s':>11s}")
    for name, row in report["throughput"].items():
        print(
            f"{name:24s}{row['texts_per_cpu_s']:>12.2f}{row['texts_per_wall_s']:>13.2f}"
            f"{row['best_cpu_seconds']:>11.2f}"
        )
    for name, value in report["ratios"].items():
        print(f"{name:32s}{value:>8.3f}")
    for key in ("padded_token_ratio", "padded_token_ratio_all_texts"):
        pad = report[key]
        print(
            f"{key}: token-sorted {pad['token_sorted']}, char-sorted "
            f"{pad['char_sorted']}, unsorted {pad['unsorted']}"
        )
    print(f"{'width':>6s}{'auto':>6s}{'fp32 t/s':>9s}{'bf16 t/s':>9s}{'speedup':>9s}"
          f"{'min cos':>10s}")  # fmt: skip
    for width, row in report["precision"].items():
        print(
            f"{width:>6s}{row['auto_choice']:>6s}{row['fp32_texts_per_cpu_s']:>9.1f}"
            f"{row['bf16_texts_per_cpu_s']:>9.1f}{row['speedup_bf16_over_fp32']:>9.2f}"
            f"{row['cosine_bf16_to_fp32_min']:>10.5f}"
        )
    first = next(iter(report["precision"].values()))
    print(f"CPU bf16 support: {first['cpu_bf16_support']}")


if __name__ == "__main__":
    sys.exit(main())
