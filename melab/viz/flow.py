"""Plots of faces, ROIs and optical flow: colour-coded flow, arrows, ROI boxes, ROI series, head motion."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from melab.face import NOSE_ROI, REFERENCE_ROIS, ROI, roi_boxes
from melab.flow import flow_to_rgb
from melab.viz._style import new_figure

__all__ = ["plot_face_rois", "plot_flow", "plot_flow_quiver", "plot_head_motion", "plot_onset_apex",
           "plot_roi_series"]

ROI_COLOURS = {"region": "tab:red", "patch": "lime", "nose": "deepskyblue"}
KIND_SHADES = {"micro": "tab:red", "macro": "tab:blue"}


def _wheel(n: int = 64) -> np.ndarray:
    """The colour wheel itself: flow_to_rgb of a disc of unit vectors, white outside."""
    yy, xx = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]
    img = flow_to_rgb(np.stack([xx, yy], -1), max_flow=1.0)
    img[np.hypot(xx, yy) > 1] = 255
    return img


def plot_flow(flow: np.ndarray, *, max_flow: float | None = None, title: str = "Optical flow") -> plt.Figure:
    """Colour-coded flow (Middlebury wheel: hue = direction, saturation = magnitude), with the wheel as key.

    Parameters
    ----------
    flow : ``(H, W, 2)`` pixels.
    max_flow : magnitude of full saturation, pixels (default: the largest in ``flow``).
    """
    mag = np.hypot(flow[..., 0], flow[..., 1])
    max_flow = float(mag.max()) if max_flow is None else max_flow
    fig, (ax, key) = new_figure(1, 2, height=3.2, gridspec_kw={"width_ratios": [3, 1]})
    ax.imshow(flow_to_rgb(flow, max_flow=max_flow))
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    ax.set_title(f"{title}\n(full colour = {max_flow:.2f} px)", fontsize=9)
    key.imshow(_wheel(), extent=(-max_flow, max_flow, max_flow, -max_flow))
    key.set_title("colour key", fontsize=8)
    key.set_xlabel("dx (px)", fontsize=7)
    key.set_ylabel("dy (px)", fontsize=7)
    key.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def plot_flow_quiver(image: np.ndarray, flow: np.ndarray, *, step: int = 8, gain: float | None = None,
                     min_px: float = 0.05, title: str = "Flow over the face") -> plt.Figure:
    """Flow arrows over a face image.

    Parameters
    ----------
    image : ``(H, W, 3)`` uint8, the reference frame of ``flow``.
    flow : ``(H, W, 2)`` pixels.
    step : one arrow every ``step`` pixels.
    gain : arrow length per pixel of motion (default: the longest arrow spans ``1.5 step`` pixels).
    min_px : arrows shorter than this (pixels of motion) are hidden.
    """
    h, w = flow.shape[:2]
    yy, xx = np.mgrid[step // 2:h:step, step // 2:w:step]
    f = flow[yy, xx]
    mag = np.hypot(f[..., 0], f[..., 1])
    gain = 1.5 * step / max(float(mag.max()), 1e-6) if gain is None else gain
    keep = mag > min_px
    fig, ax = new_figure(height=3.2)
    ax.imshow(image)
    ax.quiver(xx[keep], yy[keep], gain * f[keep, 0], gain * f[keep, 1], color="yellow", angles="xy",
              scale_units="xy", scale=1, width=0.006)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    ax.set_title(f"{title} (arrows ×{gain:.0f})", fontsize=9)
    fig.tight_layout()
    return fig


def plot_face_rois(image: np.ndarray, landmarks: np.ndarray, rois: Sequence[ROI] = REFERENCE_ROIS, *,
                   nose: bool = True, labels: bool = False, title: str = "Landmarks and ROIs") -> plt.Figure:
    """A face with its 68 landmarks and the ROI boxes (regions red, patches green, nose ridge blue).

    Parameters
    ----------
    image : ``(H, W, 3)`` uint8, usually a face crop.
    landmarks : ``(68, 2)`` pixels in ``image``.
    rois : the ROI table; ``nose`` adds the head-motion box; ``labels`` writes the ROI names.
    """
    rois = tuple(rois) + ((NOSE_ROI,) if nose else ())
    boxes = roi_boxes(landmarks, rois, size=image.shape[0] if image.shape[0] == image.shape[1] else None)
    fig, ax = new_figure(height=3.4)
    ax.imshow(image)
    ax.plot(landmarks[:, 0], landmarks[:, 1], ".", ms=2.5, color="cyan")
    for roi, (x0, y0, x1, y1) in zip(rois, boxes, strict=True):
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=0.9,
                               ec=ROI_COLOURS[roi.kind]))
        if labels:
            ax.text(x0, y0 - 1, roi.name, fontsize=4.5, color=ROI_COLOURS[roi.kind])
    handles = [Rectangle((0, 0), 1, 1, fill=False, ec=c, label=k) for k, c in ROI_COLOURS.items()
               if any(r.kind == k for r in rois)]
    if handles:
        ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1))
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _shade_events(ax, events: pd.DataFrame | None, fps: float) -> None:
    if events is None:
        return
    for kind, colour in KIND_SHADES.items():
        for i, ev in enumerate(events[events["kind"] == kind].itertuples()):
            ax.axvspan(ev.onset / fps, (ev.offset + 1) / fps, color=colour, alpha=0.18, lw=0,
                       label=f"true {kind}" if i == 0 else None)


def plot_roi_series(series: np.ndarray, channels: Sequence[str], *, fps: float, events: pd.DataFrame | None = None,
                    rois: Sequence[str] | None = None, title: str = "ROI motion") -> plt.Figure:
    """Motion magnitude ``sqrt(dx² + dy²)`` of some ROIs over time, with the true expressions shaded.

    Parameters
    ----------
    series : ``(T, C)`` ROI series (pixels), channels ``<roi>_dx, <roi>_dy``.
    channels : the C channel names.
    fps : frames per second (the x axis is in seconds).
    events : events table of the video (``onset, offset, kind``): micro red, macro blue.
    rois : ROI names to draw (default: the five regions of the reference table).
    """
    names = list(channels)
    rois = list(rois) if rois is not None else [r.name for r in REFERENCE_ROIS if r.kind == "region"]
    t = np.arange(len(series)) / fps
    fig, axes = new_figure(len(rois), 1, height=0.75 * len(rois) + 0.9, sharex=True, squeeze=False)
    for ax, roi in zip(axes[:, 0], rois, strict=True):
        dx, dy = series[:, names.index(f"{roi}_dx")], series[:, names.index(f"{roi}_dy")]
        _shade_events(ax, events, fps)
        ax.plot(t, np.hypot(dx, dy), lw=0.7, color="k")
        ax.set_ylabel(f"{roi}\n(px)", fontsize=6, rotation=0, ha="right", va="center")
        ax.tick_params(labelsize=6)
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].set_title(title, fontsize=9)
    if events is not None and len(events):
        axes[0, 0].legend(fontsize=6, loc="upper right")
    fig.tight_layout(h_pad=0.2)
    return fig


def plot_head_motion(head: np.ndarray, raw: np.ndarray, series: np.ndarray, channels: Sequence[str], *,
                     fps: float, channel: str = "brow_r_dy", events: pd.DataFrame | None = None,
                     title: str = "Head motion and its compensation") -> plt.Figure:
    """The nose-ridge head track, and one ROI channel before and after subtracting it.

    Parameters
    ----------
    head : ``(T, 2)`` head displacement (dx, dy), pixels (:attr:`melab.flow.FlowSeries.head`).
    raw, series : ``(T, C)`` ROI series before and after compensation, pixels.
    channels : the C channel names; ``channel`` is the one drawn.
    fps : frames per second; ``events`` shades the true expressions.
    """
    c = list(channels).index(channel)
    t = np.arange(len(head)) / fps
    fig, (top, bottom) = new_figure(2, 1, height=3.6, sharex=True)
    top.plot(t, head[:, 0], lw=0.8, label="dx")
    top.plot(t, head[:, 1], lw=0.8, label="dy")
    top.set_ylabel("head (px)")
    top.set_title(title, fontsize=9)
    top.legend(fontsize=6, loc="upper left")
    _shade_events(bottom, events, fps)
    bottom.plot(t, raw[:, c], lw=0.8, color="tab:gray", label="before (raw)")
    bottom.plot(t, series[:, c], lw=0.8, color="k", label="after (compensated)")
    bottom.set_ylabel(f"{channel} (px)")
    bottom.set_xlabel("time (s)")
    bottom.legend(fontsize=6, loc="upper left", ncol=2)
    fig.tight_layout()
    return fig


def plot_onset_apex(image: np.ndarray, *, title: str = "Onset → apex flow: the MERba input") -> plt.Figure:
    """The three channels of :func:`melab.flow.onset_apex_flow`: u and v (pixels, diverging map), strain.

    Parameters
    ----------
    image : ``(3, S, S)``: u (dx), v (dy) in pixels and optical strain (dimensionless).
    """
    fig, axes = new_figure(1, 3, height=2.3)
    lim = max(float(np.abs(image[:2]).max()), 1e-6)
    for ax, channel, name, kw in zip(axes, image, ("u = dx (px)", "v = dy (px)", "strain"),
                                     (dict(cmap="RdBu_r", vmin=-lim, vmax=lim),) * 2 + (dict(cmap="magma"),),
                                     strict=True):
        shown = ax.imshow(channel, **kw)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
