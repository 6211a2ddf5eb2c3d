"""The reward-learner protocol: what the ensemble asks of a member.

A *reward learner* maps one item (a response to a prompt, described by a feature
vector or by its text) to a real number. The ensemble never looks inside a reward
learner; it uses only what this module documents, so any scikit-learn estimator
that implements it can be a member. Run
:func:`pcr_sklearn.utils.estimator_checks.check_reward_learner` on a learner to
check that it does.

Required
--------
``fit(items_a, items_b, target, sample_weight=None, *, loss="log")``
    Train on ``n`` comparisons. ``items_a[i]`` and ``items_b[i]`` are the two
    items of comparison ``i``; the model's pairwise probability is
    ``sigmoid(r(items_a[i]) - r(items_b[i]))``. ``loss`` selects the objective:

    * ``"log"``: weighted cross-entropy against a soft target in ``[0, 1]``
      (a soft-label Bradley-Terry model; the ensemble's ``"weighted"`` stage
      objective passes hard 0/1 targets with weights ``|residual|``);
    * ``"squared"``: weighted squared error ``(target - sigmoid(.))**2`` against a
      target in ``[-1, 1]`` (the paper's ``"residual"`` stage objective, where the
      target is a calibration residual that may be negative).

    Losses are weighted means (divided by the sum of ``sample_weight``), so a
    penalty strength means the same thing whatever the number or scale of the
    weights, and a comparison with weight 0 is the same as no comparison.
    Targets outside the loss's range raise a ``ValueError`` naming the row.
    Returns ``self``.

``reward(items)``
    Per-item rewards, a float64 NumPy array of shape ``(n_items,)``, whatever
    device the learner trained on.

scikit-learn estimator
    ``get_params`` / ``set_params`` / ``clone`` work (subclass
    :class:`~sklearn.base.BaseEstimator`); a stochastic learner takes a
    ``random_state`` parameter, through which the ensemble seeds each member
    (the convention of scikit-learn's own ensembles).

Declared (:class:`RewardTags`, read with :func:`get_reward_tags`)
-----------------------------------------------------------------
``text_items``
    ``False``: items are rows of a float array ``(n, d)``. ``True``: items are
    rows of an object array ``(n, 2)`` holding ``(prompt, response)`` strings.
``warm_start``
    The learner has a ``warm_start`` parameter; with it set, ``fit`` starts
    from the fitted solution. The ensemble then re-fits a member during
    backfitting from a copy of its previous fit instead of from scratch.
``losses``
    The losses ``fit`` supports (default both); a learner that can only do
    ``"log"`` still serves every objective except the paper's ``"residual"``.
``penalty``
    The name of the parameter that sets the strength of the learner's
    regularisation penalty (a non-negative float; e.g. ``"alpha"``), or
    ``None`` (the default). Hard-vote members only need the sign of
    ``r(A) - r(B)``, so when a learner declares it, together with
    ``warm_start`` and the ``"squared"`` loss, the ensemble's backfitting
    re-fits members *sharpened*: warm-started from their fit, with
    ``loss="squared"`` on the 0/1 classification target (a sigmoid loss,
    which unlike the log loss does not let pairs far from the boundary pull
    it) and the penalty divided by 1000 (:func:`seeded_clone`), then gives
    the parameter its value back (:func:`restore_warm_start`), so members
    keep the prototype's parameters. Regularised fits find the groups;
    sharpened re-fits put each member's boundary where its group's is (see
    ``benchmarks/results/recovery.md``).

Optional
--------
``batch_rewards(members, items)`` (classmethod)
    Rewards of several fitted learners of this class at once, shape
    ``(n_items, n_members)``, equal to stacking their ``reward(items)``. The
    ensemble uses it to read the items once for all members.

``prepare_pairs(items_a, items_b)`` and ``fit_prepared(prepared, target, \
sample_weight=None, *, loss="log")``
    Prepared pairs: fitting many times on the same comparisons without
    repeating the work that depends on the items alone. The stage loop fits
    dozens of members (and re-fits them while backfitting) on the same
    training pairs with different targets and weights; when the learner has
    both methods, it calls ``prepare_pairs`` once per ensemble fit, on the
    prototype, and then ``fit_prepared`` for every member fit instead of
    ``fit``. ``prepare_pairs`` validates the items and returns any object
    (e.g. :class:`~pcr_sklearn.rewards.LinearReward`'s cached differences);
    ``fit_prepared`` on this learner or on any clone of it (a fresh seed or
    a warm-started copy included) must give the same model as
    ``fit(items_a, items_b, target, sample_weight, loss=loss)``, validate
    ``target`` and ``sample_weight`` as ``fit`` does, and never modify the
    prepared object, which serves all the fits. Learners without the pair of
    methods are fitted with ``fit``, and so are subclasses that override
    ``fit`` but not ``fit_prepared`` (:func:`uses_prepared_pairs`);
    ``check_reward_learner`` checks the equality (``[fit_prepared]``).

Subclass :class:`BaseReward` to get the tags machinery and the validation of
``fit``'s arguments for free.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils import get_tags

from ..utils.validation import _first_non_number, check_pair_weights, plain

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

LOSSES = ("log", "squared")


@dataclass
class RewardTags:
    """What a reward learner declares to the ensemble (see the protocol).

    Parameters
    ----------
    text_items : bool, default=False
        Items are ``(prompt, response)`` text rows instead of feature rows.
    warm_start : bool, default=False
        The learner has a ``warm_start`` parameter that makes ``fit`` start
        from the fitted solution.
    losses : tuple of str, default=("log", "squared")
        The protocol losses ``fit`` supports. The ensemble's paper objective
        (``objective="residual"``) needs ``"squared"``; every other objective
        and the baselines need ``"log"``.
    penalty : str or None, default=None
        Name of the non-negative parameter that sets the strength of the
        regularisation penalty; the ensemble weakens it for sharpened
        backfitting re-fits (see the protocol).

    See Also
    --------
    get_reward_tags : Read a learner's tags.
    BaseReward : Declares them with ``__reward_tags__``.

    Examples
    --------
    A learner that can only fit the log-loss says so:

    >>> from pcr_sklearn.rewards import BaseReward, RewardTags
    >>> class LogOnly(BaseReward):
    ...     def __reward_tags__(self):
    ...         tags = super().__reward_tags__()
    ...         tags.losses = ("log",)
    ...         return tags
    >>> LogOnly().__reward_tags__().losses
    ('log',)
    >>> RewardTags().text_items
    False
    """

    text_items: bool = False
    warm_start: bool = False
    losses: tuple = LOSSES
    penalty: str | None = None


def get_reward_tags(learner: BaseEstimator) -> RewardTags:
    """The :class:`RewardTags` of a reward learner.

    Learners that subclass :class:`BaseReward` declare them with
    ``__reward_tags__``; for any other estimator, ``text_items`` follows
    scikit-learn's ``input_tags.string`` and ``warm_start`` is False.

    Parameters
    ----------
    learner : reward learner instance
        Fitted or not; only its class and parameters are read.

    Returns
    -------
    tags : RewardTags
        The declared tags, or the defaults read from scikit-learn's tags.

    Examples
    --------
    >>> from pcr_sklearn.rewards import LinearReward, get_reward_tags
    >>> get_reward_tags(LinearReward())
    RewardTags(text_items=False, warm_start=True, losses=('log', 'squared'), \
penalty='alpha')
    """
    declared = getattr(learner, "__reward_tags__", None)
    if declared is not None:
        return declared()
    try:
        text = bool(get_tags(learner).input_tags.string)
    except (AttributeError, TypeError):
        text = False
    return RewardTags(text_items=text)


def uses_prepared_pairs(learner):
    """Whether the ensemble fits ``learner``'s clones with ``fit_prepared``.

    True when the learner has both methods of the optional prepared-pairs
    extension (module docstring), unless its class overrides ``fit`` below
    the class that defines ``fit_prepared``: a subclass that changes ``fit``
    alone (say, to transform the targets) must not be bypassed by an
    inherited ``fit_prepared`` that knows nothing of the change.

    Parameters
    ----------
    learner : reward learner

    Returns
    -------
    uses : bool
    """
    if not (
        callable(getattr(learner, "prepare_pairs", None))
        and callable(getattr(learner, "fit_prepared", None))
    ):
        return False
    fit_owner = _defining_class(type(learner), "fit")
    hook_owner = _defining_class(type(learner), "fit_prepared")
    return fit_owner is None or hook_owner is None or issubclass(hook_owner, fit_owner)


def _defining_class(cls, name):
    return next((klass for klass in cls.__mro__ if name in vars(klass)), None)


def prepare_pairs(learner, items_a, items_b):
    """``learner.prepare_pairs(items_a, items_b)``, or None without the hook.

    Parameters
    ----------
    learner : reward learner
        The prototype the fitted members are cloned from.
    items_a, items_b : array-like
        Training items.

    Returns
    -------
    prepared : object or None
        For :func:`fit_member`; None unless :func:`uses_prepared_pairs`.
    """
    if uses_prepared_pairs(learner):
        return learner.prepare_pairs(items_a, items_b)
    return None


def fit_member(member, items_a, items_b, target, sample_weight, loss, prepared):
    """Fit ``member`` with ``fit_prepared`` when ``prepared`` exists, else ``fit``.

    Parameters
    ----------
    member : reward learner
        A clone of the learner ``prepared`` came from.
    items_a, items_b : array-like
        Training items (used by ``fit``).
    target, sample_weight : ndarray of shape (n_pairs,)
    loss : {"log", "squared"}
    prepared : object or None
        From :func:`prepare_pairs` on the same items.

    Returns
    -------
    member : reward learner
        Fitted.
    """
    if prepared is not None:
        return member.fit_prepared(prepared, target, sample_weight, loss=loss)
    return member.fit(items_a, items_b, target, sample_weight, loss=loss)


def member_rewards(members: Sequence[Any], items: ArrayLike) -> NDArray[np.float64]:
    """Compute the rewards of fitted members on ``items``, one column each.

    Members of a class with a ``batch_rewards`` classmethod are evaluated
    together, so the items are read once per class, not once per member;
    when one such class holds every member, its result is returned as is,
    without copying it column by column into a new array.

    Parameters
    ----------
    members : list of fitted reward learners
        Members of any classes; those of one class with ``batch_rewards``
        are evaluated together.
    items : array-like
        Items in the members' layout.

    Returns
    -------
    rewards : ndarray of shape (n_items, n_members), float64
        Column ``j`` is ``members[j].reward(items)``.

    See Also
    --------
    pcr_sklearn.PairwiseCalibratedEnsemble.rewards : The same for an ensemble.

    Examples
    --------
    >>> import numpy as np
    >>> from pcr_sklearn.rewards import LinearReward, member_rewards
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2, 100, 2))
    >>> members = [
    ...     LinearReward().fit(a, b, (a[:, j] > b[:, j]).astype(float))
    ...     for j in range(2)
    ... ]
    >>> member_rewards(members, a).shape
    (100, 2)
    """
    by_class = {}
    for j, member in enumerate(members):
        by_class.setdefault(type(member), []).append(j)
    if len(by_class) == 1:
        batch = _batch_rewards(type(members[0]))
        if batch is not None:
            # Row-major like the scattered result: BLAS products of the votes
            # downstream round the same way whichever path made them.
            rewards = batch(list(members), items)
            return np.ascontiguousarray(rewards, dtype=np.float64)
    out = np.empty((len(items), len(members)))
    for cls, columns in by_class.items():
        batch = _batch_rewards(cls)
        if batch is not None:
            out[:, columns] = batch([members[j] for j in columns], items)
        else:
            for j in columns:
                out[:, j] = members[j].reward(items)
    return out


def _batch_rewards(cls):
    """``cls.batch_rewards``, unless ``cls`` overrides the ``reward`` it batches.

    A subclass that changes ``reward`` but inherits ``batch_rewards`` would be
    scored by its parent's formula; its own ``reward`` wins.
    """
    batch = getattr(cls, "batch_rewards", None)
    if batch is None:
        return None
    owner = next(c for c in cls.__mro__ if "batch_rewards" in vars(c))
    return batch if cls.reward is owner.reward else None


class BaseReward(BaseEstimator):
    """Base class for reward learners (see :mod:`pcr_sklearn.rewards._base`).

    Subclasses implement ``fit(items_a, items_b, target, sample_weight=None, *,
    loss="log")`` and ``reward(items)``, and declare their
    :class:`RewardTags` by overriding :meth:`__reward_tags__` (call
    ``super().__reward_tags__()`` first, then set fields).
    :meth:`_check_fit_inputs` validates the arguments of ``fit`` with error
    messages that name the argument and the row.

    See Also
    --------
    pcr_sklearn.utils.estimator_checks.check_reward_learner : Check a learner.

    Examples
    --------
    A reward that is a fixed linear function of the features, fitted by
    least squares on the pair differences (a toy; see the gallery example
    "Plugging in your own reward learner" for a real one):

    >>> import numpy as np
    >>> from pcr_sklearn.rewards import BaseReward
    >>> class LeastSquaresReward(BaseReward):
    ...     def fit(self, items_a, items_b, target, sample_weight=None, *, loss="log"):
    ...         target, sample_weight = self._check_fit_inputs(
    ...             items_a, items_b, target, sample_weight, loss)
    ...         diff = np.asarray(items_a, float) - np.asarray(items_b, float)
    ...         w = np.sqrt(sample_weight)[:, None]
    ...         self.coef_ = np.linalg.lstsq(diff * w, (target - 0.5) * w[:, 0])[0]
    ...         return self
    ...     def reward(self, items):
    ...         return np.asarray(items, dtype=np.float64) @ self.coef_
    >>> a, b = np.random.default_rng(0).normal(size=(2, 50, 2))
    >>> r = LeastSquaresReward().fit(a, b, (a[:, 0] > b[:, 0]).astype(float))
    >>> r.reward(a).shape
    (50,)
    """

    def __reward_tags__(self) -> RewardTags:
        """This learner's :class:`RewardTags`."""
        return RewardTags()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = self.__reward_tags__().text_items
        return tags

    def _check_fit_inputs(self, items_a, items_b, target, sample_weight, loss):
        """Validate the arguments of ``fit``; return ``target, sample_weight``.

        Items are validated by the subclass (numeric or text); here we check
        the lengths, the target range for the chosen loss and the weights.
        """
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
        n = len(items_a)
        if len(items_b) != n:
            raise ValueError(
                f"items_a and items_b must have the same length, got {n} and "
                f"{len(items_b)}."
            )
        try:
            target = np.asarray(target, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"target must hold numbers{_first_non_number(target)} ({exc})."
            ) from None
        if target.shape[0] != n:
            raise ValueError(
                f"target has {target.shape[0]} entries but there are {n} comparisons."
            )
        low = 0.0 if loss == "log" else -1.0
        bad = ~np.isfinite(target) | (target < low) | (target > 1.0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"target must lie in [{low:g}, 1] for loss={loss!r}; row {row} has "
                f"{plain(target[row])!r}."
            )
        sample_weight = check_pair_weights(sample_weight, n, "sample_weight")
        return target, sample_weight


def seeded_clone(learner, seed, previous=None, *, penalty_scale=1.0):
    """A fresh member: ``learner`` cloned with every ``random_state`` set to ``seed``.

    Given the ``previous`` fit of a member being re-fitted, and a learner that
    declares ``warm_start`` (:class:`RewardTags`), a copy of that fit is
    returned instead, with warm start switched on: the re-fit starts where
    the old solution was; for a learner that also declares ``penalty``, that
    parameter is multiplied by ``penalty_scale``. Call
    :func:`restore_warm_start` after fitting it.

    Parameters
    ----------
    learner : reward learner
        The prototype (unfitted).
    seed : int
        Seed for the ``random_state`` parameters (nested ones included).
    previous : fitted reward learner, default=None
        The member's previous fit, when re-fitting.
    penalty_scale : float, default=1.0
        Factor on the declared ``penalty`` parameter of a warm-started copy
        (a sharpened re-fit); ignored otherwise.

    Returns
    -------
    member : reward learner
        Unfitted (or a warm-startable copy of ``previous``), never ``learner``
        or ``previous`` itself.
    """
    tags = None if previous is None else get_reward_tags(previous)
    warm = tags is not None and tags.warm_start
    member = copy.deepcopy(previous) if warm else clone(learner)
    params = {
        key: seed
        for key in member.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    }
    if warm:
        params["warm_start"] = True
        if tags.penalty is not None and penalty_scale != 1.0:
            params[tags.penalty] = member.get_params()[tags.penalty] * penalty_scale
    if params:
        member.set_params(**params)
    return member


def restore_warm_start(member, previous):
    """Give a re-fitted member its ``warm_start`` and ``penalty`` back.

    The values of ``previous``, which :func:`seeded_clone` changed for the
    re-fit; the fitted state is kept.
    """
    tags = None if previous is None else get_reward_tags(previous)
    if tags is not None and tags.warm_start:
        names = ["warm_start"] + ([tags.penalty] if tags.penalty else [])
        previous_params = previous.get_params()
        member.set_params(**{name: previous_params[name] for name in names})
    return member
