"""Tests of pcr_sklearn.recovery (matching, reference errors, Theorem 2)."""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import binom, multinomial

from pcr_sklearn._compat import InvalidParameterError
from pcr_sklearn.datasets import make_preference_mixture
from pcr_sklearn.datasets._synthetic import vote_probabilities
from pcr_sklearn.recovery import (
    AnnotatorEnsemble,
    agreement_matrix,
    expected_annotator_ensemble_error,
    hard_votes,
    match_members,
    matched_weight_error,
    noise_term,
    oracle_calibration_error,
    recovery_report,
    sample_annotator_ensemble,
    truth_on_pairs,
)


def _mixture(**kwargs):
    params = dict(
        n_prompts=15,
        n_responses=4,
        n_features=3,
        group_weights=[0.5, 0.3, 0.2],
        n_annotators=6,
        return_truth=True,
        random_state=0,
    )
    return make_preference_mixture(**{**params, **kwargs})


# --- matching ---------------------------------------------------------------


def test_hard_votes():
    np.testing.assert_array_equal(
        hard_votes([[2.0, 0.0], [1.0, 1.0]], [[1.0, 0.0], [3.0, 0.0]]),
        [[1.0, 0.5], [0.0, 1.0]],
    )
    with pytest.raises(ValueError, match="rewards_a"):
        hard_votes([1.0, 2.0], [1.0])


def test_agreement_matrix_hand_example():
    members = [[1, 0], [0, 0], [0.5, 1]]
    groups = [[1, 1], [0, 1], [1, 1]]
    # Member 0 votes (1, 0, 1/2), member 1 (0, 0, 1); groups (1, 0, 1), (1, 1, 1).
    # Pair 3: member 0's tie against a win agrees by 1/2.
    expected = [[(1 + 1 + 0.5) / 3, (1 + 0 + 0.5) / 3], [(0 + 1 + 1) / 3, 1 / 3]]
    np.testing.assert_allclose(agreement_matrix(members, groups), expected)
    weighted = agreement_matrix(members, groups, sample_weight=[2, 0, 0])
    np.testing.assert_allclose(weighted, [[1, 1], [0, 0]])


def test_match_members_recovers_known_permutation():
    rng = np.random.RandomState(0)
    groups = (rng.rand(300, 4) < 0.5).astype(float)
    perm = np.array([2, 0, 3, 1])
    members = groups[:, perm].copy()
    flip = rng.rand(*members.shape) < 0.1  # imperfect members
    members[flip] = 1 - members[flip]
    result = match_members(members, groups)
    np.testing.assert_array_equal(result.member_group, perm)
    np.testing.assert_array_equal(result.member_index, np.arange(4))
    assert np.all(result.agreement > 0.8)


# Four Walsh-Hadamard columns: every two disagree on exactly half of the pairs.
_DISTINCT_GROUPS = np.array(
    [[(bin(i & j).count("1") % 2) for j in (1, 2, 4, 8)] for i in range(64)]
).astype(float)


@given(
    perm=st.permutations(range(4)),
    noise=arrays(np.bool_, (64, 4)),
    extra_ties=arrays(np.bool_, (64, 2)),
    n_extra=st.integers(0, 2),
)
def test_match_members_permutation_property(perm, noise, extra_ties, n_extra):
    # At most 8 flips per group keeps every two groups 16+ pairs apart.
    assume(noise.sum(axis=0).max() <= 8)
    extra_ties = extra_ties[:, :n_extra]
    # Every extra member calls at least one tie, so the exact copy of group 0
    # beats it.
    assume(extra_ties.any(axis=0).all())
    groups = np.abs(_DISTINCT_GROUPS - noise)
    # Extra members are copies of group 0 with some votes made ties: they must
    # lose group 0 to the exact copy and stay unmatched.
    extra = np.repeat(groups[:, [0]], n_extra, axis=1)
    extra[extra_ties] = 0.5
    members = np.hstack([groups[:, list(perm)], extra])
    result = match_members(members, groups)
    np.testing.assert_array_equal(result.member_group[:4], perm)
    assert np.all(result.member_group[4:] == -1)


def test_matched_weight_error_hand_examples():
    w = [0.5, 0.3, 0.2]
    assert matched_weight_error(w, w, [0, 1, 2], [0, 1, 2]) == 0.0
    # |0.6-0.5| + |0.4-0.2| + unmatched group 1 (0.3)
    err = matched_weight_error([0.6, 0.4], w, [0, 1], [0, 2])
    assert err == pytest.approx(0.6)
    # Unmatched member carries its whole weight.
    err = matched_weight_error([0.5, 0.2, 0.1, 0.2], w, [0, 1, 3], [0, 1, 2])
    assert err == pytest.approx(0 + 0.1 + 0 + 0.1)
    # Nothing matched: all weight counts, the maximum of 2.
    assert matched_weight_error([1.0], w, [], []) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="one-to-one"):
        matched_weight_error([0.5, 0.5], w, [0, 1], [0, 0])
    with pytest.raises(ValueError, match="group_index"):
        matched_weight_error([0.5, 0.5], w, [0, 1], [0, 3])
    with pytest.raises(ValueError, match="member_weights"):
        matched_weight_error([-0.5, 1.5], w, [0], [0])


# --- reference errors ---------------------------------------------------------


def test_noise_term_formula_and_validation():
    assert noise_term([0.5, 1.0], [5, 5]) == pytest.approx(0.025)
    assert noise_term([0.5, 0.2], [2, 4], sample_weight=[0, 1]) == pytest.approx(0.04)
    assert noise_term([0.5], [2], vote_variance=[0.1]) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="n_annotators"):
        noise_term([0.5], [0])
    with pytest.raises(ValueError, match="p_star"):
        noise_term([1.5], [3])


@pytest.mark.parametrize("p, n", [(0.3, 1), (0.5, 4), (0.85, 7)])
def test_noise_term_equals_exact_binomial_expectation(p, n):
    # Lemma 1 for one pair: E[(y - p)^2] with n * y ~ Binomial(n, p).
    counts = np.arange(n + 1)
    exact = np.sum(binom.pmf(counts, n, p) * (counts / n - p) ** 2)
    assert noise_term([p], [n]) == pytest.approx(exact, rel=1e-12)


def test_noise_term_with_ties_equals_exact_multinomial_expectation():
    # The generator's vote_variance is the exact per-vote variance with ties.
    X, y, truth = _mixture(n_prompts=2, temperature=0.6, tie_margin=0.3)
    a, b = truth.pair_items.T
    diff = truth.item_rewards[a] - truth.item_rewards[b]
    p_a, p_tie = vote_probabilities(diff, temperature=0.6, tie_margin=0.3)
    n = 3
    for i in range(3):
        probs = [p_a[i] @ truth.group_weights, p_tie[i] @ truth.group_weights]
        probs.append(1 - sum(probs))
        exact = 0.0
        for k_a, k_t in itertools.product(range(n + 1), repeat=2):
            if k_a + k_t <= n:
                pmf = multinomial.pmf([k_a, k_t, n - k_a - k_t], n, probs)
                exact += pmf * ((k_a + 0.5 * k_t) / n - truth.p_star[i]) ** 2
        got = noise_term(truth.p_star[[i]], [n], vote_variance=truth.vote_variance[[i]])
        assert got == pytest.approx(exact, rel=1e-9)


def test_oracle_error_is_zero_against_p_star_for_deterministic_annotators():
    X, y, truth = _mixture()
    assert oracle_calibration_error(
        truth.p_star, truth.group_votes, truth.group_weights
    ) == pytest.approx(0.0, abs=1e-15)
    manual = np.mean((truth.group_votes @ truth.group_weights - y) ** 2)
    assert oracle_calibration_error(
        y, truth.group_votes, truth.group_weights
    ) == pytest.approx(manual)


def test_truth_on_pairs_matches_generated_truth_and_subsets():
    X, y, truth = _mixture(temperature=0.4, tie_margin=0.1, reward="mlp")
    ref = truth_on_pairs(truth, X)
    for key in ("group_votes", "group_prefs", "p_star", "vote_variance"):
        np.testing.assert_allclose(ref[key], truth[key], atol=1e-12)
    idx = np.array([5, 1, 30])
    stacked = X[idx].reshape(3, 2, -1)
    np.testing.assert_allclose(truth_on_pairs(truth, stacked).p_star, truth.p_star[idx])
    with pytest.raises(ValueError, match="X"):
        truth_on_pairs(truth, X[:, :-1])


# --- Theorem 2 ---------------------------------------------------------------


def _enumerated_error(votes, weights, k, target):
    """E[(mean of k sampled members' votes - target)^2] by full enumeration."""
    votes = np.asarray(votes, dtype=float)
    total = np.zeros(votes.shape[0])
    for draw in itertools.product(range(len(weights)), repeat=k):
        prob = np.prod([weights[g] for g in draw])
        total += prob * (votes[:, list(draw)].mean(axis=1) - target) ** 2
    return total.mean()


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_theorem2_formula_equals_enumeration(k):
    X, y, truth = _mixture()
    votes, w = truth.group_votes, truth.group_weights
    expected = expected_annotator_ensemble_error(votes, w, k, y_true=truth.p_star)
    assert expected == pytest.approx(_enumerated_error(votes, w, k, truth.p_star))
    # Deterministic annotators: exactly mean p*(1-p*)/k <= 1/(4k).
    p = truth.p_star
    assert expected == pytest.approx(np.mean(p * (1 - p)) / k)
    assert expected <= 1 / (4 * k)
    assert expected_annotator_ensemble_error(votes, w, k) == pytest.approx(expected)


def test_theorem2_with_noisy_annotators_keeps_the_bias():
    X, y, truth = _mixture(temperature=1.0)
    votes, w, p = truth.group_votes, truth.group_weights, truth.p_star
    for k in (1, 3):
        expected = expected_annotator_ensemble_error(votes, w, k, y_true=p)
        assert expected == pytest.approx(_enumerated_error(votes, w, k, p))
    bias = np.mean((votes @ w - p) ** 2)
    big_k = expected_annotator_ensemble_error(votes, w, 10**6, y_true=p)
    assert big_k == pytest.approx(bias, rel=1e-4)


@given(
    votes=arrays(np.float64, (5, 3), elements=st.sampled_from([0.0, 0.5, 1.0])),
    raw_weights=arrays(np.float64, 3, elements=st.floats(0.01, 1.0)),
    k=st.integers(1, 3),
)
def test_theorem2_property(votes, raw_weights, k):
    w = raw_weights / raw_weights.sum()
    target = votes @ w
    expected = expected_annotator_ensemble_error(votes, w, k)
    assert expected == pytest.approx(_enumerated_error(votes, w, k, target), abs=1e-12)
    assert expected <= 1 / (4 * k) + 1e-12


def test_sample_annotator_ensemble():
    X, y, truth = _mixture()
    ens = sample_annotator_ensemble(truth, 5, random_state=0)
    again = sample_annotator_ensemble(truth, 5, random_state=0)
    np.testing.assert_array_equal(ens.groups_, again.groups_)
    assert isinstance(ens, AnnotatorEnsemble) and ens.n_estimators_ == 5
    np.testing.assert_allclose(ens.estimator_weights_, 0.2)
    assert [r.kind for r in ens.estimators_] == ["linear"] * 5
    proba = ens.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], truth.group_votes[:, ens.groups_].mean(1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert ens.rewards(truth.item_features).shape == (60, 5)
    assert ens.score(X, y) == pytest.approx(-np.mean((proba[:, 1] - y) ** 2))
    # Groups are drawn with the population weights.
    many = sample_annotator_ensemble(truth, 4000, random_state=1)
    freq = np.bincount(many.groups_, minlength=3) / 4000
    np.testing.assert_allclose(freq, truth.group_weights, atol=0.03)
    with pytest.raises(ValueError, match="n_members"):
        sample_annotator_ensemble(truth, 0)


def test_sampled_ensemble_error_averages_to_theorem2_value():
    # Average over many sampled ensembles approaches the exact expectation.
    X, y, truth = _mixture()
    k = 3
    errors = [
        np.mean(
            (
                sample_annotator_ensemble(truth, k, random_state=s).predict_proba(X)[
                    :, 1
                ]
                - truth.p_star
            )
            ** 2
        )
        for s in range(300)
    ]
    expected = expected_annotator_ensemble_error(
        truth.group_votes, truth.group_weights, k, y_true=truth.p_star
    )
    assert np.mean(errors) == pytest.approx(expected, rel=0.1)


# --- recovery_report -----------------------------------------------------------


def _oracle_ensemble(truth):
    ens = AnnotatorEnsemble(truth.rewards, np.arange(len(truth.rewards)))
    ens.estimator_weights_ = np.asarray(truth.group_weights)
    return ens


def test_report_of_the_oracle():
    X, y, truth = _mixture(n_annotators=(2, 9))
    report = recovery_report(_oracle_ensemble(truth), X, y, truth)
    np.testing.assert_array_equal(report.member_group, [0, 1, 2])
    np.testing.assert_allclose(report.member_agreement, 1.0)
    assert report.matched_weight_error == pytest.approx(0.0, abs=1e-15)
    assert report.calibration_error == pytest.approx(report.oracle_error)
    assert report.ratio_to_oracle == pytest.approx(1.0)
    assert report.error_vs_p_star == pytest.approx(0.0, abs=1e-15)
    p = truth.p_star
    assert report.noise_term == pytest.approx(np.mean(p * (1 - p) / truth.n_annotators))
    floor = np.mean(np.minimum(y, 1 - y) ** 2)
    assert report.floor == pytest.approx(floor)


def test_report_on_held_out_subset_and_permuted_members():
    X, y, truth = _mixture()
    test = np.arange(0, 90, 3)
    ens = AnnotatorEnsemble([truth.rewards[g] for g in (2, 0)], [2, 0])
    ens.estimator_weights_ = np.array([0.3, 0.7])
    report = recovery_report(ens, X[test], y[test], truth)
    np.testing.assert_array_equal(report.member_group, [2, 0])
    # |0.3 - 0.2| + |0.7 - 0.5| + unmatched group 1 (0.3)
    assert report.matched_weight_error == pytest.approx(0.6)
    assert np.isnan(report.noise_term)  # counts unknown for a subset
    given_counts = recovery_report(
        ens, X[test], y[test], truth, n_annotators=truth.n_annotators[test]
    )
    assert given_counts.noise_term == pytest.approx(
        noise_term(truth.p_star[test], truth.n_annotators[test])
    )

    # Members passed through estimators_ (no rewards method) give the same.
    class Members:
        estimators_ = ens.estimators_
        estimator_weights_ = ens.estimator_weights_
        predict_proba = ens.predict_proba

    other = recovery_report(Members(), X[test], y[test], truth)
    np.testing.assert_array_equal(other.agreement_matrix, report.agreement_matrix)


def test_report_validation():
    X, y, truth = _mixture()
    ens = _oracle_ensemble(truth)
    with pytest.raises(ValueError, match="y"):
        recovery_report(ens, X, y[:-1], truth)
    with pytest.raises(ValueError, match="X"):
        recovery_report(ens, X[:, :-1], y, truth)
    # Column vectors of labels are read like 1-D ones.
    column = recovery_report(ens, X, y[:, None], truth)
    assert (
        column.calibration_error == recovery_report(ens, X, y, truth).calibration_error
    )


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda X, y, t, ens: recovery_report(object(), X, y, t), "estimator"),
        (lambda X, y, t, ens: recovery_report(ens, "pairs", y, t), "X"),
        (lambda X, y, t, ens: recovery_report(ens, X, 0.5, t), "y"),
        (
            lambda X, y, t, ens: recovery_report(ens, X, y, t, n_annotators=5),
            "n_annotators",
        ),
        (
            lambda X, y, t, ens: recovery_report(ens, X, y, t, sample_weight="w"),
            "sample_weight",
        ),
        (lambda X, y, t, ens: truth_on_pairs(t, None), "X"),
        (lambda X, y, t, ens: sample_annotator_ensemble(t, 0), "n_members"),
        (lambda X, y, t, ens: sample_annotator_ensemble(t, 2.5), "n_members"),
        (
            lambda X, y, t, ens: sample_annotator_ensemble(t, 2, random_state="a"),
            "random_state",
        ),
        (lambda X, y, t, ens: noise_term(0.5, [3]), "p_star"),
        (
            lambda X, y, t, ens: noise_term([0.5], [3], vote_variance=0.1),
            "vote_variance",
        ),
        (lambda X, y, t, ens: oracle_calibration_error(y, None, [1.0]), "group_votes"),
        (
            lambda X, y, t, ens: expected_annotator_ensemble_error([[1]], [1], 0),
            "n_members",
        ),
        (lambda X, y, t, ens: agreement_matrix("v", [[1]]), "member_votes"),
        (lambda X, y, t, ens: match_members([[1]], "v"), "group_votes"),
        (lambda X, y, t, ens: matched_weight_error([1], [1], 0, [0]), "member_index"),
    ],
)
def test_invalid_parameters_name_the_parameter(call, name):
    X, y, truth = _mixture()
    ens = _oracle_ensemble(truth)
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of "):
        call(X, y, truth, ens)


def test_bool_members_and_scalar_weights():
    X, y, truth = _mixture()
    # bool is an int to validate_params; the ensemble size still refuses it.
    with pytest.raises(ValueError, match="n_members must be a positive integer"):
        sample_annotator_ensemble(truth, True)
    # A scalar sample_weight is broadcast, as by every weight check.
    assert noise_term([0.5, 1.0], [5, 5], sample_weight=2.0) == pytest.approx(0.025)


# --- end to end with the estimator ---------------------------------------------


def test_fitted_ensemble_recovers_three_linear_groups():
    from pcr_sklearn import PairwiseCalibratedEnsemble

    X, y, truth = make_preference_mixture(
        n_prompts=200,
        n_responses=8,
        n_pairs=4000,
        n_features=4,
        group_weights=[0.5, 0.3, 0.2],
        n_annotators=50,
        return_truth=True,
        random_state=0,
    )
    test = truth.prompt_ids % 4 == 0  # held-out prompts
    est = PairwiseCalibratedEnsemble(
        n_estimators=3, members="stagewise", random_state=0
    )
    est.fit(X[~test], y[~test])
    counts = truth.n_annotators[test]
    report = recovery_report(est, X[test], y[test], truth, n_annotators=counts)
    # Loose bounds that hold for any sensible default; the targets
    # (weights within 0.05, agreement >= 95%) are measured by the benchmark.
    assert sorted(report.member_group.tolist()) == [0, 1, 2]
    assert report.calibration_error < report.floor / 2
    assert report.oracle_error <= report.calibration_error
    assert report.matched_weight_error < 0.4
    heaviest = int(np.argmax(report.member_weights))
    assert report.member_group[heaviest] == 0
    assert report.member_agreement[heaviest] > 0.9
    assert report.noise_term == pytest.approx(
        noise_term(truth.p_star[test], counts), rel=1e-12
    )
    np.testing.assert_allclose(
        report.calibration_error, -est.score(X[test], y[test]), rtol=1e-12
    )
