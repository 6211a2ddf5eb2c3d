"""Tests for TransformerReward on a tiny local BERT (CPU; never downloads)."""

import copy
import io
import pickle
import shutil
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.base import clone

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from pcr_sklearn import PairwiseCalibratedEnsemble  # noqa: E402
from pcr_sklearn.rewards import TransformerReward  # noqa: E402
from pcr_sklearn.rewards._transformer import _find_layer_list  # noqa: E402
from pcr_sklearn.text._hf import get_shared_model, pool  # noqa: E402
from pcr_sklearn.utils._testing import count_embeddings  # noqa: E402

WORDS = (
    "the cat sat on mat a dog barked at mailman reward models learn preferences "
    "annotators disagree about which response is better school uniforms should be "
    "mandatory yes no maybe"
).split()


def _make_items(n, seed=0, n_prompts=3):
    rng = np.random.RandomState(seed)

    def sentence():
        return " ".join(rng.choice(WORDS, rng.randint(2, 9)))

    prompts = [f"prompt {i % n_prompts}" for i in range(n)]
    a = np.array([[p, sentence()] for p in prompts], dtype=object)
    b = np.array([[p, sentence()] for p in prompts], dtype=object)
    return a, b, rng.rand(n)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Tiny models run faster on one thread, and the shared CI cores are busy:
    # OpenMP workers spinning against other jobs make each op ~100x slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def data():
    return _make_items(16)


@pytest.fixture
def model_dir(tiny_transformer):
    # Start every test with an empty feature cache so pass counts are exact.
    TransformerReward.clear_cache()
    return str(tiny_transformer.hf_dir)


def _reward(model_dir, **params):
    params = {"random_state": 0, "max_epochs": 2, "batch_size": 8, **params}
    return TransformerReward(model_dir, device="cpu", **params)


def _backbone(model_dir):
    return get_shared_model(model_dir, device="cpu", dtype=torch.float32)[1]


def _count_rows(module):
    """Count the rows (texts) a module's forward sees; returns (counter, handle)."""
    seen = {"rows": 0, "calls": 0}

    def hook(mod, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        seen["rows"] += int(ids.shape[0])
        seen["calls"] += 1

    return seen, module.register_forward_pre_hook(hook, with_kwargs=True)


def _n_unique_texts(*item_arrays):
    return len({tuple(row) for items in item_arrays for row in items})


# --------------------------------------------------------------- frozen mode
@pytest.mark.parametrize("layout", ["array", "frame"])
def test_frozen_ensemble_encodes_each_unique_text_once(model_dir, data, layout):
    a, b, y = data
    X = np.column_stack([a[:, 0], a[:, 1], b[:, 1]])
    if layout == "frame":
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame(X, columns=["prompt", "response_a", "response_b"])
    backbone = _backbone(model_dir)
    seen, handle = _count_rows(backbone)
    try:
        with count_embeddings() as counter:
            est = PairwiseCalibratedEnsemble(
                _reward(model_dir), n_estimators=3, members="stagewise", random_state=0
            ).fit(X, y)
            est.predict_proba(X)
    finally:
        handle.remove()
    n_unique = _n_unique_texts(a, b)
    assert est.n_estimators_ == 3
    # One backbone pass per unique text over all stages, members and predictions.
    assert seen["rows"] == n_unique
    assert counter.n_unique == n_unique and counter.max_repeats == 1
    # All members hold the same backbone object, not copies.
    assert all(m._rt.backbone is backbone for m in est.estimators_)


def test_frozen_mode_has_no_gradients(model_dir, data):
    a, b, y = data
    est = _reward(model_dir, head="mlp").fit(a, b, y)
    backbone = est._rt.backbone
    assert not any(p.requires_grad for p in backbone.parameters())
    assert not backbone.training
    names = [name for name, _ in est.module_.named_parameters()]
    assert names and all(name.startswith("head.") for name in names)


def test_new_texts_are_encoded_once(model_dir, data):
    a, b, y = data
    est = _reward(model_dir).fit(a, b, y)
    new = np.array([["prompt 0", "a brand new text"], ["", "yes"]], dtype=object)
    with count_embeddings() as counter:
        first = est.reward(np.vstack([new, new, a]))
        second = est.reward(new)
    assert counter.n_texts == 2
    np.testing.assert_allclose(first[:2], second, rtol=1e-5)
    np.testing.assert_allclose(first[:2], first[2:4], rtol=1e-5)


# ----------------------------------------------------------- trainable modes
def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_unchanged(module, snapshot):
    for key, value in module.state_dict().items():
        assert torch.equal(value, snapshot[key]), key


def test_last_n_trains_only_top_layers(model_dir, data):
    a, b, y = data
    backbone = _backbone(model_dir)
    before = _snapshot(backbone)
    est = _reward(model_dir, trainable="last-n", n_trainable_layers=1).fit(a, b, y)
    _assert_unchanged(backbone, before)
    assert not any(p.requires_grad for p in backbone.parameters())
    module = est.module_
    assert sorted({n.split(".")[0] for n, _ in module.named_parameters()}) == [
        "head",
        "layers",
    ]
    assert len(module.layers) == 1
    path, shared_layers = _find_layer_list(torch, backbone)
    # The member's layer is its own, trained copy of the top layer ...
    trained = module.layers[0].state_dict()
    original = shared_layers[-1].state_dict()
    assert any(not torch.equal(trained[k], original[k]) for k in trained)
    assert all(
        p.data_ptr() != q.data_ptr()
        for p, q in zip(
            module.layers.parameters(), shared_layers[-1].parameters(), strict=True
        )
    )
    # ... while embeddings and lower layers are the shared objects, not copies.
    shell = est._rt.shell
    assert shell.embeddings is backbone.embeddings
    assert shell.encoder.layer[0] is module.layers[0]
    assert len(shell.encoder.layer) == 1 and len(shared_layers) == 2


def test_last_n_matches_plain_forward(model_dir, data):
    # Golden check of the cached-states graft: the same rewards as running a
    # full model copy whose top layer holds the trained weights.
    a, b, y = data
    est = _reward(
        model_dir, trainable="last-n", n_trainable_layers=1, learning_rate=1e-2
    ).fit(a, b, y)
    full = copy.deepcopy(est._rt.backbone)
    _, layers = _find_layer_list(torch, full)
    layers[-1].load_state_dict(est.module_.layers[0].state_dict())
    tokenizer = est._rt.tokenizer
    encoded = tokenizer(list(a[:, 0]), list(a[:, 1]), padding=True, return_tensors="pt")
    with torch.no_grad():
        states = full(**encoded).last_hidden_state
        pooled = pool(states, encoded["attention_mask"], "mean")
        expected = est.module_.head(pooled).squeeze(-1).numpy()
    np.testing.assert_allclose(est.reward(a), expected, rtol=1e-5, atol=1e-6)


def test_last_n_without_cache_room_gives_same_rewards(model_dir, data):
    a, b, y = data
    cached = _reward(model_dir, trainable="last-n", n_trainable_layers=1).fit(a, b, y)
    old = TransformerReward.set_cache_limit(1024)
    try:
        TransformerReward.clear_cache()
        with pytest.warns(UserWarning, match="recomputed"):
            streamed = _reward(model_dir, trainable="last-n", n_trainable_layers=1)
            streamed.fit(a, b, y)
    finally:
        TransformerReward.set_cache_limit(old)
    # Same model up to float noise: the streamed states were computed in other
    # batches (other padding; a batch without padding skips the attention
    # mask and so another attention kernel), which changes the summation
    # order; two epochs of training carry that noise to about 4e-5.
    np.testing.assert_allclose(
        streamed.reward(a), cached.reward(a), rtol=1e-4, atol=1e-4
    )


def test_all_fine_tunes_a_private_copy(model_dir, data):
    a, b, y = data
    backbone = _backbone(model_dir)
    before = _snapshot(backbone)
    est = _reward(model_dir, trainable="all", learning_rate=1e-3).fit(a, b, y)
    _assert_unchanged(backbone, before)
    private = est.module_.backbone
    assert private is not backbone
    assert all(p.requires_grad for p in private.parameters())
    changed = [
        k for k, v in private.state_dict().items() if not torch.equal(v, before[k])
    ]
    assert any(k.startswith("encoder.layer.0.") for k in changed)
    assert any(k.startswith("embeddings.") for k in changed)


@pytest.mark.parametrize("trainable", ["head", "last-n", "all"])
def test_bf16_autocast_on_cpu(model_dir, data, trainable):
    # The mixed-dtype path of a GPU run (bf16 shared backbone, fp32 trained
    # weights under autocast), exercised on the CPU.
    a, b, y = data
    est = _reward(
        model_dir, trainable=trainable, n_trainable_layers=1, precision="bf16"
    ).fit(a, b, y)
    assert est.precision_ == "bf16"
    assert next(est._rt.backbone.parameters()).dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in est.module_.parameters())
    rewards = est.reward(a)
    assert np.isfinite(rewards).all()
    # The head runs in fp32: rewards are not rounded to bf16.
    rounded = torch.tensor(rewards).to(torch.bfloat16).double().numpy()
    assert not np.array_equal(rewards, rounded)


# ------------------------------------------------------ determinism, objective
def test_determinism_on_cpu(model_dir, data):
    a, b, y = data
    first = _reward(model_dir, head="mlp", random_state=3).fit(a, b, y).reward(a)
    again = _reward(model_dir, head="mlp", random_state=3).fit(a, b, y).reward(a)
    other = _reward(model_dir, head="mlp", random_state=4).fit(a, b, y).reward(a)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_gradient_accumulation_matches_larger_batch(model_dir, data):
    a, b, y = data
    big = _reward(model_dir, batch_size=8).fit(a, b, y)
    small = _reward(model_dir, batch_size=4, gradient_accumulation_steps=2)
    small.fit(a, b, y)
    np.testing.assert_allclose(small.reward(a), big.reward(a), rtol=1e-5, atol=1e-6)


def test_squared_loss_weights_and_learning(model_dir):
    a, b, _ = _make_items(16, seed=1)
    residual = np.linspace(-1, 1, 16)
    est = _reward(model_dir, max_epochs=30).fit(a, b, residual, loss="squared")
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    untrained = _reward(model_dir).fit(a, b, residual, np.zeros(16), loss="squared")
    assert untrained.n_iter_ == 0
    with pytest.raises(ValueError, match="target"):
        _reward(model_dir).fit(a, b, residual)  # negative targets need "squared"


# ------------------------------------------------------------- persistence
@pytest.mark.parametrize("trainable", ["head", "last-n"])
@pytest.mark.parametrize("dumper", ["pickle", "joblib"])
def test_persistence_round_trip(model_dir, data, trainable, dumper):
    a, b, y = data
    est = _reward(model_dir, trainable=trainable, n_trainable_layers=1).fit(a, b, y)
    expected = est.reward(a)
    if dumper == "pickle":
        payload = pickle.dumps(est)
        loaded = pickle.loads(payload)
    else:
        buffer = io.BytesIO()
        joblib.dump(est, buffer)
        payload = buffer.getvalue()
        loaded = joblib.load(io.BytesIO(payload))
    state = est.__getstate__()
    keys = list(state["_module_state"])
    allowed = ("head.", "feature_") if trainable == "head" else ("head.", "layers.0.")
    assert all(k.startswith(allowed) for k in keys)
    # NumPy arrays (CPU by construction; what skops can store too).
    assert all(isinstance(t, np.ndarray) for t in state["_module_state"].values())
    backbone_bytes = sum(
        p.numel() * p.element_size() for p in _backbone(model_dir).parameters()
    )
    if trainable == "head":
        assert len(payload) < backbone_bytes / 10
    else:
        assert len(payload) < backbone_bytes  # one of two layers, no embeddings
    np.testing.assert_array_equal(loaded.reward(a), expected)


def test_pickles_with_tensor_state_still_load(model_dir, data):
    # Pickles written before the weights were stored as arrays hold tensors.
    a, b, y = data
    est = _reward(model_dir).fit(a, b, y)
    state = est.__getstate__()
    state["_module_state"] = {
        k: torch.from_numpy(v) for k, v in state["_module_state"].items()
    }
    old = TransformerReward.__new__(TransformerReward)
    old.__setstate__(state)
    np.testing.assert_array_equal(old.reward(a), est.reward(a))


def test_skops_round_trip_and_repointed_backbone(model_dir, data, tmp_path):
    pytest.importorskip("skops")
    from pcr_sklearn.io import load, save

    a, b, y = data
    est = _reward(model_dir, trainable="last-n", n_trainable_layers=1).fit(a, b, y)
    path = save(est, tmp_path / "t.skops")
    np.testing.assert_array_equal(load(path).reward(a), est.reward(a))
    moved = tmp_path / "moved"
    shutil.copytree(model_dir, moved)
    loaded = load(path).set_params(model=str(moved))
    np.testing.assert_allclose(loaded.reward(a), est.reward(a), rtol=0, atol=1e-6)


def test_unpickle_cuda_model_on_cpu_only_machine(model_dir, data, monkeypatch):
    a, b, y = data
    est = _reward(model_dir).fit(a, b, y)
    state = est.__getstate__()
    state["device_"] = "cuda:0"  # as if fitted on a GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = TransformerReward.__new__(TransformerReward)
    loaded.__setstate__(state)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        rewards = loaded.reward(a)
    np.testing.assert_allclose(rewards, est.reward(a))


def test_moved_backbone_can_be_repointed(model_dir, data, tmp_path):
    a, b, y = data
    moved = tmp_path / "moved"
    shutil.copytree(model_dir, moved)
    est = _reward(model_dir).fit(a, b, y)
    expected = est.reward(a)
    loaded = pickle.loads(pickle.dumps(est))
    loaded.set_params(model=str(tmp_path / "missing"))
    with pytest.raises(OSError, match="set_params"):
        loaded.reward(a)
    loaded.set_params(model=str(moved))
    # Reloaded float32 weights may sum in another order: allow 1e-6 absolute.
    np.testing.assert_allclose(loaded.reward(a), expected, rtol=1e-6, atol=1e-6)


def test_clone_of_fitted_is_unfitted(model_dir, data):
    a, b, y = data
    est = _reward(model_dir).fit(a, b, y)
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    assert not hasattr(fresh, "module_") and not hasattr(fresh, "_rt")


# --------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "params, match",
    [
        ({"trainable": "everything"}, "trainable"),
        ({"precision": "fp64"}, "precision"),
        ({"precision": "fp16"}, "CUDA"),
        ({"n_trainable_layers": 0}, "n_trainable_layers"),
        ({"trainable": "last-n", "n_trainable_layers": 3}, "only 2 layers"),
        ({"pooling": "max"}, "pooling"),
        ({"model": None}, "needs a model"),
    ],
)
def test_invalid_parameters(model_dir, data, params, match):
    a, b, y = data
    with pytest.raises(ValueError, match=match):
        _reward(model_dir).set_params(**params).fit(a, b, y)


def test_invalid_items(model_dir, data):
    a, b, y = data
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        _reward(model_dir).fit(a[:, 1], b, y)
    bad = a.copy()
    bad[3, 1] = 7
    with pytest.raises(
        ValueError, match=r"items_a must hold strings; row 3, column 'response'"
    ):
        _reward(model_dir).fit(bad, b, y)
    # A missing prompt is an error, as for the ensemble's text pairs ("" means
    # no prompt).
    bad = a.copy()
    bad[2, 0] = None
    with pytest.raises(
        ValueError, match=r"items_a must hold strings; row 2, column 'prompt' has None"
    ):
        _reward(model_dir).fit(bad, b, y)


def test_out_of_memory_message(model_dir, data, monkeypatch):
    a, b, y = data
    backbone = _backbone(model_dir)
    oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)

    def boom(*args, **kwargs):
        raise oom("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(backbone, "forward", boom)
    with pytest.raises(oom, match="smaller batch_size.*gradient_accumulation_steps"):
        _reward(model_dir, batch_size=16).fit(a, b, y)


def test_import_without_torch():
    code = textwrap.dedent(
        """
        import importlib.abc
        import sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.partition(".")[0] in ("torch", "transformers"):
                    raise ImportError(f"No module named {name!r}")

        sys.meta_path.insert(0, Block())
        import pcr_sklearn
        from pcr_sklearn.rewards import TransformerReward
        est = TransformerReward("some/model")
        try:
            est.fit([["p", "a"]], [["p", "b"]], [1.0])
        except ImportError as exc:
            assert "pcr-sklearn[torch" in str(exc), exc
        else:
            raise AssertionError("no ImportError")
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.parametrize("trainable", ["head", "last-n"])
def test_gpu_mixed_precision_and_cpu_reload(model_dir, data, trainable, monkeypatch):
    a, b, y = data
    est = TransformerReward(
        model_dir,
        trainable=trainable,
        n_trainable_layers=1,
        random_state=0,
        max_epochs=2,
        device="cuda",
    ).fit(a, b, y)
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    assert est.precision_ == expected
    assert est.device_.startswith("cuda")
    rewards = est.reward(a)
    assert rewards.dtype == np.float64 and np.isfinite(rewards).all()
    state = est.__getstate__()
    assert all(isinstance(t, np.ndarray) for t in state["_module_state"].values())
    payload = pickle.dumps(est)
    np.testing.assert_allclose(pickle.loads(payload).reward(a), rewards, atol=1e-4)
    # The same payload on a machine without CUDA: CPU, fp32, same rewards up
    # to the bf16 rounding of the GPU run.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        on_cpu = pickle.loads(payload).reward(a)
    scale = np.abs(rewards).max() + 1.0
    assert np.abs(on_cpu - rewards).max() < 0.05 * scale


# ------------------------------------------- precision="auto" on the CPU
@pytest.fixture
def cpu_flags(monkeypatch):
    """Pretend the CPU has the given feature flags."""
    from pcr_sklearn import _torch as torch_helpers

    def pretend(*flags):
        monkeypatch.setattr(torch_helpers, "_cpu_flags", lambda: frozenset(flags))

    return pretend


def test_cpu_bf16_support_reads_the_flags(cpu_flags, monkeypatch):
    from pcr_sklearn._torch import cpu_bf16_support

    cpu_flags("avx2", "avx512f")
    assert cpu_bf16_support() is None
    cpu_flags("avx512f", "avx512_bf16")
    assert cpu_bf16_support() == "avx512_bf16"
    cpu_flags("avx512_bf16", "amx_bf16", "amx_tile")
    assert cpu_bf16_support() == "amx_bf16"
    # Without oneDNN torch emulates bf16 matmuls: never fast.
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert cpu_bf16_support() is None


@pytest.mark.parametrize(
    "flags, hidden, expected",
    [
        (("avx512_bf16",), 768, "bf16"),
        (("amx_bf16",), 128, "bf16"),
        (("avx512_bf16",), 16, "fp32"),  # narrow: too little gain for bf16
        (("avx512_bf16",), None, "fp32"),  # unknown width
        (("avx2",), 768, "fp32"),  # no native bf16: emulated, slower
        ((), 4096, "fp32"),
    ],
)
def test_auto_precision_on_the_cpu(cpu_flags, flags, hidden, expected):
    from pcr_sklearn.rewards._transformer._backbone import resolve_precision

    cpu_flags(*flags)
    cpu = torch.device("cpu")
    got = resolve_precision(torch, "auto", cpu, strict=True, hidden_size=hidden)
    assert got == expected
    # Explicit precisions are never second-guessed.
    assert resolve_precision(torch, "fp32", cpu, strict=True, hidden_size=hidden) == (
        "fp32"
    )
    assert resolve_precision(torch, "bf16", cpu, strict=True) == "bf16"


def test_auto_precision_reads_the_width_from_the_config(model_dir, cpu_flags):
    from pcr_sklearn.rewards._transformer import _backbone

    cpu = torch.device("cpu")
    cpu_flags("avx512_bf16")
    # The tiny model is 16 wide: fp32, even with native bf16.
    assert _backbone.choose_precision(torch, "auto", cpu, model_dir, strict=True) == (
        "fp32"
    )
    assert _backbone._hidden_size(model_dir) == 16
    assert _backbone._hidden_size("/no/such/model/dir") is None
    # Fitted on the same kind of device: keep the fitted precision (the same
    # rewards); on another kind, resolve "auto" there.
    kept = _backbone.choose_precision(
        torch, "auto", cpu, model_dir, strict=False, fitted=("cpu", "bf16")
    )
    assert kept == "bf16"
    other = _backbone.choose_precision(
        torch, "auto", cpu, model_dir, strict=False, fitted=("cuda:0", "bf16")
    )
    assert other == "fp32"


def test_auto_precision_fits_in_bf16_on_a_bf16_cpu_and_reloads_the_same(
    model_dir, data, cpu_flags, monkeypatch
):
    from pcr_sklearn.rewards._transformer import _backbone

    a, b, y = data
    cpu_flags("amx_bf16")
    monkeypatch.setattr(_backbone, "CPU_BF16_MIN_HIDDEN", 16)
    est = _reward(model_dir).fit(a, b, y)
    assert est.precision_ == "bf16"
    assert next(est._rt.backbone.parameters()).dtype == torch.bfloat16
    expected = est.reward(a)
    # Reloaded where "auto" would pick fp32: the fitted precision is kept.
    cpu_flags()
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.reward(a), expected)
    assert loaded._rt.precision == "bf16"
    # Without native bf16, "auto" fits in fp32.
    assert _reward(model_dir).fit(a, b, y).precision_ == "fp32"


# ------------------------------------------------- one host copy per pass
@pytest.mark.parametrize("trainable", ["head", "last-n"])
def test_backbone_pass_copies_to_the_host_once(model_dir, data, trainable, monkeypatch):
    from pcr_sklearn.text import _hf

    a, b, y = data
    params = dict(trainable=trainable, n_trainable_layers=1, encode_batch_size=4)
    est = _reward(model_dir, **params).fit(a, b, y)
    copies = []
    original = _hf.HostCopies.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        copies.append(self)

    monkeypatch.setattr(_hf.HostCopies, "__init__", init)
    TransformerReward.clear_cache()
    expected = est.reward(b)  # 16 texts, 4 batches: one transfer
    assert [c.n_copies for c in copies] == [1]
    # One transfer per batch (the former behaviour): the same rewards.
    monkeypatch.setattr(_hf, "HOST_COPY_BYTES", 1)
    TransformerReward.clear_cache()
    np.testing.assert_array_equal(est.reward(b), expected)
    assert copies[-1].n_copies == 4


# ------------------------------------------- the GPU profile script, dry run
def test_gpu_embedding_profile_dry_run_on_cpu(tmp_path):
    # The device script of benchmarks/gpu_embedding_profile.py, tiny on the
    # CPU: every phase runs and reports (its numbers mean nothing here).
    import json
    import os
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks"
    script = script / "gpu_embedding_profile.py"
    output = tmp_path / "profile.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    subprocess.run(
        [sys.executable, str(script), "--dry-run", "--output", str(output)],
        check=True,
        env=env,
        timeout=600,
        capture_output=True,
    )
    report = json.loads(output.read_text())
    assert report["errors"] == []
    results = report["results"]
    variants = [
        "fp32_weights_autocast",
        "bf16_no_autocast",
        "sync_per_batch",
        "pageable_h2d",
        "ones_mask",
        "eager",
    ]
    expected = {
        f"{name}/bs{bs}" for name in ("package", "direct_ref") for bs in (8, 16)
    }
    expected |= {f"{name}/bs16" for name in variants}
    assert expected <= set(results)
    for name in expected:
        row = results[name]
        assert row["texts_per_s"] > 0 and row["ratio_to_best_direct"] > 0
        assert row["top"] and "host_syncs_per_batch" in row
        assert row["attention_kernel"]["kernel"]
    assert results["package/bs8"]["precision"] == "fp32"  # tiny model, CPU
    assert results["agreement_package_vs_direct_ref"]["cosine_min"] > 0.99
    assert report["best_direct"]["name"] in results
