"""The trainable member model: a reward head plus the layers a member owns.

A member owns only what it trains: a head, plus a copy of the top
``n_trainable_layers`` layers (``"last-n"``) or of the whole backbone
(``"all"``). :func:`text_rewards` is its forward pass on one batch of texts.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from ._backbone import pad_batch
from ._surgery import attach_trained_layers, find_layer_list


@dataclass(frozen=True)
class MemberSpec:
    """What a member trains and how it reads a text (from the parameters).

    Attributes
    ----------
    trainable : {"head", "last-n", "all"}
    pooling : {"mean", "cls", "last"}
    head : {"linear", "mlp"}
    head_hidden_size : int
    n_trainable_layers : int
    """

    trainable: str
    pooling: str
    head: str
    head_hidden_size: int
    n_trainable_layers: int


def _make_head(torch, spec, hidden_size):
    """A linear or MLP reward head, with the usual reward-model init."""
    nn = torch.nn
    if spec.head == "linear":
        head = nn.Sequential(nn.Linear(hidden_size, 1))
    else:
        head = nn.Sequential(
            nn.Linear(hidden_size, spec.head_hidden_size),
            nn.GELU(),
            nn.Linear(spec.head_hidden_size, 1),
        )
    # The usual reward-model head init (as in TRL): small random weights, so
    # fine-tuned layers get a gradient from the first step.
    last = head[-1]
    nn.init.normal_(last.weight, std=1.0 / math.sqrt(last.in_features + 1))
    nn.init.zeros_(last.bias)
    return head


def build_module(torch, runtime, spec, hidden_size, features=None):
    """The trainable module (head plus trained layers), on ``runtime.device``.

    ``features`` (``"head"`` only): the pooled training vectors, whose mean and
    scale standardize the head's input; without them (a reload, whose buffers
    come from the state dict) the buffers are placeholders.
    """
    nn = torch.nn
    module = nn.Module()
    module.head = _make_head(torch, spec, hidden_size)
    if spec.trainable == "head":
        if features is None:
            mean = torch.zeros(hidden_size)
            scale = torch.ones(hidden_size)
        else:
            mean = features.mean(dim=0)
            scale = features.std(dim=0, unbiased=False).clamp(min=1e-6)
        module.register_buffer("feature_mean", mean.float())
        module.register_buffer("feature_scale", scale.float())
    elif spec.trainable == "last-n":
        _, layers = find_layer_list(torch, runtime.backbone)
        split = len(layers) - spec.n_trainable_layers
        module.layers = nn.ModuleList(copy.deepcopy(layer) for layer in layers[split:])
    else:
        module.backbone = copy.deepcopy(runtime.backbone)
    module.float()
    module.requires_grad_(True)
    return module.to(runtime.device)


def attach(torch, runtime, spec, module):
    """Wire a trained module to the shared backbone (``"last-n"`` graft)."""
    if spec.trainable == "last-n":
        attach_trained_layers(torch, runtime, module)


def text_rewards(torch, runtime, module, spec, batch_tokens, *, states=None, x=None):
    """Rewards (float32, on device) of one batch of texts.

    ``"head"``: from the pooled vectors ``x``; ``"last-n"``: from the token ids
    and the ``states`` entering the first trained layer; ``"all"``: from the
    token ids.
    """
    from ...text._hf import pool

    if spec.trainable == "head":
        x = (x - module.feature_mean) / module.feature_scale
        return module.head(x).squeeze(-1).float()
    batch = pad_batch(
        torch, batch_tokens, runtime.tokenizer.pad_token_id, runtime.device
    )
    with runtime.autocast(torch):
        if spec.trainable == "last-n":
            # Zero right-padding to the batch length (the longest state has
            # exactly as many tokens as the longest text of the batch).
            padded = torch.nn.utils.rnn.pad_sequence(list(states), batch_first=True)
            runtime.inject["hidden"] = padded.to(runtime.device, non_blocking=True)
            try:
                output = runtime.shell(**batch.model_inputs(), **runtime.forward_kwargs)
            finally:
                runtime.inject.pop("hidden", None)
        else:
            output = module.backbone(**batch.model_inputs(), **runtime.forward_kwargs)
    # Pooling and head in fp32, outside autocast: bf16 keeps ~3 significant
    # digits, enough to turn close reward pairs into ties.
    hidden = output.last_hidden_state.float()
    pooled = pool(hidden, batch["attention_mask"], spec.pooling)
    return module.head(pooled).squeeze(-1).float()
