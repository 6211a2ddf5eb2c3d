"""Fitted ensembles out to training loops: reward functions, rewards, HF models.

A fitted :class:`~pcr_sklearn.PairwiseCalibratedEnsemble` holds ``k`` member
rewards, each a view of what some annotators prefer. This module hands them to
code that trains or steers a policy:

* :func:`member_rewards`: the ``(n_items, k)`` rewards of ``(prompt,
  response)`` rows, the same call for a ``Pipeline(PairEmbedder, ensemble)``
  as for an ensemble whose members read text;
* :func:`reward_functions`: ``k`` callables with the reward-function
  signature of TRL's ``GRPOTrainer`` (``func(prompts=..., completions=...,
  **kwargs) -> list[float]``) and the member weights for its
  ``reward_weights``; the ``k`` functions share one computation per batch;
* :func:`save_pretrained`: one :class:`~pcr_sklearn.rewards.TransformerReward`
  member as a stock ``AutoModelForSequenceClassification`` directory (config,
  safetensors, tokenizer; no custom code), whose logits are the member's
  rewards.

Nothing in the package imports this module, and torch and transformers are
imported only when a function needs them.

Examples
--------
>>> import numpy as np
>>> from pcr_sklearn import PairwiseCalibratedEnsemble
>>> from pcr_sklearn.export import member_rewards, reward_functions
>>> from pcr_sklearn.text import PairEmbedder
>>> from sklearn.pipeline import make_pipeline
>>> X = np.array([["Is tea healthy?", "Yes, in moderation.", "No."],
...               ["Is coffee healthy?", "It depends on the dose.", "Yes."],
...               ["Is sugar healthy?", "Not in excess.", "Yes, eat more."]],
...              dtype=object)
>>> model = make_pipeline(
...     PairEmbedder(n_components=4, prompt_mode="response", random_state=0),
...     PairwiseCalibratedEnsemble(n_estimators=3, random_state=0),
... ).fit(X, [0.9, 0.7, 0.8])
>>> member_rewards(model, [["Is tea healthy?", "Yes."]]).shape
(1, 3)
>>> funcs, weights = reward_functions(model)
>>> [f.__name__ for f in funcs], len(weights)
(['member_0', 'member_1', 'member_2'], 3)
>>> len(funcs[0](prompts=["Is tea healthy?"], completions=["Yes."]))
1
"""

from __future__ import annotations

import copy
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._population import SampledReward
from .rewards import TransformerReward
from .utils.validation import check_text_items

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray
    from sklearn.base import BaseEstimator

__all__ = ["member_rewards", "reward_functions", "save_pretrained"]

#: Scale of the identity folded into the tanh layer of an exported BERT/RoBERTa
#: classification head: ``tanh(eps x) / eps = x (1 - (eps x)^2 / 3 + ...)``, so
#: the head reads the pooled vector to a relative ``(eps x)^2 / 3`` (5e-7 for
#: |x| = 10). A power of two, so that scaling by it rounds nothing.
TANH_FOLD_SCALE = 2.0**-13


# --------------------------------------------------------------------------- #
# Rewards of (prompt, response) items
# --------------------------------------------------------------------------- #


def _split_model(model):
    """``(embedder or None, ensemble)`` of a fitted model; check what it takes.

    The ensemble is ``model`` itself or the last step of a ``Pipeline``; the
    embedder is the rest of the pipeline (``None`` when the members read
    text items themselves).
    """
    embedder = None
    ensemble = model
    if isinstance(model, Pipeline):
        ensemble = model.steps[-1][1]
        embedder = model[:-1] if len(model.steps) > 1 else None
    if not hasattr(ensemble, "rewards") or not hasattr(ensemble, "estimators_"):
        raise TypeError(
            "Expected a fitted PairwiseCalibratedEnsemble (or another pair "
            "ensemble with rewards()), or a Pipeline ending in one; got "
            f"{type(ensemble).__name__}."
        )
    check_is_fitted(ensemble, "estimators_")
    text = bool(getattr(ensemble, "_text_items", False))
    if text and embedder is not None:
        raise ValueError(
            "The ensemble's members read text items themselves, so the pipeline "
            "must not transform the texts before it; pass the ensemble alone."
        )
    if not text and embedder is None:
        raise ValueError(
            "The ensemble's members read numeric features, not text: pass the "
            "Pipeline that embeds the texts (e.g. make_pipeline(PairEmbedder(...), "
            "ensemble)), so that items can be embedded the way it embeds them."
        )
    return embedder, ensemble


def _check_items(items):
    if isinstance(items, (list, tuple)) and len(items) == 0:
        return np.empty((0, 2), dtype=object)
    return check_text_items(items, "items")


def member_rewards(model: BaseEstimator, items: ArrayLike) -> NDArray[np.float64]:
    """Per-member rewards of ``(prompt, response)`` items.

    For an ensemble whose members read text (e.g. ``TransformerReward``,
    population members included) this is ``model.rewards(items)``. For a
    ``Pipeline(PairEmbedder, ensemble)`` each item is embedded the way the
    pipeline embeds one item of a comparison (the row ``(prompt, response,
    response)`` goes through the pipeline's transformers and the first half of
    the features is item A), so a response is read with its prompt exactly as
    in training, whatever the embedder's ``prompt_mode``. Every unique text is
    embedded once per call, for all the members.

    Parameters
    ----------
    model : fitted ensemble or Pipeline
        A ``PairwiseCalibratedEnsemble`` of text members, or a ``Pipeline``
        whose last step is an ensemble and whose other steps turn
        ``(prompt, response_a, response_b)`` rows into flat numeric pairs.
    items : array-like or DataFrame of shape (n_items, 2)
        ``(prompt, response)`` rows of strings (``""``: no prompt).

    Returns
    -------
    rewards : ndarray of shape (n_items, n_members), float64
        Column ``j`` is member ``j``'s reward; weigh with
        ``estimator_weights_``.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn import PairwiseCalibratedEnsemble
    >>> from pcr_sklearn.export import member_rewards
    >>> from pcr_sklearn.text import PairEmbedder
    >>> from sklearn.pipeline import make_pipeline
    >>> X = np.array([["Q1", "good answer", "bad"], ["Q2", "fine answer", "no"]],
    ...              dtype=object)
    >>> model = make_pipeline(
    ...     PairEmbedder(n_components=2, random_state=0),
    ...     PairwiseCalibratedEnsemble(n_estimators=2, random_state=0),
    ... ).fit(X, [0.9, 0.8])
    >>> member_rewards(model, [["Q1", "good answer"], ["Q1", "bad"]]).shape
    (2, 2)
    """
    embedder, ensemble = _split_model(model)
    items = _check_items(items)
    n_members = len(ensemble.estimators_)
    if items.shape[0] == 0:
        return np.zeros((0, n_members), dtype=np.float64)
    if embedder is None:
        return np.asarray(ensemble.rewards(items), dtype=np.float64)
    # Each item as the A side of a comparison with itself: the embedder sees
    # exactly the texts (prompt and response) it would see in a pair, and a
    # response repeated as B costs nothing (texts are embedded once per call).
    triples = np.column_stack([items[:, 0], items[:, 1], items[:, 1]])
    pairs = np.asarray(embedder.transform(triples))
    width = pairs.shape[1]
    if pairs.ndim != 2 or width % 2:
        raise ValueError(
            "The pipeline's transformers must output flat pairs [A | B] (an "
            f"even number of columns); got shape {pairs.shape}."
        )
    return np.asarray(ensemble.rewards(pairs[:, : width // 2]), dtype=np.float64)


# --------------------------------------------------------------------------- #
# TRL-style reward functions
# --------------------------------------------------------------------------- #


def _content(message):
    """The text of one chat message (its text parts, for multimodal content)."""
    content = message.get("content", "")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [
        part.get("text", "")
        for part in content
        if isinstance(part, dict) and part.get("type", "text") == "text"
    ]
    return "\n".join(parts)


def _message_text(value, role):
    """A plain string, or the text of the last ``role`` message of a chat.

    Chats are lists of ``{"role": ..., "content": ...}`` dicts (TRL's
    conversational format); without a ``role`` message, the last message.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _content(value)
    messages = list(value)
    if not messages:
        return ""
    if not all(isinstance(m, dict) for m in messages):
        raise TypeError(
            "Expected a string or a chat (a list of {'role': ..., 'content': ...} "
            f"messages); got {type(value).__name__} of "
            f"{sorted({type(m).__name__ for m in messages})}."
        )
    chosen = [m for m in messages if m.get("role") == role] or messages
    return _content(chosen[-1])


def chat_items(prompts, completions):
    """``(prompt, response)`` string rows from TRL's prompts and completions.

    A completion is a string or a chat whose last ``"assistant"`` message is
    the response; a prompt is a string or a chat whose last ``"user"`` message
    is the prompt (the reward models here read one prompt string). ``prompts``
    ``None`` means no prompt.

    Parameters
    ----------
    prompts : list of (str or list of dict) or None
    completions : list of (str or list of dict)

    Returns
    -------
    items : ndarray of shape (len(completions), 2), dtype object

    Examples
    --------
    >>> from pcr_sklearn.export import chat_items
    >>> chat_items(
    ...     [[{"role": "system", "content": "Be brief."},
    ...       {"role": "user", "content": "Hi?"}]],
    ...     [[{"role": "assistant", "content": "Hello."}]],
    ... ).tolist()
    [['Hi?', 'Hello.']]
    """
    completions = list(completions)
    if prompts is None:
        prompts = [""] * len(completions)
    prompts = list(prompts)
    if len(prompts) != len(completions):
        raise ValueError(
            f"Got {len(prompts)} prompts for {len(completions)} completions; "
            "expected one prompt per completion."
        )
    items = np.empty((len(completions), 2), dtype=object)
    for row, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
        items[row, 0] = _message_text(prompt, "user")
        items[row, 1] = _message_text(completion, "assistant")
    return items


class _SharedRewards:
    """All members' rewards of the latest batch, shared by the k functions.

    TRL calls the reward functions one after the other on the same batch; the
    first call computes every member's rewards (one embedding pass per unique
    text) and the other ``k - 1`` read their column. Keyed by the batch's
    texts, so another batch is computed afresh. Thread-safe; pickles without
    the cached batch.
    """

    def __init__(self, model):
        self.model = model
        self.n_computed = 0  # batches computed, for tests and logging
        self._lock = threading.Lock()
        self._key = None
        self._rewards = None

    def rewards(self, prompts, completions):
        items = chat_items(prompts, completions)
        key = tuple(map(tuple, items.tolist()))
        with self._lock:
            if key != self._key:
                self._rewards = member_rewards(self.model, items)
                self._key = key
                self.n_computed += 1
            return self._rewards

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_lock=None, _key=None, _rewards=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


class MemberRewardFunction:
    """Member ``j``'s reward as a TRL reward function (see :func:`reward_functions`).

    Called as ``func(prompts=..., completions=..., **kwargs)``; returns one
    float per completion. Other keyword arguments (TRL passes
    ``completion_ids``, ``trainer_state`` and the dataset's columns) are
    ignored. ``__name__`` is ``"member_j"`` (TRL logs each function's
    rewards under it).
    """

    def __init__(self, shared, index):
        self.shared = shared
        self.index = index
        self.__name__ = f"member_{index}"

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if completions is None:
            raise TypeError(f"{self.__name__}() needs completions=[...].")
        rewards = self.shared.rewards(prompts, completions)
        return [float(value) for value in rewards[:, self.index]]

    def __repr__(self):
        return f"<reward function {self.__name__}>"


def reward_functions(
    model: BaseEstimator,
) -> tuple[list[MemberRewardFunction], list[float]]:
    """One reward function per member, and the member weights.

    The functions follow the reward-function contract of TRL's
    ``GRPOTrainer``: called with keyword arguments ``prompts`` and
    ``completions`` (plain strings, or chats: lists of ``{"role": ...,
    "content": ...}`` messages, of which the last assistant message is the
    completion and the last user message the prompt) plus any others, which
    are ignored; they return one float per completion, member ``j``'s reward
    for each ``(prompt, completion)``, exactly the column ``j`` of
    :func:`member_rewards`. The ``k`` functions share one computation per
    batch: calling them all on the same batch embeds each unique text once.

    Parameters
    ----------
    model : fitted ensemble or Pipeline
        As in :func:`member_rewards`.

    Returns
    -------
    funcs : list of MemberRewardFunction
        ``funcs[j].__name__ == f"member_{j}"``. Picklable (with the model).
    weights : list of float
        ``estimator_weights_``, for ``GRPOConfig(reward_weights=weights)``: GRPO
        then optimises the weighted sum of the member rewards. Each function
        alone steers towards one member's preferences (the pluralistic use).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from pcr_sklearn import PairwiseCalibratedEnsemble
    >>> from pcr_sklearn.export import reward_functions
    >>> from pcr_sklearn.text import PairEmbedder
    >>> X = np.array([["Is tea healthy?", "Yes, in moderation.", "No."],
    ...               ["Is coffee healthy?", "It depends on the dose.", "Yes."],
    ...               ["Is sugar healthy?", "Not in excess.", "Yes, eat more."]],
    ...              dtype=object)
    >>> model = make_pipeline(
    ...     PairEmbedder(n_components=4, prompt_mode="response", random_state=0),
    ...     PairwiseCalibratedEnsemble(n_estimators=2, random_state=0),
    ... ).fit(X, [0.9, 0.7, 0.8])
    >>> funcs, weights = reward_functions(model)
    >>> [f.__name__ for f in funcs], weights
    (['member_0', 'member_1'], [0.5, 0.5])
    >>> len(funcs[1](prompts=["Is tea healthy?"], completions=["Yes."]))
    1

    In TRL (not a dependency of pcr_sklearn; ``policy`` and ``prompts`` are
    yours):

    >>> from trl import GRPOConfig, GRPOTrainer  # doctest: +SKIP
    >>> trainer = GRPOTrainer(
    ...     model=policy, reward_funcs=funcs, train_dataset=prompts,
    ...     args=GRPOConfig(reward_weights=weights),
    ... )  # doctest: +SKIP
    """
    _, ensemble = _split_model(model)
    shared = _SharedRewards(model)
    funcs = [MemberRewardFunction(shared, j) for j in range(len(ensemble.estimators_))]
    weights = [float(w) for w in ensemble.estimator_weights_]
    return funcs, weights


# --------------------------------------------------------------------------- #
# A member as a stock AutoModelForSequenceClassification
# --------------------------------------------------------------------------- #


def _exportable(member):
    """The TransformerReward to export for ``member``, or a clear refusal."""
    if isinstance(member, SampledReward) and isinstance(member.mean, TransformerReward):
        if np.any(np.asarray(member.taste) != 0):
            raise ValueError(
                "This member was drawn from a population: its reward is the "
                "population mean (a TransformerReward) plus its own taste, "
                "cos(W x + b) @ taste on random Fourier features of the frozen "
                "backbone's pooled vector x. A stock "
                "AutoModelForSequenceClassification cannot compute that term, and "
                "exporting without it would silently give another reward. Export "
                "the shared mean with save_pretrained(member.mean, path), use "
                "pcr_sklearn.export.reward_functions(model) for exact per-member "
                "rewards, or fit with members='stagewise' (or taste=0)."
            )
        return _exportable(member.mean)
    if not isinstance(member, TransformerReward):
        raise TypeError(
            "save_pretrained exports a fitted TransformerReward member (or a "
            f"population member whose mean is one); got {type(member).__name__}."
        )
    check_is_fitted(member, "hidden_size_")
    if member.head != "linear":
        raise ValueError(
            "Only members with head='linear' can be exported: the classification "
            "head of a stock AutoModelForSequenceClassification is one linear "
            "layer, which cannot hold an MLP head."
        )
    if member.pooling != "cls":
        raise ValueError(
            f"This member pools the backbone's states with pooling="
            f"{member.pooling!r}, but a stock BERT/RoBERTa "
            "AutoModelForSequenceClassification reads only the first token, and "
            "no weights make it average the tokens (exporting would silently "
            "give another reward; a custom architecture would need "
            "trust_remote_code). Fit the member with pooling='cls' to export it, "
            "or use pcr_sklearn.export.reward_functions for exact rewards."
        )
    return member


def _linear_head(torch, module, trainable):
    """``(weight, center, bias)``: the reward is ``weight . (x - center) + bias``.

    ``x`` is the pooled vector. ``"head"`` members standardize it first, so
    ``weight = w / scale`` and ``center`` is the training mean; others have a
    zero center. Keeping the center apart (instead of folding it into the
    bias) subtracts it before any scaling, as the member does, which avoids a
    float32 cancellation between large terms and the bias.
    """
    last = module.head[-1]
    weight = last.weight.detach().to("cpu", torch.float64).reshape(-1)
    bias = last.bias.detach().to("cpu", torch.float32).reshape(())
    center = torch.zeros(weight.shape[0], dtype=torch.float32)
    if trainable == "head":
        weight = weight / module.feature_scale.to("cpu", torch.float64)
        center = module.feature_mean.detach().to("cpu", torch.float32)
    return weight.float(), center, bias


def _tanh_head(torch, model):
    """``(dense, out)`` of a classification head ``out(tanh(dense(h_first)))``.

    BERT-style models apply their pooler (dense + tanh on the first token)
    then a linear ``classifier``; RoBERTa-style models a ``classifier`` with
    ``dense``, tanh and ``out_proj`` on the first token. Other heads raise.
    """
    nn = torch.nn
    pooler = getattr(model.base_model, "pooler", None)
    classifier = getattr(model, "classifier", None)
    if (
        isinstance(classifier, nn.Linear)
        and isinstance(getattr(pooler, "dense", None), nn.Linear)
        and isinstance(getattr(pooler, "activation", None), nn.Tanh)
    ):
        return pooler.dense, classifier
    roberta_heads = {
        "RobertaClassificationHead",
        "XLMRobertaClassificationHead",
        "CamembertClassificationHead",
    }
    if type(classifier).__name__ in roberta_heads:
        return classifier.dense, classifier.out_proj
    raise ValueError(
        f"Cannot export to {type(model).__name__}: only BERT-style (pooler + "
        "classifier) and RoBERTa-style (dense, tanh, out_proj) classification "
        "heads on the first token are supported."
    )


def _fold_head(torch, model, weight, center, bias):
    """Make the classification head compute ``weight . (h_first - center) + bias``.

    The head is ``out(tanh(dense(h)))``. With ``dense(h) = eps (h - center)``
    (``eps`` a power of two: exact scaling, and the subtraction rounds as the
    member's own) and ``out = weight / eps``, it is the member's linear reward
    up to a relative ``(eps (h - center))^2 / 3`` (:data:`TANH_FOLD_SCALE`).
    """
    dense, out = _tanh_head(torch, model)
    eps = TANH_FOLD_SCALE
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.weight.shape[0]) * eps)
        dense.bias.copy_(-eps * center)
        out.weight.copy_(weight.reshape(1, -1) / eps)
        out.bias.copy_(bias.reshape(1))


def _backbone_weights(torch, base, source):
    """Load ``source``'s weights (cast to fp32) into the exported model's base."""
    state = {
        k: v.detach().to("cpu", torch.float32) for k, v in source.state_dict().items()
    }
    result = base.load_state_dict(state, strict=False)
    # The AutoModel backbone may carry a pooler the classification model does
    # not use (RoBERTa), or lack one it does (set by _fold_head): both fine.
    other = [
        key
        for key in list(result.missing_keys) + list(result.unexpected_keys)
        if not key.startswith("pooler.")
    ]
    if other:
        raise ValueError(
            "The backbone's weights do not match the classification model's "
            f"(e.g. {other[:3]}); this architecture cannot be exported."
        )


def save_pretrained(
    member: TransformerReward | SampledReward, path: str | os.PathLike[str]
) -> str:
    """Save a member as a stock ``AutoModelForSequenceClassification`` directory.

    The directory (``config.json``, ``model.safetensors``, the tokenizer)
    loads with ``AutoModelForSequenceClassification.from_pretrained(path)``,
    without ``trust_remote_code``; ``num_labels=1``, and its logit for
    ``tokenizer(prompt, response, truncation=True)`` (``tokenizer(response,
    truncation=True)`` for an empty prompt) is the member's reward of
    ``(prompt, response)``; the tokenizer is saved with the member's
    ``max_length`` as its limit. It holds the backbone with the member's
    trained layers (``"last-n"``) or its fine-tuned copy (``"all"``), and the
    member's linear head (with the standardization of ``"head"`` members
    folded in) as the classification head, in float32 (a member that ran its
    backbone in bf16, ``precision_="bf16"``, is reproduced up to bf16
    rounding).

    What can be exported exactly, and why:

    * ``pooling="cls"`` members with ``head="linear"`` on a BERT- or
      RoBERTa-style backbone. Their classification head is ``out(tanh(dense(
      h_first)))``; the export sets ``dense`` to ``eps (h - center)`` and
      ``out`` to the head divided by ``eps`` (``eps = 2**-13``; ``center`` is
      the standardization mean of ``"head"`` members, else 0), which computes
      the member's reward up to float32 rounding (tanh is linear near 0; see
      :data:`TANH_FOLD_SCALE`).
    * ``pooling="mean"`` (the default) or ``"last"`` members raise: a stock
      classification model reads the first token only, and no weights make
      it average the tokens; exporting would silently change the reward, and
      a custom pooling class would need ``trust_remote_code``. ``head="mlp"``
      members raise too (the head is one linear layer).
    * Population members (``members="population"``) raise unless their taste
      is zero: their taste term, random Fourier features of the frozen
      backbone's pooled vector, is not expressible either. Their mean
      (``member.mean``, the reward all members share) exports if it
      qualifies.

    TRL's ``GRPOTrainer`` accepts such a directory as a reward model, but it
    scores ``prompt + completion`` as one text without special tokens, not as
    the text pair the member was trained on; use :func:`reward_functions` for
    the member's exact rewards in GRPO.

    Parameters
    ----------
    member : TransformerReward or population member
        A fitted member, e.g. ``ensemble.estimators_[j]``.
    path : str or os.PathLike
        Directory to write (created if needed).

    Returns
    -------
    path : str
        The directory written, as a string.

    Examples
    --------
    A member on a tiny random-weight BERT built on the fly (use your own
    model directory instead):

    >>> import os, tempfile
    >>> from pcr_sklearn.export import save_pretrained
    >>> from pcr_sklearn.rewards import TransformerReward
    >>> from pcr_sklearn.utils._testing import build_random_bert
    >>> tmp = tempfile.TemporaryDirectory()
    >>> a, b = [["Is tea good?", "Yes, it is healthy."]], [["Is tea good?", "No."]]
    >>> backbone = build_random_bert(
    ...     tmp.name, ["Is tea good?", "Yes, it is healthy.", "No."],
    ...     sentence_transformers=False).hf_dir
    >>> member = TransformerReward(backbone, pooling="cls", device="cpu",
    ...                            random_state=0).fit(a, b, [0.8])
    >>> path = save_pretrained(member, os.path.join(tmp.name, "member"))
    >>> from transformers import AutoModelForSequenceClassification, AutoTokenizer
    >>> hf_model = AutoModelForSequenceClassification.from_pretrained(path)
    >>> tokens = AutoTokenizer.from_pretrained(path)(
    ...     "Is tea good?", "No.", truncation=True, return_tensors="pt")
    >>> logit = hf_model(**tokens).logits[0, 0].item()
    >>> bool(abs(logit - member.reward(b)[0]) < 1e-4)
    True
    >>> tmp.cleanup()
    """
    from ._torch import import_torch
    from .rewards._transformer._surgery import find_layer_list
    from .text._hf import import_transformers

    member = _exportable(member)
    torch = import_torch()
    transformers = import_transformers()
    _, rt, module = member._ensure_runtime()
    config = copy.deepcopy(rt.backbone.config)
    config.num_labels = 1
    config.id2label, config.label2id = {0: "reward"}, {"reward": 0}
    config.problem_type = "regression"
    config.pcr_sklearn_export = {
        "trainable": member.trainable,
        "pooling": member.pooling,
        "max_length": rt.max_length,
        "input": "tokenizer(prompt, response, truncation=True)",
        "tanh_fold_scale": TANH_FOLD_SCALE,
    }
    model = transformers.AutoModelForSequenceClassification.from_config(
        config, dtype=torch.float32
    )
    source = module.backbone if member.trainable == "all" else rt.backbone
    _backbone_weights(torch, model.base_model, source)
    if member.trainable == "last-n":
        _, layers = find_layer_list(torch, model.base_model)
        start = len(layers) - len(module.layers)
        for offset, layer in enumerate(module.layers):
            layers[start + offset].load_state_dict(layer.state_dict())
    weight, center, bias = _linear_head(torch, module, member.trainable)
    _fold_head(torch, model, weight, center, bias)
    model.eval()
    path = os.fspath(path)
    model.save_pretrained(path)
    tokenizer = copy.deepcopy(rt.tokenizer)
    tokenizer.model_max_length = rt.max_length
    tokenizer.save_pretrained(path)
    return path
