"""pcr_sklearn.export: member rewards, TRL reward functions, HF model export.

Everything runs on the CPU with the tiny local BERT of ``conftest.py`` (never
downloads); TRL is not a dependency (its contract test is skipped without it).
"""

import inspect
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.export import (
    chat_items,
    member_rewards,
    reward_functions,
    save_pretrained,
)
from pcr_sklearn.text import PairEmbedder
from pcr_sklearn.utils._testing import count_embeddings

from ._helpers import TEXT_PROMPTS, TEXT_RESPONSES, text_triples

PROMPTS, RESPONSES = TEXT_PROMPTS, TEXT_RESPONSES


def _triples(n=24, seed=0):
    return text_triples(n, seed)


def _items():
    return np.array(
        [[p, r] for p in PROMPTS[:2] for r in RESPONSES[:4]] + [["", "maybe"]],
        dtype=object,
    )


@pytest.fixture(scope="module")
def torch_one_thread():
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tfidf_pipeline():
    X, y = _triples()
    return make_pipeline(
        PairEmbedder(n_components=8, random_state=0),
        PairwiseCalibratedEnsemble(n_estimators=5, random_state=0),
    ).fit(X, y)


@pytest.fixture(scope="module")
def hf_pipeline(tiny_transformer, torch_one_thread):
    X, y = _triples()
    return make_pipeline(
        PairEmbedder("transformers", model=tiny_transformer.hf_dir, device="cpu"),
        PairwiseCalibratedEnsemble(n_estimators=4, random_state=0),
    ).fit(X, y)


def _transformer(tiny_transformer, **params):
    from pcr_sklearn.rewards import TransformerReward

    params = {"random_state": 0, "max_epochs": 2, "batch_size": 8, **params}
    return TransformerReward(tiny_transformer.hf_dir, device="cpu", **params)


@pytest.fixture(scope="module")
def text_population(tiny_transformer, torch_one_thread):
    # Population members: SampledReward(mean=TransformerReward, taste).
    X, y = _triples()
    member = _transformer(tiny_transformer, pooling="cls")
    return PairwiseCalibratedEnsemble(member, n_estimators=4, random_state=0).fit(X, y)


# ------------------------------------------------------------ member_rewards
@pytest.mark.parametrize("mode", ["concat", "response", "joint"])
def test_pipeline_rewards_are_the_embedded_items_rewards(mode):
    X, y = _triples()
    model = make_pipeline(
        PairEmbedder(n_components=8, prompt_mode=mode, random_state=0),
        PairwiseCalibratedEnsemble(n_estimators=3, random_state=0),
    ).fit(X, y)
    embedder, ensemble = model[0], model[-1]
    items = _items()
    # By hand: a pair whose A side is the item, sliced to A's features.
    other = np.full(len(items), X[0, 1], dtype=object)
    pairs = embedder.transform(np.column_stack([items[:, 0], items[:, 1], other]))
    expected = ensemble.rewards(pairs[:, : embedder.n_item_features_])
    np.testing.assert_allclose(member_rewards(model, items), expected, rtol=1e-12)
    assert member_rewards(model, []).shape == (0, 3)


def test_pipeline_rewards_order_pairs_as_the_pipeline_does(tfidf_pipeline):
    # r_j(A) > r_j(B) for member j exactly when member j votes for A.
    X, _ = _triples(6, seed=3)
    a = member_rewards(tfidf_pipeline, X[:, :2])
    b = member_rewards(tfidf_pipeline, X[:, [0, 2]])
    ensemble = tfidf_pipeline[-1]
    votes = (a > b) + 0.5 * (a == b)
    share = votes @ ensemble.estimator_weights_
    np.testing.assert_allclose(share, tfidf_pipeline.predict_proba(X)[:, 1])


def test_text_ensemble_rewards_are_its_rewards(text_population):
    items = _items()
    np.testing.assert_array_equal(
        member_rewards(text_population, items), text_population.rewards(items)
    )


def test_member_rewards_errors(tfidf_pipeline):
    with pytest.raises(ValueError, match="numeric features, not text"):
        member_rewards(tfidf_pipeline[-1], _items())
    with pytest.raises(TypeError, match="PairwiseCalibratedEnsemble"):
        member_rewards(tfidf_pipeline[0], _items())
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        member_rewards(tfidf_pipeline, [["only one column"]])


# ------------------------------------------------------- reward functions
def test_reward_functions_follow_the_trl_contract(tfidf_pipeline):
    funcs, weights = reward_functions(tfidf_pipeline)
    ensemble = tfidf_pipeline[-1]
    assert [f.__name__ for f in funcs] == [f"member_{j}" for j in range(5)]
    np.testing.assert_allclose(weights, ensemble.estimator_weights_)
    assert all(type(w) is float for w in weights)
    items = _items()
    expected = member_rewards(tfidf_pipeline, items)
    for j, func in enumerate(funcs):
        # TRL: keyword arguments only, plus completion_ids, trainer_state and
        # the dataset's other columns.
        out = func(
            prompts=list(items[:, 0]),
            completions=list(items[:, 1]),
            completion_ids=[[1, 2]] * len(items),
            trainer_state=None,
            answer=["x"] * len(items),
        )
        assert isinstance(out, list) and all(type(v) is float for v in out)
        np.testing.assert_array_equal(out, expected[:, j])
        parameters = inspect.signature(func).parameters
        assert {"prompts", "completions"} <= set(parameters)
        assert any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        assert not inspect.iscoroutinefunction(func.__call__)


def test_reward_functions_read_chat_messages(tfidf_pipeline):
    funcs, _ = reward_functions(tfidf_pipeline)
    prompts = [
        [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": PROMPTS[0]},
        ],
        [{"role": "user", "content": [{"type": "text", "text": PROMPTS[1]}]}],
    ]
    completions = [
        [{"role": "assistant", "content": RESPONSES[0]}],
        [
            {"role": "assistant", "content": "draft"},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": RESPONSES[2]},
        ],
    ]
    plain = [[PROMPTS[0], RESPONSES[0]], [PROMPTS[1], RESPONSES[2]]]
    assert chat_items(prompts, completions).tolist() == plain
    expected = member_rewards(tfidf_pipeline, plain)
    np.testing.assert_array_equal(
        funcs[1](prompts=prompts, completions=completions), expected[:, 1]
    )
    # No prompts: the responses alone.
    assert chat_items(None, ["a"]).tolist() == [["", "a"]]
    with pytest.raises(ValueError, match="one prompt per completion"):
        chat_items(["p"], ["a", "b"])
    with pytest.raises(TypeError, match="chat"):
        chat_items(["p"], [[1, 2]])


@pytest.mark.parametrize("kind", ["pipeline", "text_ensemble"])
def test_all_functions_on_a_batch_embed_each_text_once(
    kind, hf_pipeline, text_population
):
    from pcr_sklearn.rewards import TransformerReward

    model = hf_pipeline if kind == "pipeline" else text_population
    TransformerReward.clear_cache()
    funcs, _ = reward_functions(model)
    items = np.array(
        [[PROMPTS[0], f"fresh answer number {i}"] for i in range(6)], dtype=object
    )
    prompts, completions = list(items[:, 0]), list(items[:, 1])
    with count_embeddings() as counter:
        columns = [f(prompts=prompts, completions=completions) for f in funcs]
    assert counter.max_repeats == 1
    assert funcs[0].shared.n_computed == 1
    if kind == "pipeline":  # prompt_mode="concat": the prompt is a text too
        assert set(counter.texts) == set(completions) | {PROMPTS[0]}
    else:  # one (prompt, response) text per item
        assert counter.n_unique == len(items)
    np.testing.assert_array_equal(
        np.column_stack(columns), member_rewards(model, items)
    )
    # Another batch is computed afresh.
    funcs[0](prompts=prompts[:2], completions=completions[:2])
    assert funcs[0].shared.n_computed == 2


def test_reward_functions_pickle(tfidf_pipeline):
    funcs, _ = reward_functions(tfidf_pipeline)
    items = _items()
    expected = funcs[2](prompts=list(items[:, 0]), completions=list(items[:, 1]))
    loaded = pickle.loads(pickle.dumps(funcs))
    assert loaded[0].shared is loaded[2].shared  # still one shared computation
    assert loaded[2].__name__ == "member_2"
    out = loaded[2](prompts=list(items[:, 0]), completions=list(items[:, 1]))
    assert out == expected


def test_trl_reward_function_contract(tfidf_pipeline):
    trl_utils = pytest.importorskip("trl.trainer.utils")
    funcs, _ = reward_functions(tfidf_pipeline)
    assert [trl_utils.get_callable_name(f) for f in funcs][:2] == [
        "member_0",
        "member_1",
    ]
    assert not trl_utils.is_async_callable(funcs[0])


def test_importing_export_does_not_import_torch():
    code = textwrap.dedent(
        """
        import sys
        import pcr_sklearn.export
        assert "torch" not in sys.modules, "torch imported"
        assert "transformers" not in sys.modules, "transformers imported"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------- save_pretrained
def _logits(path, items):
    import torch
    import transformers

    model = transformers.AutoModelForSequenceClassification.from_pretrained(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    assert model.config.num_labels == 1
    assert type(model).__name__ == "BertForSequenceClassification"
    out = []
    for prompt, response in items:
        # The member's reading of an item: a text pair, or the response alone.
        args = (prompt, response) if prompt else (response,)
        encoded = tokenizer(*args, truncation=True, return_tensors="pt")
        with torch.no_grad():
            out.append(float(model(**encoded).logits[0, 0]))
    return np.array(out)


def _batched_logits(path, items):
    import torch
    import transformers

    model = transformers.AutoModelForSequenceClassification.from_pretrained(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    encoded = tokenizer(
        list(items[:, 0]),
        list(items[:, 1]),
        truncation=True,
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        return model(**encoded).logits[:, 0].numpy()


# Max abs differences measured on the tiny BERT (fp32, CPU): 2.4e-7 ("head"),
# 6e-8 ("last-n"), 0 ("all").
@pytest.mark.parametrize("trainable", ["head", "last-n", "all"])
def test_exported_model_reproduces_the_member(
    tiny_transformer, torch_one_thread, tmp_path, trainable
):
    X, y = _triples(16)
    member = _transformer(
        tiny_transformer,
        pooling="cls",
        trainable=trainable,
        n_trainable_layers=1,
        learning_rate=1e-2,
    ).fit(X[:, :2], X[:, [0, 2]], y)
    path = save_pretrained(member, tmp_path / trainable)
    items = _items()
    rewards = member.reward(items)
    logits = _logits(path, items)
    assert np.abs(logits - rewards).max() < 1e-5
    # Padded batches (right padding, masked attention): the same.
    paired = items[items[:, 0] != ""]
    batched = _batched_logits(path, paired)
    assert np.abs(batched - member.reward(paired)).max() < 1e-5
    # The tokenizer carries the member's truncation length.
    import json

    with open(tmp_path / trainable / "config.json") as fh:
        config = json.load(fh)
    assert config["pcr_sklearn_export"]["pooling"] == "cls"
    assert config["pcr_sklearn_export"]["max_length"] == member._rt.max_length
    assert "auto_map" not in config  # a stock architecture: no remote code


def test_export_of_stagewise_members_reproduces_each(
    tiny_transformer, torch_one_thread, tmp_path
):
    X, y = _triples(16)
    ensemble = PairwiseCalibratedEnsemble(
        _transformer(tiny_transformer, pooling="cls"),
        members="stagewise",
        n_estimators=2,
        n_backfit=0,
        random_state=0,
    ).fit(X, y)
    items = _items()
    rewards = member_rewards(ensemble, items)
    for j, member in enumerate(ensemble.estimators_):
        logits = _logits(save_pretrained(member, tmp_path / f"m{j}"), items)
        assert np.abs(logits - rewards[:, j]).max() < 1e-5


def test_population_members_with_taste_are_refused(text_population, tmp_path):
    member = text_population.estimators_[1]
    with pytest.raises(ValueError, match="taste"):
        save_pretrained(member, tmp_path / "m")
    # The shared mean (every member's reward minus its taste) exports.
    items = _items()
    path = save_pretrained(member.mean, tmp_path / "mean")
    assert np.abs(_logits(path, items) - member.mean.reward(items)).max() < 1e-5


def test_population_member_without_taste_exports_its_mean(text_population, tmp_path):
    from pcr_sklearn._population import SampledReward

    drawn = text_population.estimators_[0]
    member = SampledReward(drawn.mean, drawn.features, np.zeros_like(drawn.taste))
    items = _items()
    path = save_pretrained(member, tmp_path / "m")
    assert np.abs(_logits(path, items) - member.reward(items)).max() < 1e-5


@pytest.mark.parametrize(
    "params, match",
    [
        ({"pooling": "mean"}, "pooling='mean'"),
        ({"pooling": "cls", "head": "mlp"}, "head='linear'"),
    ],
)
def test_members_that_a_stock_model_cannot_hold_are_refused(
    tiny_transformer, torch_one_thread, tmp_path, params, match
):
    X, y = _triples(8)
    member = _transformer(tiny_transformer, **params).fit(X[:, :2], X[:, [0, 2]], y)
    with pytest.raises(ValueError, match=match):
        save_pretrained(member, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_save_pretrained_rejects_other_objects(tfidf_pipeline, tmp_path):
    with pytest.raises(TypeError, match="TransformerReward"):
        save_pretrained(tfidf_pipeline[-1].estimators_[0], tmp_path / "m")
