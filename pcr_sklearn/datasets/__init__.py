"""Datasets: synthetic preference mixtures and bundled real data."""

from ._arguments import load_convincing_arguments
from ._io import load_preference_pairs, soft_labels_from_votes
from ._synthetic import item_features, make_preference_mixture

__all__ = [
    "item_features",
    "load_convincing_arguments",
    "load_preference_pairs",
    "make_preference_mixture",
    "soft_labels_from_votes",
]
