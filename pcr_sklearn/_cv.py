"""Choosing the number of members from one staged fit per fold.

Every prefix of a fitted ensemble is itself an ensemble
(``staged_predict_proba``), so one fit at the largest ``k`` per fold scores
every ``k`` at once: the ``LogisticRegressionCV`` / ``RidgeCV`` idiom, where
``GridSearchCV`` over ``n_estimators`` would refit every size from scratch.
"""

from __future__ import annotations

import copy
import time
from numbers import Integral
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)

from ._base import BasePairEnsemble
from ._compat import HasMethods, Interval, StrOptions, _fit_context, _num_samples
from ._ensemble import PairwiseCalibratedEnsemble
from ._pairs import check_sample_weight
from ._staged import StagedMixin
from .rewards import LinearReward

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Self

    from numpy.typing import ArrayLike
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import BaseCrossValidator, BaseShuffleSplit

# Largest k tried by n_estimators="auto", per member source.
_AUTO_MAX_K = {"population": 128, "stagewise": 8}
# Fitted attributes of the refitted ensemble that the CV estimator exposes.
_FITTED = (
    "estimator_",
    "estimators_",
    "estimator_weights_",
    "n_estimators_",
    "train_score_",
    "member_disagreement_",
    "classes_",
    "n_features_in_",
    "feature_names_in_",
    "_staged_weights",
)


class PairwiseCalibratedEnsembleCV(StagedMixin, BasePairEnsemble):
    """Pairwise calibrated ensemble with ``k`` (and a small grid) chosen by CV.

    For every fold and every point of ``param_grid``, one ensemble is fitted
    with the largest ``k`` (``n_estimators``); the error of each of its
    prefixes ``k = 1..n_estimators`` on the held-out part scores every size
    at once. The candidate with the best mean score is refitted on all the
    data. With ``members="population"`` a prefix is exactly the smaller
    ensemble; with ``members="stagewise"`` it is the first ``k`` stages with
    the weights that are optimal for them.

    Parameters
    ----------
    estimator : reward learner, default=None
        Base reward learner (see :class:`PairwiseCalibratedEnsemble`).
    n_estimators : int, array-like of int or "auto", default="auto"
        The ``k`` to try. An int: every ``k`` from 1 to it; a list: those
        (all scored from one fit at the largest). ``"auto"``: 1 to 128 for
        ``members="population"``, 1 to 8 for ``members="stagewise"``.
    members : {"population", "stagewise"}, default="population"
        See :class:`PairwiseCalibratedEnsemble`.
    taste : float or "auto", default="auto"
        See :class:`PairwiseCalibratedEnsemble` (unless in ``param_grid``).
    taste_length : float, default=0.5
        See :class:`PairwiseCalibratedEnsemble` (unless in ``param_grid``).
    vote : {"hard", "soft"}, default="hard"
        See :class:`PairwiseCalibratedEnsemble`.
    objective : {"auto", "weighted", "shared", "residual"}, default="auto"
        See :class:`PairwiseCalibratedEnsemble` (stagewise members).
    n_backfit : int, default=5
        See :class:`PairwiseCalibratedEnsemble` (stagewise members).
    param_grid : dict or list of dicts, default=None
        Other parameters of :class:`PairwiseCalibratedEnsemble` to search
        together with ``k``, e.g. ``{"estimator__alpha": [1e-4, 1e-3],
        "taste": [0.75, 1.0]}`` (member regularisation); each point costs
        one fit per fold.
    cv : int, cross-validation generator or iterable, default=None
        Splitter of the pairs. ``None``: 5-fold :class:`~sklearn.model_selection.KFold`.
        To choose for new prompts, split by prompt:
        ``cv=GroupKFold(3)`` and ``fit(X, y, groups=prompt_ids)``.
    scoring : str, callable or None, default=None
        ``None``: minus the pairwise calibration error of ``predict_proba``
        (weighted by ``sample_weight`` when given), computed from the staged
        predictions directly. Otherwise any scikit-learn scorer, called on
        each prefix.
    k_selection : {"best", "one_standard_error"}, default="best"
        ``"best"``: the candidate with the best mean score.
        ``"one_standard_error"``: among the candidates of the best grid point,
        the smallest ``k`` whose mean score is within one standard error of
        the best; the standard error is that of the per-fold *difference* to
        the best ``k`` (every ``k`` shares each fold's split, so the paired
        difference is what varies by chance).
    n_jobs : int, default=None
        Fits run in parallel through joblib (``None``: 1, ``-1``: all
        cores); ``joblib.parallel_config(backend="dask")`` sends them to a
        Dask cluster.
    random_state : int, RandomState instance or None, default=None
        Seeds every fit (each fold and grid point is seeded alike).
    verbose : int, default=0
        Passed to joblib.

    Attributes
    ----------
    best_estimator_ : PairwiseCalibratedEnsemble
        The ensemble refitted on all data with the chosen parameters.
    k_ : int
        The chosen number of members.
    best_params_ : dict
        The chosen parameters, ``n_estimators`` included.
    best_score_ : float
        Mean cross-validated score of the chosen candidate.
    cv_results_ : dict of ndarray
        One entry per candidate (grid point x ``k``): ``params``,
        ``param_<name>``, ``split<i>_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``, ``mean_fit_time`` (of the
        fold fit the candidate is a prefix of) and ``n_member_fits``.
    estimators_, estimator_weights_, n_estimators_, classes_ : see
        :class:`PairwiseCalibratedEnsemble`; those of ``best_estimator_``.
    n_features_in_ : int
        Width of the flat pair layout, or 3 for text pairs.

    See Also
    --------
    PairwiseCalibratedEnsemble : The estimator whose ``k`` this chooses.
    sklearn.model_selection.GridSearchCV : Refits every ``k`` from scratch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GroupKFold
    >>> from pcr_sklearn import PairwiseCalibratedEnsembleCV
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2, 600, 3))
    >>> p = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    >>> prompts = np.arange(600) // 20
    >>> est = PairwiseCalibratedEnsembleCV(
    ...     members="stagewise", n_estimators=4, cv=GroupKFold(3), random_state=0
    ... ).fit(np.hstack([a, b]), p, groups=prompts)
    >>> est.k_ >= 2
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "reward"]), None],
        "n_estimators": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
            "array-like",
        ],
        "members": [StrOptions({"population", "stagewise"})],
        "taste": PairwiseCalibratedEnsemble._parameter_constraints["taste"],
        "taste_length": PairwiseCalibratedEnsemble._parameter_constraints[
            "taste_length"
        ],
        "vote": [StrOptions({"hard", "soft"})],
        "objective": PairwiseCalibratedEnsemble._parameter_constraints["objective"],
        "n_backfit": PairwiseCalibratedEnsemble._parameter_constraints["n_backfit"],
        "param_grid": [dict, list, None],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "k_selection": [StrOptions({"best", "one_standard_error"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        n_estimators: int | ArrayLike | Literal["auto"] = "auto",
        *,
        members: Literal["population", "stagewise"] = "population",
        taste: float | Literal["auto"] = "auto",
        taste_length: float = 0.5,
        vote: Literal["hard", "soft"] = "hard",
        objective: Literal["auto", "weighted", "shared", "residual"] = "auto",
        n_backfit: int = 5,
        param_grid: Mapping[str, Sequence[Any]]
        | Sequence[Mapping[str, Sequence[Any]]]
        | None = None,
        cv: int
        | BaseCrossValidator
        | BaseShuffleSplit
        | Iterable[tuple[ArrayLike, ArrayLike]]
        | None = None,
        scoring: str | Callable[..., float] | None = None,
        k_selection: Literal["best", "one_standard_error"] = "best",
        n_jobs: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.members = members
        self.taste = taste
        self.taste_length = taste_length
        self.vote = vote
        self.objective = objective
        self.n_backfit = n_backfit
        self.param_grid = param_grid
        self.cv = cv
        self.scoring = scoring
        self.k_selection = k_selection
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _template(self):
        # The default learner made explicit, so that a grid may name its
        # parameters (``estimator__alpha``) as the docstring shows.
        estimator = LinearReward() if self.estimator is None else self.estimator
        return PairwiseCalibratedEnsemble(
            estimator,
            n_estimators=self._max_k(),
            members=self.members,
            taste=self.taste,
            taste_length=self.taste_length,
            vote=self.vote,
            objective=self.objective,
            n_backfit=self.n_backfit,
            random_state=self.random_state,
        )

    def _max_k(self):
        return int(self._candidate_ks().max())

    def _candidate_ks(self):
        """The ``k`` values scored, sorted, as an int array."""
        if isinstance(self.n_estimators, str):
            return np.arange(1, _AUTO_MAX_K[self.members] + 1)
        if isinstance(self.n_estimators, Integral):
            return np.arange(1, self.n_estimators + 1)
        ks = np.unique(np.asarray(self.n_estimators).reshape(-1))
        if ks.size == 0 or ks.dtype.kind not in "iu" or ks.min() < 1:
            raise ValueError(
                "n_estimators must be a positive int, 'auto', or a list of "
                f"positive ints, got {self.n_estimators!r}."
            )
        return ks

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        groups: ArrayLike | None = None,
    ) -> Self:
        """Score every ``k`` (and grid point) by CV, then refit the best.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs, as for :meth:`PairwiseCalibratedEnsemble.fit`.
        y : array-like of shape (n_pairs,)
            Soft labels.
        sample_weight : array-like of shape (n_pairs,), default=None
            Pair weights, used in every fit and in the default score.
        groups : array-like of shape (n_pairs,), default=None
            Prompt ids for a group splitter (``cv=GroupKFold(...)``). With
            metadata routing on, they are routed to the splitter.

        Returns
        -------
        self : PairwiseCalibratedEnsembleCV
            The fitted estimator; ``best_estimator_`` is refitted on all pairs.
        """
        template = self._template()
        grid = list(ParameterGrid(self.param_grid or {}))
        for point in grid:
            template.set_params(**point)  # fails early on a bad grid name
        # Before any fold is indexed: a wrong y would fail deep in a fold fit.
        n = _check_lengths(X, y)
        splits = self._splits(X, y, sample_weight, groups)
        weights = (
            None if sample_weight is None else check_sample_weight(sample_weight, n)
        )
        tasks = [(g, f) for g in range(len(grid)) for f in range(len(splits))]
        results = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_score_prefixes)(
                clone(template).set_params(**grid[g]),
                X,
                y,
                weights,
                *splits[f],
                self.scoring,
            )
            for g, f in tasks
        )
        ks = self._candidate_ks()
        scores = np.full((len(grid), len(splits), len(ks)), np.nan)
        fit_time = np.zeros((len(grid), len(splits)))
        n_fits = np.zeros((len(grid), len(splits)))
        for (g, f), (staged, seconds, fits) in zip(tasks, results, strict=True):
            # Early stopping is off, so every fold fit has max(ks) members.
            scores[g, f] = staged[ks - 1]
            fit_time[g, f], n_fits[g, f] = seconds, fits
        best_g, best_j = self._select(scores)
        best_k = int(ks[best_j])
        self.cv_results_ = _cv_results(grid, ks, scores, fit_time, n_fits)
        self.best_params_ = {**grid[best_g], "n_estimators": best_k}
        self.best_score_ = float(np.mean(scores[best_g, :, best_j]))
        self.k_ = best_k
        best = clone(template).set_params(**self.best_params_)
        self.best_estimator_ = best.fit(X, y, sample_weight=sample_weight)
        for name in _FITTED:
            if hasattr(best, name):
                setattr(self, name, getattr(best, name))
        return self

    def _splits(self, X, y, sample_weight, groups):
        cv = check_cv(self.cv, y, classifier=False)
        if _routing_enabled():
            routed = process_routing(
                self, "fit", sample_weight=sample_weight, groups=groups
            )
            split_params = routed.splitter.split
        else:
            split_params = {"groups": groups}
        indices = np.arange(_n_pairs(X))
        return list(cv.split(indices, indices, **split_params))

    def _select(self, scores):
        """Grid point and position in the candidate ks of the chosen candidate."""
        mean = np.nanmean(scores, axis=1)
        best_g, best_j = np.unravel_index(np.nanargmax(mean), mean.shape)
        if self.k_selection == "one_standard_error":
            diff = scores[best_g] - scores[best_g, :, [best_j]].T
            n_folds = diff.shape[0]
            se = np.nanstd(diff, axis=0, ddof=1) / np.sqrt(n_folds)
            close = np.flatnonzero(np.nanmean(diff, axis=0) >= -se)
            best_j = int(close.min())
        return int(best_g), int(best_j)

    def get_metadata_routing(self) -> MetadataRouter:
        """Routing of ``groups`` to the splitter (see scikit-learn's user guide).

        Returns
        -------
        routing : MetadataRouter
            A :class:`~sklearn.utils.metadata_routing.MetadataRouter` that
            routes ``groups`` from ``fit`` to the splitter's ``split``.
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                splitter=check_cv(self.cv),
                method_mapping=MethodMapping().add(caller="fit", callee="split"),
            )
        )


def _n_pairs(X):
    return _num_samples(X)


def _check_lengths(X, y):
    """The number of pairs, once ``y`` is known to hold one label per pair."""
    n = _n_pairs(X)
    if np.ndim(y) == 0:
        raise ValueError(f"y must hold one label per pair, got {y!r}.")
    n_labels = _num_samples(y)
    if n_labels != n:
        raise ValueError(
            f"pairs has {n} rows but y has {n_labels} labels; they must match."
        )
    return n


def _take(X, rows):
    return X.iloc[rows] if hasattr(X, "iloc") else np.asarray(X)[rows]


def _score_prefixes(ensemble, X, y, sample_weight, train, test, scoring):
    """Fit on ``train``; return every prefix's score on ``test``, time, fits."""
    y = np.asarray(y)
    train_weight = None if sample_weight is None else sample_weight[train]
    test_weight = None if sample_weight is None else sample_weight[test]
    start = time.perf_counter()
    ensemble.fit(_take(X, train), y[train], sample_weight=train_weight)
    seconds = time.perf_counter() - start
    X_test = _take(X, test)
    if scoring is None:
        staged = ensemble.staged_score(X_test, y[test], sample_weight=test_weight)
        scores = list(staged)
    else:
        scorer = check_scoring(ensemble, scoring=scoring)
        scores = [
            scorer(_prefix(ensemble, j), X_test, y[test])
            for j in range(1, ensemble.n_estimators_ + 1)
        ]
    return np.asarray(scores), seconds, getattr(ensemble, "n_member_fits_", np.nan)


def _prefix(ensemble, j):
    """A shallow copy of ``ensemble`` reduced to its first ``j`` members."""
    view = copy.copy(ensemble)
    view.estimators_ = ensemble.estimators_[:j]
    view.estimator_weights_ = ensemble._staged_weights[j - 1]
    view.n_estimators_ = j
    view._staged_weights = ensemble._staged_weights[:j]
    return view


def _cv_results(grid, ks, scores, fit_time, n_fits):
    """``cv_results_``: one row per (grid point, k), GridSearchCV's layout."""
    n_folds = scores.shape[1]
    params, rows = [], []
    for g, point in enumerate(grid):
        for j, k in enumerate(ks):
            params.append({**point, "n_estimators": int(k)})
            rows.append((g, j))
    g_idx = np.array([g for g, _ in rows])
    j_idx = np.array([j for _, j in rows])
    split = scores[g_idx, :, j_idx]  # (n_candidates, n_folds)
    mean = np.nanmean(split, axis=1)
    results = {"params": params}
    for name in sorted({key for point in params for key in point}):
        column = np.ma.masked_all(len(params), dtype=object)
        for i, point in enumerate(params):
            if name in point:
                column[i] = point[name]
        results[f"param_{name}"] = column
    for f in range(n_folds):
        results[f"split{f}_test_score"] = split[:, f]
    results["mean_test_score"] = mean
    results["std_test_score"] = np.nanstd(split, axis=1)
    order = np.argsort(-np.nan_to_num(mean, nan=-np.inf), kind="stable")
    rank = np.empty(len(mean), dtype=np.int32)
    rank[order] = np.arange(1, len(mean) + 1)
    results["rank_test_score"] = rank
    results["mean_fit_time"] = fit_time.mean(axis=1)[g_idx]
    results["n_member_fits"] = n_fits.mean(axis=1)[g_idx]
    return results
