"""The ``pcr-sklearn demo``: a newcomer's first five minutes, on real votes.

Fits the default pipeline (TF-IDF features, then a
:class:`~pcr_sklearn.PairwiseCalibratedEnsemble` with its defaults) on the
bundled UKPConvArg1 argument pairs, offline and on the CPU, and explains in
plain words what it measures: the held-out calibration error of the members'
vote share, against the single-reward floor and the noise floor, next to a
single soft-label Bradley-Terry reward. It then shows the pluralistic side:
what different members rank first and last on a debate they never saw.

The protocol is the one of ``benchmarks/calibration.py`` (method
``pce_default``; the README's table): TF-IDF + SVD(128) of each argument
fitted on the training texts of each split, default ensemble with
``random_state``, errors pooled over the held-out pairs; the "new debates"
protocol is ``GroupKFold(4)`` over the 16 debates, the "new pairs" one a random
25% of the pairs. Pictures are drawn on :class:`matplotlib.figure.Figure`
objects of their own, never through pyplot or ``matplotlib.use``, so the
user's backend and open figures are left alone.
"""

import textwrap
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold, train_test_split

from ._cli import _print_table
from ._ensemble import PairwiseCalibratedEnsemble
from .baselines import SoftBradleyTerry
from .datasets import load_convincing_arguments
from .metrics import calibration_error, noise_floor, single_reward_floor
from .text import PairEmbedder
from .utils.validation import hard_votes

#: Members whose favourite and least favourite arguments are shown.
_N_SHOWN_MEMBERS = 4
_INTRO = """\
What is measured. Each of the {n_pairs:,} pairs holds two arguments for the
same side of a debate; 4-5 crowd workers said which one convinces more, and
the soft label is the share who preferred the first. A model predicts that
share; its calibration error is the mean squared gap between predicted and
observed shares on pairs it never saw (lower is better).

Two yardsticks. Any single reward that picks a winner (a "hard vote") can at
best side with the majority on every pair: its error is at least the
single-reward floor, mean min(p, 1-p)^2. "x floor" is the error divided by
that floor; below 1 means the ensemble's members split the vote the way the
annotators do. Nobody can go below the noise floor, mean p(1-p)/(n-1): with
4-5 votes a pair's share is itself a noisy estimate.

The ensemble has {k} members, each a deterministic reward (one linear reward
on the argument's TF-IDF features) that would steer its own policy; its
prediction is the share of members voting for the first argument. Features:
TF-IDF + SVD(128), fitted on the training texts of each split."""
_ROLES = """\
What each is for. The ensemble's members are deterministic rewards: each can
steer its own policy (or pick its own best-of-n), and the share of members
voting for a response is calibrated to the share of people who would. The
soft Bradley-Terry probability is one reward's sigmoid: a calibrated number,
but one policy for everybody, whose hard vote sits far above the floor."""


def run_demo(*, n_folds=4, n_pairs=None, out_dir=Path("pcr_demo"), random_state=0):
    """Run the demo: print the story and the tables, save the pictures.

    Parameters
    ----------
    n_folds : int, default=4
        Folds of the new-debates protocol (``GroupKFold`` over debates).
    n_pairs : int, default=None
        Random subsample of pairs, for quick runs; None uses all 16,927
        (the README's numbers need all of them).
    out_dir : path-like, default="pcr_demo"
        Folder for ``staged_error.png`` and ``calibration.png`` (written only
        if matplotlib is installed).
    random_state : int, default=0
        Seed of the subsample, the pair split, the features and the models.

    Returns
    -------
    results : dict
        Protocol name -> pooled held-out results: ``"y"``, ``"n_votes"``,
        ``"staged"`` (shares with k = 1..K members), ``"soft_bt"``
        (probabilities), and the errors ``"ensemble"``, ``"soft_bt_error"``,
        ``"hard_bt_error"``, ``"floor"``, ``"noise"``, ``"constant"``.
    """
    start = time.perf_counter()
    data = _load(n_pairs, random_state)
    k = PairwiseCalibratedEnsemble()._n_members()
    print(_INTRO.format(n_pairs=len(data["y"]), k=k), end="\n\n")
    splits = {
        f"new debates ({n_folds}-fold)": list(
            GroupKFold(n_folds).split(data["X"], data["y"], data["debates"])
        ),
        "new pairs (25%)": [
            tuple(
                np.sort(part)
                for part in train_test_split(
                    np.arange(len(data["y"])), test_size=0.25, random_state=random_state
                )
            )
        ],
    }
    results, story = {}, None
    for protocol, folds in splits.items():
        results[protocol], fold_story = _evaluate(data, folds, random_state)
        story = story or fold_story
    _print_results(results)
    if n_pairs is None and n_folds == 4 and random_state == 0:
        print(
            "\nSame protocol and seed as the README's table "
            "(benchmarks/calibration.py, method pce_default): same numbers."
        )
    print("\n" + _ROLES + "\n")
    _print_story(*story)
    print(f"\n({time.perf_counter() - start:.0f}s)")
    plot_demo(results, Path(out_dir))
    return results


def _load(n_pairs, random_state):
    """Text pairs, soft labels, vote counts and debate ids (subsampled)."""
    data = load_convincing_arguments(as_frame=False)
    rows = np.arange(len(data.target))
    if n_pairs is not None:
        rows = np.sort(np.random.RandomState(random_state).permutation(rows)[:n_pairs])
    return {
        "X": data.data[rows],
        "y": data.target[rows],
        "n_votes": data.n_votes[rows],
        "debates": data.debate_ids[rows],
    }


def _evaluate(data, folds, random_state):
    """Pooled held-out predictions of the default pipeline and the references.

    Also returns, from the last fold, what the members rank first and last on
    one of its held-out debate sides (the pluralistic story).
    """
    pooled = {"test": [], "staged": [], "soft_bt": []}
    for train, test in folds:
        # A linear reward's prompt block cancels in r(A) - r(B): embed
        # responses only.
        embedder = PairEmbedder(
            "tfidf", prompt_mode="response", n_components=128, random_state=random_state
        )
        X_train = embedder.fit_transform(data["X"][train])
        X_test = embedder.transform(data["X"][test])
        ensemble = PairwiseCalibratedEnsemble(random_state=random_state)
        ensemble.fit(X_train, data["y"][train])
        pooled["test"].append(test)
        pooled["staged"].append(
            np.array([p[:, 1] for p in ensemble.staged_predict_proba(X_test)])
        )
        soft_bt = SoftBradleyTerry(random_state=random_state)
        soft_bt.fit(X_train, data["y"][train])
        pooled["soft_bt"].append(soft_bt.predict_proba(X_test)[:, 1])
    test = np.concatenate(pooled["test"])
    result = _errors(
        data["y"][test],
        data["n_votes"][test],
        np.concatenate(pooled["staged"], axis=1),
        np.concatenate(pooled["soft_bt"]),
    )
    return result, (ensemble, embedder, data["X"][test])


def _errors(y, n_votes, staged, soft_bt):
    share = staged[-1]
    return {
        "y": y,
        "n_votes": n_votes,
        "staged": staged,
        "soft_bt": soft_bt,
        "ensemble": calibration_error(y, share),
        "soft_bt_error": calibration_error(y, soft_bt),
        "hard_bt_error": calibration_error(
            y, hard_votes(soft_bt, np.full_like(soft_bt, 0.5))
        ),
        "floor": single_reward_floor(y),
        "noise": noise_floor(y, n_votes),
        "constant": calibration_error(y, np.full_like(share, 0.5)),
    }


def _print_results(results):
    """Held-out errors per protocol, each with its ratio to the floor."""
    protocols = list(results)
    k = results[protocols[0]]["staged"].shape[0]
    rows = (
        (f"ensemble, {k} members, hard votes (default)", "ensemble"),
        ("one soft Bradley-Terry reward, its probability", "soft_bt_error"),
        ("the same reward's hard vote (one policy)", "hard_bt_error"),
        ("constant 0.5", "constant"),
        ("single-reward floor", "floor"),
        ("noise floor (unreachable)", "noise"),
    )

    def cell(protocol, key):
        value = results[protocol][key]
        return f"{value:.4f} ({value / results[protocol]['floor']:.3f} x floor)"

    header = ("held-out calibration error",) + tuple(protocols)
    _print_table(
        header,
        [(label,) + tuple(cell(p, key) for p in protocols) for label, key in rows],
    )


def _print_story(ensemble, embedder, X_test):
    """What a few members rank first and last among one held-out side's arguments."""
    prompt = X_test[0, 0]
    side = X_test[X_test[:, 0] == prompt]
    texts = np.unique(np.concatenate([side[:, 1], side[:, 2]]))
    triples = np.column_stack([np.full(len(texts), ""), texts, texts]).astype(object)
    items = embedder.transform(triples)[:, : embedder.n_item_features_]
    rewards = ensemble.rewards(items)
    best, worst = rewards.argmax(axis=0), rewards.argmin(axis=0)
    print(
        f"The pluralistic side, on a debate no member saw: {prompt!r} "
        f"({len(texts)} arguments). {len(np.unique(best))} different arguments "
        f"are some member's favourite, {len(np.unique(worst))} some member's "
        "least favourite. A few members:"
    )
    for j in range(min(_N_SHOWN_MEMBERS, rewards.shape[1])):
        print(f"  member {j}: likes best  {_quote(texts[best[j]])}")
        print(f"  {' ' * len(str(j))}         likes least {_quote(texts[worst[j]])}")


def _quote(text, width=90):
    return repr(textwrap.shorten(" ".join(text.split()), width=width))


def plot_demo(results, out_dir):
    """Save ``staged_error.png`` and ``calibration.png`` in ``out_dir``.

    Returns the two paths, or None without matplotlib.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("(install matplotlib for pictures: pip install 'pcr-sklearn[plot]')")
        return None
    from .metrics import PairCalibrationDisplay, StagedErrorDisplay

    out_dir.mkdir(parents=True, exist_ok=True)
    staged = Figure(figsize=(5.5 * len(results), 4))
    calibration = Figure(figsize=(5 * len(results), 5))
    axes = zip(staged.subplots(1, len(results)), calibration.subplots(1, len(results)))
    for (ax_staged, ax_calibration), (protocol, res) in zip(
        axes, results.items(), strict=True
    ):
        StagedErrorDisplay.from_predictions(
            res["y"],
            res["staged"],
            n_votes=res["n_votes"],
            baseline=("soft Bradley-Terry probability", res["soft_bt_error"]),
            name="ensemble, first k members",
            ax=ax_staged,
        )
        # Log scale: the first member's error (a single hard vote) would
        # otherwise squash the range where the curves and floors lie.
        ax_staged.set_yscale("log")
        ax_staged.set_title(f"{protocol}: held-out error of the first k members")
        for name, share in (
            ("ensemble, hard votes", res["staged"][-1]),
            ("soft Bradley-Terry probability", res["soft_bt"]),
        ):
            PairCalibrationDisplay.from_predictions(
                res["y"], share, n_bins=10, name=name, ax=ax_calibration
            )
        ax_calibration.set_title(f"{protocol}: calibration (k = {len(res['staged'])})")
    paths = []
    for figure, name in (
        (staged, "staged_error.png"),
        (calibration, "calibration.png"),
    ):
        figure.tight_layout()
        path = out_dir / name
        figure.savefig(path, dpi=110)
        paths.append(path)
    print(f"pictures: {paths[0].resolve()} and {paths[1].name} (same folder)")
    return paths
