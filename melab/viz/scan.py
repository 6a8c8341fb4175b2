"""Plots for scan orders and the selective scan: scan paths as arrows, local windows over an image, the
token-by-token slider frame, and how Δ controls the memory of the hidden state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from melab.scan import scan_order, scan_progress
from melab.viz._style import MIN_FONT_PT, mark_photo, new_figure

__all__ = ["plot_scan_paths", "plot_scan_step", "plot_state_decay", "plot_windows"]


def _draw_path(ax, order: np.ndarray, w: int, *, origin=(0.0, 0.0), cell: float = 1.0, colour="tab:blue",
               lw: float = 1.2, head: float = 0.18) -> None:
    """Arrows from token to token (cell centres), a dot on the first token; jumps drawn dashed."""
    rows, cols = np.divmod(np.asarray(order), w)
    x = origin[0] + (cols + 0.5) * cell
    y = origin[1] + (rows + 0.5) * cell
    for i in range(len(order) - 1):
        jump = abs(rows[i + 1] - rows[i]) + abs(cols[i + 1] - cols[i]) > 1
        ax.annotate("", xy=(x[i + 1], y[i + 1]), xytext=(x[i], y[i]),
                    arrowprops=dict(arrowstyle=f"-|>,head_width={head},head_length={1.6 * head}", color=colour,
                                    lw=lw, linestyle="--" if jump else "-", alpha=0.5 if jump else 1.0,
                                    shrinkA=0, shrinkB=0))
    ax.plot(x[0], y[0], "o", color="tab:red", ms=5, zorder=3)


def _grid_axes(ax, h: int, w: int, title: str) -> None:
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(w) + 0.5, [str(c) for c in range(w)])
    ax.set_yticks(np.arange(h) + 0.5, [str(r) for r in range(h)])
    for k in range(w + 1):
        ax.axvline(k, color="0.85", lw=0.6)
    for k in range(h + 1):
        ax.axhline(k, color="0.85", lw=0.6)
    ax.set_title(title)


def plot_scan_paths(h: int, w: int, kinds: Sequence[str], *, ncols: int = 4,
                    title: str = "Scan orders (red dot: first token; dashed: a jump)") -> plt.Figure:
    """Each scan kind drawn as arrows through an ``h x w`` token grid.

    Parameters
    ----------
    h, w : grid height and width, tokens.
    kinds : scan kinds (see :func:`melab.scan.scan_order`), one panel each.
    ncols : panels per row.
    """
    nrows = int(np.ceil(len(kinds) / ncols))
    fig, axes = new_figure(nrows, ncols, height=1.8 * nrows + 0.4, squeeze=False)
    for ax, kind in zip(axes.flat, kinds, strict=False):
        _grid_axes(ax, h, w, kind)
        _draw_path(ax, scan_order(h, w, kind), w)
    for ax in axes.flat[len(kinds):]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("row (token)")
    for ax in axes[-1]:
        ax.set_xlabel("column (token)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_scan_step(h: int, w: int, kind: str, step: int) -> plt.Figure:
    """One frame of the scan slider: tokens visited so far, numbered, and the path up to ``step``.

    Wraps :func:`melab.scan.scan_progress` (the pure function the slider calls).
    """
    frame = scan_progress(h, w, kind, step)
    fig, ax = new_figure(1, 1, height=3.4)
    shown = np.ma.masked_less(frame, 0)
    ax.imshow(shown, cmap="viridis", vmin=0, vmax=h * w - 1, extent=(0, w, h, 0))
    _grid_axes(ax, h, w, f"{kind}: token {step + 1} of {h * w}")
    order = scan_order(h, w, kind)[: step + 1]
    if len(order) > 1:
        _draw_path(ax, order, w, colour="white", lw=1.5)
    r, c = divmod(int(order[-1]), w)
    ax.add_patch(Rectangle((c, r), 1, 1, fill=False, ec="tab:red", lw=2))
    for (rr, cc), v in np.ndenumerate(frame):
        if v >= 0:
            ax.text(cc + 0.08, rr + 0.1, str(v), ha="left", va="top", fontsize=MIN_FONT_PT,
                    color="black" if v > 0.6 * (h * w - 1) else "white")
    ax.set_xlabel("column (token)")
    ax.set_ylabel("row (token)")
    fig.tight_layout()
    return fig


def plot_windows(image: np.ndarray, win_px: int, *, token_px: int | None = None, kind: str | None = None,
                 window: tuple[int, int] = (0, 0), title: str = "Local windows") -> plt.Figure:
    """Non-overlapping windows drawn over an image, with the tokens and a scan path in one window.

    Parameters
    ----------
    image : ``(H, W, 3)`` RGB (uint8 or float in [0, 1]), e.g. a colour-coded onset→apex flow.
    win_px : window side in image pixels (a window of ``win`` tokens of ``token_px`` pixels).
    token_px : token (feature-map cell) side in pixels; draws the token grid in ``window`` if given.
    kind : scan kind drawn through the tokens of ``window`` (needs ``token_px``).
    window : (row, column) of the highlighted window.
    """
    hgt, wid = image.shape[:2]
    fig, ax = new_figure(1, 1, height=3.6)
    ax.imshow(image, extent=(0, wid, hgt, 0))
    for x in range(0, wid + 1, win_px):  # dark lines: a colour-coded flow is near white where nothing moves
        ax.axvline(x, color="0.2", lw=1.0, ls="--")
    for y in range(0, hgt + 1, win_px):
        ax.axhline(y, color="0.2", lw=1.0, ls="--")
    x0, y0 = window[1] * win_px, window[0] * win_px
    if token_px:
        n = win_px // token_px
        for k in range(1, n):
            ax.plot([x0 + k * token_px] * 2, [y0, y0 + win_px], color="tab:red", lw=0.5)
            ax.plot([x0, x0 + win_px], [y0 + k * token_px] * 2, color="tab:red", lw=0.5)
        if kind:
            _draw_path(ax, scan_order(n, n, kind), n, origin=(x0, y0), cell=token_px, colour="black", lw=0.9,
                       head=0.12)
    ax.add_patch(Rectangle((x0, y0), win_px, win_px, fill=False, ec="tab:red", lw=2.5))
    ax.set_xlim(0, wid)
    ax.set_ylim(hgt, 0)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    n_windows = (hgt // win_px) * (wid // win_px)
    ax.set_title(f"{title}: {n_windows} windows of {win_px}×{win_px} px\n(dashed: windows; red: the one scanned"
                 + (f", {kind}" if kind and token_px else "") + ")")
    fig.tight_layout()
    return mark_photo(fig)  # a colour-coded flow image: JPEG keeps it small


def plot_state_decay(responses: Mapping[str, np.ndarray], *, log: bool = False, marks: Sequence[int] = (),
                     ylabel: str = "h_t (state units)", title: str = "How Δ controls memory") -> plt.Figure:
    """Hidden-state (or output) traces over time, one line per setting.

    Parameters
    ----------
    responses : label -> ``(L,)`` trace, e.g. the output of a scan fed an impulse at t = 0, per Δ.
    log : logarithmic y axis (an exponential decay is then a straight line).
    marks : time steps to mark with a vertical line (e.g. where Δ spikes).
    ylabel : y-axis label, with units.
    """
    fig, ax = new_figure(1, 1, height=2.8)
    for label, trace in responses.items():
        trace = np.abs(np.asarray(trace, dtype=float)) if log else np.asarray(trace, dtype=float)
        ax.plot(np.arange(len(trace)), np.where(trace > 0, trace, np.nan) if log else trace, label=label, lw=1.4)
    for t in marks:
        ax.axvline(t, color="0.5", ls=":", lw=1)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("time step t (tokens)")
    ax.set_ylabel(f"|{ylabel}|, log scale" if log else ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
