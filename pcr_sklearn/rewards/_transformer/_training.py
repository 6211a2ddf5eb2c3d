"""The training loop of a transformer reward member.

AdamW with decoupled weight decay on weight matrices only, a linear warm-up
then linear decay to zero, gradient accumulation, gradient clipping, and a
gradient scaler for fp16 on CUDA. The loss is the base-reward protocol's
weighted mean (see :mod:`pcr_sklearn.rewards._base`). :func:`resolve_auto`
gives the ``"auto"`` learning rate, batch size and number of epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...utils.validation import rescale_weights

_MAX_GRAD_NORM = 1.0

# Defaults when learning_rate / max_epochs are "auto": a head on frozen features
# is a small convex-ish problem that wants a large step and many cheap epochs;
# fine-tuning follows the usual reward-model recipes (small step, few epochs).
AUTO_LEARNING_RATE = {"head": 1e-3, "last-n": 5e-5, "all": 2e-5}
AUTO_MAX_EPOCHS = {"head": 20, "last-n": 2, "all": 2}
# A head step costs microseconds of arithmetic but a fixed Python/optimizer
# overhead, so heads train on large batches; with little data, "auto" epochs
# add passes until the head has had this many optimizer steps.
AUTO_BATCH_SIZE = {"head": 256, "last-n": 16, "all": 16}
AUTO_MIN_HEAD_STEPS = 300


@dataclass(frozen=True)
class TrainingConfig:
    """How a member is trained; resolved values (no ``"auto"``).

    Attributes
    ----------
    trainable : {"head", "last-n", "all"}
        What is trained (which rewards are computed from features or tokens).
    batch_size : int
        Comparisons per micro-batch.
    gradient_accumulation_steps : int
        Micro-batches per optimizer step.
    learning_rate : float
        AdamW learning rate at the end of the warm-up.
    weight_decay : float
        AdamW decoupled weight decay on weight matrices.
    warmup_ratio : float
        Fraction of the optimizer steps with a linear warm-up.
    max_epochs : int
        Passes over the comparisons.
    loss : {"log", "squared"}
        Objective.
    device : torch.device
        Where the rewards are computed.
    precision : {"fp32", "bf16", "fp16"}
        Compute precision (fp16 on CUDA scales the gradients).
    verbose : int, default=0
        Print one line per epoch when positive.
    max_grad_norm : float, default=1.0
        Gradient clipping norm.
    """

    trainable: str
    batch_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    max_epochs: int
    loss: str
    device: Any
    precision: str
    verbose: int = 0
    max_grad_norm: float = _MAX_GRAD_NORM


@dataclass(frozen=True)
class TrainingData:
    """The comparisons, as indices into the unique texts, and the texts' inputs.

    Attributes
    ----------
    index_a, index_b : ndarray of shape (n,)
        Unique-text index of each side of each comparison.
    target : ndarray of shape (n,)
        Soft preference for A (``"log"``) or residual (``"squared"``).
    sample_weight : ndarray of shape (n,)
        Non-negative comparison weights.
    features : torch.Tensor or None
        ``"head"``: pooled vectors of the unique texts, on the device.
    tokens : list or None
        Token ids of the unique texts (the fine-tuning modes).
    states : callable or None
        ``"last-n"``: ``text indices -> states`` entering the trained layers.
    """

    index_a: np.ndarray
    index_b: np.ndarray
    target: np.ndarray
    sample_weight: np.ndarray
    features: Any = None
    tokens: Any = None
    states: Any = None


def resolve_auto(
    trainable,
    *,
    learning_rate,
    batch_size,
    max_epochs,
    n_comparisons,
    gradient_accumulation_steps,
):
    """Resolve the ``"auto"`` values of the training parameters.

    Returns
    -------
    learning_rate : float
    batch_size : int
    max_epochs : int
        For ``"head"``, ``"auto"`` adds epochs until training takes at least
        ``AUTO_MIN_HEAD_STEPS`` optimizer steps.
    """
    learning_rate = float(
        AUTO_LEARNING_RATE[trainable] if learning_rate == "auto" else learning_rate
    )
    batch_size = int(AUTO_BATCH_SIZE[trainable] if batch_size == "auto" else batch_size)
    if max_epochs != "auto":
        return learning_rate, batch_size, int(max_epochs)
    epochs = AUTO_MAX_EPOCHS[trainable]
    if trainable == "head":
        steps = math.ceil(
            math.ceil(n_comparisons / batch_size) / gradient_accumulation_steps
        )
        epochs = max(epochs, math.ceil(AUTO_MIN_HEAD_STEPS / max(steps, 1)))
    return learning_rate, batch_size, int(epochs)


def _make_optimizer(torch, params, config):
    """AdamW with weight decay on weight matrices, not on biases or norms."""
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
    )


def _make_scheduler(torch, optimizer, micro_per_epoch, config):
    """Linear warm-up over ``warmup_ratio`` of the steps, then decay to zero."""
    steps_per_epoch = math.ceil(micro_per_epoch / config.gradient_accumulation_steps)
    total_steps = steps_per_epoch * config.max_epochs
    warmup = int(config.warmup_ratio * total_steps)

    def schedule(step):
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _pair_rewards(torch, rewards, data, trainable, a, b):
    """Rewards of both sides of the comparisons ``a``, ``b`` (text indices)."""
    if trainable == "head":
        r_a = rewards(None, x=data.features[a])
        r_b = rewards(None, x=data.features[b])
        return r_a, r_b
    # One forward for both sides: twice the batch, half the calls.
    both = torch.cat([a, b]).tolist()
    both_rewards = rewards(
        [data.tokens[i] for i in both],
        states=None if data.states is None else data.states(both),
    )
    return both_rewards[: len(a)], both_rewards[len(a) :]


def _micro_batch_loss(torch, rewards, data, pairs, idx, config):
    """Weighted mean loss of the comparisons ``idx`` (a micro-batch)."""
    index_a, index_b, targets, weights = pairs
    a, b = index_a[idx], index_b[idx]
    r_a, r_b = _pair_rewards(torch, rewards, data, config.trainable, a, b)
    diff = r_a - r_b
    t = targets[idx].to(config.device)
    w = weights[idx].to(config.device)
    if config.loss == "log":
        per_pair = torch.nn.functional.binary_cross_entropy_with_logits(
            diff, t, reduction="none"
        )
    else:
        per_pair = (t - torch.sigmoid(diff)) ** 2
    return (w * per_pair).mean()


def _optimizer_step(torch, params, optimizer, scheduler, scaler, max_grad_norm):
    """Unscale, clip, step and advance the schedule; then clear the gradients."""
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    scheduler.step()


def train(torch, module, rewards, data, config, *, generator, on_epoch_end):
    """Train ``module`` on the comparisons of ``data`` (in place).

    Parameters
    ----------
    torch : module
    module : torch.nn.Module
        The member's trainable module; left in eval mode.
    rewards : callable
        ``(batch_tokens, *, states=None, x=None) -> rewards`` of one batch of
        texts (see :func:`._member.text_rewards`).
    data : TrainingData
    config : TrainingConfig
    generator : torch.Generator
        Shuffles the comparisons every epoch.
    on_epoch_end : callable
        ``(epoch, mean_loss)``, called after each epoch (from 0).
    """
    n = len(data.target)
    # Rescaled by a power of two first (exact): a sum of weights of 1e308
    # overflows to inf, which would zero every weight below.
    weight = rescale_weights(data.sample_weight)
    total_weight = float(weight.sum())
    if n == 0 or total_weight <= 0:
        return
    # Weights scaled to mean 1, so the mean over a micro-batch is an unbiased
    # estimate of the weighted-mean loss of the protocol.
    pairs = (
        torch.as_tensor(data.index_a),
        torch.as_tensor(data.index_b),
        torch.as_tensor(data.target, dtype=torch.float32),
        torch.as_tensor(weight * (n / total_weight), dtype=torch.float32),
    )
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = _make_optimizer(torch, params, config)
    batch_size = config.batch_size
    accumulation = config.gradient_accumulation_steps
    micro_per_epoch = math.ceil(n / batch_size)
    scheduler = _make_scheduler(torch, optimizer, micro_per_epoch, config)
    device_type = config.device.type
    scaler = torch.amp.GradScaler(
        device_type, enabled=config.precision == "fp16" and device_type == "cuda"
    )
    trained = module.layers if config.trainable == "last-n" else module
    for epoch in range(config.max_epochs):
        trained.train()
        order = torch.randperm(n, generator=generator)
        epoch_loss = 0.0
        for micro in range(micro_per_epoch):
            idx = order[micro * batch_size : (micro + 1) * batch_size]
            batch_loss = _micro_batch_loss(torch, rewards, data, pairs, idx, config)
            scaler.scale(batch_loss / accumulation).backward()
            epoch_loss += float(batch_loss.detach()) * len(idx)
            last_micro = micro == micro_per_epoch - 1
            if (micro + 1) % accumulation == 0 or last_micro:
                _optimizer_step(
                    torch, params, optimizer, scheduler, scaler, config.max_grad_norm
                )
        trained.eval()
        on_epoch_end(epoch, epoch_loss / n)
        if config.verbose:
            print(
                f"[TransformerReward] epoch {epoch + 1}/{config.max_epochs} "
                f"loss={epoch_loss / n:.5f}"
            )
    module.eval()
