"""Persistence of a fitted TransformerReward: what is pickled, how it reloads.

A fitted reward pickles its parameters and its trained weights (as NumPy
arrays), never the backbone; the backbone is reloaded from ``model`` on first
use, checked against what the reward was trained on, and the trained module is
rebuilt and wired to it. :class:`ReloadableReward` holds that logic for
:class:`~pcr_sklearn.rewards.TransformerReward`.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..._torch import import_torch, resolve_load_device
from .._mlp import state_dict_from_numpy, state_dict_to_numpy
from ._backbone import choose_precision, config_fingerprint, weights_probe
from ._member import attach, build_module


class ReloadableReward:
    """Mixin: pickling without the backbone, and the reload on first use.

    Expects the estimator's ``model``, ``precision``, ``trainable`` and the
    fitted ``device_``, ``precision_``, ``hidden_size_``,
    ``backbone_fingerprint_`` and ``backbone_probe_``, plus ``_member_spec``
    and ``_make_runtime``.
    """

    def _ensure_runtime(self):
        """Reload the backbone and rebuild the trained module when needed.

        Needed after unpickling, and after ``set_params(model=...)`` pointed a
        fitted reward at its backbone's new location.
        """
        torch = import_torch()
        rt = getattr(self, "_rt", None)
        module = getattr(self, "_module", None)
        if rt is not None and module is not None:
            if rt.model_ref == self.model:
                return torch, rt, module
            self._module_state = state_dict_to_numpy(module.state_dict())
            self._rt = self._module = None
        rt = self._reload_runtime(torch)
        spec = self._member_spec()
        module = build_module(torch, rt, spec, self.hidden_size_)
        module.load_state_dict(state_dict_from_numpy(self._module_state))
        module.requires_grad_(False)
        module.eval()
        attach(torch, rt, spec, module)
        if self.trainable == "all":
            module.to("cpu")
        # Only now: a failed reload must not lose the trained weights.
        del self._module_state
        self._rt, self._module = rt, module
        return torch, rt, module

    def _reload_runtime(self, torch):
        """Load the backbone of a fitted reward and check it is the same one."""
        device = resolve_load_device(self.device_, owner="TransformerReward")
        # Under "auto", the same kind of device keeps the fitted precision (the
        # same rewards); another kind resolves "auto" for itself.
        precision = choose_precision(
            torch,
            self.precision,
            device,
            self.model,
            strict=False,
            fitted=(self.device_, self.precision_),
        )
        try:
            rt = self._make_runtime(torch, device, precision)
        except (OSError, ValueError) as exc:
            raise OSError(
                f"Could not load the backbone model={self.model!r} of this fitted "
                "TransformerReward (the trained weights are intact). If the "
                "backbone moved, point to it with set_params(model=new_path)."
            ) from exc
        if config_fingerprint(rt.backbone) != self.backbone_fingerprint_:
            raise ValueError(
                f"The backbone at model={self.model!r} does not have the "
                "architecture this reward was trained on; point model= (set_params) "
                "to the original backbone."
            )
        probe = weights_probe(torch, rt.backbone)
        if not np.allclose(probe, self.backbone_probe_, rtol=1e-2, atol=1e-4):
            warnings.warn(
                f"The weights of the backbone at model={self.model!r} differ from "
                "those this reward was trained with; rewards will not match.",
                UserWarning,
                stacklevel=4,  # the caller of reward / module_
            )
        return rt

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_rt", None)
        module = state.pop("_module", None)
        if module is not None:
            # Only the trained weights, as NumPy arrays (CPU; skops can store
            # them, see pcr_sklearn.io); the backbone is reloaded from ``model``
            # when the reward is next used.
            state["_module_state"] = state_dict_to_numpy(module.state_dict())
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._rt = None
        self._module = None
