"""Stage objectives: what a new or re-fitted member is trained on.

A member that is to carry weight ``a`` next to the other members' weighted
vote ``partial`` changes the calibration error on a pair by an amount that
depends only on ``p - partial`` and ``a``; each objective turns that into a
target and pair weights for the reward learner's protocol loss. One class per
objective; the stage loop (:mod:`pcr_sklearn._stages`) asks an objective two
things:

* :meth:`StageObjective.newcomer_shares`: the weights a newcomer is presumed
  to take when it is fitted (one stage growth per share);
* :meth:`StageObjective.targets`: the learner's target and pair weights.
"""

from __future__ import annotations

import numpy as np


class StageObjective:
    """Base class: a weighted classification towards the calibration residual.

    With weight ``a`` a member lowers the squared error on a pair by voting A
    exactly when ``p - partial > a / 2``, by an amount proportional to
    ``|p - partial - a / 2|``: the target is that label and the pair weight
    that margin (``loss="log"``).
    """

    #: Name of the objective in ``PairwiseCalibratedEnsemble(objective=...)``.
    name = None
    #: The protocol loss the reward learner is fitted with.
    loss = "log"

    def newcomer_shares(self, n_members):
        """Weights a newcomer next to ``n_members`` members is presumed to take.

        The stage grows once per share and keeps the growth with the lowest
        training error. A first member takes everything.
        """
        return [1.0] if n_members == 0 else self._shares(n_members)

    def _shares(self, n_members):
        return [0.0]

    def targets(self, target, partial, member_weight, sample_weight):
        """Target and pair weights for a member of weight ``member_weight``.

        Parameters
        ----------
        target : ndarray of shape (n_pairs,)
            Soft labels ``p``.
        partial : ndarray of shape (n_pairs,)
            The other members' weighted vote.
        member_weight : float
            Weight the member is to carry.
        sample_weight : ndarray of shape (n_pairs,)
            Pair weights.

        Returns
        -------
        target, sample_weight : ndarray of shape (n_pairs,)
            What the reward learner is fitted on (with :attr:`loss`).
        """
        margin = target - partial - member_weight / 2.0
        weight = sample_weight * np.abs(margin)
        if not weight.any():
            # Already calibrated: nothing to gain, fit a plain soft-label
            # member (its weight will be whatever the simplex step finds).
            return target, sample_weight
        return (margin > 0).astype(np.float64), weight


class WeightedObjective(StageObjective):
    """``"weighted"``: linearise at zero weight (a newcomer's first-order gain)."""

    name = "weighted"


class SharedObjective(StageObjective):
    """``"shared"``: the newcomer presumes an equal share ``1 / (m + 1)``."""

    name = "shared"

    def _shares(self, n_members):
        return [1.0 / (n_members + 1)]


class AutoObjective(StageObjective):
    """``"auto"``: grow the stage both ways and keep the better one."""

    name = "auto"

    def _shares(self, n_members):
        return [0.0, 1.0 / (n_members + 1)]


class ResidualObjective(StageObjective):
    """``"residual"`` (the paper): squared error of the sigmoid to ``p - partial``.

    A sigmoid cannot be negative, so a negative residual is out of reach and
    later stages learn little; kept to reproduce the paper.
    """

    name = "residual"
    loss = "squared"

    def targets(self, target, partial, member_weight, sample_weight):
        # Round-off can push p - partial a hair outside [-1, 1].
        return np.clip(target - partial, -1.0, 1.0), sample_weight


OBJECTIVES = {
    cls.name: cls
    for cls in (AutoObjective, WeightedObjective, SharedObjective, ResidualObjective)
}


def get_objective(name):
    """The objective object for ``PairwiseCalibratedEnsemble(objective=name)``."""
    return OBJECTIVES[name]()
