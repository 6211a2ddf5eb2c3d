"""A small thread-safe LRU cache bounded by the total size of its values.

One implementation for the process-level caches of the package: transformer
features (bounded in bytes), token ids and loaded backbones (bounded in
entries). It imports nothing from the package (bottom layer) and nothing
heavy: the size of a value is whatever ``size_of`` says, so tensors are
measured without importing torch here.
"""

from __future__ import annotations

import collections
import threading

__all__ = ["LRUCache", "tensor_nbytes"]


def _one(value):
    return 1


def tensor_nbytes(tensor):
    """Bytes held by the elements of a torch tensor (a ``size_of`` for caches).

    Parameters
    ----------
    tensor : torch.Tensor
        Any object with ``element_size()`` and ``nelement()``.

    Returns
    -------
    nbytes : int
    """
    return tensor.element_size() * tensor.nelement()


class LRUCache:
    """Thread-safe least-recently-used mapping bounded by a size function.

    Every value has a size (``size_of(value)``, 1 by default, so the bound is a
    number of entries); the sum of the sizes never exceeds ``max_size``: adding
    values evicts the least recently used ones, and a single value larger than
    the whole bound is not stored at all. Lookups count hits and misses.

    Parameters
    ----------
    max_size : int
        Bound on the total size of the stored values.
    size_of : callable or None, default=None
        ``value -> int``; ``None`` counts entries.

    Examples
    --------
    >>> from pcr_sklearn.utils._caches import LRUCache
    >>> cache = LRUCache(2)
    >>> cache.put("a", 1)
    >>> cache.put("b", 2)
    >>> cache.get("a")
    1
    >>> cache.put("c", 3)  # evicts "b", the least recently used
    >>> cache.get("b") is None, sorted(cache.keys())
    (True, ['a', 'c'])
    >>> cache.info()
    {'n_entries': 2, 'size': 2, 'max_size': 2, 'hits': 1, 'misses': 1}
    """

    def __init__(self, max_size, *, size_of=None):
        self._max_size = int(max_size)
        self._size_of = _one if size_of is None else size_of
        self._data = collections.OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def max_size(self):
        """Bound on the total size of the stored values."""
        return self._max_size

    def resize(self, max_size):
        """Set a new bound, evicting the least recently used values to meet it.

        Parameters
        ----------
        max_size : int

        Returns
        -------
        old_max_size : int
        """
        with self._lock:
            old = self._max_size
            self._max_size = int(max_size)
            self._evict()
        return old

    def get(self, key, default=None):
        """The value stored under ``key`` (now the most recent), else ``default``."""
        return self.get_many([key], default)[0]

    def get_many(self, keys, default=None):
        """Values for ``keys`` in order, ``default`` where missing (one lock)."""
        out = []
        with self._lock:
            for key in keys:
                if key in self._data:
                    self._data.move_to_end(key)
                    self.hits += 1
                    out.append(self._data[key])
                else:
                    self.misses += 1
                    out.append(default)
        return out

    def put(self, key, value):
        """Store ``value`` under ``key`` as the most recent entry."""
        self.put_many([(key, value)])

    def put_many(self, items):
        """Store ``(key, value)`` pairs in order, then evict down to the bound.

        A value larger than ``max_size`` on its own is skipped (an entry already
        under its key stays).
        """
        with self._lock:
            for key, value in items:
                size = self._size_of(value)
                if size > self._max_size:
                    continue
                if key in self._data:
                    self._size -= self._size_of(self._data.pop(key))
                self._data[key] = value
                self._size += size
            self._evict()

    def _evict(self):
        while self._size > self._max_size and self._data:
            _, evicted = self._data.popitem(last=False)
            self._size -= self._size_of(evicted)

    def clear(self):
        """Drop every entry and reset the hit and miss counters."""
        with self._lock:
            self._data.clear()
            self._size = 0
            self.hits = self.misses = 0

    def keys(self):
        """The keys, least recently used first (a snapshot list)."""
        with self._lock:
            return list(self._data)

    def __len__(self):
        with self._lock:
            return len(self._data)

    def __contains__(self, key):
        # A membership test is not a use: no counter, no change of order.
        with self._lock:
            return key in self._data

    def info(self):
        """Entries, total size, bound, hits and misses, as a dict."""
        with self._lock:
            return {
                "n_entries": len(self._data),
                "size": self._size,
                "max_size": self._max_size,
                "hits": self.hits,
                "misses": self.misses,
            }
