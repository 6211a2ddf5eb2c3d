"""Linear reward ``r(item) = w . features`` (NumPy/SciPy only)."""

from numbers import Integral, Real

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.utils.validation import check_array, check_is_fitted

from .._compat import Interval, _fit_context
from ._base import BaseReward


class LinearReward(BaseReward):
    """Linear reward on item features, trained on pairwise comparisons.

    The reward of an item with features ``x`` is ``coef_ @ x``; the probability
    that A beats B is ``sigmoid(coef_ @ (x_A - x_B))`` (an intercept would
    cancel in the difference, so there is none). Training minimises the
    weighted mean of the chosen loss plus ``alpha / 2 * ||coef_||**2`` with
    exact gradients and L-BFGS, starting from zero, so it is deterministic.

    Parameters
    ----------
    alpha : float, default=1e-3
        L2 penalty strength. Losses are weighted means, so the penalty means
        the same thing for any number of pairs or weight scale.
    max_iter : int, default=200
        Maximum number of L-BFGS iterations.
    tol : float, default=1e-6
        L-BFGS stops when the largest gradient entry falls below ``tol``.
    warm_start : bool, default=False
        Start from the fitted ``coef_`` instead of zero when refitting. The
        ensemble uses it to re-fit a member during backfitting, where the new
        solution is close to the old one.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Reward weights.
    n_features_in_ : int
        Number of features per item.
    n_iter_ : int
        L-BFGS iterations run.

    See Also
    --------
    pcr_sklearn.PairwiseCalibratedEnsemble : Ensemble of rewards like this one.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.rewards import LinearReward
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    >>> target = (a[:, 0] > b[:, 0]).astype(float)  # feature 0 decides
    >>> reward = LinearReward().fit(a, b, target)
    >>> int(np.argmax(np.abs(reward.coef_)))
    0
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
    }

    def __init__(self, *, alpha=1e-3, max_iter=200, tol=1e-6, warm_start=False):
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start

    def __reward_tags__(self):
        tags = super().__reward_tags__()
        tags.warm_start = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
        """Fit the reward on comparisons of ``items_a`` against ``items_b``.

        Parameters
        ----------
        items_a, items_b : array-like of shape (n_pairs, n_features)
            Features of the two items of each comparison.
        target : array-like of shape (n_pairs,)
            In [0, 1] for ``loss="log"`` (share preferring A), in [-1, 1] for
            ``loss="squared"`` (a calibration residual).
        sample_weight : array-like of shape (n_pairs,), default=None
            Non-negative weights.
        loss : {"log", "squared"}, default="log"
            See :mod:`pcr_sklearn.rewards` for the protocol.

        Returns
        -------
        self : LinearReward
        """
        items_a = check_array(items_a, input_name="items_a")
        items_b = check_array(items_b, input_name="items_b")
        if items_a.shape != items_b.shape:
            raise ValueError(
                f"items_a and items_b must have the same shape, got {items_a.shape} "
                f"and {items_b.shape}."
            )
        target, sample_weight = self._check_fit_inputs(
            items_a, items_b, target, sample_weight, loss
        )
        diff = np.asarray(items_a - items_b, dtype=np.float64)
        total = sample_weight.sum()
        # All-zero weights leave only the penalty, whose minimiser is zero.
        scaled_weight = sample_weight / total if total > 0 else sample_weight
        objective = _log_loss if loss == "log" else _squared_loss
        start = np.zeros(diff.shape[1])
        if self.warm_start and getattr(self, "coef_", start).shape == start.shape:
            start = self.coef_
        result = minimize(
            objective,
            start,
            args=(diff, target, scaled_weight, self.alpha),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "gtol": self.tol},
        )
        self.coef_ = result.x
        self.n_iter_ = int(result.nit)
        self.n_features_in_ = diff.shape[1]
        return self

    def reward(self, items):
        """Reward of each item.

        Parameters
        ----------
        items : array-like of shape (n_items, n_features)

        Returns
        -------
        rewards : ndarray of shape (n_items,)
        """
        check_is_fitted(self)
        items = np.asarray(items)
        if items.ndim != 2 or items.shape[1] != self.n_features_in_:
            raise ValueError(
                f"items must have shape (n_items, {self.n_features_in_}), got "
                f"{items.shape}."
            )
        return np.asarray(items @ self.coef_, dtype=np.float64)

    @classmethod
    def batch_rewards(cls, members, items):
        """Rewards of several fitted members in one matrix product.

        Optional protocol extension (see :mod:`pcr_sklearn.rewards._base`): the
        ensemble uses it to read the items once for all members instead of
        once per member.

        Parameters
        ----------
        members : list of fitted LinearReward
        items : array-like of shape (n_items, n_features)

        Returns
        -------
        rewards : ndarray of shape (n_items, len(members))
        """
        coefs = np.column_stack([member.coef_ for member in members])
        return np.asarray(items @ coefs, dtype=np.float64)


def _log_loss(coef, diff, target, weight, alpha):
    margin = diff @ coef
    loss = -(weight @ (target * log_expit(margin) + (1 - target) * log_expit(-margin)))
    gradient = diff.T @ (weight * (expit(margin) - target))
    return loss + 0.5 * alpha * coef @ coef, gradient + alpha * coef


def _squared_loss(coef, diff, target, weight, alpha):
    prob = expit(diff @ coef)
    residual = prob - target
    loss = weight @ residual**2
    gradient = diff.T @ (weight * 2.0 * residual * prob * (1.0 - prob))
    return loss + 0.5 * alpha * coef @ coef, gradient + alpha * coef
