"""MLP reward ``r(item)`` in torch, trained on pairwise comparisons."""

from __future__ import annotations

import copy
import math
from numbers import Integral, Real
from typing import TYPE_CHECKING, Literal

import numpy as np
from sklearn.utils.validation import check_array, check_is_fitted

from .._compat import Interval, StrOptions, _fit_context
from .._torch import (
    import_torch,
    load_state_dict,
    resolve_device,
    resolve_load_device,
    seed_from_random_state,
    to_numpy,
    torch_random_context,
)
from ..utils.validation import plain, rescale_weights
from ._base import BaseReward

if TYPE_CHECKING:
    from typing import Self

    import torch
    from numpy.typing import ArrayLike, NDArray

ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "logistic", "identity")

# Rows per forward pass at inference: bounded memory, and since the network
# has no batch-dependent layers the result does not depend on the chunking.
_PREDICT_CHUNK = 65536


class MLPReward(BaseReward):
    """Multi-layer perceptron reward on item features (torch), for pairs.

    The reward of an item with features ``x`` is ``r(x) = MLP(phi(x))``; the
    probability that A beats B is ``sigmoid(r(x_A) - r(x_B))``. ``phi`` is
    ``x`` itself, or ``[x | prompt * response]`` with ``prompt_dim`` (see
    below), standardised with the training items' mean and scale. Training
    minimises the weighted mean of the protocol's loss (``"log"``: soft-label
    cross-entropy; ``"squared"``: squared error against a residual in
    [-1, 1]) plus ``alpha / 2`` times the squared norm of the weight matrices
    (biases are not penalised), with Adam on mini-batches. Typical inputs are
    frozen text embeddings from :class:`~pcr_sklearn.text.PairEmbedder`.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(64,)
        Widths of the hidden layers; ``()`` gives a linear reward on ``phi``.
    activation : {"relu", "gelu", "silu", "tanh", "logistic", "identity"}, \
default="relu"
        Activation after each hidden layer.
    dropout : float, default=0.0
        Dropout probability after each hidden activation (training only; the
        network is in eval mode at inference, so predictions do not depend on
        which items are scored together).
    alpha : float, default=1e-4
        L2 penalty strength. Losses are weighted means, so the penalty means
        the same thing for any number of pairs or weight scale.
    learning_rate : float, default=1e-3
        Adam step size.
    batch_size : int, default=256
        Comparisons per optimisation step.
    max_epochs : int, default=50
        Maximum passes over the training comparisons.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss (validation loss with
        ``early_stopping``, else the epoch's training objective) that counts
        as an improvement.
    n_iter_no_change : int, default=5
        Stop after this many epochs without improvement.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the comparisons, monitor their
        weighted loss and restore the parameters of the best epoch.
    validation_fraction : float, default=0.1
        Share of comparisons held out when ``early_stopping`` is on.
    prompt_dim : int, default=None
        Prompt-response interaction. When items are ``[prompt embedding |
        response embedding]`` (``PairEmbedder(prompt_mode="concat")``; pass its
        ``n_prompt_features_``), the first ``prompt_dim`` features are the
        prompt block and the rest the response block, of equal size; the
        network then also sees their elementwise product, so a response can
        be rewarded for matching its prompt. ``None``: no interaction.
    device : str or torch.device, default="auto"
        ``"auto"`` trains on CUDA when available, else on the CPU. Rewards
        are NumPy float64 arrays whatever the device.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout and the validation split.
        A fixed value gives an identical model on the CPU.
    verbose : int, default=0
        Print the losses of every epoch when > 0.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (in eval mode), on ``device_``.
    device_ : str
        Device the network lives on.
    n_features_in_ : int
        Number of features per item.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training objective of each epoch (mean over its mini-batches).
    validation_loss_curve_ : list of float or None
        Weighted validation loss of each epoch (``early_stopping`` only).

    See Also
    --------
    pcr_sklearn.rewards.LinearReward : NumPy linear reward, no torch needed.
    pcr_sklearn.text.PairEmbedder : Text comparisons to item features.

    Notes
    -----
    Pickling stores the network's parameters as NumPy arrays, so a reward
    trained on a GPU loads and predicts on a CPU-only machine (with a
    warning that it moved), and :func:`pcr_sklearn.io.save` (skops, which
    cannot hold torch tensors) can store it. torch is imported only when the
    reward is fitted, used or unpickled.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.rewards import MLPReward
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    >>> target = (a[:, 0] > b[:, 0]).astype(float)  # feature 0 decides
    >>> reward = MLPReward(hidden_layer_sizes=(8,), learning_rate=0.01, random_state=0)
    >>> reward = reward.fit(a, b, target)
    >>> r_a, r_b = reward.reward(a), reward.reward(b)
    >>> bool(np.mean((r_a > r_b) == (target == 1)) > 0.8)
    True
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "prompt_dim": [Interval(Integral, 1, None, closed="left"), None],
        # validated by resolve_device (a torch.device is allowed too)
        "device": "no_validation",
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes: ArrayLike = (64,),
        activation: Literal[
            "relu", "gelu", "silu", "tanh", "logistic", "identity"
        ] = "relu",
        dropout: float = 0.0,
        alpha: float = 1e-4,
        learning_rate: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 50,
        tol: float = 1e-4,
        n_iter_no_change: int = 5,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        prompt_dim: int | None = None,
        device: str | torch.device = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.prompt_dim = prompt_dim
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        items_a: ArrayLike,
        items_b: ArrayLike,
        target: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        loss: Literal["log", "squared"] = "log",
    ) -> Self:
        """Fit the reward on comparisons of ``items_a`` against ``items_b``.

        Parameters
        ----------
        items_a, items_b : array-like of shape (n_pairs, n_features)
            Features of the two items of each comparison.
        target : array-like of shape (n_pairs,)
            In [0, 1] for ``loss="log"`` (share preferring A), in [-1, 1] for
            ``loss="squared"`` (a calibration residual).
        sample_weight : array-like of shape (n_pairs,), default=None
            Non-negative weights; comparisons with weight 0 are skipped.
        loss : {"log", "squared"}, default="log"
            See :mod:`pcr_sklearn.rewards` for the protocol.

        Returns
        -------
        self : MLPReward
            The fitted reward.
        """
        torch = import_torch()
        # (check_array's quick test sums the values: inf - inf or an
        # overflow there is its own business, its exact test decides.)
        with np.errstate(over="ignore", invalid="ignore"):
            items_a = check_array(
                items_a, input_name="items_a", dtype=np.float64, order="C"
            )
            items_b = check_array(
                items_b, input_name="items_b", dtype=np.float64, order="C"
            )
        if items_a.shape != items_b.shape:
            raise ValueError(
                f"items_a and items_b must have the same shape, got {items_a.shape} "
                f"and {items_b.shape}."
            )
        target, sample_weight = self._check_fit_inputs(
            items_a, items_b, target, sample_weight, loss
        )
        hidden = self._check_hidden_layer_sizes()
        n_features = items_a.shape[1]
        self._check_prompt_dim(n_features)
        device = resolve_device(self.device)
        seed = seed_from_random_state(self.random_state)

        self._architecture = {
            "n_features": n_features,
            "hidden_layer_sizes": hidden,
            "activation": self.activation,
            "dropout": float(self.dropout),
            "prompt_dim": self.prompt_dim,
        }
        self.n_features_in_ = n_features
        self.device_ = str(device)
        self.loss_curve_ = []
        self.validation_loss_curve_ = [] if self.early_stopping else None
        self.n_iter_ = 0

        # deterministic=False: every CPU kernel used here (dense layers,
        # elementwise ops, gathers) is deterministic already, and the global
        # flag costs seconds of imports on first use.
        keep = np.flatnonzero(sample_weight > 0)
        # Zero-weight comparisons are dropped before anything (statistics
        # included), so weight 0 is exactly the same as leaving a row out.
        stats_rows = keep if keep.size else np.arange(items_a.shape[0])
        # Standardise phi with statistics of the training items (A and B
        # alike), so one learning rate suits embeddings of any scale. They are
        # computed in float64: float32 squares overflow from |x| ~ 1e19.
        mean, scale = _standardisation(
            items_a[stats_rows], items_b[stats_rows], self.prompt_dim, stats_rows
        )
        with torch_random_context(seed, device, deterministic=False) as generator:
            net = _build_network(self._architecture, torch)
            net[0].set_statistics(
                torch.as_tensor(mean, dtype=torch.float32),
                torch.as_tensor(scale, dtype=torch.float32),
            )
            net.to(device)
            self.module_ = net
            if keep.size == 0:
                # Nothing to learn: constant rewards (every comparison a tie)
                # are the neutral vote, matching LinearReward's zero model.
                with torch.no_grad():
                    net[-1].weight.zero_()
                    net[-1].bias.zero_()
            else:
                self._train(
                    torch,
                    net,
                    items_a[keep],
                    items_b[keep],
                    target[keep],
                    sample_weight[keep],
                    loss,
                    device,
                    generator,
                )
        net.eval()
        return self

    def _train(self, torch, net, xa, xb, target, weight, loss, device, generator):
        def tensor(values):
            return torch.as_tensor(values, dtype=torch.float32).to(device)

        n = xa.shape[0]
        # Weights scaled to mean 1: a mini-batch mean of weight * loss is then
        # an unbiased estimate of the weighted mean over all comparisons.
        # (Rescaled by a power of two first: the mean of 1e308s overflows.)
        weight = rescale_weights(weight)
        weight = weight / weight.mean()
        train_idx = np.arange(n)
        val_idx = None
        if self.early_stopping and n >= 2:
            n_val = min(n - 1, max(1, math.ceil(self.validation_fraction * n)))
            perm = torch.randperm(n, generator=generator).numpy()
            val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        xa_t, xb_t, t_t, w_t = tensor(xa), tensor(xb), tensor(target), tensor(weight)
        loss_fn = _LOSSES[loss]
        matrices = [p for name, p in net.named_parameters() if name.endswith("weight")]
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        n_train = train_idx.size
        train_idx_t = torch.as_tensor(train_idx)
        best, best_state, stall = math.inf, None, 0

        for epoch in range(self.max_epochs):
            net.train()
            order = train_idx_t[torch.randperm(n_train, generator=generator)]
            total = torch.zeros((), device=device)
            for start in range(0, n_train, self.batch_size):
                idx = order[start : start + self.batch_size].to(device)
                margin = _margin(net, xa_t[idx], xb_t[idx])
                data_loss = (w_t[idx] * loss_fn(torch, margin, t_t[idx])).mean()
                penalty = 0.5 * self.alpha * sum((m**2).sum() for m in matrices)
                optimizer.zero_grad(set_to_none=True)
                (data_loss + penalty).backward()
                optimizer.step()
                # detach, and one .item() per epoch: no GPU sync every step
                total += (data_loss + penalty).detach() * idx.numel()
            epoch_loss = total.item() / n_train
            self.loss_curve_.append(epoch_loss)
            self.n_iter_ = epoch + 1
            monitored = epoch_loss
            if val_idx is not None:
                monitored = self._weighted_loss(
                    torch, net, xa_t, xb_t, t_t, w_t, val_idx, loss_fn, device
                )
                self.validation_loss_curve_.append(monitored)
            if self.verbose:
                extra = "" if val_idx is None else f", validation loss {monitored:.6f}"
                print(f"[MLPReward] epoch {epoch + 1}: loss {epoch_loss:.6f}{extra}")
            if monitored < best - self.tol:
                best, stall = monitored, 0
                if val_idx is not None:
                    best_state = copy.deepcopy(net.state_dict())
            else:
                stall += 1
                if stall >= self.n_iter_no_change:
                    break
            if not math.isfinite(epoch_loss):
                raise FloatingPointError(
                    f"MLPReward diverged at epoch {epoch + 1} (loss {epoch_loss}); "
                    "lower learning_rate."
                )
        if best_state is not None:
            net.load_state_dict(best_state)

    @staticmethod
    def _weighted_loss(torch, net, xa_t, xb_t, t_t, w_t, idx, loss_fn, device):
        net.eval()
        idx = torch.as_tensor(idx).to(device)
        with torch.no_grad():
            margin = _margin(net, xa_t[idx], xb_t[idx])
            w = w_t[idx]
            return float((w * loss_fn(torch, margin, t_t[idx])).sum() / w.sum())

    # -------------------------------------------------------------- predict

    def reward(self, items: ArrayLike) -> NDArray[np.float64]:
        """Reward of each item.

        Parameters
        ----------
        items : array-like of shape (n_items, n_features)
            Item features, as in fit.

        Returns
        -------
        rewards : ndarray of shape (n_items,), dtype float64
            The network's output for each item, on the CPU.
        """
        check_is_fitted(self, "module_")
        torch = import_torch()
        with np.errstate(over="ignore", invalid="ignore"):  # (as in fit)
            items = check_array(items, input_name="items", dtype=np.float64, order="C")
        if items.shape[1] != self.n_features_in_:
            raise ValueError(
                f"items must have shape (n_items, {self.n_features_in_}), got "
                f"{items.shape}."
            )
        _check_float32_range(items, self.prompt_dim, "items")
        net = self.module_
        net.eval()
        out = np.empty(items.shape[0], dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, items.shape[0], _PREDICT_CHUNK):
                chunk = torch.as_tensor(
                    items[start : start + _PREDICT_CHUNK], dtype=torch.float32
                ).to(self.device_)
                out[start : start + chunk.shape[0]] = to_numpy(net(chunk)[:, 0])
        return out

    # ---------------------------------------------------------- persistence

    def __getstate__(self):
        # Copy: object.__getstate__ returns the live __dict__ itself.
        state = dict(super().__getstate__())
        module = state.pop("module_", None)
        if module is not None:
            # The weights as NumPy arrays: a GPU-trained reward loads on a
            # CPU-only machine (skorch's lesson), and skops, which cannot
            # store torch tensors, can save the reward (pcr_sklearn.io).
            state["_module_state"] = state_dict_to_numpy(module.state_dict())
        return state

    def __setstate__(self, state):
        state = dict(state)
        module_state = state.pop("_module_state", None)
        super().__setstate__(state)
        if module_state is not None:
            torch = import_torch()
            device = resolve_load_device(self.device_, owner=type(self).__name__)
            net = _build_network(self._architecture, torch)
            # Tensors too: pickles written before the weights were arrays.
            load_state_dict(net, state_dict_from_numpy(module_state), device)
            net.eval()
            self.module_ = net
            self.device_ = str(device)

    # -------------------------------------------------------------- helpers

    def _check_hidden_layer_sizes(self):
        sizes = np.asarray(self.hidden_layer_sizes).reshape(-1)
        if sizes.size and (
            not np.issubdtype(sizes.dtype, np.integer) or (sizes < 1).any()
        ):
            raise ValueError(
                "hidden_layer_sizes must hold positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _check_prompt_dim(self, n_features):
        if self.prompt_dim is None:
            return
        response_dim = n_features - self.prompt_dim
        if response_dim != self.prompt_dim:
            raise ValueError(
                f"prompt_dim={self.prompt_dim} splits items of {n_features} "
                f"features into a prompt block of {self.prompt_dim} and a "
                f"response block of {response_dim}; the interaction needs two "
                "blocks of equal size, as PairEmbedder(prompt_mode='concat') "
                "produces (prompt_dim=n_prompt_features_)."
            )


def state_dict_to_numpy(state_dict):
    """A copy of ``state_dict`` with every tensor as a NumPy array (CPU).

    Half-precision tensors become float32 (NumPy has no bfloat16); loading
    casts them back to the parameters' dtype. Used by the rewards'
    ``__getstate__`` so that pickles and skops files hold no torch objects.
    """
    torch = import_torch()
    arrays = {}
    for name, value in state_dict.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().to("cpu")
            if value.dtype in (torch.bfloat16, torch.float16):
                value = value.float()
            # A copy: on the CPU, the tensor shares memory with the live model.
            value = value.numpy().copy()
        arrays[name] = value
    return arrays


def state_dict_from_numpy(state):
    """The inverse of :func:`state_dict_to_numpy`: arrays back to CPU tensors.

    Tensors (older pickles) pass through unchanged.
    """
    torch = import_torch()
    return {
        name: torch.tensor(value) if isinstance(value, np.ndarray) else value
        for name, value in state.items()
    }


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def _check_float32_range(items, prompt_dim, name, rows=None):
    """Raise a ValueError where ``phi(items)`` would overflow float32.

    The network runs in float32, whose range ends at 3.4e38: a larger input
    (or prompt * response product) becomes inf there, and training then
    "diverges" or the reward is NaN for a reason no learning rate fixes.
    ``rows`` maps the rows of ``items`` to the caller's row numbers.
    """
    blocks = [(items, None)]
    if prompt_dim is not None:
        with np.errstate(over="ignore"):
            blocks.append((items[:, :prompt_dim] * items[:, prompt_dim:], prompt_dim))
    for values, offset in blocks:
        if not values.size or np.abs(values).max() <= _FLOAT32_MAX:
            continue
        row, col = np.argwhere(np.abs(values) > _FLOAT32_MAX)[0]
        where = f"row {row if rows is None else rows[row]}"
        if offset is None:
            what = f"{name} has {plain(values[row, col])!r} at {where}, column {col}"
        else:
            what = (
                f"the prompt-response interaction of {name} at {where} "
                f"(column {col} times column {col + offset}) is "
                f"{plain(values[row, col]):.3g}"
            )
        raise ValueError(
            f"{what}, beyond the float32 range (|x| <= {_FLOAT32_MAX:.3g}) that "
            "MLPReward computes in: it would overflow to inf in the network. "
            "Rescale the features (e.g. divide them by their largest absolute "
            "value)."
        )


def _standardisation(items_a, items_b, prompt_dim, rows):
    """Mean and scale of ``phi`` over both items' rows, computed in float64.

    Checks first that ``phi`` fits in float32 (the network's precision),
    naming the offending item by its row in the training data (``rows``). A
    feature whose spread is round-off of its magnitude (a constant) gets
    scale 1.
    """
    _check_float32_range(items_a, prompt_dim, "items_a", rows)
    _check_float32_range(items_b, prompt_dim, "items_b", rows)
    phi = np.vstack([items_a, items_b])
    if prompt_dim is not None:
        phi = np.hstack([phi, phi[:, :prompt_dim] * phi[:, prompt_dim:]])
    mean = phi.mean(axis=0)
    scale = phi.std(axis=0)
    # Relative, so that features of scale 1e-20 are standardised like any
    # other instead of being taken for constants.
    scale = np.where(scale > 1e-12 * np.abs(phi).max(axis=0), scale, 1.0)
    # A spread below float32's range would be 0 in the network (0/0): an
    # error for a feature, a constant for a prompt-response product of
    # small ones (the features themselves carry the information).
    n_features = items_a.shape[1]
    scale[n_features:][scale[n_features:] < _FLOAT32_TINY] = 1.0
    small = np.flatnonzero(scale < _FLOAT32_TINY)
    if small.size:
        col = small[0]
        raise ValueError(
            f"items_a and items_b: feature {col} varies by {scale[col]:.3g} only, "
            f"below the float32 range (|x| >= {_FLOAT32_TINY:.3g}) that MLPReward "
            "computes in: the network would see a constant. Rescale the features "
            "(e.g. divide them by their largest absolute value)."
        )
    return mean, scale


def _expand(x, prompt_dim):
    """``phi(x)``: the items, plus prompt * response when ``prompt_dim``."""
    if prompt_dim is None:
        return x
    import torch

    return torch.cat([x, x[:, :prompt_dim] * x[:, prompt_dim:]], dim=1)


def _margin(net, xa, xb):
    """``r(A) - r(B)`` with one forward pass over both items."""
    import torch

    rewards = net(torch.cat([xa, xb], dim=0))[:, 0]
    return rewards[: xa.shape[0]] - rewards[xa.shape[0] :]


def _log_loss(torch, margin, target):
    return torch.nn.functional.binary_cross_entropy_with_logits(
        margin, target, reduction="none"
    )


def _squared_loss(torch, margin, target):
    return (target - torch.sigmoid(margin)) ** 2


_LOSSES = {"log": _log_loss, "squared": _squared_loss}


def _build_network(architecture, torch):
    """The reward network: input layer (phi + standardisation), MLP, scalar."""
    nn = torch.nn
    activations = {
        "relu": nn.ReLU,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "tanh": nn.Tanh,
        "logistic": nn.Sigmoid,
        "identity": nn.Identity,
    }
    prompt_dim = architecture["prompt_dim"]
    n_inputs = architecture["n_features"]
    if prompt_dim is not None:
        n_inputs += prompt_dim

    class InputLayer(nn.Module):
        """phi(x) standardised with fixed (buffer) mean and scale."""

        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.zeros(n_inputs))
            self.register_buffer("scale", torch.ones(n_inputs))

        def set_statistics(self, mean, scale):
            self.mean.copy_(mean)
            self.scale.copy_(scale)

        def forward(self, x):
            return (_expand(x, prompt_dim) - self.mean) / self.scale

    layers = [InputLayer()]
    width = n_inputs
    for size in architecture["hidden_layer_sizes"]:
        layers.append(nn.Linear(width, size))
        layers.append(activations[architecture["activation"]]())
        if architecture["dropout"] > 0:
            layers.append(nn.Dropout(architecture["dropout"]))
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)
