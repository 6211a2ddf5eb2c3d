"""Embedding reports: observe which texts a backbone actually embeds.

Every code path that runs an embedding backbone on texts (the transformers and
sentence-transformers backends, the TF-IDF projection, a transformer reward
head) calls :func:`record_embedded`. It costs nothing while no listener is
registered. Tests and benchmarks register listeners through
:func:`pcr_sklearn.utils._testing.count_embeddings` to check that each unique
text is embedded exactly once, e.g. across a whole ``GridSearchCV`` with a
persistent cache.

Reports are per process: work done in joblib worker processes
(``n_jobs > 1``) is not seen by a listener in the parent.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()
# Listeners currently receiving reports: objects with ``n_calls`` (int),
# ``texts`` and ``by_source`` (``collections.Counter``) attributes.
_ACTIVE = []


def add_listener(listener):
    """Start sending reports to ``listener`` (see :func:`record_embedded`)."""
    with _LOCK:
        _ACTIVE.append(listener)


def remove_listener(listener):
    """Stop sending reports to ``listener``."""
    with _LOCK:
        _ACTIVE.remove(listener)


def record_embedded(texts, *, source, n_calls=1):
    """Report that a backbone embedded ``texts`` (call it next to the forward).

    Parameters
    ----------
    texts : sequence of str
        The texts that went through the backbone in this call.
    source : str
        Short name of the backbone kind, for the listeners' ``by_source``
        counts.
    n_calls : int, default=1
        Number of backbone calls this report stands for.
    """
    if not _ACTIVE:
        return
    with _LOCK:
        for listener in _ACTIVE:
            listener.n_calls += n_calls
            listener.texts.update(texts)
            listener.by_source[source] += len(texts)
