"""Counting hooks: observe which texts a backbone actually embeds.

Every code path that runs an embedding backbone on texts (the transformers and
sentence-transformers backends, the TF-IDF projection, a transformer reward
head) calls :func:`record_embedded`. Tests and benchmarks wrap a computation in
:func:`count_embeddings` to check that each unique text is embedded exactly
once, e.g. across a whole ``GridSearchCV`` with a persistent cache.

Counting is per process: work done in joblib worker processes
(``n_jobs > 1``) is not seen by a counter in the parent.
"""

from __future__ import annotations

import collections
import contextlib
import threading

_LOCK = threading.Lock()
_ACTIVE = []


class EmbeddingCounter:
    """What the backbones embedded while a :func:`count_embeddings` block ran.

    Attributes
    ----------
    n_calls : int
        Number of backbone calls (one per batch for the transformers backend,
        one per ``encode`` call for sentence-transformers).
    texts : collections.Counter
        How many times each text went through a backbone.
    by_source : collections.Counter
        Number of texts embedded per source (``"transformers"``,
        ``"sentence-transformers"``, ``"tfidf"``, ...).
    """

    def __init__(self):
        self.n_calls = 0
        self.texts = collections.Counter()
        self.by_source = collections.Counter()

    @property
    def n_texts(self):
        """Total number of texts embedded, repeats included."""
        return sum(self.texts.values())

    @property
    def n_unique(self):
        """Number of distinct texts embedded."""
        return len(self.texts)

    @property
    def max_repeats(self):
        """Largest number of times one text was embedded (0 if none was)."""
        return max(self.texts.values(), default=0)

    def __repr__(self):
        return (
            f"EmbeddingCounter(n_calls={self.n_calls}, n_texts={self.n_texts}, "
            f"n_unique={self.n_unique})"
        )


@contextlib.contextmanager
def count_embeddings():
    """Count the texts embedded by any backbone inside the ``with`` block.

    Yields
    ------
    counter : EmbeddingCounter
        Filled in while the block runs; counters can be nested.

    Examples
    --------
    >>> from pcr_sklearn.text import PairEmbedder, count_embeddings
    >>> X = [["q", "yes", "no"], ["q", "no", "maybe"]]
    >>> with count_embeddings() as counter:
    ...     _ = PairEmbedder(n_components=2).fit_transform(X)
    >>> counter.n_unique, counter.max_repeats
    (4, 1)
    """
    counter = EmbeddingCounter()
    with _LOCK:
        _ACTIVE.append(counter)
    try:
        yield counter
    finally:
        with _LOCK:
            _ACTIVE.remove(counter)


def record_embedded(texts, *, source, n_calls=1):
    """Report that a backbone embedded ``texts`` (call it next to the forward).

    Parameters
    ----------
    texts : sequence of str
        The texts that went through the backbone in this call.
    source : str
        Short name of the backbone kind, for ``EmbeddingCounter.by_source``.
    n_calls : int, default=1
        Number of backbone calls this report stands for.
    """
    if not _ACTIVE:
        return
    with _LOCK:
        for counter in _ACTIVE:
            counter.n_calls += n_calls
            counter.texts.update(texts)
            counter.by_source[source] += len(texts)
