"""The base-reward protocol shared by every reward learner.

A *reward learner* maps one item (a response to a prompt, described by a feature
vector or by its text) to a real number. The ensemble never looks inside a reward
learner; it only uses the two methods below, so any object that implements them
(and is a scikit-learn estimator, so that ``clone`` works) can be a member.

``fit(items_a, items_b, target, sample_weight=None, *, loss="log")``
    Train on ``n`` comparisons. ``items_a[i]`` and ``items_b[i]`` are the two
    items of comparison ``i``; the model's pairwise probability is
    ``sigmoid(r(items_a[i]) - r(items_b[i]))``. ``loss`` selects the objective:

    * ``"log"``: weighted cross-entropy against a soft target in ``[0, 1]``
      (a soft-label Bradley-Terry model; the ensemble's ``"weighted"`` stage
      objective passes hard 0/1 targets with weights ``|residual|``);
    * ``"squared"``: weighted squared error ``(target - sigmoid(.))**2`` against a
      target in ``[-1, 1]`` (the paper's ``"residual"`` stage objective, where the
      target is a calibration residual that may be negative).

    Losses are weighted means (divided by the sum of ``sample_weight``), so a
    penalty strength means the same thing whatever the number or scale of the
    weights. Returns ``self``.

``reward(items)``
    Per-item rewards, a float64 NumPy array of shape ``(n_items,)``, whatever
    device the learner trained on.

``_pair_input`` (class attribute)
    ``"numeric"`` when items are rows of a float array ``(n, d)``; ``"text"`` when
    items are rows of an object array ``(n, 2)`` holding ``(prompt, response)``.

Reward learners take a ``random_state`` parameter when they are stochastic; the
ensemble seeds each member through it.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator

LOSSES = ("log", "squared")


class BaseReward(BaseEstimator):
    """Base class for reward learners (see the module docstring for the protocol).

    Subclasses implement ``fit(items_a, items_b, target, sample_weight=None, *,
    loss="log")`` and ``reward(items)``; :meth:`_check_fit_inputs` validates the
    arguments of ``fit`` with error messages that name the argument and the row.
    """

    _pair_input = "numeric"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = self._pair_input == "text"
        return tags

    def _check_fit_inputs(self, items_a, items_b, target, sample_weight, loss):
        """Validate the arguments of ``fit``; return ``target, sample_weight``.

        Items are validated by the subclass (numeric or text); here we check
        the lengths, the target range for the chosen loss and the weights.
        """
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
        n = len(items_a)
        if len(items_b) != n:
            raise ValueError(
                f"items_a and items_b must have the same length, got {n} and "
                f"{len(items_b)}."
            )
        target = np.asarray(target, dtype=np.float64).reshape(-1)
        if target.shape[0] != n:
            raise ValueError(
                f"target has {target.shape[0]} entries but there are {n} comparisons."
            )
        low = 0.0 if loss == "log" else -1.0
        bad = ~np.isfinite(target) | (target < low) | (target > 1.0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"target must lie in [{low:g}, 1] for loss={loss!r}; row {row} has "
                f"{_plain(target[row])!r}."
            )
        sample_weight = check_pair_weights(sample_weight, n, "sample_weight")
        return target, sample_weight


def _plain(value):
    """NumPy scalars as Python ones: messages read 1.5, not np.float64(1.5)."""
    return value.item() if isinstance(value, np.generic) else value


def check_pair_weights(sample_weight, n, name="sample_weight", allow_all_zero=True):
    """Return float64 weights of length ``n`` (ones when ``None``).

    Raises a ``ValueError`` naming ``name`` and the first offending row for
    NaN/inf or negative values, and for all-zero weights unless allowed.
    """
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n, float(sample_weight))
    weights = np.array(sample_weight, dtype=np.float64).reshape(-1)
    if weights.shape[0] != n:
        raise ValueError(
            f"{name} has {weights.shape[0]} entries but there are {n} pairs."
        )
    bad = ~np.isfinite(weights)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must be finite; row {row} has {_plain(weights[row])!r}."
        )
    negative = weights < 0
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        raise ValueError(
            f"Negative values in {name} are not allowed; row {row} has "
            f"{_plain(weights[row])!r}."
        )
    if not allow_all_zero and n > 0 and not weights.any():
        raise ValueError(f"{name} is all zero; at least one pair needs weight > 0.")
    return weights
