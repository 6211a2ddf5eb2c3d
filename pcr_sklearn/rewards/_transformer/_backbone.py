"""The shared frozen backbone: runtime, tokens, batches and cached passes.

Everything here reads the backbone, nothing trains it. Texts are tokenized
once per (tokenizer, max_length) through a token-id cache; backbone outputs
(pooled vectors, or the states entering a split layer) go through the
process-level feature cache, so every unique text is encoded once for all the
members of an ensemble.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import threading
import warnings

import numpy as np

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


def resolve_precision(torch, precision, device, *, strict):
    """The compute precision for ``device``: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    ``"auto"`` is bf16 on CUDA devices that support it, else fp32. A precision
    the device cannot run raises with ``strict`` (``fit``), else falls back to
    fp32 (reloading a fitted model on another machine).
    """
    cuda = device.type == "cuda"
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    if precision == "auto":
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


def _tokenize(tokenizer, texts, max_length):
    """Token ids (and token types when the tokenizer makes them) per text.

    A prompt and its response are encoded as a tokenizer *text pair*
    (``tokenizer(prompt, response)``: ``[CLS] prompt [SEP] response [SEP]`` with
    segment ids for BERT-like models, the model's own pair template otherwise),
    truncated longest-first to ``max_length`` tokens. Texts without a prompt are
    encoded alone. Returns one ``(int32 ids, int8 types or None)`` pair of
    arrays per text.
    """
    out = [None] * len(texts)
    paired = [i for i, (p, _) in enumerate(texts) if p]
    single = [i for i, (p, _) in enumerate(texts) if not p]
    for rows, with_prompt in ((paired, True), (single, False)):
        if not rows:
            continue
        responses = [texts[i][1] for i in rows]
        # One call per group (the fast tokenizers batch it in Rust); the
        # attention mask is all ones here (no padding), so it is not built.
        options = dict(
            truncation=True, max_length=max_length, return_attention_mask=False
        )
        if with_prompt:
            prompts = [texts[i][0] for i in rows]
            encoded = tokenizer(prompts, responses, **options)
        else:
            encoded = tokenizer(responses, **options)
        ids = encoded["input_ids"]
        types = encoded.get("token_type_ids")
        if types is None:
            for j, i in enumerate(rows):
                out[i] = (np.asarray(ids[j], dtype=np.int32), None)
        else:
            for j, i in enumerate(rows):
                out[i] = (
                    np.asarray(ids[j], dtype=np.int32),
                    np.asarray(types[j], dtype=np.int8),
                )
    return out


def cached_tokens(runtime, texts, digests):
    """Token ids of ``texts`` (see :func:`_tokenize`), through a bounded cache."""
    prefix = (runtime.identity, runtime.max_length)
    keys = [prefix + (d,) for d in digests]
    out = _TOKENS.get_many(keys)
    missing = [i for i, value in enumerate(out) if value is None]
    if missing:
        computed = _tokenize(
            runtime.tokenizer, [texts[i] for i in missing], runtime.max_length
        )
        for i, value in zip(missing, computed, strict=True):
            out[i] = value
        _TOKENS.put_many((keys[i], out[i]) for i in missing)
    return out


def pad_batch(torch, tokens, pad_id, device):
    """Right-pad token lists into model inputs.

    Right padding keeps every real token at positions ``0..len-1`` whatever the
    batch, so a text's hidden states do not depend on its batch mates (left
    padding shifts positions in some decoder models); the cached states of
    ``"last-n"`` rely on that.
    """
    lengths = np.fromiter((len(ids) for ids, _ in tokens), np.int64, len(tokens))
    real = np.arange(lengths.max()) < lengths[:, None]
    # Boolean-mask assignment fills row by row, in the order of the concatenation.
    ids = np.full(real.shape, int(pad_id), dtype=np.int64)
    ids[real] = np.concatenate([row_ids for row_ids, _ in tokens])
    batch = {
        "input_ids": torch.from_numpy(ids).to(device),
        "attention_mask": torch.from_numpy(real.astype(np.int64)).to(device),
    }
    if tokens[0][1] is not None:
        types = np.zeros(real.shape, dtype=np.int64)
        types[real] = np.concatenate([row_types for _, row_types in tokens])
        batch["token_type_ids"] = torch.from_numpy(types).to(device)
    return batch


def length_batches(tokens, batch_size):
    """Index batches in order of token length, so batches carry little padding."""
    order = np.argsort([len(ids) for ids, _ in tokens], kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


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
    from ...text._hf import _progress, pool
    from ...text._hooks import record_embedded

    out = [None] * len(tokens)
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
            batch = pad_batch(
                torch,
                [tokens[i] for i in idx],
                runtime.tokenizer.pad_token_id,
                runtime.device,
            )
            try:
                output = runtime.backbone(**batch, **runtime.forward_kwargs)
            except StopForward:
                output = None
            record_embedded([texts[i] for i in idx], source=SOURCE)
            if split is None:
                # fp32 before pooling: a bf16 sum over hundreds of tokens loses
                # precision.
                vectors = pool(
                    output.last_hidden_state.float(), batch["attention_mask"], pooling
                )
                # One copy per batch; the per-text rows are views.
                for i, row in zip(idx, vectors.cpu().unbind(0), strict=True):
                    out[i] = row
            else:
                states = captured.pop("hidden").detach().cpu()
                for j, i in enumerate(idx):
                    out[i] = states[j, : len(tokens[i][0])].clone()
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
