"""Shared torch plumbing: lazy import, devices, seeding, CPU-safe persistence.

torch is an optional dependency (the ``torch`` extra). Nothing in this module
imports it at import time, so ``import pcr_sklearn`` works without torch; every
helper calls :func:`import_torch` first, which raises an ``ImportError`` that
says which extra to install.

The helpers follow what skorch learned the hard way: a ``device`` parameter that
is resolved at fit time (never in ``__init__``), outputs always converted to
NumPy, state dictionaries moved to the CPU before pickling, and CUDA-saved state
mapped to the CPU with a warning on machines without CUDA.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np
from sklearn.utils import check_random_state

TORCH_INSTALL_HINT = 'pip install "pcr-sklearn[torch]"'
#: CPU features with native bf16 dot products, best first. oneDNN (torch's CPU
#: matmul backend) runs bf16 matmuls on them 2-4x faster than fp32; without them
#: bf16 is emulated and slower than fp32.
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def import_torch():
    """Import and return the ``torch`` module, or explain how to install it.

    Returns
    -------
    torch : module
        The imported ``torch`` package.

    Raises
    ------
    ImportError
        If torch is not installed; the message names the extra to install.

    Examples
    --------
    >>> from pcr_sklearn._torch import import_torch
    >>> try:
    ...     torch = import_torch()
    ... except ImportError as exc:
    ...     assert "pcr-sklearn[torch]" in str(exc)
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised via sys.modules
        raise ImportError(
            "This feature needs PyTorch, an optional dependency of pcr_sklearn. "
            f"Install it with: {TORCH_INSTALL_HINT}"
        ) from exc
    return torch


def cuda_available():
    """Whether CUDA can be used now.

    Always goes through ``torch.cuda.is_available`` at call time so that tests
    can patch it (as skorch's tests do) to simulate a CPU-only machine.
    """
    torch = import_torch()
    return bool(torch.cuda.is_available())


def resolve_device(device="auto"):
    """Turn a ``device`` parameter into a validated ``torch.device``.

    Parameters
    ----------
    device : str or torch.device, default="auto"
        ``"auto"`` picks ``"cuda"`` when CUDA is available and ``"cpu"``
        otherwise. Any other string accepted by ``torch.device`` (``"cpu"``,
        ``"cuda"``, ``"cuda:1"``, ``"mps"``) or a ``torch.device`` is used as
        given, after checking that it exists on this machine.

    Returns
    -------
    device : torch.device

    Raises
    ------
    ValueError
        If the string is not a device name, or names a CUDA device that is not
        available (we fail loudly instead of silently training on the CPU).
    TypeError
        If ``device`` is neither a string nor a ``torch.device``.

    Examples
    --------
    >>> import pytest
    >>> _ = pytest.importorskip("torch")
    >>> from pcr_sklearn._torch import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    torch = import_torch()
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if cuda_available() else "cpu")
    if isinstance(device, str):
        try:
            resolved = torch.device(device)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(
                f"device must be 'auto', 'cpu', 'cuda', 'cuda:<index>' or a "
                f"torch.device, got {device!r}."
            ) from exc
    elif isinstance(device, torch.device):
        resolved = device
    else:
        raise TypeError(
            f"device must be a string or a torch.device, got {type(device).__name__}."
        )
    if resolved.type == "cuda":
        if not cuda_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on "
                "this machine; use device='auto' or device='cpu'."
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(
                f"device={device!r} was requested but only {count} CUDA "
                "device(s) are visible."
            )
    if resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r} is not available on this machine.")
    return resolved


def seed_from_random_state(random_state):
    """Draw a torch seed (a non-negative int below 2**31) from ``random_state``.

    ``None`` gives a fresh seed on every call (non-deterministic, as in
    scikit-learn); an int or a ``RandomState`` gives a reproducible one.
    """
    rng = check_random_state(random_state)
    return int(rng.randint(0, np.iinfo(np.int32).max))


def make_generator(seed, device="cpu"):
    """A ``torch.Generator`` on ``device`` seeded with ``seed``.

    Use it for shuffling and splitting so that those draws do not depend on (or
    disturb) torch's global random state.
    """
    torch = import_torch()
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


@contextlib.contextmanager
def torch_random_context(seed, device="cpu", *, deterministic=True):
    """Run a block with torch's global RNGs seeded and deterministic algorithms.

    Parameter initialisation and dropout draw from torch's *global* generators,
    which cannot be passed a ``torch.Generator``. We fork them (so the caller's
    global random state is left untouched), seed them with ``seed``, and restore
    everything on exit.

    ``deterministic=True`` turns on ``torch.use_deterministic_algorithms`` for
    the block, but only on the CPU: on CUDA it would raise unless the user set
    ``CUBLAS_WORKSPACE_CONFIG`` before start-up, which a library must not
    require. The previous setting is restored on exit. The flag is global
    (not thread-safe) and its first use imports ``torch._inductor`` (seconds);
    code whose CPU kernels are deterministic anyway (dense layers,
    elementwise ops, gathers) should pass ``deterministic=False``.

    Parameters
    ----------
    seed : int
        Seed for the global CPU generator (and the CUDA one when ``device`` is
        a CUDA device).
    device : str or torch.device, default="cpu"
        The device the block computes on.
    deterministic : bool, default=True
        Whether to enable deterministic algorithms on the CPU.

    Yields
    ------
    generator : torch.Generator
        A CPU generator seeded with ``seed`` for shuffling and splits.
    """
    torch = import_torch()
    device = torch.device(device)
    fork_devices = []
    if device.type == "cuda":
        fork_devices = [device.index if device.index is not None else 0]
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(int(seed))
        enable = deterministic and device.type == "cpu"
        if enable:
            # warn_only: an op without a deterministic CPU kernel should warn,
            # not crash a user's fit.
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield make_generator(seed, "cpu")
        finally:
            if enable:
                torch.use_deterministic_algorithms(
                    previous, warn_only=previous_warn_only
                )


def state_dict_to_cpu(state_dict):
    """Return a copy of ``state_dict`` whose tensors are detached CPU tensors.

    Non-tensor values (and nested dicts/lists, as in optimizer state) are
    handled recursively; tensors are moved, never changed otherwise.
    """
    torch = import_torch()

    def to_cpu(value):
        if isinstance(value, torch.Tensor):
            return value.detach().to("cpu")
        if isinstance(value, dict):
            return type(value)((k, to_cpu(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return type(value)(to_cpu(v) for v in value)
        return value

    return to_cpu(state_dict)


def resolve_load_device(saved_device, *, owner="model"):
    """The device to restore a pickled model on.

    Parameters
    ----------
    saved_device : str, torch.device or None
        The device the model used when it was saved.
    owner : str, default="model"
        Name used in the warning.

    Returns
    -------
    device : torch.device
        ``saved_device`` if it is usable here; the CPU (with a
        ``UserWarning``) when it is a CUDA device and CUDA is not available.
    """
    torch = import_torch()
    if saved_device is None:
        return torch.device("cpu")
    device = torch.device(saved_device)
    if device.type == "cuda" and not cuda_available():
        warnings.warn(
            f"{owner} was saved on {device} but CUDA is not available here; "
            "loading it on the CPU instead.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            warnings.warn(
                f"{owner} was saved on {device}, which does not exist here; "
                "loading it on cuda:0 instead.",
                UserWarning,
                stacklevel=3,
            )
            return torch.device("cuda", 0)
    return device


def load_state_dict(module, state_dict, device):
    """Load a (CPU) ``state_dict`` into ``module`` and move it to ``device``.

    Returns the module. The state is mapped through the CPU first, so state
    saved on any device loads anywhere.
    """
    module.load_state_dict(state_dict_to_cpu(state_dict))
    return module.to(device)


def to_numpy(tensor, dtype=np.float64):
    """Detach, move to the CPU and convert to a NumPy array of ``dtype``.

    bfloat16 has no NumPy equivalent, so tensors are upcast to float32 first.
    """
    torch = import_torch()
    tensor = tensor.detach()
    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.float()
    return tensor.to("cpu").numpy().astype(dtype, copy=False)


@functools.lru_cache(maxsize=1)
def _cpu_flags():
    """Feature flags of this machine's CPU, lower case (empty when unknown).

    Read from ``/proc/cpuinfo`` on Linux; elsewhere from torch's own CPU
    probe (a private helper, used only when present). Cached: the CPU does
    not change while the process runs.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].lower().split())
    except OSError:
        pass
    torch = import_torch()
    probe = getattr(getattr(torch._C, "_cpu", None), "_get_cpu_capability", None)
    if probe is None:
        return frozenset()
    try:
        capability = probe()
    except Exception:  # noqa: BLE001 - a probe failure means "unknown"
        return frozenset()
    return frozenset(k.lower() for k, v in capability.items() if v is True)


def cpu_bf16_support():
    """The CPU feature that makes bf16 fast here, or ``None``.

    Returns ``"amx_bf16"`` (Intel Sapphire Rapids and later) or
    ``"avx512_bf16"`` (Intel Cooper Lake, AMD Zen 4 and later) when the CPU
    has it and torch was built with oneDNN, whose bf16 matmuls use it;
    ``None`` otherwise (bf16 would be emulated, slower than fp32).

    Returns
    -------
    feature : str or None

    Examples
    --------
    >>> from pcr_sklearn._torch import CPU_BF16_FLAGS, cpu_bf16_support
    >>> try:
    ...     feature = cpu_bf16_support()
    ... except ImportError:  # no torch
    ...     feature = None
    >>> feature is None or feature in CPU_BF16_FLAGS
    True
    """
    torch = import_torch()
    mkldnn = getattr(torch.backends, "mkldnn", None)
    if mkldnn is None or not mkldnn.is_available():
        return None
    flags = _cpu_flags()
    return next((flag for flag in CPU_BF16_FLAGS if flag in flags), None)
