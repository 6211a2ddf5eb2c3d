"""Write small Sphinx inventories for intersphinx, without network access.

Intersphinx normally downloads each project's ``objects.inv``. Neither the
machines this package is developed on nor its CI can reach those sites, so
``docs/conf.py`` points ``intersphinx_mapping`` at the files this script
writes to ``docs/_intersphinx/<project>.inv``. Each entry is a public name of
the *installed* package (its ``__all__`` lists, walked here) with the URL its
real online documentation gives it, so links resolve offline and lead to the
real pages. The URL patterns are those of the projects' documentation sites;
they are listed per project below.

Run it after upgrading a dependency (the docs build reads the committed
files, so it needs neither this script nor network)::

    pip install sphobjinv
    python docs/_intersphinx/build_inventories.py            # all projects
    python docs/_intersphinx/build_inventories.py numpy scipy

The inventories hold only names (Python objects and a few glossary terms),
not every label of the projects' sites.
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import inspect
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _public(module):
    """Public names of a module: its ``__all__``, else what it defines."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, obj in vars(module).items()
            if not n.startswith("_")
            and getattr(obj, "__module__", "").startswith(module.__name__)
        ]
    out = []
    for name in names:
        try:
            if not name.startswith("_") and hasattr(module, name):
                out.append(name)
        except ImportError:  # e.g. scikit-learn's experimental estimators
            continue
    return out


def _kind(obj):
    """Sphinx role of an object: class, exception, function, or None."""
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj) and not inspect.ismodule(obj):
        return "function"
    return None


def _methods(cls):
    """Public methods (and properties) of a class."""
    out = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        try:
            attr = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        if isinstance(attr, property):
            out.append((name, "property"))
        elif callable(attr) or isinstance(attr, (classmethod, staticmethod)):
            out.append((name, "method"))
    return out


def _import(name):
    try:
        return importlib.import_module(name)
    except Exception:  # an optional part of a package that does not import
        return None


# --------------------------------------------------------------------------- #
# One function per project: (project, version, base URL, entries), an entry
# being (name, "domain:role", uri relative to the base URL).
# --------------------------------------------------------------------------- #


def sklearn_entries():
    """scikit-learn: ``modules/generated/<name>.html``, ``api/<module>.html``."""
    import sklearn
    from sklearn.experimental import (  # noqa: F401 - make them importable
        enable_halving_search_cv,
        enable_iterative_imputer,
    )

    entries = [("sklearn", "py:module", "api/index.html")]
    modules = ["sklearn." + m for m in sklearn.__all__ if not m.startswith("_")]
    modules += [
        "sklearn.base",
        "sklearn.utils.validation",
        "sklearn.utils.estimator_checks",
        "sklearn.utils.metadata_routing",
        "sklearn.utils.parallel",
        "sklearn.utils.multiclass",
        "sklearn.utils.extmath",
        "sklearn.utils.random",
        "sklearn.utils.discovery",
        "sklearn.utils.class_weight",
        "sklearn.model_selection",
    ]
    seen = set()
    for mod_name in dict.fromkeys(modules):
        module = _import(mod_name)
        if module is None or not inspect.ismodule(module):
            continue
        entries.append((mod_name, "py:module", f"api/{mod_name}.html"))
        for name in _public(module):
            obj = getattr(module, name)
            role = _kind(obj)
            full = f"{mod_name}.{name}"
            if role is None or full in seen:
                continue
            seen.add(full)
            page = f"modules/generated/{full}.html"
            entries.append((full, f"py:{role}", f"{page}#$"))
            if role == "class":
                for method, mrole in _methods(obj):
                    entries.append((f"{full}.{method}", f"py:{mrole}", f"{page}#$"))
    # Glossary terms the user guide links to.
    for term, anchor in [
        ("random_state", "term-random_state"),
        ("n_jobs", "term-n_jobs"),
        ("sample_weight", "term-sample_weight"),
        ("warm_start", "term-warm_start"),
        ("early stopping", "term-early-stopping"),
        ("cross-validation estimator", "term-cross-validation-estimator"),
        ("metadata routing", "term-metadata-routing"),
    ]:
        entries.append((term, "std:term", f"glossary.html#{anchor}"))
    return "scikit-learn", sklearn.__version__, entries


def numpy_entries():
    """NumPy: ``reference/generated/<name>.html``; scalars, constants, random."""
    import numpy as np

    entries = [("numpy", "py:module", "reference/index.html#module-numpy")]
    constants = {"e", "pi", "inf", "nan", "newaxis", "euler_gamma"}
    for name in _public(np):
        obj = getattr(np, name)
        full = f"numpy.{name}"
        if name in constants:
            entries.append((full, "py:data", "reference/constants.html#$"))
            continue
        if inspect.isclass(obj) and issubclass(obj, np.generic):
            entries.append((full, "py:class", "reference/arrays.scalars.html#$"))
            continue
        role = _kind(obj)
        if role is None:
            continue
        page = f"reference/generated/{full}.html"
        entries.append((full, f"py:{role}", f"{page}#$"))
        if obj is np.ndarray or obj is np.dtype:
            for method, mrole in _methods(obj):
                entries.append(
                    (
                        f"{full}.{method}",
                        f"py:{mrole}",
                        f"reference/generated/{full}.{method}.html#$",
                    )
                )
    for sub in ("linalg", "fft", "testing", "polynomial", "lib", "ma"):
        module = _import(f"numpy.{sub}")
        if module is None:
            continue
        for name in _public(module):
            role = _kind(getattr(module, name))
            if role is not None:
                full = f"numpy.{sub}.{name}"
                entries.append(
                    (full, f"py:{role}", f"reference/generated/{full}.html#$")
                )
    random = np.random
    entries.append(
        ("numpy.random", "py:module", "reference/random/index.html#module-numpy.random")
    )
    entries += [
        ("numpy.random.Generator", "py:class", "reference/random/generator.html#$"),
        (
            "numpy.random.default_rng",
            "py:function",
            "reference/random/generator.html#$",
        ),
        ("numpy.random.RandomState", "py:class", "reference/random/legacy.html#$"),
        (
            "numpy.random.SeedSequence",
            "py:class",
            "reference/random/bit_generators/generated/numpy.random.SeedSequence.html#$",
        ),
    ]
    for cls_name in ("Generator", "RandomState"):
        for method, mrole in _methods(getattr(random, cls_name)):
            full = f"numpy.random.{cls_name}.{method}"
            entries.append(
                (full, f"py:{mrole}", f"reference/random/generated/{full}.html#$")
            )
    for name in _public(random):
        obj = getattr(random, name)
        if _kind(obj) == "function" and name != "default_rng":
            full = f"numpy.random.{name}"
            entries.append(
                (full, "py:function", f"reference/random/generated/{full}.html#$")
            )
    entries += [
        ("numpy.typing.ArrayLike", "py:data", "reference/typing.html#$"),
        ("numpy.typing.NDArray", "py:data", "reference/typing.html#$"),
        ("numpy.typing.DTypeLike", "py:data", "reference/typing.html#$"),
        ("array_like", "std:term", "glossary.html#term-array_like"),
    ]
    return "NumPy", np.__version__, entries


SCIPY_MODULES = (
    "cluster.hierarchy",
    "cluster.vq",
    "fft",
    "integrate",
    "interpolate",
    "io",
    "linalg",
    "ndimage",
    "optimize",
    "signal",
    "sparse",
    "sparse.linalg",
    "sparse.csgraph",
    "spatial",
    "spatial.distance",
    "special",
    "stats",
)


def scipy_entries():
    """SciPy: ``reference/generated/<name>.html``, ``reference/<module>.html``."""
    import scipy

    entries = [("scipy", "py:module", "reference/index.html#module-scipy")]
    for sub in SCIPY_MODULES:
        module = _import(f"scipy.{sub}")
        if module is None:
            continue
        mod_name = f"scipy.{sub}"
        entries.append(
            (mod_name, "py:module", f"reference/{sub}.html#module-{mod_name}")
        )
        for name in _public(module):
            obj = getattr(module, name)
            role = _kind(obj)
            if role is None:
                continue
            full = f"{mod_name}.{name}"
            entries.append((full, f"py:{role}", f"reference/generated/{full}.html#$"))
    return "SciPy", scipy.__version__, entries


def torch_entries():
    """PyTorch: ``generated/<name>.html``; tensors, attributes, nn, optim, data."""
    import torch

    entries = [
        ("torch", "py:module", "torch.html#module-torch"),
        ("torch.Tensor", "py:class", "tensors.html#$"),
        ("torch.device", "py:class", "tensor_attributes.html#$"),
        ("torch.dtype", "py:class", "tensor_attributes.html#$"),
        ("torch.layout", "py:class", "tensor_attributes.html#$"),
        ("torch.memory_format", "py:class", "tensor_attributes.html#$"),
        ("torch.finfo", "py:class", "type_info.html#$"),
        ("torch.iinfo", "py:class", "type_info.html#$"),
        ("torch.autocast", "py:class", "amp.html#$"),
    ]
    special = {name.split(".", 1)[1] for name, _, _ in entries if "." in name}
    for name in _public(torch):
        obj = getattr(torch, name)
        role = _kind(obj)
        if role is None or name in special or name[0].isupper() and role != "class":
            continue
        full = f"torch.{name}"
        entries.append((full, f"py:{role}", f"generated/{full}.html#$"))
    for method, mrole in _methods(torch.Tensor):
        full = f"torch.Tensor.{method}"
        entries.append((full, f"py:{mrole}", f"generated/{full}.html#$"))
    entries.append(("torch.nn", "py:module", "nn.html#module-torch.nn"))
    import torch.nn.modules

    for name in _public(torch.nn.modules):
        if inspect.isclass(getattr(torch.nn, name, None)):
            full = f"torch.nn.{name}"
            entries.append((full, "py:class", f"generated/{full}.html#$"))
    for method, mrole in _methods(torch.nn.Module):
        full = f"torch.nn.Module.{method}"
        entries.append((full, f"py:{mrole}", "generated/torch.nn.Module.html#$"))
    import torch.nn.functional as F

    entries.append(("torch.nn.functional", "py:module", "nn.functional.html#module-$"))
    for name, obj in vars(F).items():
        if not name.startswith("_") and inspect.isfunction(obj):
            full = f"torch.nn.functional.{name}"
            entries.append((full, "py:function", f"generated/{full}.html#$"))
    import torch.optim

    entries.append(("torch.optim", "py:module", "optim.html#module-torch.optim"))
    for name in _public(torch.optim):
        obj = getattr(torch.optim, name)
        if inspect.isclass(obj):
            full = f"torch.optim.{name}"
            entries.append((full, "py:class", f"generated/{full}.html#$"))
    entries.append(("torch.cuda", "py:module", "cuda.html#module-torch.cuda"))
    for name in _public(torch.cuda):
        role = _kind(getattr(torch.cuda, name))
        if role is not None:
            full = f"torch.cuda.{name}"
            entries.append((full, f"py:{role}", f"generated/{full}.html#$"))
    import torch.utils.data

    entries.append(
        ("torch.utils.data", "py:module", "data.html#module-torch.utils.data")
    )
    for name in _public(torch.utils.data):
        role = _kind(getattr(torch.utils.data, name))
        if role is not None:
            entries.append((f"torch.utils.data.{name}", f"py:{role}", "data.html#$"))
    version = torch.__version__.split("+")[0]
    return "PyTorch", version, entries


# transformers documents its main classes on topic pages and each model family
# on model_doc/<family> (the family's directory name with hyphens).
TRANSFORMERS_PAGES = {
    "modeling_utils": "main_classes/model",
    "configuration_utils": "main_classes/configuration",
    "tokenization_utils": "main_classes/tokenizer",
    "tokenization_utils_base": "main_classes/tokenizer",
    "tokenization_utils_fast": "main_classes/tokenizer",
    "tokenization_utils_tokenizers": "main_classes/tokenizer",
    "tokenization_python": "main_classes/tokenizer",
    "trainer": "main_classes/trainer",
    "training_args": "main_classes/trainer",
    "pipelines": "main_classes/pipelines",
    "modeling_outputs": "main_classes/output",
    "optimization": "main_classes/optimizer_schedules",
    "data.data_collator": "main_classes/data_collator",
    "trainer_callback": "main_classes/callback",
    "generation": "main_classes/text_generation",
    "utils.quantization_config": "main_classes/quantization",
    "feature_extraction_utils": "main_classes/feature_extractor",
    "processing_utils": "main_classes/processors",
}
# Model families whose classes are listed (encoders used as reward backbones,
# and a few common decoders); the others are left out to keep the file small.
TRANSFORMERS_FAMILIES = (
    "auto",
    "bert",
    "distilbert",
    "roberta",
    "xlm_roberta",
    "deberta",
    "deberta_v2",
    "electra",
    "modernbert",
    "mpnet",
    "gpt2",
    "llama",
    "mistral",
    "qwen2",
    "gemma",
)


def transformers_entries():
    """transformers (HF doc-builder pages): ``main_classes/*``, ``model_doc/*``."""
    import transformers

    entries = [("transformers", "py:module", "index")]
    # _LazyModule maps every public object to its submodule without importing.
    class_to_module = getattr(transformers, "_class_to_module", {})
    for name, module in sorted(class_to_module.items()):
        page = None
        for prefix, topic in TRANSFORMERS_PAGES.items():
            if module == prefix or module.startswith(prefix + "."):
                page = topic
        parts = module.split(".")
        if (
            parts[0] == "models"
            and len(parts) > 1
            and parts[1] in TRANSFORMERS_FAMILIES
        ):
            page = "model_doc/" + parts[1].replace("_", "-")
        if page is None:
            continue
        role = "py:class" if name[0].isupper() else "py:function"
        entries.append((f"transformers.{name}", role, f"{page}#$"))
    return "transformers", transformers.__version__, entries


def matplotlib_entries():
    """Matplotlib: ``api/_as_gen/<name>.html`` and the artist API pages."""
    import matplotlib
    import matplotlib.axes
    import matplotlib.figure
    import matplotlib.pyplot as plt

    entries = [
        ("matplotlib", "py:module", "api/matplotlib_configuration_api.html#module-$"),
        ("matplotlib.pyplot", "py:module", "api/pyplot_summary.html#module-$"),
        ("matplotlib.axes.Axes", "py:class", "api/axes_api.html#$"),
        ("matplotlib.figure.Figure", "py:class", "api/_as_gen/$.html#$"),
        ("matplotlib.lines.Line2D", "py:class", "api/_as_gen/$.html#$"),
        (
            "matplotlib.collections.PathCollection",
            "py:class",
            "api/collections_api.html#$",
        ),
        ("matplotlib.image.AxesImage", "py:class", "api/image_api.html#$"),
        ("matplotlib.colorbar.Colorbar", "py:class", "api/colorbar_api.html#$"),
        ("matplotlib.text.Text", "py:class", "api/text_api.html#$"),
        ("matplotlib.use", "py:function", "api/matplotlib_configuration_api.html#$"),
    ]
    for method, mrole in _methods(matplotlib.axes.Axes):
        full = f"matplotlib.axes.Axes.{method}"
        entries.append((full, f"py:{mrole}", f"api/_as_gen/{full}.html#$"))
    for method, mrole in _methods(matplotlib.figure.Figure):
        full = f"matplotlib.figure.Figure.{method}"
        entries.append(
            (full, f"py:{mrole}", "api/_as_gen/matplotlib.figure.Figure.html#$")
        )
    for name, obj in vars(plt).items():
        if not name.startswith("_") and inspect.isfunction(obj):
            if obj.__module__ == "matplotlib.pyplot":
                full = f"matplotlib.pyplot.{name}"
                entries.append((full, "py:function", f"api/_as_gen/{full}.html#$"))
    return "Matplotlib", matplotlib.__version__, entries


def pandas_entries():
    """pandas: ``reference/api/<name>.html``."""
    import pandas as pd

    entries = [("pandas", "py:module", "reference/index.html#module-pandas")]
    for name in ("DataFrame", "Series", "Index", "read_csv", "read_json", "concat"):
        obj = getattr(pd, name)
        role = _kind(obj)
        full = f"pandas.{name}"
        entries.append((full, f"py:{role}", f"reference/api/{full}.html#$"))
        if role == "class":
            for method, mrole in _methods(obj):
                entries.append(
                    (
                        f"{full}.{method}",
                        f"py:{mrole}",
                        f"reference/api/{full}.{method}.html#$",
                    )
                )
    return "pandas", pd.__version__, entries


def joblib_entries():
    """joblib: ``generated/<name>.html``."""
    import joblib

    entries = [("joblib", "py:module", "index.html#module-joblib")]
    for name in _public(joblib):
        role = _kind(getattr(joblib, name))
        if role is not None:
            full = f"joblib.{name}"
            entries.append((full, f"py:{role}", f"generated/{full}.html#$"))
    return "joblib", joblib.__version__, entries


PYTHON_MODULES = (
    "pathlib",
    "os",
    "tempfile",
    "json",
    "pickle",
    "warnings",
    "collections",
    "collections.abc",
    "contextlib",
    "dataclasses",
    "functools",
    "itertools",
    "numbers",
    "typing",
    "zipfile",
    "gzip",
    "threading",
    "concurrent.futures",
    "importlib",
    "inspect",
    "re",
    "time",
)
# Built-in types documented in stdtypes.html (the others in functions.html).
_STDTYPES = {
    "str",
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "bytes",
    "bytearray",
    "range",
    "memoryview",
}


def python_entries():
    """Python: ``library/functions.html``, ``library/<module>.html``."""
    entries = []
    for name in dir(builtins):
        obj = getattr(builtins, name)
        if name.startswith("_"):
            continue
        if name in ("None", "True", "False", "Ellipsis", "NotImplemented"):
            entries.append((name, "py:data", "library/constants.html#$"))
        elif inspect.isclass(obj) and issubclass(obj, BaseException):
            entries.append((name, "py:exception", "library/exceptions.html#$"))
        elif name in _STDTYPES:
            entries.append((name, "py:class", "library/stdtypes.html#$"))
        elif inspect.isclass(obj):
            entries.append((name, "py:class", "library/functions.html#$"))
        elif callable(obj):
            entries.append((name, "py:function", "library/functions.html#$"))
    for mod_name in PYTHON_MODULES:
        module = _import(mod_name)
        if module is None:
            continue
        page = f"library/{mod_name}.html"
        entries.append((mod_name, "py:module", f"{page}#module-$"))
        for name in _public(module):
            obj = getattr(module, name)
            role = _kind(obj)
            if role is None:
                continue
            full = f"{mod_name}.{name}"
            entries.append((full, f"py:{role}", f"{page}#$"))
            if role == "class" and mod_name in ("pathlib", "zipfile", "collections"):
                for method, mrole in _methods(obj):
                    entries.append((f"{full}.{method}", f"py:{mrole}", f"{page}#$"))
    # Glossary terms numpydoc links parameter types to ("sequence", ...).
    for term in (
        "sequence",
        "iterable",
        "iterator",
        "generator",
        "mapping",
        "hashable",
        "callable",
        "file object",
        "path-like object",
        "context manager",
        "bytes-like object",
    ):
        anchor = "term-" + term.replace(" ", "-")
        entries.append((term, "std:term", f"glossary.html#{anchor}"))
    version = ".".join(map(str, sys.version_info[:2]))
    return "Python", version, entries


PROJECTS = {
    "sklearn": sklearn_entries,
    "numpy": numpy_entries,
    "scipy": scipy_entries,
    "torch": torch_entries,
    "transformers": transformers_entries,
    "matplotlib": matplotlib_entries,
    "pandas": pandas_entries,
    "joblib": joblib_entries,
    "python": python_entries,
}


def write_inventory(key, out_dir=HERE):
    """Write ``<out_dir>/<key>.inv``; return its path and number of entries."""
    import sphobjinv as soi

    project, version, entries = PROJECTS[key]()
    inv = soi.Inventory()
    inv.project, inv.version = project, version
    seen = set()
    for name, domain_role, uri in entries:
        domain, role = domain_role.split(":")
        if (name, domain_role) in seen:
            continue
        seen.add((name, domain_role))
        # "$" stands for the name here; the file gets the full URI, with a
        # trailing name contracted back to "$" (what intersphinx expands).
        uri = uri.replace("$", name)
        inv.objects.append(
            soi.DataObjStr(
                name=name, domain=domain, role=role, priority="1", uri=uri, dispname="-"
            )
        )
    path = Path(out_dir) / f"{key}.inv"
    soi.writebytes(path, soi.compress(inv.data_file(contract=True)))
    return path, len(inv.objects)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="*", help=f"any of {', '.join(PROJECTS)}")
    args = parser.parse_args(argv)
    unknown = set(args.projects) - set(PROJECTS)
    if unknown:
        parser.error(f"unknown project(s): {', '.join(sorted(unknown))}")
    for key in args.projects or PROJECTS:
        path, n = write_inventory(key)
        print(f"{path.relative_to(HERE.parent.parent)}: {n} entries")


if __name__ == "__main__":
    # Submodules that warn on import (deprecations) must not stop the script.
    import warnings

    warnings.simplefilter("ignore")
    main()
