"""Reward learners: the members of a pairwise calibrated ensemble."""

from ._base import BaseReward
from ._linear import LinearReward
from ._mlp import MLPReward
from ._transformer import TransformerReward

__all__ = ["BaseReward", "LinearReward", "MLPReward", "TransformerReward"]
