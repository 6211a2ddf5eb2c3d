"""
Text pairs to a calibrated ensemble: TF-IDF features and MLP rewards
====================================================================

Which of two arguments is more convincing? UKPConvArg1
(:func:`~pcr_sklearn.datasets.load_convincing_arguments`, bundled with the
package) has 4-5 crowd votes per pair, and the crowd often disagrees. This
example fits ::

    Pipeline([
        ("embed", PairEmbedder("tfidf")),
        ("ensemble", PairwiseCalibratedEnsemble(MLPReward(...))),
    ])

straight from the ``(prompt, response_a, response_b)`` text columns, then
reads how well its vote shares match the crowd's on held-out pairs: a
calibration curve (:class:`~pcr_sklearn.metrics.PairCalibrationDisplay`) and
the error against the number of members
(:class:`~pcr_sklearn.metrics.StagedErrorDisplay`), next to the single-reward
floor and the noise floor. TF-IDF + SVD needs no model weights, so everything
runs offline on a CPU.
"""

# %%
# Settings
# --------
# A random subset of the pairs keeps the example fast; ``QUICK = True`` uses
# 600 (what the tests run). A small MLP head gains nothing from more torch
# threads, and on a busy machine they slow it down severalfold.

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FormatStrFormatter
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.baselines import SoftBradleyTerry
from pcr_sklearn.datasets import load_convincing_arguments
from pcr_sklearn.metrics import (
    PairCalibrationDisplay,
    StagedErrorDisplay,
    calibration_error,
    single_reward_floor,
)
from pcr_sklearn.rewards import MLPReward
from pcr_sklearn.text import PairEmbedder

QUICK = False
N_PAIRS = 600 if QUICK else 3000
N_ESTIMATORS = "auto"  # 64 members drawn from the fitted population
N_COMPONENTS = 64
MAX_EPOCHS = 20
SEED = 0
torch.set_num_threads(1)

# %%
# The data
# --------
# Each row is a debate side (the prompt) and two arguments for it; the label
# is the share of annotators who found ``response_a`` more convincing (a tie
# counts one half), and ``sample_weight`` the number of annotators.


def load_pairs(n_pairs=N_PAIRS, seed=SEED):
    """A random subset of the argument pairs, split 75 / 25."""
    data = load_convincing_arguments()
    rng = np.random.RandomState(seed)
    rows = rng.choice(
        len(data.target), size=min(n_pairs, len(data.target)), replace=False
    )
    X = data.data.iloc[rows].reset_index(drop=True)  # prompt, response_a, response_b
    y = data.target[rows]  # share of annotators preferring response_a
    w = data.sample_weight[rows]  # number of annotators
    return train_test_split(X, y, w, test_size=0.25, random_state=seed)


X_train, X_test, y_train, y_test, w_train, w_test = load_pairs()
print(f"{len(y_train)} training pairs, {len(y_test)} held-out pairs")
X_train.head(3)

# %%
# Fit the pipeline
# ----------------
# :class:`~pcr_sklearn.text.PairEmbedder` turns each pair into the flat
# numeric layout ``[features of A | features of B]``; with
# ``prompt_mode="response"`` an item is its response alone (every pair of a
# debate side shares the prompt). The ensemble's default members come from a
# fitted population: one MLP reward fitted to the soft labels (the mean), plus
# a smooth random taste per member. That is one member fit, whatever ``k``.


def make_pipeline(
    n_estimators=N_ESTIMATORS,
    max_epochs=MAX_EPOCHS,
    seed=SEED,
    n_components=N_COMPONENTS,
):
    member = MLPReward(
        hidden_layer_sizes=(32,), alpha=1e-3, max_epochs=max_epochs, device="cpu"
    )
    return Pipeline(
        [
            (
                "embed",
                PairEmbedder(
                    "tfidf",
                    n_components=n_components,
                    prompt_mode="response",
                    random_state=seed,
                ),
            ),
            (
                "ensemble",
                PairwiseCalibratedEnsemble(
                    member, n_estimators=n_estimators, random_state=seed
                ),
            ),
        ]
    )


pipe = make_pipeline()
start = time.perf_counter()
pipe.fit(X_train, y_train, ensemble__sample_weight=w_train)
ensemble = pipe["ensemble"]
print(
    f"fit: {time.perf_counter() - start:.1f} s, {ensemble.n_estimators_} members "
    f"from {ensemble.n_member_fits_} member fit(s)"
)

# %%
# Is it calibrated?
# -----------------
# Bin the held-out pairs by the ensemble's predicted share preferring A and
# compare with the crowd's share in each bin: a calibrated model lies on the
# diagonal. With hard votes (each member a deterministic reward, the paper's
# setting) the share is the fraction of members preferring A; with soft votes
# each member votes its Bradley-Terry probability.

features = pipe["embed"].transform(X_test)  # embed the held-out pairs once
fig, ax = plt.subplots(figsize=(5.5, 5.5), layout="constrained")
for vote in ("hard", "soft"):
    PairCalibrationDisplay.from_estimator(
        ensemble,
        features,
        y_test,
        vote=vote,
        sample_weight=w_test,
        n_bins=8,
        ax=ax,
        name=f"{vote} votes",
    )
ax.set_title("calibration of the ensemble on held-out argument pairs")
plt.show()

# %%
# The hard-vote shares follow the diagonal. The soft votes of the same
# members are under-confident (the curve is steeper than the diagonal): the
# members' taste scale was fitted so that their *hard* votes spread like the
# annotators, and a sigmoid on top counts the disagreement twice. An ensemble
# fitted with ``vote="soft"`` draws no taste (``taste="auto"`` is 0 then)
# and is calibrated in its own way.

# %%
# How many members?
# -----------------
# The error of the first ``k`` members, for every ``k`` at once
# (``staged_predict_proba``). A single deterministic reward cannot go below
# the single-reward floor (dashed); many members can. The noise floor
# (dash-dotted) is the part of the error that comes from averaging only 4-5
# votes per pair: no predictor removes it in expectation. The dotted line is
# a single soft Bradley-Terry reward's *probability*, the same MLP fitted to
# the soft labels (its hard vote sits far above the floor).

bt = SoftBradleyTerry(ensemble.estimator_, random_state=SEED)
bt.fit(pipe["embed"].transform(X_train), y_train, sample_weight=w_train)

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
display = StagedErrorDisplay.from_estimator(
    ensemble,
    features,
    y_test,
    sample_weight=w_test,
    n_votes=w_test,
    baseline=bt,
    ax=ax,
)
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.xaxis.set_major_formatter(FormatStrFormatter("%d"))  # 1, 2, 4, ... not 2^k
ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
ax.set_title("held-out argument pairs: error of the first k members")
plt.show()

floor = single_reward_floor(y_test, sample_weight=w_test)
for k in (1, 2, 4, 8, 16, 32, 64):
    if k <= display.errors.size:
        error = display.errors[k - 1]
        print(f"k = {k:2d}: held-out error {error:.4f} = {error / floor:.3f} x floor")

# %%
# One member is a single deterministic reward, far above the floor. The share
# of many members drawn from the population approaches the population's
# probability of preferring A (the paper's Theorem 2 with a learned
# population), so the hard-vote ensemble gets close to the soft model's
# calibration while every member remains a reward that can steer its own
# policy. The :doc:`benchmarks </benchmarks>` measure this on all 16,927
# pairs and on held-out debates.

# sphinx_gallery_start_ignore
# The command-line entry point the tests call (tests/test_examples_text.py):
# ``main(["--n-pairs", "600", "--n-estimators", "2", "--max-epochs", "5"])``
# runs the same pipeline at those sizes and returns its numbers.


def _option(argv, flag, default, kind=int):
    return kind(argv[argv.index(flag) + 1]) if flag in argv else default


def main(argv=None):
    """Fit and evaluate; ``argv``: ``--n-pairs``, ``--n-estimators``,
    ``--n-components``, ``--max-epochs``, ``--seed`` (integers)."""
    argv = list(argv or [])
    seed = _option(argv, "--seed", SEED)
    X_tr, X_te, y_tr, y_te, w_tr, w_te = load_pairs(
        _option(argv, "--n-pairs", N_PAIRS), seed
    )
    print(f"{len(y_tr)} training pairs, {len(y_te)} held-out pairs")
    model = make_pipeline(
        n_estimators=_option(argv, "--n-estimators", N_ESTIMATORS),
        max_epochs=_option(argv, "--max-epochs", MAX_EPOCHS),
        n_components=_option(argv, "--n-components", N_COMPONENTS),
        seed=seed,
    )
    start = time.perf_counter()
    model.fit(X_tr, y_tr, ensemble__sample_weight=w_tr)
    seconds = time.perf_counter() - start
    staged = model["ensemble"].staged_predict_proba(model["embed"].transform(X_te))
    errors = [calibration_error(y_te, p[:, 1], sample_weight=w_te) for p in staged]
    floor = single_reward_floor(y_te, sample_weight=w_te)
    constant = calibration_error(y_te, np.full(len(y_te), 0.5), sample_weight=w_te)
    final = calibration_error(y_te, model.predict_proba(X_te)[:, 1], sample_weight=w_te)
    print(f"fit: {seconds:.1f} s")
    print(f"single-reward floor {floor:.4f}   constant 0.5: {constant:.4f}")
    print(" k   held-out CE   CE / floor")
    for k, error in enumerate(errors, start=1):
        print(f"{k:2d}   {error:.4f}        {error / floor:.3f}")
    return {
        "n_train": len(y_tr),
        "n_test": len(y_te),
        "fit_seconds": seconds,
        "floor": floor,
        "constant": constant,
        "errors": errors,
        "final_error": final,
        "weights": model["ensemble"].estimator_weights_.copy(),
    }


# sphinx_gallery_end_ignore
