"""Linear reward ``r(item) = w . features`` (NumPy/SciPy only)."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_array, check_is_fitted

from .._compat import Interval, _fit_context
from ..utils.validation import (
    _overflow_is_an_error,
    check_finite,
    plain,
    rescale_weights,
)
from ._base import BaseReward, RewardTags

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    from numpy.typing import ArrayLike, NDArray


class PairDifferences:
    """Pair differences ``items_a - items_b``, prepared once for many fits.

    What :meth:`LinearReward.prepare_pairs` returns and
    :meth:`LinearReward.fit_prepared` takes: a linear reward sees the items
    only through their differences, so the ensemble's stage loop computes
    them once per ensemble fit instead of once per member fit. The
    differences are stored divided by a power of two per feature (exact),
    so that every entry lies in [-1, 1] whatever the scale of the features:
    a fit never squares or sums numbers near the float64 limits.

    Read-only: fits never modify it, so one object serves any number of fits
    of any number of clones.

    Parameters
    ----------
    unit : ndarray of shape (n_pairs, n_features), float64, C-contiguous
        ``(items_a - items_b) / scale``.
    scale : ndarray of shape (n_features,)
        Powers of two, the smallest at least each feature's largest absolute
        difference (1 for a feature that never differs; 2**1023, the largest
        power of two, for differences beyond it, which leaves them below 2).
    """

    __slots__ = ("scale", "unit")

    def __init__(self, unit, scale):
        self.unit = unit
        self.scale = scale

    def __len__(self):
        return self.unit.shape[0]

    @property
    def n_features(self):
        """Number of features per item."""
        return self.unit.shape[1]


class LinearReward(BaseReward):
    """Linear reward on item features, trained on pairwise comparisons.

    The reward of an item with features ``x`` is ``coef_ @ x``; the probability
    that A beats B is ``sigmoid(coef_ @ (x_A - x_B))`` (an intercept would
    cancel in the difference, so there is none). Training minimises the
    weighted mean of the chosen loss plus ``alpha / 2 * s**2 * ||coef_||**2``
    with exact gradients and L-BFGS, starting from zero, so it is
    deterministic. ``s**2`` is half the weighted mean of
    ``||x_A - x_B||**2`` over the pairs: the squared size of an item when the
    two items of a pair are independent draws (about 1 for unit-norm
    embeddings such as :class:`~pcr_sklearn.text.PairEmbedder`'s). The penalty
    is a plain ridge penalty in the features' own coordinates, scaled by that
    size, so the pairwise probabilities do not depend on the scale of the
    features: features multiplied by ``1e-8`` or ``1e200`` give the same
    predictions as the originals (and ``coef_`` divided by that factor). The
    optimiser works on per-feature standardised coordinates, which keeps it
    well conditioned whatever the features' relative scales.

    Parameters
    ----------
    alpha : float, default=1e-3
        L2 penalty strength on the coefficients of the standardised
        differences. Losses are weighted means, so the penalty means the
        same thing for any number of pairs, weight scale or feature scale.
    max_iter : int, default=200
        Maximum number of L-BFGS iterations. Reaching it raises a
        :class:`~sklearn.exceptions.ConvergenceWarning`.
    tol : float, default=1e-6
        L-BFGS stops when the largest entry of the gradient with respect to
        the standardised coefficients ``s * coef_`` falls below ``tol``. That
        gradient is a weighted mean over pairs of standardised differences
        times residuals in [-1, 1], so ``tol`` is relative to the data's
        scale: the same ``tol`` means the same precision for any feature
        scale and any number or scale of weights. It also stops when an
        iteration lowers the objective by less than a relative
        ``max(tol**2, 1e-15)`` (what a gradient of size ``tol`` still gains
        near the optimum; 1e-15 is round-off).
    warm_start : bool, default=False
        Start from the fitted ``coef_`` instead of zero when refitting. The
        ensemble uses it to re-fit a member during backfitting, where the new
        solution is close to the old one.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Reward weights, in the units of the features.
    n_features_in_ : int
        Number of features per item.
    n_iter_ : int
        L-BFGS iterations run.

    See Also
    --------
    pcr_sklearn.PairwiseCalibratedEnsemble : Ensemble of rewards like this one.

    Notes
    -----
    :meth:`prepare_pairs` and :meth:`fit_prepared` implement the optional
    prepared-pairs extension of the reward-learner protocol
    (:mod:`pcr_sklearn.rewards._base`): ``fit`` is exactly
    ``fit_prepared(prepare_pairs(items_a, items_b), ...)``.

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

    def __init__(
        self,
        *,
        alpha: float = 1e-3,
        max_iter: int = 200,
        tol: float = 1e-6,
        warm_start: bool = False,
    ) -> None:
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start

    def __reward_tags__(self) -> RewardTags:
        tags = super().__reward_tags__()
        tags.warm_start = True
        # Sharpened backfitting re-fits (see the protocol) weaken alpha.
        tags.penalty = "alpha"
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        items_a: ArrayLike,
        items_b: ArrayLike,
        target: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        loss: Literal["log", "squared"] = "log",
    ) -> Self:
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
            The fitted reward.

        Raises
        ------
        ValueError
            For invalid inputs, and when a difference ``items_a - items_b``
            overflows float64 (naming the row and feature).
        """
        prepared = self.prepare_pairs(items_a, items_b)
        return self._fit_prepared(prepared, target, sample_weight, loss)

    def prepare_pairs(self, items_a: ArrayLike, items_b: ArrayLike) -> PairDifferences:
        """Validate the items once and compute their differences.

        Optional protocol extension (see :mod:`pcr_sklearn.rewards._base`):
        the result can be passed to :meth:`fit_prepared` of this reward or
        any clone of it, any number of times.

        Parameters
        ----------
        items_a, items_b : array-like of shape (n_pairs, n_features)
            Features of the two items of each comparison.

        Returns
        -------
        prepared : PairDifferences
            The differences ``items_a - items_b``, scaled per feature by a
            power of two, and the scales.
        """
        items_a = _check_items(items_a, "items_a")
        items_b = _check_items(items_b, "items_b")
        if items_a.shape != items_b.shape:
            raise ValueError(
                f"items_a and items_b must have the same shape, got {items_a.shape} "
                f"and {items_b.shape}."
            )
        # Row-major: a loss evaluation reads it block by block of rows.
        with np.errstate(over="ignore", invalid="ignore"):
            diff = np.subtract(items_a, items_b, dtype=np.float64, order="C")
            largest = np.maximum(diff.max(axis=0), -diff.min(axis=0))
        if not np.isfinite(largest).all():
            _raise_overflow(diff, items_a, items_b)
        # A power of two per feature: dividing by it is exact, and bounds
        # every entry by 1, so squares and sums cannot overflow or underflow
        # whatever the features' scale.
        # (2**1023 at most, the largest power of two: differences beyond it
        # are then below 2.)
        exponent = np.minimum(np.frexp(largest)[1], 1023)
        scale = np.where(largest > 0, np.ldexp(1.0, exponent), 1.0)
        diff /= scale
        return PairDifferences(diff, scale)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_prepared(
        self,
        prepared: PairDifferences,
        target: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        loss: Literal["log", "squared"] = "log",
    ) -> Self:
        """Fit on pairs prepared by :meth:`prepare_pairs`; same as :meth:`fit`.

        Parameters
        ----------
        prepared : PairDifferences
            From ``prepare_pairs(items_a, items_b)`` of this reward or a clone.
        target : array-like of shape (n_pairs,)
            As for :meth:`fit`.
        sample_weight : array-like of shape (n_pairs,), default=None
            As for :meth:`fit`.
        loss : {"log", "squared"}, default="log"
            As for :meth:`fit`.

        Returns
        -------
        self : LinearReward
            The fitted reward.
        """
        if not isinstance(prepared, PairDifferences):
            raise TypeError(
                "fit_prepared takes what LinearReward.prepare_pairs returns, got "
                f"{type(prepared).__name__}."
            )
        return self._fit_prepared(prepared, target, sample_weight, loss)

    def _fit_prepared(self, prepared, target, sample_weight, loss):
        unit = prepared.unit
        target, sample_weight = self._check_fit_inputs(
            unit, unit, target, sample_weight, loss
        )
        weight = rescale_weights(sample_weight)
        total = weight.sum()
        if total > 0:
            weight = weight / total
            # Root-mean-square of each feature's difference over the weighted
            # pairs (in units of `prepared.scale`; one pass, no temporary),
            # over sqrt(2): the items' own scale when A and B are independent
            # draws, so that standardised features keep the penalty they had.
            rms = np.sqrt(0.5 * np.einsum("ij,ij,i->j", unit, unit, weight))
        else:
            # All-zero weights leave only the penalty, whose minimiser is zero.
            rms = np.ones(unit.shape[1])
        # A feature that never differs within a pair (a prompt feature of
        # `prompt_mode="concat"`) is no part of a typical difference.
        constant = rms == 0
        rms[constant] = 1.0
        penalty = _penalty_weights(rms, prepared.scale, constant)
        # Diagonal preconditioning: in standardised units the loss curves by
        # about 1/4 per coordinate and the penalty by alpha * penalty, which
        # can be orders of magnitude more for features with tiny differences;
        # rescaling each coordinate by the square root of the sum gives every
        # one a curvature near 1, so L-BFGS neither stalls nor stops early.
        precondition = np.sqrt(0.25 + self.alpha * penalty)
        rms = rms * precondition
        penalty = penalty / precondition**2
        objective = _PairLoss(unit, rms, penalty, target, weight, self.alpha, loss)
        start = np.zeros(unit.shape[1])
        previous = getattr(self, "coef_", None)  # (none before the first fit)
        if self.warm_start and previous is not None and previous.shape == start.shape:
            start = _warm_start(self.coef_ * prepared.scale, rms, penalty)
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            options={
                "maxiter": self.max_iter,
                "gtol": self.tol,
                # Near the optimum a gradient of size tol lowers the objective
                # by about tol**2: with SciPy's default (2.2e-9, relative)
                # the fit would stop long before tol (at gradients ~5e-5).
                # 1e-15 is a few round-offs of the objective.
                "ftol": max(self.tol**2, 1e-15),
            },
        )
        self._warn_unless_converged(result)
        with np.errstate(over="ignore"):  # decided below, naming the feature
            coef = result.x / rms / prepared.scale
        if not np.isfinite(coef).all():
            _raise_coef_overflow(coef, prepared.scale)
        self.coef_ = coef
        self.n_iter_ = int(result.nit)
        self.n_features_in_ = unit.shape[1]
        return self

    def _warn_unless_converged(self, result):
        if result.status == 0:
            return
        gradient = float(np.max(np.abs(result.jac), initial=0.0))
        if result.status == 1:
            reason = (
                f"reached the iteration limit (max_iter={self.max_iter}); "
                "increase max_iter, or alpha if the comparisons are separable"
            )
        else:
            reason = f"stopped abnormally ({result.message})"
        warnings.warn(
            f"LinearReward's L-BFGS optimiser {reason}. The largest standardised "
            f"gradient entry is {gradient:.3g} (tol={self.tol:g}).",
            ConvergenceWarning,
            stacklevel=3,
        )

    def reward(self, items: ArrayLike) -> NDArray[np.float64]:
        """Reward of each item.

        Parameters
        ----------
        items : array-like of shape (n_items, n_features)
            Item features, as in fit.

        Returns
        -------
        rewards : ndarray of shape (n_items,)
            ``items @ coef_``, float64.
        """
        check_is_fitted(self)
        items = _check_items(
            items, "items", ensure_all_finite=False, ensure_min_samples=0
        )
        check_finite(items, "items")
        if items.shape[1] != self.n_features_in_:
            raise ValueError(
                f"items must have shape (n_items, {self.n_features_in_}), got "
                f"{items.shape}."
            )
        return _checked_rewards(items, self.coef_)

    @classmethod
    def batch_rewards(
        cls, members: Sequence[LinearReward], items: ArrayLike
    ) -> NDArray[np.float64]:
        """Rewards of several fitted members in one matrix product.

        Optional protocol extension (see :mod:`pcr_sklearn.rewards._base`): the
        ensemble uses it to read the items once for all members instead of
        once per member.

        Parameters
        ----------
        members : list of fitted LinearReward
            The members to evaluate.
        items : array-like of shape (n_items, n_features)
            Item features.

        Returns
        -------
        rewards : ndarray of shape (n_items, len(members))
            Column ``j`` equals ``members[j].reward(items)``.
        """
        coefs = np.column_stack([member.coef_ for member in members])
        return _checked_rewards(items, coefs)


def _raise_overflow(diff, items_a, items_b):
    row, col = np.argwhere(~np.isfinite(diff))[0]
    raise ValueError(
        f"items_a - items_b overflows float64 at row {row}, feature {col} "
        f"({plain(items_a[row, col])!r} - {plain(items_b[row, col])!r}); "
        "a linear reward compares items through their differences, which must "
        "be finite. Rescale the features (e.g. divide them by their largest "
        "absolute value)."
    )


def _warm_start(coef, rms, penalty):
    """The previous fit in the optimiser's coordinates, or zero if unusable.

    ``coef`` is in units of the new prepared differences. A fit on pairs of
    another scale (partial_fit on new data) can put it where the penalty or
    the margins overflow float64: there zero is the start.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        start = coef * rms
        usable = (
            np.abs(coef).sum() <= 1e150  # bounds every margin (|unit| <= 2)
            and np.isfinite(start @ (penalty * start))
        )
    return start if usable else np.zeros_like(start)


def _raise_coef_overflow(coef, scale):
    col = int(np.flatnonzero(~np.isfinite(coef))[0])
    raise ValueError(
        f"items_a - items_b: feature {col} differs by less than "
        f"{plain(scale[col]):.3g} within every pair, so little that its "
        "coefficient (a reward difference per unit of feature) overflows "
        "float64. Rescale the features (e.g. divide them by their largest "
        "absolute value)."
    )


def _check_items(items, name, **kwargs):
    """``check_array`` of numeric items (float64 or float32), errors naming them.

    scikit-learn's quick finiteness test sums the values, which overflows
    (or gives inf - inf) for finite values near the float64 limit: its
    exact test decides then, so those warnings are not the user's business.
    """
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return check_array(
                items, input_name=name, dtype=[np.float64, np.float32], **kwargs
            )
    except (TypeError, ValueError) as exc:
        message = str(exc).strip()
        if name in message:
            raise
        raise ValueError(
            f"{name} must be numbers of shape (n_items, n_features): {message}"
        ) from exc


def _checked_rewards(items, coefs):
    """``items @ coefs`` in float64; a ValueError naming an item that overflows.

    NumPy's error state decides, as for its own warnings: a caller that
    ignores overflows (``np.errstate(over="ignore", invalid="ignore")``, as
    the ensembles' votes do, whose limits they are) gets IEEE's inf or NaN.
    """
    raising = _overflow_is_an_error()
    with np.errstate(over="ignore", invalid="ignore"):
        rewards = np.asarray(items @ coefs, dtype=np.float64)
        if not raising:
            return rewards
        total = rewards.sum()  # finite: every reward is (the cheap test)
    if not np.isfinite(total) and not np.isfinite(rewards).all():
        _raise_reward_overflow(np.asarray(items), rewards)
    return rewards


def _raise_reward_overflow(items, rewards):
    rewards = rewards.reshape(rewards.shape[0], -1)
    row = int(np.flatnonzero(~np.isfinite(rewards).all(axis=1))[0])
    values = np.asarray(items[row], dtype=np.float64)
    if not np.isfinite(values).all():
        col = int(np.flatnonzero(~np.isfinite(values))[0])
        what = "is not finite"
    else:
        col = int(np.argmax(np.abs(values)))
        what = "is so large that the reward (items @ coef_) overflows float64"
    raise ValueError(
        f"items row {row} has {plain(values[col])!r} in column {col}, which {what}. "
        "Rescale the features (e.g. divide them by their largest absolute value)."
    )


#: Pairs per block of a loss evaluation: the block's differences (up to a few
#: MiB) are still in cache when the gradient product reads them again.
_BLOCK_PAIRS = 4096


def _penalty_weights(rms, scale, constant):
    """Penalty weights ``w``: ``sum(w * c**2) = s**2 * ||coef||**2``.

    ``c = coef * scale * rms`` are the optimiser's standardised coordinates.

    ``s**2`` is half the weighted mean squared norm of the pair differences:
    the penalty is isotropic in the features' own coordinates (as a plain
    ridge penalty) and scaled by the size of a typical difference, so it does
    not depend on the features' scale. Everything is computed relative to the
    largest per-feature power of two ``scale``, so nothing overflows.
    Features that never differ (``constant``) add nothing to ``s``: columns
    that are the same for A and B must not change the penalty of the others.
    """
    relative = scale / scale.max()
    # Weighted mean of the squared unit differences.
    mean_square = np.where(constant, 0.0, 2.0 * rms**2)
    s_relative = np.sqrt(0.5 * np.sum(relative**2 * mean_square))
    with np.errstate(divide="ignore", over="ignore"):
        # A feature whose differences are negligible next to the others gets
        # a huge weight: its coefficient stays at (practically) zero.
        return np.minimum((s_relative / (relative * rms)) ** 2, 1e300)


class _PairLoss:
    """Weighted mean loss and its gradient in standardised coordinates.

    The optimisation variable is ``c = coef * s`` (``s`` the standardising
    scale, in units of the prepared differences), so that every coordinate
    has the same scale; the margin is ``unit @ (c / s)``.

    One call is one pass over the differences, block by block: the margins
    of a block, then its loss and residuals from one ``exp(-|margin|)``
    (NumPy's vectorised ``exp``/``log1p``, several times faster than SciPy's
    scalar ``expit``/``log_expit`` loops), then its share of the gradient
    while the block is still in cache. Work buffers are allocated once per
    fit, so an L-BFGS step allocates no ``(n_pairs,)`` temporaries. The
    blocks are fixed, so the result is deterministic.

    Parameters
    ----------
    unit : ndarray of shape (n_pairs, n_features)
        Differences (any fixed per-feature scale), row-major.
    rms : ndarray of shape (n_features,)
        Per-feature scale dividing ``c`` before the product with ``unit``.
    penalty : ndarray of shape (n_features,)
        Per-coordinate weights of the penalty on ``c`` (see
        :func:`_penalty_weights`).
    target, weight : ndarray of shape (n_pairs,)
        Targets and weights summing to one (or all zero).
    alpha : float
        Penalty ``alpha / 2 * sum(penalty * c**2)``.
    loss : {"log", "squared"}
    """

    def __init__(self, unit, rms, penalty, target, weight, alpha, loss):
        self.unit = unit
        self.inv_rms = 1.0 / rms
        self.alpha = alpha
        self.penalty = penalty
        self.target = target
        self.weight = weight
        n = unit.shape[0]
        block = min(n, _BLOCK_PAIRS)
        self.blocks = [slice(i, min(i + block, n)) for i in range(0, n, block)]
        self.margin, self.work, self.extra = np.empty((3, block))
        self.positive = np.empty(block, dtype=bool)
        if loss == "log":
            self.weight_target = weight * target
            self.weight_rest = weight * (1.0 - target)
            self.log = True
        else:
            self.log = False

    def __call__(self, coef):
        scaled = coef * self.inv_rms
        loss = 0.0
        gradient = np.zeros(coef.shape[0])
        for rows in self.blocks:
            block = self.unit[rows]
            # Dispatched here, not through a stored bound method: that would
            # be a reference cycle keeping every fit's differences alive
            # until the garbage collector happens to run.
            evaluate = self._log if self.log else self._squared
            part, factor = evaluate(block, scaled, rows)
            loss += part
            gradient += block.T @ factor
        gradient *= self.inv_rms
        weighted = self.penalty * coef
        return (
            loss + 0.5 * self.alpha * (coef @ weighted),
            gradient + self.alpha * weighted,
        )

    def _exp_margin(self, block, coef):
        """Margin ``m``, ``exp(-|m|)`` (in (0, 1]: never overflows), ``m >= 0``."""
        size = block.shape[0]
        margin = np.dot(block, coef, out=self.margin[:size])
        small = np.abs(margin, out=self.work[:size])
        np.negative(small, out=small)
        np.exp(small, out=small)
        positive = np.greater_equal(margin, 0.0, out=self.positive[:size])
        return margin, small, positive

    def _sigmoid(self, small, positive):
        """``sigmoid(m)``: ``1 / (1 + e)`` where ``m >= 0``, else ``e / (1 + e)``."""
        denominator = np.add(small, 1.0, out=self.extra[: small.shape[0]])
        np.copyto(small, 1.0, where=positive)
        return np.divide(small, denominator, out=small)

    def _log(self, block, coef, rows):
        # -[t log s(m) + (1 - t) log s(-m)] = (1 - t) m - log s(m), and
        # -log s(m) = log1p(exp(-|m|)) - min(m, 0); the derivative is s(m) - t.
        margin, small, positive = self._exp_margin(block, coef)
        weight = self.weight[rows]
        log_term = np.log1p(small, out=self.extra[: small.shape[0]])
        loss = self.weight_rest[rows] @ margin + weight @ log_term
        loss -= weight @ np.minimum(margin, 0.0, out=log_term)
        prob = self._sigmoid(small, positive)
        prob *= weight
        prob -= self.weight_target[rows]
        return loss, prob

    def _squared(self, block, coef, rows):
        margin, small, positive = self._exp_margin(block, coef)
        # s(m) (1 - s(m)) = e / (1 + e)**2 with e = exp(-|m|), exact in both tails.
        slope = np.add(small, 1.0, out=margin)
        np.square(slope, out=slope)
        np.divide(small, slope, out=slope)
        prob = self._sigmoid(small, positive)
        residual = np.subtract(prob, self.target[rows], out=prob)
        weighted = np.multiply(residual, self.weight[rows], out=self.extra[: len(prob)])
        loss = weighted @ residual
        # d/dm (s(m) - t)**2 = 2 (s(m) - t) s(m) (1 - s(m))
        weighted *= slope
        weighted *= 2.0
        return loss, weighted


def _log_loss(coef, diff, target, weight, alpha):
    """Log-loss objective on raw differences (``alpha / 2 * ||coef||**2``)."""
    ones = np.ones(diff.shape[1])
    return _PairLoss(diff, ones, ones, target, weight, alpha, "log")(coef)


def _squared_loss(coef, diff, target, weight, alpha):
    """Squared-loss objective on raw differences (``alpha / 2 * ||coef||**2``)."""
    ones = np.ones(diff.shape[1])
    return _PairLoss(diff, ones, ones, target, weight, alpha, "squared")(coef)
