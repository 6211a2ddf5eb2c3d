"""A reward head on a transformer language model, frozen or fine-tuned.

Modules, one responsibility each:

* :mod:`._backbone`: the runtime, tokenisation and the token-id cache, padding
  and length batching, passes of the shared frozen backbone (pooled features,
  split-layer states) through the feature cache;
* :mod:`._surgery`: the layer list, shallow module copies, grafting trained
  layers onto the shared backbone, forward hooks;
* :mod:`._member`: the trainable module of a member (head plus owned layers)
  and its forward pass;
* :mod:`._training`: the optimisation loop (:class:`._training.TrainingConfig`);
* :mod:`._persistence`: pickling without the backbone, and the reload of a
  fitted reward (backbone checks, precision kept under ``"auto"``);
* :mod:`._estimator`: :class:`TransformerReward` (parameters, fit, rewards).

Tokenization, padding and token-length batching are shared with
``PairEmbedder`` (:mod:`pcr_sklearn.text._hf`); a backbone pass keeps its
results on the device and copies them to the host once per call.

Sharing and caching design
--------------------------
An ensemble holds ``k`` members that are separate ``clone``\\ s, so nothing can be
shared through the estimator objects themselves. Two process-level stores do it
instead:

* **Backbones** come from :func:`pcr_sklearn.text._hf.get_shared_model`, keyed by
  model identity (local path + file stamps, or hub name), device and dtype. Every
  member asks for the same key and gets the same frozen module: one copy in
  memory whatever ``k`` is. Each fitted member also keeps a reference, so the
  backbone lives as long as any member does.
* **Features** live in a byte-bounded LRU cache
  (:func:`._backbone.feature_cache`, a :class:`pcr_sklearn.utils._caches.LRUCache`,
  default 2 GiB, see :meth:`TransformerReward.set_cache_limit`), keyed by a
  namespace (model identity, device, dtype, max_length, pooling or split layer)
  and by a hash of each ``(prompt, response)`` text. ``trainable="head"`` caches
  one pooled vector per text, so every unique text goes through the backbone
  once for the whole ensemble (all stages, all members, and predictions on the
  same texts). ``trainable="last-n"`` caches the token states entering the first
  trained layer (unpadded, in the compute dtype); if they do not fit in the
  cache the lower layers are recomputed per batch instead, with a warning.

Members own only what they train: a head, plus a copy of the top
``n_trainable_layers`` layers (``"last-n"``) or of the whole backbone (``"all"``).
A ``"last-n"`` member runs a *shallow* copy of the backbone whose layer list holds
only its own layers; the frozen embeddings, norms and lower layers are the shared
objects, never copies.
"""

from ._estimator import TransformerReward

# Under its former private name, for the tests that inspect a backbone's layers.
from ._surgery import find_layer_list as _find_layer_list  # noqa: F401

__all__ = ["TransformerReward"]
