"""The bounded LRU cache utility and the caches built on it."""

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from pcr_sklearn.utils._caches import LRUCache, tensor_nbytes


class _Blob:
    """A value of a given byte size (quacks like a tensor for tensor_nbytes)."""

    def __init__(self, nbytes):
        self.nbytes = nbytes

    def element_size(self):
        return 1

    def nelement(self):
        return self.nbytes


def _byte_cache(max_bytes):
    return LRUCache(max_bytes, size_of=tensor_nbytes)


def test_least_recently_used_is_evicted_first():
    cache = LRUCache(3)
    for key in "abc":
        cache.put(key, key.upper())
    assert cache.get("a") == "A"  # "a" is now the most recent
    cache.put("d", "D")
    assert cache.keys() == ["c", "a", "d"]
    assert cache.get("b") is None
    cache.put("c", "C2")  # replacing a value makes it the most recent
    assert cache.keys() == ["a", "d", "c"]
    assert cache.get("c") == "C2" and len(cache) == 3


def test_get_many_counts_and_keeps_order():
    cache = LRUCache(10)
    cache.put_many([("a", 1), ("b", 2)])
    assert cache.get_many(["b", "x", "a"]) == [2, None, 1]
    assert cache.get("x", "default") == "default"
    assert cache.info() == {
        "n_entries": 2,
        "size": 2,
        "max_size": 10,
        "hits": 2,
        "misses": 2,
    }
    # A membership test is not a use.
    assert "a" in cache and "x" not in cache
    assert cache.info()["hits"] == 2 and cache.keys() == ["b", "a"]


def test_byte_bound():
    cache = _byte_cache(100)
    cache.put_many([("a", _Blob(40)), ("b", _Blob(40))])
    assert cache.info()["size"] == 80
    cache.put("c", _Blob(40))  # 120 > 100: "a" goes
    assert cache.keys() == ["b", "c"] and cache.info()["size"] == 80
    cache.put("big", _Blob(101))  # larger than the whole bound: not stored
    assert "big" not in cache and cache.keys() == ["b", "c"]
    cache.put("b", _Blob(10))  # replacing updates the total
    assert cache.info()["size"] == 50


def test_put_many_evicts_once_at_the_end():
    cache = _byte_cache(100)
    cache.put("old", _Blob(50))
    cache.put_many([("x", _Blob(50)), ("y", _Blob(50))])
    # The oldest go first, whatever arrived in the same call.
    assert cache.keys() == ["x", "y"]


def test_resize_evicts_and_returns_the_old_bound():
    cache = _byte_cache(100)
    cache.put_many([(k, _Blob(30)) for k in "abc"])
    assert cache.resize(60) == 100
    assert cache.max_size == 60
    assert cache.keys() == ["b", "c"] and cache.info()["size"] == 60
    assert cache.resize(0) == 60
    assert len(cache) == 0 and cache.info()["size"] == 0


def test_clear_resets_entries_and_counters():
    cache = LRUCache(5)
    cache.put("a", 1)
    cache.get("a")
    cache.get("b")
    cache.clear()
    assert cache.info() == {
        "n_entries": 0,
        "size": 0,
        "max_size": 5,
        "hits": 0,
        "misses": 0,
    }


def test_tensor_nbytes_on_a_tensor():
    torch = pytest.importorskip("torch")
    assert tensor_nbytes(torch.zeros(3, 4, dtype=torch.float32)) == 48
    assert tensor_nbytes(torch.zeros(5, dtype=torch.bfloat16)) == 10


def test_thread_safety_smoke():
    cache = _byte_cache(1000)
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(2000):
                key = int(rng.integers(50))
                if rng.random() < 0.5:
                    cache.put(key, _Blob(int(rng.integers(1, 60))))
                else:
                    cache.get_many([key, key + 1])
                if rng.random() < 0.01:
                    cache.resize(int(rng.integers(200, 1000)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    info = cache.info()
    # The running total matches the stored values and respects the bound.
    stored = cache.get_many(cache.keys())
    assert info["size"] == sum(blob.nbytes for blob in stored)
    assert info["size"] <= info["max_size"]
    assert info["hits"] + info["misses"] > 0


def test_shared_model_cache_keeps_two_backbones():
    from pcr_sklearn.text import _hf

    _hf.clear_model_cache()
    loads = []

    def loader(name):
        def load():
            loads.append(name)
            return name.upper()

        return load

    try:
        assert _hf.cached_load("a", loader("a")) == "A"
        assert _hf.cached_load("b", loader("b")) == "B"
        assert _hf.cached_load("a", loader("a")) == "A"  # cached, now recent
        assert _hf.cached_load("c", loader("c")) == "C"  # evicts "b"
        assert _hf.cached_load("b", loader("b")) == "B"  # loaded again
        assert loads == ["a", "b", "c", "b"]
        assert len(_hf._MODEL_CACHE) == 2
    finally:
        _hf.clear_model_cache()
    assert len(_hf._MODEL_CACHE) == 0


def test_feature_cache_size_is_read_when_first_used_not_at_import():
    # A subprocess: the feature cache of this process may exist already.
    code = textwrap.dedent(
        """
        import os
        import sys

        os.environ.pop("PCR_SKLEARN_TRANSFORMER_CACHE_BYTES", None)
        from pcr_sklearn.rewards import TransformerReward

        os.environ["PCR_SKLEARN_TRANSFORMER_CACHE_BYTES"] = "12345"
        info = TransformerReward.cache_info()
        assert info["max_bytes"] == 12345, info
        assert set(info) == {"n_entries", "nbytes", "max_bytes", "hits", "misses"}
        assert TransformerReward.set_cache_limit(2048) == 12345
        assert TransformerReward.cache_info()["max_bytes"] == 2048
        assert "torch" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)
