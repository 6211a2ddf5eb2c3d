"""``MemberAgreementDisplay``: the members' Kendall-tau matrix and weights."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..utils.validation import check_pair_weights
from ._agreement import kendall_tau_matrix
from ._plot import _axes, _check_int, _require

if TYPE_CHECKING:
    from typing import Self

    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from numpy.typing import ArrayLike


@dataclass(eq=False, repr=False)
class MemberAgreementDisplay:
    """How alike the members rank items: Kendall-tau heatmap and member weights.

    A cell is the Kendall rank correlation of two members' rewards over the
    items (:func:`kendall_tau_matrix`): 1 for alike rankings, -1 for opposite
    ones, grey "n/a" for a member with constant rewards. A bar strip above
    shows the weights. Create one with :meth:`from_estimator`/:meth:`from_rewards`.

    Parameters
    ----------
    tau : ndarray of shape (n_shown, n_shown)
        Kendall tau of the shown members.
    weights : ndarray of shape (n_shown,)
        Their weights in the ensemble (not renormalised).
    members : ndarray of shape (n_shown,), default=None
        Their indices in the ensemble; ``None``: ``0 .. n_shown - 1``.
    n_members : int, default=None
        Size of the ensemble; ``None``: ``n_shown``.

    Attributes
    ----------
    im_ : matplotlib AxesImage
        The heatmap, on ``ax_``.
    bars_ : matplotlib BarContainer
        The weight strip, on ``weights_ax_``.
    colorbar_ : matplotlib Colorbar or None
    text_ : ndarray of matplotlib Text of shape (n_shown, n_shown), or None
    ax_, weights_ax_, figure_ : matplotlib Axes, Axes and Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from pcr_sklearn.metrics import MemberAgreementDisplay
    >>> rewards = np.array([[1.0, 3.0, 1.0], [2.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    >>> disp = MemberAgreementDisplay.from_rewards(rewards, [0.5, 0.3, 0.2])
    >>> disp.tau.round(2)
    array([[ 1.  , -1.  ,  0.33],
           [-1.  ,  1.  , -0.33],
           [ 0.33, -0.33,  1.  ]])
    >>> matplotlib.pyplot.close("all")
    """

    tau: np.ndarray
    weights: np.ndarray
    _: KW_ONLY
    members: np.ndarray | None = None
    n_members: int | None = None

    def plot(
        self,
        ax: Axes | None = None,
        *,
        include_values: bool | None = None,
        cmap: str | Colormap = "RdBu_r",
        colorbar: bool = True,
    ) -> Self:
        """Draw the heatmap, the weight strip and the colorbar.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes of the heatmap; the strip and the colorbar are split off it.
        include_values : bool, default=None
            Write tau in the cells; ``None``: when at most 10 members show.
        cmap : str or matplotlib Colormap, default="RdBu_r"
            Diverging colormap on [-1, 1].
        colorbar : bool, default=True
            Draw a colorbar of tau.

        Returns
        -------
        display : MemberAgreementDisplay
            This display, with ``im_``, ``bars_``, ``ax_``, ``weights_ax_``
            and ``figure_`` set.
        """
        self.ax_, self.figure_ = _axes(ax, "MemberAgreementDisplay.plot")
        from matplotlib import colormaps
        from mpl_toolkits.axes_grid1 import make_axes_locatable

        tau, weights = np.asarray(self.tau), np.asarray(self.weights)
        n = weights.size
        colormap = colormaps.get_cmap(cmap).with_extremes(bad="0.85")  # NaN: grey
        masked = np.ma.masked_invalid(tau)
        self.im_ = self.ax_.imshow(masked, cmap=colormap, vmin=-1.0, vmax=1.0)
        divider = make_axes_locatable(self.ax_)
        self.weights_ax_ = divider.append_axes("top", size="25%", pad=0.08)
        self.bars_ = self.weights_ax_.bar(np.arange(n), weights, color="0.4")
        self.weights_ax_.set(xlim=self.ax_.get_xlim(), xticks=[], ylabel="weight")
        if (self.n_members or n) > n:
            shown = f"{weights.sum():.2f} of the weight"
            title = f"showing {n} of {self.n_members} members ({shown})"
            self.weights_ax_.set_title(title, fontsize="small")
        self.colorbar_ = None
        if colorbar:
            cax = divider.append_axes("right", size="5%", pad=0.08)
            self.colorbar_ = self.figure_.colorbar(self.im_, cax=cax)
            self.colorbar_.set_label("Kendall tau")
        labels = [str(m) for m in (range(n) if self.members is None else self.members)]
        self.ax_.set_xticks(range(n), labels, rotation=90 if n > 10 else 0)
        self.ax_.set_yticks(range(n), labels)
        self.ax_.set(xlabel="member", ylabel="member")
        self.text_ = None
        if include_values or (include_values is None and n <= 10):
            self.text_ = np.empty((n, n), dtype=object)
            for i, j in np.ndindex(n, n):
                value = tau[i, j]
                text = "n/a" if np.isnan(value) else f"{value:.2f}"
                color = "white" if abs(value) > 0.6 else "black"  # legible on dark
                style = {"ha": "center", "va": "center", "size": "small", "c": color}
                self.text_[i, j] = self.ax_.text(j, i, text, **style)
        return self

    @classmethod
    def from_rewards(
        cls,
        rewards: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        max_members: int | None = 16,
        **kwargs: Any,
    ) -> Self:
        """Kendall tau of members' rewards, with their weights, and plot.

        Parameters
        ----------
        rewards : array-like of shape (n_items, n_members)
            Column ``j``: member ``j``'s reward of each item.
        weights : array-like of shape (n_members,), default=None
            Member weights; ``None``: equal.
        max_members : int or None, default=16
            Show the heaviest so many members (ties: the first), in member
            order, labelled by index; ``None``: all. Kendall tau costs
            ``O(k^2)`` rank correlations, and larger heatmaps are unreadable.
        **kwargs : dict
            Passed to :meth:`plot` (``ax``, ``include_values``, ...).

        Returns
        -------
        display : MemberAgreementDisplay
        """
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.ndim != 2 or rewards.shape[1] == 0:
            raise ValueError(
                "rewards must be 2-D (n_items, n_members) with at least one "
                f"member, got shape {rewards.shape}."
            )
        k = rewards.shape[1]
        weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights)
        if weights.shape != (k,):
            raise ValueError(f"weights must have shape ({k},), got {weights.shape}.")
        weights = check_pair_weights(weights, k, "weights")  # finite, >= 0
        _check_int(1 if max_members is None else max_members, "max_members", 1)
        members = np.sort(np.argsort(-weights, kind="stable")[:max_members])
        tau = kendall_tau_matrix(rewards[:, members])
        display = cls(tau, weights[members], members=members, n_members=k)
        return display.plot(**kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        items: ArrayLike,
        *,
        max_members: int | None = 16,
        **kwargs: Any,
    ) -> Self:
        """Agreement of a fitted ensemble's members on ``items``, and plot.

        Parameters
        ----------
        estimator : fitted estimator with ``rewards`` and ``estimator_weights_``
            A fitted ensemble (or baseline) whose members to compare.
        items : array-like
            Items to rank (one side of a pair), as ``rewards`` takes them.
        max_members : int or None, default=16
            Show the heaviest so many members; see :meth:`from_rewards`.
        **kwargs : dict
            Passed to :meth:`plot` (``ax``, ``include_values``, ...).

        Returns
        -------
        display : MemberAgreementDisplay
        """
        _require(estimator, "rewards", "MemberAgreementDisplay.from_estimator")
        rewards = estimator.rewards(items)
        weights = getattr(estimator, "estimator_weights_", None)
        if weights is None:
            name = type(estimator).__name__
            raise ValueError(f"{name} has no estimator_weights_; is it fitted?")
        return cls.from_rewards(rewards, weights, max_members=max_members, **kwargs)
