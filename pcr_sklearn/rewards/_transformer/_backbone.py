"""The shared frozen backbone: runtime, tokens, batches and cached passes.

Everything here reads the backbone, nothing trains it. Texts are tokenized
once per (tokenizer, max_length) through a token-id cache; backbone outputs
(pooled vectors, or the states entering a split layer) go through the
process-level feature cache, so every unique text is encoded once for all the
members of an ensemble. Tokenization, padding and length batching are the
helpers of :mod:`pcr_sklearn.text._hf`, shared with ``PairEmbedder``; a pass
keeps its results on the device and copies them to the host once
(:class:`pcr_sklearn.text._hf.HostCopies`).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import threading
import warnings

import numpy as np

from ..._torch import cpu_bf16_support
from ...text._hf import HostCopies, length_batches, pad_batch, tokenize_pairs
from ...utils._caches import LRUCache, tensor_nbytes
from ._surgery import StopForward, capture_layer_input

# ``source`` of the reports to :func:`pcr_sklearn.text._hooks.record_embedded`.
SOURCE = "transformer-reward"
DEFAULT_CACHE_BYTES = 2 * 1024**3
# Initial feature-cache size in bytes, read when the cache is first used (never
# at import); TransformerReward.set_cache_limit changes it at run time.
CACHE_BYTES_VARIABLE = "PCR_SKLEARN_TRANSFORMER_CACHE_BYTES"
_TOKENS_MAX_ENTRIES = 500_000

_feature_cache = None
_feature_cache_lock = threading.Lock()
# Token ids per (tokenizer identity, max_length, text): the ensemble calls
# ``reward`` on the same texts after every stage, and re-tokenizing them each
# time would cost more than the cached head. Bounded by a number of texts.
_TOKENS = LRUCache(_TOKENS_MAX_ENTRIES)
# Hooks placed on a *shared* backbone are visible to every thread using it, so
# the lower-layer pass (which hooks a layer) runs under one lock.
_SHARED_FORWARD_LOCK = threading.RLock()


# --------------------------------------------------------------------------- #
# Process-level caches
# --------------------------------------------------------------------------- #


def feature_cache():
    """The byte-bounded feature cache of the process, created on first use.

    Keys are ``(namespace, text digest)``, values CPU tensors. Its initial size
    is ``$PCR_SKLEARN_TRANSFORMER_CACHE_BYTES`` if set when this is first
    called, else 2 GiB.
    """
    global _feature_cache
    with _feature_cache_lock:
        if _feature_cache is None:
            max_bytes = int(os.environ.get(CACHE_BYTES_VARIABLE, DEFAULT_CACHE_BYTES))
            _feature_cache = LRUCache(max_bytes, size_of=tensor_nbytes)
        return _feature_cache


def feature_cache_info():
    """Entries, bytes, limit, hits and misses of the feature cache."""
    info = feature_cache().info()
    return {
        "n_entries": info["n_entries"],
        "nbytes": info["size"],
        "max_bytes": info["max_size"],
        "hits": info["hits"],
        "misses": info["misses"],
    }


def clear_caches():
    """Drop every cached feature and token id."""
    feature_cache().clear()
    _TOKENS.clear()


# --------------------------------------------------------------------------- #
# Runtime (never pickled)
# --------------------------------------------------------------------------- #


def _forward_kwargs(model):
    """Extra forward arguments: no KV cache (decoder models build one by default)."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic wrappers
        return {}
    return {"use_cache": False} if "use_cache" in parameters else {}


class Runtime:
    """Everything a fitted member needs in memory besides its trained weights.

    Parameters
    ----------
    tokenizer, backbone
        The shared frozen pair from :func:`pcr_sklearn.text._hf.get_shared_model`.
    device : torch.device
    precision : {"fp32", "bf16", "fp16"}
        Resolved compute precision.
    max_length : int
        Resolved truncation length in tokens.
    model_ref : str or os.PathLike
        The ``model`` parameter the backbone was loaded from.
    identity : str
        :func:`pcr_sklearn.text._hf.model_identity` of ``model_ref``.
    dtype : torch.dtype
        Dtype the backbone is held in.
    """

    def __init__(
        self,
        tokenizer,
        backbone,
        device,
        precision,
        max_length,
        *,
        model_ref,
        identity,
        dtype,
    ):
        self.tokenizer = tokenizer
        self.backbone = backbone
        self.device = device
        self.precision = precision
        self.max_length = max_length
        self.forward_kwargs = _forward_kwargs(backbone)
        self.shell = None  # "last-n": the grafted member model
        self.inject = {}  # "last-n": states fed to the first trained layer
        self.model_ref = model_ref
        self.identity = identity
        # What the cached features of this backbone depend on.
        self.namespace = (identity, str(device), str(dtype), max_length)

    def autocast(self, torch):
        """The autocast context of the compute precision (none for fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)


#: ``precision="auto"`` on a CPU with native bf16 (:func:`cpu_bf16_support`)
#: picks bf16 only for backbones at least this wide, where it pays for the
#: lost fp32 precision. Measured on an AVX512-BF16 CPU
#: (``benchmarks/bench_text_cpu.py``, frozen pass, one thread, CPU time): bf16
#: is 3.5x as fast as fp32 for BERT-base, 2.4x at width 256 and 2.0x at 128,
#: but 1.1x at width 64 and 0.8x at 16 (the casts of autocast weigh more next
#: to small matmuls).
CPU_BF16_MIN_HIDDEN = 128


def resolve_precision(torch, precision, device, *, strict, hidden_size=None):
    """The compute precision for ``device``: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    ``"auto"`` is bf16 on CUDA devices that support it; on the CPU it is bf16
    when the CPU has native bf16 dot products (AMX or AVX512-BF16, see
    :func:`pcr_sklearn._torch.cpu_bf16_support`) and the backbone is at least
    :data:`CPU_BF16_MIN_HIDDEN` wide (``hidden_size``; unknown counts as
    narrow); fp32 otherwise. A precision the device cannot run raises with
    ``strict`` (``fit``), else falls back to fp32 (reloading a fitted model on
    another machine).
    """
    cuda = device.type == "cuda"
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    if precision == "auto":
        if device.type == "cpu":
            wide = hidden_size is not None and hidden_size >= CPU_BF16_MIN_HIDDEN
            return "bf16" if wide and cpu_bf16_support() else "fp32"
        return "bf16" if bf16_ok else "fp32"
    if precision == "fp16" and not cuda:
        if strict:
            raise ValueError(
                "precision='fp16' needs a CUDA device; use 'fp32' or 'bf16' on "
                f"{device}."
            )
        return "fp32"
    if precision == "bf16" and cuda and not bf16_ok:
        if strict:
            raise ValueError(
                f"precision='bf16' is not supported by {device}; use 'fp16' or 'fp32'."
            )
        return "fp32"
    return precision


def choose_precision(torch, precision, device, model, *, strict, fitted=None):
    """:func:`resolve_precision` for the backbone ``model`` on ``device``.

    Reads the backbone's width from its config only when it matters
    (``"auto"`` on a CPU with native bf16). ``fitted``: the ``(device,
    precision)`` a fitted model used; a reload on the same kind of device
    keeps that precision under ``"auto"``, so a model fitted in fp32 gives
    the same rewards on a machine where ``"auto"`` would now pick bf16.
    """
    if precision == "auto" and fitted is not None:
        fitted_device, fitted_precision = fitted
        if torch.device(fitted_device).type == device.type:
            precision = fitted_precision
    hidden_size = None
    if precision == "auto" and device.type == "cpu" and cpu_bf16_support():
        hidden_size = _hidden_size(model)
    return resolve_precision(
        torch, precision, device, strict=strict, hidden_size=hidden_size
    )


def _hidden_size(model):
    """Width of the backbone ``model`` from its config, or ``None`` if unknown."""
    from ...text._hf import model_config

    if model is None:
        return None
    try:
        size = getattr(model_config(model), "hidden_size", None)
    except (OSError, ValueError, KeyError):
        # Unreadable here: loading the model will raise the real error.
        return None
    return size if isinstance(size, int) else None


def backbone_dtype(torch, precision):
    """The dtype the frozen backbone is held in for a compute ``precision``."""
    # The frozen backbone never needs fp32 master weights, so it is held in
    # the compute dtype (half the memory under bf16/fp16).
    return {
        "fp32": torch.float32,
        "bf16": torch.bfloat16,
        "fp16": torch.float16,
    }[precision]


def make_runtime(torch, model, device, precision, max_length):
    """Load (or share) the backbone of ``model`` and wrap it in a :class:`Runtime`."""
    from ...text._hf import get_shared_model, model_identity, resolve_max_length

    if model is None:
        raise ValueError(
            "TransformerReward needs a model: pass a local directory or a hub "
            "name, e.g. TransformerReward('path/to/model')."
        )
    dtype = backbone_dtype(torch, precision)
    tokenizer, backbone = get_shared_model(model, device=device, dtype=dtype)
    max_length = resolve_max_length(tokenizer, backbone, max_length)
    return Runtime(
        tokenizer,
        backbone,
        device,
        precision,
        max_length,
        model_ref=model,
        identity=model_identity(model),
        dtype=dtype,
    )


def config_fingerprint(model):
    """A short hash of the architecture config, to notice another backbone."""
    config = model.config.to_dict()
    for key in ("_name_or_path", "torch_dtype", "dtype", "transformers_version"):
        config.pop(key, None)
    blob = repr(sorted(config.items())).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def weights_probe(torch, model):
    """Mean and std of the first weights, to notice a different backbone."""
    first = next(model.parameters())
    values = first.detach().reshape(-1)[:4096].to("cpu", torch.float64)
    return float(values.mean()), float(values.std())


# --------------------------------------------------------------------------- #
# Texts and tokens
# --------------------------------------------------------------------------- #


def _digest(prompt, response):
    # The prompt length makes the key unambiguous ("ab"+"c" vs "a"+"bc").
    key = f"{len(prompt)}\x00{prompt}{response}".encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def unique_texts(*groups):
    """Unique texts over several item lists and, per list, its row -> text index.

    Returns ``texts, digests, inverses``: the unique ``(prompt, response)``
    tuples in order of first appearance, their cache digests, and one int64
    array per group mapping its rows to positions in ``texts``.
    """
    index = {}
    texts = []
    inverses = []
    for group in groups:
        inverse = np.empty(len(group), dtype=np.int64)
        for row, text in enumerate(group):
            position = index.get(text)
            if position is None:
                position = index[text] = len(texts)
                texts.append(text)
            inverse[row] = position
        inverses.append(inverse)
    digests = [_digest(p, r) for p, r in texts]
    return texts, digests, inverses


def cached_tokens(runtime, texts, digests):
    """Token ids of ``texts`` (see :func:`~pcr_sklearn.text._hf.tokenize_pairs`).

    Through a bounded cache keyed by tokenizer identity and ``max_length``.
    """
    prefix = (runtime.identity, runtime.max_length)
    keys = [prefix + (d,) for d in digests]
    out = _TOKENS.get_many(keys)
    missing = [i for i, value in enumerate(out) if value is None]
    if missing:
        computed = tokenize_pairs(
            runtime.tokenizer, [texts[i] for i in missing], runtime.max_length
        )
        for i, value in zip(missing, computed, strict=True):
            out[i] = value
        _TOKENS.put_many((keys[i], out[i]) for i in missing)
    return out


# --------------------------------------------------------------------------- #
# Backbone passes
# --------------------------------------------------------------------------- #


def backbone_pass(
    torch, runtime, tokens, texts, *, pooling, batch_size, progress, split=None
):
    """Run the shared frozen backbone over ``tokens`` (one list of texts).

    ``split=None``: pooled final states (``pooling``), one ``(hidden,)`` fp32
    tensor per text. ``split=s``: the states entering layer ``s`` (a hook stops
    the pass there), one unpadded ``(n_tokens, hidden)`` tensor per text.
    ``batch_size`` texts go through per forward; ``progress`` shows a bar.
    """
    from ...text._hf import _progress, _to_device, pool
    from ...text._hooks import record_embedded

    out = [None] * len(tokens)

    def write(idx, values, lengths):
        if lengths is None:
            # The per-text rows are views of one host tensor per copy.
            for i, row in zip(idx, values.unbind(0), strict=True):
                out[i] = row
        else:
            # Clones: each text's states own their memory, so the cache's byte
            # count is what is held, whatever else it evicts.
            for i, row in zip(idx, values.split(lengths), strict=True):
                out[i] = row.clone()

    copies = HostCopies(torch, write)
    batches = length_batches(tokens, batch_size)
    # no_grad, not inference_mode: the cached tensors later feed layers that are
    # trained, and inference tensors cannot be saved for backward.
    with (
        _SHARED_FORWARD_LOCK,
        capture_layer_input(torch, runtime.backbone, split) as captured,
        torch.no_grad(),
        runtime.autocast(torch),
    ):
        for idx in _progress(batches, progress, "Encoding", "batch"):
            batch_tokens = [tokens[i] for i in idx]
            batch = pad_batch(
                torch, batch_tokens, runtime.tokenizer.pad_token_id, runtime.device
            )
            try:
                output = runtime.backbone(
                    **batch.model_inputs(), **runtime.forward_kwargs
                )
            except StopForward:
                output = None
            record_embedded([texts[i] for i in idx], source=SOURCE)
            if split is None:
                # fp32 before pooling: a bf16 sum over hundreds of tokens loses
                # precision.
                vectors = pool(
                    output.last_hidden_state.float(), batch["attention_mask"], pooling
                )
                copies.add(idx, vectors)
            else:
                # The real tokens only, gathered on the device with indices made
                # on the host (a boolean mask would wait for the device).
                states = captured.pop("hidden").detach()
                lengths = [len(ids) for ids, _ in batch_tokens]
                width = states.shape[1]
                flat = np.concatenate(
                    [j * width + np.arange(n) for j, n in enumerate(lengths)]
                )
                rows = states.reshape(-1, states.shape[-1]).index_select(
                    0, _to_device(torch, flat, runtime.device)
                )
                copies.add(idx, rows, lengths)
        copies.flush()
    return out


def cached_pass(
    torch,
    runtime,
    texts,
    digests,
    tokens,
    *,
    pooling,
    batch_size,
    progress,
    split=None,
):
    """Like :func:`backbone_pass`, through the feature cache."""
    kind = ("pooled", pooling) if split is None else ("split", split)
    keys = [(runtime.namespace + kind, digest) for digest in digests]
    cache = feature_cache()
    found = cache.get_many(keys)
    missing = [i for i, value in enumerate(found) if value is None]
    if missing:
        computed = backbone_pass(
            torch,
            runtime,
            [tokens[i] for i in missing],
            [texts[i] for i in missing],
            pooling=pooling,
            batch_size=batch_size,
            progress=progress,
            split=split,
        )
        cache.put_many(zip([keys[i] for i in missing], computed, strict=True))
        for i, value in zip(missing, computed, strict=True):
            found[i] = value
    return found


def split_states_provider(
    torch, runtime, texts, digests, tokens, *, split, hidden_size, **encoding
):
    """``"last-n"``: per-batch access to the states entering layer ``split``.

    Returns ``text indices -> list of states``. The states of all the texts are
    computed once through the feature cache when they fit in it; otherwise the
    frozen lower layers are recomputed for every batch, with a warning.
    ``encoding`` holds the ``pooling``, ``batch_size`` and ``progress`` of
    :func:`backbone_pass`.
    """
    sizes = sum(len(ids) for ids, _ in tokens) * hidden_size
    itemsize = torch.empty((), dtype=backbone_dtype(torch, runtime.precision))
    nbytes = sizes * itemsize.element_size()
    max_bytes = feature_cache().max_size
    if nbytes <= max_bytes:
        states = cached_pass(
            torch, runtime, texts, digests, tokens, split=split, **encoding
        )
        return lambda idx: [states[i] for i in idx]
    warnings.warn(
        f"The token states of {len(texts)} texts need {nbytes / 2**30:.2f} GiB, "
        f"more than the feature cache limit ({max_bytes / 2**30:.2f} GiB); "
        "the frozen lower layers are recomputed for every batch. Raise the "
        "limit with TransformerReward.set_cache_limit(...).",
        UserWarning,
        # At the caller of ``fit`` / ``reward``, past the estimator's steps
        # (_states_provider <- _frozen_inputs / _token_rewards <- fit / reward).
        stacklevel=5,
    )
    return lambda idx: backbone_pass(
        torch,
        runtime,
        [tokens[i] for i in idx],
        [texts[i] for i in idx],
        split=split,
        **encoding,
    )
