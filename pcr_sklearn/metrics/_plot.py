"""``PairCalibrationDisplay`` and the helpers the package's Displays share.

scikit-learn's Display API. matplotlib is imported inside ``plot`` only, so
``import pcr_sklearn.metrics`` never imports it; estimators are duck-typed, as
this data layer must not import the ensemble.
"""

from __future__ import annotations

import copy
from dataclasses import KW_ONLY, dataclass
from numbers import Integral
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..utils.validation import check_pair_weights, rescale_weights
from ._calibration import _check_probabilities, calibration_error

if TYPE_CHECKING:
    from typing import Self

    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

_SMALL = {"fontsize": "small", "title_fontsize": "small"}


def _axes(ax, what):
    """``ax`` and its figure; new ones when ``ax`` is None."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is installed here
        raise ImportError(f"{what} needs matplotlib: pip install matplotlib") from exc
    ax = plt.subplots()[1] if ax is None else ax
    return ax, ax.figure


def _require(estimator, method, caller):
    if not callable(getattr(estimator, method, None)):
        raise TypeError(
            f"{caller} needs an estimator with a {method}() method; "
            f"{type(estimator).__name__} has none."
        )


def _vote_of(estimator):
    get_params = getattr(estimator, "get_params", None)
    return get_params(deep=False).get("vote") if callable(get_params) else None


def _estimator_name(estimator):
    vote = _vote_of(estimator)
    return type(estimator).__name__ + ("" if vote is None else f" ({vote} votes)")


def _with_vote(estimator, vote):
    """A shallow copy voting ``vote`` (``clone`` would lose the fit)."""
    if vote is None:
        return estimator
    if vote not in ("hard", "soft"):
        raise ValueError(f"vote must be None, 'hard' or 'soft', got {vote!r}.")
    if _vote_of(estimator) is None:
        raise ValueError(
            f"vote={vote!r} needs an estimator with a 'vote' parameter; "
            f"{type(estimator).__name__} has none. Use vote=None."
        )
    return copy.copy(estimator).set_params(vote=vote)


def _check_labels(y_true, sample_weight):
    y_true = _check_probabilities(y_true, "y_true")
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty; need at least one pair.")
    return y_true, check_pair_weights(sample_weight, y_true.size, allow_all_zero=False)


def _check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")


def _hline(ax, value, label, style):
    """A labelled horizontal line; one of the same label on ``ax`` is reused.

    Curves on one axis share their floors: drawing one again would only
    repeat its legend entry.
    """
    for line in ax.get_lines():
        if line.get_label() == label:
            return line
    return ax.axhline(value, label=label, linewidth=1.2, gid="reference", **style)


def _bin_shares(y_true, y_prob, weights, n_bins, strategy):
    """Weighted mean label and prediction, and pair count, per non-empty bin.

    Bins are ``(lo, hi]`` (the first closed) as in scikit-learn's
    ``calibration_curve``, which this matches on binary labels; quantile edges
    are unweighted. Bins holding pairs of positive weight are kept, and
    ``counts`` counts those pairs.
    """
    _check_int(n_bins, "n_bins", 1)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(y_prob, np.linspace(0.0, 100.0, n_bins + 1))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}.")
    ids = np.searchsorted(edges[1:-1], y_prob)
    weights = rescale_weights(weights)  # so that the sums cannot overflow
    counts = np.bincount(ids[weights > 0], minlength=n_bins)
    keep = counts > 0
    total = np.bincount(ids, weights, minlength=n_bins)[keep]
    prob_true = np.bincount(ids, weights * y_true, minlength=n_bins)[keep] / total
    prob_pred = np.bincount(ids, weights * y_prob, minlength=n_bins)[keep] / total
    return prob_true, prob_pred, counts[keep]


@dataclass(eq=False, repr=False)
class PairCalibrationDisplay:
    """Pairwise calibration curve: predicted against observed share preferring A.

    Pairs are binned by predicted share ``P(A preferred)``; a bin is drawn at
    its mean prediction and mean soft label, marker area proportional to its
    pairs; calibrated models lie on the diagonal. Calls of
    :meth:`from_estimator` or :meth:`from_predictions` on one ``ax`` add curves.

    Parameters
    ----------
    prob_true, prob_pred : ndarray of shape (n_nonempty_bins,)
        Mean soft label and mean predicted share of each non-empty bin.
    counts : ndarray of shape (n_nonempty_bins,)
        Pairs per bin (they sum to the number of pairs of positive weight).
    y_prob : ndarray of shape (n_pairs,)
        Predicted shares preferring A.
    calibration_error : float, default=None
        Pairwise calibration error of ``y_prob`` (lower is better).
    estimator_name : str, default=None
        Legend name of the curve.

    Attributes
    ----------
    line_ : matplotlib Line2D
    scatter_ : matplotlib PathCollection
        The bins; marker area proportional to ``counts`` over all pairs.
    ax_, figure_ : matplotlib Axes and Figure

    See Also
    --------
    sklearn.calibration.CalibrationDisplay : The same for binary labels.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from pcr_sklearn import PairwiseCalibratedEnsemble
    >>> from pcr_sklearn.metrics import PairCalibrationDisplay
    >>> a, b = np.random.default_rng(0).normal(size=(2, 400, 3))
    >>> X, p = np.hstack([a, b]), 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    >>> est = PairwiseCalibratedEnsemble(n_estimators=8, random_state=0).fit(X, p)
    >>> disp = PairCalibrationDisplay.from_estimator(est, X, p, n_bins=5)
    >>> soft = PairCalibrationDisplay.from_estimator(
    ...     est, X, p, vote="soft", n_bins=5, ax=disp.ax_
    ... )
    >>> int(soft.counts.sum()), len(soft.ax_.collections)
    (400, 2)
    >>> matplotlib.pyplot.close("all")
    """

    prob_true: np.ndarray
    prob_pred: np.ndarray
    counts: np.ndarray
    y_prob: np.ndarray
    _: KW_ONLY
    calibration_error: float | None = None
    estimator_name: str | None = None

    def plot(
        self,
        ax: Axes | None = None,
        *,
        name: str | None = None,
        ref_line: bool = True,
        **kwargs: Any,
    ) -> Self:
        """Draw the curve (on ``ax``, keeping what is there, or a new figure).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None``: a new figure.
        name : str, default=None
            Legend name; ``None``: ``estimator_name``.
        ref_line : bool, default=True
            Draw the diagonal (once per axis).
        **kwargs : dict
            For :meth:`matplotlib.axes.Axes.plot` of the curve.

        Returns
        -------
        display : PairCalibrationDisplay
            This display, with ``line_``, ``scatter_``, ``ax_`` and
            ``figure_`` set.
        """
        self.ax_, self.figure_ = _axes(ax, "PairCalibrationDisplay.plot")
        label = self.estimator_name if name is None else name
        if self.calibration_error is not None:
            error = f"CE {self.calibration_error:.4f}"
            label = error if label is None else f"{label}, {error}"
        diagonal = "perfectly calibrated"
        if ref_line and diagonal not in self.ax_.get_legend_handles_labels()[1]:
            self.ax_.plot([0, 1], [0, 1], ":", color="black", label=diagonal)
        pred, true = self.prob_pred, self.prob_true
        self.line_ = self.ax_.plot(pred, true, label=label, **kwargs)[0]
        # Area relative to all pairs, so that curves on one axis compare.
        area = 10.0 + 500.0 * np.asarray(self.counts) / np.sum(self.counts)
        color = self.line_.get_color()
        points = {"color": color, "alpha": 0.7, "edgecolors": "white", "zorder": 3}
        self.scatter_ = self.ax_.scatter(pred, true, area, **points)
        self.ax_.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal")
        self.ax_.set_xlabel("predicted share preferring A (bin mean)")
        self.ax_.set_ylabel("observed vote share for A (bin mean)")
        legend_title = "area ∝ pairs per bin"
        if self.calibration_error is not None:
            legend_title = "CE: calibration error, lower is better\n" + legend_title
        self.ax_.legend(loc="lower right", title=legend_title, **_SMALL)
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true: ArrayLike,
        y_prob: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        n_bins: int = 10,
        strategy: Literal["uniform", "quantile"] = "uniform",
        **kw: Any,
    ) -> Self:
        """Bin predicted shares against soft labels, and plot.

        Parameters
        ----------
        y_true : array-like of shape (n_pairs,)
            Soft labels in [0, 1].
        y_prob : array-like of shape (n_pairs,) or (n_pairs, 2)
            Predicted share preferring A (``predict_proba``: column 1).
        sample_weight : array-like of shape (n_pairs,), default=None
            Pair weights, for the bin means and the error.
        n_bins : int, default=10
            Number of bins; empty bins are not drawn.
        strategy : {"uniform", "quantile"}, default="uniform"
            Equal-width bins on [0, 1], or quantiles of ``y_prob`` (tied
            predictions share a bin: hard votes of few members give fewer).
        **kw : dict
            ``name``, ``ax``, ``ref_line`` and line styles, for :meth:`plot`.

        Returns
        -------
        display : PairCalibrationDisplay
            The plotted display.
        """
        y_true, weights = _check_labels(y_true, sample_weight)
        y_prob = _check_probabilities(y_prob, "y_prob", n=y_true.shape[0])
        binned = _bin_shares(y_true, y_prob, weights, n_bins, strategy)
        error = calibration_error(y_true, y_prob, sample_weight=weights)
        name = kw.pop("name", None)
        display = cls(*binned, y_prob, calibration_error=error, estimator_name=name)
        return display.plot(**kw)

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        X: ArrayLike,
        y: ArrayLike,
        *,
        vote: Literal["hard", "soft"] | None = None,
        name: str | None = None,
        **kw: Any,
    ) -> Self:
        """Plot the calibration of a fitted estimator's ``predict_proba`` on X, y.

        Parameters
        ----------
        estimator : fitted estimator
            Anything with ``predict_proba`` returning the share preferring A
            in column 1, e.g. a fitted ensemble or baseline.
        X : array-like of pairs
            Pairs in any layout ``estimator`` accepts.
        y : array-like of shape (n_pairs,)
            Their soft labels.
        vote : {None, "hard", "soft"}, default=None
            ``None``: the estimator's own; else a shallow copy with
            ``set_params(vote=vote)`` predicts (it needs a ``vote`` parameter).
        name : str, default=None
            Legend name; ``None``: the class name and vote mode.
        **kw : dict
            As for :meth:`from_predictions` (``n_bins``, ``ax``, ...).

        Returns
        -------
        display : PairCalibrationDisplay
            The plotted display.
        """
        _require(estimator, "predict_proba", "PairCalibrationDisplay.from_estimator")
        estimator = _with_vote(estimator, vote)
        name = _estimator_name(estimator) if name is None else name
        return cls.from_predictions(y, estimator.predict_proba(X), name=name, **kw)
