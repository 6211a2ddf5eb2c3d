"""Shared pytest configuration: hypothesis profiles and common fixtures."""

import os

import pytest
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


def _cuda_available():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` when no CUDA device is available."""
    if _cuda_available():
        return
    no_cuda = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(no_cuda)


# --- tiny local transformer models (no downloads) ---------------------------

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
    from pathlib import Path

    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from pcr_sklearn.utils._testing import build_random_bert

    root = tmp_path_factory.mktemp("tiny_transformer")
    built = build_random_bert(
        root,
        _TINY_CORPUS,
        hidden_size=16,
        intermediate_size=32,
        vocab_size=200,
        max_length=64,
    )
    return types.SimpleNamespace(
        hf_dir=Path(built.hf_dir),
        st_dir=None if built.st_dir is None else Path(built.st_dir),
        hidden_size=built.hidden_size,
        corpus=list(_TINY_CORPUS),
    )
