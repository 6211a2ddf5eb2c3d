"""Members drawn from a fitted population of annotators (a random-utility model).

Hard votes can say "unsure" only where members split, so an ensemble that is
to be calibrated on prompts it has never seen needs members that split where
annotators would. This module fits a population and draws members from it:

* a *mean reward* ``f``: the reward learner fitted to the soft labels with the
  log-loss (a soft-label Bradley-Terry reward; one member fit);
* an idiosyncratic *taste* per annotator: a smooth random function ``g_j`` of
  the item, a Gaussian-process sample with an RBF kernel of length ``ell``
  (approximated by random Fourier features, :class:`TasteFeatures`).

Member ``j`` is the deterministic reward ``r_j(x) = f(x) + taste * g_j(x)``: a
sampled annotator of Thurstone's random-utility model with smooth, correlated
utility shocks. An annotator prefers A with probability
``Phi((f(A) - f(B)) / (taste * sqrt(2 (1 - k(A, B)))))`` (``k`` the kernel), so
the share of ``k`` sampled members voting A approaches it at rate
``p (1 - p) / k`` (the paper's Theorem 2 with a learned population). For two
distant items this is a probit Bradley-Terry probability; for two near
duplicates the taste difference shrinks with their distance, as it should.
Members come in antithetic pairs (``+z`` and ``-z`` for the same draw ``z``),
which halves the Monte-Carlo error of the share for shares near 1/2.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_ndtr
from sklearn.kernel_approximation import RBFSampler

from ._stages import StageLoop
from .rewards._base import member_rewards, seeded_clone
from .utils.validation import (
    _overflow_is_an_error,
    pair_votes,
    plain,
    rescale_weights,
    weighted_mean,
)

#: Random Fourier features per item for the taste functions.
N_TASTE_FEATURES = 512
# Training pairs the taste scale is fitted on: one scalar needs few, and the
# taste features of every pair would cost as much as the members' votes.
_TASTE_FIT_PAIRS = 20_000
# Pairs per block when votes are computed for many members at once: bounds
# the memory of the (pairs x features) taste block.
_BLOCK = 4096


class TasteFeatures:
    """Random Fourier features of an RBF kernel, evaluated in float32.

    The features of scikit-learn's
    :class:`~sklearn.kernel_approximation.RBFSampler` (the same random draws),
    ``sqrt(2 / n) * cos(W^T x + b)``, computed as ``cos(W^T (x - c) + b')``
    with ``b' = W^T c + b`` (mod ``2 pi``) and ``c`` the training items' mean.
    Centring keeps the float32 phases as accurate as the items' spread allows
    whatever their offset; float32 makes the cosine, which dominated the
    cost of drawing members, about 25 times faster. The features are exact
    to about 1e-6 of their scale.

    Parameters
    ----------
    weights : ndarray of shape (n_item_features, n_components)
    offset : ndarray of shape (n_components,)
        Phases ``b'`` of the centred features.
    center : ndarray of shape (n_item_features,)
    gamma : float
        The kernel's ``exp(-gamma ||x - y||^2)`` parameter.
    scale : float
        A power of two the centred items are divided by (and ``weights``
        multiplied by) for kernel lengths outside ``[2**-32, 2**32]``, so that
        float32 holds both whatever the items' scale (exact: 1 otherwise).
    reach : float
        The largest ``|x - c| / scale`` computed in float32: ``2**64`` kernel
        lengths. The phases of a farther item (noise long before: its kernel
        with any training item is 0) are computed in float64, up to ``2**1000``
        lengths (:attr:`far_reach`); beyond, :meth:`transform` raises.
    """

    def __init__(self, weights, offset, center, gamma, scale, reach):
        self.weights = weights
        self.offset = offset
        self.center = center
        self.gamma = gamma
        self.scale = scale
        self.reach = reach

    @classmethod
    def draw(cls, length, *, center, n_components, seed):
        """Features of the RBF kernel of length ``length`` (``gamma = 1/2l^2``)."""
        # In units of `scale` the length is ordinary; sampling the kernel of
        # length `unit` gives exactly `scale` times the weights of `length`.
        scale = _length_scale(length)
        unit = length / scale
        gamma = 0.5 / unit**2
        sampler = RBFSampler(
            gamma=gamma, n_components=n_components, random_state=seed
        ).fit(np.zeros((1, len(center))))  # only the width matters
        with np.errstate(over="ignore", invalid="ignore"):
            phase = (center / scale) @ sampler.random_weights_
            phase += sampler.random_offset_
        if not np.isfinite(phase).all():
            # A centre 2**1000 lengths from the origin: W^T c (mod 2 pi) is
            # rounding anyway. The uniform offsets alone are phases with the
            # same distribution (what the kernel approximation needs).
            phase = sampler.random_offset_
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            kernel_gamma = float(np.float64(gamma) / np.float64(scale) ** 2)
        return cls(
            sampler.random_weights_.astype(np.float32),
            np.mod(phase, 2.0 * np.pi).astype(np.float32),
            np.asarray(center, dtype=np.float64),
            kernel_gamma,
            scale,
            float(np.ldexp(unit, 64)),
        )

    @property
    def n_components(self):
        return self.weights.shape[1]

    @property
    def far_reach(self):
        """The largest ``|x - c| / scale`` accepted at all: ``2**1000`` lengths."""
        return self.reach * 2.0**936

    def transform(self, items):
        """Features of ``items``, float32 of shape ``(n_items, n_components)``.

        Raises
        ------
        ValueError
            For an item farther than ``2**1000`` kernel lengths from the
            centre (naming its row), where even float64 phases could overflow.
        """
        items = np.asarray(items)
        centred, extent = self._centred(items)
        far = None
        if not extent <= self.reach:
            # Beyond float32's range: these rows' phases in float64.
            far = np.flatnonzero((np.abs(centred) > self.reach).any(axis=1))
            with np.errstate(over="ignore", invalid="ignore"):
                phase = centred[far] @ self.weights.astype(np.float64) + self.offset
            if not np.isfinite(phase).all():  # (more than 2**20 features)
                self._raise_too_far(items, centred)
            centred[far] = 0.0
        projection = centred.astype(np.float32)
        projection = projection @ self.weights
        projection += self.offset
        if far is not None:
            projection[far] = np.mod(phase, 2.0 * np.pi)
        np.cos(projection, out=projection)
        projection *= np.float32(np.sqrt(2.0 / self.n_components))
        return projection

    def check_reach(self, items_a, items_b, rows):
        """Raise unless every training item is within far reach, naming a pair.

        From the columns' extremes (no copy of the items); ``rows`` maps the
        rows of the items to the pairs.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            high = np.maximum(items_a.max(axis=0), items_b.max(axis=0))
            low = np.minimum(items_a.min(axis=0), items_b.min(axis=0))
            far = np.maximum(high - self.center, self.center - low) / self.scale
        if not far.max(initial=0.0) <= self.far_reach:
            self._centred(np.vstack([items_a, items_b]), "pairs", np.tile(rows, 2))

    def _centred(self, items, name="items", rows=None):
        """``(items - center) / scale`` in float64 and its largest ``|entry|``.

        Raises a ValueError naming the farthest item beyond far reach, as row
        ``rows[i]`` of ``name`` when ``rows`` maps the rows of ``items`` to
        the caller's.
        """
        items = np.asarray(items)
        with np.errstate(over="ignore", invalid="ignore"):
            centred = items - self.center
            if self.scale != 1.0:
                centred /= self.scale  # exact (inf where it overflows)
        extent = max(centred.max(), -centred.min()) if centred.size else 0.0
        if extent <= self.far_reach:  # False for NaN
            return centred, extent
        self._raise_too_far(items, centred, name, rows)

    def _raise_too_far(self, items, centred, name="items", rows=None):
        # The farthest item: where one outlier drags the training items'
        # mean, it is the one to name, not the first of the items left behind.
        distance = np.abs(centred)
        distance[np.isnan(distance)] = np.inf
        row, col = np.unravel_index(np.argmax(distance), distance.shape)
        length = float(np.ldexp(self.reach, -64)) * self.scale
        raise ValueError(
            f"{name} row {row if rows is None else rows[row]} is too far from the "
            "training items for the population's taste features: item feature "
            f"{col} is {plain(items[row, col]):.6g} where their mean is "
            f"{self.center[col]:.6g}, so far (the taste length is {length:.3g}) "
            "that float64 cannot compute the features' phases. Rescale the "
            "features, or use members='stagewise'."
        )

    def rewards(self, items, tastes):
        """Taste rewards ``features(items) @ tastes``, float64 ``(n, n_tastes)``.

        The product is taken in float64: a member's reward is then the same
        to the last bits whether it is computed alone or with others (float32
        products of other shapes differed by 1e-6).
        """
        return self.transform(items).astype(np.float64) @ tastes


class SampledReward:
    """One member drawn from a population: the mean reward plus its own taste.

    ``reward(items) = mean.reward(items) + features.transform(items) @ taste``.
    Members of one population share ``mean`` and ``features`` (the same
    objects), so :meth:`batch_rewards` evaluates them once for all members.

    Parameters
    ----------
    mean : fitted reward learner
        The population's mean reward.
    features : TasteFeatures
        The random Fourier features of the taste functions.
    taste : ndarray of shape (n_features,)
        This member's taste coefficients.
    """

    def __init__(self, mean, features, taste):
        self.mean = mean
        self.features = features
        self.taste = taste

    def reward(self, items):
        """This member's reward of each item, float64 of shape ``(n_items,)``."""
        return self.batch_rewards([self], items)[:, 0]

    @classmethod
    def batch_rewards(cls, members, items):
        """Rewards of several members; shared means and features computed once.

        Parameters
        ----------
        members : list of SampledReward
        items : array-like of shape (n_items, n_item_features)

        Returns
        -------
        rewards : ndarray of shape (n_items, len(members))
        """
        items = np.asarray(items)
        out = np.empty((items.shape[0], len(members)))
        groups = {}
        for j, member in enumerate(members):
            key = (id(member.mean), id(member.features))
            groups.setdefault(key, []).append(j)
        for columns in groups.values():
            first = members[columns[0]]
            tastes = np.column_stack([members[j].taste for j in columns])
            out[:, columns] = _member_rewards(first.mean, first.features, items, tastes)
        return out

    def __repr__(self):
        return f"SampledReward(mean={self.mean!r})"


class Population:
    """A fitted population of annotators to draw members from.

    Parameters
    ----------
    mean : fitted reward learner
        The mean reward ``f``.
    features : TasteFeatures
        Random Fourier features of the taste kernel.
    taste : float
        Scale of the taste functions, in reward units.
    seed : int
        Seeds the draws: member ``j`` is the same for every call.
    """

    def __init__(self, mean, features, taste, seed):
        self.mean = mean
        self.features = features
        self.taste = taste
        self.seed = seed

    @classmethod
    def fit(
        cls,
        prototype,
        items_a,
        items_b,
        target,
        sample_weight,
        *,
        taste,
        taste_length,
        seed,
    ):
        """Fit the mean reward and the taste features on training pairs.

        Parameters
        ----------
        prototype : reward learner
            Cloned and fitted to the soft labels with ``loss="log"``.
        items_a, items_b : ndarray
            Items, numeric ``(n_pairs, n_item_features)`` or text rows.
        target, sample_weight : ndarray of shape (n_pairs,)
        taste : float or "mle"
            Scale of the taste functions (0: every member is the mean).
            ``"mle"``: the scale under which the population's vote shares fit
            the training soft labels best (maximum likelihood, see
            :func:`fit_taste`).
        taste_length : float
            Length scale of the taste kernel, relative to the median distance
            between the two items of a training pair (so it does not depend on
            the scale of the features).
        seed : int

        Returns
        -------
        population : Population
        """
        mean = seeded_clone(prototype, seed)
        mean.fit(items_a, items_b, target, sample_weight, loss="log")
        keep = sample_weight > 0
        features_a = item_features(mean, items_a[keep])
        features_b = item_features(mean, items_b[keep])
        length = taste_length * _median_distance(
            features_a, features_b, rescale_weights(sample_weight[keep])
        )
        tiny, huge = np.finfo(np.float64).smallest_subnormal, np.finfo(np.float64).max
        features = TasteFeatures.draw(
            min(max(length, tiny), huge),  # (taste_length times an extreme one)
            center=_center(features_a, sample_weight[keep]),
            n_components=N_TASTE_FEATURES,
            seed=seed,
        )
        # Every training item within the features' reach, or an error naming
        # the pair (its votes would need the features).
        features.check_reach(features_a, features_b, rows=np.flatnonzero(keep))
        population = cls(mean, features, 0.0, int(seed))
        if taste == "mle":
            taste = population.fit_taste(
                items_a[keep], items_b[keep], target[keep], sample_weight[keep]
            )
        population.taste = float(taste)
        return population

    def fit_taste(self, items_a, items_b, target, sample_weight):
        """The taste scale that makes the vote shares fit the soft labels best.

        Under the population, an annotator prefers A with probability
        ``Phi(m / (taste * s))``, where ``m`` is the mean's reward difference
        and ``s = ||phi(A) - phi(B)||`` the size of the taste difference
        (exactly, for the fitted features). One scalar, fitted by maximum
        likelihood of the soft labels on (at most ``_TASTE_FIT_PAIRS`` of) the
        training pairs: it follows the scale of the mean reward, so it means
        the same whatever the learner's regularisation, and it goes to zero
        when the labels show no disagreement at all.

        Returns
        -------
        taste : float
        """
        rng = np.random.default_rng([self.seed, 1])
        if len(target) > _TASTE_FIT_PAIRS:
            rows = np.sort(rng.choice(len(target), _TASTE_FIT_PAIRS, replace=False))
            items_a, items_b = items_a[rows], items_b[rows]
            target, sample_weight = target[rows], sample_weight[rows]
        rewards_a = member_rewards([self.mean], items_a)
        rewards_b = member_rewards([self.mean], items_b)
        with np.errstate(over="ignore", invalid="ignore"):  # (inf: not useful)
            margin = (rewards_a - rewards_b)[:, 0]
        spread = np.linalg.norm(
            self.features.transform(item_features(self.mean, items_a))
            - self.features.transform(item_features(self.mean, items_b)),
            axis=1,
        )
        return fit_taste(margin, spread, target, sample_weight)

    def taste_coefficients(self, indices):
        """Taste coefficients of members ``indices``, shape ``(n_features, len)``.

        Member ``2 i`` takes draw ``z_i`` and member ``2 i + 1`` takes ``-z_i``
        (antithetic pairs); ``z_i`` depends only on the seed and ``i``.
        """
        n = self.features.n_components
        columns = []
        for j in indices:
            z = np.random.default_rng([self.seed, j // 2]).standard_normal(n)
            columns.append(self.taste * (z if j % 2 == 0 else -z))
        return np.column_stack(columns) if columns else np.empty((n, 0))

    def members(self, indices):
        """Members ``indices`` of the population."""
        tastes = self.taste_coefficients(indices)
        return [
            SampledReward(self.mean, self.features, tastes[:, i])
            for i in range(tastes.shape[1])
        ]

    def votes(self, items_a, items_b, indices, vote):
        """Votes of members ``indices`` on pairs, shape ``(n_pairs, len)``.

        Computed block by block over the pairs, with the mean rewards and the
        taste features of each block evaluated once for all the members.
        """
        tastes = self.taste_coefficients(indices)
        out = np.empty((len(items_a), tastes.shape[1]))
        for start in range(0, len(items_a), _BLOCK):
            rows = slice(start, start + _BLOCK)
            rewards_a = self._rewards(items_a[rows], tastes)
            rewards_b = self._rewards(items_b[rows], tastes)
            out[rows] = pair_votes(rewards_a, rewards_b, vote)
        return out

    def _rewards(self, items, tastes):
        return _member_rewards(self.mean, self.features, items, tastes)


class PopulationLoop(StageLoop):
    """Adds members drawn from a :class:`Population`, with equal weights.

    Same interface as :class:`~pcr_sklearn._stages.StageLoop` (early
    stopping, interrupts and results work the same); a "stage" draws the next
    member. The votes of the members a run will add are computed in one pass
    over the pairs.
    """

    def __init__(self, population, *args, **kwargs):
        kwargs.setdefault("objective", None)
        kwargs.setdefault("n_backfit", 0)
        super().__init__(population.mean, *args, **kwargs)
        self.population = population
        # The population's mean reward is the one member fit of this loop.
        self.n_member_fits += 1
        self._planned = None
        self._validation_votes = {}

    def run(self, n_stages, validation=None, **kwargs):
        """Draw up to ``n_stages`` more members (see :meth:`StageLoop.run`)."""
        start = len(self.members)
        votes = self.population.votes(
            self.items_a, self.items_b, range(start, start + n_stages), self.vote
        )
        # Every stage's votes are a prefix of one buffer: adding a member
        # copies nothing (a column_stack per stage cost O(k^2) copies).
        self._planned = np.empty((len(votes), start + n_stages))
        self._planned[:, :start] = self.votes
        self._planned[:, start:] = votes
        return super().run(n_stages, validation, **kwargs)

    def add_stage(self):
        """Draw the next member; weights stay equal."""
        j = len(self.members)
        if self._planned is not None and j < self._planned.shape[1]:
            self.votes = self._planned[:, : j + 1]
        else:
            votes = self.population.votes(self.items_a, self.items_b, [j], self.vote)
            self.votes = np.column_stack([self.votes, votes])
        (member,) = self.population.members([j])
        self.members.append(member)
        self.weights = np.full(len(self.members), 1.0 / len(self.members))
        self.train_score.append(self.error)
        self._completed = self._snapshot()
        if self.verbose:
            print(
                f"[PairwiseCalibratedEnsemble] stage {len(self.members)}: "
                f"train error {self.train_score[-1]:.5f} (member drawn)"
            )
        return self.train_score[-1]

    def validation_error(self, validation):
        """Error of the current members on validation pairs (votes cached)."""
        items_a, items_b, target, weight = validation
        cache = self._validation_votes.setdefault(id(validation), {})
        missing = [j for j in range(len(self.members)) if j not in cache]
        if missing:
            fresh = _votes_of(self, items_a, items_b, missing)
            cache.update(zip(missing, fresh.T, strict=True))
        votes = np.column_stack([cache[j] for j in range(len(self.members))])
        share = votes @ self.weights
        return float(np.average((share - target) ** 2, weights=weight))

    def staged_weights(self):
        """Equal weights for every prefix of the members."""
        return [np.full(j, 1.0 / j) for j in range(1, len(self.members) + 1)]


def _votes_of(loop, items_a, items_b, indices):
    """Votes of members ``indices`` of ``loop`` (drawn or earlier) on pairs."""
    # Members drawn from an earlier population (warm start, partial_fit on
    # other pairs) are evaluated as members; this population's, in one pass.
    mean = loop.population.mean
    if all(getattr(loop.members[j], "mean", None) is mean for j in indices):
        return loop.population.votes(items_a, items_b, indices, loop.vote)
    members = [loop.members[j] for j in indices]
    rewards_a = member_rewards(members, items_a)
    rewards_b = member_rewards(members, items_b)
    return pair_votes(rewards_a, rewards_b, loop.vote)


def fit_taste(margin, spread, target, sample_weight):
    """Maximum-likelihood scale ``t`` of ``P(A) = Phi(margin / (t * spread))``.

    Parameters
    ----------
    margin, spread, target, sample_weight : ndarray of shape (n_pairs,)
        Mean reward differences, taste-difference sizes, soft labels, weights.

    Returns
    -------
    taste : float
        In a bracket of ``1e-4`` to ``1e3`` times the median ``|margin| /
        spread``; 0 when no pair is informative (every pair a tie).
    """
    # Ratios that overflow (or margins that did) carry no information on the
    # scale; weights are rescaled by a power of two, so their sum is finite.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ratio = margin / spread
    useful = (spread > 0) & (margin != 0) & (sample_weight > 0) & np.isfinite(ratio)
    if not useful.any():
        return 0.0
    ratio = ratio[useful]
    w = rescale_weights(sample_weight[useful])
    p, w = target[useful], w / w.sum()
    typical = float(np.median(np.abs(ratio)))

    def negative_log_likelihood(log_taste):
        # |z| <= 1e150 (never reached by ordinary data) keeps the terms finite.
        with np.errstate(over="ignore", divide="ignore"):
            z = np.clip(ratio / np.exp(log_taste), -1e150, 1e150)
        return -(w @ (p * log_ndtr(z) + (1.0 - p) * log_ndtr(-z)))

    with np.errstate(divide="ignore"):
        bounds = (np.log(typical * 1e-4), np.log(typical * 1e3))
    if not np.isfinite(bounds).all():  # typical near the float64 limits
        bounds = (np.log(typical) + np.log(1e-4), np.log(typical) + np.log(1e3))
    result = minimize_scalar(
        negative_log_likelihood,
        bounds=bounds,
        method="bounded",
        options={"xatol": 1e-6},
    )
    with np.errstate(over="ignore"):
        return float(min(np.exp(result.x), np.finfo(np.float64).max))


def item_features(mean, items):
    """The numeric description of items that taste functions are drawn on.

    The items themselves for numeric reward learners; for learners of text
    items, their ``item_features`` (optional protocol extension, e.g. the
    frozen backbone's pooled vectors of a ``TransformerReward``).
    """
    describe = getattr(mean, "item_features", None)
    if describe is not None:
        return np.asarray(describe(items), dtype=np.float64)
    return np.asarray(items, dtype=np.float64)


def _median_distance(features_a, features_b, weights):
    """Weighted median distance between the two items of the pairs (1 if 0).

    Weighted, so that integer pair weights and duplicated pairs give the same
    length scale. Differences whose squares would overflow (or all of them
    underflow) are measured in units of a power of two (exact), so the length
    follows the items' scale from the smallest floats to the largest.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        diff = features_a - features_b
        distance = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    largest = np.abs(diff).max(axis=1, initial=0.0)
    if not np.isfinite(largest).all():
        raise ValueError(
            "items_a - items_b overflows float64 for the taste features of some "
            "pair; rescale the features (e.g. divide them by their largest "
            "absolute value)."
        )
    top = largest.max(initial=0.0)
    if 0 < top < 2.0**-500:
        # Every pair tiny: in units of a power of two near the largest, as
        # at an ordinary scale (a pair far smaller still is a tie, as there).
        unit = np.ldexp(1.0, np.frexp(top)[1])
        scaled = diff / unit
        distance = np.sqrt(np.einsum("ij,ij->i", scaled, scaled)) * unit
    huge = largest > 2.0**500  # squares that overflow: each pair in its units
    if huge.any():
        unit = np.ldexp(1.0, np.minimum(np.frexp(largest[huge])[1], 1023))
        scaled = diff[huge] / unit[:, None]
        with np.errstate(over="ignore"):
            distance[huge] = np.sqrt(np.einsum("ij,ij->i", scaled, scaled)) * unit
    keep = distance > 0
    if not keep.any():
        return 1.0
    distance, weights = distance[keep], weights[keep]
    order = np.argsort(distance, kind="stable")
    cumulative = np.cumsum(weights[order])
    middle = np.searchsorted(cumulative, 0.5 * cumulative[-1])
    return float(distance[order][middle])


def _member_rewards(mean, features, items, tastes):
    """Rewards of the members of tastes ``tastes`` (columns): mean plus taste.

    A ValueError naming the item where a reward overflows float64, unless
    NumPy's error state ignores overflows (as for a linear mean reward).
    """
    base = member_rewards([mean], items)
    raising = _overflow_is_an_error()
    with np.errstate(over="ignore", invalid="ignore"):
        rewards = base + features.rewards(item_features(mean, items), tastes)
        total = rewards.sum() if raising else 0.0  # (the cheap test)
    if not np.isfinite(total) and not np.isfinite(rewards).all():
        row = int(np.flatnonzero(~np.isfinite(rewards).all(axis=1))[0])
        raise ValueError(
            f"items row {row}: a member's reward (the population's mean reward "
            f"{base[row, 0]:.3g} plus its taste) overflows float64. Rescale the "
            "features (e.g. divide them by their largest absolute value)."
        )
    return rewards


def _center(features, weights):
    """Weighted mean of the items, the taste features' centre.

    ``np.average`` with the weights rescaled (the same bits, where it is
    finite); for items near the float64 limit, whose sums overflow, the
    mean of the items in units of a power of two per feature (exact).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        center = weighted_mean(features, weights, axis=0)
    if np.isfinite(center).all():
        return center
    largest = np.abs(features).max(axis=0)
    unit = np.ldexp(1.0, np.minimum(np.frexp(largest)[1], 1023))
    with np.errstate(over="ignore"):
        center = weighted_mean(features / unit, weights, axis=0) * unit
    # (Rounding could take a mean of values at the float64 limit past it.)
    return np.clip(center, features.min(axis=0), features.max(axis=0))


def _length_scale(length):
    """1 for lengths in ``[2**-32, 2**32]``; else a power of two within a
    factor of 2 below ``length`` (at most 2**1023), in units of which the
    length is in ``[1, 2)``."""
    if 2.0**-32 <= length <= 2.0**32 or not length > 0:
        return 1.0
    return float(np.ldexp(1.0, np.frexp(length)[1] - 1))
