"""Fitting plumbing shared by the baselines.

Every baseline ends up as members (fitted reward learners) with weights on the
simplex, exactly like :class:`~pcr_sklearn.PairwiseCalibratedEnsemble`, so
prediction, scoring and per-member rewards come from the same
:class:`~pcr_sklearn._base.BasePairEnsemble`.
"""

import numpy as np
from sklearn.utils import check_random_state

from .._base import BasePairEnsemble
from .._pairs import check_sample_weight, encode_labels
from .._stages import MAX_SEED


class _BasePairBaseline(BasePairEnsemble):
    """Fitting helpers of the baselines; prediction comes from BasePairEnsemble.

    Subclasses define ``fit``; it must call :meth:`_validate_fit_data` first
    and :meth:`_set_members` last.
    """

    def _validate_fit_data(self, X, y, sample_weight):
        """Pairs, soft labels and weights; sets ``classes_`` and ``estimator_``."""
        items_a, items_b, y = self._validate_pairs(X, y, reset=True)
        target, self.classes_ = encode_labels(y)
        sample_weight = check_sample_weight(sample_weight, target.shape[0])
        self.estimator_ = self._prototype()
        return items_a, items_b, target, sample_weight

    def _member_seeds(self, n):
        # Seeds are drawn up front from one generator so that member j's seed
        # does not depend on how the other members were fitted.
        rng = check_random_state(self.random_state)
        return [int(s) for s in rng.randint(MAX_SEED, size=n)]

    def _set_members(self, members, weights):
        self.estimators_ = list(members)
        self.estimator_weights_ = np.asarray(weights, dtype=np.float64)
        self.n_estimators_ = len(self.estimators_)
