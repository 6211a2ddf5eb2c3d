"""Small helpers shared by the test modules."""

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path, name):
    """Import a script of the repository (benchmark, example) as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def linear_mixture(n_pairs, n_features, weights, seed):
    """Flat pairs judged by a known mixture of one-feature linear rewards.

    Group ``g`` (weight ``weights[g]``) prefers the item with the larger
    feature ``g``; returns ``X``, soft labels and prompt ids (20 pairs each).
    """
    rng = np.random.RandomState(seed)
    a = rng.normal(size=(n_pairs, n_features))
    b = rng.normal(size=(n_pairs, n_features))
    y = sum(w * (a[:, g] > b[:, g]) for g, w in enumerate(weights))
    groups = np.arange(n_pairs) // 20
    return np.hstack([a, b]), np.asarray(y, dtype=float), groups
