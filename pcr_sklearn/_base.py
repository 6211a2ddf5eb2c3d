"""What every weighted ensemble of reward members shares: pairs in, votes out.

:class:`~pcr_sklearn.PairwiseCalibratedEnsemble` and the baselines all end up
as fitted reward learners (``estimators_``) with weights on the simplex
(``estimator_weights_``) and a ``vote`` mode, so prediction, scoring, per-member
rewards and tags are written once here and mean the same thing everywhere.

Prediction reads the pairs chunk by chunk (a few MiB of work arrays per
chunk, ``_CHUNK_BYTES``), so its extra memory is a small fraction of the
input whatever the number of pairs, and every output row is computed from its
own pair by the same elementwise arithmetic, so the chunking changes nothing.
Both sides of flat pairs are scored in one call on interleaved rows; members
that are all :class:`~pcr_sklearn.rewards.LinearReward` are scored by one
product that also checks the pairs for NaN/inf; both sides' votes come from
one reward difference per member.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._pairs import (
    check_sample_weight,
    encode_labels,
    validate_items,
    validate_pairs,
)
from ._stages import weighted_error
from .rewards import LinearReward, get_reward_tags, member_rewards
from .utils.validation import check_finite, deferred_finite_checks, sigmoid_pair

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike, NDArray

_F = TypeVar("_F", bound="Callable[..., Any]")


def transactional(fit: _F) -> _F:
    """Make ``fit`` a transaction: on any exception the estimator is as before.

    Fitted state is only ever replaced, never changed in place (members are
    new objects, arrays new arrays), so a shallow copy of ``__dict__`` taken
    before the call restores a previously fitted model exactly, and leaves a
    fresh estimator unfitted.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return wrapper  # type: ignore[return-value]


class BasePairEnsemble(ClassifierMixin, BaseEstimator):
    """Prediction API of a weighted ensemble of reward learners.

    Subclasses have ``estimator`` and ``vote`` parameters and set
    ``estimators_``, ``estimator_weights_`` and ``classes_`` when fitted.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.string = self._text_items
        tags.classifier_tags.multi_class = False
        # The decision is antisymmetric in the two halves of a row, so generic
        # (non-pair) classification data can be unlearnable; the accuracy
        # checks on such data say nothing about pairwise calibration.
        tags.classifier_tags.poor_score = True
        return tags

    def _prototype(self):
        return LinearReward() if self.estimator is None else self.estimator

    @property
    def _text_items(self):
        """Whether the members take text items (their :class:`RewardTags`)."""
        return get_reward_tags(self._prototype()).text_items

    def _check_members(self):
        """Raise unless fitted with at least one member and one weight each.

        A model that says it is fitted but has no members would otherwise
        predict rows of zeros; refusing is the honest answer.
        """
        check_is_fitted(self)
        n_members = len(getattr(self, "estimators_", ()))
        weights = np.asarray(getattr(self, "estimator_weights_", ()))
        if n_members == 0 or weights.shape != (n_members,):
            raise NotFittedError(
                f"This {type(self).__name__} has {n_members} members and "
                f"{weights.size} weights: it is not a usable fitted model. Call "
                "fit first."
            )

    def _validate_pairs(self, X, y="no_validation", *, reset):
        return validate_pairs(self, X, y, reset=reset, text=self._text_items)

    def _chunked_pairs(self, X):
        """Validate ``X`` once; return its items and the row chunks to use.

        Every prediction runs chunk by chunk, so its work arrays (rewards,
        votes, dtype conversions) stay a few MiB whatever the number of
        pairs, and each chunk of pairs is read from memory once, then used
        from cache. Results do not depend on the chunking: every output row
        is computed from its own pair only.

        Returns
        -------
        pairs : _Pairs
        chunks : list of slice
        """
        self._check_members()
        with deferred_finite_checks() as checks:
            items_a, items_b = self._validate_pairs(X, reset=False)
        checks = _chunked_checks(checks, items_a.shape[0])
        pairs = _Pairs(items_a, items_b, checks, self.estimators_)
        step = _chunk_pairs(items_a, len(self.estimators_))
        return pairs, _chunks(pairs.n_pairs, step)

    def _chunk_rewards(self, pairs, rows):
        """Rewards of every member on both sides of the pairs ``rows``.

        Runs validation's deferred finiteness checks on the chunk first.
        Flat pairs are scored in one call on the interleaved rows ``a_0, b_0,
        a_1, b_1, ...`` (contiguous memory: one product, not two on strided
        halves); an item's reward depends on that item alone, so this is the
        same as scoring each side apart, and identical items get identical
        rewards (ties stay exact).
        """
        if pairs.linear is not None:
            return _linear_rewards(pairs, rows)
        for values, name in pairs.checks:
            check_finite(values[rows], name, first_row=rows.start)
        # Votes take the limits of rewards that overflow (inf; a NaN
        # difference is a tie), as the linear path's product does: members
        # that follow NumPy's error state return IEEE's values here.
        with np.errstate(over="ignore", invalid="ignore"):
            if pairs.interleaved is not None:
                try:
                    rewards = member_rewards(
                        self.estimators_,
                        pairs.interleaved[2 * rows.start : 2 * rows.stop],
                    )
                except ValueError:
                    # A member refused an item, naming its row among the
                    # interleaved ones: side by side, the row is the pair's.
                    pass
                else:
                    return rewards[0::2], rewards[1::2]
            return (
                _side_rewards(self.estimators_, pairs.items_a[rows], rows.start),
                _side_rewards(self.estimators_, pairs.items_b[rows], rows.start),
            )

    def _pair_votes(self, X):
        """Member votes for A and for B, each as computed from its own side.

        ``1 - votes_a`` would lose all relative precision where a sharp soft
        vote is near-certain; both sides' votes come from one difference of
        the rewards (see :func:`_chunk_proba`) and keep ``predict_proba`` of
        swapped pairs exactly the reversed columns.

        Returns
        -------
        votes_a, votes_b : ndarray of shape (n_pairs, n_members)
        """
        pairs, chunks = self._chunked_pairs(X)
        shape = (pairs.n_pairs, len(self.estimators_))
        votes_a, votes_b = np.empty(shape), np.empty(shape)
        for rows in chunks:
            diff = _differences(*self._chunk_rewards(pairs, rows))
            if self.vote == "hard":
                # (1 +- sign(d)) / 2 is exact for a sign in {-1, 0, 1}.
                signs = _hard_signs(diff)
                votes_a[rows] = 0.5 + 0.5 * signs
                votes_b[rows] = 0.5 - 0.5 * signs
            else:
                votes_a[rows], votes_b[rows] = _soft_votes(diff)
        return votes_a, votes_b

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Weighted share of members preferring A (column 1) and B (column 0).

        With ``vote="hard"`` members vote ``1[r_j(A) > r_j(B)]`` (1/2 on ties),
        with ``vote="soft"`` they vote ``sigmoid(r_j(A) - r_j(B))``.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.

        Returns
        -------
        proba : ndarray of shape (n_pairs, 2)
            Column 1: the weighted share of members preferring A; column 0:
            one minus it.
        """
        pairs, chunks = self._chunked_pairs(X)
        proba = np.empty((pairs.n_pairs, 2))
        hard = self.vote == "hard"
        for rows in chunks:
            diff = _differences(*self._chunk_rewards(pairs, rows))
            if hard:
                diff = _hard_signs(diff)
            _chunk_proba(diff, hard, self.estimator_weights_, proba[rows])
        return proba

    def _staged_proba(self, X, staged_weights):
        """``predict_proba`` of each member prefix, with its own weights.

        The pairs are read once, chunk by chunk, into compact votes (hard:
        the sign of each reward difference as int8; soft: the differences),
        from which every stage's probabilities are then computed chunk by
        chunk with the arithmetic of :meth:`predict_proba` (so the last stage
        equals it bit for bit): ``k`` (hard) or ``8 k`` (soft) bytes per pair
        besides the yielded arrays, instead of ``16 k`` for both sides'
        float64 votes.

        Parameters
        ----------
        X : array-like of pairs
        staged_weights : list of ndarray
            Entry ``j - 1`` holds the weights of the first ``j`` members.

        Yields
        ------
        proba : ndarray of shape (n_pairs, 2)
            A new array at every stage.
        """
        pairs, chunks = self._chunked_pairs(X)
        shape = (pairs.n_pairs, len(self.estimators_))
        hard = self.vote == "hard"
        compact = np.empty(shape, np.int8 if hard else np.float64)
        for rows in chunks:
            diff = _differences(*self._chunk_rewards(pairs, rows))
            compact[rows] = _hard_signs(diff) if hard else diff
        for j, weights in enumerate(staged_weights, start=1):
            proba = np.empty((shape[0], 2))
            for rows in chunks:
                diff = compact[rows, :j]
                _chunk_proba(
                    diff.astype(np.float64) if hard else diff,
                    hard,
                    weights,
                    proba[rows],
                )
            yield proba

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """``classes_[1]`` where the weighted majority prefers A, else ``classes_[0]``.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.

        Returns
        -------
        labels : ndarray of shape (n_pairs,)
            ``classes_[1]`` (A wins) or ``classes_[0]`` (B wins) per pair.
        """
        prefers_a = self.predict_proba(X)[:, 1] > 0.5
        return self.classes_[prefers_a.astype(int)]

    def score(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> float:
        """Negative pairwise calibration error (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * d) or (n_pairs, 2, d), or text
            Pairs: flat ``[A | B]`` features, stacked features, or
            ``(prompt, response_a, response_b)`` rows for text reward learners.
        y : array-like of shape (n_pairs,)
            Soft labels, or the label values seen in fit.
        sample_weight : array-like of shape (n_pairs,), default=None
            Pair weights of the mean; ``None``: all pairs weigh the same.

        Returns
        -------
        score : float
            ``-calibration_error(y, predict_proba(X)[:, 1])``.
        """
        share = self.predict_proba(X)[:, 1]
        target, weights = self._score_target(y, sample_weight, share.shape[0])
        return -weighted_error(share, target, weights)

    def _score_target(self, y, sample_weight, n_pairs):
        """Soft labels and pair weights for scoring ``n_pairs`` predictions."""
        target, _ = encode_labels(y, self.classes_)
        if target.shape[0] != n_pairs:
            raise ValueError(
                f"y has {target.shape[0]} entries but X has {n_pairs} pairs."
            )
        return target, check_sample_weight(sample_weight, target.shape[0])

    def rewards(self, items: ArrayLike) -> NDArray[np.float64]:
        """Per-member rewards of items, for steering a policy by member.

        Parameters
        ----------
        items : array-like of shape (n_items, d), or (n_items, 2) text rows
            Item features (one half of a flat pair row), or
            ``(prompt, response)`` rows for text reward learners.

        Returns
        -------
        rewards : ndarray of shape (n_items, `n_estimators_`)
            Column ``j`` is member ``j``'s reward; its weight is
            ``estimator_weights_[j]``.
        """
        self._check_members()
        with deferred_finite_checks() as checks:
            items = validate_items(self, items, text=self._text_items)
        n_items = items.shape[0]
        checks = _chunked_checks(checks, n_items)
        # Chunk by chunk, so that no full-size temporary (a float64 copy of
        # float32 items, a class's rewards before placing them) is needed.
        out = None
        for rows in _chunks(n_items, _chunk_pairs(items, len(self.estimators_))):
            for values, name in checks:
                check_finite(values[rows], name, first_row=rows.start)
            rewards = _side_rewards(self.estimators_, items[rows], rows.start)
            if rows.stop - rows.start == n_items:
                return rewards
            if out is None:
                out = np.empty((n_items, rewards.shape[1]))
            out[rows] = rewards
        return out


#: Work memory of one prediction chunk, in bytes (see ``_chunk_pairs``).
_CHUNK_BYTES = 1 << 24


def _chunk_pairs(items, n_members):
    """Pairs per prediction chunk: about ``_CHUNK_BYTES`` of float64 work.

    Per pair, a chunk holds two float64 copies of the items at most (float32
    or strided pairs converted for a product) and about six float64 arrays of
    one value per member (rewards, votes and their temporaries, both sides).
    """
    width = items.shape[1] if items.ndim == 2 and items.dtype != object else 0
    return max(1, _CHUNK_BYTES // (8 * (2 * width + 6 * n_members + 2)))


def _chunks(n_rows, step):
    """Consecutive row slices of at most ``step`` rows covering ``n_rows``."""
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def _chunked_checks(checks, n_rows):
    """Deferred finiteness checks to run chunk by chunk; others run now."""
    chunked = []
    for values, name in checks:
        if values.ndim and values.shape[0] == n_rows:
            chunked.append((values, name))
        else:
            check_finite(values, name)
    return chunked


class _Pairs:
    """Validated pairs as prediction reads them, chunk by chunk.

    Attributes
    ----------
    items_a, items_b : ndarray
        Both sides.
    checks : list of (ndarray, str)
        Validation's deferred finiteness checks, run on each chunk.
    interleaved : ndarray of shape (2 n, d) or None
        The view whose rows are ``a_0, b_0, a_1, b_1, ...``, when the sides
        are the halves of one C-contiguous flat array (what validation
        returns for flat and stacked numeric pairs).
    linear : ndarray of shape (n_members + 1, d) or None
        When every member is a :class:`~pcr_sklearn.rewards.LinearReward`
        and ``interleaved`` covers every value to check: the members'
        coefficients and a row of ones, so one product gives all rewards and
        each item's feature sum. A sum is not finite exactly when the item
        holds a NaN or inf (they propagate through a sum) or its finite
        values' sum overflows, which the exact check then tells apart: the
        finiteness check costs no pass over the pairs of its own.
    """

    def __init__(self, items_a, items_b, checks, members):
        self.items_a = items_a
        self.items_b = items_b
        self.checks = checks
        self.n_pairs = items_a.shape[0]
        self.interleaved = _interleave(items_a, items_b)
        self.linear = None
        start = None if self.interleaved is None else _address(items_a)
        if start is not None and all(type(m) is LinearReward for m in members):
            flat = (self.n_pairs, 2 * items_a.shape[1])
            if all(
                _address(values) == start
                and values.shape == flat
                and values.flags.c_contiguous
                for values, _ in checks
            ):
                coefs = [member.coef_ for member in members]
                self.linear = np.vstack([*coefs, np.ones(items_a.shape[1])])


def _side_rewards(members, items, first_row):
    """``member_rewards`` of a chunk of items that starts at row ``first_row``.

    A member's error names a row of the chunk it was given: past the first
    chunk, the message says where the chunk starts.
    """
    try:
        return member_rewards(members, items)
    except ValueError as exc:
        if not first_row:
            raise
        raise ValueError(f"{exc} (rows counted from row {first_row})") from exc


def _address(array):
    return array.__array_interface__["data"][0]


def _linear_rewards(pairs, rows):
    """Rewards of plain linear members on the pairs ``rows``, in one product.

    The product's last column (a row of ones in ``pairs.linear``) holds each
    item's feature sum: when one is not finite, the chunk holds a NaN or
    inf, or values whose sum overflows, and the exact check decides.
    """
    block = pairs.interleaved[2 * rows.start : 2 * rows.stop]
    # Transposed product: each member's rewards come out contiguous, so the
    # vote arithmetic runs along long rows. A feature sum that overflows is
    # this check's own business (decided below), not a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        product = np.asarray(pairs.linear @ block.T, dtype=np.float64).T
    if pairs.checks:
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(product[:, -1]).all()
        if not finite:
            for values, name in pairs.checks:
                check_finite(values[rows], name, first_row=rows.start)
    rewards = product[:, :-1]
    return rewards[0::2], rewards[1::2]


def _interleave(items_a, items_b):
    if items_a.dtype == object or items_a.ndim != 2 or items_b.dtype != items_a.dtype:
        return None
    n, d = items_a.shape
    size = items_a.itemsize
    flat = (2 * d * size, size)
    if (
        items_b.shape != (n, d)
        or items_a.strides != flat
        or items_b.strides != flat
        or _address(items_b) != _address(items_a) + d * size
    ):
        return None
    # Within the memory of the flat array the two sides are views of, and
    # no more writeable than they are (torch warns on read-only arrays).
    return np.lib.stride_tricks.as_strided(
        items_a,
        shape=(2 * n, d),
        strides=(d * size, size),
        writeable=items_a.flags.writeable,
    )


def _differences(rewards_a, rewards_b):
    """``r(A) - r(B)`` per member; ``-d`` is then exactly ``r(B) - r(A)``."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.subtract(rewards_a, rewards_b, dtype=np.float64)


def _hard_signs(diff):
    """``sign(d)`` in place, a NaN difference counting as a tie (0).

    A's hard vote is ``(1 + sign(d)) / 2``: exactly ``1[d > 0] + 1/2
    1[d == 0]``, and for finite rewards ``d > 0`` exactly when ``r(A) >
    r(B)`` (a difference of two distinct floats never rounds to zero), so
    this is the vote rule of :func:`~pcr_sklearn.utils.validation.hard_votes`.
    A NaN difference (equal infinite rewards, or a member's NaN reward,
    which the protocol excludes) has no preference: a tie.
    """
    signs = np.sign(diff, out=diff)
    nan = np.isnan(signs)
    if nan.any():
        signs[nan] = 0.0
    return signs


def _soft_votes(diff):
    """``sigmoid(d)`` and ``sigmoid(-d)``; 1/2 each for a NaN difference.

    A NaN difference (equal infinite rewards) has no preference: a tie, as
    for a hard vote (:func:`_hard_signs`).
    """
    votes_a, votes_b = sigmoid_pair(diff)
    nan = np.isnan(diff)
    if nan.any():
        votes_a[nan] = votes_b[nan] = 0.5
    return votes_a, votes_b


def _chunk_proba(values, hard, weights, out):
    """``predict_proba`` rows into ``out`` from signs (hard) or differences (soft).

    Hard: A's vote is ``(1 + s) / 2`` and B's ``(1 - s) / 2`` (``s`` the
    sign), so the shares are ``(1 +- s @ w) / 2``: one weighted sum for
    both sides. Soft: ``sigmoid(d)`` and ``sigmoid(-d)``, each to full
    relative precision (:func:`~pcr_sklearn.utils.validation.sigmoid_pair`).
    Either way swapping A and B swaps the columns exactly.
    """
    if hard:
        # The weights are on the simplex, so the shares are 1/2 +- s @ w / 2:
        # a pair every member ties on is exactly 1/2 whatever the rounding of
        # sum(w), and the two shares add up to exactly 1.
        half = _weighted_sum(values, 0.5 * weights)
        np.clip(0.5 - half, 0.0, 1.0, out=out[:, 0])
        np.clip(np.add(0.5, half, out=half), 0.0, 1.0, out=out[:, 1])
        return out
    votes_a, votes_b = _soft_votes(values)
    np.clip(_weighted_sum(votes_b, weights), 0.0, 1.0, out=out[:, 0])
    np.clip(_weighted_sum(votes_a, weights), 0.0, 1.0, out=out[:, 1])
    return out


def _weighted_sum(columns, weights):
    """``columns @ weights`` as a fixed sequence of elementwise operations.

    Member by member, in order: every row's sum is then computed the same
    way whatever the array's memory layout, the chunk it is in or the
    members after it, so chunked predictions, staged prefixes and
    ``predict_proba`` agree bit for bit (a BLAS product's summation order
    depends on all three).
    """
    out = np.multiply(columns[:, 0], weights[0])
    term = np.empty_like(out)
    for j in range(1, len(weights)):
        out += np.multiply(columns[:, j], weights[j], out=term)
    return out
