"""Stage mechanics of Forward Stagewise Additive Modeling (FSAM).

One stage adds a member fitted to the current calibration residual,
re-optimises all weights exactly on the simplex, then (optionally) runs
backfitting passes that re-fit each earlier member against the others. The
public estimator owns validation, early stopping and attributes; this module
only knows the training data and the members.
"""

import copy

import numpy as np
from sklearn.base import clone

from ._pairs import pair_votes
from ._simplex import simplex_least_squares

_MAX_SEED = np.iinfo(np.int32).max
# Backfitting stops once a pass lowers the training error by less than this
# fraction.
_BACKFIT_RTOL = 1e-3


def member_rewards(members, items):
    """Rewards of all members on ``items``, shape ``(n_items, n_members)``.

    Members of a class that provides ``_rewards_many`` (e.g. linear rewards)
    are evaluated together, so the items are read once per class, not once
    per member.
    """
    out = np.empty((len(items), len(members)))
    by_class = {}
    for j, member in enumerate(members):
        by_class.setdefault(type(member), []).append(j)
    for cls, columns in by_class.items():
        if hasattr(cls, "_rewards_many"):
            out[:, columns] = cls._rewards_many([members[j] for j in columns], items)
        else:
            for j in columns:
                out[:, j] = members[j].reward(items)
    return out


def member_votes(members, items_a, items_b, vote):
    """Votes of all members on pairs, shape ``(n_pairs, n_members)``."""
    return pair_votes(
        member_rewards(members, items_a), member_rewards(members, items_b), vote
    )


def weighted_error(prediction, target, sample_weight):
    return float(np.average((prediction - target) ** 2, weights=sample_weight))


class StagewiseFitter:
    """Adds FSAM stages to a list of members on fixed training pairs.

    Parameters
    ----------
    estimator : reward learner
        Prototype cloned for every member fit.
    items_a, items_b : ndarray
        Training items.
    target, sample_weight : ndarray of shape (n_pairs,)
        Soft labels and pair weights.
    vote, objective, n_backfit : see ``PairwiseCalibratedEnsemble``.
    rng : numpy.random.RandomState
        Source of member seeds; drawn in a fixed order so that ``partial_fit``
        stage by stage equals ``fit``.
    members, weights : list, ndarray
        Members fitted so far (on other calls) and their weights.
    """

    def __init__(
        self,
        estimator,
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
    ):
        self.estimator = estimator
        self.items_a = items_a
        self.items_b = items_b
        self.target = target
        self.sample_weight = sample_weight
        self.vote = vote
        self.objective = objective
        self.n_backfit = n_backfit
        self.rng = rng
        self.members = list(members)
        if self.members:
            self.votes = member_votes(self.members, items_a, items_b, vote)
            self.weights = np.asarray(weights, dtype=np.float64)
        else:
            self.votes = np.empty((len(target), 0))
            self.weights = np.empty(0)

    @property
    def error(self):
        """Training calibration error of the current members and weights."""
        return weighted_error(
            self.votes @ self.weights, self.target, self.sample_weight
        )

    def add_stage(self):
        """Fit one new member, re-optimise weights, backfit; return the error.

        With ``objective="auto"`` the stage is grown twice, from a
        ``"weighted"`` and from a ``"shared"`` newcomer, and the one with the
        lower training error after backfitting is kept.
        """
        m = len(self.members)
        # The newcomer's weight is unknown until the simplex step: "weighted"
        # linearises at zero weight, "shared" presumes an equal share 1/(m+1)
        # (the others shrink to make room); a first member takes it all.
        if not m:
            shares = [1.0]
        else:
            shares = {
                "residual": [0.0],
                "weighted": [0.0],
                "shared": [1.0 / (m + 1)],
                "auto": [0.0, 1.0 / (m + 1)],
            }[self.objective]
        start = (list(self.members), self.votes, self.weights)
        best = None
        for share in shares:
            self.members, self.votes, self.weights = list(start[0]), *start[1:]
            error = self._grow(share)
            if best is None or error < best[0]:
                best = (error, self.members, self.votes, self.weights)
        error, self.members, self.votes, self.weights = best
        return error

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

    def staged_weights(self):
        """Optimal weights of every prefix of the members (last = current)."""
        staged = [
            simplex_least_squares(self.votes[:, :j], self.target, self.sample_weight)
            for j in range(1, len(self.members))
        ]
        staged.append(self.weights.copy())
        return staged

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
        """Fit a member that is to carry ``member_weight`` next to ``partial``.

        ``partial`` is the other members' weighted vote. ``"residual"`` (the
        paper): squared error of the member's sigmoid against
        ``p - partial``. ``"weighted"`` / ``"shared"``: with weight ``a`` the
        member lowers the error on a pair by voting A exactly when
        ``p - partial > a / 2``, by an amount proportional to
        ``|p - partial - a / 2|``; that is a weighted classification.
        """
        seed = self.rng.randint(_MAX_SEED)
        if self.objective == "residual":
            # Round-off can push p - partial a hair outside [-1, 1].
            target = np.clip(self.target - partial, -1.0, 1.0)
            weight, loss = self.sample_weight, "squared"
        else:
            margin = self.target - partial - member_weight / 2.0
            target = (margin > 0).astype(np.float64)
            weight, loss = self.sample_weight * np.abs(margin), "log"
            if not weight.any():
                # Already calibrated: nothing to gain, fit a plain soft-label
                # member (its weight will be whatever the simplex step finds).
                target, weight = self.target, self.sample_weight
        member = _seeded_clone(self.estimator, seed, previous=previous)
        member.fit(self.items_a, self.items_b, target, weight, loss=loss)
        if previous is not None and "warm_start" in previous.get_params():
            member.set_params(warm_start=previous.get_params()["warm_start"])
        votes = member_votes([member], self.items_a, self.items_b, self.vote)[:, 0]
        return member, votes


def _seeded_clone(estimator, seed, previous=None):
    """Clone ``estimator`` with every ``random_state`` parameter set to ``seed``.

    Given the ``previous`` fit of a member being re-fitted, and a learner
    with a ``warm_start`` parameter, copy that fit instead and switch warm
    start on: the re-fit starts where the old solution was.
    """
    warm = previous is not None and "warm_start" in previous.get_params()
    member = copy.deepcopy(previous) if warm else clone(estimator)
    params = {
        key: seed
        for key in member.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    }
    if warm:
        params["warm_start"] = True
    if params:
        member.set_params(**params)
    return member
