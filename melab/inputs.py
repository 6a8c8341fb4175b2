"""What the spotter reads: an ROI flow series turned into the model's input, the same way in training and inference.

The ROI series of :mod:`melab.flow` is a displacement track: for every ROI, where it is (dx, dy, pixels) against a
slow baseline. A spotter can read it as it is, or a transform of it. Five inputs are defined here
(:data:`INPUTS`); each checkpoint records its own in ``SpotterConfig.input``, and :func:`spotter_input` /
:func:`input_windows` are the one place that applies it, for training windows and whole-video scores alike.

- ``"track"``: the stitched displacement track itself (melab's input until the inputs were compared; a checkpoint
  that records no input was trained on it).
- ``"window"``: the official ME-TST / BoostingVRME input: each window is the displacement of every frame
  relative to the window's first frame (:func:`melab.flow.reference_windows`). Official weights need it.
- ``"velocity"``: the frame-to-frame flow ``f(t) − f(t − 1)`` of every channel, standardised per video (minus its
  median, over its standard deviation).
- ``"contrast"``: 36 multi-scale temporal-contrast features (:func:`temporal_contrast` at :data:`CONTRAST_LAGS`,
  as ``log(f / median_t f)`` (:func:`contrast_features`), then standardised per video).
- ``"contrast_velocity"`` (melab's default): the 36 contrast features followed by the 36 velocity channels.

Why melab departs from the official input (``benchmarks/results/spotter_inputs.json``): on the synthetic corpora
the tiny spotter fed the track or the window-relative displacement memorises its training faces (per-frame
training AUC 0.98, held-out AUC 0.54-0.62, ME against macro-expression at chance). An ME is a *short* burst; how
far a frame departs from its neighbours at lags of 1-15 frames, relative to how much this video moves anyway,
says so directly, and the per-video scaling makes a quiet face and a noisy one look alike. The velocity channels
keep which ROI moved and in which direction, which the recognition head needs. The contrast features are pooled
over ROIs (max, top-3 mean, median, onset-relative max), so they are unchanged by a left-right mirror; the velocity
channels are mirrored by :func:`mirror_input`.

Every transform is a function of the whole video (its medians and deviations), so a video is transformed once
and then cut into windows; a window is never normalised on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from melab.face import REFERENCE_ROIS, ROI
from melab.flow import window_starts

__all__ = [
    "CONTRAST_LAGS",
    "CONTRAST_STATISTICS",
    "DEFAULT_INPUT",
    "INPUTS",
    "LEGACY_INPUT",
    "check_input",
    "check_series",
    "contrast_feature_names",
    "contrast_features",
    "contrast_lags",
    "input_channels",
    "input_windows",
    "mirror_input",
    "mirror_permutation",
    "spotter_input",
    "temporal_contrast",
]

INPUTS = ("track", "window", "velocity", "contrast", "contrast_velocity")
DEFAULT_INPUT = "contrast_velocity"
# what a checkpoint saved before the input was recorded was trained on
LEGACY_INPUT = "track"

# Lags in frames at 30 fps: one frame to half a second, the range of ME half-durations and a little beyond
CONTRAST_LAGS: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 10, 12, 15)
CONTRAST_STATISTICS = ("max", "top3", "median", "onset_max")


def check_input(kind: str) -> str:
    """``kind`` if it is one of :data:`INPUTS`, else a ValueError that lists them."""
    if kind not in INPUTS:
        raise ValueError(f"unknown spotter input {kind!r}; choose one of {', '.join(INPUTS)}")
    return kind


def check_series(series) -> np.ndarray:
    """``series`` as a finite ``(T, C)`` float64 array with C = 2 x ROIs, or a ValueError naming what is wrong."""
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] % 2 or x.shape[1] == 0:
        raise ValueError(f"series must be a (T, C) ROI series with C = 2 x ROIs (dx, dy), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        frame = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise ValueError(f"series holds a non-finite value at frame {frame}; fill missing frames first")
    return x


# ---- multi-scale temporal contrast ------------------------------------------------------------------------------

def contrast_lags(fps: float = 30.0, lags: Sequence[int] = CONTRAST_LAGS) -> tuple[int, ...]:
    """:data:`CONTRAST_LAGS` (frames at 30 fps) at another frame rate: the same times, at least 1 frame each."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    return tuple(sorted({max(1, round(d * fps / 30.0)) for d in lags}))


def contrast_feature_names(lags: Sequence[int] = CONTRAST_LAGS) -> list[str]:
    """Column names of :func:`temporal_contrast`: ``<statistic>@<lag>``, the statistics within each lag."""
    return [f"{stat}@{d}" for d in lags for stat in CONTRAST_STATISTICS]


def _check_lags(lags: Sequence[int]) -> tuple[int, ...]:
    lags = tuple(lags)
    if not lags or any(isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1 for d in lags):
        raise ValueError(f"lags must be a non-empty sequence of integers >= 1, got {lags!r}")
    return lags


def temporal_contrast(series, lags: Sequence[int] = CONTRAST_LAGS) -> np.ndarray:
    """Multi-scale temporal-contrast features of an ROI series.

    Per lag ``d``: the ROI contrast ``c_r(t) = |f_r(t) − (f_r(t−d) + f_r(t+d)) / 2|`` (the norm over dx, dy) gives
    its maximum over ROIs, the mean of its 3 largest, its median over ROIs (how much the whole face moves:
    talking and head motion move every ROI, an ME a few), and the largest onset-relative change
    ``max_r |f_r(t) − f_r(t−d)|``. A burst shorter than ``2d`` frames stands out at lag ``d``, a long
    macro-expression only at long lags, so the profile over lags carries duration.

    Parameters
    ----------
    series : array_like, shape (T, C)
        ROI series, channels (dx, dy) per ROI, pixels.
    lags : sequence of int
        Offsets ``d`` in frames. Frames beyond the video repeat its first or last frame.

    Returns
    -------
    numpy.ndarray, shape (T, 4 · len(lags)), float64, pixels
        Columns :func:`contrast_feature_names`. With fewer than 3 ROIs, "top3" is the mean of all.

    Examples
    --------
    >>> x = np.zeros((9, 2)); x[4] = (3.0, 4.0)   # one ROI jumps 5 px for one frame
    >>> temporal_contrast(x, lags=(1,))[4]          # max, top3, median, onset max
    array([5., 5., 5., 5.])
    """
    x = check_series(series)
    lags = _check_lags(lags)
    T = len(x)
    top = min(3, x.shape[1] // 2)
    out = []
    for d in lags:
        padded = np.pad(x, ((d, d), (0, 0)), mode="edge")
        before, after = padded[:T], padded[2 * d:]
        c = x - 0.5 * (before + after)
        contrast = np.hypot(c[:, 0::2], c[:, 1::2])  # (T, ROIs)
        onset = x - before
        ranked = np.sort(contrast, axis=1)
        out += [ranked[:, -1], ranked[:, -top:].mean(axis=1), np.median(contrast, axis=1),
                np.hypot(onset[:, 0::2], onset[:, 1::2]).max(axis=1)]
    return np.stack(out, axis=1)


def contrast_features(series, lags: Sequence[int] = CONTRAST_LAGS, *, eps: float = 1e-3) -> np.ndarray:
    """:func:`temporal_contrast` as ``log(f / median_t f + eps)``: relative to the video's own typical value.

    A video's noise level and the face's size scale every contrast; dividing by the per-video median puts a
    quiet and a noisy video on one scale, and the log makes a burst 3x above the typical level the same step in
    every video.

    Returns
    -------
    numpy.ndarray, shape (T, 4 · len(lags)), float64 (dimensionless).
    """
    f = temporal_contrast(series, lags)
    median = np.median(f, axis=0)
    return np.log(f / np.where(median > 0, median, 1.0) + eps)


# ---- the inputs -------------------------------------------------------------------------------------------------

def _standardise(x: np.ndarray, centre: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - centre) / np.where(sd > 0, sd, 1.0)


def _velocity(x: np.ndarray) -> np.ndarray:
    v = np.diff(x, axis=0, prepend=x[:1])
    return _standardise(v, np.median(v, axis=0))


def input_channels(kind: str, channels: int) -> int:
    """Channels of the model input for an ROI series of ``channels`` channels (2 x ROIs)."""
    check_input(kind)
    n_contrast = 4 * len(CONTRAST_LAGS)
    return {"contrast": n_contrast, "contrast_velocity": n_contrast + channels}.get(kind, channels)


def spotter_input(series, kind: str = DEFAULT_INPUT) -> np.ndarray:
    """The model input of one whole video (before cutting windows; see :func:`input_windows`).

    Parameters
    ----------
    series : array_like, shape (T, C)
        ROI series (:func:`melab.flow.roi_series`), pixels, at the model's frame rate.
    kind : one of :data:`INPUTS` (module docstring).

    Returns
    -------
    numpy.ndarray, shape (T, :func:`input_channels`), float32
        ``"track"`` and ``"window"`` return the series itself (``"window"`` is made relative per window by
        :func:`input_windows`); ``"velocity"`` the standardised frame-to-frame flow; ``"contrast"`` the
        standardised :func:`contrast_features`; ``"contrast_velocity"`` both, contrast first. Lags are in
        frames at the model's rate (:data:`CONTRAST_LAGS`, chosen for 30 fps).
    """
    check_input(kind)
    x = check_series(series)
    if kind in ("track", "window"):
        return x.astype(np.float32)
    parts = []
    if kind in ("contrast", "contrast_velocity"):
        contrast = contrast_features(x)
        parts.append(_standardise(contrast, contrast.mean(axis=0)))
    if kind in ("velocity", "contrast_velocity"):
        parts.append(_velocity(x))
    return np.concatenate(parts, axis=1).astype(np.float32)


def input_windows(x: np.ndarray, k: int, kind: str = DEFAULT_INPUT, *,
                  stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut a video's model input into the windows the spotter reads (length ``k``, stride ``k/2``).

    Parameters
    ----------
    x : ``(T, C')`` :func:`spotter_input` of the video. A video shorter than ``k`` is padded with zeros.
    k, stride : window length and step (:func:`melab.flow.window_starts`; the last window ends at the video's end).
    kind : the input; ``"window"`` makes each window relative to its first frame, the official input.

    Returns
    -------
    windows : ``(N, k, C')`` float32.
    starts : ``(N,)`` int64 first frames.
    """
    check_input(kind)
    x = np.asarray(x, np.float32)
    x = np.pad(x, [(0, max(0, k - len(x))), (0, 0)])
    starts = window_starts(len(x), k, stride)
    windows = x[starts[:, None] + np.arange(k)]
    if kind == "window":
        windows = windows - windows[:, :1]
    return windows, starts


# ---- left-right mirror -----------------------------------------------------------------------------------------

def _mirror_name(name: str) -> str:
    return "_".join({"r": "l", "l": "r"}.get(part, part) for part in name.split("_"))


def mirror_permutation(rois: Sequence[ROI] = REFERENCE_ROIS) -> np.ndarray:
    """ROI index of each ROI's mirror image (``brow_r`` <-> ``brow_l``; midline ROIs map to themselves).

    Raises
    ------
    ValueError when an ROI named ``..._r`` / ``..._l`` has no partner.
    """
    names = [roi.name for roi in rois]
    missing = [n for n in names if _mirror_name(n) not in names]
    if missing:
        raise ValueError(f"ROIs {missing} have no mirror partner among {names}")
    return np.array([names.index(_mirror_name(n)) for n in names])


def mirror_input(windows: np.ndarray, kind: str = DEFAULT_INPUT, rois: Sequence[ROI] = REFERENCE_ROIS) -> np.ndarray:
    """The input a left-right mirrored face would give: ROI channels swapped with their partners, dx negated.

    Parameters
    ----------
    windows : ``(..., C')`` model input (any leading shape) of kind ``kind``.
    kind : one of :data:`INPUTS`. The pooled contrast features are unchanged by a mirror (maxima, means and
        medians over ROIs of norms): ``"contrast"`` comes back as it is, and only the velocity channels of
        ``"contrast_velocity"`` move.
    rois : the ROIs of the series, in channel order.

    Returns
    -------
    numpy.ndarray, same shape and dtype. Mirroring twice gives the input back.
    """
    x = np.array(windows, copy=True)
    expected = input_channels(kind, 2 * len(rois))
    if x.shape[-1] != expected:
        raise ValueError(f"windows have {x.shape[-1]} channels; a {kind!r} input of {len(rois)} ROIs has {expected}")
    if kind == "contrast":
        return x
    perm = mirror_permutation(rois)
    start = expected - 2 * len(rois)
    roi = x[..., start:].reshape(*x.shape[:-1], len(rois), 2)[..., perm, :]
    roi[..., 0] *= -1
    x[..., start:] = roi.reshape(*x.shape[:-1], 2 * len(rois))
    return x
