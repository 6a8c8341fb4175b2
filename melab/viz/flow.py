"""Plots of faces, ROIs and optical flow: colour-coded flow, arrows, ROI boxes, ROI series, head motion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from melab.face import NOSE_ROI, REFERENCE_ROIS, ROI, roi_boxes
from melab.flow import flow_epe, flow_to_rgb, stitch_windows
from melab.viz._style import MIN_FONT_PT, mark_photo, new_figure

__all__ = ["plot_face_rois", "plot_flow", "plot_flow_methods", "plot_flow_quiver", "plot_head_motion",
           "plot_onset_apex", "plot_roi_series", "plot_stitching"]

ROI_COLOURS = {"region": "tab:red", "patch": "lime", "nose": "deepskyblue"}
LABEL_COLOURS = {"region": "tab:red", "patch": "darkgreen", "nose": "tab:blue"}  # the same hues, legible on white
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
    ax.set_title(f"{title}\n(full colour = {max_flow:.2f} px)")
    key.imshow(_wheel(), extent=(-max_flow, max_flow, max_flow, -max_flow))
    key.set_title("colour key")
    key.set_xlabel("dx (px)")
    key.set_ylabel("dy (px, down)")
    fig.tight_layout()
    return mark_photo(fig)  # a noisy colour image: JPEG keeps it small


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
    ax.set_title(f"{title} (arrows ×{gain:.0f})")
    fig.tight_layout()
    return mark_photo(fig)


def _spread(wanted: np.ndarray, gap: float, low: float, high: float) -> np.ndarray:
    """Positions as close to ``wanted`` as possible, in the same order, at least ``gap`` apart, inside [low, high]."""
    order = np.argsort(wanted, kind="stable")
    placed = np.asarray(wanted, float)[order].copy()
    for i in range(1, len(placed)):  # push down past the one above
        placed[i] = max(placed[i], placed[i - 1] + gap)
    overflow = placed[-1] - high if len(placed) else 0.0
    if overflow > 0:  # then pull the column back up, as little as it takes
        placed -= overflow
        for i in range(len(placed) - 2, -1, -1):
            placed[i] = min(placed[i], placed[i + 1] - gap)
    placed = np.maximum(placed, low + gap * np.arange(len(placed)))
    out = np.empty_like(placed)
    out[order] = placed
    return out


def plot_face_rois(image: np.ndarray, landmarks: np.ndarray, rois: Sequence[ROI] = REFERENCE_ROIS, *,
                   nose: bool = True, labels: bool = False, title: str = "Landmarks and ROIs") -> plt.Figure:
    """A face with its 68 landmarks and the ROI boxes (regions red, patches green, nose ridge blue).

    Parameters
    ----------
    image : ``(H, W, 3)`` uint8, usually a face crop.
    landmarks : ``(68, 2)`` pixels in ``image``.
    rois : the ROI table; ``nose`` adds the head-motion box; ``labels`` writes each ROI's name beside the face,
        in the box's colour, with a leader line to the box: nothing covers a box, and no two names overlap (the
        ROIs of the left half of the image are named on the left, the others on the right).
    """
    rois = tuple(rois) + ((NOSE_ROI,) if nose else ())
    boxes = roi_boxes(landmarks, rois, size=image.shape[0] if image.shape[0] == image.shape[1] else None)
    height, width = image.shape[:2]
    fig, ax = new_figure(height=3.9 if labels else 3.4)
    ax.imshow(image)
    ax.plot(landmarks[:, 0], landmarks[:, 1], ".", ms=2.5, color="cyan")
    for roi, (x0, y0, x1, y1) in zip(rois, boxes, strict=True):
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.0, ec=ROI_COLOURS[roi.kind]))
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    ax.set_title(title)
    handles = [Rectangle((0, 0), 1, 1, fill=False, ec=c, lw=1.5, label=k) for k, c in ROI_COLOURS.items()
               if any(r.kind == k for r in rois)]
    if not labels:
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1))
        fig.tight_layout()
        return mark_photo(fig)
    ax.set_axis_off()  # the names take the margins; the crop's size is in the title
    ax.set_title(f"{title}\n({width} × {height} px crop)")
    fig.subplots_adjust(left=0.28, right=0.72, top=0.86, bottom=0.09)
    centres = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2]) - 0.5
    left = centres[:, 0] < width / 2
    axes_inches = ax.get_position().height * fig.get_size_inches()[1]
    gap = 1.3 * MIN_FONT_PT / 72 * height / axes_inches  # one text line, in image pixels
    for side, on_side in (("left", left), ("right", ~left)):
        idx = np.flatnonzero(on_side)
        # ties in height (a region and the patches inside it) are named in order of distance from the margin
        distance = centres[idx, 0] if side == "left" else width - centres[idx, 0]
        wanted = centres[idx, 1] + 1e-3 * distance * (1 if side == "left" else -1)
        rows = _spread(wanted, gap, -0.5 + gap / 2, height - 0.5 - gap / 2)
        for i, y in zip(idx, rows, strict=True):
            x0, _, x1, _ = boxes[i]
            anchor = (x0 - 0.5, centres[i, 1]) if side == "left" else (x1 - 0.5, centres[i, 1])
            ax.annotate(rois[i].name, xy=anchor, xytext=(-0.03 if side == "left" else 1.03, y),
                        textcoords=("axes fraction", "data"), ha="right" if side == "left" else "left",
                        va="center", fontsize=MIN_FONT_PT, color=LABEL_COLOURS[rois[i].kind], annotation_clip=False,
                        arrowprops=dict(arrowstyle="-", color=ROI_COLOURS[rois[i].kind], lw=0.7, shrinkA=1,
                                        shrinkB=0))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    return mark_photo(fig)


def _shade_events(ax, events: pd.DataFrame | None, fps: float, *, mark_micro: bool = False) -> None:
    """Shade the true expressions; ``mark_micro`` also puts a triangle over each ME's apex, since an ME of a few
    frames is a hairline on an axis of a minute."""
    if events is None:
        return
    for kind, colour in KIND_SHADES.items():
        rows = events[events["kind"] == kind]
        for i, ev in enumerate(rows.itertuples()):
            ax.axvspan(ev.onset / fps, (ev.offset + 1) / fps, color=colour, alpha=0.35 if kind == "micro" else 0.15,
                       lw=0, label=f"true {kind}" if i == 0 else None)
        if mark_micro and kind == "micro" and len(rows):
            ax.plot(rows["apex"] / fps, np.ones(len(rows)), "v", color=colour, ms=6, clip_on=False,
                    transform=ax.get_xaxis_transform(), label="ME apex")


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
    fig, axes = new_figure(len(rois), 1, height=0.8 * len(rois) + 1.2, sharex=True, squeeze=False)
    for ax, roi in zip(axes[:, 0], rois, strict=True):
        dx, dy = series[:, names.index(f"{roi}_dx")], series[:, names.index(f"{roi}_dy")]
        _shade_events(ax, events, fps, mark_micro=True)
        ax.plot(t, np.hypot(dx, dy), lw=0.7, color="k")
        ax.set_ylabel(f"{roi}\n(px)", rotation=0, ha="right", va="center")
    axes[-1, 0].set_xlabel("time (s)")
    if events is not None and len(events):
        axes[0, 0].legend(loc="lower left", bbox_to_anchor=(0, 1.08), ncol=3, frameon=False)
    axes[0, 0].set_title(title, pad=30 if events is not None and len(events) else None)
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
    fig, (top, bottom) = new_figure(2, 1, height=4.0, sharex=True)
    top.plot(t, head[:, 0], lw=0.8, label="dx")
    top.plot(t, head[:, 1], lw=0.8, label="dy")
    top.set_ylabel("head (px)")
    top.set_title(title)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="head")
    _shade_events(bottom, events, fps)
    bottom.plot(t, raw[:, c], lw=0.8, color="tab:gray", label="before (raw)")
    bottom.plot(t, series[:, c], lw=0.8, color="k", label="after (compensated)")
    bottom.set_ylabel(f"{channel} (px)")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def plot_onset_apex(image: np.ndarray, *, title: str = "Onset → apex flow: the MERba input") -> plt.Figure:
    """The three channels of :func:`melab.flow.onset_apex_flow`: u and v (pixels, diverging map), strain.

    Parameters
    ----------
    image : ``(3, S, S)``: u (dx), v (dy) in pixels and optical strain (dimensionless).
    """
    fig, axes = new_figure(1, 3, height=2.6)
    lim = max(float(np.abs(image[:2]).max()), 1e-6)
    panels = [("u = dx", "px, + right", dict(cmap="RdBu_r", vmin=-lim, vmax=lim)),
              ("v = dy", "px, + down", dict(cmap="RdBu_r", vmin=-lim, vmax=lim)),
              ("strain", "no unit", dict(cmap="magma"))]
    for ax, channel, (name, unit, kw) in zip(axes, image, panels, strict=True):
        shown = ax.imshow(channel, **kw)
        ax.set_title(name)
        ax.axis("off")
        bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, orientation="horizontal")
        bar.set_label(unit)
        bar.ax.locator_params(nbins=3)
    fig.suptitle(title)
    fig.tight_layout()
    return mark_photo(fig)  # images of measured fields: JPEG keeps them small


def plot_flow_methods(flows: Mapping[str, np.ndarray], truth: np.ndarray, *, mask: np.ndarray | None = None,
                      max_flow: float | None = None, title: str = "Flow methods against the truth") -> plt.Figure:
    """Several flow estimates side by side with the true flow (top row) and their error maps (bottom row).

    Parameters
    ----------
    flows : method name -> ``(H, W, 2)`` estimated flow, pixels (e.g. :func:`melab.flow.optical_flow` per method).
    truth : ``(H, W, 2)`` true flow, pixels (e.g. :func:`melab.flow.crop_true_flow`).
    mask : bool ``(H, W)``; the end-point errors in the titles are averaged inside it (e.g. the ROIs).
    max_flow : magnitude of full colour saturation, pixels (default: the largest true motion).

    Returns
    -------
    matplotlib.figure.Figure
        Top: the colour-coded truth and estimates on one colour scale (wheel key bottom left). Bottom: the
        end-point error ``|estimate − truth|`` per pixel on one shared scale, with the mean EPE in each title.
    """
    if not flows:
        raise ValueError("flows is empty: pass {method name: (H, W, 2) flow}")
    truth = np.asarray(truth, np.float32)
    max_flow = float(np.hypot(truth[..., 0], truth[..., 1]).max()) if max_flow is None else max_flow
    errors = {name: np.linalg.norm(np.asarray(f, np.float64) - truth, axis=-1) for name, f in flows.items()}
    top_err = max(float(np.percentile(e, 99)) for e in errors.values())
    n = len(flows) + 1
    fig, axes = new_figure(2, n, height=1.6 * 2 + 1.6, squeeze=False, layout="constrained")
    axes[0, 0].imshow(flow_to_rgb(truth, max_flow=max_flow))
    axes[0, 0].set_title("truth")
    axes[1, 0].imshow(_wheel(), extent=(-max_flow, max_flow, max_flow, -max_flow))
    axes[1, 0].set_title("colour key")
    axes[1, 0].set_xlabel("dx (px)")
    axes[1, 0].set_ylabel("dy (px)")
    axes[1, 0].locator_params(nbins=3)
    for j, (name, f) in enumerate(flows.items(), start=1):
        axes[0, j].imshow(flow_to_rgb(np.asarray(f, np.float32), max_flow=max_flow))
        axes[0, j].set_title(name)
        shown = axes[1, j].imshow(errors[name], cmap="viridis", vmin=0, vmax=top_err)
        axes[1, j].set_title(f"EPE {flow_epe(f, truth, mask):.2f} px")
    for ax in [*axes[0], *axes[1, 1:]]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{title}\n(top: flow, full colour = {max_flow:.2f} px; bottom: error per pixel"
                 + (", EPE inside the mask)" if mask is not None else ")"))
    bar = fig.colorbar(shown, ax=list(axes[1, 1:]), orientation="horizontal", fraction=0.08, aspect=30)
    bar.set_label("end-point error |estimate − truth| (px)")
    return mark_photo(fig)  # images of measured fields: JPEG keeps them small


def plot_stitching(values: np.ndarray, starts: np.ndarray, n_frames: int, *, channel: int = 0,
                   truth: np.ndarray | None = None, fps: float | None = None, ylabel: str = "displacement (px)",
                   title: str = "Stitching windows into one series") -> plt.Figure:
    """Per-window displacements (top) and two ways of joining them into one series (bottom).

    Parameters
    ----------
    values : ``(n_windows, k)`` or ``(n_windows, k, C)``: ``values[w, j]`` is the displacement of frame
        ``starts[w] + j`` relative to frame ``starts[w]`` (what the pipeline measures in each window).
    starts : ``(n_windows,)`` first frames (:func:`melab.flow.window_starts`).
    n_frames : T.
    channel : the channel drawn when ``values`` has C channels.
    truth : ``(T,)`` optional true displacement relative to frame 0, drawn for comparison.
    fps : frames per second (x axis in seconds when given, else frames).
    ylabel : what the values are, with units.

    Returns
    -------
    matplotlib.figure.Figure
        Top: each window's values at its own frames, alternating colours. Bottom: melab's stitching
        (:func:`melab.flow.stitch_windows`, no detrending: chained offsets, every frame from the window it is
        most central in) against the reference rule (the second half of each window as measured, the first
        k/2 frames left at 0).
    """
    values = np.asarray(values, np.float64)
    if values.ndim == 2:
        values = values[..., None]
    starts = np.asarray(starts, np.int64)
    k = values.shape[1]
    track = stitch_windows(values, starts, n_frames)[:, channel]
    reference = np.zeros(n_frames)
    for w, s in enumerate(starts):
        stop = min(n_frames, s + k)
        reference[s + k // 2:stop] = values[w, k // 2:stop - s, channel]
    scale = 1 / fps if fps else 1
    fig, (top, bottom) = new_figure(2, 1, height=4.4, sharex=True)
    for w, s in enumerate(starts):
        frames = np.arange(s, min(n_frames, s + k))
        top.plot(frames * scale, values[w, :len(frames), channel], color=f"C{w % 2}", lw=1)
    top.set_ylabel(f"{ylabel}\nper window")
    stride = int(starts[1] - starts[0]) if len(starts) > 1 else k
    top.set_title(f"{title}: {len(starts)} windows of k = {k} frames, stride {stride}")
    t = np.arange(n_frames) * scale
    if truth is not None:
        bottom.plot(t, np.asarray(truth, np.float64), color="0.6", lw=3, label="truth")
    bottom.plot(t, reference, color="tab:orange", lw=1, ls="--", label="reference rule (first k/2 = 0)")
    bottom.plot(t, track, color="black", lw=1, label="melab (chained)")
    bottom.set_ylabel(f"{ylabel}\nstitched")
    bottom.set_xlabel("time (s)" if fps else "frame")
    bottom.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False)
    fig.tight_layout()
    return fig
