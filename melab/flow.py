"""Optical flow on faces: dense flow, windowed video flow, ROI time series, strain, and extraction at scale.

Conventions (DESIGN.md): flow is float32 ``(H, W, 2)`` in pixels, ``(dx, dy)`` from the reference frame to
the target frame: ``flow[y, x]`` is the displacement of the reference pixel ``(x, y)``. ROI series are
float32 ``(T, C)`` with C = 2 x ROIs, channels ``<roi>_dx, <roi>_dy`` (see :func:`channel_names`).

The ROI-series pipeline (:func:`roi_flow_series`) follows the reference implementation of BoostingVRME /
ME-TST, and fixes what it leaves undefined:

1. **Windows.** Frames are cut into windows of ``k`` frames with stride ``k // 2``; the last window is
   aligned to the end of the video so that every frame is in at least one window.
2. **Crop.** Each window is cropped with the reference rule from the landmarks of its *first* frame
   (:func:`melab.face.crop_affine`), and every frame of the window is compared with that first frame.
3. **Head motion.** The nose-ridge box (:data:`melab.face.NOSE_ROI`, the upper ridge) gives the head
   displacement: the mean flow of its top 70 % pixels by magnitude. If it exceeds ``recentre_px`` (1 px,
   as in the reference) the target crop is shifted by it and the flow recomputed (at most
   ``max_recentre`` times); each frame starts from the previous frame's displacement, so re-centring
   rarely costs an extra flow. The remaining nose flow is subtracted from the flow before the ROI
   statistics (``compensate=True``).
4. **ROI statistic.** Per ROI, the mean dx and dy of the top ``p`` fraction of its pixels by magnitude
   (p = 0.3 for regions, 0.2 for patches).
5. **Stitching** (:func:`stitch_windows`): a window's values are displacements relative to its first frame,
   so consecutive windows differ by a constant over their overlap. The constant is estimated as the median
   difference over the overlap and the windows are chained into one track; each frame takes its value from
   the window in which it is closest to the centre (ties: the earlier window), where the flow is most
   reliable. Finally a slow baseline (median over ``detrend`` x k frames, sampled at the window centres and
   interpolated) is subtracted, so that chaining errors and slow pose changes do not accumulate. Every frame
   gets a value, and the value depends only on the video, ``k`` and ``stride``: not on how videos or windows
   are batched. (The reference takes each frame from the second half of a window and leaves the first k/2
   frames of a video at zero.)
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
import pickle
import time
import traceback
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Empty, Full

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from melab import checks
from melab.atomic import atomic_path, remove_stale_temporaries
from melab.data.cache import content_digest
from melab.face import (
    NOSE_ROI,
    REFERENCE_ROIS,
    ROI,
    apply_crop,
    crop_affine,
    roi_boxes,
    warn_landmark_jumps,
)
from melab.workers import die_with_parent, map_processes, with_context, worker_died

__all__ = [
    "CODE_VERSION",
    "DIS_PRESETS",
    "FARNEBACK_PARAMS",
    "FlowSeries",
    "RoiFlowStream",
    "RoiFlowWorkers",
    "TVL1_FAST",
    "channel_names",
    "check_landmarks_in_frame",
    "crop_true_flow",
    "default_k",
    "extract_roi_series",
    "flow_accuracy",
    "flow_epe",
    "flow_params",
    "flow_to_rgb",
    "onset_apex_flow",
    "optical_flow",
    "optical_strain",
    "REFERENCE_NOSE_ROI",
    "REFERENCE_SERIES_OPTIONS",
    "REFERENCE_TOP_P",
    "reference_windows",
    "roi_flow_series",
    "roi_series",
    "stitch_windows",
    "top_p_mean",
    "video_flow",
    "window_starts",
]

# Bump when a change alters extracted series: it is part of every cache key.
CODE_VERSION = "1"
MAX_FRAMES = 10**9  # frame counts and windows beyond this are no video's (and overflow int64 arithmetic)

# --------------------------------------------------------------------------------------------------
# Dense flow
# --------------------------------------------------------------------------------------------------

# The paper's Farneback parameters (BoostingVRME / ME-TST reference code).
FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=5, poly_n=7, poly_sigma=1.5, flags=0)

# TV-L1 (Zach et al. 2007, cv2.optflow) "fast" preset. ME motions are below a few pixels, so two pyramid
# scales and one warp suffice. On 128-px synthetic face crops this ran about 4x faster than OpenCV's defaults
# (nscales 5, warps 5, 30 inner x 10 outer iterations) for an end-point error about 10 % higher (0.075 vs
# 0.068 px); pass ``nscales=5, warps=5, innnerIterations=30, outerIterations=10`` for the defaults
# (OpenCV spells the inner-iterations option with three n's).
TVL1_FAST = dict(nscales=2, warps=1, innnerIterations=10, outerIterations=3)

# DIS (Kroeger et al. 2016) presets. On 128-px synthetic face crops: ultrafast ~0.1 ms/pair (EPE 0.10 px),
# fast ~0.3 ms (0.09 px), medium ~1.6 ms (0.064 px, on a par with Farneback). Default: medium.
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

_DEFAULTS = {"farneback": FARNEBACK_PARAMS, "tvl1": TVL1_FAST, "dis": {"preset": "medium"}}


# OpenCV's own limits on each parameter (it fails with "(-215:Assertion failed)" otherwise): (low, high, integer)
_FARNEBACK_RANGES = dict(pyr_scale=(1e-3, 0.999, False), levels=(0, 32, True), winsize=(1, 255, True),
                         iterations=(1, 1000, True), poly_n=(1, 31, True), poly_sigma=(1e-3, 100.0, False),
                         flags=(0, 512, True))
_TVL1_RANGES = dict(tau=(1e-6, 10.0, False), lambda_=(1e-6, 100.0, False), theta=(1e-6, 10.0, False),
                    nscales=(1, 32, True), warps=(1, 100, True), epsilon=(1e-9, 1.0, False),
                    innnerIterations=(1, 1000, True), outerIterations=(1, 1000, True), scaleStep=(0.1, 0.99, False),
                    gamma=(0.0, 10.0, False), medianFiltering=(1, 15, True))


def _check_params(method: str, params: dict, ranges: dict) -> None:
    unknown = sorted(set(params) - set(ranges))
    if unknown:
        raise ValueError(f"unknown {method} parameters {unknown}; known: {sorted(ranges)}")
    for name, value in params.items():
        low, high, whole = ranges[name]
        if whole:
            checks.integer(name, value, low, high)
        else:
            checks.number(name, value, low, high)


def flow_params(method: str = "farneback", **params) -> dict:
    """The full parameter set of ``method``: its defaults updated with ``params`` (validated: names and ranges)."""
    if not isinstance(method, str) or method not in _DEFAULTS:
        raise ValueError(f"unknown flow method {method!r}; choose one of {sorted(_DEFAULTS)}")
    if method == "farneback":
        unknown = set(params) - set(FARNEBACK_PARAMS)
        if unknown:
            raise ValueError(f"unknown Farneback parameters {sorted(unknown)}; known: {sorted(FARNEBACK_PARAMS)}")
        _check_params("Farneback", params, _FARNEBACK_RANGES)
    if method == "tvl1":
        _check_params("TV-L1", params, _TVL1_RANGES)
    if method == "dis":
        preset = params.get("preset", "medium")
        if set(params) - {"preset"} or not isinstance(preset, str) or preset not in DIS_PRESETS:
            raise ValueError(f"DIS takes only preset= one of {sorted(DIS_PRESETS)}; got {params}")
    return {**_DEFAULTS[method], **params}


@functools.lru_cache(maxsize=8)
def _tvl1(items: tuple) -> cv2.optflow.DualTVL1OpticalFlow:
    return cv2.optflow.DualTVL1OpticalFlow_create(**dict(items))


@functools.lru_cache(maxsize=4)
def _dis(preset: str) -> cv2.DISOpticalFlow:
    return cv2.DISOpticalFlow_create(DIS_PRESETS[preset])


def _gray(image: np.ndarray, name: str = "image") -> np.ndarray:
    """uint8 grey image from uint8/float RGB or grey (floats are taken as 0-255 grey levels)."""
    img = checks.array(name, image, ndim=(2, 3))
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"{name} is an empty image, shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[-1] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.ndim == 3 and img.shape[-1] == 1:
        return img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"{name} must be an (H, W) grey or (H, W, 3) RGB image; got shape {img.shape}")
    return img


def optical_flow(prev: np.ndarray, next: np.ndarray, *, method: str = "farneback", **params) -> np.ndarray:
    """Dense optical flow from ``prev`` to ``next``.

    Parameters
    ----------
    prev, next : ``(H, W, 3)`` RGB or ``(H, W)`` grey images, uint8 (floats are read as 0-255 grey levels).
    method : ``"farneback"`` (default: the paper's parameters :data:`FARNEBACK_PARAMS`), ``"tvl1"``
        (``cv2.optflow`` Dual TV-L1, :data:`TVL1_FAST` preset) or ``"dis"`` (:data:`DIS_PRESETS`, medium).
    **params : override the method's parameters (OpenCV's names).

    Returns
    -------
    ``(H, W, 2)`` float32, pixels: ``flow[y, x] = (dx, dy)`` takes the pixel ``(x, y)`` of ``prev`` to
    ``(x + dx, y + dy)`` in ``next``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = cv2.GaussianBlur((rng.random((64, 64)) * 255).astype(np.uint8), (0, 0), 2)
    >>> moved = np.roll(img, 1, axis=1)  # content moves 1 px to the right
    >>> bool(abs(optical_flow(img, moved)[16:-16, 16:-16, 0].mean() - 1) < 0.1)
    True
    """
    p = flow_params(method, **params)
    a, b = _gray(prev, "prev"), _gray(next, "next")
    if a.shape != b.shape:
        raise ValueError(f"prev and next differ in size: {a.shape} vs {b.shape}")
    if method == "dis" and (min(a.shape) < 8 or max(a.shape) < 12):  # OpenCV's DIS refuses smaller images
        raise ValueError(f"prev and next are {a.shape[1]}x{a.shape[0]} pixels; DIS needs both sides of 8 or more and "
                         "one of 12 or more")
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(a, b, None, p["pyr_scale"], p["levels"], p["winsize"],
                                            p["iterations"], p["poly_n"], p["poly_sigma"], p["flags"])
    elif method == "tvl1":
        flow = _tvl1(tuple(sorted(p.items()))).calc(a, b, None)
    else:
        flow = _dis(p["preset"]).calc(a, b, None)
    return np.asarray(flow, np.float32)


def default_k(fps: float) -> int:
    """Window length: 50 frames at 30 fps (CAS(ME)^3 reference), scaled with fps, rounded to even."""
    fps = checks.number("fps", fps, 0.0, 100_000.0, low_open=True)
    return max(2, 2 * round(50 * fps / 30 / 2))


def window_starts(n_frames: int, k: int, stride: int | None = None, *, name: str = "the video") -> np.ndarray:
    """First frames of the windows that cover ``n_frames`` frames.

    Starts are ``0, stride, 2 stride, ...`` while a whole window fits, plus one window aligned to the end
    of the video if the last frames would otherwise be left out.

    Raises
    ------
    ValueError
        The video is shorter than ``k``, or ``stride`` is not in ``1 .. k - 1`` (windows must overlap).
    """
    n_frames = checks.integer("n_frames", n_frames, 0, MAX_FRAMES)
    k = checks.integer("k", k, None, MAX_FRAMES)
    stride = k // 2 if stride is None else checks.integer("stride", stride)
    if k < 2:
        raise ValueError(f"window length k must be at least 2; got {k}")
    if not 1 <= stride <= k - 1:
        raise ValueError(f"stride must be in 1..k-1 = 1..{k - 1} so that windows overlap; got {stride}")
    if n_frames < k:
        raise ValueError(f"{name} has {n_frames} frames, fewer than the window length k={k}; use a smaller k "
                         "(about 1.6 s of frames) or a longer video")
    starts = list(range(0, n_frames - k + 1, stride))
    if starts[-1] + k < n_frames:
        starts.append(n_frames - k)
    return np.asarray(starts, np.int64)


def video_flow(frames: np.ndarray, k: int, *, stride: int | None = None, method: str = "farneback",
               **params) -> tuple[np.ndarray, np.ndarray]:
    """Flow of every frame relative to the first frame of its window, as in the paper.

    Parameters
    ----------
    frames : ``(T, H, W, 3)`` uint8 RGB (or ``(T, H, W)`` grey).
    k : window length in frames; ``stride`` defaults to ``k // 2`` (see :func:`window_starts`).
    method, params : see :func:`optical_flow`.

    Returns
    -------
    ``(starts, flows)``: ``(n_windows,)`` first frames and ``(n_windows, k, H, W, 2)`` float32 flows;
    ``flows[w, j]`` goes from frame ``starts[w]`` to frame ``starts[w] + j`` (so ``flows[w, 0]`` is zero).
    """
    frames = checks.array("frames", frames, ndim=(3, 4), min_size=1)
    flow_params(method, **params)
    gray = [_gray(f, "frames") for f in frames]
    starts = window_starts(len(gray), k, stride)
    h, w = gray[0].shape
    flows = np.zeros((len(starts), k, h, w, 2), np.float32)
    for i, s in enumerate(starts):
        for j in range(1, k):
            flows[i, j] = optical_flow(gray[s], gray[s + j], method=method, **params)
    return starts, flows


# --------------------------------------------------------------------------------------------------
# ROI statistics and stitching
# --------------------------------------------------------------------------------------------------


def top_p_mean(vectors: np.ndarray, p: float) -> np.ndarray:
    """Mean of the top ``p`` fraction of vectors by magnitude, batched.

    Parameters
    ----------
    vectors : ``(N, n, 2)`` float: N sets of n flow vectors (e.g. frames x ROI pixels).
    p : fraction in (0, 1]; ``max(1, round(p n))`` vectors are kept per set.

    Returns
    -------
    ``(N, 2)`` float32 mean (dx, dy) of the kept vectors.
    """
    v = checks.array("vectors", vectors, shape=(None, None, 2)).astype(np.float32)
    p = checks.number("p", p, 0.0, 1.0, low_open=True)
    n = v.shape[1]
    if n == 0:
        raise ValueError(f"vectors holds sets of no vector, shape {v.shape}: there is nothing to average")
    m = max(1, int(round(p * n)))
    if m >= n:
        return v.mean(axis=1)
    mag2 = v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1]
    keep = np.argpartition(mag2, n - m, axis=1)[:, n - m:]  # O(n) selection, no full sort
    return v[np.arange(len(v))[:, None], keep].mean(axis=1)


def channel_names(rois: Sequence[ROI] = REFERENCE_ROIS) -> list[str]:
    """Channel names of an ROI series: ``<roi>_dx, <roi>_dy`` per ROI, in table order."""
    return [f"{r.name}_{c}" for r in rois for c in ("dx", "dy")]


def stitch_windows(values: np.ndarray, starts: np.ndarray, n_frames: int, *,
                   detrend: float | None = None) -> np.ndarray:
    """Stitch per-window displacements into one full-length series (rule in the module docstring).

    Parameters
    ----------
    values : ``(n_windows, k, C)``: ``values[w, j]`` is the displacement of frame ``starts[w] + j``
        relative to frame ``starts[w]`` (so ``values[w, 0]`` is normally zero).
    starts : ``(n_windows,)`` increasing first frames; consecutive windows must overlap and the windows
        must cover ``0 .. n_frames - 1`` exactly, the last one ending on the last frame (as :func:`window_starts`
        gives).
    n_frames : T.
    detrend : length of the slow baseline in units of k (None: keep the chained track).

    Returns
    -------
    ``(T, C)`` float32: every frame has a value.
    """
    values = checks.array("values", values, ndim=3, min_size=1).astype(np.float64)
    starts = checks.array("starts", starts, ndim=1, dtype="integer").astype(np.int64)
    n_frames = checks.integer("n_frames", n_frames, 1, MAX_FRAMES)
    if detrend is not None:
        detrend = checks.number("detrend", detrend, 0.0, low_open=True)
    n_w, k, _ = values.shape
    if len(starts) != n_w:
        raise ValueError(f"starts has {len(starts)} entries but values holds {n_w} windows")
    if starts[0] != 0 or starts[-1] + k != n_frames or np.any(np.diff(starts) >= k) or np.any(np.diff(starts) < 1):
        raise ValueError(f"windows (starts {starts.tolist()}, k={k}) must overlap and cover all n_frames = {n_frames} "
                         "frames")
    offsets = np.zeros_like(values[:, 0])
    for w in range(1, n_w):
        overlap = np.arange(starts[w], starts[w - 1] + k)
        diff = values[w - 1, overlap - starts[w - 1]] - values[w, overlap - starts[w]]
        offsets[w] = offsets[w - 1] + np.median(diff, axis=0)
    t = np.arange(n_frames)
    centres = starts + (k - 1) / 2
    owner = np.argmin(np.abs(t[:, None] - centres[None, :]), axis=1)  # argmin takes the earlier on ties
    track = values[owner, t - starts[owner]] + offsets[owner]
    if detrend is not None:
        track = track - _slow_baseline(track, centres, max(detrend * k, k) / 2)
    return track.astype(np.float32)


def _slow_baseline(track: np.ndarray, centres: np.ndarray, half: float) -> np.ndarray:
    """Running median of ``track`` (T, C), sampled at ``centres`` and interpolated linearly.

    Each median window is symmetric about its centre (narrowed near the ends, so a linear drift is
    removed without bias) and the first and last segments are extended linearly to the ends.
    """
    n = len(track)
    base = []
    for c in centres:
        h = min(half, c, n - 1 - c)
        base.append(np.median(track[int(np.ceil(c - h)):int(np.floor(c + h)) + 1], axis=0))
    base = np.stack(base)
    t = np.arange(n)
    if len(centres) == 1:
        return np.broadcast_to(base[0], track.shape)
    slope_lo = (base[1] - base[0]) / (centres[1] - centres[0])
    slope_hi = (base[-1] - base[-2]) / (centres[-1] - centres[-2])
    out = np.stack([np.interp(t, centres, base[:, c]) for c in range(track.shape[1])], axis=1)
    lo, hi = t < centres[0], t > centres[-1]
    out[lo] = base[0] + (t[lo, None] - centres[0]) * slope_lo
    out[hi] = base[-1] + (t[hi, None] - centres[-1]) * slope_hi
    return out


@dataclass
class FlowSeries:
    """Everything :func:`roi_flow_series` measures on one video.

    Attributes
    ----------
    series : ``(T, C)`` float32 ROI series after head-motion compensation (the model input).
    raw : ``(T, C)`` float32 the same without compensation (top-p of the raw flow); None unless asked for.
    head : ``(T, 2)`` float32 head displacement (dx, dy) from the nose-ridge box, crop pixels.
    channels : channel names, C of them.
    starts : ``(n_windows,)`` first frames of the windows.
    n_flow_calls : dense-flow computations made (re-centring adds some).
    """

    series: np.ndarray
    raw: np.ndarray | None
    head: np.ndarray
    channels: list[str]
    starts: np.ndarray
    n_flow_calls: int


def _window_values(gray: Sequence[np.ndarray], landmarks: np.ndarray, k: int, *, rois, top_p, size, align,
                   method, params, recentre_px, max_recentre, with_raw, nose=NOSE_ROI):
    """One window of ``k`` grey frames, cropped by the ``(68, 2)`` landmarks of its first: compensated and raw
    ROI values ``(k, R, 2)`` (raw None unless ``with_raw``), head ``(k, 2)`` and the number of flow computations."""
    affine = crop_affine(landmarks, size=size, align=align)
    warp = functools.partial(cv2.warpAffine, dsize=(size, size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
    ref = warp(gray[0], affine)
    lm = apply_crop(affine, size=size, landmarks=landmarks)
    boxes = roi_boxes(lm, tuple(rois), size=size)
    nx0, ny0, nx1, ny1 = roi_boxes(lm, (nose,), size=size)[0]
    flows = np.zeros((k, size, size, 2), np.float32)
    shift = np.zeros((k, 2), np.float32)  # how far the target crop was moved with the head
    nose = np.zeros((k, 2), np.float32)  # head motion left after the shift
    calls = 0
    for j in range(1, k):
        s = shift[j - 1] + nose[j - 1]
        if recentre_px is None or np.hypot(*s) <= recentre_px:
            s = np.zeros(2, np.float32)
        for attempt in range(max_recentre + 1):
            moved = affine.copy()
            moved[:, 2] -= s
            flow = optical_flow(ref, warp(gray[j], moved), method=method, **params)
            calls += 1
            n = top_p_mean(flow[ny0:ny1, nx0:nx1].reshape(1, -1, 2), 0.7)[0]
            if recentre_px is None or np.hypot(*n) <= recentre_px or attempt == max_recentre:
                break
            s = s + n
        flows[j], shift[j], nose[j] = flow, s, n
    comp = np.zeros((k, len(rois), 2), np.float32)
    raw = np.zeros_like(comp) if with_raw else None
    for r, (p, (x0, y0, x1, y1)) in enumerate(zip(_roi_fractions(rois, top_p), boxes, strict=True)):
        sub = flows[1:, y0:y1, x0:x1].reshape(k - 1, -1, 2)
        comp[1:, r] = top_p_mean(sub - nose[1:, None, :], p)
        if with_raw:
            raw[1:, r] = top_p_mean(sub + shift[1:, None, :], p)
    return comp, raw, shift + nose, calls


def _roi_fractions(rois: Sequence[ROI], top_p: Sequence[float]) -> list[float]:
    """Top-p fraction per ROI: ``top_p`` is (regions, patches), or one fraction per ROI."""
    if len(top_p) == 2:
        return [top_p[0] if roi.kind == "region" else top_p[1] for roi in rois]
    if len(top_p) == len(rois):
        return list(top_p)
    raise ValueError(f"top_p must be (regions, patches) or one fraction per ROI ({len(rois)}); got {len(top_p)}")


def _frame_runs(frames: np.ndarray, limit: int = 5) -> str:
    """Sorted frame numbers as ranges, e.g. '0–49, 300–310'."""
    frames = np.unique(frames)
    breaks = np.flatnonzero(np.diff(frames) > 1)
    runs = list(zip(frames[np.r_[0, breaks + 1]], frames[np.r_[breaks, len(frames) - 1]], strict=True))
    parts = [f"{a}" if a == b else f"{a}–{b}" for a, b in runs[:limit]]
    return ", ".join(parts) + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


def _pixels(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks as float32, refused when a coordinate is beyond a million pixels (no frame is that large)."""
    finite = landmarks[np.isfinite(landmarks)] if landmarks.dtype.kind == "f" else landmarks
    if finite.size and np.abs(finite).max() > 1e6:
        raise ValueError(f"landmarks hold coordinates beyond 1e6 pixels ({np.abs(finite).max():.3g}); are they "
                         "pixels of the video?")
    return landmarks.astype(np.float32)


def check_landmarks_in_frame(landmarks: np.ndarray, height: int, width: int, *, name: str = "the video",
                             source: str = "the landmarks", frames: np.ndarray | None = None) -> None:
    """Refuse landmarks that cannot be pixels of a ``height`` × ``width`` frame.

    Two mistakes give a plausible-looking but empty analysis instead of an error: landmarks normalised
    to [0, 1] (as many detectors return them), and landmarks of another video or resolution, far off the
    frame. A frame is off when none of its points lies inside the frame (a face may leave the frame partly).
    NaN frames (no face) are not judged here.

    Parameters
    ----------
    landmarks : ``(T, 68, 2)`` (x, y) in pixels.
    height, width : frame size in pixels.
    name, source : the video and where the landmarks came from, for the message.
    frames : ``(T,)`` frame numbers to report (default ``0 .. T − 1``).

    Raises
    ------
    ValueError naming the frames.
    """
    lm = _pixels(checks.array("landmarks", landmarks, shape=(None, None, 2), finite=False))
    height, width = checks.integer("height", height, 1), checks.integer("width", width, 1)
    frames = np.arange(len(lm)) if frames is None else np.asarray(frames)
    finite = np.isfinite(lm).all(axis=2)  # (T, 68)
    if not finite.any():
        return
    if np.abs(lm[finite]).max() <= 1.5 and max(height, width) > 16:
        raise ValueError(f"{source} for {name} all lie within [0, 1.5]: they look normalised, but melab needs "
                         f"pixels of the {width}x{height} frame (multiply x by the width and y by the height)")
    inside = finite & (lm[..., 0] >= 0) & (lm[..., 0] <= width) & (lm[..., 1] >= 0) & (lm[..., 1] <= height)
    off = finite.any(axis=1) & ~inside.any(axis=1)
    if off.any():
        raise ValueError(f"{source} for {name} put the face outside the {width}x{height} frame in frames "
                         f"{_frame_runs(frames[off])} (not one point inside); are they the "
                         "landmarks of this video, in its pixels?")


def _check_landmarks(landmarks: np.ndarray, n_frames: int, starts: np.ndarray, name: str,
                     frame_size: tuple[int, int]) -> np.ndarray:
    lm = checks.array("landmarks", landmarks, finite=False)
    if lm.shape != (n_frames, 68, 2):
        raise ValueError(f"landmarks of {name} must have shape ({n_frames}, 68, 2); got {lm.shape}")
    lm = _pixels(lm)
    check_landmarks_in_frame(lm, *frame_size, name=name)
    bad = ~np.isfinite(lm[starts]).all(axis=(1, 2))
    if bad.any():
        raise ValueError(f"no landmarks (NaN) at frames {starts[bad].tolist()} of {name}, where windows start; "
                         "use melab.face.detect_landmarks(..., max_gap=...) to fill short gaps")
    warn_landmark_jumps(lm, name=name)
    return lm


def roi_flow_series(frames: np.ndarray, landmarks: np.ndarray, *, k: int, stride: int | None = None,
                    rois: Sequence[ROI] = REFERENCE_ROIS, top_p: tuple[float, float] = (0.3, 0.2),
                    size: int = 128, align: bool = True, method: str = "farneback",
                    flow_options: dict | None = None, compensate: bool = True, recentre_px: float | None = 1.0,
                    max_recentre: int = 2, detrend: float | None = 6.0, with_raw: bool = False,
                    nose: ROI = NOSE_ROI, name: str = "the video") -> FlowSeries:
    """ROI flow series of one video, with the intermediate results (see the module docstring for the steps).

    Parameters
    ----------
    frames : ``(T, H, W, 3)`` uint8 RGB (or ``(T, H, W)`` grey).
    landmarks : ``(T, 68, 2)`` pixels; only the first frame of each window is used for cropping, the rest
        are checked for jumps.
    k : window length in frames (reference: 50 at 30 fps); ``stride`` defaults to ``k // 2``.
    rois : ROI table (:data:`melab.face.REFERENCE_ROIS`, or :func:`melab.face.multiscale_rois`).
    top_p : fraction of pixels kept by magnitude for (regions, patches), or one fraction per ROI.
    size, align : crop side in pixels and eye-line alignment (:func:`melab.face.crop_affine`).
    method, flow_options : flow method and its parameters (:func:`optical_flow`).
    compensate : subtract the nose-ridge head motion (``series`` equals ``raw`` when False).
    recentre_px : re-centre the target crop when the head moved more than this (None: never).
    max_recentre : at most this many extra flow computations per frame for re-centring.
    detrend : slow-baseline length in units of k for :func:`stitch_windows` (None: keep the chained track).
    with_raw : also compute the uncompensated series (``FlowSeries.raw``), e.g. to plot head motion.
    nose : the head-motion box (:data:`melab.face.NOSE_ROI`; the official one is :data:`REFERENCE_NOSE_ROI`).
    name : how errors and warnings refer to the video.

    Returns
    -------
    :class:`FlowSeries`. :class:`RoiFlowStream` computes the same from frames that arrive one at a time.
    """
    frames = checks.array("frames", frames, ndim=(3, 4), min_size=1)
    stream = RoiFlowStream(k=k, stride=stride, rois=rois, top_p=top_p, size=size, align=align, method=method,
                           flow_options=flow_options, compensate=compensate, recentre_px=recentre_px,
                           max_recentre=max_recentre, detrend=detrend, with_raw=with_raw, nose=nose, name=name)
    starts = window_starts(len(frames), k, stride, name=name)
    lm = _check_landmarks(landmarks, len(frames), starts, name, frames.shape[1:3])
    for frame, points in zip(frames, lm, strict=True):
        stream.push(frame, points)
    return stream.finish(check=False)


class RoiFlowStream:
    """:func:`roi_flow_series` over frames that arrive one at a time, in bounded memory.

    :meth:`push` each frame with its landmarks, in order, then :meth:`finish`. The stream keeps the grey frames
    of one window (the last ``k``, :attr:`ring`) and every frame's landmarks (68 points), and computes a window
    as soon as its last frame arrives (the window aligned to the end of the video, when there is one, once the
    end is known). A long video never sits in memory whole, and the series are those of :func:`roi_flow_series`
    on the same frames, exactly.

    Parameters are those of :func:`roi_flow_series`, and ``part = (i, n)``: compute only every n-th window,
    from the i-th on (windows are independent, so n streams fed the same frames share the work; see
    :class:`RoiFlowWorkers`); None computes none (the frames and landmarks are still kept, for :meth:`finish`).
    """

    def __init__(self, *, k: int, stride: int | None = None, rois: Sequence[ROI] = REFERENCE_ROIS,
                 top_p: tuple[float, float] = (0.3, 0.2), size: int = 128, align: bool = True,
                 method: str = "farneback", flow_options: dict | None = None, compensate: bool = True,
                 recentre_px: float | None = 1.0, max_recentre: int = 2, detrend: float | None = 6.0,
                 with_raw: bool = False, nose: ROI = NOSE_ROI, name: str = "the video",
                 part: tuple[int, int] | None = (0, 1)):
        rois = tuple(rois)
        k = checks.integer("k", k, 2, MAX_FRAMES)
        size = checks.integer("size", size, 16, 4096)
        if isinstance(top_p, str) or not isinstance(top_p, Sequence) or \
                not all(0 < checks.number("top_p", p, 0.0, 1.0) for p in _roi_fractions(rois, top_p)):
            raise ValueError(f"top_p must be fractions in (0, 1]; got {top_p}")
        if recentre_px is not None:
            recentre_px = checks.number("recentre_px", recentre_px, 0.0)
        max_recentre = checks.integer("max_recentre", max_recentre, 0, 100)
        if detrend is not None:
            detrend = checks.number("detrend", detrend, 0.0, low_open=True)
        if flow_options is not None and not isinstance(flow_options, dict):
            raise TypeError(f"flow_options must be a dict of the method's parameters, got {flow_options!r}")
        window_starts(k, k, stride)  # checks k and stride before any work
        self.k, self.stride, self.name, self.part = k, (k // 2 if stride is None else stride), name, part
        self.compensate, self.detrend, self.rois = compensate, detrend, rois
        self._stride_arg = stride
        self._options = dict(rois=rois, top_p=top_p, size=size, align=align, method=method,
                             params=flow_params(method, **(flow_options or {})), recentre_px=recentre_px,
                             max_recentre=max_recentre, with_raw=with_raw or not compensate, nose=nose)
        self.ring: collections.deque[np.ndarray] = collections.deque(maxlen=k)  # the last k grey frames
        self.landmarks: list[np.ndarray] = []
        self.windows: dict[int, tuple] = {}  # first frame -> _window_values of that window

    @property
    def n_frames(self) -> int:
        """Frames pushed so far."""
        return len(self.landmarks)

    def push(self, frame: np.ndarray, landmarks: np.ndarray) -> None:
        """Add the next frame (``(H, W, 3)`` uint8 RGB or ``(H, W)`` grey) and its ``(68, 2)`` landmarks (pixels,
        NaN where no face was found). Raises a ValueError or TypeError naming ``frame`` or ``landmarks``."""
        gray = _gray(frame, "frame")
        if self.ring and gray.shape != self.ring[0].shape:
            raise ValueError(f"frame {self.n_frames} of {self.name} is {gray.shape[1]}x{gray.shape[0]} pixels, the "
                             f"frames before it {self.ring[0].shape[1]}x{self.ring[0].shape[0]}: one video, one size")
        self.ring.append(gray)
        self.landmarks.append(_pixels(checks.array("landmarks", landmarks, shape=(68, 2), finite=False)))
        start = self.n_frames - self.k
        if start >= 0 and start % self.stride == 0:
            self._window(start, start // self.stride)

    def _window(self, start: int, number: int) -> None:
        """Compute window ``number`` (first frame ``start``) if it is this stream's part: its frames are in the
        ring now. A window whose first landmarks are missing is left out (:meth:`finish` reports it)."""
        mine = self.part is not None and number % self.part[1] == self.part[0]
        if mine and np.isfinite(self.landmarks[start]).all():
            try:
                self.windows[start] = _window_values(list(self.ring), self.landmarks[start], self.k, **self._options)
            except (ValueError, cv2.error) as err:  # say where: the error may surface in another process
                raise ValueError(f"the ROI flow of {self.name} failed in the window of its frames {start}–"
                                 f"{start + self.k - 1} (0-based, as pushed): {err}") from err

    def close(self) -> dict[int, tuple]:
        """The end is known: compute the window aligned to it (if it is this part's); every window computed."""
        starts = window_starts(self.n_frames, self.k, self._stride_arg, name=self.name)
        if int(starts[-1]) not in self.windows:
            self._window(int(starts[-1]), len(starts) - 1)
        return self.windows

    def finish(self, *, check: bool = True, parts: Iterable[dict[int, tuple]] = ()) -> FlowSeries:
        """The stitched :class:`FlowSeries` of every frame pushed.

        ``check`` checks the landmarks as :func:`roi_flow_series` does before it starts (shape, inside the frame,
        none missing where a window starts; jumps are warned about), here once every frame is in. ``parts`` are
        the windows that other parts computed (:meth:`close` of their streams).
        """
        n = self.n_frames
        starts = window_starts(n, self.k, self._stride_arg, name=self.name)
        if check:
            _check_landmarks(np.stack(self.landmarks), n, starts, self.name, self.ring[0].shape[:2])
        windows = dict(self.close())
        for other in parts:
            windows.update(other)
        values = [windows[int(s)] for s in starts]
        comp = np.stack([c.reshape(self.k, -1) for c, _, _, _ in values])
        raw = np.stack([r.reshape(self.k, -1) for _, r, _, _ in values]) if values[0][1] is not None else None
        raw_series = stitch_windows(raw, starts, n, detrend=self.detrend) if raw is not None else None
        series = stitch_windows(comp, starts, n, detrend=self.detrend) if self.compensate else raw_series
        return FlowSeries(series=series, raw=raw_series,
                          head=stitch_windows(np.stack([h for _, _, h, _ in values]), starts, n, detrend=None),
                          channels=channel_names(self.rois), starts=starts,
                          n_flow_calls=sum(c for _, _, _, c in values))


class _WorkerTraceback(Exception):
    """The traceback, as text, of an error raised in a worker process: the cause of that error raised here."""


def _flow_worker(part: tuple[int, int], frames, results, parent_pid: int) -> None:
    """One part of a :class:`RoiFlowWorkers` stream, in its own process: options, then grey frames in; windows out
    (or the error and its traceback)."""
    die_with_parent(parent_pid)
    cv2.setNumThreads(1)  # one process per core
    try:
        stream = RoiFlowStream(**frames.get(), part=part)
        while (item := frames.get()) is not None:
            stream.push(*item)
        results.put((part[0], stream.close(), None))
    except Exception as err:  # sent to the parent, which raises it
        try:
            pickle.dumps(err)
        except Exception:  # an error that cannot travel goes as its text, or the parent would wait for ever
            err = RuntimeError(f"{type(err).__name__}: {err}")
        results.put((part[0], err, traceback.format_exc()))


class RoiFlowWorkers:
    """A :class:`RoiFlowStream` whose windows are computed by worker processes, each taking every n-th window.

    The workers start at once (they import while the caller prepares, e.g. loads a model) and wait for
    :meth:`configure`; then :meth:`push` and :meth:`finish` work as on a :class:`RoiFlowStream`, with the same
    series, exactly. Each worker holds the ring of one window; the frames travel grey, at most ``queue`` of them
    waiting per worker, so memory stays bounded however long the video. Use it as a context manager: leaving it
    stops the workers; an error in one is raised in the caller.

    Parameters
    ----------
    workers : worker processes (spawned, one OpenCV thread each).
    queue : frames that may wait for each worker.
    """

    def __init__(self, workers: int = 2, *, queue: int = 64):
        workers, queue = checks.integer("workers", workers, 1, 256), checks.integer("queue", queue, 1, 10**6)
        context = multiprocessing.get_context("spawn")
        self._results = context.Queue()
        self._queues = [context.Queue(maxsize=queue) for _ in range(workers)]
        self._processes = [context.Process(target=_flow_worker, args=((i, workers), q, self._results, os.getpid()),
                                           daemon=True) for i, q in enumerate(self._queues)]
        for process in self._processes:
            process.start()
        self._stream: RoiFlowStream | None = None
        self._parts: dict[int, dict] = {}

    def configure(self, **options) -> RoiFlowWorkers:
        """Set the options of :class:`RoiFlowStream` (``k`` included) before the first frame."""
        self._stream = RoiFlowStream(**options, part=None)  # checks them; keeps what finish() needs
        for queue in self._queues:
            self._put(queue, options)
        return self

    def __enter__(self) -> RoiFlowWorkers:
        return self

    def __exit__(self, *exc) -> None:
        for queue in self._queues:  # frames a stopped worker will never read must not hold this process at exit
            queue.cancel_join_thread()
            queue.close()
        for process in self._processes:
            if process.is_alive():
                process.terminate()
            process.join()

    @property
    def n_frames(self) -> int:
        return self._stream.n_frames

    def _take(self, timeout: float) -> None:
        """Collect one worker's result (raising its error, with the worker's traceback as its cause), or check that
        none ended without sending one."""
        # a worker flushes its result before it ends: one that had ended before this wait, and sent nothing that
        # the wait found, died
        ended = [(i, p.exitcode) for i, p in enumerate(self._processes) if i not in self._parts and not p.is_alive()]
        try:
            i, value, trace = self._results.get(timeout=timeout)
        except Empty:
            if ended:
                self._died(ended[0][1])
            return
        if trace is not None:
            raise value from _WorkerTraceback(trace)
        self._parts[i] = value

    def _died(self, code: int | None) -> None:
        name = self._stream.name if self._stream is not None else "the video"
        raise worker_died(f"a flow worker process for {name}", code,
                          "pass workers=0 (melab spot --workers 0) to compute everything in this process")

    def _put(self, queue, item) -> None:
        while True:
            try:
                queue.put(item, timeout=1.0)
                return
            except Full:  # the worker is busy, or failed: then its error is waiting
                self._take(timeout=0.0)

    def push(self, frame: np.ndarray, landmarks: np.ndarray) -> None:
        """As :meth:`RoiFlowStream.push`."""
        gray = _gray(frame, "frame")
        self._stream.push(gray, landmarks)  # checks both
        landmarks = self._stream.landmarks[-1]
        for queue in self._queues:
            self._put(queue, (gray, landmarks))

    def finish(self, *, check: bool = True) -> FlowSeries:
        """As :meth:`RoiFlowStream.finish`, once every worker has sent its windows."""
        for queue in self._queues:
            self._put(queue, None)
        while len(self._parts) < len(self._processes):
            self._take(timeout=1.0)
        return self._stream.finish(check=check, parts=self._parts.values())


def roi_series(frames: np.ndarray, landmarks: np.ndarray, *, k: int, layout: str = "melab",
               **options) -> np.ndarray:
    """ROI time series ``(T, C)`` float32 of one video: :func:`roi_flow_series` ``(...).series``.

    Parameters are those of :func:`roi_flow_series`; channels are :func:`channel_names` ``(rois)``.
    ``layout="reference"`` starts from :data:`REFERENCE_SERIES_OPTIONS`, the settings closest to the official
    ME-TST / BoostingVRME features that the published weights expect (``options`` still override them).
    Feed such a series to an official model window by window with :func:`reference_windows`.

    What the official features are, and what melab's reference setting matches (checked against
    ``feature_extraction.py`` and ``main.py`` of zizheng-guo/BoostingVRME):

    ===================  ==========================================  ===========================================
    detail               official                                    ``layout="reference"``
    ===================  ==========================================  ===========================================
    channels             36 = 18 ROIs x (dx, dy), interleaved per    same (:data:`melab.face.REFERENCE_ROIS`
                         ROI; ROI order: brow (17-21), patches 20,   is in that order); dx, dy in crop pixels
                         19, 18; brow (22-26), patches 23, 24, 25;
                         mouth (48-66), patches 48, 54, 51, 57, 62;
                         nostril wings 31, 35; under each eye
    crop                 eye-corner rule, 320 x 320, not rotated     ``size=320, align=False``
    flow                 Farneback (0.5, 3, 15, 5, 7, 1.5) between   same
                         the window's first frame and each frame
    top-p per ROI        0.3 regions, 0.2 patches, but 0.3 for the   ``top_p`` = one fraction per ROI, as listed
                         patches at 23, 24, 25
    head motion          lower nose ridge (29-30) box, top 70 %,     :data:`REFERENCE_NOSE_ROI`; up to 3
                         subtracted; crop moved when > 1 px, up to   re-centrings (``max_recentre=3``)
                         3 times
    windows              k = 50 at 30 fps (CAS(ME)^3); SAMM-LV       ``k`` as given; subsample SAMM-LV yourself
                         every 7th frame (200 / 7 = 28.6 fps),       (:func:`melab.spot.read_resampled` at
                         k = 30; stride k / 2                        200 / 7 fps keeps exactly frames 0, 7, 14...)
    model input          each window on its own, (36, k), relative   :func:`reference_windows` of the series
                         to its first frame (first column 0), no     (``detrend=None``: no slow baseline)
                         scaling or normalisation
    ===================  ==========================================  ===========================================

    Not reproduced, so features differ in their details: the official computes flow on each ROI's own
    sub-image (melab on the whole crop, then cuts the ROI), trims a 5-10 px border off region flows, places
    boxes in pixels of the 320-px crop (melab restates them in units of g, see :data:`melab.face.REFERENCE_ROIS`;
    the brow regions differ most), uses dlib's 68 landmarks (melab: MediaPipe mapped to iBUG 68, or
    given landmarks), moves the crop in source-frame pixels by the nose flow in crop pixels, and fills
    frames without a detected face with zeros. That the published ``.pkl`` weights were trained on exactly
    these features cannot be verified here (the weight files are not in the repository mirrors).
    """
    if not isinstance(layout, str) or layout not in ("melab", "reference"):
        raise ValueError(f"unknown roi_series layout {layout!r}; choose 'melab' or 'reference'")
    if layout == "reference":
        options = {**REFERENCE_SERIES_OPTIONS, **options}
    return roi_flow_series(frames, landmarks, k=k, **options).series


# The official head-motion box: landmarks 29-30 grown by 13 px, then trimmed by 15 px at the top, 10 at the
# bottom and 5 at the sides, at a 320-px crop (g = 320 / 9 = 35.6 px): ±8 px sideways, 2 px below point 29
# to 3 px below point 30.
REFERENCE_NOSE_ROI = ROI("nose_lower", "nose", (29, 30), (8 / (320 / 9), -2 / (320 / 9), 8 / (320 / 9), 3 / (320 / 9)))

# The official top-p fraction of each of the 18 ROIs, in channel order (see roi_series).
REFERENCE_TOP_P: tuple[float, ...] = (0.3, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2,
                                      0.2, 0.3, 0.3)

REFERENCE_SERIES_OPTIONS: dict = dict(size=320, align=False, rois=REFERENCE_ROIS, top_p=REFERENCE_TOP_P,
                                      nose=REFERENCE_NOSE_ROI, method="farneback", recentre_px=1.0, max_recentre=3,
                                      detrend=None)


def reference_windows(series: np.ndarray, k: int, *, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut a stitched ROI series into the official model's inputs: windows relative to their first frame.

    The official spotter never sees a stitched series: each input is one flow window, every frame's
    displacement against the window's first frame. With ``detrend=None`` the stitched series is a chained
    track, so ``series[s + j] - series[s]`` is that displacement (exactly for the frames the window owns,
    up to the median chaining offset for the others).

    Parameters
    ----------
    series : ``(T, C)`` float ROI series (``roi_series(..., layout="reference")``).
    k, stride : window length and step (:func:`window_starts`; default stride ``k // 2``).

    Returns
    -------
    windows : ``(N, k, C)`` float32, ``windows[:, 0] == 0``; transpose to ``(N, C, k)`` for the official code.
    starts : ``(N,)`` first frame of each window.
    """
    x = checks.array("series", series)
    if x.size and np.abs(x).max() > np.finfo(np.float32).max:
        raise ValueError(f"series holds values beyond float32 ({np.abs(x).max():.3g}); ROI series are pixels")
    x = x.astype(np.float32)
    if x.ndim != 2:
        raise ValueError(f"series must be (T, C); got shape {x.shape}")
    starts = window_starts(len(x), k, stride, name="series")
    windows = x[starts[:, None] + np.arange(k)]
    return windows - windows[:, :1], starts


# --------------------------------------------------------------------------------------------------
# Strain, onset-apex flow images, colour coding
# --------------------------------------------------------------------------------------------------


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Optical strain magnitude of a flow field.

    The strain tensor is ε = (∇u + ∇uᵀ) / 2 for the displacement u = (dx, dy); its magnitude is
    ``sqrt(ε_xx² + ε_yy² + 2 ε_xy²) = sqrt(u_x² + v_y² + (u_y + v_x)² / 2)`` (central differences).

    Parameters
    ----------
    flow : ``(H, W, 2)`` pixels.

    Returns
    -------
    ``(H, W)`` float32, dimensionless (pixels per pixel).
    """
    f = checks.array("flow", flow, shape=(None, None, 2)).astype(np.float64)
    if min(f.shape[:2]) < 2:
        raise ValueError(f"flow must be at least 2 x 2 pixels for the finite differences of strain, got {f.shape}")
    u_y, u_x = np.gradient(f[..., 0])
    v_y, v_x = np.gradient(f[..., 1])
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)


def onset_apex_flow(frames: np.ndarray, onset: int, apex: int, *, size: int = 224,
                    landmarks: np.ndarray | None = None, align: bool = True, method: str = "tvl1",
                    **params) -> np.ndarray:
    """The MERba input: flow from the onset to the apex frame, and its strain.

    Parameters
    ----------
    frames : ``(T, H, W, 3)`` uint8 RGB.
    onset, apex : 0-based frame indices (whole numbers: a time in [0, 1] is refused, not read as frame 0).
    size : side S of the output, pixels.
    landmarks : ``(T, 68, 2)`` or ``(68, 2)`` pixels. If given, both frames are cropped with the reference
        crop of the onset frame (:func:`melab.face.crop_affine`); otherwise they are resized to S x S.
    align : eye-line alignment of the crop.
    method, params : see :func:`optical_flow`; MERba uses TV-L1 (here its fast preset, :data:`TVL1_FAST`).

    Returns
    -------
    ``(3, S, S)`` float32: u (dx), v (dy) in output pixels, and optical strain.
    """
    frames = checks.array("frames", frames, ndim=(3, 4), min_size=1)
    onset, apex = checks.integer("onset", onset, 0), checks.integer("apex", apex, 0)
    for name, value in (("onset", onset), ("apex", apex)):
        if value >= len(frames):
            raise checks.OutOfRange(f"{name} {value} is beyond the {len(frames)} frames (0..{len(frames) - 1})")
    size = checks.integer("size", size, 8, 4096)
    flow_params(method, **params)
    a, b = frames[onset], frames[apex]
    if landmarks is not None:
        lm = checks.array("landmarks", landmarks, ndim=(2, 3)).astype(np.float32)
        if lm.shape[-2:] != (68, 2) or lm.ndim == 3 and len(lm) != len(frames):
            raise ValueError(f"landmarks must be ({len(frames)}, 68, 2) or (68, 2) pixels, got {lm.shape}")
        affine = crop_affine(lm[onset] if lm.ndim == 3 else lm, size=size, align=align)
        a, b = (apply_crop(affine, size=size, frames=f) for f in (a, b))
    else:
        a, b = (cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in (a, b))
    flow = optical_flow(a, b, method=method, **params)
    return np.concatenate([flow.transpose(2, 0, 1), optical_strain(flow)[None]]).astype(np.float32)


def _colour_wheel() -> np.ndarray:
    """The Middlebury colour wheel (Baker et al. 2011): 55 hues, ``(55, 3)`` in 0-255."""
    segments = [(15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)),
                (4, (0, 255, 0), (0, 255, 255)), (11, (0, 255, 255), (0, 0, 255)),
                (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0))]
    rows = []
    for n, start, end in segments:
        ramp = np.floor(255 * np.arange(n) / n) / 255
        rows.append(np.array(start) + ramp[:, None] * (np.array(end) - np.array(start)))
    return np.concatenate(rows)


def flow_to_rgb(flow: np.ndarray, *, max_flow: float | None = None) -> np.ndarray:
    """Colour-code a flow field with the standard (Middlebury) colour wheel.

    Hue gives the direction, saturation the magnitude relative to ``max_flow`` (white = no motion);
    vectors longer than ``max_flow`` are darkened.

    Parameters
    ----------
    flow : ``(H, W, 2)`` pixels.
    max_flow : magnitude of full saturation, pixels (default: the largest magnitude in ``flow``).

    Returns
    -------
    ``(H, W, 3)`` uint8 RGB.
    """
    f = checks.array("flow", flow, shape=(None, None, 2)).astype(np.float64)
    if f.size and np.abs(f).max() > 1e6:
        raise ValueError(f"flow holds displacements beyond 1e6 pixels ({np.abs(f).max():.3g}); is it a flow field?")
    if max_flow is not None:
        max_flow = checks.number("max_flow", max_flow, 1e-6)
    u, v = f[..., 0], f[..., 1]
    scale = max_flow if max_flow is not None else max(float(np.hypot(u, v).max(initial=0.0)), 1e-9)
    u, v = u / scale, v / scale
    rad = np.hypot(u, v)
    wheel = _colour_wheel() / 255
    n = len(wheel)
    pos = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (n - 1)
    k0 = np.floor(pos).astype(int)
    k1 = (k0 + 1) % n
    frac = (pos - k0)[..., None]
    col = (1 - frac) * wheel[k0] + frac * wheel[k1]
    inside = (rad <= 1)[..., None]
    col = np.where(inside, 1 - rad[..., None] * (1 - col), col * 0.75)
    return np.floor(255 * col).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Accuracy against ground truth
# --------------------------------------------------------------------------------------------------


def flow_epe(flow: np.ndarray, true_flow: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean end-point error ``|flow - true_flow|`` in pixels, over ``mask`` (bool ``(H, W)``) if given."""
    f = checks.array("flow", flow, shape=(None, None, 2), min_size=1).astype(np.float64)
    t = checks.array("true_flow", true_flow, shape=(None, None, 2)).astype(np.float64)
    if t.shape != f.shape:
        raise ValueError(f"true_flow has shape {t.shape} but flow {f.shape}; they must be the same pixels")
    err = np.linalg.norm(f - t, axis=-1)
    if mask is not None:
        try:
            m = np.asarray(mask)
        except ValueError:  # ragged nesting
            m = np.asarray(None)
        if m.dtype != bool or m.shape != f.shape[:2]:
            raise TypeError(f"mask must be a bool array of shape {f.shape[:2]}, got {m.dtype} {m.shape}")
        if not m.any():
            raise ValueError("the EPE mask is empty")
        err = err[m]
    return float(err.mean())


def crop_true_flow(true_flow: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Express a frame-pixel flow in crop pixels, for a crop that applies ``affine`` to both frames.

    A pixel q of the crop comes from p = M⁻¹ q; it moves by f(p) in the frame, so by L f(p) in the crop (L
    the linear part of M).

    Returns
    -------
    ``(size, size, 2)`` float32.
    """
    m = checks.array("affine", affine, shape=(2, 3)).astype(np.float64)
    true_flow = checks.array("true_flow", true_flow, shape=(None, None, 2), min_size=1)
    size = checks.integer("size", size, 1, 4096)
    resampled = cv2.warpAffine(np.asarray(true_flow, np.float32), m, (size, size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
    return (resampled @ m[:, :2].T.astype(np.float32)).astype(np.float32)


def _roi_mask(landmarks: np.ndarray, size: int, rois: Sequence[ROI]) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    for x0, y0, x1, y1 in roi_boxes(landmarks, tuple(rois), size=size):
        mask[y0:y1, x0:x1] = True
    return mask


def flow_accuracy(videos, *, methods: Sequence[str] = ("farneback", "tvl1", "dis"), k: int = 50,
                  size: int = 128, pairs_per_video: int = 6, max_videos: int | None = None, seed: int = 0,
                  rois: Sequence[ROI] = REFERENCE_ROIS, options: dict | None = None) -> pd.DataFrame:
    """End-point error of each flow method against the true displacement of synthetic videos.

    Both frames of a pair are cropped with the reference crop of the first (as the pipeline does), and the
    true flow is mapped into the crop (:func:`crop_true_flow`). Three figures per method:

    - ``epe_all``: all crop pixels, over random (window start, frame in window) pairs, the pairs the
      pipeline computes (``pairs_per_video`` per video, offsets 1 .. k-1);
    - ``epe_roi``: the same pairs, pixels inside the ROIs only;
    - ``epe_apex``: (onset, apex) pairs of every micro-expression, pixels inside the ROIs: where the tiny
      motions live. ``true_apex`` is the mean true motion there, for scale.

    Parameters
    ----------
    videos : a synthetic corpus directory (:func:`melab.data.synthetic.make_corpus`) or an iterable of
        videos with ``frames``, ``landmarks``, ``events`` and ``true_flow(t0, t1)``
        (:class:`melab.data.synthetic.SyntheticVideo`).
    methods : flow methods to compare (default parameters, or ``options[method]``).
    k : window length for the random pairs.
    size : crop side in pixels.
    pairs_per_video, max_videos, seed : how many pairs, from how many videos, drawn how.
    rois : the ROI table for the masks.
    options : per-method parameter overrides, e.g. ``{"dis": {"preset": "fast"}}``.

    Returns
    -------
    DataFrame indexed by method with ``epe_all, epe_roi, epe_apex`` (pixels), ``true_apex`` (pixels),
    ``ms_per_pair`` (wall time of the flow call) and ``n_pairs``.
    """
    if isinstance(videos, (str, os.PathLike)):
        from melab.data.synthetic import load_video

        corpus = Path(videos)
        names = pd.read_csv(corpus / "videos.csv")["video"].tolist()[:max_videos]
        videos = (load_video(corpus, v) for v in names)
    elif max_videos is not None:
        videos = list(videos)[:max_videos]
    rng = np.random.default_rng(seed)
    options = options or {}
    sums = {m: dict(epe_all=[], epe_roi=[], epe_apex=[], ms=[]) for m in methods}
    true_apex = []
    for video in videos:
        frames, lm = video.frames, np.asarray(video.landmarks)
        starts = window_starts(len(frames), k)
        pairs = [(int(s), int(s + d)) for s, d in zip(rng.choice(starts, pairs_per_video),
                                                       rng.integers(1, k, pairs_per_video), strict=True)]
        micro = video.events[video.events["kind"] == "micro"]
        apex_pairs = [(int(r.onset), int(r.apex)) for r in micro.itertuples()]
        for kind, plist in (("window", pairs), ("apex", apex_pairs)):
            for t0, t1 in plist:
                affine = crop_affine(lm[t0], size=size)
                a, b = (_gray(apply_crop(affine, size=size, frames=frames[t])) for t in (t0, t1))
                truth = crop_true_flow(video.true_flow(t0, t1), affine, size)
                mask = _roi_mask(apply_crop(affine, size=size, landmarks=lm[t0]), size, rois)
                if kind == "apex":
                    true_apex.append(float(np.linalg.norm(truth[mask], axis=-1).mean()))
                for m in methods:
                    tic = time.perf_counter()
                    est = optical_flow(a, b, method=m, **options.get(m, {}))
                    sums[m]["ms"].append(1000 * (time.perf_counter() - tic))
                    if kind == "apex":
                        sums[m]["epe_apex"].append(flow_epe(est, truth, mask))
                    else:
                        sums[m]["epe_all"].append(flow_epe(est, truth))
                        sums[m]["epe_roi"].append(flow_epe(est, truth, mask))
    rows = {m: dict(epe_all=np.mean(s["epe_all"]), epe_roi=np.mean(s["epe_roi"]),
                    epe_apex=np.mean(s["epe_apex"]) if s["epe_apex"] else np.nan,
                    true_apex=np.mean(true_apex) if true_apex else np.nan,
                    ms_per_pair=np.median(s["ms"]), n_pairs=len(s["ms"])) for m, s in sums.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


# --------------------------------------------------------------------------------------------------
# Extraction at scale: process pool + on-disk cache
# --------------------------------------------------------------------------------------------------


def _array_digest(arr: np.ndarray) -> str:
    arr = np.ascontiguousarray(arr)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def _path_identity(path: Path) -> str:
    """What a video is: a digest of the bytes of its file, or of the names and bytes of an image folder's files
    (:func:`melab.data.cache.content_digest`), not its path, size or time stamp, which ``cp -p`` keeps."""
    if not path.exists():
        raise FileNotFoundError(f"no video at {path.resolve()}")
    return content_digest([path])


def _normalise_item(item, index: int) -> dict:
    """One item of :func:`extract_roi_series` -> a job dict (frames or path, landmarks, identities)."""
    video, landmarks = item if isinstance(item, (tuple, list)) and len(item) == 2 else (item, None)
    fps = getattr(video, "fps", None)
    name = str(getattr(video, "video", f"item {index}"))
    if isinstance(video, (str, os.PathLike)):
        path, frames, name = Path(video), None, Path(video).name
    elif isinstance(video, np.ndarray):
        path, frames = None, video
    elif getattr(video, "path", None) is not None:  # a dataset VideoItem, or a SyntheticVideo read from disk
        path, frames = Path(video.path), None
    elif isinstance(getattr(video, "frames", None), np.ndarray):  # a SyntheticVideo rendered in memory
        path, frames = None, video.frames
    else:
        raise TypeError(f"item {index}: expected (video, landmarks), a path, frames, or an object with .path or "
                        f".frames; got {type(video).__name__}")
    if landmarks is None:
        if getattr(video, "landmarks", None) is not None:
            landmarks = video.landmarks
        elif path is not None and (path / "truth.npz").exists():  # a synthetic corpus video
            with np.load(path / "truth.npz", allow_pickle=False) as z:
                landmarks = z["landmarks"]
        else:
            landmarks = "mediapipe"
    job = dict(path=None if path is None else str(path), frames=frames, fps=fps, name=name,
               video_id=_path_identity(path) if path is not None else _array_digest(np.asarray(frames)))
    # a dataset video with missing images (CAS(ME)^3) is read padded: frame t shows image image_index[t]
    image_index = getattr(video, "image_index", None) if path is not None else None
    if image_index is not None:
        job.update(image_index=np.asarray(image_index), video_id=f"{job['video_id']}+{_array_digest(image_index)}")
    if isinstance(landmarks, str):
        if landmarks != "mediapipe":
            raise ValueError(f"landmarks of item {index} must be an array or 'mediapipe'; got {landmarks!r}")
        from melab.face import IBUG_FROM_MEDIAPIPE

        job.update(landmarks="mediapipe", landmarks_id="mediapipe-0.10.14-" + _array_digest(IBUG_FROM_MEDIAPIPE))
    else:
        lm = np.asarray(landmarks, np.float32)
        job.update(landmarks=lm, landmarks_id=_array_digest(lm))
    return job


def _cache_key(job: dict, options: dict) -> str:
    opts = dict(options)
    opts["rois"] = [asdict(r) for r in opts["rois"]]
    opts["flow_options"] = flow_params(opts["method"], **(opts["flow_options"] or {}))
    blob = json.dumps(dict(video=job["video_id"], landmarks=job["landmarks_id"], options=opts,
                           version=CODE_VERSION), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _save_entry(path: Path, **arrays) -> None:
    """Write an .npz atomically (:func:`melab.atomic.atomic_path`: temporary file, fsync, rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _load_entry(path: Path) -> np.ndarray | None:
    """The cached series, or None if the entry is missing or unreadable (it is then recomputed)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return np.asarray(z["series"], np.float32)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _run_job(job: dict) -> np.ndarray:
    """Compute one video's series and store it; runs in a worker process (or inline)."""
    if job["frames"] is not None:
        landmarks = job["landmarks"]
        if isinstance(landmarks, str):
            from melab.face import detect_landmarks

            landmarks = detect_landmarks(job["frames"], source="mediapipe", name=job["name"])
        result = roi_flow_series(job["frames"], landmarks, name=job["name"], **job["options"])
    else:
        result = _stream_file(job)
    _save_entry(Path(job["entry"]), series=result.series, head=result.head, channels=np.array(result.channels),
                starts=result.starts)
    return result.series


def _stream_file(job: dict) -> FlowSeries:
    """:func:`roi_flow_series` of a video file or image folder read frame by frame (:class:`RoiFlowStream`): only
    one window of grey frames is held. Landmarks are the job's array, or MediaPipe's, detected frame by frame;
    the checks and their messages are those of :func:`melab.face.detect_landmarks` and :func:`roi_flow_series`."""
    from melab.data.video import VideoError, VideoReader
    from melab.face import FaceMeshTracker, fill_gaps

    name, k, stride = job["name"], job["options"]["k"], job["options"]["stride"]
    given = None if isinstance(job["landmarks"], str) else np.asarray(job["landmarks"], np.float32)
    stream = RoiFlowStream(name=name, **job["options"])
    found: list[np.ndarray] = []  # MediaPipe's landmarks of every frame
    size = None  # (H, W) of the frames
    # ROI series do not depend on fps, but an image folder cannot be read without one (any plausible rate)
    with VideoReader(job["path"], job["fps"] or 30.0) as reader, \
            FaceMeshTracker(name=name) if given is None else contextlib.nullcontext() as track:
        fits = given is None or (given.ndim == 3 and given.shape[1:] == (68, 2))  # else the check below says so
        image_index = job.get("image_index")  # a padded dataset video: frame t shows image image_index[t]
        for t, frame in enumerate(reader.frames() if image_index is None else reader.pick(image_index)):
            if size is None:
                size = frame.shape[:2]
                if given is not None and fits:
                    check_landmarks_in_frame(given, *size, name=name)
            if given is None:
                found.append(track(frame))
                fits = fits and bool(np.isfinite(found[-1]).all())  # a frame without a face fails the run
            fits = fits and (given is None or t < len(given))
            if fits:  # once it cannot succeed, the run only counts its frames and faces, for the messages
                stream.push(frame, found[-1] if given is None else given[t])
        n = reader.n_read if reader.files is None else len(reader.files if image_index is None else image_index)
    if n == 0:
        raise VideoError(f"video {reader.path} holds zero frames (corrupt, truncated or not a video)")
    if given is None:
        landmarks = fill_gaps(np.stack(found), name=name)
        warn_landmark_jumps(landmarks, name=name)
    else:
        landmarks = given
    _check_landmarks(landmarks, n, window_starts(n, k, stride, name=name), name, size)
    return stream.finish(check=False)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe


def extract_roi_series(items: Iterable, *, cache_dir: str | os.PathLike, k: int, processes: int = 1,
                       progress: bool = True, **options) -> list[np.ndarray]:
    """ROI series of many videos, in parallel processes, with an on-disk cache.

    Parameters
    ----------
    items : each ``(video, landmarks)`` or just ``video``. ``video`` is a path (video file or image folder,
        read with :func:`melab.data.video.read_frames`), a ``(T, H, W, 3)`` uint8 array, or an object with
        ``path`` or ``frames`` (a :class:`melab.data.dataset.VideoItem`, a
        :class:`melab.data.synthetic.SyntheticVideo`). ``landmarks`` is a ``(T, 68, 2)`` array or
        ``"mediapipe"`` (detected in the worker); when omitted: the video's ``landmarks`` attribute, else the
        ``truth.npz`` of a synthetic-corpus folder, else MediaPipe.
    cache_dir : folder of the cache, created if needed. One ``<key>.npz`` per video holds ``series``,
        ``head``, ``channels`` and ``starts``. The key hashes the video's content (the bytes of its file or
        image files, or the frames), the landmarks, ``k`` and every option (flow method and its parameters
        included) and :data:`CODE_VERSION`: a video replaced by another one, even of the same size and time
        stamp, is computed again.
    k : window length; ``options`` are the other keywords of :func:`roi_flow_series` (except ``name`` and
        ``with_raw``).
    processes : 1 runs inline; more uses a process pool (spawned workers, one OpenCV thread each). An error
        in a worker is raised here as the same exception, naming the video (:func:`melab.workers.map_processes`).
    progress : show a tqdm bar (``TQDM_DISABLE=1`` silences it).

    Returns
    -------
    One ``(T, C)`` float32 series per item, in order.

    Notes
    -----
    Entries are written to a temporary file and renamed into place (``os.replace``), so a crash or a kill
    never leaves a partial entry under a valid name; rerunning computes only the missing entries. An
    unreadable entry counts as missing.
    """
    if isinstance(items, (str, os.PathLike, np.ndarray)) or not isinstance(items, Iterable):
        raise TypeError(f"items must be a list of videos (paths, frames, or (video, landmarks) pairs), got "
                        f"{type(items).__name__}; wrap one video in a list")
    k = checks.integer("k", k, 2, MAX_FRAMES)
    processes = checks.integer("processes", processes, 1, 256)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(cache)  # entries a killed run was writing
    defaults = dict(stride=None, rois=REFERENCE_ROIS, top_p=(0.3, 0.2), size=128, align=True, method="farneback",
                    flow_options=None, compensate=True, recentre_px=1.0, max_recentre=2, detrend=6.0)
    unknown = set(options) - set(defaults)
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}; known: {sorted(defaults)}")
    opts = {**defaults, **options, "k": k, "rois": tuple(options.get("rois", REFERENCE_ROIS))}
    jobs = [_normalise_item(item, i) for i, item in enumerate(items)]
    results: list[np.ndarray | None] = []
    todo = []
    for i, job in enumerate(jobs):
        job["entry"] = str(cache / f"{_cache_key(job, opts)}.npz")
        job["options"] = opts
        results.append(_load_entry(Path(job["entry"])))
        if results[-1] is None:
            todo.append(i)
    # pass `disable` only to switch the bar off, so that TQDM_DISABLE=1 in the environment still works
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="roi series", unit="video",
               **({} if progress else {"disable": True}))
    try:
        if processes <= 1 or len(todo) <= 1:
            for i in todo:
                try:
                    results[i] = _run_job(jobs[i])
                except Exception as err:
                    raise with_context(err, _job_name(jobs[i])) from err
                bar.update()
        else:
            runs = map_processes(_run_job, [jobs[i] for i in todo], [_job_name(jobs[i]) for i in todo],
                                 processes=min(processes, len(todo)), initializer=_init_worker, start_method="spawn")
            try:
                for j, series in runs:
                    results[todo[j]] = series
                    bar.update()
            except BaseException:
                runs.close()  # stops the workers (if the error was not theirs)
                remove_stale_temporaries(cache)  # what the stopped workers were writing
                raise
    finally:
        bar.close()
    return results


def _job_name(job: dict) -> str:
    """How messages name a job's video: its path (a file or an image folder), else its name."""
    return f"video {job['path'] if job['path'] is not None else job['name']}"
