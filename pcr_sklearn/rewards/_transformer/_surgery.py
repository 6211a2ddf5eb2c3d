"""Backbone surgery: the layer list, shallow copies, grafts and forward hooks.

A ``"last-n"`` member trains its own copy of the top layers of a *shared*
frozen backbone. Rather than copying the backbone, it runs a shallow copy whose
layer list holds only its own layers (:func:`graft_layers`), fed with cached
states entering the first of them (:func:`attach_trained_layers`). Those states
are produced by a pass of the shared backbone that a hook stops at the split
layer (:func:`capture_layer_input`).
"""

from __future__ import annotations

import contextlib
import copy


class StopForward(Exception):
    """Raised by a hook to end a forward pass once the wanted states exist."""


def find_layer_list(torch, model):
    """``(dotted path, ModuleList)`` of the transformer blocks of ``model``.

    Works for the usual layouts (``encoder.layer`` in BERT/RoBERTa, ``layers`` in
    Llama/Qwen/Mistral, ``h`` in GPT-2, ``transformer.layer`` in DistilBERT): the
    one ModuleList of identical blocks whose length is ``num_hidden_layers``.
    """
    n_layers = getattr(model.config, "num_hidden_layers", None)
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.ModuleList)
        and len(module) > 0
        and len({type(m) for m in module}) == 1
        and (n_layers is None or len(module) == n_layers)
    ]
    if len(found) != 1:
        raise ValueError(
            f"Cannot locate the transformer layers of {type(model).__name__} "
            f"({len(found)} candidate layer lists); trainable='last-n' needs one. "
            "Use trainable='head' or trainable='all'."
        )
    return found[0]


def shallow_module_copy(module):
    """A new module object sharing parameters and children with ``module``.

    Its child, parameter, buffer and hook dictionaries are copies, so replacing
    a child (or adding a hook) does not touch the original.
    """
    new = copy.copy(module)
    for key, value in vars(module).items():
        if isinstance(value, dict):
            new.__dict__[key] = copy.copy(value)
    return new


def graft_layers(backbone, path, layers):
    """A shallow copy of ``backbone`` whose layer list at ``path`` is ``layers``.

    Only the modules on the path from the root to the layer list are copied
    (shallowly); everything else is the shared frozen backbone.
    """
    parts = path.split(".")
    root = shallow_module_copy(backbone)
    parent = root
    for part in parts[:-1]:
        child = shallow_module_copy(parent._modules[part])
        parent._modules[part] = child
        parent = child
    parent._modules[parts[-1]] = layers
    return root


def _replace_hidden(args, kwargs, hidden):
    """Forward arguments of a layer with its input states replaced by ``hidden``."""
    if args:
        return (hidden,) + tuple(args[1:]), kwargs
    kwargs = dict(kwargs)
    kwargs["hidden_states"] = hidden
    return args, kwargs


def attach_trained_layers(torch, runtime, module):
    """Graft ``module.layers`` onto the shared backbone of ``runtime``.

    Sets ``runtime.shell``, the grafted member model, and hooks its first
    trained layer to take its input from ``runtime.inject["hidden"]``.
    """
    path, _ = find_layer_list(torch, runtime.backbone)
    runtime.shell = graft_layers(runtime.backbone, path, module.layers)
    inject = runtime.inject

    def feed(layer, args, kwargs):
        # The cached states replace whatever the (frozen, cheap) embedding
        # lookup produced: the lower layers never run here.
        return _replace_hidden(args, kwargs, inject["hidden"])

    module.layers[0].register_forward_pre_hook(feed, with_kwargs=True)


@contextlib.contextmanager
def capture_layer_input(torch, backbone, index):
    """Within the block, forward passes of ``backbone`` stop at layer ``index``.

    Yields a dict: after each forward (which raises :class:`StopForward`), its
    ``"hidden"`` entry holds the states that entered layer ``index``. With
    ``index=None`` no hook is placed and the dict stays empty.
    """
    captured = {}
    if index is None:
        yield captured
        return
    _, layers = find_layer_list(torch, backbone)

    def capture(module, args, kwargs):
        captured["hidden"] = args[0] if args else kwargs["hidden_states"]
        raise StopForward

    handle = layers[index].register_forward_pre_hook(capture, with_kwargs=True)
    try:
        yield captured
    finally:
        handle.remove()
