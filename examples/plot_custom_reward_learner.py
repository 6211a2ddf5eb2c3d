"""
Plugging in your own reward learner
===================================

Any scikit-learn estimator with ``fit(items_a, items_b, target,
sample_weight, *, loss)`` and ``reward(items)`` can be a member of a
:class:`~pcr_sklearn.PairwiseCalibratedEnsemble`. This one wraps
scikit-learn's :class:`~sklearn.linear_model.LogisticRegression`: a soft label
``p`` becomes two rows of the pair difference, labelled A with weight ``p``
and B with weight ``1 - p``, which is exactly the soft-label Bradley-Terry
log-loss. It supports only the ``"log"`` loss, and says so in its tags.

:func:`~pcr_sklearn.utils.estimator_checks.check_reward_learner` then checks
every promise of the protocol (weights, antisymmetry, reward dtype, cloning,
pickling, ...) before the learner is used as a member.
"""

# %%
# The learner
# -----------
# :class:`~pcr_sklearn.rewards.BaseReward` provides the input checks and the
# tags; a subclass declares what it supports in ``__reward_tags__``.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

from pcr_sklearn.rewards import BaseReward


class LogisticRegressionReward(BaseReward):
    """Linear reward fitted by scikit-learn's LogisticRegression on A - B."""

    def __init__(self, C=100.0):
        self.C = C

    def __reward_tags__(self):
        tags = super().__reward_tags__()
        tags.losses = ("log",)
        return tags

    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        if loss != "log":
            raise ValueError(
                f"loss must be 'log' (the only one declared), got {loss!r}."
            )
        target, sample_weight = self._check_fit_inputs(
            items_a, items_b, target, sample_weight, loss
        )
        diff = np.asarray(items_a, dtype=float) - np.asarray(items_b, dtype=float)
        X = np.vstack([diff, diff])
        y = np.r_[np.ones(len(diff)), np.zeros(len(diff))]
        weight = np.r_[target, 1.0 - target] * np.r_[sample_weight, sample_weight]
        # The protocol's losses are weighted means: normalising the weights to
        # sum to one makes C mean the same whatever their number or scale.
        weight = weight / max(sample_weight.sum(), 1e-300)
        model = LogisticRegression(C=self.C, fit_intercept=False, tol=1e-10)
        self.coef_ = model.fit(X, y, sample_weight=weight).coef_[0]
        return self

    def reward(self, items):
        return np.asarray(items, dtype=np.float64) @ self.coef_


# %%
# Check it against the protocol
# -----------------------------
# The suite fits clones on small synthetic comparisons; a broken promise
# raises an ``AssertionError`` whose message starts with the property, e.g.
# ``[sample_weight zero]``. Passing means the ensemble can use it.

from pcr_sklearn.utils.estimator_checks import check_reward_learner  # noqa: E402

check_reward_learner(LogisticRegressionReward())
print("LogisticRegressionReward follows the reward-learner protocol")

# %%
# Use it as a member
# ------------------
# Two groups of annotators: 70% prefer the item with the larger feature 0,
# 30% the one with the larger feature 1. Stagewise members find the two
# groups and their shares.

from pcr_sklearn import PairwiseCalibratedEnsemble  # noqa: E402
from pcr_sklearn.metrics import PairCalibrationDisplay  # noqa: E402

rng = np.random.default_rng(0)
a, b = rng.normal(size=(2, 1000, 3))
p = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])  # two groups, 70/30
X = np.hstack([a, b])
ensemble = PairwiseCalibratedEnsemble(
    LogisticRegressionReward(), n_estimators=2, members="stagewise", random_state=0
).fit(X[:800], p[:800])
print("member weights:", ensemble.estimator_weights_.round(2))

# %%
# On held-out pairs the two members' weighted vote takes four values (both
# prefer A, only the 70% member, only the 30% member, neither) and each
# matches the share of annotators who preferred A. The same learner as a
# single reward can only say 0 or 1.

fig, ax = plt.subplots(figsize=(5.5, 5.5), layout="constrained")
PairCalibrationDisplay.from_estimator(
    ensemble, X[800:], p[800:], n_bins=10, ax=ax, name="2 stagewise members"
)
single = PairwiseCalibratedEnsemble(
    LogisticRegressionReward(), n_estimators=1, members="stagewise", random_state=0
).fit(X[:800], p[:800])
PairCalibrationDisplay.from_estimator(
    single, X[800:], p[800:], n_bins=10, ax=ax, name="1 member"
)
ax.set_title("calibration on held-out pairs of a 70 / 30 mixture")
plt.show()
