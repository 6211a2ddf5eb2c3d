"""Text features for reward learners: text comparisons -> numeric pairs.

:class:`PairEmbedder` turns (prompt, response A, response B) triples into the
flat numeric pair layout ``[features of A | features of B]``, with TF-IDF + SVD
(offline, the default) or a frozen sentence-transformers / transformers
backbone, and an optional persistent embedding cache. :func:`count_embeddings`
counts what the backbones embed (to check that each text is embedded once).
torch and transformers are imported only when a neural backend is used.
"""

from ._embedder import PairEmbedder
from ._hooks import EmbeddingCounter, count_embeddings

__all__ = ["EmbeddingCounter", "PairEmbedder", "count_embeddings"]
