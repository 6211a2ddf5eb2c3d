"""PairEmbedder, the embedding cache and the transformers plumbing (tiny models)."""

import os
import pickle
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline

from pcr_sklearn import _ensemble as ensemble_module
from pcr_sklearn.text import PairEmbedder
from pcr_sklearn.text._cache import EmbeddingCache, text_hash
from pcr_sklearn.utils._testing import count_embeddings

from ._helpers import TEXT_PROMPTS, TEXT_RESPONSES, text_triples

PROMPTS, RESPONSES = TEXT_PROMPTS, TEXT_RESPONSES


def _triples(n=12, seed=0):
    return text_triples(n, seed)[0]


def _unique_texts(X, mode="concat"):
    if mode == "response":
        return set(X[:, 1]) | set(X[:, 2])
    return set(X.ravel())


@pytest.fixture
def torch_one_thread():
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(previous)


# -------------------------------------------------------------- tfidf


def test_tfidf_default_shapes_and_layout():
    X = _triples()
    emb = PairEmbedder(n_components=4, random_state=0)
    out = emb.fit_transform(X)
    assert out.shape == (12, 16) and out.dtype == np.float64
    assert (emb.embedding_dim_, emb.n_prompt_features_, emb.n_item_features_) == (
        4,
        4,
        8,
    )
    # Prompt block equal for A and B; swapping responses swaps the halves.
    np.testing.assert_array_equal(out[:, :4], out[:, 8:12])
    swapped = emb.transform(X[:, [0, 2, 1]])
    np.testing.assert_array_equal(swapped, np.hstack([out[:, 8:], out[:, :8]]))
    assert len(emb.get_feature_names_out()) == 16
    assert emb.get_feature_names_out()[0] == "a_prompt0"


@pytest.mark.parametrize(
    "mode, width, prompt_features", [("response", 8, 0), ("joint", 8, 0)]
)
def test_prompt_modes(mode, width, prompt_features):
    X = _triples()
    emb = PairEmbedder(n_components=4, prompt_mode=mode, random_state=0)
    out = emb.fit_transform(X)
    assert out.shape == (12, width)
    assert emb.n_prompt_features_ == prompt_features
    if mode == "joint":
        # The same response under different prompts gets different features.
        same = [i for i in range(12) if X[i, 1] == X[0, 1] and X[i, 0] != X[0, 0]]
        if same:
            assert not np.allclose(out[0, :4], out[same[0], :4])


def test_dataframe_input_and_column_names():
    pd = pytest.importorskip("pandas")
    X = _triples()
    df = pd.DataFrame(X, columns=["q", "first", "second"]).assign(extra=1)
    emb = PairEmbedder(n_components=3, columns=("q", "first", "second"), random_state=0)
    np.testing.assert_array_equal(emb.fit_transform(df), clone(emb).fit_transform(X))
    with pytest.raises(ValueError, match="missing column"):
        PairEmbedder().fit(df.drop(columns="q"))


def test_input_errors():
    with pytest.raises(ValueError, match=r"shape \(n_pairs, 3\)"):
        PairEmbedder().fit(np.array([["a", "b"]], dtype=object))
    with pytest.raises(ValueError, match="column 'response_b' row 0"):
        PairEmbedder().fit([["a", "b", 3.0]])
    with pytest.raises(ValueError, match="needs model="):
        PairEmbedder("transformers").fit([["a", "b", "c"]])
    with pytest.raises(ValueError, match="no words"):
        PairEmbedder().fit([["!", "?", "."]])


@pytest.mark.parametrize(
    "X, match",
    [
        # One distinct text: TruncatedSVD divided 0 by 0 (a RuntimeWarning).
        ([["cat dog", "cat dog", "cat dog"]], "2 distinct words and all have the same"),
        # Texts of the same words: one tf-idf vector again.
        ([["dog cat", "cat dog", "dog cat"]], "all have the same tf-idf vector"),
        # One word: TruncatedSVD's error about its own "2 feature(s)".
        ([["", "", "cat"], ["", "cat", ""]], "hold 1 distinct word;"),
    ],
)
def test_tfidf_needs_two_words_and_texts_that_differ(X, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=f"training texts: they .*{match}"):
            PairEmbedder(n_components=3, random_state=0).fit(X)
    PairEmbedder(n_components=3, random_state=0).fit([["", "cat", "dog"]])


def test_each_unique_text_embedded_once_per_call():
    X = _triples(30)
    with count_embeddings() as counter:
        PairEmbedder(n_components=3, random_state=0).fit_transform(X)
    assert counter.max_repeats == 1
    assert set(counter.texts) == _unique_texts(X)


def test_tfidf_deterministic_and_pickles():
    X = _triples()
    one = PairEmbedder(n_components=3, random_state=0).fit(X)
    two = PairEmbedder(n_components=3, random_state=0).fit(X)
    np.testing.assert_array_equal(one.transform(X), two.transform(X))
    assert one.embedding_key_ == two.embedding_key_
    restored = pickle.loads(pickle.dumps(one))
    np.testing.assert_array_equal(restored.transform(X), one.transform(X))


def test_tfidf_pads_when_texts_support_fewer_components():
    emb = PairEmbedder(n_components=50, random_state=0).fit(_triples(4))
    assert emb.n_components_ < 50
    out = emb.transform(_triples(4))
    assert out.shape == (4, 200)


def test_tfidf_cache_reuses_fitted_state(tmp_path):
    X = _triples()
    emb = PairEmbedder(n_components=3, random_state=0, cache_dir=tmp_path)
    first = emb.fit_transform(X)
    with count_embeddings() as counter:
        again = clone(emb).fit_transform(X)
    assert counter.n_texts == 0
    np.testing.assert_allclose(again, first, rtol=1e-6)
    # A different training set is a different embedding function: new key.
    other = clone(emb).fit(_triples(seed=3)[:5])
    assert other.embedding_key_ != emb.embedding_key_


# -------------------------------------------------------------- cache


def test_cache_store_lookup_and_corrupt_shard(tmp_path):
    cache = EmbeddingCache(tmp_path, "key", meta={"model": "m"})
    hashes = [text_hash(t) for t in ["a", "b", "c"]]
    cache.store(hashes[:2], np.array([[1.0, 2.0], [3.0, 4.0]]))
    found, vectors = cache.lookup(hashes)
    np.testing.assert_array_equal(found, [True, True, False])
    np.testing.assert_array_equal(vectors[:2], [[1.0, 2.0], [3.0, 4.0]])
    assert (tmp_path / "key" / "meta.json").exists()
    (tmp_path / "key" / "broken.keys.npy").write_bytes(b"not numpy")
    with pytest.warns(UserWarning, match="cache_dir=.*unreadable"):
        found, _ = cache.lookup(hashes)
    assert found[:2].all()
    assert EmbeddingCache(tmp_path, "other").lookup(hashes)[1] is None


def _no_temporary_files(root):
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_unwritable_cache_dir_warns_and_returns_the_embeddings(tmp_path):
    # A cache_dir that cannot be created (a file is in the way; root ignores
    # permission bits, so a read-only folder would not fail here).
    blocked = tmp_path / "not_a_dir"
    blocked.write_text("x")
    X = _triples()
    expected = PairEmbedder(n_components=3, random_state=0).fit_transform(X)
    emb = PairEmbedder(n_components=3, random_state=0, cache_dir=blocked)
    with pytest.warns(UserWarning, match="cache_dir=.*not_a_dir.*could not write"):
        out = emb.fit_transform(X)
    np.testing.assert_array_equal(out, expected)


def test_read_only_cache_dir_warns_and_leaves_no_partial_shard(tmp_path, monkeypatch):
    import pcr_sklearn.text._cache as cache_module

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    # What a read-only folder does to a non-root user: the rename fails.
    monkeypatch.setattr(cache_module.os, "replace", refuse)
    X = _triples()
    expected = PairEmbedder(n_components=3, random_state=0).fit_transform(X)
    emb = PairEmbedder(n_components=3, random_state=0, cache_dir=tmp_path / "c")
    with pytest.warns(UserWarning, match=r"cache_dir=.*Permission denied") as record:
        out = emb.fit_transform(X)
    np.testing.assert_array_equal(out, expected)
    assert all(str(tmp_path / "c") in str(w.message) for w in record)
    assert _no_temporary_files(tmp_path)
    assert not list((tmp_path / "c").rglob("*.npy"))


def test_cache_skips_shards_with_nan_or_inf_vectors(tmp_path):
    cache = EmbeddingCache(tmp_path, "key")
    hashes = [text_hash(t) for t in ["a", "b", "c"]]
    cache.store(hashes[:1], np.array([[1.0, 2.0]]))
    # A poisoned shard, written as a crash or another tool might leave it.
    np.save(tmp_path / "key" / "bad.emb.npy", np.array([[np.nan, 0.0], [np.inf, 1.0]]))
    np.save(tmp_path / "key" / "bad.keys.npy", np.array(hashes[1:], dtype="S32"))
    with pytest.warns(UserWarning, match=r"cache_dir=.*skipping shard bad: .*NaN"):
        found, vectors = cache.lookup(hashes)
    np.testing.assert_array_equal(found, [True, False, False])
    np.testing.assert_array_equal(vectors[0], [1.0, 2.0])
    # Non-finite rows are never written in the first place.
    assert not cache.store(hashes[1:2], np.array([[np.nan, 0.0]]))


def test_embedder_recomputes_texts_of_a_poisoned_shard(tmp_path):
    X = _triples()
    emb = PairEmbedder(n_components=3, random_state=0, cache_dir=tmp_path)
    first = emb.fit_transform(X)
    (shard,) = tmp_path.rglob("*.emb.npy")
    poisoned = np.load(shard)
    poisoned[0] = np.nan
    np.save(shard, poisoned)
    with count_embeddings() as counter:
        with pytest.warns(UserWarning, match=f"cache_dir={str(tmp_path)!r}"):
            again = emb.transform(X)
    assert counter.n_texts == len(_unique_texts(X))  # recomputed, not NaN
    np.testing.assert_allclose(again, first, rtol=1e-6)


# -------------------------------------------------- transformers backend


@pytest.fixture
def hf_embedder(tiny_transformer, torch_one_thread):
    return PairEmbedder(
        "transformers", model=tiny_transformer.hf_dir, device="cpu", batch_size=4
    )


def test_transformers_backend_matches_manual_mean_pooling(hf_embedder):
    from pcr_sklearn.text._hf import encode_texts, get_shared_model

    X = _triples()
    out = hf_embedder.fit_transform(X)
    h = hf_embedder.embedding_dim_
    assert out.shape == (12, 4 * h)
    tokenizer, model = get_shared_model(hf_embedder.model, device="cpu")
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training
    manual = encode_texts([X[0, 0], X[0, 1]], tokenizer=tokenizer, model=model)
    np.testing.assert_allclose(out[0, : 2 * h], manual.ravel(), rtol=1e-4, atol=1e-5)


def test_transformers_cache_second_transform_makes_no_backbone_calls(
    hf_embedder, tmp_path
):
    X = _triples()
    emb = clone(hf_embedder).set_params(cache_dir=tmp_path)
    with count_embeddings() as counter:
        first = emb.fit_transform(X)
    assert counter.max_repeats == 1
    assert set(counter.texts) == _unique_texts(X)
    assert counter.by_source["transformers"] == len(_unique_texts(X))
    with count_embeddings() as counter:
        second = clone(emb).fit_transform(X)
        third = pickle.loads(pickle.dumps(emb)).transform(X)
    assert counter.n_calls == 0 and counter.n_texts == 0
    np.testing.assert_array_equal(second, first)
    np.testing.assert_array_equal(third, first)
    # Different settings (here: pooling) never read these embeddings.
    cls = clone(emb).set_params(pooling="cls").fit(X)
    assert cls.embedding_key_ != emb.embedding_key_


def test_grid_search_embeds_each_text_once_with_cache(hf_embedder, tmp_path):
    X = _triples(24)
    y = np.arange(24) % 2
    groups = [PROMPTS.index(p) for p in X[:, 0]]
    pipe = make_pipeline(
        clone(hf_embedder).set_params(cache_dir=tmp_path),
        LogisticRegression(max_iter=200),
    )
    search = GridSearchCV(
        pipe, {"logisticregression__C": [0.1, 1.0, 10.0]}, cv=GroupKFold(3)
    )
    with count_embeddings() as counter:
        search.fit(X, y, groups=groups)
    assert counter.max_repeats == 1
    assert set(counter.texts) == _unique_texts(X)


def test_transformers_frozen_model_shared_between_clones(hf_embedder):
    from pcr_sklearn.text._hf import get_shared_model

    X = _triples(3)
    clone(hf_embedder).fit(X)
    first = get_shared_model(hf_embedder.model, device="cpu")
    second = get_shared_model(hf_embedder.model, device="cpu")
    assert first[1] is second[1]


def test_pooling_variants(torch_one_thread):
    from pcr_sklearn.text._hf import pool

    torch = torch_one_thread
    states = torch.arange(12.0).reshape(2, 3, 2)
    right = torch.tensor([[1, 1, 0], [1, 1, 1]])
    left = torch.tensor([[0, 1, 1], [1, 1, 1]])
    assert pool(states, right, "mean")[0].tolist() == [1.0, 2.0]
    assert pool(states, right, "cls")[1].tolist() == [6.0, 7.0]
    assert pool(states, right, "last")[0].tolist() == [2.0, 3.0]
    assert pool(states, left, "last")[0].tolist() == [4.0, 5.0]
    assert pool(states, torch.zeros(2, 3), "mean").abs().sum() == 0
    with pytest.raises(ValueError, match="pooling must be"):
        pool(states, right, "max")


def test_encode_is_order_and_batch_independent(tiny_transformer, torch_one_thread):
    from pcr_sklearn.text._hf import encode_texts, get_shared_model

    tokenizer, model = get_shared_model(tiny_transformer.hf_dir, device="cpu")
    texts = tiny_transformer.corpus
    one = encode_texts(texts, tokenizer=tokenizer, model=model, batch_size=3)
    two = encode_texts(texts[::-1], tokenizer=tokenizer, model=model, batch_size=64)
    np.testing.assert_allclose(one, two[::-1], rtol=1e-4, atol=1e-5)
    unit = encode_texts(texts[:2], tokenizer=tokenizer, model=model, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    assert encode_texts([], tokenizer=tokenizer, model=model).shape == (0, 16)


def test_model_identity_tracks_local_files(tmp_path):
    from pcr_sklearn.text._hf import is_local_model, model_identity

    (tmp_path / "config.json").write_text("{}")
    key = model_identity(tmp_path)
    assert key == model_identity(str(tmp_path))
    (tmp_path / "config.json").write_text('{"changed": 1}')
    assert model_identity(tmp_path) != key
    assert is_local_model(tmp_path) and not is_local_model("org/some-model")
    assert model_identity("org/m", revision="a") != model_identity("org/m")


def test_missing_local_model_never_downloads(torch_one_thread):
    pytest.importorskip("transformers")
    emb = PairEmbedder("transformers", model="nobody/no-such-model")
    with pytest.raises(OSError):
        emb.set_params(local_files_only=True).fit([["q", "a", "b"]])


def test_transformers_missing_gives_install_hint(monkeypatch):
    pytest.importorskip("torch")
    from pcr_sklearn.text._hf import import_transformers

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"pcr-sklearn\[torch,text\]"):
        import_transformers()


def test_progress_bar_when_verbose(hf_embedder, capsys):
    pytest.importorskip("tqdm")
    clone(hf_embedder).set_params(verbose=1).fit_transform(_triples(3))
    assert "PairEmbedder" in capsys.readouterr().err


# ------------------------------------------ sentence-transformers backend


def test_sentence_transformers_backend_agrees_with_transformers(
    tiny_transformer, hf_embedder
):
    pytest.importorskip("sentence_transformers")
    X = _triples()
    st = PairEmbedder(
        "sentence-transformers", model=tiny_transformer.st_dir, device="cpu"
    )
    with count_embeddings() as counter:
        out = st.fit_transform(X)
    assert counter.by_source["sentence-transformers"] == len(_unique_texts(X))
    assert st.embedding_dim_ == tiny_transformer.hidden_size
    # Same weights, same mean pooling: the two code paths must agree.
    np.testing.assert_allclose(
        out, clone(hf_embedder).fit_transform(X), rtol=1e-4, atol=1e-5
    )
    assert os.path.isdir(tiny_transformer.st_dir)


# ------------------------------------------------------------------ GPU


@pytest.mark.gpu
def test_transformers_backend_on_cuda_matches_cpu(tiny_transformer, hf_embedder):
    X = _triples()
    gpu = clone(hf_embedder).set_params(device="cuda").fit_transform(X)
    np.testing.assert_allclose(
        gpu, clone(hf_embedder).fit_transform(X), rtol=1e-3, atol=1e-4
    )


def test_pipeline_with_ensemble_of_mlp_rewards(torch_one_thread):
    from pcr_sklearn.rewards import MLPReward

    X = _triples(30)
    # Annotators prefer the response listed first in RESPONSES, 80% of them.
    rank = {text: i for i, text in enumerate(RESPONSES)}
    y = np.array([0.9 if rank[a] < rank[b] else 0.1 for _, a, b in X])
    pipe = make_pipeline(
        PairEmbedder(n_components=4, prompt_mode="response", random_state=0),
        ensemble_module.PairwiseCalibratedEnsemble(
            MLPReward(hidden_layer_sizes=(8,), learning_rate=0.02, max_epochs=20),
            n_estimators=2,
            random_state=0,
        ),
    )
    pipe.fit(X, y)
    proba = pipe.predict_proba(X)
    assert proba.shape == (30, 2)
    assert pipe.score(X, y) > -0.1


# ------------------------------------- token-length batches, one host copy


def _char_sorted_reference(texts, tokenizer, model, batch_size, pooling):
    """The former encode_texts: batches in order of characters, padded per batch."""
    import torch

    from pcr_sklearn.text._hf import pool

    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            encoded = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            states = model(**encoded).last_hidden_state
            out[idx] = pool(states, encoded["attention_mask"], pooling).numpy()
    return out


@pytest.mark.parametrize("pooling", ["mean", "cls", "last"])
def test_token_length_batches_give_the_char_sorted_vectors(
    tiny_transformer, torch_one_thread, pooling
):
    # Same texts -> same vectors as the former character-sorted path, up to
    # float error (other batch mates only change the padding, which is masked).
    from pcr_sklearn.text._hf import encode_texts, get_shared_model

    tokenizer, model = get_shared_model(tiny_transformer.hf_dir, device="cpu")
    rng = np.random.default_rng(0)
    words = " ".join(tiny_transformer.corpus).split()
    # Characters and tokens disagree on length order: long rare words vs short
    # frequent ones.
    texts = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(40)]
    texts += ["mailman" * 3, "a a a a a a a a", "", "yes"]
    new = encode_texts(
        texts, tokenizer=tokenizer, model=model, batch_size=5, pooling=pooling
    )
    old = _char_sorted_reference(texts, tokenizer, model, 5, pooling)
    np.testing.assert_allclose(new, old, rtol=1e-5, atol=1e-6)


def test_token_length_batches_carry_less_padding_than_char_sorting(tiny_transformer):
    pytest.importorskip("transformers")
    from pcr_sklearn.text._hf import get_shared_model, length_batches, tokenize_pairs

    tokenizer, _ = get_shared_model(tiny_transformer.hf_dir, device="cpu")
    rng = np.random.default_rng(1)
    words = " ".join(tiny_transformer.corpus).split()
    texts = [" ".join(rng.choice(words, rng.integers(1, 20))) for _ in range(200)]
    tokens = tokenize_pairs(tokenizer, [("", t) for t in texts], 64)
    lengths = np.array([len(ids) for ids, _ in tokens])

    def padded(batches):
        return sum(len(idx) * lengths[idx].max() for idx in batches)

    by_tokens = padded(length_batches(tokens, 16))
    order = np.argsort([len(t) for t in texts], kind="stable")
    by_chars = padded([order[i : i + 16] for i in range(0, len(order), 16)])
    assert lengths.sum() <= by_tokens < by_chars


def test_encode_texts_copies_to_the_host_once_per_call(
    tiny_transformer, torch_one_thread, monkeypatch
):
    from pcr_sklearn.text import _hf

    tokenizer, model = _hf.get_shared_model(tiny_transformer.hf_dir, device="cpu")
    texts = tiny_transformer.corpus
    copies = []
    original = _hf.HostCopies.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        copies.append(self)

    monkeypatch.setattr(_hf.HostCopies, "__init__", init)
    once = _hf.encode_texts(texts, tokenizer=tokenizer, model=model, batch_size=2)
    assert [c.n_copies for c in copies] == [1]
    # A small transfer budget splits the copies; the vectors are the same.
    monkeypatch.setattr(_hf, "HOST_COPY_BYTES", 1)
    split = _hf.encode_texts(texts, tokenizer=tokenizer, model=model, batch_size=2)
    assert copies[-1].n_copies == int(np.ceil(len(texts) / 2))
    np.testing.assert_array_equal(split, once)


def test_backbones_load_with_sdpa_or_fall_back_silently(
    tiny_transformer, torch_one_thread, monkeypatch
):
    import warnings

    from pcr_sklearn.text import _hf

    _, model = _hf.load_hf_model(tiny_transformer.hf_dir, device="cpu")
    assert model.config._attn_implementation == "sdpa"

    calls = []

    class NoSdpa:
        @staticmethod
        def from_pretrained(ref, **kwargs):
            calls.append(kwargs.get("attn_implementation"))
            if "attn_implementation" in kwargs:
                raise ValueError("does not support SDPA")
            return "loaded"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _hf.from_pretrained_sdpa(NoSdpa, "x", dtype=None) == "loaded"
    assert calls == ["sdpa", None]


def test_unpadded_batches_go_to_the_model_without_a_mask(torch_one_thread):
    # An all-ones mask makes transformers check it (a device sync on GPUs)
    # only to drop it; the pooling still reads it.
    from pcr_sklearn.text._hf import pad_batch

    torch = torch_one_thread
    cpu = torch.device("cpu")
    same = [(np.array([2, 5, 3], np.int32), None)] * 2
    batch = pad_batch(torch, same, 0, cpu)
    assert not batch.padded and "attention_mask" in batch
    assert set(batch.model_inputs()) == {"input_ids"}
    mixed = same + [(np.array([2, 3], np.int32), None)]
    batch = pad_batch(torch, mixed, 0, cpu)
    assert batch.padded
    assert set(batch.model_inputs()) == {"input_ids", "attention_mask"}
    assert batch["attention_mask"].tolist()[-1] == [1, 1, 0]
