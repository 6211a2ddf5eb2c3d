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

import contextlib
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

    The cache never costs the caller its embeddings: a shard that cannot be
    read, or that holds NaN or infinite vectors, is skipped with a warning (its
    texts are embedded again), and a failed write warns and is otherwise
    ignored. Every warning names ``cache_dir`` (the ``directory``).

    Parameters
    ----------
    directory : str or os.PathLike
        Root cache directory (created on first write); ``PairEmbedder``'s
        ``cache_dir``.
    key : str
        Embedding identity; the shards live in ``directory/key``.
    meta : dict, optional
        JSON-serialisable description written to ``meta.json``.
    """

    def __init__(self, directory, key, meta=None):
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, key)
        self.meta = meta or {}

    def _shards(self):
        return sorted(glob.glob(os.path.join(self.path, "*.keys.npy")))

    def _warn(self, message):
        warnings.warn(
            f"Embedding cache (cache_dir={self.directory!r}): {message}",
            UserWarning,
            stacklevel=4,  # PairEmbedder's transform
        )

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
            shard = os.path.basename(keys_file)[: -len(".keys.npy")]
            emb_file = keys_file[: -len(".keys.npy")] + ".emb.npy"
            try:
                keys = np.load(keys_file)
                emb = np.load(emb_file, mmap_mode="r")
            except (OSError, ValueError) as exc:
                self._warn(f"skipping unreadable shard {shard} ({exc})")
                continue
            dim = emb.shape[1] if emb.ndim == 2 else None
            if dim is None or keys.shape != emb.shape[:1]:
                self._warn(f"skipping malformed shard {shard} (shape {emb.shape})")
                continue
            if vectors is not None and dim != vectors.shape[1]:
                self._warn(f"skipping shard {shard} of dimension {dim}")
                continue
            take = {}  # text index -> first row of this shard holding it
            for row, key in enumerate(keys.astype(str)):
                i = position.get(key)
                if i is not None and not found[i]:
                    take.setdefault(i, row)
            if not take:
                continue
            block = np.asarray(emb[list(take.values())], dtype=np.float32)
            if not np.isfinite(block).all():
                # A bad vector would silently poison every model fitted on it.
                self._warn(
                    f"skipping shard {shard}: it holds NaN or infinite vectors "
                    "(its texts are embedded again; delete the shard's files to "
                    "silence this warning)"
                )
                continue
            if vectors is None:
                vectors = np.zeros((len(hashes), dim), dtype=np.float32)
            targets = list(take)
            vectors[targets] = block
            found[targets] = True
            if found.all():
                break
        return found, vectors

    def store(self, hashes, vectors):
        """Append ``vectors`` (rows for ``hashes``) as a new shard.

        Rows that are not finite are left out (they would be refused on
        read). A failed write (read-only or full disk, ``cache_dir`` not a
        directory) warns and leaves the cache as it was.

        Returns
        -------
        stored : bool
            Whether the shard was written.
        """
        emb = np.ascontiguousarray(vectors, dtype=np.float32)
        finite = np.isfinite(emb).all(axis=1)
        hashes = [h for h, ok in zip(hashes, finite, strict=True) if ok]
        if not hashes:
            return False
        emb = emb[finite]
        shard = os.path.join(self.path, uuid.uuid4().hex)
        try:
            os.makedirs(self.path, exist_ok=True)
            meta_file = os.path.join(self.path, "meta.json")
            if self.meta and not os.path.exists(meta_file):
                _atomic_write(
                    meta_file,
                    lambda f: f.write(json.dumps(self.meta, indent=2).encode()),
                )
            keys = np.array(hashes, dtype="S32")
            # Embeddings first, keys last: a shard counts once its keys exist.
            _atomic_write(shard + ".emb.npy", lambda f: np.save(f, emb))
            _atomic_write(shard + ".keys.npy", lambda f: np.save(f, keys))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(shard + ".emb.npy")
            self._warn(
                f"could not write embeddings to the cache ({exc}); they were "
                "computed and are used, but will be computed again next time"
            )
            return False
        return True


def _atomic_write(path, write):
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
