"""Single-reward Bradley-Terry baselines: soft labels and majority vote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from .._base import transactional
from .._compat import HasMethods, StrOptions, _fit_context
from ..rewards._base import seeded_clone
from ._base import _BasePairBaseline

if TYPE_CHECKING:
    from typing import Self

    from numpy.typing import ArrayLike, NDArray
    from sklearn.base import BaseEstimator

_TIE_ATOL = 1e-12


class SoftBradleyTerry(_BasePairBaseline):
    """One Bradley-Terry reward trained on the soft labels.

    The standard single reward model with annotator disagreement kept: the
    reward ``r`` minimises the weighted cross-entropy of
    ``sigmoid(r(A) - r(B))`` against the share of annotators preferring A.
    Its probability can be calibrated; its hard vote (the deterministic
    reward a policy is aligned to) cannot go below the single-reward floor.

    Parameters
    ----------
    estimator : reward learner, default=None
        Base reward learner following the protocol of
        :mod:`pcr_sklearn.rewards`; cloned and fitted with ``loss="log"``.
        ``None`` means :class:`~pcr_sklearn.rewards.LinearReward`.
    vote : {"soft", "hard"}, default="soft"
        What :meth:`predict_proba` (hence :meth:`score`) reports. ``"soft"``:
        the probability ``sigmoid(r(A) - r(B))``. ``"hard"``: the reward's
        vote ``1[r(A) > r(B)]`` (1/2 on a tie). Fitting does not depend on
        it, so a fitted model may be switched with ``set_params(vote=...)``
        to read both outputs.
    random_state : int, RandomState instance or None, default=None
        Seeds the reward learner (through its ``random_state`` parameter, if
        it has one).

    Attributes
    ----------
    estimator_ : reward learner
        The prototype the reward was cloned from.
    estimators_ : list of one reward learner
        The fitted reward (a list, like the ensemble's members).
    estimator_weights_ : ndarray of shape (1,)
        ``[1.0]``.
    n_estimators_ : int
        1.
    classes_ : ndarray of shape (2,)
        ``[B-wins, A-wins]`` labels; ``[0, 1]`` for soft labels.
    n_features_in_ : int
        Width of the flat pair layout (``2 * d``), or 3 for text pairs.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a DataFrame with string column names.

    See Also
    --------
    MajorityVoteBradleyTerry : The same reward trained on majority labels.
    BaggedRewardEnsemble : Several such rewards on bootstrap samples.
    MixtureBradleyTerry : A mixture of such rewards trained by likelihood.
    pcr_sklearn.PairwiseCalibratedEnsemble : The calibrated ensemble.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.baselines import SoftBradleyTerry
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    >>> p = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    >>> X = np.hstack([a, b])
    >>> est = SoftBradleyTerry().fit(X, p)
    >>> p[:3]
    array([1. , 0.7, 0. ])
    >>> est.predict_proba(X[:3])[:, 1].round(2)
    array([0.91, 0.47, 0.22])
    >>> # Pair 2: 70% prefer A; the probability hedges, the hard vote says B.
    >>> est.set_params(vote="hard").predict_proba(X[:3])[:, 1]
    array([1., 0., 0.])
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "reward"]), None],
        "vote": [StrOptions({"hard", "soft"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        *,
        vote: Literal["soft", "hard"] = "soft",
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.estimator = estimator
        self.vote = vote
        self.random_state = random_state

    @transactional
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Fit the reward on the soft labels.

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

        Returns
        -------
        self : SoftBradleyTerry
            The fitted estimator.
        """
        items_a, items_b, target, sample_weight = self._validate_fit_data(
            X, y, sample_weight
        )
        reward = seeded_clone(self.estimator_, self._member_seeds(1)[0])
        reward.fit(items_a, items_b, target, sample_weight, loss="log")
        self._set_members([reward], [1.0])
        return self


class MajorityVoteBradleyTerry(_BasePairBaseline):
    """One Bradley-Terry reward trained on majority-vote hard labels.

    Today's RLHF practice: each comparison is reduced to the side most
    annotators preferred (label 1 when ``p > 1/2``, 0 when ``p < 1/2``), and
    one reward is fitted by cross-entropy on those labels, so the
    disagreement is discarded before training.

    Parameters
    ----------
    estimator : reward learner, default=None
        Base reward learner following the protocol of
        :mod:`pcr_sklearn.rewards`; cloned and fitted with ``loss="log"``.
        ``None`` means :class:`~pcr_sklearn.rewards.LinearReward`.
    ties : {"drop", "half"}, default="drop"
        Comparisons without a majority (``p = 1/2``, up to 1e-12): ``"drop"``
        leaves them out of training (common practice, and what a pipeline
        that keeps only a "chosen" and a "rejected" response does);
        ``"half"`` keeps them with target 1/2. Training with ``"drop"``
        raises if every comparison is a tie.
    vote : {"soft", "hard"}, default="soft"
        What :meth:`predict_proba` (hence :meth:`score`) reports. ``"soft"``:
        the probability ``sigmoid(r(A) - r(B))``, which is over-confident
        since the labels were hardened. ``"hard"``: the reward's vote
        ``1[r(A) > r(B)]`` (1/2 on a tie). Fitting does not depend on it, so
        a fitted model may be switched with ``set_params(vote=...)``.
    random_state : int, RandomState instance or None, default=None
        Seeds the reward learner (through its ``random_state`` parameter, if
        it has one).

    Attributes
    ----------
    estimator_ : reward learner
        The prototype the reward was cloned from.
    estimators_ : list of one reward learner
        The fitted reward.
    estimator_weights_ : ndarray of shape (1,)
        ``[1.0]``.
    n_estimators_ : int
        1.
    n_ties_ : int
        Number of training comparisons without a majority.
    classes_ : ndarray of shape (2,)
        ``[B-wins, A-wins]`` labels; ``[0, 1]`` for soft labels.
    n_features_in_ : int
        Width of the flat pair layout (``2 * d``), or 3 for text pairs.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a DataFrame with string column names.

    See Also
    --------
    majority_labels : The label rule, as a function.
    SoftBradleyTerry : The same reward trained on the soft labels.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.baselines import MajorityVoteBradleyTerry
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    >>> p = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    >>> X = np.hstack([a, b])
    >>> est = MajorityVoteBradleyTerry().fit(X, p)
    >>> # The majority always follows feature 0; the 30% are ignored.
    >>> int(np.argmax(np.abs(est.estimators_[0].coef_)))
    0
    >>> bool(est.predict_proba(X)[:, 1].max() > 0.99)
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "reward"]), None],
        "ties": [StrOptions({"drop", "half"})],
        "vote": [StrOptions({"hard", "soft"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        *,
        ties: Literal["drop", "half"] = "drop",
        vote: Literal["soft", "hard"] = "soft",
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.estimator = estimator
        self.ties = ties
        self.vote = vote
        self.random_state = random_state

    @transactional
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Fit the reward on the majority labels of ``y``.

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

        Returns
        -------
        self : MajorityVoteBradleyTerry
            The fitted estimator.
        """
        items_a, items_b, target, sample_weight = self._validate_fit_data(
            X, y, sample_weight
        )
        labels = majority_labels(target)
        tie = np.isnan(labels)
        self.n_ties_ = int(tie.sum())
        if self.ties == "drop":
            if tie.all():
                raise ValueError(
                    "Every comparison is a tie (y = 0.5), so there is no majority "
                    "to train on; use ties='half' or SoftBradleyTerry."
                )
            # Rows are removed (not given weight 0) so that mini-batch learners
            # see exactly the data a chosen/rejected pipeline would.
            keep = ~tie
            items_a, items_b = items_a[keep], items_b[keep]
            labels, sample_weight = labels[keep], sample_weight[keep]
        else:
            labels = np.where(tie, 0.5, labels)
        reward = seeded_clone(self.estimator_, self._member_seeds(1)[0])
        reward.fit(items_a, items_b, labels, sample_weight, loss="log")
        self._set_members([reward], [1.0])
        return self


def majority_labels(y: ArrayLike) -> NDArray[np.float64]:
    """Majority-vote labels of soft labels: 1 if ``y > 1/2``, 0 if ``y < 1/2``.

    Parameters
    ----------
    y : array-like of shape (n_pairs,)
        Soft labels in [0, 1].

    Returns
    -------
    labels : ndarray of shape (n_pairs,)
        1.0, 0.0, or NaN where ``y`` is 1/2 up to an absolute 1e-12 (no
        majority; the tolerance only absorbs round-off in vote shares).

    Examples
    --------
    >>> from pcr_sklearn.baselines import majority_labels
    >>> majority_labels([0.8, 0.5, 0.2, 1.0])
    array([ 1., nan,  0.,  1.])
    """
    y = np.asarray(y, dtype=np.float64)
    tie = np.abs(y - 0.5) <= _TIE_ATOL
    return np.where(tie, np.nan, (y > 0.5).astype(np.float64))
