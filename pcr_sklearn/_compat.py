"""Private scikit-learn imports kept in one place.

``_fit_context``, ``validate_params`` and the parameter-constraint classes are
private in scikit-learn; if a release moves them, only this module changes.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import _num_samples, validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
    "_num_samples",
    "validate_data",
    "validate_params",
]
