"""
Transformer reward heads on a frozen backbone
=============================================

Members that read text themselves: a
:class:`~pcr_sklearn.PairwiseCalibratedEnsemble` of
:class:`~pcr_sklearn.rewards.TransformerReward` members takes
``(prompt, response_a, response_b)`` triples directly. With the default
``trainable="head"`` the backbone is frozen and shared: every unique
``(prompt, response)`` text is encoded once, and members are small heads on
the cached vectors. With the default population members there is one head fit
in all; members differ by a smooth taste on the frozen features.

Set ``MODEL`` to a local model directory (for example a downloaded
``all-MiniLM-L6-v2``) to run this on real features; on a GPU
(``DEVICE = "auto"`` finds it) the encoding pass runs in bf16 where the device
supports it. Without a model, as here, a tiny BERT with *random* weights and a
tokenizer trained on the arguments is built on the fly: nothing is
downloaded, the plumbing is real, but random features carry no meaning, so do
not read anything into the errors.
"""

# %%
# Settings
# --------

import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.datasets import load_convincing_arguments
from pcr_sklearn.metrics import (
    MemberAgreementDisplay,
    calibration_error,
    single_reward_floor,
)
from pcr_sklearn.rewards import TransformerReward
from pcr_sklearn.utils._testing import build_random_bert, count_embeddings

MODEL = None  # a local model directory, or a hub name on a machine online
N_PAIRS = 600
TRAINABLE = "head"  # or "last-n" / "all" to fine-tune (slow on a CPU)
MAX_LENGTH = 128
DEVICE = "auto"  # CUDA when available
SEED = 0
torch.set_num_threads(1)

# %%
# Argument pairs, and a backbone
# ------------------------------

data = load_convincing_arguments()
rows = np.random.RandomState(SEED).choice(len(data.target), N_PAIRS, replace=False)
X = data.data.iloc[rows].reset_index(drop=True)
y = data.target[rows]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=SEED
)
print(f"{len(X_train)} training pairs, {len(X_test)} held-out pairs")

model = MODEL
if model is None:
    texts = list(X.prompt) + list(X.response_a) + list(X.response_b)
    tiny = build_random_bert(
        tempfile.mkdtemp(prefix="pcr_transformer_example_"),
        texts,
        hidden_size=64,
        num_heads=4,
        intermediate_size=128,
        vocab_size=4000,
        max_length=512,
        sentence_transformers=False,
    )
    model = tiny.hf_dir
    print(f"tiny random BERT: {tiny.n_parameters:,} parameters")

# %%
# Fit, counting what the backbone encodes
# ---------------------------------------
# :func:`~pcr_sklearn.utils._testing.count_embeddings` (a test helper) counts
# the texts every backbone pass encodes. The fit and the staged predictions
# of all members on the held-out pairs encode each unique text once.

reward = TransformerReward(
    model,
    trainable=TRAINABLE,
    max_length=MAX_LENGTH,
    device=DEVICE,
    random_state=SEED,
)
ensemble = PairwiseCalibratedEnsemble(reward, random_state=SEED)
start = time.perf_counter()
with count_embeddings() as counter:
    ensemble.fit(X_train, y_train)
    staged = list(ensemble.staged_predict_proba(X_test))
seconds = time.perf_counter() - start

mean_reward = ensemble.estimators_[0].mean  # the members' shared mean reward
print(
    f"{ensemble.n_estimators_} members from {ensemble.n_member_fits_} head fit; "
    f"fit + staged predictions {seconds:.1f} s on {mean_reward.device_} "
    f"({mean_reward.precision_})"
)
print(
    f"backbone passes: {counter.n_texts} texts, {counter.n_unique} unique, "
    f"each encoded at most {counter.max_repeats}x"
)

floor = single_reward_floor(y_test)
for k in (1, 4, 16, len(staged)):
    error = calibration_error(y_test, staged[k - 1][:, 1])
    print(f"k = {k:2d}: held-out error {error:.4f} = {error / floor:.3f} x floor")

# %%
# How alike the members rank responses
# ------------------------------------
# Each member's reward of the held-out responses (items are
# ``(prompt, response)`` rows), compared by Kendall rank correlation; sixteen
# of the members are shown. The members share the mean reward and add their
# own taste, drawn in antithetic pairs (the same taste with opposite signs:
# members 0 and 1, 2 and 3, ...), visible as the negative cells next to the
# diagonal. On these random features the mean reward is weak and the tastes
# dominate, so members agree little; on a real backbone the mean carries the
# shared preferences and the members split only where annotators do.

items = np.array(
    [[p, r] for p, r in zip(X_test.prompt, X_test.response_a)]
    + [[p, r] for p, r in zip(X_test.prompt, X_test.response_b)],
    dtype=object,
)
fig, ax = plt.subplots(figsize=(7, 6.6), layout="tight")
MemberAgreementDisplay.from_estimator(ensemble, items, max_members=16, ax=ax)
backbone = "a tiny random BERT" if MODEL is None else MODEL
fig.suptitle(
    f"Kendall tau between member rewards of held-out responses\n"
    f"(heads on {backbone}; member weights on top)"
)
plt.show()
