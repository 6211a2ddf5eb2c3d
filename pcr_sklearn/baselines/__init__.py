"""Baselines with the ensemble's pairs API, for honest comparisons.

Each fits ``estimators_`` with ``estimator_weights_`` and predicts the
weighted share of its members preferring A, like
:class:`~pcr_sklearn.PairwiseCalibratedEnsemble`. All four take
``vote={"soft", "hard"}`` (default ``"soft"``): ``"soft"`` reports each model's
probability output (members' ``sigmoid(r(A) - r(B))``, weighted), ``"hard"``
the hard-vote share (members' ``1[r(A) > r(B)]``, weighted; 0/1 for a single
reward). ``vote`` does not change fitting, so ``set_params(vote=...)`` on a
fitted model reads the other output without refitting.

- :class:`SoftBradleyTerry`: one reward on the soft labels.
- :class:`MajorityVoteBradleyTerry`: one reward on majority-vote labels.
- :class:`BaggedRewardEnsemble`: soft-label rewards on bootstrap samples.
- :class:`MixtureBradleyTerry`: a mixture of rewards fitted by likelihood.
"""

from ._bagging import BaggedRewardEnsemble
from ._bradley_terry import MajorityVoteBradleyTerry, SoftBradleyTerry, majority_labels
from ._mixture import MixtureBradleyTerry

__all__ = [
    "BaggedRewardEnsemble",
    "MajorityVoteBradleyTerry",
    "MixtureBradleyTerry",
    "SoftBradleyTerry",
    "majority_labels",
]
