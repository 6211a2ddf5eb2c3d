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
    net = transformers.AutoModel.from_pretrained(model_ref, **model_kwargs)
    net.to(device)
    if freeze:
        net.eval()
        net.requires_grad_(False)
    return tokenizer, net


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

    Texts are processed in order of length so that batches carry little
    padding; rows of the result follow the input order. Runs under
    ``torch.inference_mode`` with the model in eval mode, and reports every
    batch to :func:`pcr_sklearn.text._hooks.record_embedded` (what
    :func:`pcr_sklearn.utils._testing.count_embeddings` counts).

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
    """
    torch = import_torch()
    texts = [str(t) for t in texts]
    first_param = next(model.parameters(), None)
    device = first_param.device if first_param is not None else torch.device("cpu")
    hidden = getattr(model.config, "hidden_size", None)
    if not texts:
        return np.zeros((0, hidden or 0), dtype=np.float32)
    max_length = resolve_max_length(tokenizer, model, max_length)
    order = np.argsort([len(t) for t in texts], kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    out = None
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for idx in _progress(batches, progress, desc, unit="batch"):
                chunk = [texts[i] for i in idx]
                encoded = tokenizer(
                    chunk,
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                encoded = {k: v.to(device) for k, v in encoded.items()}
                output = model(**encoded)
                record_embedded(chunk, source="transformers")
                states = output.last_hidden_state
                vectors = pool(states, encoded["attention_mask"], pooling)
                if normalize:
                    vectors = torch.nn.functional.normalize(vectors, dim=-1)
                vectors = vectors.float().cpu().numpy()
                if out is None:
                    out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
                out[idx] = vectors
    finally:
        model.train(was_training)
    return out


def _progress(iterable, enabled, desc, unit="it"):
    """Wrap ``iterable`` in a tqdm bar when ``enabled`` and tqdm is installed."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return iterable
    return tqdm(iterable, desc=desc, unit=unit, leave=False)
