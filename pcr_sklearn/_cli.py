"""The ``pcr-sklearn`` command: a demo on built-in data, and fit/evaluate/predict.

``pcr-sklearn demo`` is the package's main job: it fits pairwise calibrated
ensembles on the bundled argument data, offline and on the CPU, and prints the
held-out calibration error for k = 1..8 members next to the single-reward
floor and a soft-label Bradley-Terry reward. The experiment itself lives in
:mod:`pcr_sklearn._demo`; this module parses the options and prints tables.

Models are written and read in the skops format through :mod:`pcr_sklearn.io`
(loading builds only trusted types). Pickle/joblib files can run arbitrary
code when loaded, so ``fit``, ``predict`` and ``evaluate`` touch them only
with ``--trust-pickle``.

Errors are one line on stderr, never a traceback. Exit status 2: a usage
problem (a bad option value, a missing or unusable path, a pickle without
``--trust-pickle``); 1: a file whose content is unreadable or invalid.
"""

import argparse
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from ._compat import InvalidParameterError
from ._ensemble import PairwiseCalibratedEnsemble
from .metrics import calibration_error, single_reward_floor

#: Suffixes of pickle-based model files (written and read only with
#: ``--trust-pickle``); any other name is written in the skops format.
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
TRUST_PICKLE_HELP = (
    "allow pickle/joblib model files (.joblib, .pkl, .pickle). DANGER: loading "
    "a pickle runs arbitrary code its author put in it; use only files you "
    "created or fully trust. Without it only the safe .skops format is used"
)


class UsageError(Exception):
    """A bad option value or an unusable path: exit status 2."""

    status = 2


class DataError(Exception):
    """A file whose content cannot be used: exit status 1."""

    status = 1


def main(argv=None):
    """Entry point of the ``pcr-sklearn`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, DataError) as exc:
        return _fail(exc, exc.status)
    except InvalidParameterError as exc:
        # An estimator parameter out of range: it came from an option.
        return _fail(exc, 2)
    except (
        FileNotFoundError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
    ) as exc:
        # Before ValueError: a missing data file raises an error that is both.
        return _fail(exc, 2)
    except (ValueError, OSError) as exc:
        # Data files and models: the message names the file and line.
        return _fail(exc, 1)
    except ImportError as exc:
        return _fail(exc, 2)


def _fail(exc, status):
    """Print ``exc`` as one line (users need the file and row, not a
    traceback) and return ``status``."""
    text = str(exc).strip()
    message = _printable(text.split("\n")[0]) if text else type(exc).__name__
    print(f"pcr-sklearn: error: {message}", file=sys.stderr)
    return status


def _printable(text):
    r"""``text`` with control characters escaped (``\x1e``): a user's argument
    or cell may hold some that end a line for ``str.splitlines``."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Parser(argparse.ArgumentParser):
    """argparse's parser; a usage error echoing an argument stays one line."""

    def error(self, message):
        super().error(_printable(message))


def _parser():
    parser = _Parser(
        prog="pcr-sklearn",
        description="Pairwise calibrated reward ensembles (arXiv:2506.06298).",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="fit on the bundled argument data and print held-out errors"
    )
    demo.add_argument("--n-folds", type=int, default=4, help="held-out debate folds")
    demo.add_argument(
        "--n-pairs",
        type=int,
        default=None,
        help="subsample pairs for a quick run (the README's numbers use all)",
    )
    demo.add_argument(
        "--out",
        "--out-dir",
        dest="out",
        type=Path,
        default=Path("pcr_demo"),
        help="folder for the pictures (default ./pcr_demo; needs matplotlib)",
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(run=_demo)

    fit = commands.add_parser("fit", help="fit a model on a JSONL/CSV of pairs")
    fit.add_argument("data", type=Path)
    fit.add_argument(
        "--out",
        type=Path,
        required=True,
        help="model file, written atomically in the skops format (e.g. "
        "model.skops); .joblib/.pkl/.pickle need --trust-pickle",
    )
    _add_column_options(fit)
    fit.add_argument(
        "--featurizer",
        default="tfidf",
        help="'tfidf' (offline default), 'sentence-transformers:MODEL' or "
        "'transformers:MODEL' (MODEL: local path or hub name)",
    )
    fit.add_argument("--n-components", type=int, default=128, help="tfidf only")
    fit.add_argument("--n-estimators", type=int, default=4)
    fit.add_argument("--reward", choices=("linear", "mlp"), default="linear")
    fit.add_argument("--vote", choices=("hard", "soft"), default="hard")
    fit.add_argument("--random-state", type=int, default=0)
    fit.add_argument("--progress", action="store_true", help="show progress")
    fit.add_argument("--trust-pickle", action="store_true", help=TRUST_PICKLE_HELP)
    fit.set_defaults(run=_fit)

    evaluate = commands.add_parser("evaluate", help="calibration error on pairs")
    evaluate.add_argument("model", type=Path)
    evaluate.add_argument("data", type=Path)
    _add_column_options(evaluate)
    evaluate.add_argument("--trust-pickle", action="store_true", help=TRUST_PICKLE_HELP)
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="write P(A preferred) per pair")
    predict.add_argument("model", type=Path)
    predict.add_argument("data", type=Path)
    predict.add_argument("--out", type=Path, default=None, help="CSV (default stdout)")
    _add_column_options(predict, labels=False)
    predict.add_argument("--trust-pickle", action="store_true", help=TRUST_PICKLE_HELP)
    predict.set_defaults(run=_predict)
    return parser


def _add_column_options(parser, labels=True):
    parser.add_argument("--prompt-col", default="prompt")
    parser.add_argument("--response-a-col", default="response_a")
    parser.add_argument("--response-b-col", default="response_b")
    if labels:
        parser.add_argument(
            "--label-col", default="label", help="soft label: share preferring A"
        )
        parser.add_argument(
            "--votes-cols",
            default=None,
            help="comma-separated vote-count columns 'a,b[,tie]' instead of a label",
        )
        parser.add_argument("--weight-col", default=None)


def _load(args, labels=True):
    from .datasets import load_preference_pairs

    if args.data.is_dir():
        raise UsageError(f"{args.data}: is a directory, expected a JSONL or CSV file")
    options = dict(
        prompt_col=args.prompt_col,
        response_a_col=args.response_a_col,
        response_b_col=args.response_b_col,
        as_frame=False,
    )
    if labels:
        votes = args.votes_cols.split(",") if args.votes_cols else None
        options.update(
            label_col=None if votes else args.label_col,
            votes_cols=votes,
            weight_col=args.weight_col,
        )
    else:
        options.update(label_col=None)
    return load_preference_pairs(args.data, **options)


def _fit(args):
    from sklearn.pipeline import Pipeline

    from .text import PairEmbedder

    out, as_pickle = _check_out(args.out, args.trust_pickle)
    backend, _, model = args.featurizer.partition(":")
    if backend not in ("tfidf", "sentence-transformers", "transformers"):
        raise UsageError(
            f"--featurizer must be 'tfidf', 'sentence-transformers:MODEL' or "
            f"'transformers:MODEL', got {args.featurizer!r}."
        )
    if backend != "tfidf" and not model:
        raise UsageError(f"--featurizer {backend} needs a model: '{backend}:MODEL'.")
    data = _load(args)
    embedder = PairEmbedder(
        backend,
        model=model or None,
        n_components=args.n_components,
        random_state=args.random_state,
        verbose=int(args.progress),
    )
    if backend != "tfidf":
        _check_featurizer(embedder, data.data[:1], args.featurizer)
    if args.reward == "mlp":
        from .rewards import MLPReward

        reward = MLPReward(random_state=args.random_state)
    else:
        reward = None
    pipeline = Pipeline(
        [
            ("embed", embedder),
            (
                "ensemble",
                PairwiseCalibratedEnsemble(
                    reward,
                    n_estimators=args.n_estimators,
                    vote=args.vote,
                    random_state=args.random_state,
                    verbose=int(args.progress),
                ),
            ),
        ]
    )
    start = time.perf_counter()
    pipeline.fit(data.data, data.target, ensemble__sample_weight=data.sample_weight)
    _save_model(pipeline, out, as_pickle)
    ensemble = pipeline[-1]
    print(
        f"fitted {ensemble.n_estimators_} members on {len(data.target):,} pairs in "
        f"{time.perf_counter() - start:.1f}s; training calibration error "
        f"{ensemble.train_score_[-1]:.4f} (single-reward floor "
        f"{single_reward_floor(data.target, sample_weight=data.sample_weight):.4f})"
    )
    print(f"weights: {np.round(ensemble.estimator_weights_, 3).tolist()}")
    print(f"saved {out}")
    return 0


def _is_pickle_name(path):
    return any(suffix.lower() in PICKLE_SUFFIXES for suffix in path.suffixes)


def _check_out(out, trust_pickle):
    """Check ``fit --out`` before the fit (which may take hours).

    Returns the path and whether to write a pickle instead of skops.
    """
    if out.is_dir():
        raise UsageError(
            f"--out {out}: is a directory; name a model file, e.g. "
            f"{out / 'model.skops'}"
        )
    as_pickle = _is_pickle_name(out)
    if as_pickle and not trust_pickle:
        raise UsageError(
            f"--out {out}: {out.suffix} files are pickles, which run arbitrary "
            "code when loaded; name it .skops (safe format) or pass "
            "--trust-pickle to write a pickle anyway"
        )
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise UsageError(f"--out {out}: {blocker} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot create the folder {out.parent} "
            f"({exc.strerror or exc})"
        ) from None
    if not os.access(out.parent, os.W_OK):
        raise UsageError(f"--out {out}: the folder {out.parent} is not writable")
    return out, as_pickle


def _save_model(model, out, as_pickle):
    """Write ``model`` to ``out`` atomically (a failed write keeps the old file)."""
    from .io import _replace_atomically, save

    try:
        if as_pickle:
            import joblib

            with _replace_atomically(out) as tmp:
                joblib.dump(model, tmp)
        else:
            save(model, out)
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write the model ({exc.strerror or exc})"
        ) from None


def _check_featurizer(embedder, sample, option):
    """Load the featurizer's model now, so a bad MODEL is one line, not a
    traceback from deep inside the fit."""
    from sklearn.base import clone

    model = embedder.model
    local = os.path.isabs(model) or model.startswith((".", "~"))
    if local and not Path(model).exists():
        raise UsageError(f"--featurizer {option}: no such model directory {model}")
    try:
        clone(embedder).fit(sample)
    except Exception as exc:
        # Whatever a third-party loader raises for a model it cannot load
        # (OSError, ValueError, KeyError, its own errors...), the option's
        # value is what was wrong.
        raise UsageError(
            f"--featurizer {option}: cannot load the model "
            f"({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_model(path, trust_pickle):
    """The model in ``path``: skops through pcr_sklearn.io; a pickle only with
    ``trust_pickle``. Refuses anything that is not a fitted model."""
    from .io import _looks_like_pickle, load

    if not path.exists():
        raise UsageError(f"{path}: model file not found")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, expected a model file")
    try:
        is_skops = zipfile.is_zipfile(path)
        is_pickle = not is_skops and _looks_like_pickle(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not is_skops and trust_pickle:
        model = _unpickle(path)
    elif is_pickle:
        raise UsageError(
            f"{path}: is a pickle/joblib file, refused: loading a pickle can run "
            "arbitrary code. Pass --trust-pickle only if you trust its source "
            "(better: re-save it in the .skops format)"
        )
    else:
        try:
            model = load(path)
        except ValueError as exc:
            hint = "" if is_skops else "; pickle/joblib files need --trust-pickle"
            raise DataError(f"{_first_line(exc)}{hint}") from None
    if not callable(getattr(model, "predict_proba", None)):
        raise DataError(
            f"{path}: holds a {type(model).__name__}, not a fitted pcr-sklearn model"
        )
    return model


def _unpickle(path):
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:
        # Unpickling a damaged or foreign file can raise any exception type.
        raise DataError(
            f"{path}: cannot be loaded as a pickle/joblib file "
            f"({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _check_predict_out(out):
    if out is not None and out.is_dir():
        raise UsageError(f"--out {out}: is a directory, expected a CSV file name")


def _evaluate(args):
    model = _load_model(args.model, args.trust_pickle)
    data = _load(args)
    share = model.predict_proba(data.data)[:, 1]
    weights = data.sample_weight
    error = calibration_error(data.target, share, sample_weight=weights)
    floor = single_reward_floor(data.target, sample_weight=weights)
    constant = calibration_error(
        data.target, np.full_like(share, 0.5), sample_weight=weights
    )
    # Hard 0/1 labels have a floor of 0 (one reward can fit them exactly).
    ratio = f"{error / floor:.3f}" if floor > 0 else "n/a (floor is 0)"
    rows = [
        ("pairs", f"{len(share):,}"),
        ("calibration error", f"{error:.4f}"),
        ("single-reward floor", f"{floor:.4f}"),
        ("error / floor", ratio),
        ("constant 0.5 error", f"{constant:.4f}"),
    ]
    _print_table(("measure", "value"), rows)
    return 0


def _predict(args):
    from .io import _replace_atomically

    _check_predict_out(args.out)
    model = _load_model(args.model, args.trust_pickle)
    data = _load(args, labels=False)
    share = model.predict_proba(data.data)[:, 1]
    lines = ["line,p_a,prefers_a"] + [
        f"{line},{p:.6f},{int(p > 0.5)}"
        for line, p in zip(data.lines, share, strict=True)
    ]
    text = "\n".join(lines) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            with _replace_atomically(args.out) as tmp:
                tmp.write_text(text)
        except OSError as exc:
            raise UsageError(
                f"--out {args.out}: cannot write ({exc.strerror or exc})"
            ) from None
        print(f"wrote {len(share):,} predictions to {args.out}")
    return 0


def _demo(args):
    # Imported when the command runs: the demo pulls in the text features and
    # the baselines, and it prints with this module's _print_table (so a
    # top-level import would be circular).
    from ._demo import run_demo

    try:
        run_demo(
            n_folds=args.n_folds,
            n_pairs=args.n_pairs,
            out_dir=args.out,
            random_state=args.random_state,
        )
    except ValueError as exc:
        # The demo reads only bundled data: a ValueError is a bad option.
        raise UsageError(_first_line(exc)) from None
    return 0


def _print_table(header, rows):
    """Print ``rows`` under ``header`` as a Markdown table (evaluate, demo)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row):
        cells = (str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        return "| " + " | ".join(cells) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
