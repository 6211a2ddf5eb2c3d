"""Sphinx extension of the pcr_sklearn docs: numbers from their sources.

Nothing measured is written by hand in the docs. This extension gives the
pages three ways to show numbers, all computed when the docs are built:

``.. benchmark-results:: calibration``
    Tables of ``benchmarks/results/calibration.json`` with the settings each
    number was measured with (renderers in :mod:`_bench_tables`). A file whose
    layout a renderer does not know is shown as it is: its settings and every
    number it holds.
``:bench:`calibration:protocols.heldout_debates.features.tfidf.floor:.4f```
    One value of a results file, inline (path of keys, then a format spec).
``|arguments_floor|`` and the other ``arguments_*`` substitutions
    Statistics of the bundled argument data, computed from the data itself
    (see :func:`argument_data_substitutions`).

``:pcr-test:`tests/test_theory.py::test_name``` renders a test's name and
checks that the function exists, so the theory page cannot point at a test
that was renamed or deleted (a missing test is a warning, an error under -W).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from _bench_tables import RENDERERS, lookup, render_generic
from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
ARGUMENTS_FILE = ROOT / "pcr_sklearn" / "datasets" / "data" / "UKPConvArg1.json.gz"


def _load(name, env=None):
    path = RESULTS / f"{name}.json"
    if env is not None:
        env.note_dependency(str(path))
    return json.loads(path.read_text()), path


class BenchmarkResults(Directive):
    """Tables of one ``benchmarks/results/<name>.json``, generated at build time."""

    required_arguments = 1
    has_content = False
    option_spec = {"heading-level": directives.unchanged}

    def run(self):
        env = self.state.document.settings.env
        name = self.arguments[0].removesuffix(".json")
        try:
            data, path = _load(name, env)
        except FileNotFoundError:
            msg = f"benchmark-results: benchmarks/results/{name}.json does not exist"
            logger.warning(msg, location=(env.docname, self.lineno))
            return []
        renderer = RENDERERS.get(name)
        rel = path.relative_to(ROOT).as_posix()
        lines = None
        if renderer is not None:
            try:
                lines = renderer(data, rel)
            except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
                # The layout changed: show what the file holds instead.
                logger.info(f"{rel}: known layout not found ({exc!r}); generic tables")
        if lines is None:
            lines = render_generic(data, rel)
        # Parsed with titles: the sections (one per protocol, feature set,
        # ...) become sections of the page and join its table of contents.
        holder = nodes.Element()
        nested_parse_with_titles(self.state, StringList(lines, source=rel), holder)
        return holder.children


def bench_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``:bench:`file:key.path[:format]```: one value of a results file."""
    env = inliner.document.settings.env
    parts = text.split(":")
    file, key = parts[0], parts[1]
    spec = parts[2] if len(parts) > 2 else ""
    try:
        data, _ = _load(file, env)
        value = lookup(data, key)
        shown = format(value, spec) if spec else str(value)
    except (FileNotFoundError, KeyError, IndexError, TypeError, ValueError):
        # Results files are rewritten by their benchmarks; a key that moved
        # must not break the build, but the page says the number is missing.
        logger.info(f"bench role: {file}.json has no {key}")
        shown = f"(not in {file}.json)"
    node = nodes.inline(rawtext, shown, classes=["pcr-bench-value"])
    return [node], []


def _test_names(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
    return names


def test_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``:pcr-test:`tests/file.py::test_name```: a test that must exist."""
    env = inliner.document.settings.env
    file, _, func = text.partition("::")
    path = ROOT / file
    env.note_dependency(str(path))
    if not path.exists() or func not in _test_names(path):
        logger.warning(
            f"pcr-test: {text} does not exist", location=(env.docname, lineno)
        )
    node = nodes.literal(rawtext, f"{func}", classes=["pcr-test"])
    wrapper = nodes.inline(rawtext, "", classes=["pcr-test-ref"])
    wrapper += node
    wrapper += nodes.Text(f" ({file})")
    return [wrapper], []


def argument_data_substitutions():
    """rst substitutions with statistics of the bundled argument data.

    Computed from the data with the package's own functions, so the datasets
    page cannot drift from the data it describes.
    """
    import numpy as np

    from pcr_sklearn.datasets import load_convincing_arguments
    from pcr_sklearn.metrics import calibration_error, noise_floor, single_reward_floor

    data = load_convincing_arguments()
    y, n = data.target, data.n_votes
    labels = data.votes["label"].value_counts()
    drop = load_convincing_arguments(as_frame=False, ties="drop")
    values = {
        "n_pairs": f"{len(y):,}",
        "n_sides": f"{len(np.unique(data.groups))}",
        "n_debates": f"{len(np.unique(data.debate_ids))}",
        "n_texts": f"{len(data.texts):,}",
        "n_votes": f"{len(data.votes):,}",
        "n_workers": f"{data.votes['worker'].nunique():,}",
        "votes_a1": f"{labels.get('a1', 0):,}",
        "votes_a2": f"{labels.get('a2', 0):,}",
        "votes_equal": f"{labels.get('equal', 0):,}",
        "pairs_5_votes": f"{int(np.sum(n == 5)):,}",
        "pairs_4_votes": f"{int(np.sum(n == 4)):,}",
        "all_equal_pairs": f"{int(np.sum(drop.n_votes == 0)):,}",
        "floor": f"{single_reward_floor(y):.4f}",
        "constant": f"{calibration_error(y, np.full(len(y), 0.5)):.4f}",
        "noise_floor": f"{noise_floor(y, n):.4f}",
        "noise_ratio": f"{noise_floor(y, n) / single_reward_floor(y):.2f}",
        "file_kb": f"{round(ARGUMENTS_FILE.stat().st_size / 1000)}",
    }
    return "\n".join(f".. |arguments_{k}| replace:: {v}" for k, v in values.items())


def reset_example_state(gallery_conf, fname, when=None):
    """Before each gallery example: one torch thread (2 shared cores).

    Small models gain nothing from more threads and a busy machine makes
    them several times slower; the examples set it too, for readers who run
    them on their own. matplotlib is reset by sphinx-gallery's own resetter.
    """
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def setup(app):
    app.add_directive("benchmark-results", BenchmarkResults)
    app.add_role("bench", bench_role)
    app.add_role("pcr-test", test_role)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
