"""Fuzzing the public API: every input gives a clear error or a valid result.

Hypothesis draws the *data* (arrays with NaN/inf/huge/tiny values, wrong
shapes and widths, object arrays, lists and DataFrames; broken labels and
weights; text cells that are not strings; data files with junk lines; model
files with junk; command lines), never a seed, so a failure shrinks to a
small input. Each call must either

* raise a ``ValueError`` or ``TypeError`` (scikit-learn's
  ``InvalidParameterError`` and ``NotFittedError`` are both) whose message
  names the offending argument (``X``/``pairs``, ``y``, ``sample_weight``,
  ``items``, the file...), or
* return a valid result: probabilities finite, in [0, 1], rows summing to
  one, the right shapes, rewards without NaN.

Anything else is a finding: another exception type, a message that does not
say what was wrong, a NaN, or a NumPy ``RuntimeWarning`` (overflow, invalid
value, division by zero) escaping to the user; the calls run with those
warnings turned into errors, so the traceback shows where they come from.
The command line must exit with 0, 1 or 2 and never print a traceback.

No finding is tolerated: each one the fuzzers found was fixed in the module
that owns it, with a minimal reproduction as a regression test there (for
example ``tests/test_numerics.py`` for values near the float64 limits,
``tests/test_io.py`` for model files).

The default run uses the "ci" hypothesis profile (30 examples per fuzzer,
scaled down for the expensive ones); ``HYPOTHESIS_PROFILE=thorough`` scales
every fuzzer up about 33 times.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import tempfile
import traceback
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.model_selection import KFold

from pcr_sklearn import PairwiseCalibratedEnsemble, PairwiseCalibratedEnsembleCV
from pcr_sklearn._cli import main as cli_main
from pcr_sklearn.baselines import (
    BaggedRewardEnsemble,
    MajorityVoteBradleyTerry,
    MixtureBradleyTerry,
    SoftBradleyTerry,
)
from pcr_sklearn.datasets import load_preference_pairs, soft_labels_from_votes
from pcr_sklearn.io import UntrustedTypesError, load, save
from pcr_sklearn.rewards import LinearReward

from .strategies import (
    ITEM_KINDS,
    PAIR_KINDS,
    fuzz_data_file,
    fuzz_items,
    fuzz_labels,
    fuzz_pairs,
    fuzz_text_triples,
    fuzz_weights,
    json_values,
    junk_scalars,
    nasty_floats,
    small_pair_data,
)

pd = pytest.importorskip("pandas")

# ------------------------------------------------------------ the harness


def examples(n):
    """``n`` examples under the "ci" profile (30), scaled with the profile."""
    return max(1, round(n * settings.default.max_examples / 30))


def fuzz(n):
    """Settings of a fuzzer worth ``n`` examples in the default run."""
    return settings(
        max_examples=examples(n),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Raised:
    """What a call raised (its result otherwise is returned as is)."""

    def __init__(self, exc):
        self.exc = exc

    def __repr__(self):
        return f"Raised({self.exc!r})"


def call(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with NumPy's RuntimeWarnings as errors.

    Returns the result, or a :class:`Raised` holding the exception.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - judged by the caller
            return Raised(exc)


def _mentions(message, names):
    alternatives = "|".join(re.escape(name) for name in names)
    return re.search(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])", message)


#: scikit-learn's own wording for an array of the wrong shape or dtype. The
#: package keeps it on purpose for the pairs (tests/test_validation.py
#: expects "0 sample"); it describes the array, and the pairs (or items) are
#: the only 2-D argument of the calls that raise it.
SKLEARN_ARRAY_MESSAGES = re.compile(
    # Required by one of the package's estimators, not by a helper inside.
    r"Found array with \d+ (sample|feature)\(s\) \(shape=\([\d, ]*\)\) while a "
    r"minimum of \d+ is required( by (PairwiseCalibrated\w*|\w*BradleyTerry"
    r"|BaggedRewardEnsemble))?\.$"
    r"|Expected 2D array, got|Found array with dim \d|Complex data not supported"
    r"|could not convert string to float|dtype='numeric' is not compatible"
    r"|Input should have at least 1 dimension"
    r"|Cannot have number of splits n_splits=\d+ greater than the number of samples"
)
#: What names the pairs / items in a message.
PAIR_NAMES = ("X", "pairs", "items", "items_a", "items_b", "features")
ARGUMENT_NAMES = {
    "X": PAIR_NAMES,
    "items": PAIR_NAMES,
    "y": ("y", "label", "labels", "target"),
    "target": ("target",),
    "sample_weight": ("sample_weight",),
    "loss": ("loss",),
    "params": (),  # any InvalidParameterError names its parameter
}


def check_error(exc, bad, *, context=""):
    """Fail unless ``exc`` is a clear error about one of the arguments ``bad``."""
    where = f" ({context})" if context else ""
    described = f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, ValueError | TypeError):
        raise AssertionError(
            f"unexpected exception{where}: {described}"
            f"\n{''.join(traceback.format_exception(exc))}"
        ) from exc
    bad = list(bad) or list(ARGUMENT_NAMES)  # valid input: any argument
    names = [name for arg in bad for name in ARGUMENT_NAMES.get(arg, (arg,))]
    message = str(exc)
    if "params" in bad and "parameter" in message:
        return
    if {"X", "items", "text"} & set(bad) and SKLEARN_ARRAY_MESSAGES.search(message):
        return
    if not _mentions(message, names):
        raise AssertionError(
            f"the message does not name any of {names}{where}: {described}"
            f"\n{''.join(traceback.format_exception(exc))}"
        ) from exc


def check_proba(proba, n_rows):
    proba = np.asarray(proba)
    assert proba.shape == (n_rows, 2), proba.shape
    assert proba.dtype == np.float64
    assert np.all(np.isfinite(proba)), proba
    assert np.all((proba >= 0) & (proba <= 1)), proba
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9)


def n_rows(X):
    shape = np.shape(X)
    return shape[0] if shape else 0


def first_items(X, d):
    """Items A of numeric pairs, as a float array of shape (n, d)."""
    X = np.asarray(X, dtype=np.float64)
    return X[:, 0] if X.ndim == 3 else X[:, :d]


# ------------------------------------------------------------ the models

ESTIMATORS = {
    "population": lambda: PairwiseCalibratedEnsemble(n_estimators=3, random_state=0),
    "stagewise": lambda: PairwiseCalibratedEnsemble(
        n_estimators=2, members="stagewise", n_backfit=1, random_state=0
    ),
    "cv": lambda: PairwiseCalibratedEnsembleCV(
        n_estimators=2, cv=KFold(2), random_state=0
    ),
    "soft_bt": lambda: SoftBradleyTerry(random_state=0),
    "majority_bt": lambda: MajorityVoteBradleyTerry(random_state=0),
    "bagged": lambda: BaggedRewardEnsemble(n_estimators=2, random_state=0),
    "mixture": lambda: MixtureBradleyTerry(n_components=2, max_iter=5, random_state=0),
}
VALID_PAIRS = ("valid", "stacked", "list", "frame", "float32", "integers")
WELL_FORMED_ITEMS = ("valid", "list", "frame", "float32", "integers")
VALID_LABELS = ("soft", "hard", "strings", "signs", "list", "series")
VALID_WEIGHTS = ("none", "valid", "list", "huge", "tiny")


#: The CV estimator documents soft labels only: with two label values a
#: training fold can hold one of them, which is an error about ``y``.
SOFT_LABELS = ("soft", "hard", "list", "series")


@st.composite
def fit_cases(draw, *, max_pairs=10, d=None, valid_labels=VALID_LABELS):
    """``(bad, X, y, sample_weight, d)``: at most one argument fuzzed.

    ``bad`` lists the fuzzed argument (empty when all are valid); ``d`` is
    the number of features per item (drawn from 1 to 3 unless given).
    """
    n = draw(st.integers(1, max_pairs))
    d = draw(st.integers(1, 3)) if d is None else d
    bad = draw(st.sampled_from(["", "X", "y", "sample_weight"]))
    x_kind, X = draw(fuzz_pairs(n, d, kinds=PAIR_KINDS if bad == "X" else VALID_PAIRS))
    y_kind, y = draw(fuzz_labels(n, **({} if bad == "y" else {"kinds": valid_labels})))
    w_kind, w = draw(
        fuzz_weights(n, **({} if bad == "sample_weight" else {"kinds": VALID_WEIGHTS}))
    )
    note(f"kinds: X {x_kind!r}, y {y_kind!r}, sample_weight {w_kind!r}")
    return [bad] if bad else [], X, y, w, d


def check_fitted(est, X, y, w, d):
    """Every prediction method of a fitted model, on its training pairs."""
    n = n_rows(X)
    proba = call(est.predict_proba, X)
    if isinstance(proba, Raised):
        check_error(proba.exc, ["X"], context="predict_proba on the training pairs")
        return
    check_proba(proba, n)
    labels = call(est.predict, X)
    if isinstance(labels, Raised):
        check_error(labels.exc, ["X"], context="predict")
    else:
        assert labels.shape == (n,) and np.isin(labels, est.classes_).all()
    score = call(est.score, X, y, sample_weight=w)
    if isinstance(score, Raised):
        check_error(score.exc, ["X", "y", "sample_weight"], context="score")
    else:
        assert np.isfinite(score) and -1.0 <= score <= 0.0, score
    items = first_items(X, d)
    rewards = call(est.rewards, items)
    if isinstance(rewards, Raised):
        check_error(rewards.exc, ["items"], context="rewards")
    else:
        assert rewards.shape == (n, est.n_estimators_), rewards.shape
        assert not np.isnan(rewards).any(), rewards
    if hasattr(est, "staged_predict_proba"):
        staged = call(lambda: list(est.staged_predict_proba(X)))
        if isinstance(staged, Raised):
            check_error(staged.exc, ["X"], context="staged_predict_proba")
        else:
            assert len(staged) == est.n_estimators_
            for stage in staged:
                check_proba(stage, n)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@fuzz(30)
@given(data=st.data(), vote=st.sampled_from(["hard", "soft"]))
def test_fit_and_predict(name, data, vote):
    labels = SOFT_LABELS if name == "cv" else VALID_LABELS
    bad, X, y, w, d = data.draw(fit_cases(valid_labels=labels), label="case")
    est = ESTIMATORS[name]().set_params(vote=vote)
    fitted = call(est.fit, X, y, sample_weight=w)
    if isinstance(fitted, Raised):
        check_error(fitted.exc, bad, context="fit")
        # A failed fit leaves the estimator unfitted.
        assert not hasattr(est, "estimators_")
        return
    assert fitted is est
    check_fitted(est, X, y, w, d)


# ------------------------------------------------- predicting, partial_fit

D = 2  # features per item of the models fitted once for the predict fuzzers


@functools.cache
def fitted(name, vote):
    """A model fitted on 40 clean pairs of 2 features per item (cached)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 40, D))
    y = 0.7 * (a[:, 0] > b[:, 0]) + 0.3 * (a[:, 1] > b[:, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ESTIMATORS[name]().set_params(vote=vote).fit(np.hstack([a, b]), y)


@st.composite
def predict_cases(draw, *, max_pairs=8):
    """``(bad, X, y, sample_weight)`` for a model fitted with ``D`` features."""
    n = draw(st.integers(1, max_pairs))
    bad = draw(st.sampled_from(["", "X", "y", "sample_weight"]))
    x_kind, X = draw(fuzz_pairs(n, D, kinds=PAIR_KINDS if bad == "X" else VALID_PAIRS))
    y_kind, y = draw(
        fuzz_labels(n, kinds=LABEL_KINDS_SCORE if bad == "y" else SOFT_LABELS)
    )
    w_kind, w = draw(
        fuzz_weights(n, **({} if bad == "sample_weight" else {"kinds": VALID_WEIGHTS}))
    )
    note(f"kinds: X {x_kind!r}, y {y_kind!r}, sample_weight {w_kind!r}")
    return [bad] if bad else [], X, y, w


#: Labels for ``score`` of a model fitted on soft labels: the valid kinds are
#: the numbers in [0, 1].
LABEL_KINDS_SCORE = (
    "soft",
    "hard",
    "list",
    "series",
    "strings",
    "signs",
    "outside [0, 1]",
    "nan",
    "one class",
    "three classes",
    "object",
    "2-D",
    "wrong length",
)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@fuzz(30)
@given(case=predict_cases(), vote=st.sampled_from(["hard", "soft"]))
def test_predict_score_rewards(name, case, vote):
    bad, X, y, w = case
    est = fitted(name, vote)
    n = n_rows(X)
    x_bad = ["X"] if "X" in bad else []
    proba = call(est.predict_proba, X)
    if isinstance(proba, Raised):
        check_error(proba.exc, x_bad, context="predict_proba")
    else:
        check_proba(proba, n)
    labels = call(est.predict, X)
    if isinstance(labels, Raised):
        check_error(labels.exc, x_bad, context="predict")
    else:
        assert labels.shape == (n,) and np.isin(labels, est.classes_).all()
    score = call(est.score, X, y, sample_weight=w)
    if isinstance(score, Raised):
        check_error(score.exc, bad, context="score")
    else:
        assert np.isfinite(score) and -1.0 <= score <= 0.0, score
    if hasattr(est, "staged_predict_proba"):
        staged = call(lambda: list(est.staged_predict_proba(X)))
        if isinstance(staged, Raised):
            check_error(staged.exc, x_bad, context="staged_predict_proba")
        else:
            assert len(staged) == est.n_estimators_
            for stage in staged:
                check_proba(stage, n)


@st.composite
def item_cases(draw, *, max_items=8):
    """``(bad, items)``: items of ``D`` features, maybe broken."""
    kind, items = draw(fuzz_items(draw(st.integers(1, max_items)), D))
    note(f"items of kind {kind!r}")
    return ([] if kind in WELL_FORMED_ITEMS else ["items"]), items


@pytest.mark.parametrize("name", list(ESTIMATORS))
@fuzz(30)
@given(case=item_cases(), vote=st.sampled_from(["hard", "soft"]))
def test_rewards(name, case, vote):
    bad, items = case
    est = fitted(name, vote)
    rewards = call(est.rewards, items)
    if isinstance(rewards, Raised):
        check_error(rewards.exc, bad or ["items"], context="rewards")
        return
    assert rewards.shape == (n_rows(items), est.n_estimators_), rewards.shape
    assert rewards.dtype == np.float64
    assert not np.isnan(rewards).any(), rewards


@pytest.mark.parametrize("members", ["population", "stagewise"])
@fuzz(20)
@given(data=st.data())
def test_partial_fit_is_a_transaction(members, data):
    """Each ``partial_fit`` adds one member, or raises and changes nothing."""
    est = PairwiseCalibratedEnsemble(
        members=members, n_backfit=1, random_state=0
    ).set_params(vote=data.draw(st.sampled_from(["hard", "soft"]), label="vote"))
    d = data.draw(st.integers(1, 3), label="d")
    rng = np.random.default_rng(1)
    for _ in range(data.draw(st.integers(1, 3), label="calls")):
        bad, X, y, w, _ = data.draw(fit_cases(d=d), label="batch")
        before = est.n_estimators_ if hasattr(est, "estimators_") else 0
        if before:  # the width the first successful call fixed
            probe = rng.normal(size=(5, est.n_features_in_))
            previous = est.predict_proba(probe)
        result = call(est.partial_fit, X, y, sample_weight=w)
        if isinstance(result, Raised):
            check_error(result.exc, bad, context="partial_fit")
            if before:
                assert est.n_estimators_ == before
                np.testing.assert_array_equal(est.predict_proba(probe), previous)
            else:
                assert not hasattr(est, "estimators_")
            continue
        assert est.n_estimators_ == before + 1
        check_proba(est.predict_proba(X), n_rows(X))


# ------------------------------------------------------- reward learners


def _mlp():
    from pcr_sklearn.rewards import MLPReward

    return MLPReward(
        hidden_layer_sizes=(4,),
        max_epochs=3,
        batch_size=8,
        device="cpu",
        random_state=0,
    )


REWARDS = {"linear": LinearReward, "mlp": _mlp}
TARGET_KINDS = (
    "soft",
    "hard",
    "list",
    "series",
    "outside [0, 1]",
    "nan",
    "strings",
    "object",
    "2-D",
    "wrong length",
)


@st.composite
def reward_fit_cases(draw, *, max_pairs=8):
    """``(bad, items_a, items_b, target, sample_weight, loss, d)``."""
    n = draw(st.integers(1, max_pairs))
    d = draw(st.integers(1, 3))
    bad = draw(
        st.sampled_from(["", "items_a", "items_b", "target", "sample_weight", "loss"])
    )
    kinds = {arg: (None if bad == arg else "valid") for arg in ("items_a", "items_b")}
    items = {}
    for arg, kind in kinds.items():
        drawn_kind, items[arg] = draw(
            fuzz_items(n, d, kinds=ITEM_KINDS if kind is None else WELL_FORMED_ITEMS)
        )
        note(f"{arg}: {drawn_kind!r}")
    t_kind, target = draw(
        fuzz_labels(n, kinds=TARGET_KINDS if bad == "target" else SOFT_LABELS)
    )
    w_kind, w = draw(
        fuzz_weights(n, **({} if bad == "sample_weight" else {"kinds": VALID_WEIGHTS}))
    )
    loss = draw(
        st.sampled_from(["log", "squared"])
        if bad != "loss"
        else st.one_of(st.sampled_from(["LOG", "hinge", ""]), junk_scalars)
    )
    note(f"target {t_kind!r}, sample_weight {w_kind!r}, loss {loss!r}")
    bad = {"items_a": ["items"], "items_b": ["items"]}.get(bad, [bad] if bad else [])
    return bad, items["items_a"], items["items_b"], target, w, loss, d


@pytest.mark.parametrize("name", list(REWARDS))
@fuzz(30)
@given(case=reward_fit_cases(), data=st.data())
def test_reward_learner_fit_and_reward(name, case, data):
    if name == "mlp":
        pytest.importorskip("torch")
    bad, items_a, items_b, target, w, loss, d = case
    learner = REWARDS[name]()
    fitted = call(learner.fit, items_a, items_b, target, w, loss=loss)
    if isinstance(fitted, Raised):
        check_error(fitted.exc, bad, context="fit")
        return
    assert fitted is learner
    kind, items = data.draw(fuzz_items(data.draw(st.integers(1, 6)), d), label="items")
    rewards = call(learner.reward, items)
    if isinstance(rewards, Raised):
        check_error(rewards.exc, ["items"], context="reward")
        return
    assert rewards.shape == (n_rows(items),) and rewards.dtype == np.float64
    if kind in WELL_FORMED_ITEMS:
        assert np.all(np.isfinite(rewards)), rewards


# ------------------------------------------------------------- text pairs

TEXT_NAMES = (
    "X",
    "pairs",
    "prompt",
    "response_a",
    "response_b",
    "column",
    "texts",
    "comparisons",
)
ARGUMENT_NAMES["text"] = TEXT_NAMES


@fuzz(20)
@given(data=st.data())
def test_text_pairs_through_the_embedder(data):
    from sklearn.pipeline import make_pipeline

    from pcr_sklearn.text import PairEmbedder

    n = data.draw(st.integers(1, 6), label="n")
    kind, X = data.draw(fuzz_text_triples(n), label="X")
    _, y = data.draw(fuzz_labels(n, kinds=SOFT_LABELS), label="y")
    pipe = make_pipeline(
        PairEmbedder(n_components=3, random_state=0),
        PairwiseCalibratedEnsemble(n_estimators=2, random_state=0),
    )
    fitted = call(pipe.fit, X, y)
    if isinstance(fitted, Raised):
        check_error(fitted.exc, ["text"], context=f"fit on {kind}")
        return
    check_proba(pipe.predict_proba(X), n)
    features = pipe[0].transform(X)
    assert features.shape == (n, 2 * pipe[0].n_item_features_)
    assert np.all(np.isfinite(features))


class TextLengthReward(LinearReward):
    """A cheap text reward learner: linear in simple counts of the text."""

    def __reward_tags__(self):
        tags = super().__reward_tags__()
        tags.text_items = True
        return tags

    @staticmethod
    def _features(items):
        items = np.asarray(items, dtype=object)
        return np.array(
            [[len(p), len(r), r.count(" "), float(p in r)] for p, r in items],
            dtype=np.float64,
        ).reshape(-1, 4)

    def prepare_pairs(self, items_a, items_b):
        # LinearReward.fit goes through here too.
        return super().prepare_pairs(self._features(items_a), self._features(items_b))

    def reward(self, items):
        return super().reward(self._features(items))


@fuzz(30)
@given(data=st.data(), members=st.sampled_from(["population", "stagewise"]))
def test_text_pairs_with_a_text_reward_learner(data, members):
    n = data.draw(st.integers(1, 6), label="n")
    kind, X = data.draw(fuzz_text_triples(n), label="X")
    _, y = data.draw(fuzz_labels(n, kinds=SOFT_LABELS), label="y")
    est = PairwiseCalibratedEnsemble(
        TextLengthReward(), n_estimators=2, members=members, random_state=0
    )
    fitted = call(est.fit, X, y)
    if isinstance(fitted, Raised):
        check_error(fitted.exc, ["text"], context=f"fit on {kind}")
        if kind in ("valid", "list", "frame"):
            # Only a missing value or a wrong shape is an error, never a string.
            assert not re.search("must hold strings", str(fitted.exc))
        return
    check_proba(est.predict_proba(X), n)
    if kind == "frame":
        items = X[["prompt", "response_a"]].to_numpy()
    else:
        items = np.asarray(X, dtype=object)[:, :2]
    assert est.rewards(items).shape == (n, est.n_estimators_)


# ------------------------------------------------------------ model files


@fuzz(10)
@given(
    name=st.sampled_from(list(ESTIMATORS)),
    data=small_pair_data(max_pairs=16),
    vote=st.sampled_from(["hard", "soft"]),
)
def test_save_load_round_trip(name, data, vote):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence of tiny fits
        est = ESTIMATORS[name]().set_params(vote=vote).fit(X, y)
    with tempfile.TemporaryDirectory() as tmp:
        path = save(est, Path(tmp) / "model.skops")
        with no_code_execution():
            loaded = call(load, path)
    if isinstance(loaded, Raised):
        check_error(loaded.exc, ["file"], context="load of a valid file")
        return
    assert type(loaded) is type(est)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.rewards(X[:, :2]), est.rewards(X[:, :2]))


@functools.cache
def model_file(name):
    """The bytes of a valid model file (a fitted model of ``ESTIMATORS``)."""
    with tempfile.TemporaryDirectory() as tmp:
        return save(fitted(name, "hard"), Path(tmp) / "model.skops").read_bytes()


TRIPPED = []


class Tripwire:
    """A type no model file may build: building it records the fact."""

    def __new__(cls, *args, **kwargs):
        TRIPPED.append(cls)
        return super().__new__(cls)

    def __setstate__(self, state):
        TRIPPED.append(state)


#: Modules whose types a model file may name (builtins, the libraries the
#: package's models hold); ``load`` imports nothing else.
LOADABLE_MODULES = re.compile(
    r"(builtins|numpy|scipy|sklearn|skops|pcr_sklearn|pathlib|collections"
    r"|functools|operator|re|torch)(\.|$)"
)


@contextlib.contextmanager
def no_code_execution():
    """Fail if loading a file unpickles, or imports a module a model cannot
    need, or builds a :class:`Tripwire`."""
    import importlib
    from unittest import mock

    import joblib

    imported = []
    real_import = importlib.import_module

    def record_import(name, package=None):
        imported.append(name)
        return real_import(name, package)

    def forbidden(*args, **kwargs):
        raise AssertionError("pcr_sklearn.io.load unpickled something")

    del TRIPPED[:]
    with contextlib.ExitStack() as stack:
        for target in ("pickle.loads", "pickle.load", "pickle.Unpickler"):
            stack.enter_context(mock.patch(target, forbidden))
        stack.enter_context(mock.patch.object(joblib, "load", forbidden))
        stack.enter_context(
            mock.patch.object(importlib, "import_module", record_import)
        )
        yield
    assert not TRIPPED, f"a Tripwire was built: {TRIPPED}"
    strange = [name for name in imported if not LOADABLE_MODULES.match(name)]
    assert not strange, f"load imported {strange}"


#: Types a hostile file may name, with the module they live in.
HOSTILE_TYPES = (
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("os", "system"),
    ("subprocess", "Popen"),
    ("tests.test_fuzz", "Tripwire"),
    ("numpy", "load"),
    ("pcr_sklearn.io", "load"),
)
SKOPS_LOADERS = (
    "ObjectNode",
    "DictNode",
    "ListNode",
    "TupleNode",
    "JsonNode",
    "NdArrayNode",
    "FunctionNode",
    "TypeNode",
    "ReduceNode",
    "MethodNode",
    "BytesNode",
    "OperatorFuncNode",
    "NoSuchNode",
)


def _json_paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _json_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _json_paths(value, (*path, i))


@st.composite
def mutated_schemas(draw, schema):
    """``schema`` (skops' JSON tree) with one to three random edits."""
    schema = json.loads(json.dumps(schema))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _json_paths(schema) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = functools.reduce(lambda node, key: node[key], path[:-1], schema)
        node = parent[path[-1]]
        edit = draw(st.sampled_from(["value", "delete", "type", "loader", "content"]))
        if edit == "delete":
            del parent[path[-1]]
        elif edit == "type" and isinstance(node, dict):
            node["__module__"], node["__class__"] = draw(st.sampled_from(HOSTILE_TYPES))
        elif edit == "loader" and isinstance(node, dict):
            node["__loader__"] = draw(st.sampled_from(SKOPS_LOADERS))
        elif edit == "content" and isinstance(node, dict):
            node["content"] = draw(json_values)
        else:
            parent[path[-1]] = draw(json_values)
    return schema


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (data, compression) in members.items():
            archive.writestr(name, data, compress_type=compression)
    return buffer.getvalue()


ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2)
#: ``(offset, size)`` of the fields of zip headers worth breaking, by the
#: header's signature: flags, compression method, CRC-32, compressed and
#: uncompressed sizes, file name length.
ZIP_HEADER_FIELDS = {
    b"PK\x03\x04": ((6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2)),
    b"PK\x01\x02": ((8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (42, 4)),
}


@st.composite
def junk_model_files(draw):
    """``(kind, bytes)`` of a file that is not a valid model file (or, for a
    byte flip that happens to hit nothing, may still be one)."""
    kind = draw(
        st.sampled_from(
            [
                "bytes",
                "empty",
                "pickle",
                "truncated",
                "flipped",
                "header",
                "zip",
                "schema",
            ]
        )
    )
    valid = model_file(draw(st.sampled_from(["soft_bt", "stagewise", "population"])))
    if kind == "bytes":
        return kind, draw(st.binary(min_size=1, max_size=300))
    if kind == "empty":
        return kind, b""
    if kind == "pickle":
        return kind, bytes([0x80, draw(st.integers(2, 5))]) + draw(st.binary())
    if kind == "truncated":
        return kind, valid[: draw(st.integers(1, len(valid) - 1))]
    if kind == "flipped":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return kind, bytes(data)
    if kind == "header":
        # A field of a zip header set to an odd value: flags (encrypted...),
        # compression method, CRC, sizes, name length.
        data = bytearray(valid)
        starts = [
            (m.start(), fields)
            for signature, fields in ZIP_HEADER_FIELDS.items()
            for m in re.finditer(re.escape(signature), bytes(data))
        ]
        start, fields = draw(st.sampled_from(starts))
        offset, size = draw(st.sampled_from(fields))
        value = draw(
            st.one_of(
                st.sampled_from([0, 1, 8, 12, 14, 99, 2**16 - 1]),
                st.integers(0, 2 ** (8 * size) - 1),
            )
        ) % 2 ** (8 * size)
        data[start + offset : start + offset + size] = value.to_bytes(size, "little")
        return kind, bytes(data)
    with zipfile.ZipFile(io.BytesIO(valid)) as archive:
        members = {
            info.filename: (archive.read(info), info.compress_type)
            for info in archive.infolist()
        }
    if kind == "schema":
        schema = draw(mutated_schemas(json.loads(members["schema.json"][0])))
        text = json.dumps(schema)
        members["schema.json"] = (text, draw(st.sampled_from(ZIP_METHODS)))
        return kind, _zip(members)
    # "zip": members replaced, removed or added, with junk content.
    names = [*members, "schema.json", "pcr_sklearn.json", "extra.npy"]
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(names))
        content = draw(
            st.one_of(
                st.binary(max_size=64),
                json_values.map(json.dumps),
                st.just(b"\x93NUMPY junk"),
            )
        )
        if draw(st.booleans()) and name in members:
            del members[name]
        else:
            members[name] = (content, draw(st.sampled_from(ZIP_METHODS)))
    return kind, _zip(members)


@fuzz(60)
@given(file=junk_model_files())
def test_load_refuses_junk_clearly_and_runs_nothing(file):
    kind, content = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junk-model.skops"
        path.write_bytes(content)
        with no_code_execution():
            result = call(load, path)
    if not isinstance(result, Raised):
        # A flip that hit nothing the loader reads (a zip comment, a date).
        note(f"loaded a {type(result).__name__} from a {kind} file")
        return
    check_file_error(result.exc, "junk-model.skops")


def check_file_error(exc, name):
    """Fail unless ``exc`` is a ValueError naming the file ``name``."""
    if not isinstance(exc, ValueError) or name not in str(exc):
        raise AssertionError(
            f"not a ValueError naming {name}: {type(exc).__name__}: {exc}"
            f"\n{''.join(traceback.format_exception(exc))}"
        ) from exc


@pytest.mark.parametrize("hostile", HOSTILE_TYPES)
def test_load_never_builds_an_untrusted_type(hostile, tmp_path):
    with zipfile.ZipFile(io.BytesIO(model_file("soft_bt"))) as archive:
        members = {
            i.filename: (archive.read(i), i.compress_type) for i in archive.infolist()
        }
    schema = json.loads(members["schema.json"][0])
    # The fitted member (an ObjectNode) re-labelled as the hostile type.
    state = schema["content"]["content"]
    state["estimator"] = dict(state["estimator_"])
    state["estimator"]["__module__"], state["estimator"]["__class__"] = hostile
    members["schema.json"] = (json.dumps(schema), zipfile.ZIP_STORED)
    path = tmp_path / "hostile.skops"
    path.write_bytes(_zip(members))
    with (
        no_code_execution(),
        pytest.raises(UntrustedTypesError, match="hostile.skops") as info,
    ):
        load(path)
    assert f"{hostile[0]}.{hostile[1]}" in info.value.types


# ------------------------------------------------------------ data files


def write_data_file(folder, suffix, text, *, compress=False):
    """Write ``text`` (lone surrogates kept: invalid UTF-8) as ``pairs<suffix>``."""
    import gzip

    content = text.encode("utf-8", "surrogatepass")
    # "fake": a .gz name on plain text.
    path = Path(folder) / f"pairs{suffix}{'.gz' if compress else ''}"
    path.write_bytes(gzip.compress(content) if compress == "gzip" else content)
    return path


@st.composite
def loader_options(draw):
    """Keyword arguments of ``load_preference_pairs``, sometimes odd."""
    options = {}
    choices = {
        "prompt_col": ["prompt", None, "response_a", "nope", ""],
        "response_a_col": ["response_a", "response_b", "nope"],
        "label_col": ["label", None, "weight", "nope"],
        "votes_cols": [
            None,
            ["votes_a", "votes_b"],
            ["votes_a", "votes_b", "votes_tie"],
            ["votes_a"],
            ["votes_a", "votes_a"],
            ("votes_a", "votes_b", "votes_tie", "label"),
            "votes_a,votes_b",
        ],
        "weight_col": [None, "weight", "label", "nope"],
        "group_col": [None, "group", "prompt", "id"],
        "id_col": [None, "id", "prompt"],
        "ties": ["half", "drop", "mean"],
        "as_frame": [True, False, "yes"],
    }
    for key in draw(st.lists(st.sampled_from(sorted(choices)), unique=True)):
        options[key] = draw(st.sampled_from(choices[key]))
    return options


def check_pairs_bunch(bunch):
    n = len(bunch.lines)
    data = np.asarray(bunch.data, dtype=object)
    assert data.shape == (n, 3)
    assert all(isinstance(v, str) for v in data.ravel())
    if bunch.target is not None:
        assert bunch.target.shape == (n,) and bunch.target.dtype == np.float64
        assert np.all(np.isfinite(bunch.target))
        assert np.all((bunch.target >= 0) & (bunch.target <= 1))
    if bunch.sample_weight is not None:
        assert bunch.sample_weight.shape == (n,)
        assert np.all(np.isfinite(bunch.sample_weight)), bunch.sample_weight
        assert np.all(bunch.sample_weight >= 0)
    if bunch.n_votes is not None:
        assert np.all(np.isfinite(bunch.n_votes)), bunch.n_votes
    assert bunch.groups.shape == (n,) and bunch.groups.min() >= 0


@fuzz(60)
@given(
    file=fuzz_data_file(),
    compress=st.sampled_from([None, None, "gzip", "fake"]),
    options=loader_options(),
)
def test_load_preference_pairs(file, compress, options):
    suffix, text = file
    with tempfile.TemporaryDirectory() as tmp:
        path = write_data_file(tmp, suffix, text, compress=compress)
        result = call(load_preference_pairs, path, **options)
    if isinstance(result, Raised):
        exc = result.exc
        if "parameter" in str(exc):  # InvalidParameterError
            return
        if re.match(r"votes_cols must be a sequence of 2 or 3", str(exc)):
            return
        check_file_error(exc, path.name)
        # One line, so that the command line can show it as it is.
        assert "\n" not in str(exc).strip(), str(exc)
        return
    check_pairs_bunch(result)


VOTE_ARGS = ("votes_a", "votes_b", "votes_tie")


@st.composite
def vote_counts(draw, n):
    """Vote counts for ``n`` pairs, maybe broken; returns ``(kind, counts)``."""
    kind = draw(
        st.sampled_from(
            [
                "counts",
                "floats",
                "list",
                "huge",
                "numbers",
                "negative",
                "length",
                "2-D",
                "strings",
                "object",
            ]
        )
    )
    counts = draw(arrays(np.int64, n, elements=st.integers(0, 50)))
    if kind == "counts":
        return kind, counts
    if kind == "floats":
        return kind, counts * 0.5
    if kind == "list":
        return kind, counts.tolist()
    if kind == "huge":
        return kind, draw(
            arrays(
                np.float64,
                n,
                elements=st.sampled_from([0.0, 1e308, 1.7976931348623157e308, 5e-324]),
            )
        )
    if kind == "numbers":
        return kind, draw(arrays(np.float64, n, elements=nasty_floats))
    if kind == "negative":
        counts[draw(st.integers(0, n - 1))] = -1
        return kind, counts
    if kind == "length":
        return kind, np.resize(counts, n + 1)
    if kind == "2-D":
        return kind, counts.reshape(n, 1)
    if kind == "strings":
        return kind, counts.astype(str) if draw(st.booleans()) else np.full(n, "x")
    cells = draw(st.lists(junk_scalars, min_size=n, max_size=n))
    out = np.empty(n, dtype=object)
    out[:] = cells
    return kind, out


@fuzz(60)
@given(data=st.data())
def test_soft_labels_from_votes(data):
    n = data.draw(st.integers(1, 6), label="n")
    args = []
    kinds = {}
    for name in VOTE_ARGS:
        if name == "votes_tie" and data.draw(st.booleans(), label="no ties"):
            args.append(None)
            continue
        kinds[name], counts = data.draw(vote_counts(n), label=name)
        args.append(counts)
    ties = data.draw(st.sampled_from(["half", "drop", "mean"]), label="ties")
    result = call(soft_labels_from_votes, *args, ties=ties)
    if isinstance(result, Raised):
        names = [*VOTE_ARGS, "vote arrays", "ties", "index"]
        check_error(result.exc, names, context=f"kinds {kinds}")
        return
    assert result.shape == (n_rows(args[0]),) and result.dtype == np.float64
    assert np.all(np.isfinite(result)) and np.all((result >= 0) & (result <= 1)), result


# ------------------------------------------------------------ command line

WORDS = ["good", "bad", "clear", "vague", "kind", "rude", "short", "long"]


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """A clean data file, and model files fitted on it: skops, a pickle, a
    corrupt one (module scope: the fuzzer's examples share them)."""
    import types

    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(30):
        a, b = rng.choice(WORDS, 3), rng.choice(WORDS, 3)
        rows.append(
            {
                "prompt": f"question {i % 5}",
                "response_a": " ".join(a),
                "response_b": " ".join(b),
                "label": float(rng.uniform()),
                "votes_a": int(rng.integers(0, 5)),
                "votes_b": int(rng.integers(1, 5)),
                "weight": float(rng.uniform(0.5, 2)),
            }
        )
    data = root / "clean.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    model = root / "model.skops"
    common = ["--n-components", "4", "--n-estimators", "2"]
    assert run_cli(["fit", str(data), "--out", str(model), *common])[0] == 0
    pickled = root / "model.joblib"
    args = ["fit", str(data), "--out", str(pickled), "--trust-pickle", *common]
    assert run_cli(args)[0] == 0
    corrupt = root / "corrupt.skops"
    corrupt.write_bytes(model.read_bytes()[:-40])
    not_a_model = root / "not-a-model.skops"
    save(LinearReward(), not_a_model)
    return types.SimpleNamespace(
        root=root,
        data=data,
        models=[model, pickled, corrupt, not_a_model, data, root / "missing.skops"],
    )


def run_cli(args):
    """``(exit status, stdout, stderr)`` of the command line, in process.

    NumPy's RuntimeWarnings are errors here too: one escaping from the
    command ends as an exception, i.e. a traceback.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = call(cli_main, [str(a) for a in args])
        except SystemExit as exc:  # argparse: --help, usage errors
            result = exc.code
    if isinstance(result, Raised):
        exc = result.exc
        raise AssertionError(
            f"pcr-sklearn {' '.join(map(str, args))} raised (a traceback for the "
            f"user): {type(exc).__name__}: {exc}"
            f"\n{''.join(traceback.format_exception(exc))}"
        ) from exc
    return result, out.getvalue(), err.getvalue()


OPTION_VALUES = {
    "--n-estimators": ["2", "1", "0", "-3", "x", "2.5"],
    "--n-components": ["3", "1", "0", "-1", "x", "500"],
    "--reward": ["linear", "mlp", "tree"],
    "--vote": ["hard", "soft", "maybe"],
    "--featurizer": [
        "tfidf",
        "tfidf:",
        "magic",
        "transformers",
        "transformers:",
        "transformers:./no-such-model",
        "sentence-transformers:/no/such/model",
    ],
    "--random-state": ["0", "-1", "x"],
    "--prompt-col": ["prompt", "nope", ""],
    "--response-a-col": ["response_a", "response_b", "nope"],
    "--label-col": ["label", "weight", "nope", ""],
    "--votes-cols": [
        "votes_a,votes_b",
        "votes_a",
        "a,b,c,d",
        ",",
        "votes_a,votes_b,label",
    ],
    "--weight-col": ["weight", "label", "nope"],
    "--trust-pickle": [None],
    "--progress": [None],
}


@st.composite
def cli_arguments(draw, files, data_file, tmp):
    """An argument list for ``pcr-sklearn``: commands, paths and options,
    right or wrong, in any order."""
    command = draw(
        st.one_of(
            st.sampled_from(["fit", "evaluate", "predict"]),
            st.sampled_from(["--help", "fit --help", "", "FIT"]),
        )
    )
    args = command.split()
    data = draw(st.sampled_from([data_file, files.data, tmp, tmp / "missing.jsonl"]))
    if command == "fit":
        out = draw(
            st.sampled_from(
                [
                    tmp / "model.skops",
                    tmp / "model.joblib",
                    tmp / "deep" / "er" / "model.skops",
                    tmp,
                    data_file / "model.skops",  # a file as a folder
                    None,
                ]
            )
        )
        args += [data] + (["--out", out] if out is not None else [])
    elif command in ("evaluate", "predict"):
        args += [draw(st.sampled_from(files.models)), data]
        if command == "predict" and draw(st.booleans()):
            args += [
                "--out",
                draw(st.sampled_from([tmp / "p.csv", tmp, data_file / "p.csv"])),
            ]
    for option in draw(st.lists(st.sampled_from(sorted(OPTION_VALUES)), max_size=4)):
        value = draw(st.sampled_from(OPTION_VALUES[option]))
        args += [option] if value is None else [option, value]
    if draw(st.booleans()):
        args.insert(draw(st.integers(0, len(args))), draw(st.text(max_size=5)))
    if len(args) > 1 and draw(st.booleans()):
        del args[draw(st.integers(0, len(args) - 1))]
    return args


@fuzz(25)
@given(data=st.data())
def test_cli_exits_0_1_or_2_without_a_traceback(cli_files, data):
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        suffix, text = data.draw(fuzz_data_file(), label="data file")
        data_file = write_data_file(tmp, suffix, text)
        args = data.draw(cli_arguments(cli_files, data_file, tmp), label="args")
        status, out, err = run_cli(args)
    assert status in (0, 1, 2), (status, err)
    assert "Traceback" not in err + out, err
    if status:
        last = err.strip().splitlines()[-1] if err.strip() else ""
        assert last.startswith(("pcr-sklearn: error:", "usage:", "pcr-sklearn")), err
