"""Shared hypothesis strategies for the calibration mathematics."""

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

unit = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)
positive = st.floats(0.01, 10.0, allow_nan=False, allow_infinity=False)


@st.composite
def vote_problems(draw, *, max_pairs=25, max_members=6, votes="hard"):
    """A member-vote matrix, soft labels and positive pair weights."""
    n = draw(st.integers(1, max_pairs))
    k = draw(st.integers(1, max_members))
    if votes == "hard":
        matrix = draw(arrays(np.float64, (n, k), elements=st.sampled_from([0, 0.5, 1])))
    else:
        matrix = draw(arrays(np.float64, (n, k), elements=unit))
    target = draw(arrays(np.float64, n, elements=unit))
    weights = draw(arrays(np.float64, n, elements=positive))
    return matrix, target, weights


@st.composite
def simplex_weights(draw, k):
    raw = draw(arrays(np.float64, k, elements=st.floats(0.0, 1.0)))
    raw = raw + 1e-3
    return raw / raw.sum()


# Item features: bounded, finite and not subnormal, so a failure shrinks to
# small readable numbers.
features = st.floats(
    -3.0, 3.0, allow_nan=False, allow_infinity=False, allow_subnormal=False
)


@st.composite
def small_pair_data(draw, *, max_pairs=40):
    """Flat pairs (2 features per item) with soft labels from a random mixture.

    Returns ``X`` of shape (n, 4) and ``y``; the features are drawn as arrays
    (not built from a drawn seed) so that hypothesis can shrink them. Some
    pair has A and B differing, so the data are never all ties.
    """
    n = draw(st.integers(8, max_pairs))
    a = draw(arrays(np.float64, (n, 2), elements=features))
    b = draw(arrays(np.float64, (n, 2), elements=features))
    assume(np.any(a != b))
    mix = draw(st.floats(0.05, 0.95))
    y = mix * (a[:, 0] > b[:, 0]) + (1 - mix) * (a[:, 1] > b[:, 1])
    return np.hstack([a, b]), y
