"""A random-weight BERT built locally, for tests, benchmarks and offline examples.

A WordPiece tokenizer trained on the fly with ``tokenizers`` on the given texts
and a ``BertModel`` with random (seeded) weights from a config, both saved to a
directory; optionally the same network saved as a sentence-transformers model
with mean pooling. Nothing is downloaded. The weights are random, so the
embeddings carry no meaning: this exercises the real transformers /
sentence-transformers code paths and measures plumbing (calls, caching, memory,
throughput, which does not depend on weight values), not quality.
"""

from __future__ import annotations

import os
import types

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


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
    import tokenizers
    import torch
    import transformers

    hf_dir = os.path.join(os.fspath(directory), "hf")
    wordpiece = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    trainer = tokenizers.trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=1
    )
    wordpiece.train_from_iterator(list(texts), trainer=trainer)
    cls_id, sep_id = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    wordpiece.decoder = tokenizers.decoders.WordPiece()
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
    config = transformers.BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_length,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.BertModel(config)
    model.save_pretrained(hf_dir)

    st_dir = None
    if sentence_transformers:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            pass
        else:
            try:  # sentence-transformers >= 6 moved the module classes
                from sentence_transformers.sentence_transformer import modules
            except ImportError:  # older releases
                from sentence_transformers import models as modules
            st_dir = os.path.join(os.fspath(directory), "st")
            word = modules.Transformer(hf_dir, max_seq_length=max_length)
            pooling = modules.Pooling(hidden_size, "mean")
            SentenceTransformer(modules=[word, pooling], device="cpu").save(st_dir)

    return types.SimpleNamespace(
        hf_dir=hf_dir,
        st_dir=st_dir,
        hidden_size=hidden_size,
        max_length=max_length,
        vocab_size=wordpiece.get_vocab_size(),
        n_parameters=sum(p.numel() for p in model.parameters()),
    )
