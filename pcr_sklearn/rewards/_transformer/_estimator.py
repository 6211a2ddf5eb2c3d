"""The TransformerReward estimator: parameters, fit, rewards, persistence.

The backbone plumbing is in :mod:`._backbone`, the member model in
:mod:`._member`, the layer surgery of ``"last-n"`` in :mod:`._surgery` and the
optimisation loop in :mod:`._training`; this module turns the estimator's
parameters into calls to them.
"""

from __future__ import annotations

import contextlib
import functools
import os
from numbers import Integral, Real
from typing import TYPE_CHECKING, Literal

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..._compat import Interval, StrOptions, _fit_context
from ..._torch import (
    import_torch,
    resolve_device,
    seed_from_random_state,
    to_numpy,
    torch_random_context,
)
from ...utils.validation import check_text_items
from .._base import BaseReward
from ._backbone import (
    cached_pass,
    cached_tokens,
    choose_precision,
    clear_caches,
    config_fingerprint,
    feature_cache,
    feature_cache_info,
    length_batches,
    make_runtime,
    split_states_provider,
    unique_texts,
    weights_probe,
)
from ._member import MemberSpec, attach, build_module, text_rewards
from ._persistence import ReloadableReward
from ._surgery import find_layer_list
from ._training import TrainingConfig, TrainingData, resolve_auto, train

if TYPE_CHECKING:
    from typing import Self

    import torch
    from numpy.typing import ArrayLike, NDArray

    from .._base import RewardTags

TRAINABLE = ("head", "last-n", "all")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
HEADS = ("linear", "mlp")

# Texts per head evaluation in ``reward`` (bounds the memory of one call).
_HEAD_REWARD_CHUNK = 4096


def _check_text_items(items, name="items"):
    """Validate ``(n, 2)`` ``(prompt, response)`` items; return a list of tuples.

    An empty prompt means the response is encoded alone.
    """
    # ``tolist``: iterating the object array itself makes one array per row.
    return [tuple(row) for row in check_text_items(items, name).tolist()]


class TransformerReward(ReloadableReward, BaseReward):
    """Reward head on a transformer model, trained on text comparisons.

    Each item is a ``(prompt, response)`` pair; its reward is a head (linear or
    MLP) applied to the pooled final hidden states of a transformers
    ``AutoModel``. The prompt and the response go in as a tokenizer *text pair*
    (``[CLS] prompt [SEP] response [SEP]`` for BERT-like models), truncated
    longest-first to ``max_length`` tokens; an empty prompt encodes the response
    alone. Follows the base-reward protocol (see :mod:`pcr_sklearn.rewards._base`),
    so it is a member for :class:`~pcr_sklearn.PairwiseCalibratedEnsemble`, which
    takes text triples ``(prompt, response_a, response_b)``.

    Three training modes:

    * ``"head"`` (default): the backbone is frozen (no parameter requires a
      gradient, eval mode) and shared by every member in the process; each unique
      text is encoded once and its pooled vector cached, so the ``k`` members of
      an ensemble cost one embedding pass plus ``k`` small heads;
    * ``"last-n"``: each member trains its own copy of the top
      ``n_trainable_layers`` layers plus the head; embeddings and lower layers
      stay shared and frozen, and the states entering the first trained layer are
      cached per unique text (memory: ``n_tokens * hidden_size`` values per text;
      if they exceed the cache limit the lower layers are recomputed per batch);
    * ``"all"``: full fine-tuning; every member owns a full copy of the backbone
      (``k`` copies in CPU memory; during training the GPU holds one copy plus
      gradients and AdamW state, about 16 bytes per parameter in fp32). Members
      are moved to the CPU after ``fit`` and back to the device per call.

    Parameters
    ----------
    model : str or os.PathLike, default=None
        Local directory (loaded with ``local_files_only=True``) or hub name of a
        transformers model with a tokenizer. Required; ``None`` raises in ``fit``.
        May be changed with ``set_params`` on a fitted (e.g. unpickled) model to
        point at the backbone's new location.
    trainable : {"head", "last-n", "all"}, default="head"
        What is trained; see above.
    n_trainable_layers : int, default=2
        Number of top transformer layers trained when ``trainable="last-n"``.
    pooling : {"mean", "cls", "last"}, default="mean"
        Masked mean over tokens, first token, or last real token (decoder models).
    head : {"linear", "mlp"}, default="linear"
        ``"linear"``: one linear layer on the pooled vector; ``"mlp"``: linear,
        GELU, linear with ``head_hidden_size`` units. With ``trainable="head"``
        the pooled vectors are standardized with training statistics first.
    head_hidden_size : int, default=256
        Width of the MLP head.
    max_length : int or None, default=256
        Truncation length in tokens of a prompt-response pair (``None``: the
        model's limit).
    batch_size : int or "auto", default="auto"
        Comparisons per training micro-batch (each holds ``2 * batch_size``
        texts); ``"auto"`` is 256 for ``"head"`` (a head step is cheap) and 16
        for the fine-tuning modes.
    encode_batch_size : int, default=64
        Texts per inference forward pass: the frozen encoding pass and
        :meth:`reward` in the fine-tuning modes.
    gradient_accumulation_steps : int, default=1
        Micro-batches per optimizer step; the effective batch is
        ``batch_size * gradient_accumulation_steps`` comparisons.
    learning_rate : float or "auto", default="auto"
        AdamW learning rate; ``"auto"`` is 1e-3 for ``"head"``, 5e-5 for
        ``"last-n"`` and 2e-5 for ``"all"``.
    weight_decay : float, default=0.01
        AdamW decoupled weight decay, on weight matrices only (not on biases or
        norms).
    warmup_ratio : float, default=0.1
        Fraction of the optimizer steps with a linear warm-up; then linear decay
        to zero. Gradients are clipped at norm 1.
    max_epochs : int or "auto", default="auto"
        Passes over the comparisons; ``"auto"`` is 20 for ``"head"`` and 2 for
        the fine-tuning modes; for ``"head"`` more epochs are added when the
        data are small, so that training takes at least 300 optimizer steps.
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
        ``"auto"``: bf16 autocast on CUDA devices that support it; on the CPU,
        bf16 when the CPU has native bf16 dot products (AMX or AVX512-BF16)
        and the backbone is at least 128 wide (measured 3.5x as fast as fp32
        for BERT-base on an AVX512-BF16 CPU; at most 1.1x below width 128,
        not worth the precision), else fp32. A fitted reward reloaded on the
        same kind of device keeps its precision.
        With bf16/fp16 the shared frozen backbone is held in that dtype and
        trained weights stay fp32 under autocast; ``"fp16"`` (CUDA only) uses
        a gradient scaler. Pass ``"fp32"`` for fp32 everywhere.
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    random_state : int, RandomState instance or None, default=None
        Seeds head initialisation, shuffling and dropout. On the CPU the same
        seed gives identical results.
    verbose : int, default=0
        1: one line per epoch; 2: also progress bars while encoding.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained weights: ``head`` (plus ``layers``, the trained top layers,
        for ``"last-n"``, or ``backbone``, the fine-tuned model, for ``"all"``).
        After unpickling it is rebuilt on first use.
    hidden_size_ : int
        Width of the pooled vectors.
    n_layers_ : int
        Number of transformer layers of the backbone.
    device_ : str
        Device used by ``fit``.
    precision_ : str
        Resolved precision used by ``fit`` (``"fp32"``, ``"bf16"`` or ``"fp16"``).
    learning_rate_ : float
        Resolved learning rate.
    max_epochs_ : int
        Resolved number of epochs.
    batch_size_ : int
        Resolved training micro-batch size.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Mean training loss per epoch.

    See Also
    --------
    pcr_sklearn.rewards.MLPReward : MLP reward on precomputed embeddings.
    pcr_sklearn.text.PairEmbedder : Text pairs to numeric features.

    Notes
    -----
    Persistence (pickle/joblib, or :func:`pcr_sklearn.io.save`) stores the
    parameters (including ``model``, the backbone reference) and the trained
    weights as NumPy arrays, never the backbone; loading reloads the backbone
    from ``model`` on first use, on the CPU when CUDA is not available. A model
    fitted with ``"all"`` stores its full fine-tuned weights (that is what it
    trained).

    The feature cache is per process; ``GridSearchCV(n_jobs>1)`` workers each
    fill their own. Use :meth:`clear_cache` to free it and
    :meth:`set_cache_limit` to resize it (or set the environment variable
    ``PCR_SKLEARN_TRANSFORMER_CACHE_BYTES`` before the cache is first used: it
    is read then, never at import).

    Examples
    --------
    ``model`` is a local model directory (or a hub name on a machine online),
    e.g. a downloaded ``all-MiniLM-L6-v2``. Here a tiny BERT with random
    weights is built on the fly, so that nothing is downloaded:

    >>> import tempfile
    >>> from pcr_sklearn.rewards import TransformerReward
    >>> from pcr_sklearn.utils._testing import build_random_bert
    >>> items_a = [["Is tea good?", "Yes, it is healthy."]]
    >>> items_b = [["Is tea good?", "No."]]
    >>> tmp = tempfile.TemporaryDirectory()
    >>> model = build_random_bert(
    ...     tmp.name, ["Is tea good?", "Yes, it is healthy.", "No."],
    ...     sentence_transformers=False).hf_dir
    >>> reward = TransformerReward(model, device="cpu", random_state=0)
    >>> reward = reward.fit(items_a, items_b, [0.8])
    >>> bool(reward.reward(items_a)[0] > reward.reward(items_b)[0])
    True
    >>> reward.device_, reward.precision_
    ('cpu', 'fp32')
    >>> tmp.cleanup()
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "trainable": [StrOptions(set(TRAINABLE))],
        "n_trainable_layers": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"mean", "cls", "last"})],
        "head": [StrOptions(set(HEADS))],
        "head_hidden_size": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "encode_batch_size": [Interval(Integral, 1, None, closed="left")],
        "gradient_accumulation_steps": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "warmup_ratio": [Interval(Real, 0, 1, closed="both")],
        "max_epochs": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "precision": [StrOptions(set(PRECISIONS))],
        "device": "no_validation",  # a str or torch.device, checked in fit
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        trainable: Literal["head", "last-n", "all"] = "head",
        n_trainable_layers: int = 2,
        pooling: Literal["mean", "cls", "last"] = "mean",
        head: Literal["linear", "mlp"] = "linear",
        head_hidden_size: int = 256,
        max_length: int | None = 256,
        batch_size: int | Literal["auto"] = "auto",
        encode_batch_size: int = 64,
        gradient_accumulation_steps: int = 1,
        learning_rate: float | Literal["auto"] = "auto",
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        max_epochs: int | Literal["auto"] = "auto",
        precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto",
        device: str | torch.device = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.model = model
        self.trainable = trainable
        self.n_trainable_layers = n_trainable_layers
        self.pooling = pooling
        self.head = head
        self.head_hidden_size = head_hidden_size
        self.max_length = max_length
        self.batch_size = batch_size
        self.encode_batch_size = encode_batch_size
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_epochs = max_epochs
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __reward_tags__(self) -> RewardTags:
        tags = super().__reward_tags__()
        tags.text_items = True
        return tags

    # ------------------------------------------------------------------ cache
    @staticmethod
    def clear_cache() -> None:
        """Drop every cached feature (pooled vectors, token states, token ids).

        Shared backbones are released by
        :func:`pcr_sklearn.text._hf.clear_model_cache` once no fitted member
        refers to them.
        """
        clear_caches()

    @staticmethod
    def set_cache_limit(max_bytes: int) -> int:
        """Set the feature-cache size in bytes (evicting if needed); return the old.

        The default is 2 GiB, or ``PCR_SKLEARN_TRANSFORMER_CACHE_BYTES`` if that
        environment variable is set when the cache is first used (it is not
        read at import). A pooled vector costs ``4 * hidden_size`` bytes per
        text; cached ``"last-n"`` states cost ``n_tokens * hidden_size`` values
        per text.

        Parameters
        ----------
        max_bytes : int
            The new limit; least recently used entries are evicted to fit.

        Returns
        -------
        old : int
            The previous limit in bytes.
        """
        return feature_cache().resize(int(max_bytes))

    @staticmethod
    def cache_info() -> dict[str, int]:
        """Entries, bytes, limit, hits and misses of the feature cache.

        Returns
        -------
        info : dict
            ``n_entries``, ``nbytes``, ``max_bytes``, ``hits`` and
            ``misses`` of the process-wide feature cache.
        """
        return feature_cache_info()

    # ---------------------------------------------------------------- helpers
    def _member_spec(self):
        return MemberSpec(
            trainable=self.trainable,
            pooling=self.pooling,
            head=self.head,
            head_hidden_size=self.head_hidden_size,
            n_trainable_layers=self.n_trainable_layers,
        )

    def _encoding(self):
        """How the frozen backbone encodes texts (read at call time)."""
        return {
            "pooling": self.pooling,
            "batch_size": self.encode_batch_size,
            "progress": self.verbose >= 2,
        }

    def _make_runtime(self, torch, device, precision):
        return make_runtime(torch, self.model, device, precision, self.max_length)

    def _oom_error(self, torch, exc, stage):
        if self._runtime_device_type() == "cuda":
            torch.cuda.empty_cache()
        batch = getattr(self, "batch_size_", self.batch_size)
        steps = self.gradient_accumulation_steps
        half = max(1, batch // 2) if isinstance(batch, int) else 8
        return type(exc)(
            f"CUDA ran out of memory while {stage} (batch_size={batch}, "
            f"gradient_accumulation_steps={steps}, encode_batch_size="
            f"{self.encode_batch_size}, max_length={self.max_length}, "
            f"trainable={self.trainable!r}). Use a smaller batch_size (e.g. "
            f"batch_size={half} with gradient_accumulation_steps={steps * 2} keeps "
            "the effective batch) or a smaller encode_batch_size, a smaller "
            "max_length, trainable='head' or 'last-n', or precision='bf16'. "
            f"Original error: {exc}"
        )

    def _runtime_device_type(self):
        runtime = getattr(self, "_rt", None)
        return runtime.device.type if runtime is not None else "cpu"

    @contextlib.contextmanager
    def _oom_guard(self, torch, stage):
        oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
        try:
            yield
        except oom as exc:
            raise self._oom_error(torch, exc, stage) from exc

    def _split(self):
        """Index of the first trained layer (``"last-n"``)."""
        return self.n_layers_ - self.n_trainable_layers

    def _rewards_of(self, torch, rt, module):
        """``(batch_tokens, *, states=None, x=None) -> rewards`` of this member."""
        return functools.partial(text_rewards, torch, rt, module, self._member_spec())

    def _states_provider(self, torch, rt, texts, digests, tokens):
        """``"last-n"``: per-batch access to the states entering the top layers."""
        return split_states_provider(
            torch,
            rt,
            texts,
            digests,
            tokens,
            split=self._split(),
            hidden_size=self.hidden_size_,
            **self._encoding(),
        )

    # ------------------------------------------------------------------- fit
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
        """Train the reward on ``n`` comparisons of text items.

        Parameters
        ----------
        items_a, items_b : array-like of shape (n, 2)
            ``(prompt, response)`` items of each comparison.
        target : array-like of shape (n,)
            Soft preference for A in [0, 1] (``loss="log"``) or a residual in
            [-1, 1] (``loss="squared"``).
        sample_weight : array-like of shape (n,), default=None
            Non-negative comparison weights.
        loss : {"log", "squared"}, default="log"
            Objective; see :mod:`pcr_sklearn.rewards._base`.

        Returns
        -------
        self : TransformerReward
            The fitted reward.
        """
        target, sample_weight = self._check_fit_inputs(
            items_a, items_b, target, sample_weight, loss
        )
        items_a = _check_text_items(items_a, "items_a")
        items_b = _check_text_items(items_b, "items_b")
        # Zero-weight comparisons are dropped before anything (the batches and
        # the texts the head standardises over included), so weight 0 is
        # exactly the same as leaving the row out.
        keep = np.flatnonzero(sample_weight > 0)
        if 0 < keep.size < len(target):
            items_a = [items_a[i] for i in keep]
            items_b = [items_b[i] for i in keep]
            target, sample_weight = target[keep], sample_weight[keep]
        torch = import_torch()
        rt = self._fit_runtime(torch)
        self._resolve_training_parameters(len(target))
        self._remember_backbone(torch, rt)
        texts, digests, (index_a, index_b) = unique_texts(items_a, items_b)
        tokens = cached_tokens(rt, texts, digests)
        seed = seed_from_random_state(self.random_state)
        with self._oom_guard(torch, "fitting TransformerReward"):
            features, states = self._frozen_inputs(torch, rt, texts, digests, tokens)
            data = TrainingData(
                index_a,
                index_b,
                target,
                sample_weight,
                features=features,
                tokens=tokens,
                states=states,
            )
            with torch_random_context(seed, rt.device) as generator:
                module = self._new_module(torch, rt, features)
                self._train(torch, rt, module, data, loss, generator)
        if self.trainable == "all":
            # k fine-tuned copies would not fit on one GPU: park them on the CPU.
            module.to("cpu")
        return self

    def _fit_runtime(self, torch):
        """Load the backbone for ``fit`` and check it can be trained as asked."""
        device = resolve_device(self.device)
        precision = choose_precision(
            torch, self.precision, device, self.model, strict=True
        )
        rt = self._make_runtime(torch, device, precision)
        if self.trainable == "last-n":
            _, layers = find_layer_list(torch, rt.backbone)
            if self.n_trainable_layers > len(layers):
                raise ValueError(
                    f"n_trainable_layers={self.n_trainable_layers} but the backbone "
                    f"has only {len(layers)} layers."
                )
        self.n_layers_ = int(getattr(rt.backbone.config, "num_hidden_layers", 0))
        self.hidden_size_ = int(rt.backbone.config.hidden_size)
        self.device_ = str(device)
        self.precision_ = precision
        return rt

    def _resolve_training_parameters(self, n_comparisons):
        """Set ``learning_rate_``, ``batch_size_`` and ``max_epochs_`` ("auto")."""
        self.learning_rate_, self.batch_size_, self.max_epochs_ = resolve_auto(
            self.trainable,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            n_comparisons=n_comparisons,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
        )

    def _remember_backbone(self, torch, rt):
        """Keep ``rt`` and what identifies its backbone (checked on reload)."""
        self.backbone_fingerprint_ = config_fingerprint(rt.backbone)
        self.backbone_probe_ = weights_probe(torch, rt.backbone)
        self._rt = rt
        self.__dict__.pop("_module_state", None)  # from an earlier unpickling

    def _frozen_inputs(self, torch, rt, texts, digests, tokens):
        """What the frozen backbone gives training: ``(features, states)``.

        ``"head"``: the pooled vectors of the unique texts, on the device;
        ``"last-n"``: access to the states entering the trained layers;
        ``"all"``: neither (the whole backbone is trained).
        """
        features = states = None
        if self.trainable == "head":
            features = torch.stack(
                cached_pass(torch, rt, texts, digests, tokens, **self._encoding())
            ).to(rt.device)
        elif self.trainable == "last-n":
            states = self._states_provider(torch, rt, texts, digests, tokens)
        return features, states

    def _new_module(self, torch, rt, features):
        """A freshly initialised trainable module, wired to the shared backbone."""
        spec = self._member_spec()
        module = build_module(torch, rt, spec, self.hidden_size_, features)
        attach(torch, rt, spec, module)
        self._module = module
        return module

    def _train(self, torch, rt, module, data, loss, generator):
        """Run the training loop; record ``n_iter_`` and ``loss_curve_``."""
        self.n_iter_ = 0
        self.loss_curve_ = []
        config = TrainingConfig(
            trainable=self.trainable,
            batch_size=self.batch_size_,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            learning_rate=self.learning_rate_,
            weight_decay=self.weight_decay,
            warmup_ratio=self.warmup_ratio,
            max_epochs=self.max_epochs_,
            loss=loss,
            device=rt.device,
            precision=rt.precision,
            verbose=self.verbose,
        )
        train(
            torch,
            module,
            self._rewards_of(torch, rt, module),
            data,
            config,
            generator=generator,
            on_epoch_end=self._record_epoch,
        )

    def _record_epoch(self, epoch, mean_loss):
        self.n_iter_ = epoch + 1
        self.loss_curve_.append(mean_loss)

    # ---------------------------------------------------------------- reward
    # Pickling and the reload of a fitted reward: ._persistence.ReloadableReward.
    @property
    def module_(self) -> torch.nn.Module:
        """The trained weights as a ``torch.nn.Module`` (rebuilt after unpickling)."""
        check_is_fitted(self, "hidden_size_")
        return self._ensure_runtime()[2]

    def reward(self, items: ArrayLike) -> NDArray[np.float64]:
        """Reward of each ``(prompt, response)`` item.

        Parameters
        ----------
        items : array-like of shape (n_items, 2)
            ``(prompt, response)`` rows; an empty prompt encodes the response
            alone.

        Returns
        -------
        rewards : ndarray of shape (n_items,), dtype float64
            The head's output for each item, on the CPU.
        """
        check_is_fitted(self, "hidden_size_")
        items = _check_text_items(items, "items")
        if not items:
            return np.zeros(0, dtype=np.float64)
        torch, rt, module = self._ensure_runtime()
        texts, digests, (inverse,) = unique_texts(items)
        tokens = cached_tokens(rt, texts, digests)
        with self._oom_guard(torch, "computing rewards"), torch.no_grad():
            if self.trainable == "head":
                out = self._head_rewards(torch, rt, module, texts, digests, tokens)
            else:
                out = self._token_rewards(torch, rt, module, texts, digests, tokens)
        return out[inverse]

    def item_features(self, items: ArrayLike) -> NDArray[np.float64]:
        """Pooled vectors of the frozen backbone for each ``(prompt, response)``.

        Optional protocol extension (see :mod:`pcr_sklearn.rewards._base`): a
        fixed numeric description of each item that training does not change.
        The ensemble draws the smooth taste functions of population members
        (``members="population"``) on it. Read from the feature cache, so
        after a fit with ``trainable="head"`` it costs no backbone pass.

        Parameters
        ----------
        items : array-like of shape (n_items, 2)
            ``(prompt, response)`` rows.

        Returns
        -------
        features : ndarray of shape (n_items, `hidden_size_`), dtype float64
            The pooled final hidden states of each item.
        """
        check_is_fitted(self, "hidden_size_")
        items = _check_text_items(items, "items")
        if not items:
            return np.zeros((0, self.hidden_size_), dtype=np.float64)
        torch, rt, _ = self._ensure_runtime()
        texts, digests, (inverse,) = unique_texts(items)
        tokens = cached_tokens(rt, texts, digests)
        with self._oom_guard(torch, "computing item features"), torch.no_grad():
            vectors = cached_pass(torch, rt, texts, digests, tokens, **self._encoding())
        return to_numpy(torch.stack(vectors))[inverse]

    def _head_rewards(self, torch, rt, module, texts, digests, tokens):
        """``"head"``: rewards of the unique texts from their cached vectors."""
        out = np.empty(len(texts), dtype=np.float64)
        rewards = self._rewards_of(torch, rt, module)
        features = cached_pass(torch, rt, texts, digests, tokens, **self._encoding())
        features = torch.stack(features).to(rt.device)
        for start in range(0, len(texts), _HEAD_REWARD_CHUNK):
            chunk = features[start : start + _HEAD_REWARD_CHUNK]
            values = rewards(None, x=chunk)
            out[start : start + _HEAD_REWARD_CHUNK] = to_numpy(values)
        return out

    def _token_rewards(self, torch, rt, module, texts, digests, tokens):
        """Fine-tuning modes: rewards of the unique texts, batch by batch."""
        out = np.empty(len(texts), dtype=np.float64)
        rewards = self._rewards_of(torch, rt, module)
        states = None
        if self.trainable == "last-n":
            states = self._states_provider(torch, rt, texts, digests, tokens)
        else:
            module.to(rt.device)
        try:
            for idx in length_batches(tokens, self.encode_batch_size):
                values = rewards(
                    [tokens[i] for i in idx],
                    states=None if states is None else states(list(idx)),
                )
                out[idx] = to_numpy(values)
        finally:
            if self.trainable == "all":
                module.to("cpu")
        return out
