"""Test-only helpers: a local random-weight BERT and an embedding counter.

:func:`build_random_bert` builds a WordPiece tokenizer on the fly with
``tokenizers`` from the given texts and a ``BertModel`` with random (seeded)
weights from a config, both saved to a directory; optionally the same network
saved as a sentence-transformers model with mean pooling. Nothing is
downloaded. The weights are random, so the embeddings carry no meaning: this
exercises the real transformers / sentence-transformers code paths and measures
plumbing (calls, caching, memory, throughput, which does not depend on weight
values), not quality.

:func:`count_embeddings` counts what the backbones embed, through the reports
every backbone pass sends to :func:`pcr_sklearn.text._hooks.record_embedded`.

Used by the tests, the benchmarks and the offline example; not public API.
"""

from __future__ import annotations

import collections
import contextlib
import os
import types

from ..text._hooks import add_listener, remove_listener

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# --------------------------------------------------------------------------- #
# A random-weight BERT
# --------------------------------------------------------------------------- #


def _train_wordpiece(texts, vocab_size):
    """A BERT-style WordPiece tokenizer built from ``texts``, deterministically.

    The vocabulary is the special tokens, every character (alone and as a
    ``##`` continuation) and then the most frequent words and word endings,
    ties broken by the text: tokenizers' own ``WordPieceTrainer`` orders
    equal counts by hash and gave a different vocabulary on every run.
    """
    import tokenizers

    normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    counts = collections.Counter(
        word
        for text in texts
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    characters = sorted({character for word in counts for character in word})
    vocab = [*SPECIAL_TOKENS, *characters, *(f"##{c}" for c in characters)]
    # Then whole words and word endings (``##`` pieces), the most frequent
    # first, up to ``vocab_size``, as a trained vocabulary would fill it.
    pieces = collections.Counter()
    for word, count in counts.items():
        if len(word) > 1:
            pieces[word] += count
        for start in range(1, len(word) - 1):
            pieces[f"##{word[start:]}"] += count
    by_count = sorted(pieces.items(), key=lambda item: (-item[1], item[0]))
    vocab += [piece for piece, _ in by_count][: max(vocab_size - len(vocab), 0)]
    wordpiece = tokenizers.Tokenizer(
        tokenizers.models.WordPiece(
            {token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"
        )
    )
    wordpiece.normalizer = normalizer
    wordpiece.pre_tokenizer = pre_tokenizer
    cls_id, sep_id = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    wordpiece.decoder = tokenizers.decoders.WordPiece()
    return wordpiece


def _save_fast_tokenizer(wordpiece, hf_dir, max_length):
    """Wrap ``wordpiece`` as a transformers fast tokenizer saved in ``hf_dir``."""
    import transformers

    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
    tokenizer.save_pretrained(hf_dir)


def _save_random_bert(hf_dir, config_kwargs, seed):
    """A ``BertModel`` with seeded random weights, saved in ``hf_dir``."""
    import torch
    import transformers

    config = transformers.BertConfig(**config_kwargs)
    # fork_rng: seeding must not disturb the caller's global torch RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.BertModel(config)
    model.save_pretrained(hf_dir)
    return model


def _save_sentence_transformer(hf_dir, st_dir, hidden_size, max_length):
    """Save ``hf_dir`` with mean pooling as a sentence-transformers model.

    Returns ``st_dir``, or ``None`` when sentence-transformers is missing.
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    try:  # sentence-transformers >= 6 moved the module classes
        from sentence_transformers.sentence_transformer import modules
    except ImportError:  # older releases
        from sentence_transformers import models as modules
    word = modules.Transformer(hf_dir, max_seq_length=max_length)
    pooling = modules.Pooling(hidden_size, "mean")
    SentenceTransformer(modules=[word, pooling], device="cpu").save(st_dir)
    return st_dir


def build_random_bert(
    directory,
    texts,
    *,
    hidden_size=32,
    num_layers=2,
    num_heads=2,
    intermediate_size=64,
    vocab_size=2000,
    max_length=128,
    seed=0,
    sentence_transformers=True,
):
    """Build a random-weight BERT + WordPiece tokenizer under ``directory``.

    Parameters
    ----------
    directory : str or os.PathLike
        Where to save; ``<directory>/hf`` holds the transformers model and
        ``<directory>/st`` the sentence-transformers one.
    texts : iterable of str
        Corpus the tokenizer is trained on.
    hidden_size, num_layers, num_heads, intermediate_size : int
        BERT config.
    vocab_size : int
        Target WordPiece vocabulary size.
    max_length : int
        Maximum sequence length (position embeddings and tokenizer limit).
    seed : int
        Seed of the random weights.
    sentence_transformers : bool
        Also save a sentence-transformers model (skipped, ``st_dir=None``, if
        the library is missing).

    Returns
    -------
    model : types.SimpleNamespace
        ``hf_dir``, ``st_dir`` (str or None), ``hidden_size``, ``max_length``,
        ``vocab_size`` (actual) and ``n_parameters``.
    """
    hf_dir = os.path.join(os.fspath(directory), "hf")
    wordpiece = _train_wordpiece(texts, vocab_size)
    _save_fast_tokenizer(wordpiece, hf_dir, max_length)
    config_kwargs = dict(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_length,
    )
    model = _save_random_bert(hf_dir, config_kwargs, seed)
    st_dir = None
    if sentence_transformers:
        st_dir = _save_sentence_transformer(
            hf_dir, os.path.join(os.fspath(directory), "st"), hidden_size, max_length
        )
    return types.SimpleNamespace(
        hf_dir=hf_dir,
        st_dir=st_dir,
        hidden_size=hidden_size,
        max_length=max_length,
        vocab_size=wordpiece.get_vocab_size(),
        n_parameters=sum(p.numel() for p in model.parameters()),
    )


# --------------------------------------------------------------------------- #
# Counting what the backbones embed
# --------------------------------------------------------------------------- #


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
    >>> from pcr_sklearn.text import PairEmbedder
    >>> from pcr_sklearn.utils._testing import count_embeddings
    >>> X = [["q", "yes", "no"], ["q", "no", "maybe"]]
    >>> with count_embeddings() as counter:
    ...     _ = PairEmbedder(n_components=2).fit_transform(X)
    >>> counter.n_unique, counter.max_repeats
    (4, 1)
    """
    counter = EmbeddingCounter()
    add_listener(counter)
    try:
        yield counter
    finally:
        remove_listener(counter)
