"""Shared plumbing of the baselines: pairs in, member votes out.

Every baseline ends up as members (fitted reward learners) with weights on the
simplex, exactly like :class:`~pcr_sklearn.PairwiseCalibratedEnsemble`, so
prediction, scoring and per-member rewards are written once here and mean the
same thing as the ensemble's.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._pairs import (
    check_sample_weight,
    encode_labels,
    pair_votes,
    validate_items,
    validate_pairs,
)
from .._stages import _MAX_SEED, member_rewards, weighted_error
from ..rewards import LinearReward


class _BasePairBaseline(ClassifierMixin, BaseEstimator):
    """Fitting helpers and the ensemble's prediction API for the baselines.

    Subclasses define ``fit``; it must call :meth:`_validate_fit_data` first
    and :meth:`_set_members` last.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.string = self._pair_input == "text"
        tags.classifier_tags.multi_class = False
        # As for the ensemble: the decision is antisymmetric in the two halves
        # of a row, so generic (non-pair) classification data can be
        # unlearnable and accuracy checks on it say nothing.
        tags.classifier_tags.poor_score = True
        return tags

    @property
    def _pair_input(self):
        return getattr(self._prototype(), "_pair_input", "numeric")

    def _prototype(self):
        return LinearReward() if self.estimator is None else self.estimator

    # ----------------------------------------------------------------- fitting

    def _validate_fit_data(self, X, y, sample_weight):
        """Pairs, soft labels and weights; sets ``classes_`` and ``estimator_``."""
        items_a, items_b, y = validate_pairs(
            self, X, y, reset=True, pair_input=self._pair_input
        )
        target, self.classes_ = encode_labels(y)
        sample_weight = check_sample_weight(sample_weight, target.shape[0])
        self.estimator_ = self._prototype()
        return items_a, items_b, target, sample_weight

    def _member_seeds(self, n):
        # Seeds are drawn up front from one generator so that member j's seed
        # does not depend on how the other members were fitted.
        rng = check_random_state(self.random_state)
        return [int(s) for s in rng.randint(_MAX_SEED, size=n)]

    def _set_members(self, members, weights):
        self.estimators_ = list(members)
        self.estimator_weights_ = np.asarray(weights, dtype=np.float64)
        self.n_estimators_ = len(self.estimators_)

    # -------------------------------------------------------------- predicting

    def _shares(self, X):
        """Weighted vote shares of A and of B, each computed from its side.

        ``1 - share_a`` would lose all relative precision where a sharp reward
        is near-certain; evaluating B's share directly keeps
        ``predict_proba`` of swapped pairs exactly the reversed columns.
        """
        check_is_fitted(self)
        items_a, items_b = validate_pairs(
            self, X, "no_validation", reset=False, pair_input=self._pair_input
        )
        rewards_a = member_rewards(self.estimators_, items_a)
        rewards_b = member_rewards(self.estimators_, items_b)
        share_a = pair_votes(rewards_a, rewards_b, self.vote) @ self.estimator_weights_
        share_b = pair_votes(rewards_b, rewards_a, self.vote) @ self.estimator_weights_
        return np.clip(share_a, 0.0, 1.0), np.clip(share_b, 0.0, 1.0)

    def predict_proba(self, X):
        """Probability that A is preferred (column 1) and B (column 0).

        With ``vote="soft"`` the members' Bradley-Terry probabilities
        ``sigmoid(r_j(A) - r_j(B))``, with ``vote="hard"`` their hard votes
        ``1[r_j(A) > r_j(B)]`` (1/2 on ties), averaged with
        ``estimator_weights_``.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.

        Returns
        -------
        proba : ndarray of shape (n_pairs, 2)
            Rows sum to one up to round-off.
        """
        share_a, share_b = self._shares(X)
        return np.column_stack([share_b, share_a])

    def predict(self, X):
        """``classes_[1]`` where the predicted share of A exceeds 1/2.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text

        Returns
        -------
        labels : ndarray of shape (n_pairs,)
        """
        prefers_a = self.predict_proba(X)[:, 1] > 0.5
        return self.classes_[prefers_a.astype(int)]

    def score(self, X, y, sample_weight=None):
        """Negative pairwise calibration error of ``predict_proba`` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
        y : array-like of shape (n_pairs,)
            Soft labels, or the label values seen in fit.
        sample_weight : array-like of shape (n_pairs,), default=None

        Returns
        -------
        score : float
            ``-calibration_error(y, predict_proba(X)[:, 1])``; it measures the
            hard-vote share or the probability according to ``vote``.
        """
        share = self.predict_proba(X)[:, 1]
        target, _ = encode_labels(y, self.classes_)
        if target.shape[0] != share.shape[0]:
            raise ValueError(
                f"y has {target.shape[0]} entries but X has {share.shape[0]} pairs."
            )
        weights = check_sample_weight(sample_weight, target.shape[0])
        return -weighted_error(share, target, weights)

    def rewards(self, items):
        """Per-member rewards of items.

        Parameters
        ----------
        items : array-like of shape (n_items, d), or (n_items, 2) text rows
            Item features (one half of a flat pair row), or
            ``(prompt, response)`` rows for text reward learners.

        Returns
        -------
        rewards : ndarray of shape (n_items, n_estimators_)
            Column ``j`` is member ``j``'s reward; its weight is
            ``estimator_weights_[j]``.
        """
        check_is_fitted(self)
        return member_rewards(self.estimators_, validate_items(self, items))
