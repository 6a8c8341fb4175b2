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
``smooth=1`` leaves the scores unchanged. Both decoders take the same smoothing and the same
peak rule (:func:`score_peaks`: relative height ``p``, minimum distance ``k``, optional peaks on the
first and last frame), so they can be compared at matched settings. Which settings to use is chosen
on training folds only (:func:`melab.tuning.nested_select`), never on the scores being judged.

Official variants
-----------------
``siss(..., variant=...)`` reproduces, as named presets, what the official BoostingVRME code
(``training_utils.spotting``) does; melab's own reading of the paper is ``variant="paper"``:

- ``"paper"``: §3.2 as written (module defaults above), with re-selection and melab's NMS.
- ``"official_samm"`` (its SAMM-LV test run): the curve is smoothed with
  ``numpy.convolve(s, ones(2k)/2k, mode="same")`` (an even box, zero-padded at the ends), peaks
  at relative height 0.65, then *absolute* thresholds 0.2 (within ``k`` of the peak) and 0.8
  (from ``k`` to ``2k``). A side stops at the first pair of consecutive frames below its
  threshold; the edge is capped at ``peak ± 2k`` when no pair is found. No re-selection, no NMS.
  Edges, as the official loops draw them: on the left the near search tests frames
  ``peak−1 … peak−k`` and the onset is the *inner* frame of the pair (itself below threshold); on
  the right it tests ``peak+1 … peak+k−1`` and the offset is the *outer* frame of the pair; the far
  searches cover ``peak−k−1 … peak−2k`` and ``peak+k+1 … peak+2k−1``; a pair needs both frames
  inside the video.
- ``"official_cas"`` (its CAS(ME)^3 code path): peaks on the smoothed curve as above at relative
  height 0.55, then everything on the *raw* scores with ``m`` = their video mean. The window
  ``peak ± k`` is trimmed inward: the onset moves to the frame before the first rising frame above
  ``m/1.5`` (scanning ``peak−k+1 … peak−1``), the offset to the frame after the last falling frame
  above ``m/1.5``. Each side is then extended outward (at most ``5k`` from the peak) and stops just
  inside the first pair of consecutive frames below ``m``; if no such pair lies within ``5k``,
  the trimmed edge stays. Intervals are then suppressed in onset order: a span is kept only if,
  against every kept span, its IoU is below 0.2 *and* its highest raw frame is more than ``k``
  frames from theirs. That IoU is the official one, ``overlap / hull`` with lengths
  ``offset − onset`` (not inclusive frame counts). Note that the official CAS(ME)^3 *test* run
  decodes with the fixed window (``interval_strategy = 0``), not with this path.

Emotion voting has an official counterpart too, :class:`ClassPrior` for :func:`assign_emotions`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from melab import checks

__all__ = [
    "VARIANTS",
    "smooth_scores",
    "relative_threshold",
    "score_peaks",
    "fixed_window",
    "siss",
    "ClassPrior",
    "assign_emotions",
]

Interval = tuple[int, int]
Variant = Literal["paper", "official_samm", "official_cas"]
VARIANTS: tuple[str, ...] = ("paper", "official_samm", "official_cas")


def _check_scores(scores, name: str = "scores") -> np.ndarray:
    """Return ``scores`` as a float64 ``(T,)`` array, or raise a ValueError naming the problem."""
    s = checks.array(name, scores, finite=False).astype(np.float64)
    if s.ndim != 1:
        raise ValueError(f"{name} must be a 1-D (T,) array of per-frame scores, got shape {s.shape}")
    if s.size == 0:
        raise ValueError(f"{name} is empty: pass at least one frame's score")
    bad = np.flatnonzero(~np.isfinite(s))
    if bad.size:
        first = int(bad[0])
        kind = "NaN" if np.isnan(s[first]) else "inf"
        raise ValueError(
            f"{name} contain {bad.size} non-finite value(s); the first is {kind} at frame {first}. "
            "Fill or interpolate missing frames before decoding."
        )
    return s


MAX_FRAMES = 10**9  # frame counts and windows beyond this are no video's (and overflow int64 arithmetic)
MAX_SMOOTH = 10**6 + 1  # 9 hours at 30 fps; scipy's box filter allocates the width (10^9 frames took 8 GB)


def _check_int(name: str, value, minimum: int, maximum: int = MAX_FRAMES) -> int:
    return checks.integer(name, value, minimum, maximum)


def _check_fraction(name: str, value) -> float:
    return checks.number(name, value, 0.0, 1.0)


def _check_choice(name: str, value, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


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
    smooth = _check_int("smooth", smooth, 1, MAX_SMOOTH)
    if smooth % 2 == 0:
        raise ValueError(f"smooth must be odd so the box filter is centred on each frame, got {smooth}")
    if smooth == 1:
        return s.copy()
    return uniform_filter1d(s, size=smooth, mode="nearest")


def relative_threshold(s: np.ndarray, q: float) -> float:
    """Threshold ``mean(s) + q · (max(s) − mean(s))`` on a curve ``s`` (``q`` = 0 mean, 1 max)."""
    s, q = _check_scores(s, "s"), _check_fraction("q", q)
    mean = float(np.mean(s))
    return mean + q * (float(np.max(s)) - mean)


def score_peaks(s: np.ndarray, k: int, height: float, *, edge_peaks: bool = False) -> np.ndarray:
    """Peaks of a (smoothed) curve: the peak rule both decoders share.

    ``scipy.signal.find_peaks(s, height=height, distance=k)`` on the curve as given; with
    ``edge_peaks`` the curve is first padded with one frame below its minimum at each end, so a
    maximum on the first or last frame is a peak too. A flat curve has no peak.

    Parameters
    ----------
    s : numpy.ndarray, shape (T,)
    k : int
        Minimum distance between peaks in frames.
    height : float
        Minimum peak height, on the scale of ``s``.
    edge_peaks : bool
        Let the first and last frame be peaks.

    Returns
    -------
    numpy.ndarray of int, the peak frames in increasing order.
    """
    s, k, height = _check_scores(s, "s"), _check_int("k", k, 1), checks.number("height", height)
    if s.max() == s.min():
        return np.zeros(0, dtype=np.int64)
    if not edge_peaks:
        return find_peaks(s, height=height, distance=k)[0].astype(np.int64)
    padded = np.concatenate([[s.min() - 1.0], s, [s.min() - 1.0]])
    return find_peaks(padded, height=height, distance=k)[0].astype(np.int64) - 1


def _clip(peak: int, k: int, n: int) -> Interval:
    return max(0, peak - k), min(n - 1, peak + k)


def fixed_window(scores, k: int, p: float = 0.55, *, smooth: int = 1, edge_peaks: bool = False) -> list[Interval]:
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
    edge_peaks : bool
        Let a maximum on the first or last frame be a peak (:func:`score_peaks`); False, as in
        the reference, by default. SISS pads by default, so pass True for matched settings.

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
    peaks = score_peaks(s, k, relative_threshold(s, p), edge_peaks=edge_peaks)
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
    low: float | None = None,
    high: float | None = None,
    patience: int = 2,
    *,
    smooth: int | None = None,
    peak_height: float | None = None,
    scale: Literal["relative", "absolute"] = "relative",
    nms_iou: float = 0.5,
    edge_peaks: bool = True,
    variant: Variant = "paper",
) -> list[Interval]:
    """Decode intervals with the scalable interval selection strategy (SISS).

    BoostingVRME §3.2, with every threshold a parameter (``variant="paper"``, the default):

    1. **Peaks.** Smooth the curve, then take its peaks (:func:`score_peaks`: height
       ``peak_height``, distance ``k``). Unlike :func:`fixed_window`'s default, a maximum on the
       first or last frame is a peak (``edge_peaks``); a flat curve has none.
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

    ``variant="official_samm"`` and ``"official_cas"`` follow the official code instead (module
    docstring); they use ``k``, ``smooth`` (default: the official even box of width ``2k``),
    ``peak_height`` (a relative ``p``; default 0.65 and 0.55) and, for ``official_samm``,
    ``low``/``high`` as *absolute* scores (default 0.2 / 0.8); the other options are the paper's.

    Parameters
    ----------
    scores : array_like, shape (T,)
        Per-frame spotting scores, finite (nominally in [0, 1]).
    k : int
        Half window in frames (about half the median expression length), >= 1: the range
        where the low threshold applies, and the minimum peak distance.
    low, high : float, optional
        Thresholds in [0, 1] with ``low <= high``, on the scale ``scale`` (module docstring).
        Defaults 0.3 and 0.6 (relative): the peak zone keeps frames a little above the
        video's mean, and only a curve that stays well up extends past ``k``.
    patience : int
        Consecutive below-threshold frames that end an interval (the paper uses 2).
    smooth : int, optional
        Odd box-filter width in frames (1 = no smoothing, the paper variant's default).
    peak_height : float or None
        Minimum peak height on the same scale; ``None`` uses ``high`` (a seed must clear
        the high threshold). ``peak_height=p`` with ``scale="relative"`` is the fixed
        window's peak rule.
    scale : {"relative", "absolute"}
        ``"relative"``: ``q`` means ``mean + q·(max − mean)`` of the smoothed curve.
        ``"absolute"``: ``q`` is a score.
    nms_iou : float
        IoU in (0, 1] at or above which two intervals are duplicates.
    edge_peaks : bool
        Let the first and last frame be peaks (paper variant).
    variant : {"paper", "official_samm", "official_cas"}
        Which SISS (module docstring).

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
    _check_choice("variant", variant, VARIANTS)
    _check_choice("scale", scale, ("relative", "absolute"))
    if variant == "official_samm":
        return _siss_official_samm(scores, k, 0.2 if low is None else low, 0.8 if high is None else high,
                                   smooth=smooth, p=0.65 if peak_height is None else peak_height)
    if variant == "official_cas":
        return _siss_official_cas(scores, k, smooth=smooth, p=0.55 if peak_height is None else peak_height)
    s = smooth_scores(scores, 1 if smooth is None else smooth)
    k = _check_int("k", k, 1)
    patience = _check_int("patience", patience, 1)
    low = _check_fraction("low", 0.3 if low is None else low)
    high = _check_fraction("high", 0.6 if high is None else high)
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high}); swap them")
    height = high if peak_height is None else _check_fraction("peak_height", peak_height)
    nms_iou = checks.number("nms_iou", nms_iou, 0.0, 1.0, low_open=True)
    if scale == "relative":
        low, high, height = (relative_threshold(s, q) for q in (low, high, height))

    proposals: dict[Interval, float] = {}
    for seed in score_peaks(s, k, height, edge_peaks=edge_peaks):
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


def _official_peaks(scores, k: int, smooth: int | None, p: float) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Raw scores, peaks, k and smoothed curve of the official decoders (relative height ``p``, distance k)."""
    raw = _check_scores(scores)
    k = _check_int("k", k, 1)
    p = _check_fraction("peak_height", p)
    if smooth is None:  # the official smoothing: an even box of 2k frames, zero-padded ("same" convolution)
        if 2 * k > raw.size:  # np.convolve would return 2k values, not T
            raise ValueError(f"k={k}: the official smoothing is a box of 2k = {2 * k} frames, longer than the "
                             f"{raw.size} scores; pass a smaller k or smooth=")
        s = np.convolve(raw, np.ones(2 * k) / (2 * k), mode="same")
    else:
        s = smooth_scores(raw, smooth)
    return raw, score_peaks(s, k, relative_threshold(s, p)), k, s


def _siss_official_samm(scores, k: int, low: float, high: float, *, smooth: int | None, p: float) -> list[Interval]:
    """The official SAMM-LV SISS (module docstring): absolute thresholds on the smoothed curve, cap 2k."""
    _, peaks, k, s = _official_peaks(scores, k, smooth, p)
    low, high = _check_fraction("low", low), _check_fraction("high", high)
    n = s.size
    out = []
    for peak in map(int, peaks):
        onset, offset = max(0, peak - 2 * k), min(n - 1, peak + 2 * k)
        near, far = max(0, peak - k), max(0, peak - 2 * k)
        left = [(i, low) for i in range(peak - 1, near - 1, -1)] + [(i, high) for i in range(near - 1, far - 1, -1)]
        onset = next((i for i, thr in left if i > 0 and s[i] < thr and s[i - 1] < thr), onset)
        near, far = min(n - 1, peak + k), min(n - 1, peak + 2 * k)
        right = [(i, low) for i in range(peak + 1, near)] + [(i, high) for i in range(near + 1, far)]
        offset = next((i + 1 for i, thr in right if i + 1 < n and s[i] < thr and s[i + 1] < thr), offset)
        out.append((onset, offset))
    return sorted(out)  # no NMS: two peaks may give the same span twice, as officially


def _hull_iou(a: Interval, b: Interval) -> float:
    """The official NMS overlap: ``overlap / hull`` with exclusive lengths (``offset − onset``)."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    hull = max(a[1], b[1]) - min(a[0], b[0])
    return inter / hull if hull else 0.0


def _siss_official_cas(scores, k: int, *, smooth: int | None, p: float) -> list[Interval]:
    """The official CAS(ME)^3 SISS (module docstring): inward trim, extension at the mean, onset-ordered NMS."""
    raw, peaks, k, _ = _official_peaks(scores, k, smooth, p)
    n, mean = raw.size, float(raw.mean())
    trim, stop = mean / 1.5, mean
    spans = []
    for peak in map(int, peaks):
        l0, r0 = max(0, peak - k), min(n - 1, peak + k)
        onset = next((i - 1 for i in range(l0 + 1, peak) if raw[i] > raw[i - 1] and raw[i] > trim), l0)
        offset = next((i + 1 for i in range(r0 - 1, peak, -1) if raw[i] > raw[i + 1] and raw[i] > trim), r0)
        onset = next((i + 1 for i in range(onset - 1, max(0, peak - 5 * k) - 1, -1)
                      if i > 0 and raw[i] < stop and raw[i - 1] < stop), onset)
        offset = next((j - 1 for j in range(offset + 1, min(n - 1, peak + 5 * k) + 1)
                       if j < n - 1 and raw[j] < stop and raw[j + 1] < stop), offset)
        spans.append((onset, offset, onset + int(np.argmax(raw[onset : offset + 1]))))
    kept: list[tuple[int, int, int]] = []
    for span in sorted(spans, key=lambda sp: sp[0]):  # stable: equal onsets keep peak order
        if all(_hull_iou(span[:2], other[:2]) < 0.2 and abs(span[2] - other[2]) > k for other in kept):
            kept.append(span)
    return [(onset, offset) for onset, offset, _ in kept]


@dataclass(frozen=True)
class ClassPrior:
    """The official class prior of the emotion vote (BoostingVRME ``train.py`` / ``recognition``).

    Applied by :func:`assign_emotions` to per-frame *logits* ``(T, K+1)``, neutral last:

    1. the neutral logit is replaced by ``neutral_logit`` (official: 0, i.e. multiplied by 0);
    2. ``penalty[c]`` is subtracted from class ``c``'s logit (official SAMM-LV test: 1.0 on
       "negative", the majority class);
    3. each frame votes for its argmax; only frames ``onset + trim[0] … offset − trim[1]`` vote
       (official: ``(1, 2)``, the slice ``[onset+1, offset−1)``); an interval with no voting
       frame is voted neutral;
    4. when more than ``min_share`` of the votes (official 0.2) are for classes other than
       ``majority`` (neutral counts among them, as officially), the vote is taken among those
       frames only; otherwise among all.

    Ties go to the class with the larger summed logit, then to the lower column (the official
    ``Counter.most_common`` takes the first class met in frame order).
    """

    penalty: Mapping[str, float] = field(default_factory=lambda: {"negative": 1.0})
    neutral_logit: float | None = 0.0
    trim: tuple[int, int] = (1, 2)
    majority: str | None = "negative"
    min_share: float = 0.2

    @classmethod
    def official(cls, **overrides) -> ClassPrior:
        """The official SAMM-LV prior: neutral logit 0, −1.0 on negative, frames onset+1..offset−2, 20 % rule."""
        return cls(**overrides)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def assign_emotions(
    class_probs,
    intervals: Sequence[Interval],
    *,
    labels: Sequence[str],
    penalty: Mapping[str, float] | None = None,
    neutral_last: bool = True,
    prior: ClassPrior | None = None,
    logits: bool = False,
) -> list[tuple[int, int, str, float]]:
    """Label each interval by a penalised majority vote of per-frame classes.

    For each frame ``t`` the penalised probabilities are
    ``q[t, c] = class_probs[t, c] − penalty.get(labels[c], 0)``, and the frame votes for
    ``argmax_c q[t, c]`` (ties go to the lower column). Subtracting a penalty from the
    majority class (in the paper, "negative") lets a minority class win frames where the
    two are close. The interval takes the class with the most votes; a tie goes to the class
    with the larger summed ``q`` over the interval, then to the lower column. Intervals
    voted neutral (the last column, when ``neutral_last``) are dropped.

    With ``prior`` (a :class:`ClassPrior`), the vote is the official one instead, on logits:
    ``class_probs`` holds logits when ``logits=True``; otherwise its log is used, which differs
    from the logits by a per-frame constant, so the penalty and the argmax are exact but a fixed
    ``neutral_logit`` compares with a log-probability. ``penalty`` is then ignored.

    Parameters
    ----------
    class_probs : array_like, shape (T, C)
        Per-frame class probabilities (or logits, see ``logits``), finite; with ``neutral_last``
        the last column is neutral, so C = K + 1.
    intervals : sequence of (int, int)
        0-based inclusive intervals inside ``[0, T)``.
    labels : sequence of str, length C
        Name of each column (neutral included, last).
    penalty : mapping of str to float, optional
        Amount subtracted from the named classes' probabilities before the vote, e.g.
        ``{"negative": 0.1}``. Keys must be in ``labels``.
    neutral_last : bool
        Whether the last column is the neutral class (dropped when voted).
    prior : ClassPrior, optional
        Vote with the official class prior.
    logits : bool
        ``class_probs`` holds logits (only used with ``prior``).

    Returns
    -------
    list of (onset, offset, emotion, score)
        One row per kept interval, in input order. ``score`` is the mean *unpenalised*
        probability of the voted class over the interval's frames.
    """
    probs = checks.array("class_probs", class_probs, finite=False).astype(np.float64)
    if probs.ndim != 2 or probs.shape[1] < 1:
        raise ValueError(f"class_probs must be a 2-D (T, K+1) array, got shape {probs.shape}")
    bad = np.argwhere(~np.isfinite(probs))
    if bad.size:
        raise ValueError(f"class_probs contain non-finite values; the first is at frame {int(bad[0, 0])}")
    if isinstance(labels, str) or not isinstance(labels, Sequence | np.ndarray) or \
            isinstance(labels, np.ndarray) and labels.ndim != 1 or not all(isinstance(x, str) for x in labels):
        raise TypeError(f"labels must be a sequence of class names (str), one per class_probs column; got {labels!r}")
    labels = list(labels)
    if len(labels) != probs.shape[1]:
        raise ValueError(f"labels has {len(labels)} names but class_probs has {probs.shape[1]} columns")
    if penalty is not None and (not isinstance(penalty, Mapping) or not all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and np.isfinite(v)
            for v in penalty.values())):
        raise TypeError(f"penalty must map class names to finite numbers, e.g. {{'negative': 0.1}}; got {penalty!r}")
    spans = checks.array("intervals", intervals, dtype="integer")
    if spans.size and (spans.ndim != 2 or spans.shape[1] != 2):
        raise ValueError(f"intervals must be (onset, offset) pairs, got shape {spans.shape}")
    intervals = spans.reshape(-1, 2).astype(np.int64).tolist()
    penalty = dict(penalty or {}) if prior is None else dict(prior.penalty)
    unknown = sorted(set(penalty) - set(labels))
    if unknown:
        raise ValueError(f"penalty names classes not in labels: {unknown}; labels are {labels}")
    shift = np.array([penalty.get(name, 0.0) for name in labels])
    if prior is not None:
        if prior.majority is not None and prior.majority not in labels:
            raise ValueError(f"ClassPrior.majority {prior.majority!r} is not in labels {labels}")
        z = probs.copy() if logits else np.log(np.clip(probs, 1e-12, None))
        if prior.neutral_logit is not None and neutral_last:
            z[:, -1] = prior.neutral_logit
        probs = _softmax(probs) if logits else probs  # the score is a probability either way
        values = z - shift
    else:
        values = probs - shift
    n_frames = probs.shape[0]
    neutral = probs.shape[1] - 1

    rows = []
    for onset, offset in intervals:
        onset, offset = int(onset), int(offset)
        if not 0 <= onset <= offset < n_frames:
            raise ValueError(
                f"intervals: interval ({onset}, {offset}) is not inside [0, {n_frames}), the frames of class_probs, "
                "with onset <= offset"
            )
        first, last = (onset, offset) if prior is None else (onset + prior.trim[0], offset - prior.trim[1])
        q = values[first : last + 1]
        votes = np.argmax(q, axis=1)
        if prior is not None and prior.majority is not None and len(votes):
            others = votes != labels.index(prior.majority)
            if others.mean() > prior.min_share:
                q, votes = q[others], votes[others]
        if len(votes) == 0:
            winner = neutral
        else:
            counts, summed = Counter(votes.tolist()), q.sum(axis=0)
            winner = max(counts, key=lambda c: (counts[c], summed[c], -c))
        if neutral_last and winner == neutral:
            continue
        rows.append((onset, offset, labels[winner], float(probs[onset : offset + 1, winner].mean())))
    return rows
