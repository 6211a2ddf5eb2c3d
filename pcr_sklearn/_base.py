"""What every weighted ensemble of reward members shares: pairs in, votes out.

:class:`~pcr_sklearn.PairwiseCalibratedEnsemble` and the baselines all end up
as fitted reward learners (``estimators_``) with weights on the simplex
(``estimator_weights_``) and a ``vote`` mode, so prediction, scoring, per-member
rewards and tags are written once here and mean the same thing everywhere.
"""

import functools

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._pairs import (
    check_sample_weight,
    encode_labels,
    validate_items,
    validate_pairs,
)
from ._stages import weighted_error
from .rewards import LinearReward, get_reward_tags, member_rewards
from .utils.validation import pair_votes


def transactional(fit):
    """Make ``fit`` a transaction: on any exception the estimator is as before.

    Fitted state is only ever replaced, never changed in place (members are
    new objects, arrays new arrays), so a shallow copy of ``__dict__`` taken
    before the call restores a previously fitted model exactly, and leaves a
    fresh estimator unfitted.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return wrapper


class BasePairEnsemble(ClassifierMixin, BaseEstimator):
    """Prediction API of a weighted ensemble of reward learners.

    Subclasses have ``estimator`` and ``vote`` parameters and set
    ``estimators_``, ``estimator_weights_`` and ``classes_`` when fitted.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.string = self._text_items
        tags.classifier_tags.multi_class = False
        # The decision is antisymmetric in the two halves of a row, so generic
        # (non-pair) classification data can be unlearnable; the accuracy
        # checks on such data say nothing about pairwise calibration.
        tags.classifier_tags.poor_score = True
        return tags

    def _prototype(self):
        return LinearReward() if self.estimator is None else self.estimator

    @property
    def _text_items(self):
        """Whether the members take text items (their :class:`RewardTags`)."""
        return get_reward_tags(self._prototype()).text_items

    def _check_members(self):
        """Raise unless fitted with at least one member and one weight each.

        A model that says it is fitted but has no members would otherwise
        predict rows of zeros; refusing is the honest answer.
        """
        check_is_fitted(self)
        n_members = len(getattr(self, "estimators_", ()))
        weights = np.asarray(getattr(self, "estimator_weights_", ()))
        if n_members == 0 or weights.shape != (n_members,):
            raise NotFittedError(
                f"This {type(self).__name__} has {n_members} members and "
                f"{weights.size} weights: it is not a usable fitted model. Call "
                "fit first."
            )

    def _validate_pairs(self, X, y="no_validation", *, reset):
        return validate_pairs(self, X, y, reset=reset, text=self._text_items)

    def _pair_votes(self, X):
        """Member votes for A and for B, each computed from its own side.

        ``1 - votes_a`` would lose all relative precision where a sharp soft
        vote is near-certain; evaluating B's side directly keeps
        ``predict_proba`` of swapped pairs exactly the reversed columns.
        """
        self._check_members()
        items_a, items_b = self._validate_pairs(X, reset=False)
        rewards_a = member_rewards(self.estimators_, items_a)
        rewards_b = member_rewards(self.estimators_, items_b)
        return (
            pair_votes(rewards_a, rewards_b, self.vote),
            pair_votes(rewards_b, rewards_a, self.vote),
        )

    def predict_proba(self, X):
        """Weighted share of members preferring A (column 1) and B (column 0).

        With ``vote="hard"`` members vote ``1[r_j(A) > r_j(B)]`` (1/2 on ties),
        with ``vote="soft"`` they vote ``sigmoid(r_j(A) - r_j(B))``.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.

        Returns
        -------
        proba : ndarray of shape (n_pairs, 2)
        """
        votes_a, votes_b = self._pair_votes(X)
        return _proba(votes_a, votes_b, self.estimator_weights_)

    def predict(self, X):
        """``classes_[1]`` where the weighted majority prefers A, else ``classes_[0]``.

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
        """Negative pairwise calibration error (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
        y : array-like of shape (n_pairs,)
            Soft labels, or the label values seen in fit.
        sample_weight : array-like of shape (n_pairs,), default=None

        Returns
        -------
        score : float
            ``-calibration_error(y, predict_proba(X)[:, 1])``.
        """
        share = self.predict_proba(X)[:, 1]
        target, weights = self._score_target(y, sample_weight, share.shape[0])
        return -weighted_error(share, target, weights)

    def _score_target(self, y, sample_weight, n_pairs):
        """Soft labels and pair weights for scoring ``n_pairs`` predictions."""
        target, _ = encode_labels(y, self.classes_)
        if target.shape[0] != n_pairs:
            raise ValueError(
                f"y has {target.shape[0]} entries but X has {n_pairs} pairs."
            )
        return target, check_sample_weight(sample_weight, target.shape[0])

    def rewards(self, items):
        """Per-member rewards of items, for steering a policy by member.

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
        self._check_members()
        items = validate_items(self, items, text=self._text_items)
        return member_rewards(self.estimators_, items)


def _proba(votes_a, votes_b, weights):
    share_a = np.clip(votes_a @ weights, 0.0, 1.0)
    share_b = np.clip(votes_b @ weights, 0.0, 1.0)
    return np.column_stack([share_b, share_a])
