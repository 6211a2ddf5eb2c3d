"""``StagedErrorDisplay``: held-out calibration error against ``k``."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np

from ._calibration import (
    _check_probabilities,
    calibration_error,
    single_reward_floor,
)
from ._noise import noise_floor
from ._plot import (
    _SMALL,
    _axes,
    _check_labels,
    _estimator_name,
    _hline,
    _require,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Self

    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

# StagedErrorDisplay's reference lines: artist, value, (label, style); greys,
# so that they never take a colour of the curves' cycle.
_REFERENCES = {
    ("floor_line_", "floor"): ("single-reward floor", {"c": "k", "ls": "--"}),
    ("noise_floor_line_", "noise_floor"): ("noise floor", {"c": "0.5", "ls": "-."}),
    ("baseline_line_", "baseline_error"): (None, {"c": "0.3", "ls": ":"}),
}


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
    baseline_label : str, default=None
        Legend name of the baseline.
    chosen_k : int, default=None
        The ``k`` a model selection chose, starred.
    estimator_name : str, default=None
        Legend name of the curve.

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

    def plot(
        self, ax: Axes | None = None, *, name: str | None = None, **kwargs: Any
    ) -> Self:
        """Draw the curve and the reference lines (on ``ax``, or a new figure).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None``: a new figure.
        name : str, default=None
            Legend name; ``None``: ``estimator_name``.
        **kwargs : dict
            For :meth:`matplotlib.axes.Axes.plot` of the curve.

        Returns
        -------
        display : StagedErrorDisplay
            This display, with ``line_``, the reference lines, ``ax_`` and
            ``figure_`` set.
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
        cls,
        y_true: ArrayLike,
        staged_probas: Iterable[ArrayLike],
        *,
        sample_weight: ArrayLike | None = None,
        n_votes: ArrayLike | None = None,
        **kw: Any,
    ) -> Self:
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
    def from_estimator(
        cls,
        estimator: Any,
        X: ArrayLike,
        y: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        **kw: Any,
    ) -> Self:
        """Held-out error of every prefix of a fitted ensemble, and plot.

        Parameters
        ----------
        estimator : fitted estimator with ``staged_predict_proba``
            Yielding the predictions of its first ``k = 1, 2, ...`` members.
        X : array-like of pairs
            Held-out pairs, in any layout ``estimator`` accepts.
        y : array-like of shape (n_pairs,)
            Their soft labels.
        sample_weight : array-like of shape (n_pairs,), default=None
            Pair weights, for the errors and both floors.
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
    def from_cv_results(
        cls,
        cv: Any,
        y: ArrayLike | None = None,
        *,
        sample_weight: ArrayLike | None = None,
        n_votes: ArrayLike | None = None,
        **kw: Any,
    ) -> Self:
        """Mean CV error against ``k`` of the chosen grid point, with a std band.

        From a :class:`~pcr_sklearn.PairwiseCalibratedEnsembleCV` (or anything
        with its ``cv_results_``, ``best_params_``, ``k_``) fitted with the
        default scoring or ``calibration_scorer``: ``-mean_test_score`` and
        ``std_test_score`` of the chosen grid point's rows; ``k_`` starred.

        Parameters
        ----------
        cv : fitted PairwiseCalibratedEnsembleCV-like object
            Its ``cv_results_``, ``best_params_`` and ``k_`` are read.
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
