"""Text features for reward learners: text comparisons -> numeric pairs.

:class:`PairEmbedder` turns (prompt, response A, response B) triples into the
flat numeric pair layout ``[features of A | features of B]``, with TF-IDF + SVD
(offline, the default) or a frozen sentence-transformers / transformers
backbone, and an optional persistent embedding cache. Every backbone pass is
reported to :func:`pcr_sklearn.text._hooks.record_embedded`; tests count those
reports with :func:`pcr_sklearn.utils._testing.count_embeddings` (to check that
each text is embedded once). torch and transformers are imported only when a
neural backend is used.
"""

from ._embedder import PairEmbedder

__all__ = ["PairEmbedder"]
