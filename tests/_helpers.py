"""Small helpers shared by the test modules."""

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

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


# ------------------------------------------ scikit-learn's common checks


@dataclass(frozen=True)
class ExpectedFailure:
    """Why a scikit-learn common check fails, and the error that proves it.

    ``error``/``match`` are what the check raises; ``cause``, when given, is
    the ``(type, regex)`` of the exception it was raised from (scikit-learn
    re-raises some errors as an ``AssertionError`` with its own message).
    """

    reason: str
    error: type[BaseException]
    match: str
    cause: tuple[type[BaseException], str] | None = None


# Exactly what split_pairs raises on an odd-width flat matrix.
ODD_WIDTH_MATCH = (
    r"Flat pairs need an even number of columns \[A \| B\], got n_features=[35]\."
)
_ODD_WIDTH = (
    "feeds X with 3 or 5 columns; a flat pair row [A | B] needs an even width, so "
    "fit raises 'n_features=3'. Re-tested on even widths and 3-D input by "
    "pcr_sklearn.utils.estimator_checks"
)
_ODD_WIDTH_ONE_LABEL = (
    _ODD_WIDTH + ". The check only accepts a ValueError mentioning 'class' from "
    "fit, so it re-raises the odd-width error as its own AssertionError"
)

# Every check of scikit-learn's suite that cannot pass for the package's
# pair estimators, with why and the error that shows it. These are exactly
# the checks that feed odd-width matrices; everything else must pass, and a
# listed check must fail for its recorded reason (see run_common_check).
EXPECTED_FAILED_CHECKS = {
    **{
        name: ExpectedFailure(_ODD_WIDTH, ValueError, ODD_WIDTH_MATCH)
        for name in (
            "check_fit_score_takes_y",
            "check_dont_overwrite_parameters",
            "check_estimators_dtypes",
            "check_sample_weights_list",
            "check_pipeline_consistency",
            "check_estimators_nan_inf",
            "check_estimators_pickle",
            "check_f_contiguous_array_estimator",
            "check_supervised_y_2d",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_dict_unchanged",
            "check_fit2d_predict1d",
        )
    },
    "check_classifiers_one_label": ExpectedFailure(
        _ODD_WIDTH_ONE_LABEL,
        AssertionError,
        r"^Classifier can't train when only one class is present\.$",
        cause=(ValueError, ODD_WIDTH_MATCH),
    ),
}


def check_name(check):
    """Name of a check yielded by ``parametrize_with_checks`` (a partial)."""
    return getattr(check, "func", check).__name__


def run_common_check(estimator, check, expected_failures):
    """Run a scikit-learn common check; one listed in ``expected_failures``
    (name -> :class:`ExpectedFailure`) must fail, and for its recorded reason.

    A listed check that passes, raises another exception type or another
    message fails the test; an unlisted check runs as is.
    """
    expected = expected_failures.get(check_name(check))
    if expected is None:
        check(estimator)
        return
    with pytest.raises(expected.error, match=expected.match) as info:
        check(estimator)
    if expected.cause is not None:
        error, match = expected.cause
        cause = info.value.__cause__
        assert isinstance(cause, error) and re.search(match, str(cause)), (
            f"{check_name(check)} failed for another reason: expected it raised "
            f"from {error.__name__} matching {match!r}, got {cause!r}"
        )


#: Prompts and responses of the small text-pair data the text tests share.
TEXT_PROMPTS = [
    "is tea healthy",
    "should school uniforms be mandatory",
    "is evolution true",
]
TEXT_RESPONSES = [
    "yes in moderation",
    "no it has caffeine",
    "uniforms reduce bullying",
    "uniforms limit expression",
    "evolution is well supported",
    "it is only a theory",
    "maybe",
]


def text_triples(n, seed=0):
    """``n`` (prompt, response_a, response_b) rows and ``n`` random soft labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a, b = rng.choice(len(TEXT_RESPONSES), size=2, replace=False)
        prompt = TEXT_PROMPTS[i % len(TEXT_PROMPTS)]
        rows.append([prompt, TEXT_RESPONSES[a], TEXT_RESPONSES[b]])
    return np.array(rows, dtype=object), rng.random(n)
