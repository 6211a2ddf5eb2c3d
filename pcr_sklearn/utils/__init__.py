"""Utilities: pair-aware estimator checks and a random-weight BERT builder."""

from ._random_bert import build_random_bert

__all__ = ["build_random_bert"]
