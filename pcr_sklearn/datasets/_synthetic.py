"""Synthetic preference data drawn from a known mixture of reward functions.

The generator builds a small world with a known answer, for recovery studies:

* prompts ``x`` and responses ``s`` are standard normal vectors in ``R^d``; an
  *item* (one response to one prompt) is described by the feature vector
  ``z = [x | s | x * s]`` of length ``3 d`` (prompt block, response block and
  their elementwise interaction). The interaction block is what lets a reward
  depend on the prompt while staying *linear* in ``z``: a linear reward
  ``w . z`` ranks the responses of prompt ``x`` by ``(w_s + w_xs * x) . s``.
* a population of annotator groups, each with its own reward ``r_g(z)`` from one
  of three families (linear, quadratic, small tanh MLP);
* pairs of responses to the same prompt, each judged by a number of annotators
  drawn from the population who vote by their group's reward, either
  deterministically or with Bradley-Terry noise.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit
from sklearn.utils import Bunch, check_random_state

from .._compat import Interval, StrOptions, validate_params
from ..utils.validation import hard_votes

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

REWARD_FAMILIES = ("linear", "quadratic", "mlp")

# Hidden units of the "mlp" family: enough bends that no linear reward ranks
# items like it, small enough to stay cheap.
_MLP_HIDDEN = 16


class SyntheticReward:
    """A ground-truth group reward of :func:`make_preference_mixture`.

    Calling the object (or its :meth:`reward` method, the reward-learner
    protocol, so it can stand in for an ensemble member) on item features of
    shape ``(n_items, 3 * n_features)`` returns rewards of shape ``(n_items,)``.

    Parameters
    ----------
    kind : {"linear", "quadratic", "mlp"}
        The reward family.
    params : dict of ndarray
        Parameters acting on the raw item features ``z``:

        * ``"linear"``: ``coef``; ``r(z) = z @ coef``.
        * ``"quadratic"``: ``coef``, ``quad`` (symmetric);
          ``r(z) = z @ coef + sum((z @ quad) * z, axis=1)``.
        * ``"mlp"``: ``hidden_weights`` ``(3 d, h)``, ``hidden_bias`` ``(h,)``,
          ``output_weights`` ``(h,)``;
          ``r(z) = tanh(z @ hidden_weights + hidden_bias) @ output_weights``.
    """

    def __init__(self, kind, params):
        if kind not in REWARD_FAMILIES:
            raise ValueError(f"kind must be one of {REWARD_FAMILIES}, got {kind!r}.")
        self.kind = kind
        self.params = params

    def __call__(self, items):
        z = np.asarray(items, dtype=np.float64)
        p = self.params
        if self.kind == "linear":
            return z @ p["coef"]
        if self.kind == "quadratic":
            return z @ p["coef"] + np.einsum("ij,jk,ik->i", z, p["quad"], z)
        hidden = np.tanh(z @ p["hidden_weights"] + p["hidden_bias"])
        return hidden @ p["output_weights"]

    def reward(self, items):
        """Per-item rewards, float64 of shape ``(n_items,)``."""
        return self(items)

    def __repr__(self):
        return f"SyntheticReward(kind={self.kind!r})"


@validate_params(
    {"prompt_features": ["array-like"], "response_features": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def item_features(
    prompt_features: ArrayLike, response_features: ArrayLike
) -> NDArray[np.float64]:
    """Item feature vectors ``[x | s | x * s]`` used by the generator.

    Parameters
    ----------
    prompt_features : array-like of shape (n_items, d)
        The prompt vector of each item.
    response_features : array-like of shape (n_items, d)
        The response vector of each item.

    Returns
    -------
    z : ndarray of shape (n_items, 3 * d)
        Prompt block, response block, elementwise interaction block.

    Examples
    --------
    >>> from pcr_sklearn.datasets import item_features
    >>> item_features([[1.0, 2.0]], [[3.0, -1.0]])
    array([[ 1.,  2.,  3., -1.,  3., -2.]])
    """
    x = np.asarray(prompt_features, dtype=np.float64)
    s = np.asarray(response_features, dtype=np.float64)
    if x.ndim != 2 or x.shape != s.shape:
        raise ValueError(
            "prompt_features and response_features must be 2-D arrays of the same "
            f"shape, got {x.shape} and {s.shape}."
        )
    return np.hstack([x, s, x * s])


def vote_probabilities(reward_diff, *, temperature, tie_margin):
    """Probabilities that one annotator votes A, and that they declare a tie.

    With ``temperature == 0`` the annotator is deterministic: A when
    ``r(A) - r(B) > tie_margin``, B when it is below ``-tie_margin``, a tie
    otherwise. With ``temperature > 0`` this is a Rao-Kupper style
    Bradley-Terry model: ``P(A) = sigmoid((delta - m) / T)``,
    ``P(B) = sigmoid((-delta - m) / T)``, ``P(tie) = 1 - P(A) - P(B)`` (non-negative
    because ``m >= 0``); ``m = 0`` is the plain Bradley-Terry model.

    Parameters
    ----------
    reward_diff : array-like
        ``r(A) - r(B)``.
    temperature : float
        Noise scale ``T >= 0``.
    tie_margin : float
        ``m >= 0``.

    Returns
    -------
    p_a, p_tie : ndarray
        Same shape as ``reward_diff``.
    """
    delta = np.asarray(reward_diff, dtype=np.float64)
    if temperature == 0:
        p_a = (delta > tie_margin).astype(np.float64)
        p_b = (delta < -tie_margin).astype(np.float64)
    else:
        p_a = expit((delta - tie_margin) / temperature)
        p_b = expit((-delta - tie_margin) / temperature)
    p_tie = np.clip(1.0 - p_a - p_b, 0.0, 1.0)
    return p_a, p_tie


def _vote_distribution(reward_a, reward_b, group_weights, *, temperature, tie_margin):
    """How one annotator votes on each pair: per group, and drawn from the mixture.

    Parameters
    ----------
    reward_a, reward_b : ndarray of shape (n_pairs, n_groups)
        Every group's reward of the A and of the B items.
    group_weights : ndarray of shape (n_groups,)
        Mixture weights, summing to 1.
    temperature, tie_margin : float
        See :func:`vote_probabilities`.

    Returns
    -------
    distribution : Bunch
        ``group_votes`` (hard votes of each group reward), ``p_a`` and
        ``p_tie`` (per group), ``group_prefs`` (``p_a + p_tie / 2``),
        ``p_star`` and ``vote_variance`` (of a random annotator's vote).
    """
    p_a, p_tie = vote_probabilities(
        reward_a - reward_b, temperature=temperature, tie_margin=tie_margin
    )
    group_prefs = p_a + 0.5 * p_tie
    p_star = group_prefs @ group_weights
    second_moment = (p_a + 0.25 * p_tie) @ group_weights
    return Bunch(
        group_votes=hard_votes(reward_a, reward_b),
        p_a=p_a,
        p_tie=p_tie,
        group_prefs=group_prefs,
        p_star=p_star,
        vote_variance=np.clip(second_moment - p_star**2, 0.0, None),
    )


# validate_params checks the types and ranges of make_preference_mixture's
# arguments; bool is an Integral and a Real there, so True would pass as 1.
# These helpers turn it away and make NumPy scalars Python ones.
def _as_int(value, name):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    return int(value)


def _as_float(value, name):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    return float(value)


def _check_int(value, name, low):
    """An int >= low, for the entries of a ``(low, high)`` range."""
    if _as_int(value, name) < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}.")
    return int(value)


def _check_n_pairs(n_pairs, n_prompts, n_responses):
    n_pairs = _as_int(n_pairs, "n_pairs")
    n_distinct = n_prompts * n_responses * (n_responses - 1) // 2
    if n_pairs > n_distinct:
        raise ValueError(
            f"n_pairs={n_pairs} exceeds the {n_distinct} distinct within-prompt "
            f"pairs of n_prompts={n_prompts} prompts with n_responses="
            f"{n_responses} responses each."
        )
    return n_pairs


def _check_group_weights(group_weights, n_groups):
    weights = np.asarray(group_weights, dtype=np.float64).reshape(-1)
    if weights.shape[0] != n_groups:
        raise ValueError(
            f"group_weights has {weights.shape[0]} entries but n_groups={n_groups}."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"group_weights must be finite and non-negative, got {weights!r}."
        )
    if weights.sum() <= 0:
        raise ValueError("group_weights must not be all zero.")
    return weights / weights.sum()


def _check_rewards(reward, n_groups):
    kinds = [reward] * n_groups if isinstance(reward, str) else list(reward)
    if len(kinds) != n_groups:
        raise ValueError(
            f"reward must be a family name or a sequence of n_groups={n_groups} "
            f"names, got {len(kinds)} names."
        )
    for kind in kinds:
        if kind not in REWARD_FAMILIES:
            raise ValueError(
                f"reward must name one of {REWARD_FAMILIES}, got {kind!r}."
            )
    return kinds


def _check_annotators(n_annotators):
    if isinstance(n_annotators, Integral) and not isinstance(n_annotators, bool):
        low = high = _check_int(n_annotators, "n_annotators", 1)
    else:
        try:
            low, high = n_annotators
        except (TypeError, ValueError):
            raise ValueError(
                "n_annotators must be a positive integer or a (low, high) pair, "
                f"got {n_annotators!r}."
            ) from None
        low = _check_int(low, "n_annotators[0]", 1)
        high = _check_int(high, "n_annotators[1]", 1)
        if high < low:
            raise ValueError(
                f"n_annotators=(low, high) needs low <= high, got {n_annotators!r}."
            )
    return low, high


def _draw_reward(kind, dim, input_scale, rng):
    """Draw one group's parameters, acting on ``input_scale * z``.

    Folding ``input_scale`` into the parameters keeps each family exactly what
    it says on the raw features (a linear reward stays ``z @ coef``).
    """
    c = input_scale
    if kind == "linear":
        return {"coef": c * rng.standard_normal(dim)}
    if kind == "quadratic":
        m = rng.standard_normal((dim, dim)) / np.sqrt(dim)
        # Scaled so the quadratic part varies about as much as the linear one.
        quad = (m + m.T) / (2.0 * np.sqrt(dim))
        return {
            "coef": c * rng.standard_normal(dim),
            "quad": c[:, None] * quad * c[None, :],
        }
    # Unit-variance pre-activations times 1.5: tanh saturates on a fair share
    # of items, so the reward is far from linear.
    weights = 1.5 * rng.standard_normal((dim, _MLP_HIDDEN)) / np.sqrt(dim)
    return {
        "hidden_weights": c[:, None] * weights,
        "hidden_bias": 0.5 * rng.standard_normal(_MLP_HIDDEN),
        "output_weights": rng.standard_normal(_MLP_HIDDEN),
    }


def _standardise(kind, params, raw_rewards, item_prompt):
    """Rescale a reward so its within-prompt spread is 1.

    Only within-prompt differences matter for votes, so this fixes the meaning
    of ``temperature`` and ``tie_margin`` (reward units) across families.
    """
    n_prompts = item_prompt.max() + 1
    means = np.bincount(item_prompt, weights=raw_rewards, minlength=n_prompts)
    means /= np.bincount(item_prompt, minlength=n_prompts)
    scale = float(np.std(raw_rewards - means[item_prompt]))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    key = "output_weights" if kind == "mlp" else None
    scaled = {}
    for name, value in params.items():
        if key is None or name == key:
            scaled[name] = value / scale
        else:
            scaled[name] = value
    return scaled


def _draw_items(n_prompts, n_responses, n_features, rng):
    """Prompt and response vectors, and the features ``[x | s | x * s]`` of every
    item; item ``i`` answers prompt ``i // n_responses``."""
    prompt_features = rng.standard_normal((n_prompts, n_features))
    response_features = rng.standard_normal((n_prompts * n_responses, n_features))
    item_prompt = np.repeat(np.arange(n_prompts), n_responses)
    return Bunch(
        prompt_features=prompt_features,
        response_features=response_features,
        item_prompt=item_prompt,
        features=item_features(prompt_features[item_prompt], response_features),
    )


def _draw_rewards(kinds, world, prompt_dependence, rng):
    """One standardised reward per group, of the family named in ``kinds``."""
    d = world.prompt_features.shape[1]
    # The prompt and interaction blocks carry the prompt's influence.
    input_scale = np.concatenate(
        [np.full(d, prompt_dependence), np.ones(d), np.full(d, prompt_dependence)]
    )
    rewards = []
    for kind in kinds:
        params = _draw_reward(kind, 3 * d, input_scale, rng)
        raw = SyntheticReward(kind, params)(world.features)
        rewards.append(
            SyntheticReward(kind, _standardise(kind, params, raw, world.item_prompt))
        )
    return rewards


def _draw_pairs(n_prompts, n_responses, n_pairs, rng):
    """Item ids ``(A, B)`` of the pairs, shape ``(n_pairs, 2)``."""
    # All within-prompt pairs (i < j) in prompt order, then a subset if asked.
    first, second = np.triu_indices(n_responses, k=1)
    offsets = np.arange(n_prompts)[:, None] * n_responses
    pair_items = np.column_stack(
        [(offsets + first).ravel(), (offsets + second).ravel()]
    )
    if n_pairs is not None:
        keep = np.sort(rng.choice(pair_items.shape[0], size=n_pairs, replace=False))
        pair_items = pair_items[keep]
    # Random sides, so that "A" carries no information about the item order.
    swap = rng.rand(pair_items.shape[0]) < 0.5
    pair_items[swap] = pair_items[swap, ::-1]
    return pair_items


def _draw_votes(distribution, group_weights, n_annotators, rng):
    """Every annotator's vote, counted per pair.

    One draw per annotator: a group with the mixture weights, then a uniform
    that decides A / tie / B with that group's probabilities.
    """
    low, high = n_annotators
    n = distribution.p_a.shape[0]
    if low == high:
        counts = np.full(n, low, dtype=np.int64)
    else:
        counts = rng.randint(low, high + 1, size=n)
    pair_of = np.repeat(np.arange(n), counts)
    groups = rng.choice(len(group_weights), size=pair_of.shape[0], p=group_weights)
    u = rng.rand(pair_of.shape[0])
    pa = distribution.p_a[pair_of, groups]
    votes_a = u < pa
    ties = ~votes_a & (u < pa + distribution.p_tie[pair_of, groups])
    n_votes_a = np.bincount(pair_of, weights=votes_a, minlength=n).astype(np.int64)
    n_ties = np.bincount(pair_of, weights=ties, minlength=n).astype(np.int64)
    return Bunch(
        n_annotators=counts,
        annotator_pair=pair_of,
        annotator_group=groups,
        n_votes_a=n_votes_a,
        n_ties=n_ties,
        y=(n_votes_a + 0.5 * n_ties) / counts,
    )


def _truth_bunch(world, rewards, group_weights, pair_items, distribution, votes):
    """The ground truth returned by ``make_preference_mixture(return_truth=True)``,
    less the noise settings."""
    n, n_groups = distribution.group_votes.shape
    group_counts = np.zeros((n, n_groups), dtype=np.int64)
    np.add.at(group_counts, (votes.annotator_pair, votes.annotator_group), 1)
    d = world.prompt_features.shape[1]
    feature_names = np.array(
        [
            f"{block}_{j}"
            for block in ("prompt", "response", "interaction")
            for j in range(d)
        ]
    )
    return Bunch(
        rewards=rewards,
        reward_kinds=[r.kind for r in rewards],
        reward_params=[r.params for r in rewards],
        group_weights=group_weights,
        p_star=distribution.p_star,
        group_prefs=distribution.group_prefs,
        group_votes=distribution.group_votes,
        vote_variance=distribution.vote_variance,
        n_annotators=votes.n_annotators,
        group_counts=group_counts,
        n_votes_a=votes.n_votes_a,
        n_ties=votes.n_ties,
        prompt_ids=world.item_prompt[pair_items[:, 0]],
        pair_items=pair_items,
        item_features=world.features,
        item_prompt_ids=world.item_prompt,
        item_rewards=world.item_rewards,
        prompt_features=world.prompt_features,
        response_features=world.response_features,
        feature_names=feature_names,
    )


@validate_params(
    {
        "n_prompts": [Interval(Integral, 1, None, closed="left")],
        "n_responses": [Interval(Integral, 2, None, closed="left")],
        "n_pairs": [Interval(Integral, 1, None, closed="left"), None],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_groups": [Interval(Integral, 1, None, closed="left")],
        "group_weights": ["array-like", None],
        "reward": [StrOptions(set(REWARD_FAMILIES)), "array-like"],
        "prompt_dependence": [Interval(Real, 0, None, closed="left")],
        # An int, or a (low, high) pair whose entries _check_annotators checks.
        "n_annotators": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "temperature": [Interval(Real, 0, None, closed="left")],
        "tie_margin": [Interval(Real, 0, None, closed="left")],
        "return_truth": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_preference_mixture(
    *,
    n_prompts: int = 100,
    n_responses: int = 5,
    n_pairs: int | None = None,
    n_features: int = 4,
    n_groups: int = 3,
    group_weights: ArrayLike | None = None,
    reward: str | Sequence[str] = "linear",
    prompt_dependence: float = 1.0,
    n_annotators: int | tuple[int, int] = 5,
    temperature: float = 0.0,
    tie_margin: float = 0.0,
    return_truth: bool = False,
    random_state: int | np.random.RandomState | None = None,
) -> (
    tuple[NDArray[np.float64], NDArray[np.float64]]
    | tuple[NDArray[np.float64], NDArray[np.float64], Bunch]
):
    """Generate pairwise preferences from a known mixture of annotator groups.

    Each prompt has ``n_responses`` candidate responses; pairs are drawn within a
    prompt. The population consists of ``n_groups`` groups with mixture weights
    ``group_weights``, each voting by its own reward over the item features.
    Every pair is judged by ``n_annotators`` annotators drawn independently from
    the population; the soft label is the share voting A (ties count 1/2).

    **Item features.** Prompt vectors ``x`` and response vectors ``s`` are
    standard normal in ``R^n_features``; an item's feature vector is
    ``z = [x | s | x * s]`` (length ``3 * n_features``, see
    :func:`item_features`). Rewards depend on the prompt through the
    interaction block ``x * s`` (scaled by ``prompt_dependence``), so that a
    ``"linear"`` group reward ``z @ coef`` is *exactly* a linear reward over the
    item features while its ranking of responses changes from prompt to prompt.

    **Reward families** (all standardised so that the within-prompt standard
    deviation of each group's reward over the generated items is 1):
    ``"linear"`` ``z @ coef``; ``"quadratic"`` ``z @ coef + z' Q z`` with a random
    symmetric ``Q``; ``"mlp"`` a random one-hidden-layer tanh network with 16
    units. The non-linear families cannot be reproduced by a linear reward.

    Parameters
    ----------
    n_prompts : int, default=100
        Number of prompts.
    n_responses : int, default=5
        Candidate responses per prompt (at least 2).
    n_pairs : int, default=None
        Number of pairs, drawn without replacement from the
        ``n_prompts * n_responses * (n_responses - 1) / 2`` distinct within-prompt
        pairs. ``None`` uses all of them.
    n_features : int, default=4
        Dimension ``d`` of the prompt and response vectors. Items have
        ``3 * d`` features and ``X`` has ``6 * d`` columns.
    n_groups : int, default=3
        Number of annotator groups.
    group_weights : array-like of shape (n_groups,), default=None
        Mixture weights of the groups (normalised to sum to 1). ``None`` draws
        them from a flat Dirichlet distribution.
    reward : {"linear", "quadratic", "mlp"} or sequence of those, default="linear"
        Reward family of every group, or one family per group.
    prompt_dependence : float, default=1.0
        Scale of the prompt's influence on rewards (the prompt and interaction
        inputs are multiplied by it). ``0`` gives prompt-independent rewards.
    n_annotators : int or (int, int), default=5
        Annotators per pair, or an inclusive ``(low, high)`` range from which
        each pair's count is drawn uniformly.
    temperature : float, default=0.0
        Bradley-Terry noise in reward units. ``0``: every annotator votes
        deterministically by the group's reward; ``T > 0``: an annotator prefers
        A with probability ``sigmoid((r(A) - r(B)) / T)``.
    tie_margin : float, default=0.0
        Annotators declare a tie (counted as 1/2) when ``|r(A) - r(B)|`` is at
        most this margin (deterministic votes), or with the Rao-Kupper tie
        probability ``1 - sigmoid((d - m) / T) - sigmoid((-d - m) / T)`` when
        ``temperature > 0``. ``0`` means ties only on exactly equal rewards.
    return_truth : bool, default=False
        Also return the ground truth as a :class:`~sklearn.utils.Bunch`.
    random_state : int, RandomState instance or None, default=None
        Controls every random draw. Independent streams are used for group
        weights, reward parameters, items and pairs, and annotators, so ``X`` does
        not change with ``n_annotators``, ``temperature`` or ``tie_margin``.

    Returns
    -------
    X : ndarray of shape (n_pairs, 6 * n_features)
        Pairs in the flat layout ``[features of A | features of B]``, float64.
    y : ndarray of shape (n_pairs,)
        Soft labels: the share of the pair's annotators who preferred A.
    truth : Bunch
        Only when ``return_truth=True``. Per-pair arrays are aligned with ``X``.

        rewards : list of SyntheticReward
            Group reward callables ``rewards[g](items) -> (n_items,)``.
        reward_kinds : list of str
            Family of each group.
        reward_params : list of dict
            Parameters of each group reward (the same dicts as
            ``rewards[g].params``).
        group_weights : ndarray of shape (n_groups,)
            Mixture weights.
        p_star : ndarray of shape (n_pairs,)
            Exact probability that a random annotator prefers A (ties 1/2,
            including Bradley-Terry noise); ``E[y] = p_star``.
        group_prefs : ndarray of shape (n_pairs, n_groups)
            Same, for an annotator of each group; ``p_star = group_prefs @
            group_weights``.
        group_votes : ndarray of shape (n_pairs, n_groups)
            Hard votes of each group's reward (1 if ``r(A) > r(B)``, 1/2 if equal,
            else 0): what a member equal to that reward predicts. The oracle
            ensemble predicts ``group_votes @ group_weights``.
        vote_variance : ndarray of shape (n_pairs,)
            Variance of one random annotator's vote; equals
            ``p_star * (1 - p_star)`` when no ties are possible.
        n_annotators : ndarray of shape (n_pairs,)
            Annotators per pair (a natural ``sample_weight``).
        group_counts : ndarray of shape (n_pairs, n_groups)
            How many of the pair's annotators came from each group.
        n_votes_a, n_ties : ndarray of shape (n_pairs,)
            Votes for A and declared ties; ``y = (n_votes_a + n_ties / 2) /
            n_annotators``.
        prompt_ids : ndarray of shape (n_pairs,)
            Prompt of each pair (``groups`` for ``GroupKFold``).
        pair_items : ndarray of shape (n_pairs, 2)
            Item ids of A and B (rows of ``item_features``).
        item_features : ndarray of shape (n_items, 3 * n_features)
            ``[x | s | x * s]`` of every item; ``n_items = n_prompts *
            n_responses`` and item ``i`` answers prompt ``i // n_responses``.
        item_prompt_ids : ndarray of shape (n_items,)
            Prompt of each item.
        item_rewards : ndarray of shape (n_items, n_groups)
            Every group's reward of every item.
        prompt_features : ndarray of shape (n_prompts, n_features)
            The prompts' own features ``x``.
        response_features : ndarray of shape (n_items, n_features)
            The responses' own features ``s``.
        feature_names : ndarray of str of shape (3 * n_features,)
            ``prompt_j``, ``response_j``, ``interaction_j``.
        temperature, tie_margin : float
            The noise settings used.

    See Also
    --------
    pcr_sklearn.recovery.recovery_report : Compare a fitted ensemble with the truth.

    Examples
    --------
    >>> from pcr_sklearn.datasets import make_preference_mixture
    >>> X, y, truth = make_preference_mixture(
    ...     n_prompts=20, n_responses=4, n_features=3,
    ...     group_weights=[0.5, 0.3, 0.2], n_annotators=10,
    ...     return_truth=True, random_state=0)
    >>> X.shape, y.shape
    ((120, 18), (120,))
    >>> truth.group_weights
    array([0.5, 0.3, 0.2])
    >>> bool(((y >= 0) & (y <= 1)).all())
    True

    A linear group reward is exactly a linear function of the item features:

    >>> import numpy as np
    >>> items_a, items_b = X[:, :9], X[:, 9:]
    >>> coef = truth.reward_params[0]["coef"]
    >>> votes = (items_a @ coef > items_b @ coef).astype(float)
    >>> bool(np.array_equal(votes, truth.group_votes[:, 0]))
    True
    """
    n_prompts = _as_int(n_prompts, "n_prompts")
    n_responses = _as_int(n_responses, "n_responses")
    n_features = _as_int(n_features, "n_features")
    n_groups = _as_int(n_groups, "n_groups")
    if n_pairs is not None:
        n_pairs = _check_n_pairs(n_pairs, n_prompts, n_responses)
    kinds = _check_rewards(reward, n_groups)
    prompt_dependence = _as_float(prompt_dependence, "prompt_dependence")
    annotator_range = _check_annotators(n_annotators)
    temperature = _as_float(temperature, "temperature")
    tie_margin = _as_float(tie_margin, "tie_margin")
    if group_weights is not None:
        group_weights = _check_group_weights(group_weights, n_groups)

    rng = check_random_state(random_state)
    # Separate streams, so that e.g. giving group_weights or changing the
    # annotators leaves the rewards and items unchanged.
    seeds = rng.randint(np.iinfo(np.int32).max, size=4)
    rng_weights, rng_rewards, rng_items, rng_votes = (
        np.random.RandomState(seed) for seed in seeds
    )
    if group_weights is None:
        group_weights = rng_weights.dirichlet(np.ones(n_groups))

    world = _draw_items(n_prompts, n_responses, n_features, rng_items)
    rewards = _draw_rewards(kinds, world, prompt_dependence, rng_rewards)
    world.item_rewards = np.column_stack([r(world.features) for r in rewards])
    pair_items = _draw_pairs(n_prompts, n_responses, n_pairs, rng_items)
    items_a, items_b = pair_items[:, 0], pair_items[:, 1]
    X = np.hstack([world.features[items_a], world.features[items_b]])
    distribution = _vote_distribution(
        world.item_rewards[items_a],
        world.item_rewards[items_b],
        group_weights,
        temperature=temperature,
        tie_margin=tie_margin,
    )
    votes = _draw_votes(distribution, group_weights, annotator_range, rng_votes)

    if not return_truth:
        return X, votes.y
    truth = _truth_bunch(world, rewards, group_weights, pair_items, distribution, votes)
    truth.update(temperature=temperature, tie_margin=tie_margin)
    return X, votes.y, truth
