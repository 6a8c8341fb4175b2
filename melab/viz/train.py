"""Plots of training: windows and their targets, loss curves, spot scores against the truth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from melab.data.splits import str3_classes
from melab.flow import channel_names, window_starts
from melab.train import frame_targets
from melab.viz._style import new_figure

__all__ = ["plot_history", "plot_spot_scores", "plot_windows"]


def _shade_events(ax, events: pd.DataFrame, *, fps: float | None, kinds: Sequence[str] = ("micro", "macro")):
    """Shade annotated expressions: MEs in orange, macro-expressions in grey."""
    colours = {"micro": "tab:orange", "macro": "0.6"}
    scale = 1 / fps if fps else 1
    for kind in kinds:
        for i, ev in enumerate(events[events["kind"] == kind].itertuples()):
            ax.axvspan(ev.onset * scale, (ev.offset + 1) * scale, color=colours.get(kind, "tab:green"), alpha=0.25,
                       lw=0, label=f"{kind} (truth)" if i == 0 else None)


def plot_windows(series: np.ndarray, events: pd.DataFrame, *, k: int, stride: int | None = None,
                 channels: Sequence[int] = (0, 1), first: int = 0, n_windows: int = 6,
                 dataset: str = "synthetic", names: Sequence[str] | None = None, title: str = "Windows and targets"):
    """ROI series (top), the windows cut from it (middle) and the per-frame targets (bottom).

    Parameters
    ----------
    series : np.ndarray
        (T, C) ROI series of one video, pixels.
    events : pd.DataFrame
        Events of this video.
    k, stride : int
        Window length and step in frames.
    channels : sequence of int
        Channels to draw.
    first, n_windows : int
        Draw windows ``first .. first + n_windows - 1`` and the frames they span.
    dataset : str
        Class protocol of :func:`melab.train.frame_targets`.
    names : sequence of str, optional
        The C channel names (default: :func:`melab.flow.channel_names` when C is 36, as in the reference ROIs,
        e.g. ``brow_r_dx``).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    stride = stride or k // 2
    starts = window_starts(len(series), k, stride)[first:first + n_windows]
    lo, hi = int(starts[0]), int(starts[-1]) + k
    frames = np.arange(lo, hi)
    spot, label = frame_targets(len(series), events, dataset=dataset)
    if names is None:
        names = channel_names() if series.shape[1] == len(channel_names()) else [f"channel {c}" for c in range(
            series.shape[1])]
    fig, (ax, wx, bx) = new_figure(3, 1, height=5.2, sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]})
    for c in channels:
        ax.plot(frames, series[lo:hi, c], lw=1, label=names[c])
    ax.set_ylabel("ROI flow (px)")
    ax.set_title(f"{title}: k = {k}, stride = {stride}")
    right = dict(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)  # legends beside, never on, the data
    shown = events[(events["offset"] >= lo) & (events["onset"] < hi)]
    _shade_events(ax, shown, fps=None)  # MEs and macro-expressions: only the MEs are targets (bottom panel)
    ax.legend(**right)
    ax.set_xlim(lo, hi - 1)
    for i, s in enumerate(starts):
        positive = spot[s:s + k].max() > 0
        wx.plot([s, s + k - 1], [i, i], color="tab:orange" if positive else "0.5", lw=5, solid_capstyle="butt")
    wx.set_yticks(range(len(starts)), [f"{int(s)}" for s in starts])
    wx.set_ylim(len(starts) - 0.5, -0.5)
    wx.set_ylabel("window\n(first frame)")
    wx.legend(handles=[Line2D([], [], color="tab:orange", lw=5, label="holds an ME\n(positive)"),
                       Line2D([], [], color="0.5", lw=5, label="no ME\n(negative)")], **right)
    classes = str3_classes(dataset)
    bx.fill_between(frames, spot[lo:hi], step="mid", alpha=0.4, label="spot target\n(0/1 box)")
    inside = label[lo:hi] < len(classes)
    for c, name in enumerate(classes):
        mask = inside & (label[lo:hi] == c)
        if mask.any():
            bx.scatter(frames[mask], np.full(mask.sum(), 0.5), s=8, color=f"C{4 + c}", label=f"class: {name}")
    bx.set_ylim(-0.05, 1.1)
    bx.set_xlabel("frame")
    bx.set_ylabel("target")
    bx.legend(**right)
    fig.tight_layout(h_pad=0.3)
    return fig


def plot_history(history: pd.DataFrame, *, columns: Sequence[str] | None = None, title: str = "Training loss"):
    """Loss curves per epoch; with a ``subject`` column (LOSO), one thin line per fold and their mean.

    Parameters
    ----------
    history : pd.DataFrame
        Output of :func:`melab.train.fit` (``epoch``, ``loss`` and loss parts).
    columns : sequence of str, optional
        Columns to draw; default ``loss`` and every loss part present (mse, ce, coarse, fine).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    columns = list(columns or [c for c in ("loss", "mse", "ce", "coarse", "fine") if c in history])
    fig, axes = new_figure(1, len(columns), height=2.6)
    axes = np.atleast_1d(axes)
    for ax, col in zip(axes, columns, strict=True):
        if "subject" in history:
            for _, fold in history.groupby("subject"):
                ax.plot(fold["epoch"], fold[col], color="0.7", lw=0.8)
            mean = history.groupby("epoch")[col].mean()
            ax.plot(mean.index, mean.values, color="C0", lw=2, label="mean over folds")
            ax.legend()
        else:
            ax.plot(history["epoch"], history[col], marker="o", ms=3)
        ax.set_title(col)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (a.u.)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_spot_scores(spot: np.ndarray, events: pd.DataFrame, *, fps: float | None = None,
                     others: dict[str, np.ndarray] | None = None,
                     intervals: Sequence[tuple[int, int]] | None = None, title: str = "Spot scores vs truth"):
    """Per-frame spotting scores over a whole video, on the annotated MEs and macro-expressions.

    Parameters
    ----------
    spot : np.ndarray
        (T,) scores in [0, 1].
    events : pd.DataFrame
        Events of this video (shaded: MEs orange, macro-expressions grey).
    fps : float, optional
        Frame rate: the x axis is in seconds when given, else in frames.
    others : dict, optional
        More (T,) curves to compare, by label (e.g. a baseline such as the ROI flow magnitude). Each gets its
        own panel below the spotter's, with its label on the y axis: one quantity per axis.
    intervals : sequence of (onset, offset), optional
        Decoded intervals, drawn as bars under the curve.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    others = others or {}
    fig, axes = new_figure(1 + len(others), 1, height=2.8 + 1.5 * len(others), sharex=True, squeeze=False)
    ax = axes[0, 0]
    scale = 1 / (fps or 1)
    t = np.arange(len(spot)) * scale
    _shade_events(ax, events, fps=fps)
    ax.plot(t, spot, color="C0", lw=1, label="spotter")
    for j, (on, off) in enumerate(intervals or []):
        ax.plot([on * scale, (off + 1) * scale], [-0.05, -0.05], color="C3", lw=4, solid_capstyle="butt",
                label="decoded" if j == 0 else None)
    ax.set_ylim(-0.1, 1.05)
    ax.set_ylabel("ME score (0–1)")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=4, frameon=False)
    ax.set_title(title, pad=26)
    for i, (name, curve) in enumerate(others.items(), start=1):
        bx = axes[i, 0]
        _shade_events(bx, events, fps=fps)
        bx.plot(t, curve, color=f"C{i + 1}", lw=0.8)
        bx.set_ylabel(name)
    axes[-1, 0].set_xlabel("time (s)" if fps else "frame")
    fig.tight_layout()
    return fig
