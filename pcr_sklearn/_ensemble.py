"""The public estimator: a pairwise calibrated ensemble of reward functions."""

from __future__ import annotations

import contextlib
import copy
import warnings
from numbers import Integral, Real
from types import SimpleNamespace
from typing import TYPE_CHECKING, Literal

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit
from sklearn.utils import check_random_state

from ._base import BasePairEnsemble
from ._compat import HasMethods, Interval, StrOptions, _fit_context
from ._objectives import OBJECTIVES, get_objective
from ._pairs import check_sample_weight, encode_labels
from ._population import Population, PopulationLoop
from ._staged import StagedMixin
from ._stages import MAX_SEED, StageLoop
from .rewards import get_reward_tags

if TYPE_CHECKING:
    from typing import Self

    from numpy.typing import ArrayLike
    from sklearn.base import BaseEstimator


class PairwiseCalibratedEnsemble(StagedMixin, BasePairEnsemble):
    """Ensemble of reward functions calibrated to annotator disagreement.

    Learns ``k`` reward functions and weights on the simplex so that, for every
    pair of responses, the weighted share of rewards preferring A matches the
    share of annotators who did (pairwise calibration, Halpern et al. 2025).
    Training is Forward Stagewise Additive Modeling: each stage fits a new
    member to the current calibration residual, then all weights are
    re-optimised exactly; optional backfitting passes re-fit earlier members
    against the others.

    Parameters
    ----------
    estimator : reward learner, default=None
        Base reward learner following the protocol of
        :mod:`pcr_sklearn.rewards`; cloned for every member fit. ``None``
        means :class:`~pcr_sklearn.rewards.LinearReward`.
    n_estimators : int or "auto", default="auto"
        Number of members (stages) that ``fit`` builds. ``"auto"``: 64 with
        ``members="population"`` (draws cost no member fit; more members
        mean a smaller Monte-Carlo error of the vote share, about
        ``p (1 - p) / k`` per pair), 4 with ``members="stagewise"``.
    members : {"population", "stagewise"}, default="population"
        Where members come from.

        - ``"population"``: fit one soft-label Bradley-Terry reward (the
          *mean*), then draw members ``r_j(x) = mean(x) + taste * g_j(x)``
          where ``g_j`` is a smooth random function of the item (a sampled
          annotator's idiosyncratic taste, see :mod:`pcr_sklearn._population`),
          with equal weights. Members split where annotators would, including
          on prompts never seen in training; one member fit in all.
        - ``"stagewise"``: Forward Stagewise Additive Modeling (the paper):
          each stage fits a member to the calibration residual
          (``objective``), weights are re-optimised exactly, and
          ``n_backfit`` passes re-fit earlier members. Finds structured
          groups (e.g. synthetic mixtures); costs one or more member fits per
          stage.

        ``"population"`` is the default because it is what calibrates on new
        prompts: on the argument data's held-out debates the stagewise
        ensemble stays at the single-reward floor (see
        ``benchmarks/results/calibration.md`` for the measured numbers and
        settings).
    taste : float or "auto", default="auto"
        Scale of the members' taste functions, in reward units
        (``members="population"`` only). ``"auto"``: with hard votes, the
        scale under which the population's vote shares fit the training soft
        labels best (maximum likelihood; it follows the mean reward's scale
        and is near 0 when annotators never disagree); with soft votes, 0,
        since each member's sigmoid already models the annotators'
        idiosyncratic noise. The value used is ``taste_``.
    taste_length : float, default=0.5
        Length scale of the taste kernel, relative to the median distance
        between the two items of a training pair (``members="population"``
        only): shorter makes near-duplicate items disagree more.
    vote : {"hard", "soft"}, default="hard"
        ``"hard"``: a member votes 1 when its reward for A is higher, 0 when
        lower, 1/2 on a tie (the paper's definition; each member is a
        deterministic reward). ``"soft"``: a member votes
        ``sigmoid(r(A) - r(B))``, making the ensemble a mixture of
        Bradley-Terry models.
    objective : {"weighted", "auto", "shared", "residual"}, default="weighted"
        Stage objective, i.e. what a new member is fitted to
        (``members="stagewise"`` only).

        - ``"residual"`` is the paper's: fit ``sigmoid(r(A) - r(B))`` to the
          residual ``p - p_hat`` by squared error. A sigmoid cannot be
          negative, so later stages learn little.
        - ``"weighted"`` follows the first-order change of the calibration
          error when the newcomer enters with a small weight: a weighted
          classification with label ``1[p - p_hat > 0]`` and weight
          ``|p - p_hat|``.
        - ``"shared"`` presumes the newcomer takes an equal share
          ``s = 1/(m+1)`` next to ``m`` members: label
          ``1[p - (1-s) p_hat > s/2]``, weight ``|p - (1-s) p_hat - s/2|``.
        - ``"auto"`` grows each stage both ways (twice the newcomer fits,
          in parallel with ``n_jobs``) and keeps the one with the lower
          training error after backfitting.

        ``"weighted"`` is the default: with sharpened backfitting (see
        ``n_backfit``) it finds the groups of a synthetic mixture by itself,
        and ``"auto"``'s second newcomer per stage bought nothing under the
        same budget (``benchmarks/results/bench_stagewise.md``, k=8: held-out
        argument pairs 0.787 vs 0.793 x the single-reward floor, held-out
        debates 0.982 vs 0.979, recovery target 10/10 vs 9/10 seeds).
    n_backfit : int, default=3
        Maximum number of backfitting passes inside each stage, after the new
        member is added: each member, the newest first, is re-fitted against
        the others (label ``1[p - p_hat_without_j > alpha_j / 2]``, weight
        ``|p - p_hat_without_j - alpha_j / 2|``; residual
        ``p - p_hat_without_j`` for ``objective="residual"``), weights are
        re-optimised, and the re-fit is kept only if the training error does
        not rise. With hard votes, a classification objective and a learner
        that declares its ``penalty`` parameter (``LinearReward``'s
        ``alpha``), re-fits are *sharpened*: warm-started, with the sigmoid
        loss and the penalty divided by 1000 (see
        :mod:`pcr_sklearn.rewards._base`); on the recovery target that took
        the members' held-out agreement with their groups from 86-97% to
        over 98.5%. Passes stop once one lowers the training error by less
        than 0.1%, or when the budget ``max_fits_per_stage`` is spent.
        ``0`` is plain FSAM.
    max_fits_per_stage : int or None, default=6
        Budget of member fits, newcomers included, per stage on average:
        after stage ``j`` the model has cost at most
        ``j * max_fits_per_stage`` member fits (``n_member_fits_``;
        newcomers always fit, a stage that stopped early leaves its share to
        later ones). Backfitting stops when a stage's share is spent, so the
        cost grows linearly with the number of members instead of with its
        square. ``None``: no budget. ``6`` is the smallest budget that kept
        the recovery target on every seed (10/10; 4 and 5: 6/10 and 8/10,
        ``benchmarks/results/bench_stagewise.md``). At k=8 it costs 48
        member fits, against 94 for the previous defaults
        (``objective="auto", n_backfit=5``, no budget) on the argument data,
        for held-out errors within 0.5% of theirs (argument pairs 0.787 vs
        0.786, debates 0.982 vs 0.978 x the floor; the previous defaults met
        the recovery target on 1/10 seeds). On ``benchmarks/bench_core.py``'s
        100,000 pairs it takes about 4x the time of 8 plain ``LinearReward``
        fits, the previous defaults about 13x
        (``benchmarks/results/bench_core.json``).
        Expensive members (an MLP) keep the same cap in fits.
    early_stopping : bool, default=False
        Stop adding members when the validation error has not improved by
        ``tol`` for ``n_iter_no_change`` stages, and keep the best prefix.
        Validation pairs come from ``X_val``/``y_val`` in ``fit``, or a
        ``validation_fraction`` split that keeps each prompt's pairs together
        when ``groups`` are given.
    validation_fraction : float, default=0.1
        Share of pairs (or of groups) held out for early stopping.
    n_iter_no_change : int, default=2
        Stages without improvement before stopping.
    tol : float, default=1e-5
        Least decrease of the validation error that counts as improvement.
    warm_start : bool, default=False
        When True, ``fit`` keeps the fitted members and adds stages until there
        are ``n_estimators``.
    n_jobs : int, default=None
        Workers for the two growths of every stage with
        ``objective="auto"``, through joblib (``None``: 1 unless in a
        :func:`joblib.parallel_config` context, ``-1``: all cores);
        ``joblib.parallel_config(backend="dask")`` sends them to a Dask
        cluster. Each growth draws its member seeds from a seed drawn up
        front, so the model is the same for any ``n_jobs`` and backend. The
        other settings fit one member at a time.
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split and every member fit.
    verbose : int, default=0
        Show progress when positive: a tqdm bar over the stages (member
        draws for ``members="population"``) with the training and validation
        errors and the member fits so far; without tqdm installed, one line
        per stage.

    Attributes
    ----------
    estimator_ : reward learner
        The prototype the members were cloned from.
    estimators_ : list of reward learners
        Fitted members, in the order they were added.
    estimator_weights_ : ndarray of shape (`n_estimators_`,)
        Member weights, non-negative and summing to one.
    n_estimators_ : int
        Number of fitted members (fewer than ``n_estimators`` after early
        stopping).
    n_member_fits_ : int
        Member fits the model cost (warm starts and ``partial_fit`` calls
        included): 1 per fit with ``members="population"``; with
        ``members="stagewise"``, one per newcomer (two per stage with
        ``objective="auto"``) plus one per backfitting re-fit, at most
        ``n_estimators_ * max_fits_per_stage`` when the newcomers fit in it.
    taste_ : float
        The taste scale used (``members="population"`` only).
    train_score_ : ndarray of shape (`n_estimators_`,)
        Training calibration error after each stage (a loss, as in
        :class:`~sklearn.ensemble.GradientBoostingClassifier`); never increases.
    validation_score_ : ndarray of shape (n_stages_run,)
        Validation calibration error after each stage run, including the
        stages after the best one that early stopping discarded; only with
        early stopping.
    member_disagreement_ : ndarray of shape (`n_estimators_`,)
        Each member's disagreement with the ensemble on the training pairs,
        ``E|V_j - p_hat|`` (used by :meth:`prune`).
    classes_ : ndarray of shape (2,)
        ``[B-wins, A-wins]`` labels; ``[0, 1]`` for soft labels.
    n_features_in_ : int
        Width of the flat pair layout (``2 * d``), or 3 for text pairs.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a DataFrame with string column names.

    See Also
    --------
    pcr_sklearn.rewards.LinearReward : The default member.
    pcr_sklearn.metrics.calibration_error : The loss being minimised.
    pcr_sklearn.metrics.single_reward_floor : Best error of any single reward.

    Notes
    -----
    Weights solve ``min_a sum_i w_i (V_i . a - p_i)**2`` over the simplex
    exactly with an active-set method, so adding a member (padding the old
    weights with zero is feasible) can never raise the training error.

    References
    ----------
    D. Halpern, E. Micha, A. D. Procaccia, I. Shapira. "Pairwise Calibrated
    Rewards for Pluralistic Alignment." NeurIPS 2025, arXiv:2506.06298.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn import PairwiseCalibratedEnsemble
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(500, 2)), rng.normal(size=(500, 2))
    >>> # 70% of annotators prefer higher feature 0, 30% higher feature 1.
    >>> p = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    >>> X = np.hstack([a, b])
    >>> est = PairwiseCalibratedEnsemble(random_state=0).fit(X, p)
    >>> est.n_estimators_, est.n_member_fits_  # 64 members drawn from one fit
    (64, 1)
    >>> from pcr_sklearn.metrics import single_reward_floor
    >>> bool(-est.score(X, p) < single_reward_floor(p))  # below any single reward
    True

    Stagewise members recover the two groups and their shares:

    >>> est = PairwiseCalibratedEnsemble(
    ...     members="stagewise", n_estimators=2, random_state=0
    ... ).fit(X, p)
    >>> est.estimator_weights_.round(1)
    array([0.7, 0.3])
    >>> bool(-est.score(X, p) < 0.01)
    True
    """

    # With metadata routing on, ``groups`` passed to a search goes to its
    # splitter; the early-stopping split gets it only on request
    # (``set_fit_request(groups=True)``).
    __metadata_request__fit = {"groups": False}

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "reward"]), None],
        "n_estimators": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "members": [StrOptions({"population", "stagewise"})],
        "taste": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "taste_length": [Interval(Real, 0, None, closed="neither")],
        "vote": [StrOptions({"hard", "soft"})],
        "objective": [StrOptions(set(OBJECTIVES))],
        "n_backfit": [Interval(Integral, 0, None, closed="left")],
        "max_fits_per_stage": [Interval(Integral, 1, None, closed="left"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        n_estimators: int | Literal["auto"] = "auto",
        *,
        members: Literal["population", "stagewise"] = "population",
        taste: float | Literal["auto"] = "auto",
        taste_length: float = 0.5,
        vote: Literal["hard", "soft"] = "hard",
        objective: Literal["weighted", "auto", "shared", "residual"] = "weighted",
        n_backfit: int = 3,
        max_fits_per_stage: int | None = 6,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 2,
        tol: float = 1e-5,
        warm_start: bool = False,
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
        self.max_fits_per_stage = max_fits_per_stage
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- fitting

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        sample_weight_val: ArrayLike | None = None,
        groups: ArrayLike | None = None,
    ) -> Self:
        """Fit ``n_estimators`` stages (continue them with ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.
        y : array-like of shape (n_pairs,)
            Soft labels in [0, 1] (share of annotators preferring A), or two
            label values ``[B-wins, A-wins]``.
        sample_weight : array-like of shape (n_pairs,), default=None
            Pair weights, e.g. annotator counts.
        X_val, y_val, sample_weight_val : default=None
            Explicit validation pairs for early stopping (e.g. held-out
            prompts). Only with ``early_stopping=True``.
        groups : array-like of shape (n_pairs,), default=None
            Prompt ids for the early-stopping split (``early_stopping=True``),
            which keeps each prompt on one side; without early stopping they
            are ignored, with a warning.

        Returns
        -------
        self : PairwiseCalibratedEnsemble
            The fitted estimator.
        """
        continuing = self.warm_start and hasattr(self, "estimators_")
        n_members = self._n_members()
        if continuing and n_members < self.n_estimators_:
            raise ValueError(
                f"n_estimators={n_members} must be at least the number of "
                f"fitted members ({self.n_estimators_}) when warm_start=True."
            )
        if not self.early_stopping and (X_val is not None or y_val is not None):
            raise ValueError("X_val and y_val are only used with early_stopping=True.")
        if not self.early_stopping and groups is not None:
            warnings.warn(
                "groups are used only for the early-stopping split "
                "(early_stopping=True) and are ignored here. To choose the number "
                "of members by cross-validation over prompts, use "
                "PairwiseCalibratedEnsembleCV(cv=GroupKFold(...)).fit(X, y, "
                "groups=...).",
                UserWarning,
                stacklevel=3,
            )

        with self._fit_transaction() as attempt:
            train = self._validate_fit_data(X, y, sample_weight, reset=not continuing)
            if not continuing:
                self._reset()
            validation = None
            if self.early_stopping:
                train, validation = self._split(
                    train, X_val, y_val, sample_weight_val, groups
                )
            attempt.loop = self._stage_loop(*train)
            attempt.loop.run(
                n_members - self.n_estimators_,
                validation,
                tol=self.tol,
                n_iter_no_change=self.n_iter_no_change,
            )
            self._commit(attempt.loop, early_stopping=validation is not None)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        classes: ArrayLike | None = None,
    ) -> Self:
        """Add exactly one stage, fitted on these pairs.

        ``k`` calls on the same data give the same model as ``fit`` with
        ``n_estimators=k`` and the same ``random_state``. Earlier members are
        kept (and backfitted on these pairs when ``n_backfit > 0``).

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.
        y : array-like of shape (n_pairs,)
            Soft labels in [0, 1], or two label values (see :meth:`fit`).
        sample_weight : array-like of shape (n_pairs,), default=None
            Pair weights (e.g. the number of annotators); ``None``: equal.
        classes : array-like of shape (2,), default=None
            Accepted for scikit-learn's incremental-learning convention. With
            label values other than soft labels, pass both values on the first
            call so that later batches may hold only one of them.

        Returns
        -------
        self : PairwiseCalibratedEnsemble
            The estimator with one more member.
        """
        first = not hasattr(self, "estimators_")

        if first and classes is not None:
            classes = _check_classes(classes)
        with self._fit_transaction() as attempt:
            train = self._validate_fit_data(
                X, y, sample_weight, reset=first, classes=classes if first else None
            )
            if first:
                self._reset()
            attempt.loop = self._stage_loop(*train).run(1)
            self._commit(attempt.loop, early_stopping=False)
        return self

    @contextlib.contextmanager
    def _fit_transaction(self):
        """Run a fit as a transaction; the block sets ``attempt.loop``.

        On an exception the estimator is restored exactly as it was (a fresh
        one stays unfitted): fitted state is only ever replaced, never changed
        in place. On a ``KeyboardInterrupt`` after at least one new stage
        finished, the finished stages (the loop rolls back to them) are
        committed as a consistent model, with a warning, before the interrupt
        propagates: a long GPU fit is not lost.
        """
        saved = dict(self.__dict__)
        attempt = SimpleNamespace(loop=None)
        try:
            yield attempt
        except KeyboardInterrupt:
            loop = attempt.loop
            kept = 0 if loop is None else len(loop.members) - loop.n_start
            if kept <= 0:
                self.__dict__.clear()
                self.__dict__.update(saved)
                raise
            self._commit(loop, early_stopping=self.early_stopping)
            warnings.warn(
                f"Fitting was interrupted; kept the {kept} stage(s) that finished "
                f"({len(loop.members)} members in all).",
                UserWarning,
                stacklevel=3,
            )
            raise
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _validate_fit_data(self, X, y, sample_weight, *, reset, classes=None):
        items_a, items_b, y = self._validate_pairs(X, y, reset=reset)
        target, classes = encode_labels(y, classes if reset else self.classes_)
        self.classes_ = classes
        sample_weight = check_sample_weight(sample_weight, target.shape[0])
        return items_a, items_b, target, sample_weight

    def _reset(self):
        self.estimator_ = self._prototype()
        # One generator for the whole life of the model (as GradientBoosting
        # keeps for warm starts), so stage-by-stage fitting matches fit.
        self._rng = check_random_state(self.random_state)
        self.estimators_ = []
        self.estimator_weights_ = np.empty(0)
        self.n_estimators_ = 0
        self.n_member_fits_ = 0
        self.train_score_ = np.empty(0)
        # Drawn even without early stopping, so that switching it on for a
        # warm start finds a seed and fit/partial_fit draw the same sequence.
        self._validation_seed = self._rng.randint(MAX_SEED)
        if hasattr(self, "validation_score_"):
            del self.validation_score_

    def _n_members(self):
        if self.n_estimators != "auto":
            return self.n_estimators
        return 64 if self.members == "population" else 4

    def _stage_loop(self, items_a, items_b, target, sample_weight):
        if self.members == "population":
            return self._population_loop(items_a, items_b, target, sample_weight)
        objective = get_objective(self.objective)
        losses = get_reward_tags(self.estimator_).losses
        if objective.loss not in losses:
            raise ValueError(
                f"objective={self.objective!r} fits members with loss="
                f"{objective.loss!r}, which {type(self.estimator_).__name__} does "
                f"not declare (its losses: {list(losses)}); use another objective."
            )
        return StageLoop(
            self.estimator_,
            items_a,
            items_b,
            target,
            sample_weight,
            vote=self.vote,
            objective=objective,
            n_backfit=self.n_backfit,
            # A copy: the generator advances only when the fit commits.
            rng=copy.deepcopy(self._rng),
            members=self.estimators_,
            weights=self.estimator_weights_,
            train_score=self.train_score_,
            n_member_fits=self.n_member_fits_,
            max_fits_per_stage=self.max_fits_per_stage,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
        )

    def _population_loop(self, items_a, items_b, target, sample_weight):
        if self._text_items and not hasattr(self.estimator_, "item_features"):
            raise ValueError(
                f"members='population' draws taste functions of numeric item "
                f"features, but {type(self.estimator_).__name__} takes text items "
                "and has no item_features method. Embed the texts first "
                "(pcr_sklearn.text.PairEmbedder) or use members='stagewise'."
            )
        if self.taste == "auto":
            taste = "mle" if self.vote == "hard" else 0.0
        else:
            taste = self.taste
        # A seed of its own, fixed for the model's life and derived without
        # drawing from the member generator: a warm start or partial_fit
        # draws member j from the same distribution as fit does.
        seed = np.random.RandomState(self._validation_seed).randint(MAX_SEED)
        population = Population.fit(
            self.estimator_,
            items_a,
            items_b,
            target,
            sample_weight,
            taste=taste,
            taste_length=self.taste_length,
            seed=seed,
        )
        return PopulationLoop(
            population,
            items_a,
            items_b,
            target,
            sample_weight,
            vote=self.vote,
            rng=copy.deepcopy(self._rng),
            members=self.estimators_,
            weights=self.estimator_weights_,
            train_score=self.train_score_,
            n_member_fits=self.n_member_fits_,
            verbose=self.verbose,
        )

    def _commit(self, loop, *, early_stopping):
        """Take the loop's members, weights and scores as the fitted model."""
        self._rng = loop.rng
        self.estimators_ = loop.members
        self.estimator_weights_ = loop.weights
        self.n_estimators_ = len(loop.members)
        self.train_score_ = np.asarray(loop.train_score, dtype=np.float64)
        if early_stopping:
            self.validation_score_ = np.append(
                getattr(self, "validation_score_", np.empty(0)),
                loop.validation_score,
            )
        self._staged_weights = loop.staged_weights()
        self.member_disagreement_ = loop.disagreement()
        self.n_member_fits_ = loop.n_member_fits
        population = getattr(loop, "population", None)
        if population is not None:
            self.taste_ = population.taste

    def _split(self, train, X_val, y_val, sample_weight_val, groups):
        """Validation data for early stopping: explicit, or split off ``train``."""
        if X_val is not None or y_val is not None:
            if X_val is None or y_val is None:
                raise ValueError("Pass both X_val and y_val, or neither.")
            val_a, val_b, y_val = self._validate_pairs(X_val, y_val, reset=False)
            target_val, _ = encode_labels(y_val, self.classes_)
            weight_val = check_sample_weight(sample_weight_val, target_val.shape[0])
            return train, (val_a, val_b, target_val, weight_val)
        n = train[2].shape[0]
        if groups is None:
            splitter = ShuffleSplit(
                n_splits=1,
                test_size=self.validation_fraction,
                random_state=self._validation_seed,
            )
        else:
            groups = np.asarray(groups)
            if groups.shape[0] != n:
                raise ValueError(
                    f"groups has {groups.shape[0]} entries but there are {n} pairs."
                )
            splitter = GroupShuffleSplit(
                n_splits=1,
                test_size=self.validation_fraction,
                random_state=self._validation_seed,
            )
        train_idx, val_idx = next(splitter.split(np.zeros(n), groups=groups))
        return (
            tuple(part[train_idx] for part in train),
            tuple(part[val_idx] for part in train),
        )


def _check_classes(classes):
    classes = np.unique(np.asarray(classes))
    if classes.shape[0] != 2:
        raise ValueError(
            "classes must hold exactly two label values [B-wins, A-wins], got "
            f"{list(classes)}."
        )
    return classes
