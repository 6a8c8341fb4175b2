"""Plots for interval decoding: a score timeline with intervals, and a threshold sensitivity map."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from melab.metrics import match_intervals
from melab.viz._style import MIN_FONT_PT, new_figure

__all__ = ["plot_timeline", "plot_baseline_vs_spotter", "plot_sensitivity", "plot_window_iou"]

TRUE_COLOURS = {"micro": "tab:blue", "macro": "tab:purple"}
TP_COLOUR, FP_COLOUR = "tab:green", "tab:red"


def _truth_rows(truth) -> pd.DataFrame:
    if isinstance(truth, pd.DataFrame):
        rows = truth[["onset", "offset"]].copy()
        rows["kind"] = truth["kind"] if "kind" in truth.columns else "micro"
        return rows
    return pd.DataFrame(list(truth), columns=["onset", "offset"]).assign(kind="micro")


def plot_timeline(
    scores,
    truth,
    intervals: Sequence[tuple[int, int]],
    *,
    is_tp: Sequence[bool] | None = None,
    threshold: float | Sequence[float] | None = None,
    fps: float | None = None,
    title: str = "Spotting scores and decoded intervals",
):
    """Draw a score curve with the true expressions and the decoded intervals.

    Parameters
    ----------
    scores : array_like, shape (T,)
        Spotting scores in [0, 1].
    truth : pandas.DataFrame or sequence of (onset, offset)
        True expressions; a ``kind`` column colours MEs (blue) and MaEs (purple).
    intervals : sequence of (onset, offset)
        Decoded intervals, 0-based inclusive.
    is_tp : sequence of bool, optional
        Whether each interval is a TP (green) or a FP (red). Default: matched one-to-one
        against the micro expressions of ``truth`` at IoU 0.5.
    threshold : float or sequence of float, optional
        Score level(s) to draw as dashed lines.
    fps : float, optional
        Shown in the x label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    s = np.asarray(scores, dtype=float)
    fig, ax = new_figure(height=3.0)
    counts = _draw_scores(ax, s, _truth_rows(truth), intervals, is_tp, "score")
    for level in np.atleast_1d(threshold) if threshold is not None else []:
        ax.axhline(level, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("frame" + (f" ({fps:g} fps)" if fps else ""))
    ax.set_ylabel("spotting score")
    ax.set_title(f"{title} ({counts})")
    fig.legend(handles=_legend_handles(), loc="lower center", ncol=4, frameon=False, handlelength=1)
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # the legend sits under the axes, off the curve
    return fig


def _legend_handles() -> list[Patch]:
    return [
        Patch(color=TRUE_COLOURS["micro"], label="true ME"),
        Patch(color=TRUE_COLOURS["macro"], label="true MaE"),
        Patch(color=TP_COLOUR, label="decoded, TP"),
        Patch(color=FP_COLOUR, label="decoded, FP"),
    ]


def _lanes(intervals: Sequence[tuple[int, int]]) -> list[int]:
    """A row for each interval so that intervals in one row neither overlap nor touch (greedy, by onset)."""
    ends: list[int] = []
    rows = [0] * len(intervals)
    for i in sorted(range(len(intervals)), key=lambda j: intervals[j]):
        onset, offset = intervals[i]
        row = next((r for r, end in enumerate(ends) if end < onset - 1), len(ends))
        if row == len(ends):
            ends.append(offset)
        ends[row] = offset
        rows[i] = row
    return rows


def _draw_scores(ax, s: np.ndarray, true: pd.DataFrame, intervals, is_tp, label: str) -> str:
    """A score curve, the true expressions (shaded, and a strip below the curve) and the decoded intervals in
    strips of their own under it (TP green, FP red; overlapping intervals on separate rows, so each one shows).
    Returns the counts as text, for the title."""
    intervals = [(int(a), int(b)) for a, b in intervals]
    if is_tp is None:
        micro = true[true["kind"] == "micro"][["onset", "offset"]].to_numpy()
        matched = {i for i, _, _ in match_intervals(intervals, micro)} if len(intervals) and len(micro) else set()
        is_tp = [i in matched for i in range(len(intervals))]
    rows = _lanes(intervals)
    n_rows = max(rows, default=0) + 1
    strip = 0.07  # height of one strip, in score units
    ax.plot(np.arange(s.size), s, color="black", lw=1, label=label)
    for onset, offset, kind in true.itertuples(index=False):
        colour = TRUE_COLOURS.get(kind, "grey")
        ax.axvspan(onset - 0.5, offset + 0.5, color=colour, alpha=0.12, lw=0)
        ax.fill_between([onset - 0.5, offset + 0.5], -strip, -0.01, color=colour, lw=0)
    for (onset, offset), tp, row in zip(intervals, is_tp, rows, strict=True):
        top = -strip - 0.02 - row * (strip + 0.01)
        ax.fill_between([onset - 0.5, offset + 0.5], top - strip, top, color=TP_COLOUR if tp else FP_COLOUR,
                        edgecolor="white", lw=0.5)
    ax.axhline(-strip - 0.015, color="0.6", lw=0.5)
    ax.set_xlim(-0.5, s.size - 0.5)
    ax.set_ylim(-2 * strip - 0.03 - (n_rows - 1) * (strip + 0.01), 1.05)
    ax.set_yticks([0, 0.5, 1])
    n_tp = int(np.sum(is_tp))
    return f"{n_tp} TP, {len(intervals) - n_tp} FP"


def plot_baseline_vs_spotter(
    spotter_scores,
    baseline_scores,
    truth,
    *,
    spotter_intervals: Sequence[tuple[int, int]] = (),
    baseline_intervals: Sequence[tuple[int, int]] = (),
    fps: float | None = None,
    title: str = "Learned spotter vs training-free feature difference",
):
    """The learned spotter's score curve above the training-free baseline's, on the same frames and truth.

    Parameters
    ----------
    spotter_scores, baseline_scores : array_like, shape (T,)
        Scores in [0, 1]: the spotter's (e.g. LOSO held-out) and
        :func:`melab.baselines.feature_difference_scores`.
    truth : pandas.DataFrame or sequence of (onset, offset)
        True expressions (``kind`` colours MEs and MaEs).
    spotter_intervals, baseline_intervals : sequence of (onset, offset)
        Each method's decoded intervals, drawn as TP (green) / FP (red) bars against the MEs.
    fps : float, optional
        Shown in the x label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    curves = [np.asarray(spotter_scores, dtype=float), np.asarray(baseline_scores, dtype=float)]
    if curves[0].shape != curves[1].shape or curves[0].ndim != 1:
        raise ValueError(f"both score curves must be (T,) of one length, got {curves[0].shape} and {curves[1].shape}")
    true = _truth_rows(truth)
    fig, axes = new_figure(2, 1, height=4.8, sharex=True)
    names = ["learned spotter", "feature difference (no training)"]
    for ax, s, intervals, name in zip(axes, curves, [spotter_intervals, baseline_intervals], names, strict=True):
        counts = _draw_scores(ax, s, true, intervals, None, name)
        ax.set_ylabel("score")
        ax.set_title(f"{name}: {counts}", fontsize=MIN_FONT_PT)
    axes[1].set_xlabel("frame" + (f" ({fps:g} fps)" if fps else ""))
    fig.suptitle(title, fontsize=10)
    fig.legend(handles=_legend_handles(), loc="lower center", ncol=4, frameon=False, handlelength=1)
    fig.tight_layout(rect=(0, 0.06, 1, 1))  # the legend sits under the axes, off the curves
    return fig


def plot_sensitivity(grid: pd.DataFrame, *, value: str = "f1", count: str = "tp",
                     title: str = "SISS spotting F1 by threshold"):
    """Heat map of a score over a (low, high) threshold grid, coloured by a count so that small counts look small.

    Parameters
    ----------
    grid : pandas.DataFrame
        Columns ``low``, ``high``, ``value`` and ``count``, e.g. from :func:`melab.metrics.sensitivity_grid`.
        Missing pairs (``low > high``) are left blank.
    value : str
        Column written in each cell (e.g. F1).
    count : str
        Integer column the colour shows, one colour step per unit (e.g. TP, the MEs found): F1 values of 0.04 and
        0.05 that differ by one ME get neighbouring colours, not the two ends of a stretched scale.

    Returns
    -------
    matplotlib.figure.Figure
    """
    for column in ("low", "high", value, count):
        if column not in grid.columns:
            raise ValueError(f"grid lacks the column {column!r}; it has {list(grid.columns)}")
    table = grid.pivot(index="low", columns="high", values=value).sort_index(ascending=False)
    counts = grid.pivot(index="low", columns="high", values=count).sort_index(ascending=False)
    top = max(int(np.nanmax(counts.to_numpy(dtype=float))), 1)
    fig, ax = new_figure(height=4.4)
    cmap = plt.get_cmap("Blues", top + 1)
    image = ax.imshow(counts.to_numpy(dtype=float), cmap=cmap, aspect="auto", vmin=-0.5, vmax=top + 0.5)
    for (r, c), v in np.ndenumerate(table.to_numpy(dtype=float)):
        if np.isfinite(v):
            n = counts.to_numpy(dtype=float)[r, c]
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=MIN_FONT_PT,
                    color="white" if n > 0.6 * top else "black")
    ax.set_xticks(range(table.shape[1]), [f"{h:g}" for h in table.columns])
    ax.set_yticks(range(table.shape[0]), [f"{lo:g}" for lo in table.index])
    ax.set_xlabel("high threshold (relative)")
    ax.set_ylabel("low threshold (relative)")
    ax.set_title(f"{title}\n(cells: {value}; colour: {count}, one step per unit)")
    bar = fig.colorbar(image, ax=ax, ticks=range(top + 1))
    bar.set_label(f"{count} (MEs found)" if count == "tp" else count)
    fig.tight_layout()
    return fig


def plot_window_iou(ks: Sequence[int] = (2, 5, 8), lengths: Sequence[int] = tuple(range(2, 31)), *,
                    iou: float = 0.5, title: str = "Fixed window against ME length"):
    """The IoU a fixed window of ``2k + 1`` frames can reach with an ME, as a function of the ME's length.

    For every ME length and every peak position inside the ME, the window ``[peak − k, peak + k]`` is compared
    with the ME (:func:`melab.exercises.fixed_window_iou`). The solid line is the best placement, the dashed
    line the worst; the MEGC threshold is dotted. A length matches for sure only where the dashed line is
    above the threshold, and never where the solid line is below it.

    Parameters
    ----------
    ks : sequence of int
        Half windows k to draw, frames.
    lengths : sequence of int
        ME lengths, frames.
    iou : float
        The matching threshold (MEGC: 0.5).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from melab.exercises import fixed_window_iou

    lengths = [int(n) for n in lengths]
    fig, ax = new_figure(height=4.0)
    for i, k in enumerate(ks):
        table = [fixed_window_iou(n, int(k)) for n in lengths]
        ax.plot(lengths, [t.max() for t in table], color=f"C{i}", lw=1.8, marker="o", ms=3,
                label=f"k = {k} ({2 * k + 1}-frame window)")
        ax.plot(lengths, [t.min() for t in table], color=f"C{i}", lw=1.2, ls="--")
    ax.axhline(iou, color="0.3", ls=":", lw=1.2, label=f"IoU {iou:g}: a match above")
    ax.plot([], [], color="0.3", lw=1.8, label="best peak position")
    ax.plot([], [], color="0.3", lw=1.2, ls="--", label="worst peak inside the ME")
    ax.set_xlabel("ME length (frames)")
    ax.set_ylabel("IoU with the ME")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
