"""Sphinx configuration of the pcr_sklearn documentation.

Build (warnings are errors; this is what CI runs)::

    python -m sphinx -W -b html docs docs/_build/html

Everything is offline: intersphinx reads the inventories committed in
``docs/_intersphinx/`` (``build_inventories.py`` writes them from the installed
packages, with the projects' real URLs), the gallery runs ``examples/plot_*.py``
on small data, and the benchmark tables are generated from
``benchmarks/results/*.json`` by ``docs/_ext``.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))

# The gallery and autodoc import torch and transformers: stay offline, one
# thread per library (2 shared cores), no tokenizer thread pool.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "agg")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import _public_api  # noqa: E402
from pcr_docs import argument_data_substitutions  # noqa: E402

import pcr_sklearn  # noqa: E402

# -- Project -----------------------------------------------------------------

project = "pcr_sklearn"
author = "pcr_sklearn developers"
copyright = "pcr_sklearn developers"  # noqa: A001 - Sphinx's name
release = pcr_sklearn.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "pcr_docs",
]

templates_path = ["_templates"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
# Markdown files are not pages of their own: architecture.md and the
# changelog are included by .rst pages (parsed with MyST).
exclude_patterns = [
    "_build",
    "**.md",
    "_intersphinx",
    "_ext",
    "_templates",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.json",
    "sg_execution_times.rst",
]
default_role = "literal"
pygments_style = "sphinx"
add_function_parentheses = False
rst_epilog = argument_data_substitutions()

# -- API reference: generated from the one list of public names --------------


def _write_api_reference():
    """Write ``api.rst``: one autosummary table per public module.

    ``docs/_public_api.py`` is the list; ``tests/test_docstrings.py`` checks
    the docstrings of the same objects. Written only when it changes, so an
    unchanged API does not trigger a rebuild.
    """
    lines = [
        ".. _api:",
        "",
        "=============",
        "API reference",
        "=============",
        "",
        "Every public name of the package, by module. Functions and classes",
        "not listed here are private, whatever their name.",
        "",
    ]
    for module, title, blurb in _public_api.SECTIONS:
        names = _public_api.public_names(module)
        lines += [
            f".. _api_{module.replace('.', '_')}:",
            "",
            f"``{module}``: {title}",
            "-" * (len(module) + len(title) + 6),
            "",
            f".. automodule:: {module}",
            "   :no-members:",
            "   :no-inherited-members:",
            "",
            blurb,
            "",
            f".. currentmodule:: {module}",
            "",
            ".. autosummary::",
            "   :toctree: generated/",
            "   :template: autosummary_entry.rst",
            "",
        ]
        lines += [f"   {name}" for name in names]
        lines.append("")
    text = "\n".join(lines)
    path = DOCS / "api.rst"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


_write_api_reference()

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
autodoc_default_options = {"members": False, "inherited-members": False}
autoclass_content = "class"

# -- numpydoc ----------------------------------------------------------------

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"  # link only the aliases below
numpydoc_xref_aliases = {
    # Python
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "dict": "dict",
    "list": "list",
    "tuple": "tuple",
    "callable": "callable",
    "path-like": "os.PathLike",
    # NumPy, pandas, scikit-learn
    "array-like": ":term:`array-like <numpy:array_like>`",
    "ndarray": "numpy.ndarray",
    "RandomState": "numpy.random.RandomState",
    "Generator": "numpy.random.Generator",
    "DataFrame": "pandas.DataFrame",
    "Series": "pandas.Series",
    "Pipeline": "sklearn.pipeline.Pipeline",
    "Bunch": "sklearn.utils.Bunch",
    "RBFSampler": "sklearn.kernel_approximation.RBFSampler",
    "Axes": "matplotlib.axes.Axes",
    "Figure": "matplotlib.figure.Figure",
    # this package
    "PairwiseCalibratedEnsemble": "pcr_sklearn.PairwiseCalibratedEnsemble",
    "PairwiseCalibratedEnsembleCV": "pcr_sklearn.PairwiseCalibratedEnsembleCV",
    "LinearReward": "pcr_sklearn.rewards.LinearReward",
    "MLPReward": "pcr_sklearn.rewards.MLPReward",
    "TransformerReward": "pcr_sklearn.rewards.TransformerReward",
    "RewardTags": "pcr_sklearn.rewards.RewardTags",
    "BaseReward": "pcr_sklearn.rewards.BaseReward",
    "PairEmbedder": "pcr_sklearn.text.PairEmbedder",
    "PairCalibrationDisplay": "pcr_sklearn.metrics.PairCalibrationDisplay",
    "StagedErrorDisplay": "pcr_sklearn.metrics.StagedErrorDisplay",
    "MemberAgreementDisplay": "pcr_sklearn.metrics.MemberAgreementDisplay",
    "AnnotatorEnsemble": "pcr_sklearn.recovery.AnnotatorEnsemble",
}

# -- intersphinx: local inventories, real URLs --------------------------------

_INV = DOCS / "_intersphinx"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", str(_INV / "python.inv")),
    "numpy": ("https://numpy.org/doc/stable/", str(_INV / "numpy.inv")),
    "scipy": ("https://docs.scipy.org/doc/scipy/", str(_INV / "scipy.inv")),
    "sklearn": ("https://scikit-learn.org/stable/", str(_INV / "sklearn.inv")),
    "torch": ("https://docs.pytorch.org/docs/stable/", str(_INV / "torch.inv")),
    "transformers": (
        "https://huggingface.co/docs/transformers/en/",
        str(_INV / "transformers.inv"),
    ),
    "matplotlib": ("https://matplotlib.org/stable/", str(_INV / "matplotlib.inv")),
    "pandas": ("https://pandas.pydata.org/docs/", str(_INV / "pandas.inv")),
    "joblib": ("https://joblib.readthedocs.io/en/stable/", str(_INV / "joblib.inv")),
}
intersphinx_timeout = 1
intersphinx_disabled_reftypes = ["std:doc"]

# -- sphinx-gallery ------------------------------------------------------------


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py|/_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("pcr_sklearn",),
    "reference_url": {"pcr_sklearn": None},
    "backreferences_dir": "generated/backreferences",
    "inspect_global_variables": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "download_all_examples": False,
    "show_memory": False,
    "min_reported_time": 0,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "reset_modules": ("pcr_docs.reset_example_state", "matplotlib"),
    "capture_repr": ("_repr_html_", "__repr__"),
    "write_computation_times": True,
}

# -- HTML ----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"pcr_sklearn {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 7,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path = ["_static"]
html_css_files = ["pcr.css"]
html_show_sourcelink = True
html_last_updated_fmt = None

# Third-party warnings that say nothing about these docs.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings(
    "ignore", message="Matplotlib is currently using agg", category=UserWarning
)


def _data_docstring(app, what, name, obj, options, lines):
    """Doc comments (``#:``) of re-exported constants, from where they are defined."""
    if what != "data":
        return
    module, _, attr = name.rpartition(".")
    doc = _public_api.data_doc(module, attr)
    if doc:
        lines[:] = doc.splitlines()


def setup(app):
    app.connect("autodoc-process-docstring", _data_docstring)
