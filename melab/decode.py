"""Interval decoding: from per-frame spotting scores to expression intervals.

Two decoders turn a spotting score curve ``(T,)`` into a list of 0-based inclusive
``(onset, offset)`` intervals, and :func:`assign_emotions` labels those intervals from
per-frame class probabilities ``(T, K+1)`` (neutral last).

- :func:`fixed_window` is the reference baseline: peaks of the smoothed curve, each widened
  to a fixed window ``peak ± k``.
- :func:`siss` is the scalable interval selection strategy of BoostingVRME (§3.2): each peak
  is extended both ways with a low threshold near the peak and a high threshold beyond it,
  so intervals follow the curve instead of a preset duration.

Thresholds
----------
Both decoders put thresholds on the *smoothed* curve ``s``. With ``scale="relative"`` (the
default, and the only scale of the baseline) a threshold ``q`` in [0, 1] means
``mean(s) + q · (max(s) − mean(s))``: 0 is the video's mean score, 1 its highest score.
This adapts to how confident the model is on each video, which is what the reference
baseline does with its ``p``; ``low``, ``high`` and ``p`` then live on the same axis, so one
set of sliders drives both decoders. The price: a relative threshold finds something in any
curve that is not flat, including a video without expressions. With ``scale="absolute"``
(SISS only) a threshold is a score in [0, 1], as the paper phrases it ("the probability falls
below this threshold"), and a confident model can stay silent on a neutral video.

Smoothing is a centred box filter of odd width ``smooth`` frames
(:func:`scipy.ndimage.uniform_filter1d`, edges padded with the nearest value);
``smooth=1`` leaves the scores unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

__all__ = ["smooth_scores", "relative_threshold", "fixed_window", "siss", "assign_emotions"]

Interval = tuple[int, int]


def _check_scores(scores) -> np.ndarray:
    """Return ``scores`` as a float64 ``(T,)`` array, or raise a ValueError naming the problem."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be a 1-D (T,) array of per-frame scores, got shape {s.shape}")
    if s.size == 0:
        raise ValueError("scores is empty: pass at least one frame's score")
    bad = np.flatnonzero(~np.isfinite(s))
    if bad.size:
        first = int(bad[0])
        kind = "NaN" if np.isnan(s[first]) else "inf"
        raise ValueError(
            f"scores contain {bad.size} non-finite value(s); the first is {kind} at frame {first}. "
            "Fill or interpolate missing frames before decoding."
        )
    return s


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_fraction(name: str, value) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return float(value)


def smooth_scores(scores, smooth: int = 1) -> np.ndarray:
    """Smooth a score curve with a centred box filter.

    Parameters
    ----------
    scores : array_like, shape (T,)
        Per-frame spotting scores; must be finite.
    smooth : int
        Odd filter width in frames; 1 returns an unchanged float64 copy.

    Returns
    -------
    numpy.ndarray, shape (T,), float64
    """
    s = _check_scores(scores)
    smooth = _check_int("smooth", smooth, 1)
    if smooth % 2 == 0:
        raise ValueError(f"smooth must be odd so the box filter is centred on each frame, got {smooth}")
    if smooth == 1:
        return s.copy()
    return uniform_filter1d(s, size=smooth, mode="nearest")


def relative_threshold(s: np.ndarray, q: float) -> float:
    """Threshold ``mean(s) + q · (max(s) − mean(s))`` on a curve ``s`` (``q`` = 0 mean, 1 max)."""
    mean = float(np.mean(s))
    return mean + q * (float(np.max(s)) - mean)


def _clip(peak: int, k: int, n: int) -> Interval:
    return max(0, peak - k), min(n - 1, peak + k)


def fixed_window(scores, k: int, p: float = 0.55, *, smooth: int = 1) -> list[Interval]:
    """Decode intervals with the fixed-window baseline.

    The curve is smoothed (box filter of width ``smooth``); peaks are found with
    ``scipy.signal.find_peaks(s, height=mean + p·(max − mean), distance=k)``; each peak
    becomes the interval ``[peak − k, peak + k]`` clipped to the video. As in the reference,
    a maximum on the first or last frame is not a peak.

    Parameters
    ----------
    scores : array_like, shape (T,)
        Per-frame spotting scores, finite (nominally in [0, 1]).
    k : int
        Half window in frames (about half the median expression length), >= 1. Also the
        minimum distance between two peaks.
    p : float
        Relative peak threshold in [0, 1] (see the module docstring). The reference uses 0.55.
    smooth : int
        Odd box-filter width in frames (1 = no smoothing).

    Returns
    -------
    list of (int, int)
        0-based inclusive intervals sorted by onset. Windows of neighbouring peaks may overlap.

    Examples
    --------
    >>> s = np.zeros(40); s[10] = 1.0; s[30] = 0.8
    >>> fixed_window(s, k=3)
    [(7, 13), (27, 33)]
    """
    s = smooth_scores(scores, smooth)
    k = _check_int("k", k, 1)
    p = _check_fraction("p", p)
    peaks, _ = find_peaks(s, height=relative_threshold(s, p), distance=k)
    return [_clip(int(t), k, s.size) for t in peaks]


def _extend(s: np.ndarray, peak: int, k: int, low: float, high: float, patience: int) -> Interval:
    """Grow ``[peak, peak]`` both ways; see :func:`siss` for the rule."""

    def edge(step: int) -> int:
        last, below, t = peak, 0, peak + step
        while 0 <= t < s.size:
            thr = low if abs(t - peak) <= k else high
            if s[t] < thr:
                below += 1
                if below >= patience:
                    break
            else:
                below, last = 0, t
            t += step
        return last

    return edge(-1), edge(+1)


def _iou(a: Interval, b: Interval) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    return inter / ((a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter)


def siss(
    scores,
    k: int,
    low: float = 0.3,
    high: float = 0.6,
    patience: int = 2,
    *,
    smooth: int = 1,
    peak_height: float | None = None,
    scale: Literal["relative", "absolute"] = "relative",
    nms_iou: float = 0.5,
) -> list[Interval]:
    """Decode intervals with the scalable interval selection strategy (SISS).

    BoostingVRME §3.2, with every threshold a parameter:

    1. **Peaks.** Smooth the curve, then take ``scipy.signal.find_peaks(s, height=peak_height,
       distance=k)``. Unlike :func:`fixed_window`, the curve is padded with one frame below its
       minimum at each end, so an expression that touches the first or last frame still
       yields a peak; a flat curve has none.
    2. **Extension.** From a peak, walk left and right frame by frame. A frame ``t`` with
       ``|t − peak| <= k`` is compared with ``low``; a frame further away with ``high``.
       The walk stops once ``patience`` consecutive frames are below their threshold; the
       interval edge is the last frame at or above its threshold. A dip shorter than
       ``patience`` is bridged.
    3. **Re-selection.** If the interval holds a frame strictly higher than the peak, that
       frame (the first maximum) becomes the peak and step 2 is repeated from it, until the
       peak is the interval's maximum.
    4. **Duplicates.** Seeds that re-select the same peak give the same interval.
       Non-maximum suppression keeps intervals in order of their peak's score and drops any
       whose IoU with a kept one is ``>= nms_iou``. The default 0.5 is the MEGC match
       threshold: two intervals that could both match the same expression count as one.

    Parameters
    ----------
    scores : array_like, shape (T,)
        Per-frame spotting scores, finite (nominally in [0, 1]).
    k : int
        Half window in frames (about half the median expression length), >= 1: the range
        where the low threshold applies, and the minimum peak distance.
    low, high : float
        Thresholds in [0, 1] with ``low <= high``, on the scale ``scale`` (module docstring).
        Defaults 0.3 and 0.6 (relative): the peak zone keeps frames a little above the
        video's mean, and only a curve that stays well up extends past ``k``.
    patience : int
        Consecutive below-threshold frames that end an interval (the paper uses 2).
    smooth : int
        Odd box-filter width in frames (1 = no smoothing).
    peak_height : float or None
        Minimum peak height on the same scale; ``None`` uses ``high`` (a seed must clear
        the high threshold).
    scale : {"relative", "absolute"}
        ``"relative"``: ``q`` means ``mean + q·(max − mean)`` of the smoothed curve.
        ``"absolute"``: ``q`` is a score.
    nms_iou : float
        IoU in (0, 1] at or above which two intervals are duplicates.

    Returns
    -------
    list of (int, int)
        0-based inclusive intervals inside ``[0, T)``, sorted by onset.

    Examples
    --------
    A clean box is recovered exactly, whatever its length:

    >>> s = np.zeros(60); s[20:45] = 1.0
    >>> siss(s, k=4)
    [(20, 44)]
    """
    s = smooth_scores(scores, smooth)
    k = _check_int("k", k, 1)
    patience = _check_int("patience", patience, 1)
    low, high = _check_fraction("low", low), _check_fraction("high", high)
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high}); swap them")
    height = high if peak_height is None else _check_fraction("peak_height", peak_height)
    if not 0.0 < nms_iou <= 1.0:
        raise ValueError(f"nms_iou must lie in (0, 1], got {nms_iou!r}")
    if scale == "relative":
        low, high, height = (relative_threshold(s, q) for q in (low, high, height))
    elif scale != "absolute":
        raise ValueError(f"scale must be 'relative' or 'absolute', got {scale!r}")

    if s.max() == s.min():
        return []  # a flat curve has no peak
    padded = np.concatenate([[s.min() - 1.0], s, [s.min() - 1.0]])
    seeds, _ = find_peaks(padded, height=height, distance=k)

    proposals: dict[Interval, float] = {}
    for seed in seeds - 1:
        peak = int(seed)
        while True:
            onset, offset = _extend(s, peak, k, low, high, patience)
            top = onset + int(np.argmax(s[onset : offset + 1]))
            if s[top] <= s[peak]:
                break
            peak = top
        proposals[(onset, offset)] = float(s[peak])

    kept: list[Interval] = []
    for interval in sorted(proposals, key=lambda iv: (-proposals[iv], iv)):
        if all(_iou(interval, other) < nms_iou for other in kept):
            kept.append(interval)
    return sorted(kept)


def assign_emotions(
    class_probs,
    intervals: Sequence[Interval],
    *,
    labels: Sequence[str],
    penalty: Mapping[str, float] | None = None,
    neutral_last: bool = True,
) -> list[tuple[int, int, str, float]]:
    """Label each interval by a penalised majority vote of per-frame classes.

    For each frame ``t`` the penalised probabilities are
    ``q[t, c] = class_probs[t, c] − penalty.get(labels[c], 0)``, and the frame votes for
    ``argmax_c q[t, c]`` (ties go to the lower column). Subtracting a penalty from the
    majority class (in the paper, "negative") lets a minority class win frames where the
    two are close. The interval takes the class with the most votes; a tie goes to the class
    with the larger summed ``q`` over the interval, then to the lower column. Intervals
    voted neutral (the last column, when ``neutral_last``) are dropped.

    Parameters
    ----------
    class_probs : array_like, shape (T, C)
        Per-frame class probabilities, finite; with ``neutral_last`` the last column is
        neutral, so C = K + 1.
    intervals : sequence of (int, int)
        0-based inclusive intervals inside ``[0, T)``.
    labels : sequence of str, length C
        Name of each column (neutral included, last).
    penalty : mapping of str to float, optional
        Amount subtracted from the named classes' probabilities before the vote, e.g.
        ``{"negative": 0.1}``. Keys must be in ``labels``.
    neutral_last : bool
        Whether the last column is the neutral class (dropped when voted).

    Returns
    -------
    list of (onset, offset, emotion, score)
        One row per kept interval, in input order. ``score`` is the mean *unpenalised*
        probability of the voted class over the interval's frames.
    """
    probs = np.asarray(class_probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"class_probs must be a 2-D (T, K+1) array, got shape {probs.shape}")
    bad = np.argwhere(~np.isfinite(probs))
    if bad.size:
        raise ValueError(f"class_probs contain non-finite values; the first is at frame {int(bad[0, 0])}")
    labels = list(labels)
    if len(labels) != probs.shape[1]:
        raise ValueError(f"labels has {len(labels)} names but class_probs has {probs.shape[1]} columns")
    penalty = dict(penalty or {})
    unknown = sorted(set(penalty) - set(labels))
    if unknown:
        raise ValueError(f"penalty names classes not in labels: {unknown}; labels are {labels}")
    shift = np.array([penalty.get(name, 0.0) for name in labels])
    n_frames = probs.shape[0]

    rows = []
    for onset, offset in intervals:
        onset, offset = int(onset), int(offset)
        if not 0 <= onset <= offset < n_frames:
            raise ValueError(
                f"interval ({onset}, {offset}) is not inside [0, {n_frames}) with onset <= offset"
            )
        q = probs[onset : offset + 1] - shift
        votes = Counter(np.argmax(q, axis=1).tolist())
        summed = q.sum(axis=0)
        winner = max(votes, key=lambda c: (votes[c], summed[c], -c))
        if neutral_last and winner == probs.shape[1] - 1:
            continue
        rows.append((onset, offset, labels[winner], float(probs[onset : offset + 1, winner].mean())))
    return rows
