"""PairEmbedder: text comparisons -> flat numeric pairs for reward learners."""

from __future__ import annotations

import hashlib
import math
import os
from numbers import Integral
from typing import TYPE_CHECKING, Literal

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions, _fit_context
from ..utils.validation import TEXT_COLUMNS
from ._cache import EmbeddingCache, text_hash
from ._hf import POOLINGS, cached_load, model_identity
from ._hooks import record_embedded

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    import torch
    from numpy.typing import ArrayLike, NDArray

BACKENDS = ("tfidf", "sentence-transformers", "transformers")
PROMPT_MODES = ("concat", "response", "joint")
DEFAULT_COLUMNS = TEXT_COLUMNS
# Separator for prompt_mode="joint": a blank line reads as "new section" to
# both subword tokenizers and bag-of-words models.
JOINT_SEPARATOR = "\n\n"


class PairEmbedder(TransformerMixin, BaseEstimator):
    """Embed text comparisons as flat numeric pairs ``[f(prompt, A) | f(prompt, B)]``.

    Each comparison is a prompt and two responses. The output row for it is
    the feature vector of item A followed by that of item B, the flat layout
    :class:`~pcr_sklearn.PairwiseCalibratedEnsemble` and the reward learners
    take. Every unique text is embedded once per ``fit`` / ``transform``; with
    ``cache_dir`` the embeddings persist on disk, so cross-validation folds,
    grid-search candidates and later runs reuse them.

    Parameters
    ----------
    backend : {"tfidf", "sentence-transformers", "transformers"}, default="tfidf"
        ``"tfidf"``: TF-IDF followed by a truncated SVD (latent semantic
        analysis), fitted on the unique training texts; needs no model
        weights, so it works offline everywhere. ``"sentence-transformers"``:
        a ``SentenceTransformer`` given by ``model`` (its own pooling).
        ``"transformers"``: a transformers ``AutoModel`` given by ``model``,
        pooled with ``pooling``. Neural backbones are frozen and shared
        between clones of this transformer in the same process.
    model : str or os.PathLike, default=None
        Local directory or hub name of the model (neural backends only). A
        local directory is loaded with ``local_files_only=True``; nothing is
        downloaded unless a hub name is given on a machine with access.
    prompt_mode : {"concat", "response", "joint"}, default="concat"
        How the prompt enters an item's features. ``"concat"``: item =
        ``[emb(prompt) | emb(response)]`` (prompt and responses embedded
        separately; pass ``prompt_dim=n_prompt_features_`` to
        :class:`~pcr_sklearn.rewards.MLPReward` to add prompt-response
        interactions). ``"response"``: item = ``emb(response)`` (the prompt
        is ignored; for a linear reward the prompt block of ``"concat"``
        cancels in ``r(A) - r(B)`` anyway). ``"joint"``: item =
        ``emb(prompt + "\\n\\n" + response)`` (the backbone reads both
        together; one embedding per distinct (prompt, response)).
    n_components : int, default=128
        Output dimension of the truncated SVD (``"tfidf"`` only). When the
        training texts support fewer dimensions, the remaining columns are
        zero (``n_components_`` holds the number used).
    columns : tuple of 3 str, default=("prompt", "response_a", "response_b")
        Column names of the prompt and the two responses when ``X`` is a
        DataFrame.
    pooling : {"mean", "cls", "last"}, default="mean"
        Token pooling for ``backend="transformers"``: masked mean, first token,
        or last real token (decoder-only models).
    normalize : bool, default=False
        Scale every text embedding to unit norm (neural backends; the
        ``"tfidf"`` embeddings are always unit-norm, as usual for LSA).
    max_length : int, default=None
        Truncation length in tokens (neural backends; ``None``: the model's).
    batch_size : int, default=32
        Texts per forward pass (neural backends).
    device : str or torch.device, default="auto"
        Device of the backbone: ``"auto"`` picks CUDA when available.
    cache_dir : str or os.PathLike, default=None
        Directory for persistent embeddings, keyed by the embedding identity
        (model + settings, or the fitted TF-IDF/SVD state) and a hash of each
        text. ``None`` disables the cache. The cache never costs the
        embeddings: an unwritable ``cache_dir`` warns and the embeddings are
        returned uncached; a cached shard that is unreadable or holds NaN/inf
        vectors is skipped with a warning and its texts are embedded again.
    local_files_only : bool, default=None
        ``None``: ``True`` for a local model directory, else the libraries'
        default (which honours ``HF_HUB_OFFLINE``).
    revision : str, default=None
        Hub revision of ``model``.
    random_state : int, RandomState instance or None, default=None
        Seed of the truncated SVD (``"tfidf"`` only).
    verbose : int, default=0
        Show tqdm progress bars when > 0.

    Attributes
    ----------
    embedding_dim_ : int
        Dimension of one text embedding.
    n_prompt_features_ : int
        Leading columns of an item that describe the prompt
        (``embedding_dim_`` for ``prompt_mode="concat"``, else 0).
    n_item_features_ : int
        Features per item; the output has ``2 * n_item_features_`` columns.
    embedding_key_ : str
        Identity of the embedding function (names the cache subdirectory).
    vectorizer_ : TfidfVectorizer
        Fitted vectorizer (``"tfidf"`` only).
    svd_ : TruncatedSVD
        Fitted projection (``"tfidf"`` only).
    n_components_ : int
        SVD components actually used (``"tfidf"`` only).

    See Also
    --------
    pcr_sklearn.utils._testing.count_embeddings : Count the texts a backbone
        embeds (a test helper).
    pcr_sklearn.rewards.MLPReward : A reward learner for these features.

    Notes
    -----
    The backbone is not pickled with a fitted embedder: only its reference
    (``model``) is, and it is loaded again (once per process) when needed.

    Examples
    --------
    >>> from pcr_sklearn.text import PairEmbedder
    >>> X = [
    ...     ["Is tea healthy?", "Yes, in moderation.", "No."],
    ...     ["Is coffee healthy?", "It depends on the dose.", "Yes."],
    ... ]
    >>> emb = PairEmbedder(n_components=3, prompt_mode="response", random_state=0)
    >>> emb.fit_transform(X).shape
    (2, 6)

    A frozen sentence-transformers model from a local directory (here a tiny
    random-weight BERT built on the fly; use e.g. a downloaded
    ``all-MiniLM-L6-v2``), with a persistent embedding cache:

    >>> import os, tempfile
    >>> from pcr_sklearn.utils._testing import build_random_bert
    >>> tmp = tempfile.TemporaryDirectory()
    >>> model = build_random_bert(tmp.name, [text for row in X for text in row]).st_dir
    >>> emb = PairEmbedder("sentence-transformers", model=model,
    ...                    prompt_mode="response",
    ...                    cache_dir=os.path.join(tmp.name, "cache"))
    >>> emb.fit_transform(X).shape  # 32 features per response, A then B
    (2, 64)
    >>> tmp.cleanup()
    """

    _parameter_constraints: dict = {
        "backend": [StrOptions(set(BACKENDS))],
        "model": [str, os.PathLike, None],
        "prompt_mode": [StrOptions(set(PROMPT_MODES))],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "columns": [tuple, list],
        "pooling": [StrOptions(set(POOLINGS))],
        "normalize": ["boolean"],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        # validated by resolve_device (a torch.device is allowed too)
        "device": "no_validation",
        "cache_dir": [str, os.PathLike, None],
        "local_files_only": ["boolean", None],
        "revision": [str, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        backend: Literal["tfidf", "sentence-transformers", "transformers"] = "tfidf",
        *,
        model: str | os.PathLike[str] | None = None,
        prompt_mode: Literal["concat", "response", "joint"] = "concat",
        n_components: int = 128,
        columns: Sequence[str] = DEFAULT_COLUMNS,
        pooling: Literal["mean", "cls", "last"] = "mean",
        normalize: bool = False,
        max_length: int | None = None,
        batch_size: int = 32,
        device: str | torch.device = "auto",
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool | None = None,
        revision: str | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.backend = backend
        self.model = model
        self.prompt_mode = prompt_mode
        self.n_components = n_components
        self.columns = columns
        self.pooling = pooling
        self.normalize = normalize
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = cache_dir
        self.local_files_only = local_files_only
        self.revision = revision
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: object = None) -> Self:
        """Fit the text featuriser (TF-IDF + SVD) or load the backbone.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_pairs, 3)
            Prompts and the two responses (strings).
        y : None
            Ignored.

        Returns
        -------
        self : PairEmbedder
            The fitted transformer.
        """
        prompts, resp_a, resp_b = self._parse(X)
        if self.backend == "tfidf":
            texts = _unique(self._item_texts(prompts, resp_a, resp_b))
            self._fit_tfidf(texts)
        else:
            if self.model is None:
                raise ValueError(
                    f"backend={self.backend!r} needs model=<local directory or "
                    "hub name>."
                )
            self.embedding_dim_ = self._backbone_dim()
            self.embedding_key_ = model_identity(
                self.model,
                revision=self.revision,
                extra=(
                    self.backend,
                    self.pooling if self.backend == "transformers" else None,
                    bool(self.normalize),
                    self.max_length,
                ),
            )
        self.n_prompt_features_ = (
            self.embedding_dim_ if self.prompt_mode == "concat" else 0
        )
        self.n_item_features_ = self.n_prompt_features_ + self.embedding_dim_
        return self

    def _fit_tfidf(self, texts):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        # sublinear_tf: long responses should not dominate through raw counts.
        self.vectorizer_ = TfidfVectorizer(sublinear_tf=True)
        try:
            counts = self.vectorizer_.fit_transform(texts)
        except ValueError as exc:
            raise ValueError(
                "PairEmbedder(backend='tfidf') found no words in the training "
                f"texts ({exc})."
            ) from exc
        _check_svd_input(counts)
        n_components = min(self.n_components, counts.shape[0], counts.shape[1])
        self.n_components_ = n_components
        self.svd_ = TruncatedSVD(
            n_components=n_components, random_state=self.random_state
        ).fit(counts)
        self.embedding_dim_ = self.n_components
        # Key the cache by the fitted state itself: a different training set
        # or an unseeded SVD gives a different embedding function.
        digest = hashlib.blake2b(digest_size=12)
        digest.update(repr(sorted(self.vectorizer_.vocabulary_.items())).encode())
        digest.update(np.ascontiguousarray(self.vectorizer_.idf_).tobytes())
        digest.update(np.ascontiguousarray(self.svd_.components_).tobytes())
        digest.update(repr(("tfidf", self.n_components)).encode())
        self.embedding_key_ = "tfidf-" + digest.hexdigest()

    # ------------------------------------------------------------ transform

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Embed the comparisons.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_pairs, 3)
            Prompts and the two responses (strings).

        Returns
        -------
        features : ndarray of shape (n_pairs, 2 * `n_item_features_`)
            ``[features of item A | features of item B]``, float64.
        """
        check_is_fitted(self, "embedding_key_")
        prompts, resp_a, resp_b = self._parse(X)
        texts = self._item_texts(prompts, resp_a, resp_b)
        unique = _unique(texts)
        vectors = self._embed_unique(unique).astype(np.float64, copy=False)
        row = {text: i for i, text in enumerate(unique)}
        if self.prompt_mode == "joint":
            items_a = vectors[[row[t] for t in _joined(prompts, resp_a)]]
            items_b = vectors[[row[t] for t in _joined(prompts, resp_b)]]
        else:
            items_a = vectors[[row[a] for a in resp_a]]
            items_b = vectors[[row[b] for b in resp_b]]
            if self.prompt_mode == "concat":
                prompt_vectors = vectors[[row[p] for p in prompts]]
                items_a = np.hstack([prompt_vectors, items_a])
                items_b = np.hstack([prompt_vectors, items_b])
        return np.hstack([items_a, items_b])

    def get_feature_names_out(
        self, input_features: ArrayLike | None = None
    ) -> NDArray[np.object_]:
        """Output feature names: ``a_prompt{j}``, ``a_resp{j}``, ``b_...``.

        ``"joint"`` mode uses ``a_joint{j}`` / ``b_joint{j}``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored; the names depend only on the fitted embedding.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The names of the columns of :meth:`transform`'s output.
        """
        check_is_fitted(self, "embedding_key_")
        dim = self.embedding_dim_
        if self.prompt_mode == "joint":
            blocks = ["joint"]
        elif self.prompt_mode == "response":
            blocks = ["resp"]
        else:
            blocks = ["prompt", "resp"]
        names = [
            f"{side}_{block}{j}"
            for side in ("a", "b")
            for block in blocks
            for j in range(dim)
        ]
        return np.asarray(names, dtype=object)

    # -------------------------------------------------------------- helpers

    def _parse(self, X):
        """Return prompts, responses A and B as lists of str; validate them."""
        columns = tuple(self.columns)
        if len(columns) != 3:
            raise ValueError(
                "columns must name 3 columns (prompt, response_a, response_b), "
                f"got {self.columns!r}."
            )
        if hasattr(X, "columns") and hasattr(X, "__getitem__"):  # DataFrame
            missing = [c for c in columns if c not in X.columns]
            if missing:
                raise ValueError(
                    f"X is missing column(s) {missing}; it has {list(X.columns)}. "
                    "Set columns=(prompt, response_a, response_b) to match."
                )
            data = [list(X[c]) for c in columns]
        else:
            array = np.asarray(X, dtype=object)
            if array.ndim != 2 or array.shape[1] != 3:
                raise ValueError(
                    "PairEmbedder expects a DataFrame or an array of shape "
                    "(n_pairs, 3) holding (prompt, response_a, response_b) "
                    f"strings; got shape {array.shape}."
                )
            data = [list(array[:, j]) for j in range(3)]
        if not data[0]:
            raise ValueError("PairEmbedder got 0 comparisons; need at least 1.")
        for name, values in zip(columns, data, strict=True):
            for i, value in enumerate(values):
                if not isinstance(value, str):
                    raise ValueError(
                        f"PairEmbedder expects strings; column {name!r} row {i} "
                        f"holds {type(value).__name__} {value!r}."
                    )
        return (
            [str(v) for v in data[0]],
            [str(v) for v in data[1]],
            [str(v) for v in data[2]],
        )

    def _item_texts(self, prompts, resp_a, resp_b):
        if self.prompt_mode == "joint":
            return _joined(prompts, resp_a) + _joined(prompts, resp_b)
        if self.prompt_mode == "response":
            return resp_a + resp_b
        return prompts + resp_a + resp_b

    def _embed_unique(self, texts):
        """Embeddings of distinct ``texts`` (float32), through the cache."""
        out = np.zeros((len(texts), self.embedding_dim_), dtype=np.float32)
        todo = np.arange(len(texts))
        cache = None
        if self.cache_dir is not None:
            cache = EmbeddingCache(self.cache_dir, self.embedding_key_, self._meta())
            hashes = [text_hash(t) for t in texts]
            found, cached = cache.lookup(hashes)
            if cached is not None:
                out[found] = cached[found]
            todo = np.flatnonzero(~found)
            if self.verbose:
                print(
                    f"[PairEmbedder] {int(found.sum())} of {len(texts)} texts "
                    "from the cache"
                )
        if todo.size:
            new = self._embed([texts[i] for i in todo])
            out[todo] = new
            if cache is not None:
                cache.store([hashes[i] for i in todo], new)
        return out

    def _embed(self, texts):
        """Run the embedding function on ``texts`` (no cache)."""
        if self.backend == "tfidf":
            record_embedded(texts, source="tfidf")
            reduced = self.svd_.transform(self.vectorizer_.transform(texts))
            norms = np.linalg.norm(reduced, axis=1, keepdims=True)
            reduced = reduced / np.where(norms > 0, norms, 1.0)
            out = np.zeros((len(texts), self.embedding_dim_), dtype=np.float32)
            out[:, : reduced.shape[1]] = reduced
            return out
        if self.backend == "transformers":
            from ._hf import encode_texts

            tokenizer, net = self._load_transformers()
            return encode_texts(
                texts,
                tokenizer=tokenizer,
                model=net,
                batch_size=self.batch_size,
                max_length=self.max_length,
                pooling=self.pooling,
                normalize=self.normalize,
                progress=self.verbose > 0,
                desc="PairEmbedder",
            )
        st = self._load_sentence_transformer()
        vectors = st.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=self.verbose > 0,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )
        record_embedded(
            texts,
            source="sentence-transformers",
            n_calls=math.ceil(len(texts) / self.batch_size),
        )
        return np.asarray(vectors, dtype=np.float32)

    def _backbone_dim(self):
        if self.backend == "transformers":
            _, net = self._load_transformers()
            return int(net.config.hidden_size)
        st = self._load_sentence_transformer()
        get_dim = getattr(st, "get_embedding_dimension", None) or (
            st.get_sentence_embedding_dimension
        )
        return int(get_dim())

    def _load_transformers(self):
        from ._hf import get_shared_model

        return get_shared_model(
            self.model,
            device=self.device,
            revision=self.revision,
            local_files_only=self.local_files_only,
        )

    def _load_sentence_transformer(self):
        from .._torch import import_torch, resolve_device
        from ._hf import TEXT_INSTALL_HINT, is_local_model

        import_torch()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(
                "backend='sentence-transformers' needs the sentence-transformers "
                f"library. Install it with: {TEXT_INSTALL_HINT}"
            ) from exc
        device = resolve_device(self.device)
        local_only = self.local_files_only
        if local_only is None:
            local_only = is_local_model(self.model)
        key = (
            "sentence-transformers",
            model_identity(self.model, revision=self.revision),
            str(device),
            self.max_length,
        )

        def load():
            st = SentenceTransformer(
                os.fspath(self.model),
                device=str(device),
                revision=self.revision,
                local_files_only=bool(local_only),
            )
            st.eval()
            st.requires_grad_(False)
            if self.max_length is not None:
                st.max_seq_length = int(self.max_length)
            return st

        return cached_load(key, load)

    def _meta(self):
        return {
            "backend": self.backend,
            "model": None if self.model is None else os.fspath(self.model),
            "revision": self.revision,
            "pooling": self.pooling,
            "normalize": bool(self.normalize),
            "max_length": self.max_length,
            "n_components": self.n_components,
        }


def _joined(prompts, responses):
    return [p + JOINT_SEPARATOR + r for p, r in zip(prompts, responses, strict=True)]


def _unique(texts):
    """Distinct texts in first-seen order."""
    return list(dict.fromkeys(texts))


def _check_svd_input(counts):
    """Raise unless the tf-idf vectors of the training texts can be reduced.

    TruncatedSVD needs two words at least, and training texts whose vectors
    differ: with one vector (one distinct text, or texts of the same words)
    there is no variance to explain, and it would divide 0 by 0.
    """
    n_words = counts.shape[1]
    same = n_words and not (counts.max(axis=0) != counts.min(axis=0)).nnz
    if n_words < 2 or same:
        raise ValueError(
            "PairEmbedder(backend='tfidf') cannot fit its SVD on the training "
            f"texts: they hold {n_words} distinct word{'s' * (n_words != 1)}"
            f"{' and all have the same tf-idf vector' if same else ''}; it needs "
            "at least two words and texts that differ in their words."
        )
