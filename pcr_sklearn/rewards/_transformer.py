"""A reward head on a transformer language model, frozen or fine-tuned.

Sharing and caching design
--------------------------
An ensemble holds ``k`` members that are separate ``clone``\\ s, so nothing can be
shared through the estimator objects themselves. Two process-level stores do it
instead:

* **Backbones** come from :func:`pcr_sklearn.text._hf.get_shared_model`, keyed by
  model identity (local path + file stamps, or hub name), device and dtype. Every
  member asks for the same key and gets the same frozen module: one copy in
  memory whatever ``k`` is. Each fitted member also keeps a reference, so the
  backbone lives as long as any member does.
* **Features** live in a byte-bounded LRU cache (:class:`_FeatureCache`, default
  2 GiB, see :meth:`TransformerReward.set_cache_limit`), keyed by a namespace
  (model identity, device, dtype, max_length, pooling or split layer) and by a
  hash of each ``(prompt, response)`` text. ``trainable="head"`` caches one pooled
  vector per text, so every unique text goes through the backbone once for the
  whole ensemble (all stages, all members, and predictions on the same texts).
  ``trainable="last-n"`` caches the token states entering the first trained layer
  (unpadded, in the compute dtype); if they do not fit in the cache the lower
  layers are recomputed per batch instead, with a warning.

Members own only what they train: a head, plus a copy of the top
``n_trainable_layers`` layers (``"last-n"``) or of the whole backbone (``"all"``).
A ``"last-n"`` member runs a *shallow* copy of the backbone whose layer list holds
only its own layers; the frozen embeddings, norms and lower layers are the shared
objects, never copies.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import hashlib
import inspect
import math
import os
import threading
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions, _fit_context
from .._torch import (
    import_torch,
    resolve_device,
    resolve_load_device,
    seed_from_random_state,
    state_dict_to_cpu,
    to_numpy,
    torch_random_context,
)
from ..utils.validation import check_text_items
from ._base import BaseReward

TRAINABLE = ("head", "last-n", "all")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
HEADS = ("linear", "mlp")

# Defaults when learning_rate / max_epochs are "auto": a head on frozen features
# is a small convex-ish problem that wants a large step and many cheap epochs;
# fine-tuning follows the usual reward-model recipes (small step, few epochs).
_AUTO_LEARNING_RATE = {"head": 1e-3, "last-n": 5e-5, "all": 2e-5}
_AUTO_MAX_EPOCHS = {"head": 20, "last-n": 2, "all": 2}
# A head step costs microseconds of arithmetic but a fixed Python/optimizer
# overhead, so heads train on large batches; with little data, "auto" epochs
# add passes until the head has had this many optimizer steps.
_AUTO_BATCH_SIZE = {"head": 256, "last-n": 16, "all": 16}
_AUTO_MIN_HEAD_STEPS = 300
_MAX_GRAD_NORM = 1.0
_DEFAULT_CACHE_BYTES = 2 * 1024**3
_SOURCE = "transformer-reward"


# --------------------------------------------------------------------------- #
# Process-level feature cache
# --------------------------------------------------------------------------- #


class _FeatureCache:
    """Byte-bounded LRU store of CPU tensors keyed by ``(namespace, digest)``."""

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self._data = collections.OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _size(tensor):
        return tensor.element_size() * tensor.nelement()

    def get(self, namespace, digests):
        """Cached tensors for ``digests`` (``None`` where missing)."""
        out = []
        with self._lock:
            for digest in digests:
                value = self._data.get((namespace, digest))
                if value is None:
                    self.misses += 1
                else:
                    self._data.move_to_end((namespace, digest))
                    self.hits += 1
                out.append(value)
        return out

    def put(self, namespace, digests, tensors):
        with self._lock:
            for digest, tensor in zip(digests, tensors, strict=True):
                key = (namespace, digest)
                size = self._size(tensor)
                if size > self.max_bytes:
                    continue
                old = self._data.pop(key, None)
                if old is not None:
                    self._nbytes -= self._size(old)
                self._data[key] = tensor
                self._nbytes += size
            while self._nbytes > self.max_bytes and self._data:
                _, evicted = self._data.popitem(last=False)
                self._nbytes -= self._size(evicted)

    def clear(self):
        with self._lock:
            self._data.clear()
            self._nbytes = 0
            self.hits = self.misses = 0

    def info(self):
        with self._lock:
            return {
                "n_entries": len(self._data),
                "nbytes": self._nbytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
            }


_CACHE = _FeatureCache(
    int(os.environ.get("PCR_SKLEARN_TRANSFORMER_CACHE_BYTES", _DEFAULT_CACHE_BYTES))
)
# Token ids per (tokenizer identity, max_length, text): the ensemble calls
# ``reward`` on the same texts after every stage, and re-tokenizing them each
# time would cost more than the cached head. Bounded by a number of texts.
_TOKENS = collections.OrderedDict()
_TOKENS_MAX_ENTRIES = 500_000
_TOKENS_LOCK = threading.Lock()
# Hooks placed on a *shared* backbone are visible to every thread using it, so
# the lower-layer pass (which hooks a layer) runs under one lock.
_SHARED_FORWARD_LOCK = threading.RLock()


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the wanted states exist."""


# --------------------------------------------------------------------------- #
# Text handling
# --------------------------------------------------------------------------- #


def _check_text_items(items, name="items"):
    """Validate ``(n, 2)`` ``(prompt, response)`` items; return a list of tuples.

    An empty prompt means the response is encoded alone.
    """
    # ``tolist``: iterating the object array itself makes one array per row.
    return [tuple(row) for row in check_text_items(items, name).tolist()]


def _digest(prompt, response):
    # The prompt length makes the key unambiguous ("ab"+"c" vs "a"+"bc").
    key = f"{len(prompt)}\x00{prompt}{response}".encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def _unique_texts(*groups):
    """Unique texts over several item lists and, per list, its row -> text index."""
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


def _cached_tokens(rt, texts, digests):
    """Token ids of ``texts`` (see :func:`_tokenize`), through a bounded cache."""
    prefix = (rt.identity, rt.max_length)
    with _TOKENS_LOCK:
        out = [_TOKENS.get(prefix + (d,)) for d in digests]
    missing = [i for i, value in enumerate(out) if value is None]
    if missing:
        computed = _tokenize(rt.tokenizer, [texts[i] for i in missing], rt.max_length)
        with _TOKENS_LOCK:
            for i, value in zip(missing, computed, strict=True):
                out[i] = value
                _TOKENS[prefix + (digests[i],)] = value
            while len(_TOKENS) > _TOKENS_MAX_ENTRIES:
                _TOKENS.popitem(last=False)
    return out


def _pad_batch(torch, tokens, pad_id, device):
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


def _length_batches(tokens, batch_size):
    """Index batches in order of token length, so batches carry little padding."""
    order = np.argsort([len(ids) for ids, _ in tokens], kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


# --------------------------------------------------------------------------- #
# Backbone surgery
# --------------------------------------------------------------------------- #


def _find_layer_list(torch, model):
    """``(dotted path, ModuleList)`` of the transformer blocks of ``model``.

    Works for the usual layouts (``encoder.layer`` in BERT/RoBERTa, ``layers`` in
    Llama/Qwen/Mistral, ``h`` in GPT-2, ``transformer.layer`` in DistilBERT): the
    one ModuleList of identical blocks whose length is ``num_hidden_layers``.
    """
    n_layers = getattr(model.config, "num_hidden_layers", None)
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.ModuleList)
        and len(module) > 0
        and len({type(m) for m in module}) == 1
        and (n_layers is None or len(module) == n_layers)
    ]
    if len(found) != 1:
        raise ValueError(
            f"Cannot locate the transformer layers of {type(model).__name__} "
            f"({len(found)} candidate layer lists); trainable='last-n' needs one. "
            "Use trainable='head' or trainable='all'."
        )
    return found[0]


def _shallow_module_copy(module):
    """A new module object sharing parameters and children with ``module``.

    Its child, parameter, buffer and hook dictionaries are copies, so replacing
    a child (or adding a hook) does not touch the original.
    """
    new = copy.copy(module)
    for key, value in vars(module).items():
        if isinstance(value, dict):
            new.__dict__[key] = copy.copy(value)
    return new


def _graft_layers(backbone, path, layers):
    """A shallow copy of ``backbone`` whose layer list at ``path`` is ``layers``.

    Only the modules on the path from the root to the layer list are copied
    (shallowly); everything else is the shared frozen backbone.
    """
    parts = path.split(".")
    root = _shallow_module_copy(backbone)
    parent = root
    for part in parts[:-1]:
        child = _shallow_module_copy(parent._modules[part])
        parent._modules[part] = child
        parent = child
    parent._modules[parts[-1]] = layers
    return root


def _replace_hidden(args, kwargs, hidden):
    if args:
        return (hidden,) + tuple(args[1:]), kwargs
    kwargs = dict(kwargs)
    kwargs["hidden_states"] = hidden
    return args, kwargs


def _forward_kwargs(model):
    """Extra forward arguments: no KV cache (decoder models build one by default)."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic wrappers
        return {}
    return {"use_cache": False} if "use_cache" in parameters else {}


def _config_fingerprint(model):
    config = model.config.to_dict()
    for key in ("_name_or_path", "torch_dtype", "dtype", "transformers_version"):
        config.pop(key, None)
    blob = repr(sorted(config.items())).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _weights_probe(torch, model):
    """Mean and std of the first weights, to notice a different backbone."""
    first = next(model.parameters())
    values = first.detach().reshape(-1)[:4096].to("cpu", torch.float64)
    return float(values.mean()), float(values.std())


# --------------------------------------------------------------------------- #
# Runtime (never pickled)
# --------------------------------------------------------------------------- #


class _Runtime:
    """Everything a fitted member needs in memory besides its trained weights."""

    def __init__(self, tokenizer, backbone, device, precision, max_length):
        self.tokenizer = tokenizer
        self.backbone = backbone
        self.device = device
        self.precision = precision
        self.max_length = max_length
        self.forward_kwargs = _forward_kwargs(backbone)
        self.shell = None  # "last-n": the grafted member model
        self.inject = {}  # "last-n": states fed to the first trained layer

    def autocast(self, torch):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)


# --------------------------------------------------------------------------- #
# The estimator
# --------------------------------------------------------------------------- #


class TransformerReward(BaseReward):
    """Reward head on a transformer model, trained on text comparisons.

    Each item is a ``(prompt, response)`` pair; its reward is a head (linear or
    MLP) applied to the pooled final hidden states of a transformers
    ``AutoModel``. The prompt and the response go in as a tokenizer *text pair*
    (``[CLS] prompt [SEP] response [SEP]`` for BERT-like models), truncated
    longest-first to ``max_length`` tokens; an empty prompt encodes the response
    alone. Follows the base-reward protocol (see :mod:`pcr_sklearn.rewards._base`),
    so it is a member for :class:`~pcr_sklearn.PairwiseCalibratedEnsemble`, which
    takes text triples ``(prompt, response_a, response_b)``.

    Three training modes:

    * ``"head"`` (default): the backbone is frozen (no parameter requires a
      gradient, eval mode) and shared by every member in the process; each unique
      text is encoded once and its pooled vector cached, so the ``k`` members of
      an ensemble cost one embedding pass plus ``k`` small heads;
    * ``"last-n"``: each member trains its own copy of the top
      ``n_trainable_layers`` layers plus the head; embeddings and lower layers
      stay shared and frozen, and the states entering the first trained layer are
      cached per unique text (memory: ``n_tokens * hidden_size`` values per text;
      if they exceed the cache limit the lower layers are recomputed per batch);
    * ``"all"``: full fine-tuning; every member owns a full copy of the backbone
      (``k`` copies in CPU memory; during training the GPU holds one copy plus
      gradients and AdamW state, about 16 bytes per parameter in fp32). Members
      are moved to the CPU after ``fit`` and back to the device per call.

    Parameters
    ----------
    model : str or os.PathLike, default=None
        Local directory (loaded with ``local_files_only=True``) or hub name of a
        transformers model with a tokenizer. Required; ``None`` raises in ``fit``.
        May be changed with ``set_params`` on a fitted (e.g. unpickled) model to
        point at the backbone's new location.
    trainable : {"head", "last-n", "all"}, default="head"
        What is trained; see above.
    n_trainable_layers : int, default=2
        Number of top transformer layers trained when ``trainable="last-n"``.
    pooling : {"mean", "cls", "last"}, default="mean"
        Masked mean over tokens, first token, or last real token (decoder models).
    head : {"linear", "mlp"}, default="linear"
        ``"linear"``: one linear layer on the pooled vector; ``"mlp"``: linear,
        GELU, linear with ``head_hidden_size`` units. With ``trainable="head"``
        the pooled vectors are standardized with training statistics first.
    head_hidden_size : int, default=256
        Width of the MLP head.
    max_length : int or None, default=256
        Truncation length in tokens of a prompt-response pair (``None``: the
        model's limit).
    batch_size : int or "auto", default="auto"
        Comparisons per training micro-batch (each holds ``2 * batch_size``
        texts); ``"auto"`` is 256 for ``"head"`` (a head step is cheap) and 16
        for the fine-tuning modes.
    encode_batch_size : int, default=64
        Texts per inference forward pass: the frozen encoding pass and
        :meth:`reward` in the fine-tuning modes.
    gradient_accumulation_steps : int, default=1
        Micro-batches per optimizer step; the effective batch is
        ``batch_size * gradient_accumulation_steps`` comparisons.
    learning_rate : float or "auto", default="auto"
        AdamW learning rate; ``"auto"`` is 1e-3 for ``"head"``, 5e-5 for
        ``"last-n"`` and 2e-5 for ``"all"``.
    weight_decay : float, default=0.01
        AdamW decoupled weight decay, on weight matrices only (not on biases or
        norms).
    warmup_ratio : float, default=0.1
        Fraction of the optimizer steps with a linear warm-up; then linear decay
        to zero. Gradients are clipped at norm 1.
    max_epochs : int or "auto", default="auto"
        Passes over the comparisons; ``"auto"`` is 20 for ``"head"`` and 2 for
        the fine-tuning modes; for ``"head"`` more epochs are added when the
        data are small, so that training takes at least 300 optimizer steps.
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
        ``"auto"``: bf16 autocast on CUDA devices that support it, else fp32
        (always fp32 on the CPU). With bf16/fp16 the shared frozen backbone is
        held in that dtype and trained weights stay fp32 under autocast;
        ``"fp16"`` (CUDA only) uses a gradient scaler.
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    random_state : int, RandomState instance or None, default=None
        Seeds head initialisation, shuffling and dropout. On the CPU the same
        seed gives identical results.
    verbose : int, default=0
        1: one line per epoch; 2: also progress bars while encoding.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained weights: ``head`` (plus ``layers``, the trained top layers,
        for ``"last-n"``, or ``backbone``, the fine-tuned model, for ``"all"``).
        After unpickling it is rebuilt on first use.
    hidden_size_ : int
        Width of the pooled vectors.
    n_layers_ : int
        Number of transformer layers of the backbone.
    device_ : str
        Device used by ``fit``.
    precision_ : str
        Resolved precision used by ``fit`` (``"fp32"``, ``"bf16"`` or ``"fp16"``).
    learning_rate_ : float
        Resolved learning rate.
    max_epochs_ : int
        Resolved number of epochs.
    batch_size_ : int
        Resolved training micro-batch size.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Mean training loss per epoch.

    See Also
    --------
    pcr_sklearn.rewards.MLPReward : MLP reward on precomputed embeddings.
    pcr_sklearn.text.PairEmbedder : Text pairs to numeric features.

    Notes
    -----
    Persistence (pickle/joblib) stores the parameters (including ``model``, the
    backbone reference) and the trained weights as CPU tensors, never the
    backbone; loading reloads the backbone from ``model`` on first use, on the
    CPU when CUDA is not available. A model fitted with ``"all"`` stores its full
    fine-tuned weights (that is what it trained).

    The feature cache is per process; ``GridSearchCV(n_jobs>1)`` workers each
    fill their own. Use :meth:`clear_cache` to free it and
    :meth:`set_cache_limit` to resize it (or set the environment variable
    ``PCR_SKLEARN_TRANSFORMER_CACHE_BYTES`` before import).

    Examples
    --------
    >>> from pcr_sklearn.rewards import TransformerReward
    >>> reward = TransformerReward("path/to/model", random_state=0)
    >>> items_a = [["Is tea good?", "Yes, it is healthy."]]
    >>> items_b = [["Is tea good?", "No."]]
    >>> reward.fit(items_a, items_b, [0.8]).reward(items_a)  # doctest: +SKIP
    array([0.01...])
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "trainable": [StrOptions(set(TRAINABLE))],
        "n_trainable_layers": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"mean", "cls", "last"})],
        "head": [StrOptions(set(HEADS))],
        "head_hidden_size": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "encode_batch_size": [Interval(Integral, 1, None, closed="left")],
        "gradient_accumulation_steps": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "warmup_ratio": [Interval(Real, 0, 1, closed="both")],
        "max_epochs": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "precision": [StrOptions(set(PRECISIONS))],
        "device": "no_validation",  # a str or torch.device, checked in fit
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model=None,
        *,
        trainable="head",
        n_trainable_layers=2,
        pooling="mean",
        head="linear",
        head_hidden_size=256,
        max_length=256,
        batch_size="auto",
        encode_batch_size=64,
        gradient_accumulation_steps=1,
        learning_rate="auto",
        weight_decay=0.01,
        warmup_ratio=0.1,
        max_epochs="auto",
        precision="auto",
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.trainable = trainable
        self.n_trainable_layers = n_trainable_layers
        self.pooling = pooling
        self.head = head
        self.head_hidden_size = head_hidden_size
        self.max_length = max_length
        self.batch_size = batch_size
        self.encode_batch_size = encode_batch_size
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_epochs = max_epochs
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __reward_tags__(self):
        tags = super().__reward_tags__()
        tags.text_items = True
        return tags

    # ------------------------------------------------------------------ cache
    @staticmethod
    def clear_cache():
        """Drop every cached feature (pooled vectors, token states, token ids).

        Shared backbones are released by
        :func:`pcr_sklearn.text._hf.clear_model_cache` once no fitted member
        refers to them.
        """
        _CACHE.clear()
        with _TOKENS_LOCK:
            _TOKENS.clear()

    @staticmethod
    def set_cache_limit(max_bytes):
        """Set the feature-cache size in bytes (evicting if needed); return the old.

        The default is 2 GiB (or ``PCR_SKLEARN_TRANSFORMER_CACHE_BYTES``). A
        pooled vector costs ``4 * hidden_size`` bytes per text; cached
        ``"last-n"`` states cost ``n_tokens * hidden_size`` values per text.
        """
        old = _CACHE.max_bytes
        _CACHE.max_bytes = int(max_bytes)
        _CACHE.put(None, [], [])  # evicts down to the new limit
        return old

    @staticmethod
    def cache_info():
        """Entries, bytes, limit, hits and misses of the feature cache."""
        return _CACHE.info()

    # ---------------------------------------------------------------- helpers
    def _resolve_precision(self, torch, device, *, strict):
        precision = self.precision
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
                    f"precision='bf16' is not supported by {device}; use 'fp16' or "
                    "'fp32'."
                )
            return "fp32"
        return precision

    def _backbone_dtype(self, torch, precision):
        # The frozen backbone never needs fp32 master weights, so it is held in
        # the compute dtype (half the memory under bf16/fp16).
        return {
            "fp32": torch.float32,
            "bf16": torch.bfloat16,
            "fp16": torch.float16,
        }[precision]

    def _make_runtime(self, torch, device, precision):
        from ..text._hf import get_shared_model, model_identity, resolve_max_length

        if self.model is None:
            raise ValueError(
                "TransformerReward needs a model: pass a local directory or a hub "
                "name, e.g. TransformerReward('path/to/model')."
            )
        dtype = self._backbone_dtype(torch, precision)
        tokenizer, backbone = get_shared_model(self.model, device=device, dtype=dtype)
        max_length = resolve_max_length(tokenizer, backbone, self.max_length)
        runtime = _Runtime(tokenizer, backbone, device, precision, max_length)
        runtime.model_ref = self.model
        runtime.identity = model_identity(self.model)
        runtime.namespace = (runtime.identity, str(device), str(dtype), max_length)
        return runtime

    def _oom_error(self, torch, exc, stage):
        if self._runtime_device_type() == "cuda":
            torch.cuda.empty_cache()
        batch = getattr(self, "batch_size_", self.batch_size)
        steps = self.gradient_accumulation_steps
        half = max(1, batch // 2) if isinstance(batch, int) else 8
        return type(exc)(
            f"CUDA ran out of memory while {stage} (batch_size={batch}, "
            f"gradient_accumulation_steps={steps}, encode_batch_size="
            f"{self.encode_batch_size}, max_length={self.max_length}, "
            f"trainable={self.trainable!r}). Use a smaller batch_size (e.g. "
            f"batch_size={half} with gradient_accumulation_steps={steps * 2} keeps "
            "the effective batch) or a smaller encode_batch_size, a smaller "
            "max_length, trainable='head' or 'last-n', or precision='bf16'. "
            f"Original error: {exc}"
        )

    def _runtime_device_type(self):
        runtime = getattr(self, "_rt", None)
        return runtime.device.type if runtime is not None else "cpu"

    @contextlib.contextmanager
    def _oom_guard(self, torch, stage):
        oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
        try:
            yield
        except oom as exc:
            raise self._oom_error(torch, exc, stage) from exc

    # ------------------------------------------------------ backbone passes
    def _backbone_pass(self, torch, rt, tokens, texts, *, split=None):
        """Run the shared frozen backbone over ``tokens`` (one list of texts).

        ``split=None``: pooled final states, shape ``(n, hidden)`` fp32.
        ``split=s``: the states entering layer ``s`` (a hook stops the pass
        there), one unpadded ``(n_tokens, hidden)`` tensor per text.
        """
        from ..text._hf import _progress, pool
        from ..text._hooks import record_embedded

        pooled = [None] * len(tokens)
        batches = _length_batches(tokens, self.encode_batch_size)
        handle = None
        box = {}
        if split is not None:
            _, layers = _find_layer_list(torch, rt.backbone)

            def capture(module, args, kwargs):
                box["hidden"] = args[0] if args else kwargs["hidden_states"]
                raise _StopForward

            handle = layers[split].register_forward_pre_hook(capture, with_kwargs=True)
        try:
            # no_grad, not inference_mode: the cached tensors later feed layers
            # that are trained, and inference tensors cannot be saved for
            # backward.
            with _SHARED_FORWARD_LOCK, torch.no_grad(), rt.autocast(torch):
                for idx in _progress(batches, self.verbose >= 2, "Encoding", "batch"):
                    batch = _pad_batch(
                        torch,
                        [tokens[i] for i in idx],
                        rt.tokenizer.pad_token_id,
                        rt.device,
                    )
                    try:
                        output = rt.backbone(**batch, **rt.forward_kwargs)
                    except _StopForward:
                        output = None
                    record_embedded([texts[i] for i in idx], source=_SOURCE)
                    if split is None:
                        # fp32 before pooling: a bf16 sum over hundreds of
                        # tokens loses precision.
                        vectors = pool(
                            output.last_hidden_state.float(),
                            batch["attention_mask"],
                            self.pooling,
                        )
                        # One copy per batch; the per-text rows are views.
                        for i, row in zip(idx, vectors.cpu().unbind(0), strict=True):
                            pooled[i] = row
                    else:
                        states = box.pop("hidden").detach().cpu()
                        for j, i in enumerate(idx):
                            pooled[i] = states[j, : len(tokens[i][0])].clone()
        finally:
            if handle is not None:
                handle.remove()
        return pooled

    def _cached_pass(self, torch, rt, texts, digests, tokens, *, split=None):
        """Like :meth:`_backbone_pass`, through the feature cache."""
        kind = ("pooled", self.pooling) if split is None else ("split", split)
        namespace = rt.namespace + kind
        found = _CACHE.get(namespace, digests)
        missing = [i for i, value in enumerate(found) if value is None]
        if missing:
            computed = self._backbone_pass(
                torch,
                rt,
                [tokens[i] for i in missing],
                [texts[i] for i in missing],
                split=split,
            )
            _CACHE.put(namespace, [digests[i] for i in missing], computed)
            for i, value in zip(missing, computed, strict=True):
                found[i] = value
        return found

    # ---------------------------------------------------------- member model
    def _build_module(self, torch, rt, hidden_size, features=None):
        """The trainable module (head plus trained layers), on ``rt.device``."""
        nn = torch.nn
        module = nn.Module()
        if self.head == "linear":
            head = nn.Sequential(nn.Linear(hidden_size, 1))
        else:
            head = nn.Sequential(
                nn.Linear(hidden_size, self.head_hidden_size),
                nn.GELU(),
                nn.Linear(self.head_hidden_size, 1),
            )
        # The usual reward-model head init (as in TRL): small random weights, so
        # fine-tuned layers get a gradient from the first step.
        last = head[-1]
        nn.init.normal_(last.weight, std=1.0 / math.sqrt(last.in_features + 1))
        nn.init.zeros_(last.bias)
        module.head = head
        if self.trainable == "head":
            if features is None:
                mean = torch.zeros(hidden_size)
                scale = torch.ones(hidden_size)
            else:
                mean = features.mean(dim=0)
                scale = features.std(dim=0, unbiased=False).clamp(min=1e-6)
            module.register_buffer("feature_mean", mean.float())
            module.register_buffer("feature_scale", scale.float())
        elif self.trainable == "last-n":
            path, layers = _find_layer_list(torch, rt.backbone)
            split = len(layers) - self.n_trainable_layers
            module.layers = nn.ModuleList(
                copy.deepcopy(layer) for layer in layers[split:]
            )
        else:
            module.backbone = copy.deepcopy(rt.backbone)
        module.float()
        module.requires_grad_(True)
        return module.to(rt.device)

    def _attach(self, torch, rt, module):
        """Wire a trained module to the shared backbone (``"last-n"`` graft)."""
        if self.trainable == "last-n":
            path, _ = _find_layer_list(torch, rt.backbone)
            rt.shell = _graft_layers(rt.backbone, path, module.layers)
            inject = rt.inject

            def feed(layer, args, kwargs):
                # The cached states replace whatever the (frozen, cheap)
                # embedding lookup produced: the lower layers never run here.
                return _replace_hidden(args, kwargs, inject["hidden"])

            module.layers[0].register_forward_pre_hook(feed, with_kwargs=True)

    def _split(self):
        return self.n_layers_ - self.n_trainable_layers

    def _text_rewards(self, torch, rt, module, batch_tokens, *, states=None, x=None):
        """Rewards (float32, on device) of one batch of texts."""
        from ..text._hf import pool

        if self.trainable == "head":
            x = (x - module.feature_mean) / module.feature_scale
            return module.head(x).squeeze(-1).float()
        batch = _pad_batch(torch, batch_tokens, rt.tokenizer.pad_token_id, rt.device)
        with rt.autocast(torch):
            if self.trainable == "last-n":
                # Zero right-padding to the batch length (the longest state has
                # exactly as many tokens as the longest text of the batch).
                padded = torch.nn.utils.rnn.pad_sequence(list(states), batch_first=True)
                rt.inject["hidden"] = padded.to(rt.device, non_blocking=True)
                try:
                    output = rt.shell(**batch, **rt.forward_kwargs)
                finally:
                    rt.inject.pop("hidden", None)
            else:
                output = module.backbone(**batch, **rt.forward_kwargs)
        # Pooling and head in fp32, outside autocast: bf16 keeps ~3 significant
        # digits, enough to turn close reward pairs into ties.
        states = output.last_hidden_state.float()
        pooled = pool(states, batch["attention_mask"], self.pooling)
        return module.head(pooled).squeeze(-1).float()

    def _states_provider(self, torch, rt, texts, digests, tokens):
        """``"last-n"``: per-batch access to the states entering the top layers."""
        split = self._split()
        sizes = sum(len(ids) for ids, _ in tokens) * self.hidden_size_
        itemsize = torch.empty((), dtype=self._backbone_dtype(torch, rt.precision))
        nbytes = sizes * itemsize.element_size()
        if nbytes <= _CACHE.max_bytes:
            states = self._cached_pass(torch, rt, texts, digests, tokens, split=split)
            return lambda idx: [states[i] for i in idx]
        warnings.warn(
            f"The token states of {len(texts)} texts need {nbytes / 2**30:.2f} GiB, "
            f"more than the feature cache limit ({_CACHE.max_bytes / 2**30:.2f} GiB); "
            "the frozen lower layers are recomputed for every batch. Raise the "
            "limit with TransformerReward.set_cache_limit(...).",
            UserWarning,
            stacklevel=3,
        )
        return lambda idx: self._backbone_pass(
            torch, rt, [tokens[i] for i in idx], [texts[i] for i in idx], split=split
        )

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        """Train the reward on ``n`` comparisons of text items.

        Parameters
        ----------
        items_a, items_b : array-like of shape (n, 2)
            ``(prompt, response)`` items of each comparison.
        target : array-like of shape (n,)
            Soft preference for A in [0, 1] (``loss="log"``) or a residual in
            [-1, 1] (``loss="squared"``).
        sample_weight : array-like of shape (n,), default=None
            Non-negative comparison weights.
        loss : {"log", "squared"}, default="log"
            Objective; see :mod:`pcr_sklearn.rewards._base`.

        Returns
        -------
        self : TransformerReward
        """
        target, sample_weight = self._check_fit_inputs(
            items_a, items_b, target, sample_weight, loss
        )
        items_a = _check_text_items(items_a, "items_a")
        items_b = _check_text_items(items_b, "items_b")
        torch = import_torch()
        device = resolve_device(self.device)
        precision = self._resolve_precision(torch, device, strict=True)
        rt = self._make_runtime(torch, device, precision)
        _, layers = (
            _find_layer_list(torch, rt.backbone)
            if self.trainable == "last-n"
            else (None, ())
        )
        if self.trainable == "last-n" and self.n_trainable_layers > len(layers):
            raise ValueError(
                f"n_trainable_layers={self.n_trainable_layers} but the backbone "
                f"has only {len(layers)} layers."
            )
        self.n_layers_ = int(getattr(rt.backbone.config, "num_hidden_layers", 0))
        self.hidden_size_ = int(rt.backbone.config.hidden_size)
        self.device_ = str(device)
        self.precision_ = precision
        self.learning_rate_ = float(
            _AUTO_LEARNING_RATE[self.trainable]
            if self.learning_rate == "auto"
            else self.learning_rate
        )
        self.batch_size_ = int(
            _AUTO_BATCH_SIZE[self.trainable]
            if self.batch_size == "auto"
            else self.batch_size
        )
        if self.max_epochs == "auto":
            epochs = _AUTO_MAX_EPOCHS[self.trainable]
            if self.trainable == "head":
                steps = math.ceil(
                    math.ceil(len(target) / self.batch_size_)
                    / self.gradient_accumulation_steps
                )
                epochs = max(epochs, math.ceil(_AUTO_MIN_HEAD_STEPS / max(steps, 1)))
            self.max_epochs_ = int(epochs)
        else:
            self.max_epochs_ = int(self.max_epochs)
        self.backbone_fingerprint_ = _config_fingerprint(rt.backbone)
        self.backbone_probe_ = _weights_probe(torch, rt.backbone)
        self._rt = rt
        self.__dict__.pop("_module_state", None)  # from an earlier unpickling

        texts, digests, (ia, ib) = _unique_texts(items_a, items_b)
        tokens = _cached_tokens(rt, texts, digests)
        seed = seed_from_random_state(self.random_state)

        with self._oom_guard(torch, "fitting TransformerReward"):
            features = states = None
            if self.trainable == "head":
                features = torch.stack(
                    self._cached_pass(torch, rt, texts, digests, tokens)
                ).to(rt.device)
            elif self.trainable == "last-n":
                states = self._states_provider(torch, rt, texts, digests, tokens)
            with torch_random_context(seed, device) as generator:
                module = self._build_module(torch, rt, self.hidden_size_, features)
                self._attach(torch, rt, module)
                self._module = module
                self._train(
                    torch,
                    rt,
                    module,
                    generator,
                    tokens,
                    features,
                    states,
                    ia,
                    ib,
                    target,
                    sample_weight,
                    loss,
                )
        if self.trainable == "all":
            # k fine-tuned copies would not fit on one GPU: park them on the CPU.
            module.to("cpu")
        return self

    def _train(
        self,
        torch,
        rt,
        module,
        generator,
        tokens,
        features,
        states,
        ia,
        ib,
        target,
        weights,
        loss,
    ):
        n = len(target)
        self.n_iter_ = 0
        self.loss_curve_ = []
        total_weight = float(weights.sum())
        if n == 0 or total_weight <= 0:
            return
        device = rt.device
        # Weights scaled to mean 1, so the mean over a micro-batch is an unbiased
        # estimate of the weighted-mean loss of the protocol.
        w_all = torch.as_tensor(weights * (n / total_weight), dtype=torch.float32)
        t_all = torch.as_tensor(target, dtype=torch.float32)
        ia_t = torch.as_tensor(ia)
        ib_t = torch.as_tensor(ib)
        params = [p for p in module.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.learning_rate_,
        )
        accumulation = self.gradient_accumulation_steps
        batch_size = self.batch_size_
        micro_per_epoch = math.ceil(n / batch_size)
        steps_per_epoch = math.ceil(micro_per_epoch / accumulation)
        total_steps = steps_per_epoch * self.max_epochs_
        warmup = int(self.warmup_ratio * total_steps)

        def schedule(step):
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        scaler = torch.amp.GradScaler(
            device.type, enabled=rt.precision == "fp16" and device.type == "cuda"
        )
        trained = module.layers if self.trainable == "last-n" else module
        for epoch in range(self.max_epochs_):
            trained.train()
            order = torch.randperm(n, generator=generator)
            epoch_loss = 0.0
            for micro in range(micro_per_epoch):
                idx = order[micro * batch_size : (micro + 1) * batch_size]
                a, b = ia_t[idx], ib_t[idx]
                if self.trainable == "head":
                    r_a = self._text_rewards(torch, rt, module, None, x=features[a])
                    r_b = self._text_rewards(torch, rt, module, None, x=features[b])
                else:
                    both = torch.cat([a, b]).tolist()
                    rewards = self._text_rewards(
                        torch,
                        rt,
                        module,
                        [tokens[i] for i in both],
                        states=None if states is None else states(both),
                    )
                    r_a, r_b = rewards[: len(a)], rewards[len(a) :]
                diff = r_a - r_b
                t = t_all[idx].to(device)
                w = w_all[idx].to(device)
                if loss == "log":
                    per_pair = torch.nn.functional.binary_cross_entropy_with_logits(
                        diff, t, reduction="none"
                    )
                else:
                    per_pair = (t - torch.sigmoid(diff)) ** 2
                batch_loss = (w * per_pair).mean()
                scaler.scale(batch_loss / accumulation).backward()
                epoch_loss += float(batch_loss.detach()) * len(idx)
                last_micro = micro == micro_per_epoch - 1
                if (micro + 1) % accumulation == 0 or last_micro:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, _MAX_GRAD_NORM)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    scheduler.step()
            trained.eval()
            self.n_iter_ = epoch + 1
            self.loss_curve_.append(epoch_loss / n)
            if self.verbose:
                print(
                    f"[TransformerReward] epoch {epoch + 1}/{self.max_epochs_} "
                    f"loss={self.loss_curve_[-1]:.5f}"
                )
        module.eval()

    # ---------------------------------------------------------------- reward
    def _ensure_runtime(self):
        """Reload the backbone and rebuild the trained module when needed.

        Needed after unpickling, and after ``set_params(model=...)`` pointed a
        fitted reward at its backbone's new location.
        """
        torch = import_torch()
        rt = getattr(self, "_rt", None)
        module = getattr(self, "_module", None)
        if rt is not None and module is not None:
            if rt.model_ref == self.model:
                return torch, rt, module
            self._module_state = state_dict_to_cpu(module.state_dict())
            self._rt = self._module = None
        device = resolve_load_device(self.device_, owner="TransformerReward")
        precision = self._resolve_precision(torch, device, strict=False)
        try:
            rt = self._make_runtime(torch, device, precision)
        except (OSError, ValueError) as exc:
            raise OSError(
                f"Could not load the backbone model={self.model!r} of this fitted "
                "TransformerReward (the trained weights are intact). If the "
                "backbone moved, point to it with set_params(model=new_path)."
            ) from exc
        if _config_fingerprint(rt.backbone) != self.backbone_fingerprint_:
            raise ValueError(
                f"The backbone at model={self.model!r} does not have the "
                "architecture this reward was trained on; point model= (set_params) "
                "to the original backbone."
            )
        probe = _weights_probe(torch, rt.backbone)
        if not np.allclose(probe, self.backbone_probe_, rtol=1e-2, atol=1e-4):
            warnings.warn(
                f"The weights of the backbone at model={self.model!r} differ from "
                "those this reward was trained with; rewards will not match.",
                UserWarning,
                stacklevel=3,
            )
        module = self._build_module(torch, rt, self.hidden_size_)
        module.load_state_dict(self._module_state)
        module.requires_grad_(False)
        module.eval()
        self._attach(torch, rt, module)
        if self.trainable == "all":
            module.to("cpu")
        # Only now: a failed reload must not lose the trained weights.
        del self._module_state
        self._rt, self._module = rt, module
        return torch, rt, module

    @property
    def module_(self):
        check_is_fitted(self, "hidden_size_")
        return self._ensure_runtime()[2]

    def reward(self, items):
        """Reward of each ``(prompt, response)`` item.

        Parameters
        ----------
        items : array-like of shape (n_items, 2)

        Returns
        -------
        rewards : ndarray of shape (n_items,), dtype float64
        """
        check_is_fitted(self, "hidden_size_")
        items = _check_text_items(items, "items")
        if not items:
            return np.zeros(0, dtype=np.float64)
        torch, rt, module = self._ensure_runtime()
        texts, digests, (inverse,) = _unique_texts(items)
        tokens = _cached_tokens(rt, texts, digests)
        out = np.empty(len(texts), dtype=np.float64)
        with self._oom_guard(torch, "computing rewards"), torch.no_grad():
            if self.trainable == "head":
                features = self._cached_pass(torch, rt, texts, digests, tokens)
                features = torch.stack(features).to(rt.device)
                for start in range(0, len(texts), 4096):
                    chunk = features[start : start + 4096]
                    values = self._text_rewards(torch, rt, module, None, x=chunk)
                    out[start : start + 4096] = to_numpy(values)
                return out[inverse]
            states = None
            if self.trainable == "last-n":
                states = self._states_provider(torch, rt, texts, digests, tokens)
            else:
                module.to(rt.device)
            try:
                for idx in _length_batches(tokens, self.encode_batch_size):
                    values = self._text_rewards(
                        torch,
                        rt,
                        module,
                        [tokens[i] for i in idx],
                        states=None if states is None else states(list(idx)),
                    )
                    out[idx] = to_numpy(values)
            finally:
                if self.trainable == "all":
                    module.to("cpu")
        return out[inverse]

    # ----------------------------------------------------------- persistence
    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        state.pop("_rt", None)
        module = state.pop("_module", None)
        if module is not None:
            # Only the trained weights, on the CPU; the backbone is reloaded from
            # ``model`` when the reward is next used.
            state["_module_state"] = state_dict_to_cpu(module.state_dict())
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._rt = None
        self._module = None
