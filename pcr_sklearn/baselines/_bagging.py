"""Reward-model ensemble by bagging: k soft-label rewards, averaged."""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._base import transactional
from .._compat import HasMethods, Interval, StrOptions, _fit_context
from ..rewards._base import seeded_clone
from ..utils.validation import rescale_weights
from ._base import _BasePairBaseline

if TYPE_CHECKING:
    from typing import Self

    from numpy.typing import ArrayLike
    from sklearn.base import BaseEstimator


class BaggedRewardEnsemble(_BasePairBaseline):
    """Average of ``n_estimators`` soft-label rewards on bootstrap samples.

    The usual reward-model ensemble: each member is a
    :class:`SoftBradleyTerry`-style reward fitted on its own bootstrap sample
    of the comparisons and with its own seed, and all members count equally.
    Members differ only through sampling noise, not because they represent
    different annotator groups, so the hard-vote share tends to be all-or-
    nothing where the data are clear.

    Parameters
    ----------
    estimator : reward learner, default=None
        Base reward learner following the protocol of
        :mod:`pcr_sklearn.rewards`; cloned for every member and fitted with
        ``loss="log"`` on the soft labels. ``None`` means
        :class:`~pcr_sklearn.rewards.LinearReward`.
    n_estimators : int, default=4
        Number of members.
    bootstrap : bool, default=True
        Fit each member on a bootstrap sample (``n_pairs`` draws with
        replacement), applied as integer multiplicities of the pair weights
        so items are not copied. ``False``: every member sees all pairs and
        only its seed differs (identical members for a deterministic learner
        such as :class:`~pcr_sklearn.rewards.LinearReward`).
    vote : {"soft", "hard"}, default="soft"
        What :meth:`predict_proba` (hence :meth:`score`) reports. ``"soft"``:
        the mean of the members' probabilities ``sigmoid(r_j(A) - r_j(B))``.
        ``"hard"``: the share of members whose reward prefers A (ties 1/2).
        Fitting does not depend on it, so a fitted model may be switched with
        ``set_params(vote=...)`` to read both outputs.
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap samples and every member.

    Attributes
    ----------
    estimator_ : reward learner
        The prototype the members were cloned from.
    estimators_ : list of reward learners
        Fitted members.
    estimator_weights_ : ndarray of shape (`n_estimators_`,)
        Uniform, ``1 / n_estimators``.
    n_estimators_ : int
        Number of fitted members.
    estimators_samples_ : list of ndarray of shape (n_pairs,)
        Bootstrap multiplicity of every training pair, per member (all ones
        without ``bootstrap``).
    classes_ : ndarray of shape (2,)
        ``[B-wins, A-wins]`` labels; ``[0, 1]`` for soft labels.
    n_features_in_ : int
        Width of the flat pair layout (``2 * d``), or 3 for text pairs.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a DataFrame with string column names.

    See Also
    --------
    SoftBradleyTerry : One such reward on all pairs.
    MixtureBradleyTerry : Members that specialise, with learned weights.
    pcr_sklearn.PairwiseCalibratedEnsemble : The calibrated ensemble.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.baselines import BaggedRewardEnsemble
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    >>> p = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    >>> X = np.hstack([a, b])
    >>> est = BaggedRewardEnsemble(n_estimators=3, random_state=0).fit(X, p)
    >>> est.estimator_weights_.round(3)
    array([0.333, 0.333, 0.333])
    >>> est.rewards(a[:2]).shape
    (2, 3)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "reward"]), None],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "bootstrap": ["boolean"],
        "vote": [StrOptions({"hard", "soft"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        n_estimators: int = 4,
        *,
        bootstrap: bool = True,
        vote: Literal["soft", "hard"] = "soft",
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.bootstrap = bootstrap
        self.vote = vote
        self.random_state = random_state

    @transactional
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Fit ``n_estimators`` members on bootstrap samples of the pairs.

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
        self : BaggedRewardEnsemble
            The fitted estimator.
        """
        items_a, items_b, target, sample_weight = self._validate_fit_data(
            X, y, sample_weight
        )
        n = target.shape[0]
        if sample_weight.max(initial=0.0) > np.finfo(np.float64).max / max(n, 1):
            # A weight times a bootstrap count (at most n) would overflow:
            # rescaled by a power of two (exact; relative weights unchanged).
            sample_weight = rescale_weights(sample_weight)
        members, samples = [], []
        for seed in self._member_seeds(self.n_estimators):
            if self.bootstrap:
                # The member's own seed draws its sample, so member j is
                # reproducible from its seed alone.
                draws = np.random.RandomState(seed).randint(n, size=n)
                counts = np.bincount(draws, minlength=n).astype(np.float64)
            else:
                counts = np.ones(n)
            member = seeded_clone(self.estimator_, seed)
            member.fit(items_a, items_b, target, sample_weight * counts, loss="log")
            members.append(member)
            samples.append(counts)
        self.estimators_samples_ = samples
        self._set_members(members, np.full(len(members), 1.0 / len(members)))
        return self
