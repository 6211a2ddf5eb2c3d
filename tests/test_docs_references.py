"""The documentation's references to tests and benchmark results resolve.

The docs build checks the same (``docs/_ext/pcr_docs.py``) and fails under
``-W``; these tests say so in the default test run too, without Sphinx:

* every ``:pcr-test:`tests/file.py::test_name``` (the Theory page names the
  test that checks each claim) names a test function that exists;
* every ``.. benchmark-results:: name`` has its results file and a renderer
  that knows the file's current layout (a benchmark that rewrote its JSON
  would otherwise be shown only as a generic dump);
* every inline ``:bench:`file:key``` value exists in its results file.
"""

import ast
import importlib.util
import json
import re

import pytest

from ._helpers import ROOT

DOCS = ROOT / "docs"
RESULTS = ROOT / "benchmarks" / "results"
PAGES = sorted(DOCS.glob("*.rst")) + sorted((DOCS / "user_guide").glob("*.rst"))
# Pages written by the build (docs/.gitignore) are not sources.
PAGES = [p for p in PAGES if p.name not in ("api.rst", "sg_execution_times.rst")]

TEST_ROLE = re.compile(r":pcr-test:`([^`]+)`")
BENCH_ROLE = re.compile(r":bench:`([^`]+)`")
BENCH_DIRECTIVE = re.compile(r"^\.\. benchmark-results::\s*(\S+)", re.MULTILINE)


def _bench_tables():
    spec = importlib.util.spec_from_file_location(
        "_pcr_bench_tables", DOCS / "_ext" / "_bench_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _occurrences(pattern):
    return [
        (page.relative_to(ROOT).as_posix(), match.group(1))
        for page in PAGES
        for match in pattern.finditer(page.read_text())
    ]


def _test_functions(path):
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test")
    }


TEST_REFERENCES = _occurrences(TEST_ROLE)


def test_the_theory_page_names_its_tests():
    on_theory = [ref for page, ref in TEST_REFERENCES if page == "docs/theory.rst"]
    # Six claims, each with at least one property and one golden test.
    assert len(on_theory) >= 12, on_theory


@pytest.mark.parametrize(
    "page, reference", TEST_REFERENCES, ids=[ref for _, ref in TEST_REFERENCES]
)
def test_referenced_test_exists(page, reference):
    file, sep, name = reference.partition("::")
    assert sep and file.startswith("tests/"), f"{page}: malformed {reference!r}"
    path = ROOT / file
    assert path.is_file(), f"{page} names {file}, which does not exist"
    assert name in _test_functions(path), f"{page} names {reference}: no such test"


BENCH_FILES = BENCH_DIRECTIVE.findall((DOCS / "benchmarks.rst").read_text())


def test_the_benchmarks_page_shows_result_files():
    assert BENCH_FILES, "docs/benchmarks.rst has no benchmark-results directive"


@pytest.mark.parametrize("name", BENCH_FILES)
def test_benchmark_results_render_with_their_own_renderer(name):
    tables = _bench_tables()
    path = RESULTS / f"{name}.json"
    assert path.is_file(), f"docs/benchmarks.rst shows {path.name}; it is missing"
    assert name in tables.RENDERERS, f"no renderer for {path.name} in docs/_ext"
    lines = tables.RENDERERS[name](json.loads(path.read_text()), path.name)
    assert any("list-table" in line for line in lines)


BENCH_VALUES = _occurrences(BENCH_ROLE)


@pytest.mark.parametrize(
    "page, value", BENCH_VALUES, ids=[value for _, value in BENCH_VALUES]
)
def test_inline_benchmark_value_exists(page, value):
    file, key, *spec = value.split(":")
    data = json.loads((RESULTS / f"{file}.json").read_text())
    found = _bench_tables().lookup(data, key)
    format(found, spec[0] if spec else "")
