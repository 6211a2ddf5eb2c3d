"""Members drawn from a population: the random-utility model and its guarantees."""

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import ndtr
from sklearn.kernel_approximation import RBFSampler

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn._population import SampledReward, TasteFeatures
from pcr_sklearn.baselines import SoftBradleyTerry
from pcr_sklearn.rewards import BaseReward, LinearReward, member_rewards

from ._helpers import linear_mixture
from .strategies import small_pair_data

X, Y, GROUPS = linear_mixture(400, 4, [0.6, 0.4], seed=0)
X_TEST, Y_TEST, _ = linear_mixture(300, 4, [0.6, 0.4], seed=1)


def _population(**params):
    return PairwiseCalibratedEnsemble(random_state=0, **params)


def _exact_share(est, X):
    """The k -> infinity share: Phi((f(A) - f(B)) / (taste * |phi(A) - phi(B)|)).

    Member j's taste difference on a pair is ``taste * z_j . (phi(A) - phi(B))``
    with ``z_j`` standard normal, so this is exact for the fitted features.
    """
    member = est.estimators_[0]
    d = X.shape[1] // 2
    a, b = X[:, :d], X[:, d:]
    # The mean rewards as the members compute them, so ties agree exactly.
    margin = member_rewards([member.mean], a) - member_rewards([member.mean], b)
    margin = margin[:, 0]
    delta = member.features.transform(a) - member.features.transform(b)
    sd = est.taste_ * np.linalg.norm(delta, axis=1)
    # A pair of identical items is a tie for every member: share 1/2.
    tie = (sd == 0) & (margin == 0)
    return np.where(tie, 0.5, ndtr(margin / np.where(tie, 1.0, sd)))


def test_members_are_the_mean_plus_their_own_taste():
    est = _population(n_estimators=6).fit(X, Y)
    items = X_TEST[:, :4]
    mean = est.estimators_[0].mean
    features = est.estimators_[0].features.transform(items)
    for member, column in zip(est.estimators_, est.rewards(items).T):
        assert isinstance(member, SampledReward)
        assert member.mean is mean  # one mean reward, shared, not copied
        # Taste features are float32 (TasteFeatures), their product float64.
        expected = mean.reward(items) + features.astype(np.float64) @ member.taste
        assert_allclose(column, expected, rtol=1e-12)
        assert_allclose(member.reward(items), column)
    # Antithetic pairs: member 2i + 1 has the opposite taste of member 2i.
    for i in range(3):
        assert_array_equal(
            est.estimators_[2 * i + 1].taste, -est.estimators_[2 * i].taste
        )
    assert_allclose(est.estimator_weights_, np.full(6, 1 / 6))


def test_one_member_fit_whatever_k():
    fits = []

    class Counting(LinearReward):
        def fit(self, *args, **kwargs):
            fits.append(1)
            return super().fit(*args, **kwargs)

    _population(estimator=Counting(), n_estimators=32).fit(X, Y)
    assert len(fits) == 1


def test_mean_is_the_soft_bradley_terry_reward_and_taste_zero_is_it():
    est = _population(taste=0.0, vote="soft", n_estimators=4).fit(X, Y)
    soft_bt = SoftBradleyTerry().fit(X, Y)
    assert_allclose(est.estimators_[0].mean.coef_, soft_bt.estimators_[0].coef_)
    assert_allclose(est.predict_proba(X_TEST), soft_bt.predict_proba(X_TEST))
    # "auto" taste is 0 with soft votes (the sigmoid models the noise) ...
    auto = _population(vote="soft", n_estimators=4).fit(X, Y)
    assert_allclose(auto.predict_proba(X_TEST), soft_bt.predict_proba(X_TEST))
    # ... and 1 with hard votes.
    hard = _population(n_estimators=2).fit(X, Y)
    assert np.linalg.norm(hard.estimators_[0].taste) > 0


@pytest.mark.parametrize("vote", ["hard", "soft"])
def test_partial_fit_k_times_equals_fit(vote):
    fitted = _population(n_estimators=5, vote=vote, taste=0.8).fit(X, Y)
    stepped = _population(vote=vote, taste=0.8)
    for _ in range(5):
        stepped.partial_fit(X, Y)
    assert stepped.n_estimators_ == 5
    assert_allclose(
        stepped.predict_proba(X_TEST), fitted.predict_proba(X_TEST), rtol=1e-12
    )
    assert_allclose(stepped.train_score_, fitted.train_score_)


def test_warm_start_draws_the_next_members():
    direct = _population(n_estimators=8).fit(X, Y)
    warm = _population(n_estimators=3, warm_start=True).fit(X, Y)
    first = list(warm.estimators_)
    warm.set_params(n_estimators=8).fit(X, Y)
    assert warm.estimators_[:3] == first
    assert_array_equal(warm.predict_proba(X_TEST), direct.predict_proba(X_TEST))


def test_staged_prefixes_have_equal_weights_and_end_at_predict():
    est = _population(n_estimators=6).fit(X, Y)
    staged = list(est.staged_predict_proba(X_TEST))
    assert len(staged) == 6
    assert_array_equal(staged[-1], est.predict_proba(X_TEST))
    votes = [est.rewards(X_TEST[:, :4]) > est.rewards(X_TEST[:, 4:])]
    assert_allclose(staged[1][:, 1], votes[0][:, :2].mean(axis=1))
    scores = list(est.staged_score(X_TEST, Y_TEST))
    assert_allclose(scores[-1], est.score(X_TEST, Y_TEST))


def test_share_approaches_the_exact_population_probability_golden():
    """Theorem 2 with a learned population, on fixed data (golden numbers).

    The share of k members voting A approaches the population probability, and
    the mean squared gap stays below the i.i.d. rate ``p (1 - p) / k``.
    """
    est = _population(n_estimators=1024).fit(X, Y)
    exact = _exact_share(est, X_TEST)
    share = est.predict_proba(X_TEST)[:, 1]
    gap = np.mean((share - exact) ** 2)
    iid_rate = np.mean(exact * (1 - exact)) / 1024
    assert gap <= iid_rate
    assert np.max(np.abs(share - exact)) < 0.06
    # Measured on this data: the population's share beats the floor and
    # the single hard-vote reward (its k = 1 prefix).
    first = next(est.staged_score(X_TEST, Y_TEST))
    assert -est.score(X_TEST, Y_TEST) < -first


@given(small_pair_data(), st.floats(0.2, 3.0), st.floats(0.2, 3.0))
def test_share_of_many_members_tracks_the_population_probability(data, taste, length):
    X, y = data
    # Items that differ by 1e-277 tie in floating point (the taste term
    # absorbs the mean's difference), which the closed form cannot know.
    diff = np.abs(X[:, :2] - X[:, 2:])
    assume(np.all((diff == 0) | (diff > 1e-6)))
    est = PairwiseCalibratedEnsemble(
        n_estimators=256, taste=taste, taste_length=length, random_state=0
    ).fit(X, y)
    exact = _exact_share(est, X)
    share = est.predict_proba(X)[:, 1]
    # Each pair's share is a mean of 256 votes whose variance is at most
    # p (1 - p) / 256 (antithetic members only lower it): five standard
    # deviations, plus a vote's worth of rounding, is a bound that chance
    # breaks with odds of about 1e-6 per pair.
    bound = 5 * np.sqrt(exact * (1 - exact) / 256) + 1 / 256
    assert np.all(np.abs(share - exact) <= bound)


def test_taste_length_is_relative_to_the_feature_scale():
    small = _population(n_estimators=16).fit(X * 1e-3, Y)
    unit = _population(n_estimators=16).fit(X, Y)
    gamma_ratio = (
        small.estimators_[0].features.gamma / unit.estimators_[0].features.gamma
    )
    assert_allclose(gamma_ratio, 1e6, rtol=1e-9)


@settings(deadline=None)
@given(
    offset=st.floats(-1e4, 1e4),
    scale=st.floats(1e-3, 1e3),
    length=st.floats(0.3, 3.0),
)
def test_taste_features_are_the_rbf_features_at_any_offset(offset, scale, length):
    # Items far from the origin but close to each other: float32 phases of
    # the uncentred features would be pure rounding; centred ones are exact.
    items = offset + scale * np.random.default_rng(0).normal(size=(50, 3))
    features = TasteFeatures.draw(
        length * scale, center=items.mean(axis=0), n_components=64, seed=0
    )
    sampler = RBFSampler(
        gamma=0.5 / (length * scale) ** 2, n_components=64, random_state=0
    ).fit(items)
    assert features.gamma == sampler.gamma
    assert features.transform(items).dtype == np.float32
    assert_allclose(
        features.transform(items), sampler.transform(items), rtol=0, atol=2e-5
    )


class WordCountReward(BaseReward):
    """A text learner without item_features: rewards longer responses."""

    def __reward_tags__(self):
        tags = super().__reward_tags__()
        tags.text_items = True
        return tags

    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        return self

    def reward(self, items):
        return np.array([len(r.split()) for _, r in np.asarray(items)], float)


TEXT = np.array(
    [["q", "yes it is", "no"], ["q", "no", "maybe"], ["r", "maybe so", "yes"]] * 4,
    dtype=object,
)
TEXT_Y = np.array([0.8, 0.4, 0.6] * 4)


def test_text_items_without_item_features_need_an_embedder_first():
    est = PairwiseCalibratedEnsemble(WordCountReward())
    with pytest.raises(ValueError, match="PairEmbedder.*members='stagewise'"):
        est.fit(TEXT, TEXT_Y)
    stagewise = PairwiseCalibratedEnsemble(WordCountReward(), members="stagewise")
    assert stagewise.fit(TEXT, TEXT_Y).n_estimators_ == 4


def test_transformer_members_drawn_on_the_frozen_backbone_features(tiny_transformer):
    from pcr_sklearn.rewards import TransformerReward
    from pcr_sklearn.utils._testing import count_embeddings

    reward = TransformerReward(
        str(tiny_transformer.hf_dir), device="cpu", max_epochs=2, random_state=0
    )
    with count_embeddings() as counter:
        est = PairwiseCalibratedEnsemble(reward, n_estimators=8, random_state=0)
        est.fit(TEXT, TEXT_Y)
        proba = est.predict_proba(TEXT)
    # One mean reward, one backbone pass per unique text for fit and predict.
    n_texts = len({(p, r) for p, a, b in TEXT for r in (a, b)})
    assert counter.n_unique == n_texts and counter.max_repeats == 1
    assert np.all((proba >= 0) & (proba <= 1))
    items = TEXT[:, [0, 1]]
    features = est.estimators_[0].mean.item_features(items)
    expected = est.estimators_[0].mean.reward(items) + (
        est.estimators_[0].features.transform(features).astype(np.float64)
        @ est.estimators_[0].taste
    )
    assert_allclose(est.rewards(items)[:, 0], expected, rtol=1e-12)


def test_auto_sizes_follow_the_member_source():
    assert _population().fit(X, Y).n_estimators_ == 64
    stagewise = _population(members="stagewise", n_backfit=0).fit(X, Y)
    assert stagewise.n_estimators_ == 4


def test_groups_without_early_stopping_warn_what_they_are_for():
    with pytest.warns(
        UserWarning, match="early_stopping=True.*PairwiseCalibratedEnsembleCV"
    ):
        _population(n_estimators=2).fit(X, Y, groups=GROUPS)


# Features on a grid of 1/32: multiplied by 2**k they stay exact floats
# (normal ones) for every k drawn, so the scaled data are the same data.
grid_features = st.integers(-96, 96).map(lambda i: i / 32)


@settings(deadline=None, max_examples=25)
@given(
    a=arrays(np.float64, (12, 2), elements=grid_features),
    b=arrays(np.float64, (12, 2), elements=grid_features),
    mix=st.floats(0.1, 0.9),
    k=st.integers(-1000, 1000),
)
def test_population_is_the_same_at_any_power_of_two_scale(a, b, mix, k):
    # The taste length follows the items' scale over the whole float64
    # range: features near 1e-300 or 1e300 give the members, the taste and
    # the shares of features near 1, bit for bit. Measured before: overflow
    # warnings (float32 features, squared distances, 1 / length**2) or, for
    # tiny features, every member equal to the mean.
    # (Every feature differs in some pair: LinearReward gives a feature that
    # never differs the fixed scale 1, which its penalty does not ignore.)
    assume(np.all(np.any(a != b, axis=0)))
    y = mix * (a[:, 0] > b[:, 0]) + (1 - mix) * (a[:, 1] > b[:, 1])
    X = np.hstack([a, b])
    scale = 2.0**k

    def fit(X):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            est = _population(n_estimators=8).fit(X, y)
            return est, est.predict_proba(X)

    unit, expected = fit(X)
    scaled, proba = fit(X * scale)
    assert_array_equal(proba, expected)
    assert scaled.taste_ == unit.taste_
    assert_array_equal(scaled.rewards(a * scale), unit.rewards(a))
