"""Reward learners: the members of a pairwise calibrated ensemble.

The protocol a member follows is documented in
:mod:`pcr_sklearn.rewards._base` and checked by
:func:`pcr_sklearn.utils.estimator_checks.check_reward_learner`.
"""

from ._base import BaseReward, RewardTags, get_reward_tags, member_rewards
from ._linear import LinearReward
from ._mlp import MLPReward
from ._transformer import TransformerReward

__all__ = [
    "BaseReward",
    "LinearReward",
    "MLPReward",
    "RewardTags",
    "TransformerReward",
    "get_reward_tags",
    "member_rewards",
]
