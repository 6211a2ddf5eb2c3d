"""The ``pcr-sklearn demo`` experiment: held-out calibration error on real votes.

Fits pairwise calibrated ensembles on the bundled UKPConvArg1 argument pairs,
offline and on the CPU, and prints the held-out calibration error for
k = 1..K members next to the single-reward floor, a soft-label Bradley-Terry
reward and the constant 0.5, on held-out pairs and on held-out debates.

The plot is drawn on a :class:`matplotlib.figure.Figure` of its own, never
through pyplot or ``matplotlib.use``, so running the demo from a notebook or a
GUI session leaves the user's backend and open figures as they were.
"""

import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold, train_test_split

from ._cli import _print_table
from ._ensemble import PairwiseCalibratedEnsemble
from .baselines import SoftBradleyTerry
from .datasets import load_convincing_arguments
from .metrics import calibration_error, single_reward_floor
from .text import PairEmbedder
from .utils.validation import hard_votes

#: Rows of the results table below the ensembles: (label, key in the results).
_REFERENCE_ROWS = (
    ("single-reward floor", "floor"),
    ("SoftBradleyTerry, probability", "soft_bt"),
    ("SoftBradleyTerry, hard vote", "hard_bt"),
    ("constant 0.5", "constant"),
)


def run_demo(
    *,
    max_estimators=8,
    n_folds=4,
    n_pairs=None,
    out_dir=Path("pcr_demo"),
    random_state=0,
):
    """Run the demo: print the results table and save the plot.

    Parameters
    ----------
    max_estimators : int, default=8
        Largest ensemble size ``k``; every ``k`` from 1 is reported.
    n_folds : int, default=4
        Folds of the held-out-debates protocol (``GroupKFold`` over debates).
    n_pairs : int, default=None
        Random subsample of pairs, for quick runs; None uses all 16,927.
    out_dir : path-like, default="pcr_demo"
        Folder of the plot ``demo.png`` (written only if matplotlib is
        installed).
    random_state : int, default=0
        Seed of the subsample, the train/test split, the features and the
        models.

    Returns
    -------
    results : dict
        Protocol name -> dict of ``"ensemble"`` (held-out error for k = 1..K),
        ``"floor"``, ``"soft_bt"``, ``"hard_bt"`` and ``"constant"`` errors,
        averaged over folds weighted by their size.
    """
    start = time.perf_counter()
    X_text, y, debates = _load_pairs(n_pairs, random_state)
    print(
        f"UKPConvArg1 (Habernal & Gurevych 2016, CC-BY 4.0): {len(y):,} argument "
        f"pairs, {len(np.unique(debates))} debates, soft labels from 4-5 votes.\n"
        "Features: TF-IDF + SVD(128) of each argument (offline). Members: "
        "linear rewards, hard votes.\n"
    )
    splits = {
        "held-out pairs (25%)": [
            train_test_split(
                np.arange(len(y)), test_size=0.25, random_state=random_state
            )
        ],
        f"held-out debates ({n_folds}-fold)": list(
            GroupKFold(n_folds).split(X_text, y, debates)
        ),
    }
    results = {
        protocol: _evaluate(X_text, y, folds, max_estimators, random_state)
        for protocol, folds in splits.items()
    }
    _print_results(results, max_estimators)
    print(f"\n({time.perf_counter() - start:.0f}s)")
    plot_demo(results, max_estimators, Path(out_dir))
    return results


def _load_pairs(n_pairs, random_state):
    """Text pairs, soft labels and debate ids, subsampled to ``n_pairs``."""
    data = load_convincing_arguments(as_frame=False)
    X_text, y, debates = data.data, data.target, data.debate_ids
    if n_pairs is not None:
        keep = np.random.RandomState(random_state).permutation(len(y))
        keep = np.sort(keep[:n_pairs])
        X_text, y, debates = X_text[keep], y[keep], debates[keep]
    return X_text, y, debates


def _evaluate(X_text, y, folds, k, random_state):
    """Held-out errors of every model on each fold, averaged by fold size."""
    per_fold = [
        _evaluate_fold(X_text, y, train, test, k, random_state) for train, test in folds
    ]
    sizes = [len(test) for _, test in folds]
    return {
        name: np.average([fold[name] for fold in per_fold], axis=0, weights=sizes)
        for name in ("ensemble", "soft_bt", "hard_bt", "floor", "constant")
    }


def _evaluate_fold(X_text, y, train, test, k, random_state):
    """Held-out errors of the ensemble (after each stage) and the references."""
    # A linear reward's prompt block cancels in r(A) - r(B): embed responses only.
    embedder = PairEmbedder("tfidf", prompt_mode="response", random_state=random_state)
    X_train = embedder.fit_transform(X_text[train])
    X_test = embedder.transform(X_text[test])
    ensemble = PairwiseCalibratedEnsemble(
        n_estimators=k, random_state=random_state
    ).fit(X_train, y[train])
    staged = [
        calibration_error(y[test], proba)
        for proba in ensemble.staged_predict_proba(X_test)
    ]
    bt = SoftBradleyTerry(random_state=random_state)
    share = bt.fit(X_train, y[train]).predict_proba(X_test)[:, 1]
    return {
        "ensemble": staged,
        "soft_bt": calibration_error(y[test], share),
        "hard_bt": calibration_error(
            y[test], hard_votes(share, np.full_like(share, 0.5))
        ),
        "floor": single_reward_floor(y[test]),
        "constant": calibration_error(y[test], np.full(len(test), 0.5)),
    }


def _print_results(results, k):
    """One row per ensemble size and reference, one column per protocol; each
    error is followed by its ratio to the protocol's single-reward floor."""
    protocols = list(results)
    header = ("held-out calibration error",) + tuple(
        f"{name} (x floor)" for name in protocols
    )

    def cell(protocol, value):
        return f"{value:.4f} ({value / results[protocol]['floor']:.2f})"

    rows = [
        (f"ensemble, k={j}",)
        + tuple(cell(p, results[p]["ensemble"][j - 1]) for p in protocols)
        for j in range(1, k + 1)
    ]
    rows += [
        (label,) + tuple(cell(p, results[p][key]) for p in protocols)
        for label, key in _REFERENCE_ROWS
    ]
    _print_table(header, rows)


def plot_demo(results, k, out_dir):
    """Save the held-out error against k, one panel per protocol, as
    ``out_dir/demo.png``; returns the path, or None without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("(install matplotlib for a plot: pip install 'pcr-sklearn[plot]')")
        return None
    fig = Figure(figsize=(5 * len(results), 3.6))
    axes = fig.subplots(1, len(results))
    members = np.arange(1, k + 1)
    for ax, (protocol, res) in zip(np.atleast_1d(axes), results.items(), strict=True):
        ax.plot(members, res["ensemble"], "o-", label="ensemble (hard votes)")
        ax.axhline(res["floor"], color="k", ls="--", label="single-reward floor")
        ax.axhline(res["soft_bt"], color="C1", ls=":", label="SoftBradleyTerry")
        ax.set(title=protocol, xlabel="members k", ylabel="calibration error")
        ax.legend(fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demo.png"
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")
    return path
