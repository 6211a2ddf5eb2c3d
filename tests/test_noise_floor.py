"""The noise floor: the irreducible error of soft labels from n votes (Lemma 1)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import comb

from pcr_sklearn.datasets import load_convincing_arguments
from pcr_sklearn.metrics import calibration_error, noise_floor, single_reward_floor

from .strategies import unit


def _binomial_pmf(n, p):
    # Written out: scipy.stats.binom overflows for p near the smallest float.
    counts = np.arange(n + 1)
    return counts, comb(n, counts) * p**counts * (1.0 - p) ** (n - counts)


def test_golden_values():
    assert noise_floor([0.6, 1.0], [5, 5]) == pytest.approx(0.03)
    assert noise_floor([0.5], [2]) == pytest.approx(0.25)
    # One vote says nothing about the noise: weight 0, not a division by 0.
    assert noise_floor([0.5, 0.5], [1, 3]) == pytest.approx(0.125)
    assert noise_floor([0.5, 0.0], [3, 3], sample_weight=[3, 1]) == pytest.approx(
        0.09375
    )


def test_argument_data_reproduces_the_design_numbers():
    data = load_convincing_arguments(as_frame=False)
    noise = noise_floor(data.target, data.n_votes)
    floor = single_reward_floor(data.target)
    assert noise == pytest.approx(0.039, abs=5e-4)  # DESIGN.md section 1
    assert noise / floor == pytest.approx(0.47, abs=0.01)


@given(unit, st.integers(2, 40))
def test_unbiased_for_the_population_term(p_star, n):
    """E over binomial vote counts of p(1-p)/(n-1) equals p*(1-p*)/n exactly."""
    counts, pmf = _binomial_pmf(n, p_star)
    shares = counts / n
    expected = np.sum(pmf * shares * (1 - shares) / (n - 1))
    assert expected == pytest.approx(p_star * (1 - p_star) / n, abs=1e-12)


@given(unit, st.integers(2, 40))
def test_the_exact_probability_scores_the_noise_in_expectation(p_star, n):
    """Lemma 1: predicting p* exactly leaves E[(p - p*)^2] = p*(1-p*)/n."""
    counts, pmf = _binomial_pmf(n, p_star)
    error = np.sum(pmf * (counts / n - p_star) ** 2)
    noise = np.sum(pmf * (counts / n) * (1 - counts / n) / (n - 1))
    assert error == pytest.approx(noise, abs=1e-12)


def test_no_predictor_beats_it_on_average_simulated():
    rng = np.random.default_rng(0)
    p_star = rng.uniform(size=20000)
    n = rng.integers(3, 8, size=p_star.size)
    y = rng.binomial(n, p_star) / n
    noise = noise_floor(y, n)
    assert calibration_error(y, p_star) == pytest.approx(noise, rel=0.03)


@pytest.mark.parametrize(
    "y, n, match",
    [
        ([0.5, 1.5], [3, 3], "y_true must lie in"),
        ([0.5], [3, 3], "n_votes has 2 entries"),
        ([0.5], [-1], "n_votes must be finite"),
        ([0.5], [1], "at least one pair with 2 or more votes"),
    ],
)
def test_bad_inputs_name_the_argument(y, n, match):
    with pytest.raises(ValueError, match=match):
        noise_floor(y, n)
