"""
Plugging in your own reward learner
===================================

Any scikit-learn estimator with ``fit(items_a, items_b, target, sample_weight,
*, loss)`` and ``reward(items)`` can be a member of a
:class:`~pcr_sklearn.PairwiseCalibratedEnsemble`. This one wraps scikit-learn's
:class:`~sklearn.linear_model.LogisticRegression`: a soft label ``p`` becomes
two rows of the pair difference, labelled A with weight ``p`` and B with weight
``1 - p``, which is exactly the soft-label Bradley-Terry log-loss. It supports
only the ``"log"`` loss, and says so in its tags.
"""

# %%
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
# Check it against the protocol, then use it as a member.
from pcr_sklearn import PairwiseCalibratedEnsemble  # noqa: E402
from pcr_sklearn.utils.estimator_checks import check_reward_learner  # noqa: E402

check_reward_learner(LogisticRegressionReward())

rng = np.random.default_rng(0)
a, b = rng.normal(size=(2, 1000, 3))
p = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])  # two groups, 70/30
ensemble = PairwiseCalibratedEnsemble(
    LogisticRegressionReward(), n_estimators=2, random_state=0
).fit(np.hstack([a, b]), p)
print("member weights:", ensemble.estimator_weights_.round(2))
