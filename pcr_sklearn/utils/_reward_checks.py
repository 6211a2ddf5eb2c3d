"""The conformance suite of the reward-learner protocol.

:func:`check_reward_learner` is to a reward learner what scikit-learn's
``check_estimator`` is to an estimator: it fits the learner on small synthetic
comparisons and checks every promise of the protocol documented in
:mod:`pcr_sklearn.rewards._base`. Each check raises an ``AssertionError`` whose
message starts with the property that broke.
"""

from __future__ import annotations

import numbers
import pickle
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import clone

from ..rewards._base import LOSSES, get_reward_tags, uses_prepared_pairs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from numpy.typing import NDArray
    from sklearn.base import BaseEstimator

_WORDS = (
    "tea coffee water juice is good bad healthy cheap costly sweet bitter "
    "because studies show people like taste price morning evening"
).split()


class RewardLearnerCheckError(AssertionError):
    """A property of the reward-learner protocol does not hold.

    Raised by :func:`check_reward_learner`; the message starts with the
    property in brackets (``[antisymmetry]``, ``[sample_weight zero]``, ...).
    An ``AssertionError``, so that test runners report it as a failure.

    See Also
    --------
    check_reward_learner : Raises it.

    Examples
    --------
    A learner whose rewards are float32 breaks the protocol:

    >>> import numpy as np
    >>> from pcr_sklearn.rewards import LinearReward
    >>> from pcr_sklearn.utils.estimator_checks import (
    ...     RewardLearnerCheckError, check_reward_learner)
    >>> class Float32Reward(LinearReward):
    ...     def reward(self, items):
    ...         return super().reward(items).astype(np.float32)
    >>> try:
    ...     check_reward_learner(Float32Reward())
    ... except RewardLearnerCheckError as exc:
    ...     print(exc)
    [reward dtype] reward returned dtype float32.
    """


def make_comparisons(
    learner: BaseEstimator, n_pairs: int = 40, *, random_state: int = 0
) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.float64], NDArray[np.float64]]:
    """Items, soft targets and weights in the learner's item layout.

    Numeric learners get 4 standard-normal features per item; text learners
    get ``(prompt, response)`` rows built from a small vocabulary. Targets
    follow a fixed linear reward of the numeric features (or of the word
    counts), so there is something to learn.

    Parameters
    ----------
    learner : reward learner
        Decides the layout through :func:`~pcr_sklearn.rewards.get_reward_tags`.
    n_pairs : int, default=40
        Number of comparisons.
    random_state : int, default=0
        Seed of the features, the targets' noise-free reward and the weights.

    Returns
    -------
    items_a, items_b : ndarray
        The two items of each comparison: float rows ``(n_pairs, 4)``, or
        ``(prompt, response)`` object rows ``(n_pairs, 2)`` for text learners.
    target : ndarray of shape (n_pairs,)
        Soft labels in [0, 1].
    sample_weight : ndarray of shape (n_pairs,)
        Positive weights.

    See Also
    --------
    check_reward_learner : Fits learners on these comparisons.

    Examples
    --------
    >>> from pcr_sklearn.rewards import LinearReward
    >>> from pcr_sklearn.utils.estimator_checks import make_comparisons
    >>> items_a, items_b, target, weight = make_comparisons(LinearReward(), 10)
    >>> items_a.shape, target.shape
    ((10, 4), (10,))
    """
    rng = np.random.RandomState(random_state)
    if get_reward_tags(learner).text_items:
        items_a, score_a = _text_items(rng, n_pairs)
        items_b, score_b = _text_items(rng, n_pairs)
    else:
        items_a, items_b = rng.normal(size=(2, n_pairs, 4))
        score_a, score_b = (
            items_a @ [1.0, -0.5, 0.2, 0.0],
            items_b @ [1.0, -0.5, 0.2, 0],
        )
    target = 1.0 / (1.0 + np.exp(-(score_a - score_b)))
    target = np.round(target * 5) / 5  # shares of 5 votes, ties included
    return items_a, items_b, target, rng.uniform(0.5, 2.0, size=n_pairs)


def _text_items(rng, n):
    prompts = [f"question {i % 3}" for i in range(n)]
    words = rng.choice(_WORDS, size=(n, 4))
    responses = [" ".join(row) for row in words]
    score = np.array([sum(w in ("good", "healthy", "cheap") for w in r) for r in words])
    items = np.empty((n, 2), dtype=object)
    items[:, 0], items[:, 1] = prompts, responses
    return items, score.astype(np.float64)


def _fit(learner, items_a, items_b, target, weight=None, loss="log", **params):
    member = clone(learner)
    if params:
        member.set_params(**params)
    return member.fit(items_a, items_b, target, weight, loss=loss)


def _seeded(learner):
    """Parameters that pin every random_state of the learner to 0."""
    return {
        key: 0
        for key in learner.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    }


def _probabilities(member, items_a, items_b):
    diff = member.reward(items_a) - member.reward(items_b)
    return 1.0 / (1.0 + np.exp(-diff))


def _fail(prop, message):
    raise RewardLearnerCheckError(f"[{prop}] {message}")


def _assert_close(prop, actual, expected, atol, what):
    gap = float(np.max(np.abs(np.asarray(actual) - np.asarray(expected)), initial=0))
    if not gap <= atol:
        _fail(prop, f"{what} differ by up to {gap:.3g} (allowed {atol:g}).")


# --------------------------------------------------------------------- checks


def check_clone_and_params(learner, data, atol):
    """``clone`` and ``get_params``/``set_params`` round-trip the parameters."""
    params = learner.get_params(deep=False)
    cloned = clone(learner)
    if sorted(cloned.get_params(deep=False)) != sorted(params):
        _fail("clone", "clone() changed the parameter names.")
    try:
        cloned.set_params(**params)
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        _fail("clone", f"set_params(**get_params()) raised {exc!r}.")


def check_reward_output(learner, data, atol):
    """``reward`` returns float64 of shape ``(n_items,)`` for any number of items."""
    items_a, items_b, target, weight = data
    member = _fit(learner, items_a, items_b, target, weight, **_seeded(learner))
    for n in (len(items_a), 1):
        rewards = member.reward(items_a[:n])
        if not isinstance(rewards, np.ndarray):
            _fail("reward dtype", f"reward returned {type(rewards).__name__}.")
        if rewards.dtype != np.float64:
            _fail("reward dtype", f"reward returned dtype {rewards.dtype}.")
        if rewards.shape != (n,):
            _fail("reward shape", f"reward of {n} items has shape {rewards.shape}.")
        if not np.isfinite(rewards).all():
            _fail("reward finite", "reward returned NaN or inf.")


def check_antisymmetric_probability(learner, data, atol):
    """A reward depends on its item alone, so ``P(A, B) = 1 - P(B, A)``."""
    items_a, items_b, target, weight = data
    member = _fit(learner, items_a, items_b, target, weight, **_seeded(learner))
    together = member.reward(np.concatenate([items_a, items_b]))
    n = len(items_a)
    _assert_close(
        "antisymmetry",
        together,
        np.concatenate([member.reward(items_a), member.reward(items_b)]),
        1e-9,
        "rewards scored together and apart",
    )
    reversed_order = member.reward(items_b[::-1])[::-1]
    _assert_close(
        "antisymmetry", reversed_order, together[n:], 1e-9, "rewards in another order"
    )
    forward = _probabilities(member, items_a, items_b)
    backward = _probabilities(member, items_b, items_a)
    _assert_close("antisymmetry", forward, 1.0 - backward, 1e-12, "P(A,B), 1-P(B,A)")


def check_sample_weight_zero_drops_row(learner, data, atol):
    """A comparison with weight 0 is the same as no comparison."""
    items_a, items_b, target, weight = data
    seeded = _seeded(learner)
    dropped = np.arange(len(target)) % 4 == 0
    zeroed = np.where(dropped, 0.0, weight)
    with_zeros = _fit(learner, items_a, items_b, target, zeroed, **seeded)
    keep = ~dropped
    without = _fit(
        learner, items_a[keep], items_b[keep], target[keep], weight[keep], **seeded
    )
    _assert_close(
        "sample_weight zero",
        _probabilities(with_zeros, items_a, items_b),
        _probabilities(without, items_a, items_b),
        atol,
        "probabilities with zero-weight rows and with those rows dropped",
    )


def check_sample_weight_scale(learner, data, atol):
    """Weights are relative: scaling all of them changes nothing."""
    items_a, items_b, target, weight = data
    seeded = _seeded(learner)
    base = _fit(learner, items_a, items_b, target, weight, **seeded)
    scaled = _fit(learner, items_a, items_b, target, 7.0 * weight, **seeded)
    _assert_close(
        "sample_weight scale",
        _probabilities(base, items_a, items_b),
        _probabilities(scaled, items_a, items_b),
        atol,
        "probabilities with weights w and 7 w",
    )


def check_sample_weight_used(learner, data, atol):
    """Weights matter: a pair carrying almost all the weight is followed."""
    items_a, items_b, target, weight = data
    seeded = _seeded(learner)
    # Every pair votes B except those that the weights single out, which vote
    # A: only a learner that reads the weights can lean towards A on them.
    favoured = np.arange(len(target)) % 2 == 0
    target = np.where(favoured, 1.0, 0.0)
    uniform = _fit(learner, items_a, items_b, target, None, **seeded)
    skewed = _fit(
        learner, items_a, items_b, target, np.where(favoured, 50.0, 1.0), **seeded
    )
    lean_uniform = _probabilities(uniform, items_a, items_b)[favoured].mean()
    lean_skewed = _probabilities(skewed, items_a, items_b)[favoured].mean()
    if not lean_skewed > lean_uniform + 1e-3:
        _fail(
            "sample_weight used",
            "up-weighting the pairs labelled A did not move the mean probability "
            f"of A ({lean_uniform:.4f} -> {lean_skewed:.4f}): sample_weight seems "
            "to be ignored.",
        )


def check_losses_and_targets(learner, data, atol):
    """Every declared loss fits; targets outside its range are rejected by row."""
    items_a, items_b, target, weight = data
    losses = get_reward_tags(learner).losses
    unknown = set(losses) - set(LOSSES)
    if unknown:
        _fail("losses", f"declares unknown losses {sorted(unknown)}.")
    seeded = _seeded(learner)
    for loss in losses:
        low = 0.0 if loss == "log" else -1.0
        good = target if loss == "log" else 2.0 * target - 1.0
        _fit(learner, items_a, items_b, good, weight, loss=loss, **seeded)
        for bad in (low - 0.5, 1.5, np.nan):
            broken = good.copy()
            broken[3] = bad
            try:
                _fit(learner, items_a, items_b, broken, weight, loss=loss, **seeded)
            except ValueError as exc:
                if "row 3" not in str(exc):
                    _fail(
                        "target range",
                        f"target {bad} for loss={loss!r} raised without naming "
                        f"row 3: {exc}",
                    )
            else:
                _fail("target range", f"target {bad} for loss={loss!r} was accepted.")


def check_deterministic(learner, data, atol):
    """The same data and ``random_state`` give the same rewards."""
    items_a, items_b, target, weight = data
    seeded = _seeded(learner)
    first = _fit(learner, items_a, items_b, target, weight, **seeded)
    second = _fit(learner, items_a, items_b, target, weight, **seeded)
    _assert_close(
        "deterministic",
        first.reward(items_a),
        second.reward(items_a),
        0.0,
        "rewards of two fits with random_state=0",
    )


def check_pickle(learner, data, atol):
    """A pickled and reloaded fit gives the same rewards."""
    items_a, items_b, target, weight = data
    member = _fit(learner, items_a, items_b, target, weight, **_seeded(learner))
    loaded = pickle.loads(pickle.dumps(member))
    _assert_close(
        "pickle",
        loaded.reward(items_a),
        member.reward(items_a),
        1e-12,
        "rewards before and after pickling",
    )


def check_warm_start(learner, data, atol):
    """A declared warm start resumes from the fitted solution.

    Re-fitting on the same data from a converged solution keeps the rewards
    and, when the learner reports ``n_iter_``, needs fewer iterations than
    the cold fit did.
    """
    if not get_reward_tags(learner).warm_start:
        return
    items_a, items_b, target, weight = data
    if "warm_start" not in learner.get_params():
        _fail("warm start", "declares warm_start but has no warm_start parameter.")
    member = _fit(learner, items_a, items_b, target, weight, **_seeded(learner))
    cold = member.reward(items_a)
    cold_iter = getattr(member, "n_iter_", None)
    member.set_params(warm_start=True)
    member.fit(items_a, items_b, target, weight)
    _assert_close(
        "warm start", member.reward(items_a), cold, atol, "rewards after a warm refit"
    )
    warm_iter = getattr(member, "n_iter_", None)
    if cold_iter is not None and cold_iter > 0 and not warm_iter < cold_iter:
        _fail(
            "warm start",
            f"a warm refit from the converged solution ran {warm_iter} iterations, "
            f"the cold fit {cold_iter}: it does not start from the fitted solution.",
        )


def check_penalty(learner, data, atol):
    """A declared ``penalty`` parameter exists and weakening it loosens the fit.

    The parameter is a non-negative real; with it divided by 1000 (as the
    ensemble's sharpened re-fits do), a warm-started ``loss="squared"``
    re-fit runs, gives finite rewards, and the fit with the weaker penalty
    reaches a data loss (the weighted mean log loss, penalty left out) no
    higher than the declared one's: a smaller value means less
    regularisation.
    """
    tags = get_reward_tags(learner)
    name = tags.penalty
    if name is None:
        return
    items_a, items_b, target, weight = data
    value = learner.get_params().get(name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        _fail(
            "penalty",
            f"declares penalty={name!r}, but get_params()[{name!r}] is {value!r}, "
            "not a non-negative real.",
        )
    seeded = _seeded(learner)
    strong = _fit(learner, items_a, items_b, target, weight, **seeded)
    try:
        weak = _fit(
            learner, items_a, items_b, target, weight, **seeded, **{name: value / 1000}
        )
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        _fail("penalty", f"fitting with {name}={value / 1000:g} raised {exc!r}.")
    if not _log_loss(weak, data) <= _log_loss(strong, data) + atol:
        _fail(
            "penalty",
            f"with {name}={value / 1000:g} the fit's log loss is higher than with "
            f"{name}={value:g}: the parameter does not set a penalty strength.",
        )
    if tags.warm_start and "squared" in tags.losses:
        strong.set_params(warm_start=True, **{name: value / 1000})
        strong.fit(
            items_a, items_b, (target > 0.5).astype(float), weight, loss="squared"
        )
        if not np.all(np.isfinite(strong.reward(items_a))):
            _fail(
                "penalty", "a sharpened (squared-loss) re-fit gave non-finite rewards."
            )


def _log_loss(member, data):
    items_a, items_b, target, weight = data
    prob = np.clip(_probabilities(member, items_a, items_b), 1e-15, 1 - 1e-15)
    loss = -(target * np.log(prob) + (1 - target) * np.log1p(-prob))
    return float(np.average(loss, weights=weight))


def check_fit_prepared(learner, data, atol):
    """The optional prepared-pairs hook gives the same model as ``fit``.

    For a learner the ensemble fits through ``prepare_pairs`` and
    ``fit_prepared`` (see :func:`pcr_sklearn.rewards._base.uses_prepared_pairs`):
    pairs prepared once by one clone, fed
    to ``fit_prepared`` of other clones for every declared loss and for two
    targets in a row, give the rewards of ``fit`` on the same data to 1e-10
    (so the ensemble's fast path changes nothing), and are not modified by
    the fits that use them.
    """
    if not uses_prepared_pairs(learner):
        return
    items_a, items_b, target, weight = data
    seeded = _seeded(learner)
    prepared = clone(learner).prepare_pairs(items_a, items_b)
    snapshot = _pickled(prepared)
    reference_target = {"log": target, "squared": 2.0 * target - 1.0}
    for loss in get_reward_tags(learner).losses:
        for fit_target in (reference_target[loss], reference_target[loss][::-1]):
            member = clone(learner).set_params(**seeded)
            member.fit_prepared(prepared, fit_target, weight, loss=loss)
            plain = _fit(
                learner, items_a, items_b, fit_target, weight, loss=loss, **seeded
            )
            _assert_close(
                "fit_prepared",
                _probabilities(member, items_a, items_b),
                _probabilities(plain, items_a, items_b),
                1e-10,
                f"probabilities of fit_prepared and fit (loss={loss!r})",
            )
    if snapshot is not None and _pickled(prepared) != snapshot:
        _fail("fit_prepared", "fit_prepared modified the prepared pairs.")


def _pickled(value):
    """``pickle.dumps(value)``, or None for what cannot be pickled."""
    try:
        return pickle.dumps(value)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


# Determinism first: the later checks compare two fits and would blame
# non-determinism on whatever property they test.
_CHECKS = (
    check_clone_and_params,
    check_reward_output,
    check_deterministic,
    check_pickle,
    check_antisymmetric_probability,
    check_losses_and_targets,
    check_sample_weight_zero_drops_row,
    check_sample_weight_scale,
    check_sample_weight_used,
    check_warm_start,
    check_penalty,
    check_fit_prepared,
)


def yield_reward_learner_checks() -> Iterator[Callable[..., None]]:
    """Yield the checks of :func:`check_reward_learner`, for pytest parametrisation.

    Each check is called as ``check(learner, data, atol)`` with ``data`` from
    :func:`make_comparisons`.

    Yields
    ------
    check : callable
        ``check(learner, data, atol)``; raises
        :class:`RewardLearnerCheckError` when its property does not hold.

    See Also
    --------
    check_reward_learner : Runs them all.

    Examples
    --------
    With pytest, one test per check::

        @pytest.mark.parametrize(
            "check", yield_reward_learner_checks(), ids=lambda c: c.__name__
        )
        def test_my_reward(check):
            learner = MyReward()
            check(learner, make_comparisons(learner), 1e-4)

    >>> from pcr_sklearn.rewards import LinearReward
    >>> from pcr_sklearn.utils.estimator_checks import (
    ...     make_comparisons, yield_reward_learner_checks)
    >>> learner = LinearReward()
    >>> for check in yield_reward_learner_checks():
    ...     check(learner, make_comparisons(learner), 1e-4)
    """
    yield from _CHECKS


def check_reward_learner(
    learner: BaseEstimator, *, atol: float = 1e-4, n_pairs: int = 40
) -> None:
    """Check that ``learner`` follows the reward-learner protocol.

    Fits clones of ``learner`` on small synthetic comparisons (numeric or
    text, as its :class:`~pcr_sklearn.rewards.RewardTags` declare) and checks:
    ``clone``/``get_params`` round trip; ``reward`` returns float64 of shape
    ``(n_items,)``; rewards depend on the item alone, so the pairwise
    probability is antisymmetric; a zero sample weight equals dropping the
    row; scaling all weights changes nothing; weights are used at all; every
    declared loss fits and rejects targets outside its range, naming the row;
    the same ``random_state`` gives the same rewards; pickling keeps the
    rewards; a declared warm start resumes from the fitted solution; a
    declared penalty parameter is a non-negative real that regularises; the
    optional prepared-pairs hook (``prepare_pairs`` / ``fit_prepared``),
    when present, gives the same model as ``fit``.

    Parameters
    ----------
    learner : reward learner
        An unfitted instance, configured as it will be used.
    atol : float, default=1e-4
        Tolerance on pairwise probabilities for the checks that compare two
        fits reaching the same optimum by different arithmetic (zero weights
        vs dropped rows, scaled weights, warm start).
    n_pairs : int, default=40
        Comparisons per fit.

    Raises
    ------
    RewardLearnerCheckError
        (an ``AssertionError``) naming the first property that broke, in
        brackets at the start of the message.

    See Also
    --------
    pcr_sklearn.utils.estimator_checks.yield_pair_checks : Checks of ensembles.

    Examples
    --------
    >>> from pcr_sklearn.rewards import LinearReward
    >>> from pcr_sklearn.utils.estimator_checks import check_reward_learner
    >>> check_reward_learner(LinearReward())
    """
    data = make_comparisons(learner, n_pairs)
    for check in _CHECKS:
        check(learner, data, atol)
