"""Training-free spotting: a main-directional feature difference on ROI flow series.

In the spirit of MDMD (He et al. 2020) and the optical-flow feature difference of the MEGC baselines: a
micro-expression is a short burst of motion, so a frame is scored by how far its ROI flow departs from its
temporal neighbourhood, not by how much the face moves.

1. **Contrast** (:func:`feature_difference`): per ROI, the flow vector ``f(t)`` (dx, dy) against the mean
   of ``f(t − k)`` and ``f(t + k)``; the norm of the difference. Slow drifts and long macro-expressions cancel,
   a burst shorter than ``2k`` frames does not.
2. **Robust per-ROI normalisation**: ``(d − median) / MAD`` (scaled to a normal SD) over the video, so a
   noisy ROI does not dominate a quiet one.
3. **Top-N ROIs** (:func:`feature_difference_scores`): the mean of the N largest normalised contrasts per
   frame (an ME moves a few regions, not all), min-max scaled to [0, 1].
4. **Peaks and an ME-duration filter** (:func:`feature_difference_spot`): peaks of the curve at relative
   height ``p`` (the decoders' peak rule, :func:`melab.decode.score_peaks`); a peak whose width at half its
   prominence (:func:`scipy.signal.peak_widths`) exceeds ``max_width`` frames is too long for an ME and is
   dropped; each kept peak becomes ``peak ± half_width``.

Its parameters are meant to be chosen on training folds (:func:`melab.tuning.nested_select`).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import peak_widths
from scipy.stats import median_abs_deviation

from melab.decode import relative_threshold, score_peaks, smooth_scores

__all__ = ["feature_difference", "feature_difference_scores", "feature_difference_spot"]

Interval = tuple[int, int]


def _check_series(series) -> np.ndarray:
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] % 2 or x.shape[1] == 0:
        raise ValueError(f"series must be a (T, C) ROI series with C = 2 x ROIs (dx, dy), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        frame = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise ValueError(f"series holds a non-finite value at frame {frame}; fill missing frames first")
    return x


def feature_difference(series, k: int = 4) -> np.ndarray:
    """Per-ROI temporal contrast ``|f(t) − (f(t−k) + f(t+k)) / 2|``, robustly normalised.

    Parameters
    ----------
    series : array_like, shape (T, C)
        ROI series, channels (dx, dy) per ROI, pixels.
    k : int
        Neighbourhood offset in frames (>= 1). Frames beyond the video repeat its first or last frame.

    Returns
    -------
    numpy.ndarray, shape (T, C/2), float64
        ``(d − median) / MAD`` per ROI (MAD scaled to a normal SD; an ROI with MAD 0 is only centred).
    """
    x = _check_series(series)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    padded = np.pad(x, ((k, k), (0, 0)), mode="edge")
    contrast = x - 0.5 * (padded[: len(x)] + padded[2 * k :])  # (T, C)
    d = np.hypot(contrast[:, 0::2], contrast[:, 1::2])  # (T, ROIs)
    mad = median_abs_deviation(d, axis=0, scale="normal")
    return (d - np.median(d, axis=0)) / np.where(mad > 0, mad, 1.0)


def feature_difference_scores(series, *, k: int = 4, top_n: int = 3) -> np.ndarray:
    """Training-free spotting scores: the mean of the ``top_n`` largest normalised ROI contrasts per frame.

    Returns
    -------
    numpy.ndarray, shape (T,), float64 in [0, 1] (min-max scaled; 0 everywhere if flat).
    """
    d = feature_difference(series, k)
    if isinstance(top_n, bool) or not isinstance(top_n, int | np.integer) or not 1 <= top_n <= d.shape[1]:
        raise ValueError(f"top_n must be an integer in 1..{d.shape[1]} (the number of ROIs), got {top_n!r}")
    score = np.sort(d, axis=1)[:, -top_n:].mean(axis=1)
    span = score.max() - score.min()
    return (score - score.min()) / span if span > 0 else np.zeros_like(score)


def feature_difference_spot(
    series,
    *,
    k: int = 4,
    top_n: int = 3,
    p: float = 0.55,
    half_width: int = 5,
    max_width: float | None = 15.0,
    smooth: int = 1,
) -> list[Interval]:
    """Spot MEs without training: feature-difference scores, peaks, an ME-duration filter.

    Parameters
    ----------
    series : array_like, shape (T, C)
        ROI series.
    k, top_n
        As in :func:`feature_difference_scores`.
    p : float
        Relative peak height in [0, 1] (``mean + p·(max − mean)``), as :func:`melab.decode.fixed_window`.
    half_width : int
        Each kept peak becomes ``[peak − half_width, peak + half_width]`` clipped to the video; also the
        minimum distance between peaks.
    max_width : float or None
        Longest peak, in frames at half prominence, that still counts as an ME (0.5 s = 15 frames at 30 fps);
        None keeps every peak.
    smooth : int
        Odd box-filter width applied to the scores first.

    Returns
    -------
    list of (int, int), 0-based inclusive intervals sorted by onset.
    """
    s = smooth_scores(feature_difference_scores(series, k=k, top_n=top_n), smooth)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p!r}")
    peaks = score_peaks(s, half_width, relative_threshold(s, p))
    if max_width is not None and len(peaks):
        widths = peak_widths(s, peaks, rel_height=0.5)[0]
        peaks = peaks[widths <= max_width]
    return [(max(0, int(t) - half_width), min(len(s) - 1, int(t) + half_width)) for t in peaks]
