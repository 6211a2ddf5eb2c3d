"""Hugging Face transformers plumbing: loading, pooling, batched encoding.

Shared by :class:`pcr_sklearn.text.PairEmbedder` (``backend="transformers"``)
and the transformer reward head. transformers and torch are imported lazily.

Nothing here downloads by itself: a path that exists on disk is loaded with
``local_files_only=True``; only a hub name on a machine with network access
(and without ``HF_HUB_OFFLINE=1``) reaches the hub.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from .._torch import import_torch, resolve_device
from ..utils._caches import LRUCache
from ._hooks import record_embedded

TEXT_INSTALL_HINT = 'pip install "pcr-sklearn[torch,text]"'

POOLINGS = ("mean", "cls", "last")

# Loaded frozen backbones, shared by every estimator (members, folds, clones)
# that asks for the same model on the same device: loading is slow and a
# backbone is large, so keeping one copy is the point. Bounded in entries.
_MODEL_CACHE_SIZE = 2
_MODEL_CACHE = LRUCache(_MODEL_CACHE_SIZE)
# ``None`` could be a cached value in principle; this marks "not cached".
_NOT_CACHED = object()


def import_transformers():
    """Import and return ``transformers`` (after torch), or explain what to install."""
    import_torch()
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - exercised via sys.modules
        raise ImportError(
            "This feature needs the transformers library. Install it with: "
            f"{TEXT_INSTALL_HINT}"
        ) from exc
    return transformers


def is_local_model(model):
    """Whether ``model`` names a directory on this machine (not a hub id)."""
    return isinstance(model, (str, os.PathLike)) and os.path.isdir(model)


def _resolve_local_files_only(model, local_files_only):
    if local_files_only is not None:
        return bool(local_files_only)
    # A local directory never needs the hub; saying so also stops transformers
    # from probing the network for a name that happens to match a local path.
    return is_local_model(model)


def model_identity(model, *, revision=None, extra=()):
    """A short stable key for a model reference, for caches.

    For a local directory the key covers its absolute path and the names,
    sizes and modification times of the files at its top level (so a model
    saved again at the same path gets a new key); for a hub name it covers the
    name and ``revision``.

    Parameters
    ----------
    model : str or os.PathLike
        Local directory or hub name.
    revision : str or None, default=None
        Hub revision (branch, tag or commit).
    extra : tuple, default=()
        More values that change the embeddings (pooling, max_length, ...).

    Returns
    -------
    key : str
        24 hexadecimal characters.
    """
    parts = []
    if is_local_model(model):
        path = os.path.abspath(os.fspath(model))
        parts.append(("local", path))
        with os.scandir(path) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_file():
                    stat = entry.stat()
                    parts.append((entry.name, stat.st_size, stat.st_mtime_ns))
    else:
        parts.append(("hub", str(model), revision))
    parts.append(tuple(extra))
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:24]


def load_hf_model(
    model,
    *,
    device="auto",
    revision=None,
    local_files_only=None,
    trust_remote_code=False,
    dtype=None,
    freeze=True,
):
    """Load a tokenizer and an ``AutoModel`` from a local directory or the hub.

    Parameters
    ----------
    model : str or os.PathLike
        Local directory (loaded with ``local_files_only=True``) or hub name.
    device : str or torch.device, default="auto"
        Where to put the model (see :func:`pcr_sklearn._torch.resolve_device`).
    revision : str or None, default=None
        Hub revision.
    local_files_only : bool or None, default=None
        ``None``: ``True`` for a local directory, otherwise transformers'
        default (which honours ``HF_HUB_OFFLINE``).
    trust_remote_code : bool, default=False
        Passed to transformers; leave off unless you trust the model's code.
    dtype : torch.dtype or None, default=None
        Parameter dtype (``None``: the checkpoint's / float32).
    freeze : bool, default=True
        Put the model in eval mode and set ``requires_grad=False`` on every
        parameter (``.eval()`` alone does not freeze anything).

    Notes
    -----
    The model is loaded with PyTorch's fused attention
    (``attn_implementation="sdpa"``) when its architecture supports it, and
    with its default attention otherwise (see :func:`from_pretrained_sdpa`).

    Returns
    -------
    tokenizer : transformers.PreTrainedTokenizerBase
        With a padding token (decoder-only models get their EOS token).
    model : transformers.PreTrainedModel
        On ``device``.

    Examples
    --------
    >>> from pcr_sklearn.text._hf import load_hf_model
    >>> tok, net = load_hf_model("path/to/model", device="cpu")  # doctest: +SKIP
    """
    transformers = import_transformers()
    device = resolve_device(device)
    model_ref = os.fspath(model)
    kwargs = {
        "revision": revision,
        "local_files_only": _resolve_local_files_only(model_ref, local_files_only),
        "trust_remote_code": trust_remote_code,
    }
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_ref, **kwargs)
    if tokenizer.pad_token is None:
        # Decoder-only models (GPT-2, Llama) ship without a padding token;
        # padding is masked out anyway, so EOS is a safe stand-in.
        if tokenizer.eos_token is None:
            raise ValueError(
                f"The tokenizer of {model_ref!r} has neither a padding nor an "
                "end-of-sequence token; cannot batch texts."
            )
        tokenizer.pad_token = tokenizer.eos_token
    model_kwargs = dict(kwargs)
    if dtype is not None:
        model_kwargs["dtype"] = dtype
    net = from_pretrained_sdpa(transformers.AutoModel, model_ref, **model_kwargs)
    net.to(device)
    if freeze:
        net.eval()
        net.requires_grad_(False)
    return tokenizer, net


def from_pretrained_sdpa(auto_class, model_ref, **kwargs):
    """``auto_class.from_pretrained`` with SDPA attention when the model has it.

    ``attn_implementation="sdpa"`` runs attention through
    ``torch.nn.functional.scaled_dot_product_attention``, which picks a fused
    kernel (flash or memory-efficient on CUDA) instead of the explicit
    softmax(QK^T)V of ``"eager"``. Recent transformers already default to it
    where supported; asking explicitly keeps older versions on it too.
    Architectures without SDPA support raise at load time, and are then
    loaded with their default attention, silently.
    """
    try:
        return auto_class.from_pretrained(
            model_ref, attn_implementation="sdpa", **kwargs
        )
    except (ValueError, ImportError, TypeError):
        # Not an SDPA model (or a transformers without the argument): the
        # default attention. A real loading error is raised again here.
        return auto_class.from_pretrained(model_ref, **kwargs)


def model_config(model, *, revision=None, local_files_only=None):
    """The transformers config of ``model`` (cheap: no weights are read).

    Parameters
    ----------
    model : str or os.PathLike
        Local directory or hub name.
    revision : str or None, default=None
    local_files_only : bool or None, default=None
        As in :func:`load_hf_model`.

    Returns
    -------
    config : transformers.PretrainedConfig
    """
    transformers = import_transformers()
    model_ref = os.fspath(model)
    return transformers.AutoConfig.from_pretrained(
        model_ref,
        revision=revision,
        local_files_only=_resolve_local_files_only(model_ref, local_files_only),
    )


def get_shared_model(
    model,
    *,
    device="auto",
    revision=None,
    local_files_only=None,
    trust_remote_code=False,
    dtype=None,
):
    """A frozen ``(tokenizer, model)`` shared by everyone who asks for it.

    Same arguments as :func:`load_hf_model` (always frozen). Results are
    cached per (model identity, device, dtype); the two most recently used
    models stay in memory. Never train the returned model in place: copy the
    parameters you fine-tune.
    """
    resolved = resolve_device(device)
    key = (
        "transformers",
        model_identity(model, revision=revision),
        str(resolved),
        str(dtype),
        bool(trust_remote_code),
    )
    return cached_load(
        key,
        lambda: load_hf_model(
            model,
            device=resolved,
            revision=revision,
            local_files_only=local_files_only,
            trust_remote_code=trust_remote_code,
            dtype=dtype,
            freeze=True,
        ),
    )


def cached_load(key, loader):
    """Return ``loader()``, cached under ``key`` in the shared model cache.

    The cache holds the two most recently used entries (backbones are large).
    """
    cached = _MODEL_CACHE.get(key, _NOT_CACHED)
    if cached is not _NOT_CACHED:
        return cached
    # Loading runs outside the cache's lock: it takes seconds, and other
    # models may be looked up meanwhile.
    loaded = loader()
    _MODEL_CACHE.put(key, loaded)
    return loaded


def clear_model_cache():
    """Drop the backbones kept by :func:`get_shared_model` and :func:`cached_load`."""
    _MODEL_CACHE.clear()


def pool(hidden_states, attention_mask, pooling="mean"):
    """Pool token states ``(batch, seq, dim)`` into text vectors ``(batch, dim)``.

    Parameters
    ----------
    hidden_states : torch.Tensor of shape (batch, seq, dim)
    attention_mask : torch.Tensor of shape (batch, seq)
        1 for real tokens, 0 for padding.
    pooling : {"mean", "cls", "last"}, default="mean"
        ``"mean"``: average over real tokens only (padding never leaks in, so
        a text's vector does not depend on the other texts in its batch);
        ``"cls"``: the first token; ``"last"``: the last real token, with left
        or right padding (for decoder-only models).

    Returns
    -------
    pooled : torch.Tensor of shape (batch, dim)

    Examples
    --------
    >>> import pytest
    >>> torch = pytest.importorskip("torch")
    >>> from pcr_sklearn.text._hf import pool
    >>> h = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> pool(h, torch.tensor([[1, 1, 0]])).tolist()
    [[2.0]]
    """
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
        summed = (hidden_states * mask).sum(dim=1)
        # clamp: an all-padding row (empty text without special tokens) gives
        # a zero vector instead of NaN.
        return summed / mask.sum(dim=1).clamp(min=1.0)
    if pooling == "cls":
        return hidden_states[:, 0]
    if pooling == "last":
        torch = import_torch()
        seq_len = attention_mask.shape[1]
        positions = torch.arange(seq_len, device=attention_mask.device)
        last = (attention_mask.to(torch.long) * positions).argmax(dim=1)
        return hidden_states[torch.arange(hidden_states.shape[0]), last]
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")


def mean_pool(hidden_states, attention_mask):
    """Masked mean over real tokens; see :func:`pool`."""
    return pool(hidden_states, attention_mask, "mean")


def resolve_max_length(tokenizer, model, max_length=None):
    """The truncation length: ``max_length`` or what the model can take.

    Tokenizers without a configured limit report a huge
    ``model_max_length``; fall back to the model's position-embedding size.
    """
    limits = []
    model_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_limit, int) and model_limit < 1_000_000:
        limits.append(model_limit)
    config = getattr(model, "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    if max_length is not None:
        limits.append(int(max_length))
    return min(limits) if limits else 512


# --------------------------------------------------------------------------- #
# Tokens, padding and length batches (shared with the transformer reward)
# --------------------------------------------------------------------------- #

#: Results of a backbone pass stay on the device and are copied to the host in
#: one transfer per this many bytes (once per call for most calls). A copy per
#: batch would make the host wait for the device after every batch instead of
#: preparing the next batch while the device computes.
HOST_COPY_BYTES = 128 * 2**20


def tokenize_pairs(tokenizer, texts, max_length):
    """Token ids (and token types when the tokenizer makes them) per text.

    ``texts`` are ``(prompt, response)`` tuples. A prompt and its response are
    encoded as a tokenizer *text pair* (``tokenizer(prompt, response)``:
    ``[CLS] prompt [SEP] response [SEP]`` with segment ids for BERT-like
    models, the model's own pair template otherwise), truncated longest-first
    to ``max_length`` tokens. Texts with an empty prompt are encoded alone,
    exactly as ``tokenizer(response, truncation=True, max_length=...)``.

    Returns
    -------
    tokens : list of (ndarray of int32, ndarray of int8 or None)
        One ``(ids, types)`` pair per text, unpadded.

    Examples
    --------
    >>> from pcr_sklearn.text._hf import tokenize_pairs
    >>> tokenize_pairs(tok, [("", "hello")], 16)  # doctest: +SKIP
    [(array([  2, 153,   3], dtype=int32), array([0, 0, 0], dtype=int8))]
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
        for j, i in enumerate(rows):
            out[i] = (
                np.asarray(ids[j], dtype=np.int32),
                None if types is None else np.asarray(types[j], dtype=np.int8),
            )
    return out


def _to_device(torch, array, device):
    """A host array as a tensor on ``device``, without waiting for the device.

    On CUDA the array goes through pinned memory with ``non_blocking=True``:
    a copy from pageable memory synchronises the stream, so the host would
    wait for the previous batch's kernels before preparing the next batch.
    """
    tensor = torch.from_numpy(array)
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


class Batch(dict):
    """The padded tensors of one batch (a dict), and whether any row is padded.

    :meth:`model_inputs` is what the model gets: without the attention mask
    when no row is padded. The mask is then all ones, which transformers
    checks for on every call (``mask.all()``, a host-device sync on GPUs) to
    drop it and let SDPA use its fastest kernel; passing none skips the
    check, with the same result. The mask stays in the dict for pooling.
    """

    padded = True

    def model_inputs(self):
        if self.padded:
            return dict(self)
        return {k: v for k, v in self.items() if k != "attention_mask"}


def pad_batch(torch, tokens, pad_id, device):
    """Right-pad token lists (from :func:`tokenize_pairs`) into model inputs.

    Right padding keeps every real token at positions ``0..len-1`` whatever
    the batch, so a text's hidden states do not depend on its batch mates
    (left padding shifts positions in some decoder models); the cached states
    of ``TransformerReward(trainable="last-n")`` rely on that.

    Returns
    -------
    batch : Batch
        ``input_ids``, ``attention_mask`` and, when the tokenizer makes them,
        ``token_type_ids``, all int64 on ``device``; feed the model
        ``batch.model_inputs()``.
    """
    lengths = np.fromiter((len(ids) for ids, _ in tokens), np.int64, len(tokens))
    real = np.arange(lengths.max()) < lengths[:, None]
    # Boolean-mask assignment fills row by row, in the order of the concatenation.
    ids = np.full(real.shape, int(pad_id), dtype=np.int64)
    ids[real] = np.concatenate([row_ids for row_ids, _ in tokens])
    batch = Batch(
        input_ids=_to_device(torch, ids, device),
        attention_mask=_to_device(torch, real.astype(np.int64), device),
    )
    batch.padded = bool(lengths.min() < lengths.max())
    if tokens[0][1] is not None:
        types = np.zeros(real.shape, dtype=np.int64)
        types[real] = np.concatenate([row_types for _, row_types in tokens])
        batch["token_type_ids"] = _to_device(torch, types, device)
    return batch


def length_batches(tokens, batch_size):
    """Index batches in order of token length, so batches carry little padding.

    Sorting by characters instead leaves a third more padded tokens at batch
    size 32 on mixed-length texts (``benchmarks/bench_text_cpu.py``).
    """
    order = np.argsort([len(ids) for ids, _ in tokens], kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class HostCopies:
    """Device results of a pass, copied to the host in few transfers.

    ``add(idx, values)`` queues a device tensor whose leading dimension runs
    over the texts ``idx`` (or, with ``lengths``, over their concatenated
    tokens); :meth:`flush` (called when :data:`HOST_COPY_BYTES` are queued and
    at the end of the pass) concatenates the queue on the device, copies it
    once, and hands ``(idx, host tensor, lengths)`` to ``write``. On the CPU
    the copy is free and the values are the same tensors' values.
    ``n_copies`` counts the transfers.
    """

    def __init__(self, torch, write, max_bytes=None):
        self._torch = torch
        self._write = write
        self._max_bytes = HOST_COPY_BYTES if max_bytes is None else max_bytes
        self.n_copies = 0
        self._queue = []
        self._nbytes = 0

    def add(self, idx, values, lengths=None):
        self._queue.append((np.asarray(idx), values, lengths))
        self._nbytes += values.element_size() * values.nelement()
        if self._nbytes >= self._max_bytes:
            self.flush()

    def flush(self):
        if not self._queue:
            return
        idx = np.concatenate([i for i, _, _ in self._queue])
        values = self._torch.cat([v for _, v, _ in self._queue]).cpu()
        lengths = None
        if self._queue[0][2] is not None:
            lengths = [n for _, _, row in self._queue for n in row]
        self._queue, self._nbytes = [], 0
        self.n_copies += 1
        self._write(idx, values, lengths)


def encode_texts(
    texts,
    *,
    tokenizer,
    model,
    batch_size=32,
    max_length=None,
    pooling="mean",
    normalize=False,
    progress=False,
    desc="Embedding",
):
    """Embed ``texts`` with a (frozen) transformers model, batch by batch.

    The texts are tokenized once, in one call, and processed in order of
    token length (:func:`length_batches`), so that batches carry little
    padding; rows of the result follow the input order, and a text's vector
    does not depend on its batch mates (right padding, masked pooling). Runs
    under ``torch.inference_mode`` with the model in eval mode; the vectors
    stay on the device until the end of the call (one copy to the host).
    Every batch is reported to :func:`pcr_sklearn.text._hooks.record_embedded`
    (what :func:`pcr_sklearn.utils._testing.count_embeddings` counts).

    Parameters
    ----------
    texts : sequence of str
    tokenizer, model
        As returned by :func:`load_hf_model` / :func:`get_shared_model`.
    batch_size : int, default=32
    max_length : int or None, default=None
        Truncation length in tokens (``None``: the model's limit).
    pooling : {"mean", "cls", "last"}, default="mean"
    normalize : bool, default=False
        Scale each vector to unit Euclidean norm.
    progress : bool, default=False
        Show a tqdm progress bar (if tqdm is installed).
    desc : str, default="Embedding"
        Progress-bar label.

    Returns
    -------
    embeddings : ndarray of shape (len(texts), hidden_size), dtype float32

    Examples
    --------
    >>> from pcr_sklearn.text._hf import encode_texts, get_shared_model
    >>> tok, net = get_shared_model("path/to/model", device="cpu")  # doctest: +SKIP
    >>> encode_texts(["a text", "another"], tokenizer=tok, model=net).shape
    ... # doctest: +SKIP
    (2, 768)
    """
    torch = import_torch()
    texts = [str(t) for t in texts]
    first_param = next(model.parameters(), None)
    device = first_param.device if first_param is not None else torch.device("cpu")
    hidden = getattr(model.config, "hidden_size", None)
    if not texts:
        return np.zeros((0, hidden or 0), dtype=np.float32)
    max_length = resolve_max_length(tokenizer, model, max_length)
    tokens = tokenize_pairs(tokenizer, [("", t) for t in texts], max_length)
    pad_id = _pad_id(tokenizer)
    out = np.empty((len(texts), hidden or 0), dtype=np.float32)

    def write(idx, vectors, _):
        nonlocal out
        if out.shape[1] != vectors.shape[1]:  # a config without hidden_size
            out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
        out[idx] = vectors.numpy()

    copies = HostCopies(torch, write)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            batches = length_batches(tokens, batch_size)
            for idx in _progress(batches, progress, desc, unit="batch"):
                batch = pad_batch(torch, [tokens[i] for i in idx], pad_id, device)
                output = model(**batch.model_inputs())
                record_embedded([texts[i] for i in idx], source="transformers")
                vectors = pool(
                    output.last_hidden_state, batch["attention_mask"], pooling
                )
                if normalize:
                    vectors = torch.nn.functional.normalize(vectors, dim=-1)
                copies.add(idx, vectors.float())
            copies.flush()
    finally:
        model.train(was_training)
    return out


def _pad_id(tokenizer):
    """The id padding positions get (they are masked, so any id would do)."""
    for pad_id in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if pad_id is not None:
            return pad_id
    return 0


def _progress(iterable, enabled, desc, unit="it"):
    """Wrap ``iterable`` in a tqdm bar when ``enabled`` and tqdm is installed."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return iterable
    return tqdm(iterable, desc=desc, unit=unit, leave=False)
