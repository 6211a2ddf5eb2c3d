"""Private scikit-learn imports kept in one place.

``_fit_context``, ``validate_params`` and the parameter-constraint classes are
private in scikit-learn; if a release moves them, only this module changes.

scikit-learn ships no type hints, so to a type checker its decorators would
turn every function they decorate into ``Any``; they keep the function's
signature (``functools.wraps``), which the stubs under ``TYPE_CHECKING`` say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import _num_samples, validate_data

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    _F = TypeVar("_F", bound=Callable[..., Any])

    def _fit_context(*, prefer_skip_nested_validation: bool) -> Callable[[_F], _F]:
        """scikit-learn's ``sklearn.base._fit_context``."""

    def validate_params(
        parameter_constraints: dict[str, Any], *, prefer_skip_nested_validation: bool
    ) -> Callable[[_F], _F]:
        """scikit-learn's ``sklearn.utils._param_validation.validate_params``."""

else:
    from sklearn.base import _fit_context
    from sklearn.utils._param_validation import validate_params

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
