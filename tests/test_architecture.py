"""The layering rule of docs/architecture.md, read from the source's imports.

An arrow may only point down (or within a layer); every module of the package
must be placed in a layer here, so a new module is classified on purpose.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pcr_sklearn"

# Longest matching prefix wins. Layer 1: pair contract, validation, vote
# rule, simplex; 2: metrics, datasets, recovery; 3: reward learners, text
# features; 4: the ensemble, its CV variant, baselines; 5: tools on top.
LAYERS = {
    "pcr_sklearn._compat": 1,
    "pcr_sklearn._pairs": 1,
    "pcr_sklearn._pruning": 1,
    "pcr_sklearn._simplex": 1,
    "pcr_sklearn._torch": 1,
    "pcr_sklearn.utils._caches": 1,
    "pcr_sklearn.utils": 1,
    "pcr_sklearn.utils.validation": 1,
    "pcr_sklearn.metrics": 2,
    "pcr_sklearn.datasets": 2,
    "pcr_sklearn.recovery": 2,
    "pcr_sklearn.rewards": 3,
    "pcr_sklearn.text": 3,
    "pcr_sklearn._objectives": 4,
    "pcr_sklearn._population": 4,
    "pcr_sklearn._stages": 4,
    "pcr_sklearn._staged": 4,
    "pcr_sklearn._base": 4,
    "pcr_sklearn._ensemble": 4,
    "pcr_sklearn._cv": 4,
    "pcr_sklearn.baselines": 4,
    "pcr_sklearn": 5,
    "pcr_sklearn.__main__": 5,
    "pcr_sklearn._cli": 5,
    "pcr_sklearn._demo": 5,
    "pcr_sklearn.io": 5,
    "pcr_sklearn.export": 5,
    "pcr_sklearn.utils.estimator_checks": 5,
    "pcr_sklearn.utils._testing": 5,
    "pcr_sklearn.utils._reward_checks": 5,
}
# What the bottom must never reach, whatever the layer numbers say.
NEVER = {
    prefix: ("pcr_sklearn.rewards", "pcr_sklearn._ensemble", "pcr_sklearn._stages")
    for prefix in (
        "pcr_sklearn.metrics",
        "pcr_sklearn.recovery",
        "pcr_sklearn.datasets",
        "pcr_sklearn._pairs",
        "pcr_sklearn._simplex",
        "pcr_sklearn.utils.validation",
    )
}
MAX_MODULE_LINES = 700
MAX_FUNCTION_CODE_LINES = 100


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module):
    """Layer of ``module``: its own entry, else its longest listed package.

    The package root is matched exactly, never as a prefix, so a module that
    nobody placed fails ``test_every_module_has_a_layer``.
    """
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    if module == "pcr_sklearn":
        return LAYERS[module]
    raise KeyError(f"{module} has no layer in tests/test_architecture.py")


def _imports(path):
    """Every pcr_sklearn module imported anywhere in ``path`` (lazy ones too)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pcr_sklearn"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("pcr_sklearn"):
                continue
            found.add(target)
            # ``from . import x`` / ``from .pkg import sub`` may name modules.
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if _is_module(candidate):
                    found.add(candidate)
    return found


def _is_module(name):
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: _module_name(p))
def test_every_module_has_a_layer(path):
    _layer(_module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: _module_name(p))
def test_imports_point_down(path):
    module = _module_name(path)
    own = _layer(module)
    upward = sorted(
        target
        for target in _imports(path)
        if not module.startswith(target) and _layer(target) > own
    )
    assert not upward, f"{module} (layer {own}) imports higher layers: {upward}"
    for prefix, forbidden in NEVER.items():
        if module == prefix or module.startswith(prefix + "."):
            bad = [t for t in _imports(path) if t.startswith(forbidden)]
            assert not bad, f"{module} must never import {bad}"


def test_the_rule_catches_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: a metrics module importing the ensemble is caught."""
    fake = PACKAGE / "metrics" / "_fake_for_test.py"
    source = "from .._ensemble import PairwiseCalibratedEnsemble\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    module = _module_name(fake)
    imported = _imports(fake)
    assert "pcr_sklearn._ensemble" in imported
    assert _layer("pcr_sklearn._ensemble") > _layer(module)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: _module_name(p))
def test_module_and_function_sizes(path):
    source = path.read_text()
    n_lines = source.count("\n")
    assert n_lines <= MAX_MODULE_LINES, f"{path.name}: {n_lines} lines"
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        lines = node.end_lineno - node.lineno + 1
        body = node.body[0]
        if isinstance(body, ast.Expr) and isinstance(body.value, ast.Constant):
            lines -= body.end_lineno - body.lineno + 1  # docstrings do not count
        assert lines <= MAX_FUNCTION_CODE_LINES, (
            f"{path.name}:{node.lineno} {node.name} has {lines} lines of code"
        )
