"""
Members in the loop: best-of-n per member, TRL reward functions, HF export
==========================================================================

A fitted :class:`~pcr_sklearn.PairwiseCalibratedEnsemble` holds ``k`` member
rewards that disagree where annotators disagree. :mod:`pcr_sklearn.export`
hands them to the code that steers or trains a policy:

* :func:`~pcr_sklearn.export.member_rewards` scores ``(prompt, completion)``
  rows for every member at once, so each member can pick its own best of
  ``n`` sampled completions (the pluralistic use: one policy per view, or a
  check of which completions every view accepts);
* :func:`~pcr_sklearn.export.reward_functions` gives ``k`` functions with the
  reward-function signature of TRL's ``GRPOTrainer`` and the member weights
  for its ``reward_weights``;
* :func:`~pcr_sklearn.export.save_pretrained` writes a member as a stock
  ``AutoModelForSequenceClassification`` directory.

Everything runs on the CPU in seconds with a tiny random-weight BERT built on
the fly (no download): the rewards carry no meaning, the plumbing is real.
Replace ``model_dir`` with a real encoder (e.g. a local MiniLM) for real use.
"""

# %%
# A tiny local backbone and synthetic comparisons
# -----------------------------------------------
# Two groups of annotators: one prefers detailed answers, the other short
# ones; the soft label of a comparison is the share preferring response A.

import importlib.util
import tempfile

import numpy as np
import torch

from pcr_sklearn import PairwiseCalibratedEnsemble
from pcr_sklearn.export import member_rewards, reward_functions, save_pretrained
from pcr_sklearn.rewards import TransformerReward
from pcr_sklearn.utils._testing import build_random_bert

torch.set_num_threads(1)  # tiny model: one thread is fastest
rng = np.random.default_rng(0)
PROMPTS = [
    "how do i fix a flat bike tire",
    "what should i cook tonight",
    "how can i sleep better",
    "is coffee bad for me",
]
SHORT = ["patch it", "pasta", "go to bed earlier", "not in moderation"]
DETAIL = [
    "remove the wheel find the hole patch it and check the rim tape",
    "a vegetable pasta with garlic lemon and fresh herbs in twenty minutes",
    "keep a fixed schedule avoid screens late and keep the room cool and dark",
    "up to four cups a day is fine for most adults but avoid it late in the day",
]
tmp = tempfile.mkdtemp(prefix="pcr_export_example_")
corpus = PROMPTS + SHORT + DETAIL
model_dir = build_random_bert(
    tmp,
    corpus,
    hidden_size=32,
    intermediate_size=64,
    vocab_size=300,
    max_length=64,
    sentence_transformers=False,
).hf_dir

rows, labels = [], []
for _ in range(48):
    i = rng.integers(len(PROMPTS))
    short, detail = SHORT[i], DETAIL[rng.integers(len(DETAIL))]
    # ~60% of the annotators prefer the detailed, on-topic answer.
    share_detail = 0.6 if detail == DETAIL[i] else 0.3
    if rng.random() < 0.5:
        rows.append([PROMPTS[i], detail, short])
        labels.append(share_detail)
    else:
        rows.append([PROMPTS[i], short, detail])
        labels.append(1 - share_detail)
X, y = np.array(rows, dtype=object), np.array(labels)

# %%
# Fit an ensemble whose members read text
# ---------------------------------------
# ``pooling="cls"`` keeps the members' mean reward exportable as a stock
# Hugging Face model (see the last section). The default ``members="population"``
# draws members as the mean reward plus a per-member taste: they disagree
# where the data leave room for it.

member = TransformerReward(model_dir, pooling="cls", device="cpu", random_state=0)
ensemble = PairwiseCalibratedEnsemble(member, n_estimators=6, random_state=0)
ensemble.fit(X, y)
print(f"{ensemble.n_estimators_} members, weights {ensemble.estimator_weights_}")

# %%
# Best-of-n, per member
# ---------------------
# Four candidate completions per prompt; every member picks its own best, and
# the weighted ensemble (what a single scalar reward would pick) its own.

candidates = [SHORT[0], DETAIL[0], DETAIL[1], "i do not know"]
for prompt in PROMPTS[:2]:
    items = np.array([[prompt, c] for c in candidates], dtype=object)
    rewards = member_rewards(ensemble, items)  # (n candidates, k members)
    picks = rewards.argmax(axis=0)
    weighted = int((rewards @ ensemble.estimator_weights_).argmax())
    print(f"\n{prompt!r}")
    for j, pick in enumerate(picks):
        print(f"  member {j} picks {candidates[pick]!r}")
    print(f"  weighted ensemble picks {candidates[weighted]!r}")

# %%
# TRL reward functions
# --------------------
# One function per member with TRL's signature (keyword arguments
# ``prompts``, ``completions`` and whatever else the trainer passes; chats are
# lists of ``{"role", "content"}`` messages). Calling all ``k`` of them on a
# batch embeds each text once: they share one computation.

funcs, weights = reward_functions(ensemble)
print([f.__name__ for f in funcs])
chat_prompts = [[{"role": "user", "content": PROMPTS[2]}]] * 2
chat_completions = [
    [{"role": "assistant", "content": SHORT[2]}],
    [{"role": "assistant", "content": DETAIL[2]}],
]
for func in funcs[:2]:
    print(func.__name__, func(prompts=chat_prompts, completions=chat_completions))

# %%
# The hookup is one line in TRL (not run here: it needs a policy model and a
# prompt dataset; TRL is not a dependency of pcr_sklearn)::
#
#     from trl import GRPOConfig, GRPOTrainer
#
#     trainer = GRPOTrainer(
#         model="Qwen/Qwen2.5-0.5B-Instruct",
#         reward_funcs=funcs,
#         args=GRPOConfig(output_dir="grpo", reward_weights=weights),
#         train_dataset=prompt_dataset,
#     )
#
# With ``reward_weights=weights`` GRPO optimises the weighted sum of the
# member rewards; pass a single ``funcs[j]`` to steer towards member ``j``.

if importlib.util.find_spec("trl") is not None:
    from trl import GRPOConfig  # noqa: F401 - the import is the check

    print("TRL is installed: GRPOTrainer(reward_funcs=funcs, ...) will accept them")
else:
    print("TRL is not installed; the functions need nothing from it")

# %%
# A member as a stock Hugging Face model
# --------------------------------------
# A population member's reward is the mean reward plus its taste, a function
# of the frozen backbone's features that a stock classification model cannot
# compute, so its export is refused with an explanation. The mean (every
# member's shared reward) exports; its logits reproduce its rewards.

try:
    save_pretrained(ensemble.estimators_[0], f"{tmp}/member_0")
except ValueError as exc:
    print("refused:", str(exc).split(". ")[0])

path = save_pretrained(ensemble.estimators_[0].mean, f"{tmp}/mean")

from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

hf_model = AutoModelForSequenceClassification.from_pretrained(path)
tokenizer = AutoTokenizer.from_pretrained(path)
items = np.array([[p, c] for p in PROMPTS[:2] for c in candidates], dtype=object)
encoded = tokenizer(
    list(items[:, 0]), list(items[:, 1]), padding=True, truncation=True,
    return_tensors="pt",
)  # fmt: skip
with torch.no_grad():
    logits = hf_model(**encoded).logits[:, 0].numpy()
mean_rewards = ensemble.estimators_[0].mean.reward(items)
print(f"max |logit - reward| = {np.abs(logits - mean_rewards).max():.2e}")
