"""Type hints on the public API, and the PEP 561 marker that publishes them.

The public API is the list of ``docs/_public_api.py``, the one the API
reference is built from and ``tests/test_docstrings.py`` validates: every name
in the ``__all__`` of the public modules (and the functions of
``pcr_sklearn.utils.validation``), and the public methods and properties their
classes define or inherit from pcr_sklearn (not those inherited from
scikit-learn). Each of these functions, and each class's ``__init__`` when
pcr_sklearn defines it, must annotate its return value and every parameter
except ``self``/``cls``, ``*args`` and ``**kwargs``. A new public method
without them fails here, under its own name.

Annotations are read as written (``from __future__ import annotations``
keeps them as strings); names that only exist for type checkers
(``if TYPE_CHECKING:`` imports) are not resolved here. ruff reports
undefined names in annotations.
"""

import inspect
import sys
from pathlib import Path

import pytest

import pcr_sklearn

from ._helpers import ROOT, load_script

API = load_script("docs/_public_api.py", "_pcr_public_api_typing")

_UNCHECKED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _missing_annotations(func):
    """Names of the unannotated parameters of ``func``, and ``"return"``.

    ``func`` is a plain function (methods as found in the class ``__dict__``,
    so with their ``self``/``cls``); decorators that keep ``__wrapped__``
    (``functools.wraps``) are seen through.
    """
    signature = inspect.signature(func)
    missing = [
        parameter.name
        for position, parameter in enumerate(signature.parameters.values())
        if parameter.annotation is inspect.Parameter.empty
        and parameter.kind not in _UNCHECKED_KINDS
        and not (position == 0 and parameter.name in ("self", "cls"))
    ]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def _own_init(cls):
    """``cls.__init__`` when a pcr_sklearn class defines it, else None."""
    owner = next(klass for klass in cls.__mro__ if "__init__" in vars(klass))
    if not owner.__module__.startswith("pcr_sklearn"):
        return None  # object's, Exception's or scikit-learn's
    return vars(owner)["__init__"]


def _method_functions(cls, name):
    """The functions behind public method or property ``name`` of ``cls``."""
    owner = next(klass for klass in cls.__mro__ if name in vars(klass))
    attr = vars(owner)[name]
    if isinstance(attr, (staticmethod, classmethod)):
        return [attr.__func__]
    if isinstance(attr, property):
        return [f for f in (attr.fget, attr.fset) if f is not None]
    return [attr]


def _targets():
    """``(qualified name, function)`` of every public function and method."""
    targets = []
    for module, name, obj in API.public_objects():
        kind = API.kind(obj)
        if kind == "function":
            targets.append((f"{module}.{name}", obj))
        elif kind == "class":
            init = _own_init(obj)
            if init is not None:
                targets.append((f"{module}.{name}.__init__", init))
            for method in API.public_methods(obj):
                targets += [
                    (f"{module}.{name}.{method}", func)
                    for func in _method_functions(obj, method)
                ]
    return targets


TARGETS = _targets()


@pytest.mark.parametrize("name, func", TARGETS, ids=[name for name, _ in TARGETS])
def test_public_callable_is_annotated(name, func):
    missing = _missing_annotations(func)
    assert not missing, (
        f"{name} ({inspect.getsourcefile(inspect.unwrap(func))}) lacks type hints "
        f"for: {', '.join(missing)}"
    )


def test_the_walk_reaches_methods_functions_and_inherited_methods():
    """The list is not silently empty or shallow."""
    names = {name for name, _ in TARGETS}
    expected = {
        "pcr_sklearn.PairwiseCalibratedEnsemble.__init__",
        "pcr_sklearn.PairwiseCalibratedEnsemble.fit",
        # inherited from pcr_sklearn's own bases
        "pcr_sklearn.PairwiseCalibratedEnsemble.predict_proba",
        "pcr_sklearn.PairwiseCalibratedEnsembleCV.staged_score",
        # classmethods, staticmethods, properties
        "pcr_sklearn.metrics.PairCalibrationDisplay.from_estimator",
        "pcr_sklearn.rewards.TransformerReward.set_cache_limit",
        "pcr_sklearn.rewards.TransformerReward.module_",
        "pcr_sklearn.metrics.calibration_error",
        "pcr_sklearn.utils.validation.check_pair_weights",
    }
    assert expected <= names, f"not walked: {sorted(expected - names)}"
    # scikit-learn's API is scikit-learn's: not checked here.
    assert "pcr_sklearn.PairwiseCalibratedEnsemble.get_params" not in names


def test_the_check_reports_what_is_missing():
    def unannotated(self, a, b: int, *args, c=1, **kwargs):
        pass

    def annotated(cls, a: int, *args: int, **kwargs: str) -> None:
        pass

    assert _missing_annotations(unannotated) == ["a", "c", "return"]
    assert _missing_annotations(annotated) == []


def test_package_ships_py_typed():
    """PEP 561: the marker sits in the package directory, empty."""
    marker = Path(pcr_sklearn.__file__).parent / "py.typed"
    assert marker.is_file(), f"{marker} is missing"
    assert marker.read_bytes() == b""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_py_typed_is_package_data():
    """The wheel carries the marker: setuptools lists it as package data."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data.get("pcr_sklearn", [])
