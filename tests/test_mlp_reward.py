"""MLPReward: protocol behaviour, determinism, device handling, persistence."""

import importlib
import io
import pickle
import sys

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

torch = pytest.importorskip("torch")

from pcr_sklearn._ensemble import PairwiseCalibratedEnsemble  # noqa: E402
from pcr_sklearn._torch import (  # noqa: E402
    resolve_device,
    resolve_load_device,
    state_dict_to_cpu,
    torch_random_context,
)
from pcr_sklearn.rewards import MLPReward  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Tiny networks: intra-op threads only add overhead (and contend on
    # shared 2-core machines).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _linear_pairs(n=300, d=4, seed=0, scale=4.0):
    """Soft labels from a known linear reward ``w @ x``."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    w = np.array([1.0, -0.5, 0.0, 0.0][:d])
    p = 1.0 / (1.0 + np.exp(-scale * (a - b) @ w))
    return a, b, p, w


def _fast(**params):
    defaults = dict(
        hidden_layer_sizes=(16,), learning_rate=0.02, max_epochs=30, random_state=0
    )
    defaults.update(params)
    return MLPReward(**defaults)


# ----------------------------------------------------------------- protocol


def test_log_loss_learns_linear_preference_and_loss_decreases():
    a, b, p, w = _linear_pairs()
    reward = _fast().fit(a, b, p, loss="log")
    assert reward.loss_curve_[-1] < 0.8 * reward.loss_curve_[0]
    ta, tb, _, _ = _linear_pairs(n=200, seed=1)
    agree = (reward.reward(ta) > reward.reward(tb)) == ((ta - tb) @ w > 0)
    assert agree.mean() > 0.9
    assert reward.n_features_in_ == 4
    assert 1 <= reward.n_iter_ <= 30


def test_squared_loss_follows_signed_residuals():
    a, b, _, w = _linear_pairs()
    # A residual target: positive where A should win, negative where B should.
    residual = np.where((a - b) @ w > 0, 0.6, -0.4)
    reward = _fast().fit(a, b, residual, loss="squared")
    assert reward.loss_curve_[-1] < reward.loss_curve_[0]
    margin = reward.reward(a) - reward.reward(b)
    # A sigmoid cannot reach a negative target; the best it can do is push
    # the probability towards 0 there and towards 1 where the target is high.
    assert np.mean((margin > 0) == (residual > 0)) > 0.85


def test_outputs_are_float64_numpy():
    a, b, p, _ = _linear_pairs(n=50)
    rewards = _fast(max_epochs=2).fit(a, b, p).reward(a.astype(np.float32))
    assert isinstance(rewards, np.ndarray)
    assert rewards.dtype == np.float64 and rewards.shape == (50,)


def test_zero_weight_rows_are_the_same_as_missing_rows():
    a, b, p, _ = _linear_pairs(n=120)
    junk_a, junk_b, _, _ = _linear_pairs(n=30, seed=5)
    full = _fast(max_epochs=5).fit(
        np.vstack([a, junk_a]),
        np.vstack([b, junk_b]),
        np.concatenate([p, np.zeros(30)]),
        np.concatenate([np.ones(120), np.zeros(30)]),
    )
    reduced = _fast(max_epochs=5).fit(a, b, p)
    np.testing.assert_array_equal(full.reward(a), reduced.reward(a))


def test_weight_scale_does_not_matter():
    a, b, p, _ = _linear_pairs(n=120)
    w = np.random.default_rng(3).uniform(0.1, 2.0, size=120)
    one = _fast(max_epochs=5).fit(a, b, p, w)
    ten = _fast(max_epochs=5).fit(a, b, p, 10 * w)
    np.testing.assert_allclose(one.reward(a), ten.reward(a), rtol=1e-5, atol=1e-6)


def test_all_zero_weights_give_constant_rewards():
    a, b, p, _ = _linear_pairs(n=40)
    reward = _fast().fit(a, b, p, np.zeros(40))
    rewards = reward.reward(a)
    np.testing.assert_array_equal(rewards, np.zeros_like(rewards))
    assert reward.n_iter_ == 0


def test_input_errors():
    a, b, p, _ = _linear_pairs(n=20)
    with pytest.raises(ValueError, match="same shape"):
        _fast().fit(a, b[:, :3], p)
    with pytest.raises(ValueError, match="target must lie in"):
        _fast().fit(a, b, p + 1.5)
    with pytest.raises(ValueError, match="loss must be one of"):
        _fast().fit(a, b, p, loss="hinge")
    with pytest.raises(InvalidParameterError):
        _fast(dropout=1.5).fit(a, b, p)
    with pytest.raises(ValueError, match="positive integers"):
        _fast(hidden_layer_sizes=(4, 0)).fit(a, b, p)
    with pytest.raises(NotFittedError):
        _fast().reward(a)
    fitted = _fast(max_epochs=1).fit(a, b, p)
    with pytest.raises(ValueError, match=r"shape \(n_items, 4\)"):
        fitted.reward(a[:, :3])


def test_linear_head_without_hidden_layers():
    a, b, p, _ = _linear_pairs(n=100)
    reward = _fast(hidden_layer_sizes=()).fit(a, b, p)
    linears = [m for m in reward.module_ if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 1


# ------------------------------------------------------ prompt interaction


def test_prompt_interaction_learns_prompt_response_match():
    rng = np.random.default_rng(0)
    n, h = 400, 3
    prompt = rng.normal(size=(n, h))
    resp_a, resp_b = rng.normal(size=(n, h)), rng.normal(size=(n, h))
    # The preferred response is the one that agrees with its prompt: no
    # reward of the response alone can express this.
    target = ((prompt * resp_a).sum(1) > (prompt * resp_b).sum(1)).astype(float)
    a, b = np.hstack([prompt, resp_a]), np.hstack([prompt, resp_b])
    reward = _fast(prompt_dim=h, hidden_layer_sizes=(), max_epochs=40).fit(a, b, target)
    assert reward.module_[0].mean.shape == (3 * h,)
    agree = (reward.reward(a) > reward.reward(b)) == (target == 1)
    assert agree.mean() > 0.9


def test_prompt_dim_must_split_items_evenly():
    a, b, p, _ = _linear_pairs(n=20)
    with pytest.raises(ValueError, match="blocks of equal size"):
        _fast(prompt_dim=1).fit(a, b, p)


# ---------------------------------------------- estimator and determinism


def test_init_stores_params_and_clone_is_unfitted():
    reward = MLPReward(hidden_layer_sizes=(3, 2), dropout=0.1, random_state=7)
    assert reward.get_params()["hidden_layer_sizes"] == (3, 2)
    assert not [k for k in vars(reward) if k.endswith("_")]
    a, b, p, _ = _linear_pairs(n=30)
    reward.set_params(max_epochs=1).fit(a, b, p)
    fresh = clone(reward)
    assert not hasattr(fresh, "module_")
    assert fresh.get_params() == reward.get_params()
    with pytest.raises(NotFittedError):
        fresh.reward(a)


def test_same_random_state_gives_identical_model_on_cpu():
    a, b, p, _ = _linear_pairs(n=150)
    params = dict(dropout=0.2, early_stopping=True, max_epochs=8)
    one = _fast(**params).fit(a, b, p)
    two = _fast(**params).fit(a, b, p)
    np.testing.assert_array_equal(one.reward(a), two.reward(a))
    assert one.loss_curve_ == two.loss_curve_
    other = _fast(random_state=1, **params).fit(a, b, p)
    assert not np.array_equal(one.reward(a), other.reward(a))


def test_fit_leaves_global_torch_rng_alone():
    a, b, p, _ = _linear_pairs(n=40)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _fast(max_epochs=2, dropout=0.3).fit(a, b, p)
    torch.testing.assert_close(torch.rand(3), expected)


def test_inference_does_not_depend_on_batch_composition():
    a, b, p, _ = _linear_pairs(n=100)
    reward = _fast(dropout=0.5, max_epochs=3).fit(a, b, p)
    full = reward.reward(a)
    np.testing.assert_array_equal(full, reward.reward(a))
    np.testing.assert_allclose(reward.reward(a[::-1])[::-1], full, rtol=1e-6)
    np.testing.assert_allclose(reward.reward(a[10:13]), full[10:13], rtol=1e-6)
    assert not reward.module_.training


def test_early_stopping_records_validation_curve():
    a, b, p, _ = _linear_pairs(n=200)
    reward = _fast(early_stopping=True, n_iter_no_change=2, max_epochs=40).fit(a, b, p)
    assert len(reward.validation_loss_curve_) == reward.n_iter_
    assert len(reward.loss_curve_) == reward.n_iter_
    assert _fast(max_epochs=2).fit(a, b, p).validation_loss_curve_ is None


# ------------------------------------------------------------- persistence


def _all_tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _all_tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _all_tensors(value)


def test_pickle_keeps_only_cpu_arrays_and_round_trips():
    a, b, p, _ = _linear_pairs(n=60)
    reward = _fast(max_epochs=3).fit(a, b, p)
    state = reward.__getstate__()
    assert "module_" not in state
    # The weights as NumPy arrays (CPU by construction), no torch object:
    # what skops can store too (pcr_sklearn.io).
    weights = state["_module_state"]
    assert weights and all(isinstance(w, np.ndarray) for w in weights.values())
    assert not list(_all_tensors(state))
    assert "module_" in vars(reward)  # __getstate__ did not touch the model
    # A copy: changing the state does not change the live model.
    next(iter(weights.values()))[...] = 123.0
    assert not any((t == 123.0).all() for t in reward.module_.state_dict().values())

    restored = pickle.loads(pickle.dumps(reward))
    np.testing.assert_array_equal(restored.reward(a), reward.reward(a))
    buffer = io.BytesIO()
    joblib.dump(reward, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).reward(a), reward.reward(a))


def test_pickles_with_tensor_state_still_load():
    # Pickles written before the weights were stored as arrays hold tensors.
    a, b, p, _ = _linear_pairs(n=60)
    reward = _fast(max_epochs=3).fit(a, b, p)
    state = reward.__getstate__()
    state["_module_state"] = {
        name: torch.from_numpy(value) for name, value in state["_module_state"].items()
    }
    old = MLPReward.__new__(MLPReward)
    old.__setstate__(state)
    np.testing.assert_array_equal(old.reward(a), reward.reward(a))


def test_skops_round_trip(tmp_path):
    pytest.importorskip("skops")
    from pcr_sklearn.io import load, save

    a, b, p, _ = _linear_pairs(n=60)
    reward = _fast(max_epochs=3, prompt_dim=2).fit(a, b, p)
    # Before: skops failed with "Cannot directly construct TensorBase".
    loaded = load(save(reward, tmp_path / "mlp.skops"))
    np.testing.assert_array_equal(loaded.reward(a), reward.reward(a))


def test_gpu_saved_model_loads_on_cpu_only_machine(monkeypatch):
    a, b, p, _ = _linear_pairs(n=60)
    reward = _fast(max_epochs=3).fit(a, b, p)
    expected = reward.reward(a)
    # Pretend the model was trained on a GPU: the pickle records that device.
    reward.device_ = "cuda:0"
    blob = pickle.dumps(reward)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        restored = pickle.loads(blob)
    assert restored.device_ == "cpu"
    assert next(restored.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(restored.reward(a), expected)


def test_state_dict_to_cpu_is_recursive():
    state = {"w": torch.ones(2, requires_grad=True), "opt": [{"m": torch.zeros(1)}]}
    moved = state_dict_to_cpu(state)
    assert not moved["w"].requires_grad
    assert moved["opt"][0]["m"].device.type == "cpu"


# ------------------------------------------------------------------ devices


def test_device_resolution(monkeypatch):
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(torch.device("cpu")).type == "cpu"
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu-please")
    with pytest.raises(TypeError):
        resolve_device(3)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        a, b, p, _ = _linear_pairs(n=10)
        _fast(device="cuda").fit(a, b, p)
    assert resolve_load_device(None).type == "cpu"


def test_random_context_restores_determinism_flag():
    before = torch.are_deterministic_algorithms_enabled()
    with torch_random_context(0, "cpu", deterministic=False) as generator:
        assert isinstance(generator, torch.Generator)
    assert torch.are_deterministic_algorithms_enabled() == before


# ------------------------------------------------------------ without torch


def test_import_without_torch(monkeypatch):
    """``import pcr_sklearn`` works without torch; MLPReward says what to install."""
    before = {k for k in sys.modules if k.split(".")[0] == "pcr_sklearn"}
    for name in before:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)
    try:
        importlib.import_module("pcr_sklearn")
        rewards = importlib.import_module("pcr_sklearn.rewards")
        text = importlib.import_module("pcr_sklearn.text")
        a, b, p, _ = _linear_pairs(n=10)
        with pytest.raises(ImportError, match=r'pip install "pcr-sklearn\[torch\]"'):
            rewards.MLPReward().fit(a, b, p)
        # The offline text backend needs no torch either.
        features = text.PairEmbedder(n_components=2).fit_transform(
            [["q", "yes it is", "no it is not"]] * 2
        )
        assert features.shape == (2, 8)
        with pytest.raises(ImportError, match="pcr-sklearn"):
            text.PairEmbedder("transformers", model="x").fit([["q", "a", "b"]])
    finally:
        # Drop the torch-less copies so later tests see the original modules
        # (monkeypatch restores the entries it deleted).
        for name in [k for k in sys.modules if k.split(".")[0] == "pcr_sklearn"]:
            if name not in before:
                del sys.modules[name]


# --------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_cuda_fit_pickles_to_cpu(monkeypatch):
    a, b, p, _ = _linear_pairs(n=200)
    reward = _fast(device="cuda").fit(a, b, p)
    assert reward.device_.startswith("cuda")
    rewards = reward.reward(a)
    assert rewards.dtype == np.float64
    state = reward.__getstate__()
    assert not list(_all_tensors(state))  # NumPy arrays only, on the CPU
    assert all(isinstance(w, np.ndarray) for w in state["_module_state"].values())
    blob = pickle.dumps(reward)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        restored = pickle.loads(blob)
    np.testing.assert_allclose(restored.reward(a), rewards, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- ensemble


def test_ensemble_of_mlp_rewards_is_deterministic_and_pickles():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    # Two groups of annotators: 60% follow feature 0, 40% feature 1.
    p = 0.6 * (a[:, 0] > b[:, 0]) + 0.4 * (a[:, 1] > b[:, 1])
    X = np.hstack([a, b])

    def make():
        return PairwiseCalibratedEnsemble(
            _fast(hidden_layer_sizes=(8,), max_epochs=60),
            n_estimators=2,
            members="stagewise",
            random_state=0,
        )

    one, two = make().fit(X, p), make().fit(X, p)
    np.testing.assert_array_equal(one.predict_proba(X), two.predict_proba(X))
    seeds = {member.random_state for member in one.estimators_}
    assert len(seeds) == 2  # members are seeded differently
    restored = pickle.loads(pickle.dumps(one))
    np.testing.assert_array_equal(restored.predict_proba(X), one.predict_proba(X))
    floor = np.mean(np.minimum(p, 1 - p) ** 2)
    # Two members can represent the two groups; one reward cannot beat the
    # floor (measured 0.34-0.44 x floor over seeds 0-2 with 60 epochs).
    assert -one.score(X, p) < 0.7 * floor


# ---------------------------------------------------------------- numerics


def _numeric_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n, 3))
    return a, b, (a[:, 0] > b[:, 0]).astype(float)


@pytest.mark.parametrize("scale", [1e-20, 1e20, 1e30])
def test_large_and_small_but_float32_features_train_like_unit_ones(scale):
    # Standardisation statistics are computed in float64: in float32 the
    # squares overflowed from |x| ~ 1e19 (scale inf: every input 0, a
    # constant model), and features of 1e-20 were taken for constants.
    a, b, target = _numeric_data()
    unit = _fast().fit(a, b, target)
    scaled = _fast().fit(a * scale, b * scale, target)
    margin = scaled.reward(a * scale) - scaled.reward(b * scale)
    np.testing.assert_allclose(
        margin, unit.reward(a) - unit.reward(b), rtol=1e-3, atol=1e-3
    )


def test_features_beyond_float32_raise_naming_the_cause():
    # Measured before at 1e38: "diverged ... lower learning_rate".
    a, b, target = _numeric_data()
    with pytest.raises(
        ValueError, match=r"items_a has .* row \d+, column \d+.*float32"
    ):
        _fast().fit(a * 1e38, b * 1e38, target)
    fitted = _fast().fit(a, b, target)
    with pytest.raises(ValueError, match=r"items has .*float32 range"):
        fitted.reward(a * 1e39)
    # The prompt-response interaction is a product: it can overflow alone.
    wide_a, wide_b = np.hstack([a, a]) * 1e20, np.hstack([b, b]) * 1e20
    with pytest.raises(ValueError, match="interaction .* float32"):
        _fast(prompt_dim=3).fit(wide_a, wide_b, target)


def test_zero_weight_rows_are_not_range_checked():
    a, b, target = _numeric_data()
    a[5, 1] = 1e39
    weight = np.ones(len(target))
    weight[5] = 0.0
    _fast(max_epochs=2).fit(a, b, target, weight)


def test_weights_near_the_float64_limit():
    # Measured before: the mean of 1e308 weights overflowed, every weight
    # became 0 and nothing was learned.
    import warnings

    a, b, target = _numeric_data()
    base = _fast().fit(a, b, target)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        huge = _fast().fit(a, b, target, np.full(len(target), 1e308))
    np.testing.assert_allclose(huge.reward(a), base.reward(a), rtol=1e-6, atol=1e-6)


def test_features_that_vary_below_float32_raise_naming_the_feature():
    # Measured before: the spread 9e-153 was 0 in float32, so the network
    # standardised by 0/0: "MLPReward diverged ... lower learning_rate".
    a, b = np.array([[0.0, 1.0]]), np.array([[1.8e-152, 0.0]])
    with pytest.raises(ValueError, match="feature 0 varies by 9.*below the float32"):
        _fast(max_epochs=2).fit(a, b, [0.0])
    # A prompt-response product that small is a constant, not an error.
    small = np.hstack([a, b]) * 1e-25
    _fast(prompt_dim=2, max_epochs=2).fit(small, small[::-1] * 2, [0.5])


def test_infinite_items_are_named_without_a_numpy_warning():
    # Measured before: scikit-learn's sum of inf and -inf warned first.
    import warnings

    a, b, target = _numeric_data(n=20)
    fitted = _fast(max_epochs=2).fit(a, b, target)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="items contains infinity"):
            fitted.reward(np.array([[np.inf, -np.inf, 0.0]]))
        with pytest.raises(ValueError, match="items_a contains infinity"):
            _fast().fit(np.array([[np.inf, -np.inf, 0.0]]), b[:1], target[:1])
