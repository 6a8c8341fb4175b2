"""Checkers of notebook 04, interval decoding: interval IoU, and the window half-width that loses an ME."""

from __future__ import annotations

import numpy as np

from melab.exercises._feedback import Feedback, _close, _diagnose, _number, _say, _unanswered
from melab.metrics import interval_iou, iou_matrix


def check_iou(answer, a: tuple[int, int], b: tuple[int, int]) -> Feedback:
    """Exercise 04: the IoU of two inclusive frame intervals.

    The reference is :func:`melab.metrics.interval_iou`.

    Parameters
    ----------
    answer : float or None
        A fraction in [0, 1].
    a, b : (onset, offset)
        0-based inclusive frame intervals.
    """
    if answer is None:
        return _unanswered("count frames inclusively: (onset, offset) holds offset − onset + 1 frames; IoU is "
                           "shared frames / frames in either")
    value = _number(answer)
    if value is None:
        return _say("wrong", "give one number, a fraction between 0 and 1")
    ref = interval_iou(a, b)
    if _close(value, ref, rel=1e-3, abs_tol=2e-3):
        return _say("correct", f"IoU {ref:.3f}")
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    len_a, len_b = a[1] - a[0] + 1, b[1] - b[0] + 1
    excl_inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    excl_union = (a[1] - a[0]) + (b[1] - b[0]) - excl_inter
    mistakes = {
        "frames are inclusive: (onset, offset) has offset − onset + 1 frames": excl_inter / excl_union
        if excl_union else 0.0,
        "you divided by the shorter interval; IoU divides by the union (frames in either)": inter / min(len_a, len_b),
        "you divided by the longer interval; IoU divides by the union (frames in either)": inter / max(len_a, len_b),
        "that is the number of shared frames; divide it by the frames in the union": float(inter),
        "give a fraction, not a percentage": 100 * ref,
    }
    message = _diagnose(value, ref, mistakes, rel=1e-3, abs_tol=2e-3)
    if message:
        return _say("wrong", message)
    return _say("wrong", f"intersection {inter} frames; now count the union of {a} and {b}")


def fixed_window_iou(length: int, k: int) -> np.ndarray:
    """IoU of a fixed window ``[p − k, p + k]`` with an ME of ``length`` frames, for every peak p inside the ME.

    Parameters
    ----------
    length : int
        ME length in frames (>= 1), the ME spanning frames ``0 .. length − 1``.
    k : int
        Half window in frames (>= 1): the window has ``2k + 1`` frames.

    Returns
    -------
    np.ndarray
        ``(length,)`` float64: the IoU when the peak sits on frame 0, 1, ..., length − 1 of the ME.

    Examples
    --------
    >>> fixed_window_iou(6, 5).round(3).tolist()  # 6-frame ME, 11-frame window: always inside
    [0.545, 0.545, 0.545, 0.545, 0.545, 0.545]
    """
    if length < 1 or k < 1:
        raise ValueError(f"length and k must be >= 1, got length={length}, k={k}")
    windows = [(p - k, p + k) for p in range(length)]
    return iou_matrix(windows, [(0, length - 1)])[:, 0]


def check_losing_k(answer, length: int, *, iou: float = 0.5) -> Feedback:
    """Exercise 04: the smallest half window k at which a fixed window can no longer match an ME of ``length`` frames.

    The reference is the smallest k for which :func:`fixed_window_iou` stays below ``iou`` wherever the peak
    falls inside the ME.

    Parameters
    ----------
    answer : int or None
        Half window k, frames.
    length : int
        ME length, frames.
    iou : float
        The matching threshold (MEGC: 0.5).
    """
    if answer is None:
        return _unanswered(f"a window of 2k + 1 frames that contains the {length}-frame ME has IoU "
                           f"{length} / (2k + 1); find the first k where that drops below {iou:g}")
    value = _number(answer)
    if value is None or value != int(value) or value < 1:
        return _say("wrong", "give k as a whole number of frames, at least 1")
    ref = next(k for k in range(1, 10 * length + 2) if fixed_window_iou(length, k).max() < iou)
    best = fixed_window_iou(length, int(value)).max()
    if value == ref:
        return _say("correct", f"at k = {ref} the window has {2 * ref + 1} frames and the best IoU is {best:.3f} "
                               f"< {iou:g}; at k = {ref - 1} it is {fixed_window_iou(length, ref - 1).max():.3f}")
    if 2 * ref + 1 == value or 2 * ref == value:
        return _say("wrong", f"that is the window length 2k + 1; k is the half width (window = {2 * ref + 1} frames)")
    if value < ref:
        return _say("wrong", f"at k = {int(value)} the window still matches: best IoU {best:.3f} ≥ {iou:g}")
    return _say("wrong", f"at k = {int(value)} it is lost (best IoU {best:.3f}), but it is already lost at a smaller k")
