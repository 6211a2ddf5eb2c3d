"""Prediction runs chunk by chunk: same results as the plain formulas, any chunking.

``predict_proba``, ``staged_predict_proba``, ``staged_score``, ``score`` and
``rewards`` read the pairs in chunks (``pcr_sklearn._base._CHUNK_BYTES`` of
work each), so their extra memory stays a small fraction of the input. These
tests pin them to the straightforward computation (every member's reward of
each side, the vote rule, the weighted share) and check that the chunking
changes nothing.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import pcr_sklearn._base as base
from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.baselines import BaggedRewardEnsemble
from pcr_sklearn.metrics import calibration_error
from pcr_sklearn.rewards import LinearReward
from pcr_sklearn.utils.validation import pair_votes

D = 6


class ShiftedLinear(LinearReward):
    """A linear member of another class: the generic (non-linear) path."""

    batch_rewards = None  # the inherited one would ignore the shift

    def reward(self, items):
        return super().reward(items) + 1.0


class InfiniteReward(LinearReward):
    """Equal infinite rewards for every item: no preference (a tie)."""

    batch_rewards = None

    def reward(self, items):
        return np.full(np.asarray(items).shape[0], np.inf)


def _pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2 * D))
    y = 0.6 * (X[:, 0] > X[:, D]) + 0.4 * (X[:, 1] > X[:, D + 1])
    return X, y


@pytest.fixture(scope="module", params=["hard", "soft"])
def model(request):
    X, y = _pairs(400)
    return PairwiseCalibratedEnsemble(
        n_estimators=4,
        members="stagewise",
        objective="weighted",
        n_backfit=1,
        vote=request.param,
        random_state=0,
    ).fit(X, y)


@pytest.fixture
def chunk_bytes(monkeypatch):
    """Set the work memory per chunk (hence the pairs per chunk)."""

    def set_bytes(value):
        monkeypatch.setattr(base, "_CHUNK_BYTES", value)

    return set_bytes


def _reference(est, X, weights=None, n_members=None):
    """``predict_proba`` by the plain formulas, member by member."""
    members = est.estimators_[:n_members]
    weights = est.estimator_weights_ if weights is None else weights
    a, b = X[:, :D], X[:, D:]
    rewards_a = np.column_stack([m.reward(a) for m in members])
    rewards_b = np.column_stack([m.reward(b) for m in members])
    votes_a = pair_votes(rewards_a, rewards_b, est.vote)
    votes_b = pair_votes(rewards_b, rewards_a, est.vote)
    return np.column_stack(
        [np.clip(votes_b @ weights, 0, 1), np.clip(votes_a @ weights, 0, 1)]
    )


def _votes(est, X):
    a, b = X[:, :D], X[:, D:]
    rewards_a = np.column_stack([m.reward(a) for m in est.estimators_])
    rewards_b = np.column_stack([m.reward(b) for m in est.estimators_])
    return (
        pair_votes(rewards_a, rewards_b, est.vote),
        pair_votes(rewards_b, rewards_a, est.vote),
    )


def test_predict_proba_is_the_plain_formula(model):
    X, _ = _pairs(3000, seed=1)
    assert_allclose(model.predict_proba(X), _reference(model, X), rtol=0, atol=1e-12)
    assert_allclose(
        list(model._pair_votes(X)), _votes(model, X), rtol=1e-13, atol=1e-15
    )


@pytest.mark.parametrize("n_bytes", [1, 2000, 50_000, 1 << 30])
def test_results_do_not_depend_on_the_chunking(model, chunk_bytes, n_bytes):
    X, y = _pairs(1500, seed=2)
    items = X[:, :D]
    expected = (
        model.predict_proba(X),
        list(model.staged_predict_proba(X)),
        list(model.staged_score(X, y)),
        model.score(X, y),
        model.rewards(items),
        model._pair_votes(X),
    )
    chunk_bytes(n_bytes)  # 1 byte: one pair per chunk
    actual = (
        model.predict_proba(X),
        list(model.staged_predict_proba(X)),
        list(model.staged_score(X, y)),
        model.score(X, y),
        model.rewards(items),
        model._pair_votes(X),
    )
    for got, want in zip(actual, expected):
        # Rewards come from BLAS products, whose last bits depend on the
        # product's shape (blocking); a difference of two rewards near each
        # other keeps those bits, so the bound is relative to the rewards' scale.
        want = np.asarray(want, dtype=np.float64)
        assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_staged_predictions_end_at_predict_proba(model, chunk_bytes):
    chunk_bytes(20_000)
    X, y = _pairs(2000, seed=3)
    staged = list(model.staged_predict_proba(X))
    assert len(staged) == model.n_estimators_
    assert_array_equal(staged[-1], model.predict_proba(X))
    for j, (proba, weights) in enumerate(zip(staged, model._staged_weights), 1):
        assert_allclose(proba, _reference(model, X, weights, j), rtol=0, atol=1e-12)
    scores = list(model.staged_score(X, y))
    assert_allclose(scores, [-calibration_error(y, p) for p in staged], atol=1e-15)
    assert scores[-1] == model.score(X, y)
    staged[0][:] = -1  # new arrays at every stage
    assert np.all(staged[1] >= 0)


def test_swapping_a_and_b_swaps_the_columns_exactly(model, chunk_bytes):
    chunk_bytes(30_000)
    X, _ = _pairs(2000, seed=4)
    swapped = np.hstack([X[:, D:], X[:, :D]])
    assert_array_equal(model.predict_proba(swapped), model.predict_proba(X)[:, ::-1])


def test_identical_items_tie_exactly(model, chunk_bytes):
    chunk_bytes(10_000)
    X, _ = _pairs(3000, seed=5)
    X[::3, D:] = X[::3, :D]
    proba = model.predict_proba(X)
    assert_array_equal(proba[::3], 0.5)
    assert_array_equal(model._pair_votes(X)[0][::3], 0.5)


@pytest.mark.parametrize(
    "layout", ["stacked", "float32", "fortran", "strided", "list", "one pair"]
)
def test_every_pair_layout_gives_the_plain_formula(model, chunk_bytes, layout):
    chunk_bytes(20_000)
    X, _ = _pairs(1000, seed=6)
    reference = _reference(model, X)
    if layout == "stacked":
        pairs = X.reshape(len(X), 2, D)
    elif layout == "float32":
        pairs = X.astype(np.float32)
        reference = _reference(model, pairs)
    elif layout == "fortran":
        pairs = np.asfortranarray(X)
    elif layout == "strided":
        pairs = np.repeat(X, 2, axis=1)[:, ::2]  # a view with column stride 2
    elif layout == "list":
        pairs = X.tolist()
    else:
        pairs, reference = X[:1], reference[:1]
    assert_allclose(model.predict_proba(pairs), reference, rtol=0, atol=1e-12)


def test_members_of_several_classes(chunk_bytes):
    chunk_bytes(5_000)
    X, y = _pairs(400)
    model = BaggedRewardEnsemble(n_estimators=3, random_state=0).fit(X, y)
    shifted = ShiftedLinear()
    shifted.__dict__.update(model.estimators_[1].__dict__)
    model.estimators_[1] = shifted
    X_test, _ = _pairs(2000, seed=7)
    for vote in ("hard", "soft"):
        model.set_params(vote=vote)
        reference = _reference(model, X_test)
        assert_allclose(model.predict_proba(X_test), reference, rtol=0, atol=1e-12)
    items = X_test[:, :D]
    expected = np.column_stack([m.reward(items) for m in model.estimators_])
    assert_allclose(model.rewards(items), expected, rtol=0, atol=1e-12)


def test_equal_infinite_rewards_are_a_tie(chunk_bytes):
    X, y = _pairs(200)
    model = BaggedRewardEnsemble(n_estimators=2, random_state=0).fit(X, y)
    infinite = InfiniteReward()
    infinite.__dict__.update(model.estimators_[0].__dict__)
    model.estimators_[0] = infinite
    model.set_params(vote="hard")
    with np.errstate(invalid="ignore"):
        reference = _reference(model, X)  # hard_votes: inf == inf is a tie
        assert_allclose(model.predict_proba(X), reference, rtol=0, atol=1e-12)
        assert_allclose(
            list(model._pair_votes(X)), _votes(model, X), rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("members", ["linear", "mixed"])
def test_a_bad_value_in_a_late_chunk_names_its_row(chunk_bytes, bad, members):
    X, y = _pairs(400)
    model = BaggedRewardEnsemble(n_estimators=2, random_state=0).fit(X, y)
    if members == "mixed":
        shifted = ShiftedLinear()
        shifted.__dict__.update(model.estimators_[1].__dict__)
        model.estimators_[1] = shifted
    chunk_bytes(3_000)
    X_test, _ = _pairs(5000, seed=8)
    X_test[4321, D + 2] = bad
    with pytest.raises(ValueError, match=r"row 4321, column 8 has"):
        model.predict_proba(X_test)
    with pytest.raises(ValueError, match=r"row 4321, column 8 has"):
        model.score(X_test, np.full(len(X_test), 0.5))
    with pytest.raises(ValueError, match=r"items contains NaN or inf: row 4321"):
        model.rewards(X_test[:, D:])


def test_values_whose_sums_overflow_are_not_mistaken_for_inf(chunk_bytes):
    # The linear path tests finiteness through each item's feature sum; a sum
    # that overflows (finite features) must not be reported as an inf.
    X, y = _pairs(300)
    model = BaggedRewardEnsemble(n_estimators=2, random_state=0).fit(X, y)
    chunk_bytes(3_000)
    X_test, _ = _pairs(1000, seed=9)
    X_test[500, :2] = 1.5e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning of our making
        proba = model.predict_proba(X_test)
    with np.errstate(over="ignore", invalid="ignore"):
        reference = _reference(model, X_test)
    assert_allclose(proba, reference, rtol=0, atol=1e-12)


def test_rewards_in_chunks(model, chunk_bytes):
    X, _ = _pairs(3000, seed=10)
    items = X[:, :D]
    expected = np.column_stack([m.reward(items) for m in model.estimators_])
    chunk_bytes(4_000)
    assert_allclose(model.rewards(items), expected, rtol=0, atol=1e-12)
    as_float32 = items.astype(np.float32)
    expected32 = np.column_stack([m.reward(as_float32) for m in model.estimators_])
    assert_allclose(model.rewards(as_float32), expected32, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_peak_memory_is_a_small_fraction_of_the_input(chunk_bytes, dtype):
    # Measured before on 5M pairs x 2x32 features, 8 members: 0.53x the input
    # above it (float64) and 1.5x (float32). Now a few chunks of work.
    rng = np.random.default_rng(11)
    X, y = rng.normal(size=(300, 64)), rng.uniform(size=300)
    model = BaggedRewardEnsemble(n_estimators=8, random_state=0).fit(X, y)
    chunk_bytes(1 << 20)
    X_big = rng.standard_normal(size=(100_000, 64), dtype=np.float32).astype(dtype)
    for vote in ("hard", "soft"):
        model.set_params(vote=vote)
        model.predict_proba(X_big[:10])
        tracemalloc.start()
        try:
            model.predict_proba(X_big)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        output = len(X_big) * 2 * 8
        assert peak - output <= 0.25 * X_big.nbytes, (vote, peak / X_big.nbytes)
