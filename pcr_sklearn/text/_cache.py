"""A persistent, append-only embedding cache on disk.

Layout: ``<cache_dir>/<key>/`` holds shards written by any number of runs or
processes: ``<id>.emb.npy`` (float32, one row per text) and ``<id>.keys.npy``
(the texts' hashes, fixed-width bytes), plus ``meta.json`` describing what
``key`` stands for (for humans; never read back). ``key`` is the embedding
identity (model + settings, or a fitted TF-IDF/SVD state), so embeddings from
different models never mix. Shards are written to a temporary name and
renamed, keys last, so a reader never sees a half-written shard; concurrent
writers at worst store the same text twice, which is harmless.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import uuid
import warnings

import numpy as np


def text_hash(text):
    """Hex digest (32 characters) identifying ``text`` in the cache."""
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class EmbeddingCache:
    """Embeddings for one key under ``directory``; see the module docstring.

    Parameters
    ----------
    directory : str or os.PathLike
        Root cache directory (created on first write).
    key : str
        Embedding identity; the shards live in ``directory/key``.
    meta : dict, optional
        JSON-serialisable description written to ``meta.json``.
    """

    def __init__(self, directory, key, meta=None):
        self.path = os.path.join(os.fspath(directory), key)
        self.meta = meta or {}

    def _shards(self):
        return sorted(glob.glob(os.path.join(self.path, "*.keys.npy")))

    def lookup(self, hashes):
        """Find cached rows for ``hashes``.

        Returns
        -------
        found : ndarray of bool, shape (n,)
        vectors : ndarray of shape (n, dim) or None
            Rows for found hashes (others are zero); ``None`` when nothing
            was found.
        """
        hashes = list(hashes)
        position = {h: i for i, h in enumerate(hashes)}
        found = np.zeros(len(hashes), dtype=bool)
        vectors = None
        for keys_file in self._shards():
            emb_file = keys_file[: -len(".keys.npy")] + ".emb.npy"
            try:
                keys = np.load(keys_file)
                emb = np.load(emb_file, mmap_mode="r")
            except (OSError, ValueError) as exc:
                warnings.warn(
                    f"Skipping unreadable embedding-cache shard {keys_file}: {exc}",
                    UserWarning,
                    stacklevel=2,
                )
                continue
            if emb.ndim != 2 or emb.shape[0] != keys.shape[0]:
                continue
            for row, key in enumerate(keys.astype(str)):
                i = position.get(key)
                if i is None or found[i]:
                    continue
                if vectors is None:
                    vectors = np.zeros((len(hashes), emb.shape[1]), dtype=np.float32)
                elif emb.shape[1] != vectors.shape[1]:
                    break
                vectors[i] = emb[row]
                found[i] = True
            if found.all():
                break
        return found, vectors

    def store(self, hashes, vectors):
        """Append ``vectors`` (rows for ``hashes``) as a new shard."""
        hashes = list(hashes)
        if not hashes:
            return
        os.makedirs(self.path, exist_ok=True)
        meta_file = os.path.join(self.path, "meta.json")
        if self.meta and not os.path.exists(meta_file):
            _atomic_write(
                meta_file,
                lambda f: f.write(json.dumps(self.meta, indent=2).encode()),
            )
        shard = os.path.join(self.path, uuid.uuid4().hex)
        emb = np.ascontiguousarray(vectors, dtype=np.float32)
        keys = np.array(hashes, dtype="S32")
        # Embeddings first, keys last: a shard counts once its keys exist.
        _atomic_write(shard + ".emb.npy", lambda f: np.save(f, emb))
        _atomic_write(shard + ".keys.npy", lambda f: np.save(f, keys))


def _atomic_write(path, write):
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)
