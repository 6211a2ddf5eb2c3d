"""The stage loop of Forward Stagewise Additive Modeling (FSAM).

One stage adds a member fitted to the current calibration residual (as the
stage objective, :mod:`pcr_sklearn._objectives`, defines it), re-optimises all
weights exactly on the simplex, then optionally runs backfitting passes that
re-fit each member against the others. :class:`StageLoop` owns everything that
changes while stages are added (members, weights, training votes, scores,
early-stopping bookkeeping); the estimator validates inputs, builds a loop,
runs it and commits the result as its fitted attributes.
"""

from __future__ import annotations

import time

import numpy as np

from ._simplex import simplex_least_squares
from .metrics import disagreement_scores
from .rewards._base import (
    fit_member,
    member_rewards,
    prepare_pairs,
    restore_warm_start,
    seeded_clone,
)
from .utils.validation import pair_votes, weighted_mean

MAX_SEED = np.iinfo(np.int32).max
# Backfitting stops once a pass lowers the training error by less than this
# fraction.
_BACKFIT_RTOL = 1e-3


def member_votes(members, items_a, items_b, vote):
    """Votes of all members on pairs, shape ``(n_pairs, n_members)``."""
    return pair_votes(
        member_rewards(members, items_a), member_rewards(members, items_b), vote
    )


def weighted_error(prediction, target, sample_weight):
    """Weighted mean squared error: the calibration error on training data."""
    return float(weighted_mean((prediction - target) ** 2, sample_weight))


def renormalise(weights):
    """Weights scaled to sum to one (uniform when they sum to zero)."""
    total = weights.sum()
    return weights / total if total > 0 else np.full(weights.shape, 1 / weights.size)


def disagreement(votes, weights, sample_weight):
    """``E|V_j - p_hat|`` of every member against the ensemble's share."""
    share = np.clip(votes @ weights, 0.0, 1.0)
    return disagreement_scores(votes, share, sample_weight=sample_weight)


class StageLoop:
    """Adds FSAM stages to members on fixed training pairs.

    Parameters
    ----------
    prototype : reward learner
        Cloned (with a fresh seed) for every member fit.
    items_a, items_b : ndarray
        Training items.
    target, sample_weight : ndarray of shape (n_pairs,)
        Soft labels and pair weights.
    vote : {"hard", "soft"}
    objective : StageObjective
        What members are fitted to.
    n_backfit : int
        Maximum backfitting passes per stage.
    rng : numpy.random.RandomState
        Source of member seeds, drawn in a fixed order so that adding stages
        one call at a time equals adding them in one call.
    members, weights, train_score : default=()
        A model to continue (warm start, ``partial_fit``).
    n_member_fits : int, default=0
        Member fits the model to continue cost so far.
    verbose : int, default=0
        Print one line per stage (and per validation) when positive.

    Attributes
    ----------
    members : list of fitted reward learners
    weights : ndarray of shape (n_members,)
    votes : ndarray of shape (n_pairs, n_members)
        Training votes of the members.
    train_score : list of float
        Training error after each stage.
    validation_score : list of float
        Validation error after each stage run by :meth:`run` with validation.
    n_member_fits : int
        Member fits so far (those of the model continued included).
    """

    def __init__(
        self,
        prototype,
        items_a,
        items_b,
        target,
        sample_weight,
        *,
        vote,
        objective,
        n_backfit,
        rng,
        members=(),
        weights=None,
        train_score=(),
        n_member_fits=0,
        verbose=0,
    ):
        self.prototype = prototype
        self.items_a = items_a
        self.items_b = items_b
        self.target = target
        self.sample_weight = sample_weight
        self.vote = vote
        self.objective = objective
        self.n_backfit = n_backfit
        self.rng = rng
        self.verbose = verbose
        self.n_member_fits = n_member_fits
        self.members = list(members)
        self.train_score = list(train_score)
        self.validation_score = []
        if self.members:
            self.votes = member_votes(self.members, items_a, items_b, vote)
            self.weights = np.asarray(weights, dtype=np.float64)
        else:
            self.votes = np.empty((len(target), 0))
            self.weights = np.empty(0)
        self.n_start = len(self.members)
        self._completed = self._snapshot()

    @property
    def error(self):
        """Training calibration error of the current members and weights."""
        return weighted_error(
            self.votes @ self.weights, self.target, self.sample_weight
        )

    # ------------------------------------------------------------ the loop

    def run(self, n_stages, validation=None, *, tol=0.0, n_iter_no_change=1):
        """Add up to ``n_stages`` stages; with validation data, stop early.

        With ``validation = (items_a, items_b, target, sample_weight)`` the
        loop stops once the validation error has not improved by ``tol`` for
        ``n_iter_no_change`` stages, and rolls back to the best prefix seen
        (the members present when it started count as a candidate).

        A ``KeyboardInterrupt`` rolls back to the last completed stage (the
        best one seen, with validation data) before it propagates, so the
        loop's state is always a consistent model.

        Returns
        -------
        self : StageLoop
        """
        best = self._snapshot()
        try:
            if validation is None:
                for _ in range(n_stages):
                    self.add_stage()
                return self
            best_error = self.validation_error(validation) if self.members else np.inf
            stale = 0
            for _ in range(n_stages):
                self.add_stage()
                error = self.validation_error(validation)
                self.validation_score.append(error)
                if error < best_error - tol:
                    best, best_error, stale = self._snapshot(), error, 0
                else:
                    stale += 1
                    if stale >= n_iter_no_change:
                        break
        except KeyboardInterrupt:
            self._restore(self._completed if validation is None else best)
            raise
        self._restore(best, recompute_votes=True)
        return self

    def add_stage(self):
        """Fit one new member, re-optimise weights, backfit; return the error.

        The stage grows once per newcomer share of the objective (twice for
        ``"auto"``) and keeps the growth with the lower training error after
        backfitting.
        """
        started = time.perf_counter()
        start = (list(self.members), self.votes, self.weights)
        best = None
        for share in self.objective.newcomer_shares(len(self.members)):
            self.members, self.votes, self.weights = list(start[0]), *start[1:]
            error = self._grow(share)
            if best is None or error < best[0]:
                best = (error, self.members, self.votes, self.weights)
        error, self.members, self.votes, self.weights = best
        self.train_score.append(error)
        self._completed = self._snapshot()
        if self.verbose:
            print(
                f"[PairwiseCalibratedEnsemble] stage {len(self.members)}: "
                f"train error {error:.5f} ({time.perf_counter() - started:.2f}s)"
            )
        return error

    def validation_error(self, validation):
        """Calibration error of the current members on validation pairs."""
        items_a, items_b, target, weight = validation
        votes = member_votes(self.members, items_a, items_b, self.vote)
        error = weighted_error(votes @ self.weights, target, weight)
        if self.verbose:
            print(f"[PairwiseCalibratedEnsemble]   validation error {error:.5f}")
        return error

    # ------------------------------------------------------------- results

    def staged_weights(self):
        """Optimal weights of every prefix of the members (last = current)."""
        staged = [
            simplex_least_squares(self.votes[:, :j], self.target, self.sample_weight)
            for j in range(1, len(self.members))
        ]
        staged.append(self.weights.copy())
        return staged

    def disagreement(self):
        """Each member's disagreement with the ensemble on the training pairs."""
        return disagreement(self.votes, self.weights, self.sample_weight)

    # ----------------------------------------------------------- internals

    def _snapshot(self):
        return list(self.members), self.weights, self.votes, len(self.train_score)

    def _restore(self, snapshot, *, recompute_votes=False):
        members, weights, votes, n_scores = snapshot
        self.members, self.weights, self.votes = list(members), weights, votes
        if recompute_votes:
            # The votes the best prefix is scored and pruned with are those of
            # its members evaluated together, as predictions evaluate them.
            self.votes = member_votes(
                self.members, self.items_a, self.items_b, self.vote
            )
        del self.train_score[n_scores:]

    def _grow(self, share):
        """Add a newcomer presumed to take ``share``, then backfit."""
        partial = (1.0 - share) * (self.votes @ self.weights)
        member, votes = self._fit_member(partial, share)
        self.members.append(member)
        self.votes = np.column_stack([self.votes, votes])
        self.weights = simplex_least_squares(
            self.votes, self.target, self.sample_weight
        )
        error = self.error
        for _ in range(self.n_backfit):
            before = error
            for j in range(len(self.members)):
                error = self._backfit(j, error)
            if before - error <= _BACKFIT_RTOL * before:
                # Passes that no longer move the error are not worth their fits
                # (and one that kept every member would repeat itself).
                break
        return error

    def _backfit(self, j, error):
        """Re-fit member ``j`` against the others; keep it if error does not rise.

        Returns the training error afterwards.
        """
        partial = self.votes @ self.weights - self.weights[j] * self.votes[:, j]
        member, votes = self._fit_member(
            partial, self.weights[j], previous=self.members[j]
        )
        trial_votes = self.votes.copy()
        trial_votes[:, j] = votes
        trial_weights = simplex_least_squares(
            trial_votes, self.target, self.sample_weight
        )
        trial_error = weighted_error(
            trial_votes @ trial_weights, self.target, self.sample_weight
        )
        if trial_error <= error:
            self.members[j] = member
            self.votes = trial_votes
            self.weights = trial_weights
            return trial_error
        return error

    def _fit_member(self, partial, member_weight, previous=None):
        """Fit a member that is to carry ``member_weight`` next to ``partial``."""
        seed = self.rng.randint(MAX_SEED)
        target, weight = self.objective.targets(
            self.target, partial, member_weight, self.sample_weight
        )
        member = seeded_clone(self.prototype, seed, previous=previous)
        fit_member(
            member,
            self.items_a,
            self.items_b,
            target,
            weight,
            self.objective.loss,
            self._prepared_pairs(),
        )
        restore_warm_start(member, previous)
        self.n_member_fits += 1
        votes = member_votes([member], self.items_a, self.items_b, self.vote)[:, 0]
        return member, votes

    def _prepared_pairs(self):
        """The training pairs prepared by the prototype, once per loop.

        Learners with the protocol's prepared-pairs hook (``prepare_pairs``
        and ``fit_prepared``, e.g. LinearReward's cached differences) then
        skip validating and preprocessing the same items on every one of the
        loop's member fits; others get None and are fitted with ``fit``.
        """
        if not hasattr(self, "_prepared"):
            self._prepared = prepare_pairs(self.prototype, self.items_a, self.items_b)
        return self._prepared
