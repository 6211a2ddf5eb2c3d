"""Displays of pairwise calibration, of the error along ``k``, of member agreement.

scikit-learn's Display API. matplotlib is imported inside ``plot`` only, so
``import pcr_sklearn.metrics`` never imports it; estimators are duck-typed, as
this data layer must not import the ensemble.
"""

import copy
from dataclasses import KW_ONLY, dataclass
from numbers import Integral, Real

import numpy as np

from ..utils.validation import check_pair_weights, rescale_weights
from ._agreement import kendall_tau_matrix
from ._calibration import _check_probabilities, calibration_error, single_reward_floor
from ._noise import noise_floor

# StagedErrorDisplay's reference lines: artist, value, (label, style); greys,
# so that they never take a colour of the curves' cycle.
_REFERENCES = {
    ("floor_line_", "floor"): ("single-reward floor", {"c": "k", "ls": "--"}),
    ("noise_floor_line_", "noise_floor"): ("noise floor", {"c": "0.5", "ls": "-."}),
    ("baseline_line_", "baseline_error"): (None, {"c": "0.3", "ls": ":"}),
}
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

    def plot(self, ax=None, *, name=None, ref_line=True, **kwargs):
        """Draw the curve (on ``ax``, keeping what is there, or a new figure).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        name : str, default=None
            Legend name; ``None``: ``estimator_name``.
        ref_line : bool, default=True
            Draw the diagonal (once per axis).
        **kwargs : dict
            For :meth:`matplotlib.axes.Axes.plot` of the curve.

        Returns
        -------
        display : PairCalibrationDisplay
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
        self.ax_.legend(loc="lower right", title="area ∝ pairs per bin", **_SMALL)
        return self

    @classmethod
    def from_predictions(
        cls, y_true, y_prob, *, sample_weight=None, n_bins=10, strategy="uniform", **kw
    ):
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
        strategy : {"uniform", "quantile"}, default="uniform"
            Equal-width bins on [0, 1], or quantiles of ``y_prob`` (tied
            predictions share a bin: hard votes of few members give fewer).
        **kw : dict
            ``name``, ``ax``, ``ref_line`` and line styles, for :meth:`plot`.

        Returns
        -------
        display : PairCalibrationDisplay
        """
        y_true, weights = _check_labels(y_true, sample_weight)
        y_prob = _check_probabilities(y_prob, "y_prob", n=y_true.shape[0])
        binned = _bin_shares(y_true, y_prob, weights, n_bins, strategy)
        error = calibration_error(y_true, y_prob, sample_weight=weights)
        name = kw.pop("name", None)
        display = cls(*binned, y_prob, calibration_error=error, estimator_name=name)
        return display.plot(**kw)

    @classmethod
    def from_estimator(cls, estimator, X, y, *, vote=None, name=None, **kw):
        """Plot the calibration of a fitted estimator's ``predict_proba`` on X, y.

        Parameters
        ----------
        estimator : fitted estimator with ``predict_proba``
        X, y : pairs and their soft labels
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
        """
        _require(estimator, "predict_proba", "PairCalibrationDisplay.from_estimator")
        estimator = _with_vote(estimator, vote)
        name = _estimator_name(estimator) if name is None else name
        return cls.from_predictions(y, estimator.predict_proba(X), name=name, **kw)


def _baseline(baseline, X=None, y=None, weights=None):
    """``(label, error)`` of a baseline: given as such, or an estimator on X, y."""
    if baseline is None:
        return None, None
    if X is not None and callable(getattr(baseline, "predict_proba", None)):
        error = calibration_error(y, baseline.predict_proba(X), sample_weight=weights)
        return _estimator_name(baseline), error
    if isinstance(baseline, tuple | list) and len(baseline) == 2:
        label, error = baseline
        if isinstance(label, str) and isinstance(error, Real) and 0 <= error < np.inf:
            return label, float(error)
    raise ValueError(
        "baseline must be None, a (label, error) pair with a finite error >= 0 or "
        f"(from_estimator only) an estimator with predict_proba; got {baseline!r}."
    )


def _floors(y, weights, n_votes):
    """Single-reward floor and noise floor (None without ``n_votes``) of ``y``."""
    floor = single_reward_floor(y, sample_weight=weights)
    noise = None if n_votes is None else noise_floor(y, n_votes, sample_weight=weights)
    return {"floor": floor, "noise_floor": noise}


@dataclass(eq=False, repr=False)
class StagedErrorDisplay:
    """Held-out calibration error against the number of members ``k``.

    With the levels that put it in scale: the :func:`single_reward_floor` (no
    single hard-vote reward goes below it), the :func:`noise_floor` when the
    numbers of votes are known (no predictor goes below it in expectation) and
    an optional baseline (e.g. a soft Bradley-Terry model). Calls of the
    ``from_*`` methods on one ``ax`` add curves (floors are drawn once).

    Parameters
    ----------
    k, errors : ndarray of shape (n_stages,)
        Numbers of members and the calibration error at each (lower is better).
    errors_std : ndarray of shape (n_stages,), default=None
        Standard deviation over CV folds, drawn as a band.
    floor, noise_floor, baseline_error : float, default=None
        Reference levels; ``None`` draws none.
    baseline_label, estimator_name : str, default=None
        Legend names of the baseline and the curve.
    chosen_k : int, default=None
        The ``k`` a model selection chose, starred.

    Attributes
    ----------
    line_ : matplotlib Line2D
    band_ : matplotlib PolyCollection or None
    floor_line_, noise_floor_line_, baseline_line_ : matplotlib Line2D or None
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from pcr_sklearn.metrics import StagedErrorDisplay
    >>> y, staged = [0.8, 0.4, 0.6, 1.0], [[1, 0, 1, 1], [0.75, 0.5, 0.5, 1]]
    >>> disp = StagedErrorDisplay.from_predictions(
    ...     y, staged, n_votes=[5, 5, 5, 5], baseline=("soft BT", 0.03)
    ... )
    >>> disp.k.tolist(), disp.errors.round(4).tolist()
    ([1, 2], [0.09, 0.0056])
    >>> round(disp.floor, 4), round(disp.noise_floor, 4)
    (0.09, 0.04)
    >>> matplotlib.pyplot.close("all")
    """

    k: np.ndarray
    errors: np.ndarray
    _: KW_ONLY
    errors_std: np.ndarray | None = None
    floor: float | None = None
    noise_floor: float | None = None
    baseline_error: float | None = None
    baseline_label: str | None = None
    chosen_k: int | None = None
    estimator_name: str | None = None

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw the curve and the reference lines (on ``ax``, or a new figure).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        name : str, default=None
            Legend name; ``None``: ``estimator_name``.
        **kwargs : dict
            For :meth:`matplotlib.axes.Axes.plot` of the curve.

        Returns
        -------
        display : StagedErrorDisplay
        """
        self.ax_, self.figure_ = _axes(ax, "StagedErrorDisplay.plot")
        from matplotlib.ticker import MaxNLocator

        k, errors = np.asarray(self.k), np.asarray(self.errors)
        name = self.estimator_name if name is None else name
        style = {"marker": "o", "markersize": 4, "label": name, **kwargs}
        self.line_ = self.ax_.plot(k, errors, **style)[0]
        color = self.line_.get_color()
        self.band_ = None
        if self.errors_std is not None:
            low, high = errors - self.errors_std, errors + self.errors_std
            self.band_ = self.ax_.fill_between(
                k, low, high, color=color, alpha=0.2, label="± 1 std over folds"
            )
        if self.chosen_k is not None:
            at = k == self.chosen_k
            label = f"chosen k = {self.chosen_k}"
            self.ax_.plot(k[at], errors[at], "*", ms=14, c=color, label=label)
        baseline = self.baseline_label or "baseline"
        for (attribute, source), (label, style) in _REFERENCES.items():
            value, line = getattr(self, source), None
            if value is not None:
                label = f"{label or baseline} = {value:.4f}"
                line = _hline(self.ax_, value, label, style)
            setattr(self, attribute, line)
        self.ax_.xaxis.set_major_locator(MaxNLocator(integer=True))
        self.ax_.set_xlabel("k (number of members)")
        self.ax_.set_ylabel("held-out calibration error (lower is better)")
        # Curves first, then the reference lines they share.
        handles = self.ax_.get_legend_handles_labels()[0]
        handles.sort(key=lambda handle: handle.get_gid() == "reference")
        self.ax_.legend(handles=handles, loc="best", **_SMALL)
        return self

    @classmethod
    def from_predictions(
        cls, y_true, staged_probas, *, sample_weight=None, n_votes=None, **kw
    ):
        """Errors of staged predictions against soft labels, and plot.

        Parameters
        ----------
        y_true : array-like of shape (n_pairs,)
            Held-out soft labels in [0, 1].
        staged_probas : iterable of array-like of shape (n_pairs,) or (n_pairs, 2)
            Predicted shares with ``k = 1, 2, ...`` members, read once (e.g.
            ``staged_predict_proba(X)``), or an array (n_stages, n_pairs).
        sample_weight : array-like of shape (n_pairs,), default=None
            Pair weights, for the errors and both floors.
        n_votes : array-like of shape (n_pairs,), default=None
            Votes behind each soft label; given, the noise floor is drawn.
        **kw : dict
            ``baseline=(label, error)``, drawn dotted; ``k``, the ``k`` of each
            stage (default 1, 2, ...); ``name``, ``ax``, line styles.

        Returns
        -------
        display : StagedErrorDisplay
        """
        y_true, weights = _check_labels(y_true, sample_weight)
        levels = _floors(y_true, weights, n_votes)
        label, error = _baseline(kw.pop("baseline", None))
        errors = []
        for j, proba in enumerate(staged_probas):
            proba = _check_probabilities(proba, f"staged_probas[{j}]", y_true.size)
            errors.append(calibration_error(y_true, proba, sample_weight=weights))
        if not errors:
            raise ValueError("staged_probas is empty; need at least one stage.")
        k = kw.pop("k", None)
        k = np.arange(1, len(errors) + 1) if k is None else np.ravel(k)
        if k.shape != (len(errors),):
            raise ValueError(f"k has {k.size} entries for {len(errors)} stages.")
        levels.update(baseline_label=label, baseline_error=error)
        levels["estimator_name"] = kw.pop("name", None)
        return cls(k, np.asarray(errors), **levels).plot(**kw)

    @classmethod
    def from_estimator(cls, estimator, X, y, *, sample_weight=None, **kw):
        """Held-out error of every prefix of a fitted ensemble, and plot.

        Parameters
        ----------
        estimator : fitted estimator with ``staged_predict_proba``
            Yielding the predictions of its first ``k = 1, 2, ...`` members.
        X, y : held-out pairs and their soft labels
        sample_weight : array-like of shape (n_pairs,), default=None
        **kw : dict
            As for :meth:`from_predictions` (``n_votes``, ``name``, ``ax``,
            ...); ``baseline`` may also be an estimator with
            ``predict_proba``, whose error on ``X, y`` is drawn (e.g. a soft
            Bradley-Terry model). ``name`` defaults to the class and vote mode.

        Returns
        -------
        display : StagedErrorDisplay
        """
        _require(estimator, "staged_predict_proba", "StagedErrorDisplay.from_estimator")
        baseline = kw.get("baseline")
        if callable(getattr(baseline, "predict_proba", None)):
            kw["baseline"] = _baseline(baseline, X, *_check_labels(y, sample_weight))
        kw.setdefault("name", _estimator_name(estimator))
        staged = estimator.staged_predict_proba(X)
        return cls.from_predictions(y, staged, sample_weight=sample_weight, **kw)

    @classmethod
    def from_cv_results(cls, cv, y=None, *, sample_weight=None, n_votes=None, **kw):
        """Mean CV error against ``k`` of the chosen grid point, with a std band.

        From a :class:`~pcr_sklearn.PairwiseCalibratedEnsembleCV` (or anything
        with its ``cv_results_``, ``best_params_``, ``k_``) fitted with the
        default scoring or ``calibration_scorer``: ``-mean_test_score`` and
        ``std_test_score`` of the chosen grid point's rows; ``k_`` starred.

        Parameters
        ----------
        cv : fitted PairwiseCalibratedEnsembleCV-like object
        y : array-like of shape (n_pairs,), default=None
            The soft labels the CV ran on; given, their floors are drawn.
        sample_weight, n_votes : array-like of shape (n_pairs,), default=None
            As for :meth:`from_predictions`; they need ``y``.
        **kw : dict
            ``baseline=(label, error)``, ``name`` (default: the class name and
            "CV mean"), ``ax`` and line styles.

        Returns
        -------
        display : StagedErrorDisplay
        """
        k, mean, std = _best_grid_point(cv)
        if y is None and (sample_weight is not None or n_votes is not None):
            raise ValueError("sample_weight and n_votes need y, the soft labels.")
        levels = {} if y is None else _floors(*_check_labels(y, sample_weight), n_votes)
        label, error = _baseline(kw.pop("baseline", None))
        levels.update(baseline_label=label, baseline_error=error, errors_std=std)
        levels["chosen_k"] = getattr(cv, "k_", None)
        levels["estimator_name"] = kw.pop("name", f"{type(cv).__name__} (CV mean)")
        return cls(k, -mean, **levels).plot(**kw)


def _best_grid_point(cv):
    """``k``, mean and std test score of the rows of ``cv``'s chosen grid point."""
    results = getattr(cv, "cv_results_", None)
    best = getattr(cv, "best_params_", None)
    if results is None or best is None:
        raise ValueError(
            "from_cv_results needs a fitted PairwiseCalibratedEnsembleCV-like object "
            f"with cv_results_ and best_params_; {type(cv).__name__} has none."
        )
    scoring = getattr(cv, "scoring", None)
    if getattr(scoring, "_score_func", scoring) not in (None, calibration_error):
        raise ValueError(
            "from_cv_results plots -mean_test_score as the calibration error; "
            f"scoring={scoring!r} is another score."
        )
    params, point = results["params"], {**best, "n_estimators": None}
    rows = [i for i, q in enumerate(params) if {**q, "n_estimators": None} == point]
    rows = sorted(rows, key=lambda i: params[i]["n_estimators"])
    k = np.array([params[i]["n_estimators"] for i in rows])
    mean = np.asarray(results["mean_test_score"], dtype=np.float64)[rows]
    return k, mean, np.asarray(results["std_test_score"], dtype=np.float64)[rows]


@dataclass(eq=False, repr=False)
class MemberAgreementDisplay:
    """How alike the members rank items: Kendall-tau heatmap and member weights.

    A cell is the Kendall rank correlation of two members' rewards over the
    items (:func:`kendall_tau_matrix`): 1 for alike rankings, -1 for opposite
    ones, grey "n/a" for a member with constant rewards. A bar strip above
    shows the weights. Create one with :meth:`from_estimator`/:meth:`from_rewards`.

    Parameters
    ----------
    tau : ndarray of shape (n_shown, n_shown)
        Kendall tau of the shown members.
    weights : ndarray of shape (n_shown,)
        Their weights in the ensemble (not renormalised).
    members : ndarray of shape (n_shown,), default=None
        Their indices in the ensemble; ``None``: ``0 .. n_shown - 1``.
    n_members : int, default=None
        Size of the ensemble; ``None``: ``n_shown``.

    Attributes
    ----------
    im_ : matplotlib AxesImage
        The heatmap, on ``ax_``.
    bars_ : matplotlib BarContainer
        The weight strip, on ``weights_ax_``.
    colorbar_ : matplotlib Colorbar or None
    text_ : ndarray of matplotlib Text of shape (n_shown, n_shown), or None
    ax_, weights_ax_, figure_ : matplotlib Axes, Axes and Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from pcr_sklearn.metrics import MemberAgreementDisplay
    >>> rewards = np.array([[1.0, 3.0, 1.0], [2.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    >>> disp = MemberAgreementDisplay.from_rewards(rewards, [0.5, 0.3, 0.2])
    >>> disp.tau.round(2)
    array([[ 1.  , -1.  ,  0.33],
           [-1.  ,  1.  , -0.33],
           [ 0.33, -0.33,  1.  ]])
    >>> matplotlib.pyplot.close("all")
    """

    tau: np.ndarray
    weights: np.ndarray
    _: KW_ONLY
    members: np.ndarray | None = None
    n_members: int | None = None

    def plot(self, ax=None, *, include_values=None, cmap="RdBu_r", colorbar=True):
        """Draw the heatmap, the weight strip and the colorbar.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes of the heatmap; the strip and the colorbar are split off it.
        include_values : bool, default=None
            Write tau in the cells; ``None``: when at most 10 members show.
        cmap : str or matplotlib Colormap, default="RdBu_r"
            Diverging colormap on [-1, 1].
        colorbar : bool, default=True

        Returns
        -------
        display : MemberAgreementDisplay
        """
        self.ax_, self.figure_ = _axes(ax, "MemberAgreementDisplay.plot")
        from matplotlib import colormaps
        from mpl_toolkits.axes_grid1 import make_axes_locatable

        tau, weights = np.asarray(self.tau), np.asarray(self.weights)
        n = weights.size
        colormap = colormaps.get_cmap(cmap).with_extremes(bad="0.85")  # NaN: grey
        masked = np.ma.masked_invalid(tau)
        self.im_ = self.ax_.imshow(masked, cmap=colormap, vmin=-1.0, vmax=1.0)
        divider = make_axes_locatable(self.ax_)
        self.weights_ax_ = divider.append_axes("top", size="25%", pad=0.08)
        self.bars_ = self.weights_ax_.bar(np.arange(n), weights, color="0.4")
        self.weights_ax_.set(xlim=self.ax_.get_xlim(), xticks=[], ylabel="weight")
        if (self.n_members or n) > n:
            shown = f"{weights.sum():.2f} of the weight"
            title = f"showing {n} of {self.n_members} members ({shown})"
            self.weights_ax_.set_title(title, fontsize="small")
        self.colorbar_ = None
        if colorbar:
            cax = divider.append_axes("right", size="5%", pad=0.08)
            self.colorbar_ = self.figure_.colorbar(self.im_, cax=cax)
            self.colorbar_.set_label("Kendall tau")
        labels = [str(m) for m in (range(n) if self.members is None else self.members)]
        self.ax_.set_xticks(range(n), labels, rotation=90 if n > 10 else 0)
        self.ax_.set_yticks(range(n), labels)
        self.ax_.set(xlabel="member", ylabel="member")
        self.text_ = None
        if include_values or (include_values is None and n <= 10):
            self.text_ = np.empty((n, n), dtype=object)
            for i, j in np.ndindex(n, n):
                value = tau[i, j]
                text = "n/a" if np.isnan(value) else f"{value:.2f}"
                color = "white" if abs(value) > 0.6 else "black"  # legible on dark
                style = {"ha": "center", "va": "center", "size": "small", "c": color}
                self.text_[i, j] = self.ax_.text(j, i, text, **style)
        return self

    @classmethod
    def from_rewards(cls, rewards, weights=None, *, max_members=16, **kwargs):
        """Kendall tau of members' rewards, with their weights, and plot.

        Parameters
        ----------
        rewards : array-like of shape (n_items, n_members)
            Column ``j``: member ``j``'s reward of each item.
        weights : array-like of shape (n_members,), default=None
            Member weights; ``None``: equal.
        max_members : int or None, default=16
            Show the heaviest so many members (ties: the first), in member
            order, labelled by index; ``None``: all. Kendall tau costs
            ``O(k^2)`` rank correlations, and larger heatmaps are unreadable.
        **kwargs : dict
            Passed to :meth:`plot` (``ax``, ``include_values``, ...).

        Returns
        -------
        display : MemberAgreementDisplay
        """
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.ndim != 2 or rewards.shape[1] == 0:
            raise ValueError(
                "rewards must be 2-D (n_items, n_members) with at least one "
                f"member, got shape {rewards.shape}."
            )
        k = rewards.shape[1]
        weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights)
        if weights.shape != (k,):
            raise ValueError(f"weights must have shape ({k},), got {weights.shape}.")
        weights = check_pair_weights(weights, k, "weights")  # finite, >= 0
        _check_int(1 if max_members is None else max_members, "max_members", 1)
        members = np.sort(np.argsort(-weights, kind="stable")[:max_members])
        tau = kendall_tau_matrix(rewards[:, members])
        display = cls(tau, weights[members], members=members, n_members=k)
        return display.plot(**kwargs)

    @classmethod
    def from_estimator(cls, estimator, items, *, max_members=16, **kwargs):
        """Agreement of a fitted ensemble's members on ``items``, and plot.

        Parameters
        ----------
        estimator : fitted estimator with ``rewards`` and ``estimator_weights_``
        items : array-like
            Items to rank (one side of a pair), as ``rewards`` takes them.
        max_members, **kwargs : see :meth:`from_rewards`

        Returns
        -------
        display : MemberAgreementDisplay
        """
        _require(estimator, "rewards", "MemberAgreementDisplay.from_estimator")
        rewards = estimator.rewards(items)
        weights = getattr(estimator, "estimator_weights_", None)
        if weights is None:
            name = type(estimator).__name__
            raise ValueError(f"{name} has no estimator_weights_; is it fitted?")
        return cls.from_rewards(rewards, weights, max_members=max_members, **kwargs)
