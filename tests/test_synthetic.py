"""Tests of pcr_sklearn.datasets.make_preference_mixture."""

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit

from pcr_sklearn._compat import InvalidParameterError
from pcr_sklearn.datasets import item_features, make_preference_mixture

SMALL = dict(n_prompts=12, n_responses=4, n_features=3)


def _make(**kwargs):
    params = {**SMALL, "return_truth": True, "random_state": 0, **kwargs}
    return make_preference_mixture(**params)


def test_shapes_and_dtypes():
    X, y, truth = _make(n_groups=2)
    n_pairs = 12 * 4 * 3 // 2
    assert X.shape == (n_pairs, 6 * 3) and X.dtype == np.float64
    assert y.shape == (n_pairs,) and y.dtype == np.float64
    assert truth.item_features.shape == (12 * 4, 9)
    assert truth.group_votes.shape == truth.group_prefs.shape == (n_pairs, 2)
    assert truth.pair_items.shape == (n_pairs, 2)
    assert truth.feature_names.tolist()[:4] == [
        "prompt_0",
        "prompt_1",
        "prompt_2",
        "response_0",
    ]
    X2, y2 = make_preference_mixture(**SMALL, n_pairs=17, random_state=0)
    assert X2.shape == (17, 18) and y2.shape == (17,)


def test_random_state_controls_everything():
    X1, y1, t1 = _make(n_annotators=(1, 9), temperature=0.7, reward="mlp")
    X2, y2, t2 = _make(n_annotators=(1, 9), temperature=0.7, reward="mlp")
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    for key in ("p_star", "n_annotators", "group_counts", "group_weights"):
        np.testing.assert_array_equal(t1[key], t2[key])
    X3, _ = make_preference_mixture(**SMALL, random_state=1)
    assert not np.array_equal(X1, X3)
    # A RandomState instance is accepted, as in scikit-learn.
    X4, _ = make_preference_mixture(**SMALL, random_state=np.random.RandomState(0))
    X5, _ = make_preference_mixture(**SMALL, random_state=np.random.RandomState(0))
    np.testing.assert_array_equal(X4, X5)


def test_annotator_settings_leave_items_and_rewards_unchanged():
    # Independent random streams: studies that vary the annotators compare
    # the same pairs.
    X1, _, t1 = _make(n_annotators=1)
    X2, _, t2 = _make(n_annotators=(5, 50), temperature=2.0, tie_margin=0.3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(t1.item_rewards, t2.item_rewards)
    X3, _, t3 = _make(group_weights=[0.2, 0.3, 0.5])
    np.testing.assert_array_equal(X1, X3)
    np.testing.assert_array_equal(t1.item_rewards, t3.item_rewards)


def test_pairs_are_within_a_prompt_and_match_item_features():
    X, _, truth = _make(n_pairs=40)
    items = truth.item_features
    a, b = truth.pair_items.T
    np.testing.assert_array_equal(X, np.hstack([items[a], items[b]]))
    assert np.all(truth.item_prompt_ids[a] == truth.prompt_ids)
    assert np.all(truth.item_prompt_ids[b] == truth.prompt_ids)
    assert np.all(a != b)
    # Distinct unordered pairs (drawn without replacement).
    assert len({tuple(sorted(p)) for p in truth.pair_items.tolist()}) == 40
    # Both sides are used for the lower item id.
    assert 0 < np.mean(a < b) < 1
    # Item features are [prompt | response | prompt * response].
    x = truth.prompt_features[truth.item_prompt_ids]
    np.testing.assert_array_equal(
        items, np.hstack([x, truth.response_features, x * truth.response_features])
    )


def test_item_features_layout():
    z = item_features([[1.0, 2.0]], [[3.0, -1.0]])
    np.testing.assert_array_equal(z, [[1.0, 2.0, 3.0, -1.0, 3.0, -2.0]])
    with pytest.raises(ValueError, match="prompt_features"):
        item_features([[1.0]], [[1.0, 2.0]])


def test_soft_labels_are_the_share_of_votes():
    X, y, truth = _make(n_annotators=(1, 7), temperature=0.5, tie_margin=0.2)
    np.testing.assert_allclose(
        y, (truth.n_votes_a + 0.5 * truth.n_ties) / truth.n_annotators
    )
    np.testing.assert_array_equal(truth.group_counts.sum(axis=1), truth.n_annotators)
    assert truth.n_annotators.min() >= 1 and truth.n_annotators.max() <= 7
    assert len(np.unique(truth.n_annotators)) > 1
    assert truth.n_ties.sum() > 0


def test_deterministic_votes_follow_group_rewards_exactly():
    X, y, truth = _make(n_annotators=(3, 11), reward=["linear", "quadratic", "mlp"])
    # Every annotator of group g votes group_votes[:, g].
    expected = (truth.group_counts * truth.group_votes).sum(axis=1)
    np.testing.assert_allclose(y, expected / truth.n_annotators)
    np.testing.assert_allclose(truth.p_star, truth.group_votes @ truth.group_weights)
    np.testing.assert_allclose(
        truth.vote_variance, truth.p_star * (1 - truth.p_star), atol=1e-12
    )


def test_p_star_with_bradley_terry_noise_is_exact():
    T = 0.8
    X, y, truth = _make(temperature=T)
    a, b = truth.pair_items.T
    diff = truth.item_rewards[a] - truth.item_rewards[b]
    np.testing.assert_allclose(truth.group_prefs, expit(diff / T))
    np.testing.assert_allclose(truth.p_star, expit(diff / T) @ truth.group_weights)


def test_rao_kupper_ties():
    X, y, truth = _make(temperature=0.5, tie_margin=0.4)
    a, b = truth.pair_items.T
    diff = truth.item_rewards[a] - truth.item_rewards[b]
    p_a = expit((diff - 0.4) / 0.5)
    p_b = expit((-diff - 0.4) / 0.5)
    np.testing.assert_allclose(truth.group_prefs, p_a + 0.5 * (1 - p_a - p_b))
    second = (p_a + 0.25 * (1 - p_a - p_b)) @ truth.group_weights
    np.testing.assert_allclose(truth.vote_variance, second - truth.p_star**2)
    # Ties shrink the variance of a vote below the binary p(1 - p).
    assert np.all(truth.vote_variance <= truth.p_star * (1 - truth.p_star) + 1e-12)


def test_deterministic_tie_margin():
    X, y, truth = _make(tie_margin=0.5, n_annotators=4)
    a, b = truth.pair_items.T
    diff = truth.item_rewards[a] - truth.item_rewards[b]
    prefs = np.where(diff > 0.5, 1.0, np.where(diff < -0.5, 0.0, 0.5))
    np.testing.assert_array_equal(truth.group_prefs, prefs)
    assert np.any(prefs == 0.5)
    np.testing.assert_allclose(y, (truth.group_counts * prefs).sum(axis=1) / 4)


def test_soft_labels_converge_to_p_star():
    # Lemma 1: E[(y - p*)^2] = mean p*(1-p*)/n; compare with a loose band.
    X, y, truth = make_preference_mixture(
        n_prompts=60,
        n_responses=5,
        n_annotators=40,
        temperature=1.0,
        return_truth=True,
        random_state=3,
    )
    mse = np.mean((y - truth.p_star) ** 2)
    expected = np.mean(truth.p_star * (1 - truth.p_star) / 40)
    assert abs(mse / expected - 1) < 0.2
    assert abs(np.mean(y - truth.p_star)) < 0.01


def test_linear_reward_with_true_parameters_reproduces_group_votes():
    X, _, truth = _make(n_groups=3)
    d = X.shape[1] // 2
    for g, params in enumerate(truth.reward_params):
        coef = params["coef"]
        votes = (X[:, :d] @ coef > X[:, d:] @ coef).astype(float)
        np.testing.assert_array_equal(votes, truth.group_votes[:, g])
        np.testing.assert_allclose(truth.item_features @ coef, truth.item_rewards[:, g])


@pytest.mark.parametrize("kind", ["linear", "quadratic", "mlp"])
def test_reward_families(kind):
    X, _, truth = _make(n_groups=2, reward=kind)
    reward = truth.rewards[0]
    assert reward.kind == kind and truth.reward_kinds == [kind, kind]
    z = truth.item_features
    np.testing.assert_allclose(reward(z), truth.item_rewards[:, 0])
    np.testing.assert_allclose(reward.reward(z), truth.item_rewards[:, 0])
    # Standardised: within-prompt spread 1 on the generated items.
    r = truth.item_rewards[:, 0].reshape(12, 4)
    assert np.std(r - r.mean(axis=1, keepdims=True)) == pytest.approx(1.0)
    # Linear exactly when the family is linear: r(u + v) - r(u) - r(v) + r(0).
    u, v = z[:10], z[10:20]
    gap = reward(u + v) - reward(u) - reward(v) + reward(np.zeros_like(u))
    if kind == "linear":
        np.testing.assert_allclose(gap, 0.0, atol=1e-9)
    else:
        assert np.max(np.abs(gap)) > 0.1
    assert pickle.loads(pickle.dumps(reward))(z[:3]) == pytest.approx(reward(z[:3]))


def test_mixed_families_per_group():
    _, _, truth = _make(reward=["mlp", "linear", "quadratic"])
    assert [r.kind for r in truth.rewards] == ["mlp", "linear", "quadratic"]
    assert set(truth.reward_params[0]) == {
        "hidden_weights",
        "hidden_bias",
        "output_weights",
    }


def _votes_under_every_prompt(truth, g):
    # The same two responses, placed under every prompt of the data set.
    x = truth.prompt_features
    s_a = np.broadcast_to(truth.response_features[0], x.shape)
    s_b = np.broadcast_to(truth.response_features[1], x.shape)
    reward = truth.rewards[g]
    return reward(item_features(x, s_a)) > reward(item_features(x, s_b))


@pytest.mark.parametrize("kind", ["linear", "quadratic", "mlp"])
def test_prompt_dependence_is_real(kind):
    _, _, truth = _make(n_prompts=40, reward=kind)
    flips = [_votes_under_every_prompt(truth, g) for g in range(3)]
    # Some group ranks the same two responses differently across prompts.
    assert any(0 < np.mean(v) < 1 for v in flips)
    _, _, flat = _make(n_prompts=40, reward=kind, prompt_dependence=0.0)
    for g in range(3):
        votes = _votes_under_every_prompt(flat, g)
        assert votes.all() or not votes.any()


def test_group_weights():
    _, _, truth = _make(group_weights=[2, 1, 1])
    np.testing.assert_allclose(truth.group_weights, [0.5, 0.25, 0.25])
    _, _, drawn = _make(n_groups=4)
    assert drawn.group_weights.shape == (4,)
    assert drawn.group_weights.sum() == pytest.approx(1.0)
    # A zero-weight group never annotates.
    _, _, zero = _make(group_weights=[1, 0, 1], n_annotators=5)
    assert zero.group_counts[:, 1].sum() == 0


@given(
    n_prompts=st.integers(1, 4),
    n_responses=st.integers(2, 4),
    n_groups=st.integers(1, 3),
    low=st.integers(1, 4),
    extra=st.integers(0, 3),
    temperature=st.sampled_from([0.0, 0.3, 2.0]),
    tie_margin=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_consistency_property(
    n_prompts, n_responses, n_groups, low, extra, temperature, tie_margin, seed
):
    X, y, truth = make_preference_mixture(
        n_prompts=n_prompts,
        n_responses=n_responses,
        n_features=2,
        n_groups=n_groups,
        n_annotators=(low, low + extra),
        temperature=temperature,
        tie_margin=tie_margin,
        reward="quadratic",
        return_truth=True,
        random_state=seed,
    )
    n = n_prompts * n_responses * (n_responses - 1) // 2
    assert X.shape == (n, 12)
    assert np.all((y >= 0) & (y <= 1))
    assert np.all((truth.p_star >= 0) & (truth.p_star <= 1))
    np.testing.assert_allclose(truth.p_star, truth.group_prefs @ truth.group_weights)
    np.testing.assert_allclose(
        y, (truth.n_votes_a + 0.5 * truth.n_ties) / truth.n_annotators
    )
    assert np.all((truth.n_annotators >= low) & (truth.n_annotators <= low + extra))
    assert np.all(truth.vote_variance <= 0.25 + 1e-12)
    # Swapping the roles of A and B is symmetric in the truth.
    a, b = truth.pair_items.T
    diff = truth.item_rewards[a] - truth.item_rewards[b]
    np.testing.assert_array_equal(truth.group_votes, (diff > 0) + 0.5 * (diff == 0))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_prompts": 0}, "n_prompts"),
        ({"n_prompts": 2.5}, "n_prompts"),
        ({"n_responses": 1}, "n_responses"),
        ({"n_features": 0}, "n_features"),
        ({"n_groups": 0}, "n_groups"),
        ({"n_pairs": 0}, "n_pairs"),
        ({"n_pairs": 10_000}, "n_pairs"),
        ({"group_weights": [1, 1]}, "group_weights"),
        ({"group_weights": [1, -1, 1]}, "group_weights"),
        ({"group_weights": [0, 0, 0]}, "group_weights"),
        ({"reward": "cubic"}, "reward"),
        ({"reward": ["linear", "mlp"]}, "reward"),
        ({"prompt_dependence": -1.0}, "prompt_dependence"),
        ({"n_annotators": 0}, "n_annotators"),
        ({"n_annotators": (5, 2)}, "n_annotators"),
        ({"n_annotators": (0, 2)}, r"n_annotators\[0\]"),
        ({"n_annotators": "many"}, "n_annotators"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"tie_margin": -1.0}, "tie_margin"),
        ({"return_truth": "yes"}, "return_truth"),
    ],
)
def test_bad_input_raises(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_preference_mixture(**{**SMALL, **kwargs})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"n_prompts": 0},
            r"The 'n_prompts' parameter of make_preference_mixture must be an int "
            r"in the range \[1, inf\)\. Got 0 instead\.",
        ),
        ({"n_responses": 1.0}, "'n_responses' parameter"),
        ({"n_pairs": "all"}, "'n_pairs' parameter"),
        ({"temperature": float("inf")}, "'temperature' parameter"),
        ({"reward": "cubic"}, "'reward' parameter"),
        ({"n_annotators": "many"}, "'n_annotators' parameter"),
        ({"return_truth": 1}, "'return_truth' parameter"),
        ({"random_state": "seed"}, "'random_state' parameter"),
    ],
)
def test_invalid_parameters_name_the_parameter(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        make_preference_mixture(**{**SMALL, **kwargs})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        # bool is an int to validate_params; the generator still refuses it.
        ({"n_prompts": True}, "n_prompts must be an integer, got True"),
        ({"n_pairs": True}, "n_pairs must be an integer, got True"),
        ({"temperature": True}, "temperature must be a real number, got True"),
        ({"n_annotators": True}, "n_annotators must be a positive integer or"),
    ],
)
def test_bools_are_not_numbers(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_preference_mixture(**{**SMALL, **kwargs})


def test_numpy_scalars_give_the_same_data():
    plain = _make(n_pairs=30, n_annotators=(2, 5), temperature=0.5)
    numpy = _make(
        n_prompts=np.int64(12),
        n_responses=np.int32(4),
        n_pairs=np.int64(30),
        n_annotators=np.array([2, 5]),
        temperature=np.float32(0.5),
        return_truth=np.bool_(True),
    )
    for a, b in zip(plain[:2], numpy[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    assert type(numpy[2].temperature) is float


def test_item_features_validates_its_parameters():
    with pytest.raises(InvalidParameterError, match="'prompt_features' parameter"):
        item_features(1.0, [[1.0]])


def test_random_draws_are_pinned():
    """Golden values: a refactor must keep every random draw, in order."""
    X, y, truth = make_preference_mixture(
        n_prompts=6,
        n_responses=4,
        n_features=2,
        n_pairs=20,
        n_annotators=(2, 6),
        temperature=0.5,
        tie_margin=0.2,
        reward=["linear", "mlp", "quadratic"],
        return_truth=True,
        random_state=42,
    )
    assert truth.pair_items[:5].tolist() == [[0, 1], [0, 2], [0, 3], [1, 3], [4, 6]]
    assert truth.n_annotators[:8].tolist() == [2, 4, 6, 6, 3, 5, 4, 5]
    assert truth.n_votes_a[:8].tolist() == [1, 2, 2, 2, 0, 0, 1, 4]
    assert truth.n_ties[:8].tolist() == [1, 0, 0, 1, 0, 1, 1, 0]
    assert truth.group_counts.sum(axis=0).tolist() == [16, 65, 1]
    np.testing.assert_allclose(
        truth.group_weights, [0.245959, 0.72502, 0.029021], atol=1e-6
    )
    np.testing.assert_allclose(
        y[:6], [0.75, 0.5, 1 / 3, 5 / 12, 0.0, 0.1], rtol=0, atol=1e-12
    )
