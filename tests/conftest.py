"""Shared pytest configuration: hypothesis profiles and common fixtures."""

import os

from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

# The tests fit many tiny models; BLAS threads only add contention on small
# shared machines (measured 12x slower fits with 2 threads on a loaded box).
threadpool_limits(1)

# "ci" keeps the default run bounded and free of timing flakiness on shared
# 2-core machines; "thorough" is for local deep runs:
# HYPOTHESIS_PROFILE=thorough pytest tests
settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- tiny local transformer models (no downloads) ---------------------------
import pytest  # noqa: E402

_TINY_CORPUS = [
    "the cat sat on the mat",
    "a dog barked at the mailman",
    "reward models learn preferences from pairwise comparisons",
    "annotators disagree about which response is better",
    "calibration means predicted shares match observed shares",
    "school uniforms should be mandatory",
    "evolution is a well supported scientific theory",
    "is it better to have a lousy father or to be fatherless",
    "yes",
    "no",
    "maybe",
]


@pytest.fixture(scope="session")
def tiny_transformer(tmp_path_factory):
    """Tiny random-weight BERT built locally; never downloads.

    Returns a namespace with ``hf_dir`` (a transformers model + WordPiece
    tokenizer trained on the fly with ``tokenizers``), ``st_dir`` (the same
    network saved as a sentence-transformers model with mean pooling),
    ``hidden_size`` and ``corpus``. Skips when torch/transformers are missing.
    """
    import types

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")

    root = tmp_path_factory.mktemp("tiny_transformer")
    hf_dir = root / "hf"
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    trainer = tokenizers.trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=specials, min_frequency=1
    )
    wordpiece.train_from_iterator(_TINY_CORPUS, trainer=trainer)
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
        model_max_length=64,
    )
    tokenizer.save_pretrained(hf_dir)
    config = transformers.BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = transformers.BertModel(config)
    model.save_pretrained(hf_dir)

    st_dir = None
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        pass
    else:
        try:  # sentence-transformers >= 6 moved the module classes
            from sentence_transformers.sentence_transformer import modules
        except ImportError:  # pragma: no cover - older releases
            from sentence_transformers import models as modules
        st_dir = root / "st"
        word = modules.Transformer(str(hf_dir), max_seq_length=64)
        pooling = modules.Pooling(config.hidden_size, "mean")
        SentenceTransformer(modules=[word, pooling], device="cpu").save(str(st_dir))

    return types.SimpleNamespace(
        hf_dir=hf_dir,
        st_dir=st_dir,
        hidden_size=config.hidden_size,
        corpus=list(_TINY_CORPUS),
    )
