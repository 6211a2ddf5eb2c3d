"""The ``pcr-sklearn`` command: a demo on built-in data, and fit/evaluate/predict.

``pcr-sklearn demo`` is the package's main job: it fits pairwise calibrated
ensembles on the bundled argument data, offline and on the CPU, and prints the
held-out calibration error for k = 1..8 members next to the single-reward
floor and a soft-label Bradley-Terry reward. The experiment itself lives in
:mod:`pcr_sklearn._demo`; this module parses the options and prints tables.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ._ensemble import PairwiseCalibratedEnsemble
from .metrics import calibration_error, single_reward_floor


def main(argv=None):
    """Entry point of the ``pcr-sklearn`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        # Users see one line naming the file, row or option, not a traceback.
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"pcr-sklearn: error: {message}", file=sys.stderr)
        return 2


def _parser():
    parser = argparse.ArgumentParser(
        prog="pcr-sklearn",
        description="Pairwise calibrated reward ensembles (arXiv:2506.06298).",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="fit on the bundled argument data and print held-out errors"
    )
    demo.add_argument("--max-estimators", type=int, default=8)
    demo.add_argument("--n-folds", type=int, default=4, help="held-out debate folds")
    demo.add_argument(
        "--n-pairs", type=int, default=None, help="subsample pairs (quick runs)"
    )
    demo.add_argument(
        "--out-dir",
        type=Path,
        default=Path("pcr_demo"),
        help="where the plot goes (needs matplotlib)",
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(run=_demo)

    fit = commands.add_parser("fit", help="fit a model on a JSONL/CSV of pairs")
    fit.add_argument("data", type=Path)
    fit.add_argument("--out", type=Path, required=True, help="model file (joblib)")
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
    fit.set_defaults(run=_fit)

    evaluate = commands.add_parser("evaluate", help="calibration error on pairs")
    evaluate.add_argument("model", type=Path)
    evaluate.add_argument("data", type=Path)
    _add_column_options(evaluate)
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="write P(A preferred) per pair")
    predict.add_argument("model", type=Path)
    predict.add_argument("data", type=Path)
    predict.add_argument("--out", type=Path, default=None, help="CSV (default stdout)")
    _add_column_options(predict, labels=False)
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
    import joblib
    from sklearn.pipeline import Pipeline

    from .text import PairEmbedder

    data = _load(args)
    backend, _, model = args.featurizer.partition(":")
    if backend not in ("tfidf", "sentence-transformers", "transformers"):
        raise ValueError(
            f"--featurizer must be 'tfidf', 'sentence-transformers:MODEL' or "
            f"'transformers:MODEL', got {args.featurizer!r}."
        )
    if backend != "tfidf" and not model:
        raise ValueError(f"--featurizer {backend} needs a model: '{backend}:MODEL'.")
    embedder = PairEmbedder(
        backend,
        model=model or None,
        n_components=args.n_components,
        random_state=args.random_state,
        verbose=int(args.progress),
    )
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, args.out)
    ensemble = pipeline[-1]
    print(
        f"fitted {ensemble.n_estimators_} members on {len(data.target):,} pairs in "
        f"{time.perf_counter() - start:.1f}s; training calibration error "
        f"{ensemble.train_score_[-1]:.4f} (single-reward floor "
        f"{single_reward_floor(data.target, sample_weight=data.sample_weight):.4f})"
    )
    print(f"weights: {np.round(ensemble.estimator_weights_, 3).tolist()}")
    print(f"saved {args.out}")
    return 0


def _load_model(path):
    import joblib

    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: model file not found")
    return joblib.load(path)


def _evaluate(args):
    model = _load_model(args.model)
    data = _load(args)
    share = model.predict_proba(data.data)[:, 1]
    weights = data.sample_weight
    error = calibration_error(data.target, share, sample_weight=weights)
    floor = single_reward_floor(data.target, sample_weight=weights)
    constant = calibration_error(
        data.target, np.full_like(share, 0.5), sample_weight=weights
    )
    rows = [
        ("pairs", f"{len(share):,}"),
        ("calibration error", f"{error:.4f}"),
        ("single-reward floor", f"{floor:.4f}"),
        ("error / floor", f"{error / floor:.3f}"),
        ("constant 0.5 error", f"{constant:.4f}"),
    ]
    _print_table(("measure", "value"), rows)
    return 0


def _predict(args):
    model = _load_model(args.model)
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
        args.out.write_text(text)
        print(f"wrote {len(share):,} predictions to {args.out}")
    return 0


def _demo(args):
    # Imported when the command runs: the demo pulls in the text features and
    # the baselines, and it prints with this module's _print_table (so a
    # top-level import would be circular).
    from ._demo import run_demo

    run_demo(
        max_estimators=args.max_estimators,
        n_folds=args.n_folds,
        n_pairs=args.n_pairs,
        out_dir=args.out_dir,
        random_state=args.random_state,
    )
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
