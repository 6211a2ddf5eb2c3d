"""Pairwise calibrated reward ensembles for pluralistic alignment.

Learn ``k`` reward functions and weights from pairwise preferences with soft
labels so that, for every pair, the weighted share of rewards preferring A
matches the share of annotators who did (Halpern et al., arXiv:2506.06298).
"""

from ._cv import PairwiseCalibratedEnsembleCV
from ._ensemble import PairwiseCalibratedEnsemble

__version__ = "0.1.0"

__all__ = ["PairwiseCalibratedEnsemble", "PairwiseCalibratedEnsembleCV", "__version__"]
