"""The public API of pcr_sklearn: one list for the API reference and its tests.

``docs/conf.py`` writes the autosummary tables of ``docs/api.rst`` from
:data:`SECTIONS` and :func:`public_names`, and ``tests/test_docstrings.py``
validates the docstrings of exactly the same objects (:func:`public_objects`,
:func:`public_methods`). A name is public when its module lists it in
``__all__``; :mod:`pcr_sklearn.utils.validation` has no ``__all__``, so there
the public names are the functions it defines and its documented constants.
"""

from __future__ import annotations

import importlib
import inspect

#: (module, section title, one-line description) in the order of the reference.
SECTIONS = (
    (
        "pcr_sklearn",
        "Estimators",
        "The pairwise calibrated ensemble and its cross-validated variant.",
    ),
    (
        "pcr_sklearn.rewards",
        "Reward learners",
        "The members of an ensemble and the protocol they follow.",
    ),
    (
        "pcr_sklearn.baselines",
        "Baselines",
        "Single rewards and other ensembles with the same pairs API.",
    ),
    (
        "pcr_sklearn.metrics",
        "Metrics and Displays",
        "Calibration error, its floors, member agreement, and plots.",
    ),
    (
        "pcr_sklearn.datasets",
        "Datasets",
        "Synthetic preference mixtures, the bundled argument data, your files.",
    ),
    (
        "pcr_sklearn.recovery",
        "Mixture recovery",
        "Compare a fitted ensemble with a known population; the paper's bounds.",
    ),
    (
        "pcr_sklearn.text",
        "Text features",
        "Text comparisons to numeric pairs, with an embedding cache.",
    ),
    (
        "pcr_sklearn.io",
        "Persistence",
        "Safe model files: skops, trusted types, version stamps.",
    ),
    (
        "pcr_sklearn.export",
        "Export",
        "Member rewards for best-of-n, TRL reward functions, Hugging Face models.",
    ),
    (
        "pcr_sklearn.utils.estimator_checks",
        "Estimator checks",
        "The reward-learner conformance suite and pair-aware ensemble checks.",
    ),
    (
        "pcr_sklearn.utils.validation",
        "Validation utilities",
        "The pair contract's validators and the vote rule (the bottom layer).",
    ),
)

MODULES = tuple(module for module, _, _ in SECTIONS)

# Names in ``__all__`` that are not API objects to document one by one.
_SKIP = {"__version__"}
# Constants of pcr_sklearn.utils.validation (it has no ``__all__``).
_VALIDATION_CONSTANTS = ("TEXT_COLUMNS", "TEXT_ITEM_COLUMNS", "VOTES")


def public_names(module_name):
    """Public names of ``module_name``, sorted: its ``__all__`` (see module doc)."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module_name
        ]
        names += [n for n in _VALIDATION_CONSTANTS if hasattr(module, n)]
    return sorted(n for n in names if n not in _SKIP)


def kind(obj):
    """``"class"``, ``"function"`` or ``"data"``: how the reference shows ``obj``."""
    if inspect.isclass(obj):
        return "class"
    if inspect.isfunction(obj):
        return "function"
    return "data"  # constants, and callable instances such as a scorer


def public_objects():
    """``(module, name, object)`` for every public name of every module."""
    out = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module_name):
            out.append((module_name, name, getattr(module, name)))
    return out


def public_methods(cls):
    """Public methods and properties of ``cls`` written in pcr_sklearn.

    Inherited ones count when the class they come from is pcr_sklearn's (e.g.
    ``predict_proba`` from the shared ensemble base); those inherited from
    scikit-learn (``get_params``, ``set_fit_request``, ...) are scikit-learn's
    API and documented there.
    """
    names = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not owner.__module__.startswith("pcr_sklearn"):
            continue
        attr = vars(owner)[name]
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if inspect.isfunction(attr) or isinstance(attr, property):
            names.append(name)
    return sorted(names)


def data_doc(module_name, name):
    """The ``#:`` doc comment of a public data object, or None.

    Looked up in ``module_name`` and, for a re-exported object (e.g.
    ``pcr_sklearn.metrics.calibration_scorer``), in its private submodules.
    """
    import pkgutil

    from sphinx.pycode import ModuleAnalyzer

    module = importlib.import_module(module_name)
    candidates = [module_name]
    if hasattr(module, "__path__"):
        candidates += [
            info.name
            for info in pkgutil.iter_modules(module.__path__, module_name + ".")
        ]
    for candidate in candidates:
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except Exception:  # a module without source
            continue
        lines = docs.get(("", name))
        if lines:
            return "\n".join(lines).strip()
    return None
