"""Staged predictions and pruning: what every prefix of an ensemble offers.

Every fitted ensemble of the package stores the weights of each prefix of its
members (``_staged_weights``); the methods here read predictions, labels and
scores of every prefix from one evaluation of the members, and prune outlier
members (the paper's Theorem 3).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._pairs import check_sample_weight
from ._pruning import prune_mask
from ._stages import disagreement, renormalise, weighted_error

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Self

    from numpy.typing import ArrayLike, NDArray


class StagedMixin:
    """``staged_predict_proba``, ``staged_predict``, ``staged_score``, ``prune``.

    For ensembles built on :class:`~pcr_sklearn._base.BasePairEnsemble` that
    set ``_staged_weights``, ``member_disagreement_`` and ``train_score_``
    when fitted.
    """

    def prune(
        self,
        beta: float,
        X: ArrayLike | None = None,
        y: ArrayLike | None = None,
        *,
        sample_weight: ArrayLike | None = None,
    ) -> Self:
        """Copy of the ensemble without its outlier members (paper, Theorem 3).

        Members are dropped in decreasing order of their disagreement with
        the ensemble, ``E|V_j - p_hat|``, while the dropped weight stays within
        ``1 / (beta - 1)``; the remaining weights are renormalised. If the
        ensemble has calibration error ``eps``, the pruned one has at most
        ``(sqrt(eps) + 1 / (beta - 1))**2``.

        Parameters
        ----------
        beta : float
            Greater than 1; larger keeps more members.
        X : array-like of pairs, default=None
            Pairs on which to measure disagreement; ``None`` uses the training
            pairs (``member_disagreement_``).
        y : array-like of shape (n_pairs,), default=None
            Soft labels of ``X``; when given, the pruned model's
            ``train_score_`` holds the error of each of its prefixes on
            ``(X, y)``.
        sample_weight : array-like of shape (n_pairs,), default=None
            Weights of the pairs in ``X``.

        Returns
        -------
        pruned : estimator of the same class
            A new fitted ensemble that shares nothing with ``self`` (members
            and random generator are copies; ``self`` is unchanged). Its
            ``pruned_members_`` lists the dropped members' indices, its staged
            predictions use renormalised prefixes of the kept weights, and its
            ``train_score_`` has one entry per kept member: the errors on
            ``(X, y)`` when ``y`` is given, else NaN (the training pairs are
            not stored, and the errors measured while fitting belonged to
            other members).
        """
        check_is_fitted(self)
        if y is not None and X is None:
            raise ValueError("y is the soft labels of X; pass X with it.")
        if X is None:
            scores = self.member_disagreement_
        else:
            votes = self._pair_votes(X)[0]
            weights = check_sample_weight(sample_weight, votes.shape[0])
            scores = disagreement(votes, self.estimator_weights_, weights)
        keep = prune_mask(scores, self.estimator_weights_, beta)
        pruned = copy.deepcopy(self)
        pruned.estimators_ = [m for m, kept in zip(pruned.estimators_, keep) if kept]
        pruned.estimator_weights_ = renormalise(self.estimator_weights_[keep])
        pruned.n_estimators_ = len(pruned.estimators_)
        pruned.member_disagreement_ = scores[keep]
        pruned.pruned_members_ = np.flatnonzero(~keep)
        pruned._staged_weights = [
            renormalise(pruned.estimator_weights_[:j])
            for j in range(1, pruned.n_estimators_ + 1)
        ]
        pruned.__dict__.pop("validation_score_", None)
        if y is None:
            pruned.train_score_ = np.full(pruned.n_estimators_, np.nan)
        else:
            pruned.train_score_ = -np.fromiter(
                pruned.staged_score(X, y, sample_weight=sample_weight),
                np.float64,
                pruned.n_estimators_,
            )
        return pruned

    def staged_predict_proba(self, X: ArrayLike) -> Iterator[NDArray[np.float64]]:
        """``predict_proba`` of the first ``j`` members, for ``j = 1..n_estimators_``.

        Each prefix uses its own weights, stored at fit: with stagewise
        members the weights that are optimal for it on the training data (so
        the training error along the stages never increases), with members
        drawn from a population equal weights (the prefix is exactly the
        smaller ensemble). The last one equals :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.

        Yields
        ------
        proba : ndarray of shape (n_pairs, 2)
            A new array at every stage.
        """
        # Chunk by chunk, from compact votes (see BasePairEnsemble._staged_proba).
        yield from self._staged_proba(X, self._staged_weights)

    def staged_predict(self, X: ArrayLike) -> Iterator[NDArray[Any]]:
        """``predict`` of the first ``j`` members, for ``j = 1..n_estimators_``.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.

        Yields
        ------
        labels : ndarray of shape (n_pairs,)
            ``classes_[1]`` where the prefix's weighted majority prefers A.
        """
        for proba in self.staged_predict_proba(X):
            yield self.classes_[(proba[:, 1] > 0.5).astype(int)]

    def staged_score(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> Iterator[float]:
        """``score`` of the first ``j`` members, for ``j = 1..n_estimators_``.

        The member votes are computed once, so this costs about one
        :meth:`score` call, not ``n_estimators_``.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.
        y : array-like of shape (n_pairs,)
            Soft labels, or the label values seen in fit.
        sample_weight : array-like of shape (n_pairs,), default=None
            Pair weights of the mean; ``None``: all pairs weigh the same.

        Yields
        ------
        score : float
            Negative calibration error of the prefix.
        """
        target, weights = None, None
        for proba in self.staged_predict_proba(X):
            if target is None:
                target, weights = self._score_target(y, sample_weight, len(proba))
            yield -weighted_error(proba[:, 1], target, weights)
