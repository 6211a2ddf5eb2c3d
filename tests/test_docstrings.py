"""numpydoc validation of the public API: the objects the API reference lists.

The list is ``docs/_public_api.py``, the same one ``docs/conf.py`` builds the
API reference from: every name in the ``__all__`` of the public modules (and
the functions of ``pcr_sklearn.utils.validation``), and every public method
and property those classes define or inherit from the package. Each docstring
must pass all numpydoc checks except those in ``EXCLUDED`` below.
"""

import importlib.util
import pkgutil
import re

import pytest

from ._helpers import ROOT

validate = pytest.importorskip("numpydoc.validate").validate


def _load_public_api():
    spec = importlib.util.spec_from_file_location(
        "_pcr_public_api", ROOT / "docs" / "_public_api.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


API = _load_public_api()

# numpydoc checks not enforced, and why. Everything else is (GL01-GL10,
# SS01-SS06, PR01-PR10, RT01/RT03-RT05, YD01, SA02-SA04, EX01).
EXCLUDED = {
    "ES01": "an extended summary adds nothing to a short, exact function",
    "SA01": "a See Also section only where related objects exist",
    "RT02": "returned values are named (`rewards : ndarray`), scikit-learn style",
}
# Methods are shown in use by their class's example; they need none of their own.
EXCLUDED_FOR_METHODS = {"EX01": "methods are shown in their class's Examples"}


def _targets():
    targets = []
    for module, name, obj in API.public_objects():
        kind = API.kind(obj)
        if kind == "data":
            continue
        targets.append((f"{module}.{name}", kind))
        if kind == "class":
            targets += [
                (f"{module}.{name}.{method}", "method")
                for method in API.public_methods(obj)
            ]
    return targets


TARGETS = _targets()


@pytest.mark.parametrize("name, kind", TARGETS, ids=[name for name, _ in TARGETS])
def test_docstring_passes_numpydoc_validation(name, kind):
    excluded = set(EXCLUDED) | (
        set(EXCLUDED_FOR_METHODS) if kind == "method" else set()
    )
    result = validate(name)
    errors = [
        f"{code}: {msg}" for code, msg in result["errors"] if code not in excluded
    ]
    assert not errors, (
        f"{name} ({result['file']}:{result['file_line']}):\n" + "\n".join(errors)
    )


def _examples_section(doc):
    match = re.search(r"^Examples\n-{8,}\n(.*)", doc or "", re.S | re.M)
    return match.group(1) if match else ""


@pytest.mark.parametrize("name, kind", TARGETS, ids=[name for name, _ in TARGETS])
def test_examples_do_not_import_pytest(name, kind):
    """Examples show user code: what a reader would type, without test tools."""
    examples = _examples_section(validate(name)["docstring"])
    assert "import pytest" not in examples, f"{name}: its Examples import pytest"


def test_every_public_constant_is_documented():
    missing = [
        f"{module}.{name}"
        for module, name, obj in API.public_objects()
        if API.kind(obj) == "data" and not API.data_doc(module, name)
    ]
    assert not missing, f"public constants without a '#:' doc comment: {missing}"


def test_the_list_covers_every_public_module():
    """A new public subpackage must join the API reference (and these tests)."""
    import pcr_sklearn

    public = {
        info.name
        for info in pkgutil.iter_modules(pcr_sklearn.__path__)
        if not info.name.startswith("_")
    }
    covered = {module.split(".")[1] for module in API.MODULES if "." in module}
    assert public <= covered, f"missing from docs/_public_api.py: {public - covered}"
