"""Checkers of notebook 04, interval decoding: interval IoU (a coding exercise and a value), the window half-width
that loses an ME, and a paired bootstrap over videos (a coding exercise) with the per-video counts it needs."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from melab.baselines import feature_difference_spot
from melab.decode import fixed_window, siss
from melab.exercises._feedback import (
    Case,
    Feedback,
    _describe,
    _say,
    _unanswered,
    check_function,
    check_number,
    read_number,
    read_numbers,
    same_number,
)
from melab.metrics import interval_iou, iou_matrix
from melab.tuning import micro_f1, video_counts

__all__ = ["check_iou", "check_iou_function", "fixed_window_iou", "check_losing_k", "claim_counts",
           "check_paired_bootstrap"]


def _interval(value, name: str) -> tuple[int, int]:
    numbers = read_numbers(value, n=2)
    if numbers is None or not np.array_equal(numbers, np.round(numbers)) or numbers[1] < numbers[0]:
        raise ValueError(f"{name} must be an (onset, offset) pair of whole frames with onset <= offset, got {value!r}")
    return int(numbers[0]), int(numbers[1])


def _iou_mistakes(a: tuple[int, int], b: tuple[int, int]) -> dict[str, float]:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    len_a, len_b = a[1] - a[0] + 1, b[1] - b[0] + 1
    excl_inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    excl_union = (a[1] - a[0]) + (b[1] - b[0]) - excl_inter
    return {
        "frames are inclusive: (onset, offset) has offset − onset + 1 frames":
            excl_inter / excl_union if excl_union else 0.0,
        "you divided by the shorter interval; IoU divides by the union (frames in either)": inter / min(len_a, len_b),
        "you divided by the longer interval; IoU divides by the union (frames in either)": inter / max(len_a, len_b),
        "that is the number of shared frames; divide it by the frames in the union": float(inter),
        "give a fraction, not a percentage": 100 * interval_iou(a, b),
    }


def check_iou(answer, a: tuple[int, int], b: tuple[int, int]) -> Feedback:
    """Exercise 04: the IoU of two inclusive frame intervals.

    The reference is :func:`melab.metrics.interval_iou`.

    Parameters
    ----------
    answer : float or None
        A fraction in [0, 1] (``"7/11"`` and ``0.64`` are read too).
    a, b : (onset, offset)
        0-based inclusive frame intervals.
    """
    a, b = _interval(a, "a"), _interval(b, "b")
    if answer is None:
        return _unanswered("count frames inclusively (an interval's first and last frame both belong to it); IoU "
                           "is the number of frames in both intervals over the number of frames in either")
    ref = interval_iou(a, b)
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    mistakes = {m: v for m, v in _iou_mistakes(a, b).items() if abs(v - ref) > 1e-12}
    return check_number(answer, ref, what="one number, a fraction between 0 and 1", correct=f"IoU {ref:.3f}",
                        mistakes=mistakes, fallback=f"{a} and {b} share {inter} frames; now count the frames of "
                                                    "their union, inclusively")


@functools.lru_cache(maxsize=1)
def _iou_cases() -> tuple[Case, ...]:
    pairs = [((10, 19), (15, 24)), ((0, 5), (3, 12)), ((4, 4), (4, 4)), ((0, 9), (10, 19)), ((2, 30), (10, 12)),
             ((50, 60), (0, 3)), ((7, 7), (3, 11)), ((100, 140), (120, 121))]
    return tuple(Case((a, b), f"a={a}, b={b}") for a, b in pairs)


def check_iou_function(fn) -> Feedback:
    """Coding exercise 04: a function ``fn(a, b)`` that returns the IoU of two inclusive frame intervals.

    The reference is :func:`melab.metrics.interval_iou`, run on eight hidden pairs (overlapping, nested,
    identical one-frame intervals, touching and disjoint ones).

    Parameters
    ----------
    fn : callable or None
        ``fn(a: (onset, offset), b: (onset, offset)) -> float``.
    """
    messages = list(_iou_mistakes((0, 1), (1, 2)))
    return check_function(
        fn, name="iou", cases=_iou_cases(), reference=interval_iou, source="melab.metrics.interval_iou",
        compare=same_number, show=lambda value: f"{float(value):.4f}",
        mistakes={m: (lambda a, b, m=m: _iou_mistakes(a, b)[m]) for m in messages},
        hint="the shared frames run from the later onset to the earlier offset (none if that is negative); the "
             "union is both lengths minus the shared frames; every count includes both ends")


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
    n = read_number(length)
    if n is None or n.value != int(n.value) or not 1 <= n.value <= 10_000:
        raise ValueError(f"length must be a whole number of frames >= 1, got {length!r}")
    length = int(n.value)
    if not 0 < float(iou) <= 1:
        raise ValueError(f"iou must lie in (0, 1], got {iou!r}")
    if answer is None:
        return _unanswered(f"a window of 2k + 1 frames that holds the whole {length}-frame ME has the IoU ME frames "
                           f"/ window frames; find the first k at which even the best placement falls below {iou:g}")
    value = read_number(answer)
    if value is None or value.value != int(value.value) or value.value < 1:
        return _say("wrong", f"give k as a whole number of frames, at least 1; got {_describe(answer)}")
    k = int(value.value)
    ref = next(kk for kk in range(1, 10 * length + 2) if fixed_window_iou(length, kk).max() < iou)
    # a window that holds the whole ME has IoU length / (2k + 1); a huge k (an answer of 10^9) builds no window
    best = length / (2 * k + 1) if k >= length else fixed_window_iou(length, k).max()
    if k == ref:
        return _say("correct", f"at k = {ref} the window has {2 * ref + 1} frames and the best IoU is {best:.3f} "
                               f"< {iou:g}; at k = {ref - 1} it is {fixed_window_iou(length, ref - 1).max():.3f}")
    if k in (2 * ref + 1, 2 * ref):
        return _say("wrong", "that is the window length 2k + 1; k is the half width")
    if k < ref:
        return _say("wrong", f"at k = {k} the window still matches: best IoU {best:.3f} ≥ {iou:g}")
    return _say("wrong", f"at k = {k} it is lost (best IoU {best:.3f}), but it is already lost at a smaller k")


# ---------------------------------------------------------------------------------------------- paired bootstrap


def claim_counts(report: Mapping, scores: Mapping, events: pd.DataFrame,
                 series: Mapping[str, np.ndarray] | None = None) -> dict[str, pd.DataFrame]:
    """Per-video TP/FP/FN of the spotting arms of a shipped claims report, decoded as the report chose.

    ``benchmarks/claims.py --shipped`` chooses every decoder and baseline setting per held-out subject on the
    other subjects' videos and stores the choices (``decoder_choices``, ``baseline_choices``, and the half window
    ``k_decode_by_fold`` from the other subjects' MEs); this
    decodes each video with its subject's choice again, so a paired bootstrap over these counts asks the
    report's question on the report's units.

    Parameters
    ----------
    report : mapping
        ``benchmarks/results/claims_shipped_lab.json``.
    scores : mapping
        Video -> LOSO scores (``.spot``, (T,)), as :func:`melab.train.load_scores` returns.
    events : pd.DataFrame
        Events table (the MEs, ``kind == "micro"``, are the truth).
    series : mapping, optional
        Video -> (T, C) ROI series, for the training-free baseline's arm.

    Returns
    -------
    dict
        Arm -> DataFrame indexed by video (sorted), columns ``tp, fp, fn``: ``"SISS"``, ``"fixed window
        (matched)"``, ``"fixed window (best)"`` and, with ``series``, ``"feature difference"``.
    """
    if "decoder_choices" not in report or "k_decode_by_fold" not in report:
        raise ValueError("report must be a shipped claims report with decoder_choices and k_decode_by_fold "
                         "(benchmarks/results/claims_shipped_lab.json)")
    choices = report["decoder_choices"][0]
    videos = sorted(scores)
    subject_of = events.drop_duplicates("video").set_index("video")["subject"].astype(str)
    k_of = {v: int(report["k_decode_by_fold"][subject_of[v]]) for v in videos}
    micro = events[events["kind"] == "micro"]
    truth = {v: [tuple(iv) for iv in g[["onset", "offset"]].to_numpy()] for v, g in micro.groupby("video")}
    decoders = {
        "SISS": lambda v, c: siss(scores[v].spot, k_of[v], c["low"], c["high"], smooth=c["smooth"],
                                  peak_height=c["p"]),
        "fixed window (matched)": lambda v, c: fixed_window(scores[v].spot, k_of[v], c["p"], smooth=c["smooth"],
                                                            edge_peaks=True),
    }
    arms = {name: {v: video_counts(decode(v, choices["siss"][subject_of[v]]), truth.get(v, []))
                   for v in videos} for name, decode in decoders.items()}
    arms["fixed window (best)"] = {v: video_counts(fixed_window(
        scores[v].spot, k_of[v], choices["fixed_best"][subject_of[v]]["p"], smooth=choices["fixed_best"][subject_of[v]][
            "smooth"], edge_peaks=True), truth.get(v, [])) for v in videos}
    if series is not None:
        baseline = report["baseline_choices"]
        arms["feature difference"] = {v: video_counts(feature_difference_spot(
            series[v], half_width=k_of[v], **baseline[subject_of[v]]), truth.get(v, [])) for v in videos}
    return {name: pd.DataFrame.from_dict(counts, orient="index", columns=["tp", "fp", "fn"]).rename_axis("video")
            for name, counts in arms.items()}


_RESAMPLES = 20_000


def _f1_gaps(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, *, paired: bool = True) -> np.ndarray:
    """Bootstrap distribution of micro F1(B) − F1(A) over resampled videos (paired: one draw for both arms)."""
    n = len(a)
    idx_a = rng.integers(0, n, size=(_RESAMPLES, n))
    idx_b = idx_a if paired else rng.integers(0, n, size=(_RESAMPLES, n))
    return micro_f1(b[idx_b]) - micro_f1(a[idx_a])


def _percentile_ci(a, b, *, paired: bool = True, level: float = 0.95) -> tuple[float, float]:
    gaps = _f1_gaps(np.asarray(a), np.asarray(b), np.random.default_rng(0), paired=paired)
    low, high = np.percentile(gaps, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def _mean_video_f1_ci(a, b) -> tuple[float, float]:
    a, b = np.asarray(a), np.asarray(b)
    per_video = micro_f1(b[:, None]) - micro_f1(a[:, None])  # (V,) each video's own F1 difference
    idx = np.random.default_rng(0).integers(0, len(a), size=(_RESAMPLES, len(a)))
    low, high = np.percentile(per_video[idx].mean(axis=-1), [2.5, 97.5])
    return float(low), float(high)


@functools.lru_cache(maxsize=1)
def _bootstrap_cases() -> tuple[Case, ...]:
    """Hidden cases: two arms that share most of their counts video by video, as two decoders of one spotter do,
    on videos of very different sizes (a few hold many MEs), where B gains or loses a few MEs in the big videos."""
    rng = np.random.default_rng(2604)
    cases = []
    for n_videos, gain in [(30, 3), (24, -2), (40, 1), (20, 4)]:
        size = rng.choice([1, 1, 2, 3, 8], n_videos)  # MEs per video
        tp = rng.binomial(size, 0.4)
        a = np.stack([tp, rng.poisson(1 + size), size - tp], axis=1)  # TP, FP, FN
        b = a.copy()
        step = int(np.sign(gain))
        for v in np.argsort(-size)[:abs(gain)]:
            if b[v, 2 if step > 0 else 0] > 0:
                b[v, 0] += step
                b[v, 2] -= step
        for v in rng.choice(n_videos, 6, replace=False):  # and trades a few false alarms
            b[v, 1] = max(0, b[v, 1] + int(rng.integers(-2, 3)))
        cases.append(Case((a, b), f"{n_videos} videos, F1 {float(micro_f1(a)):.3f} → {float(micro_f1(b)):.3f}"))
    return tuple(cases)


def _ci_compare(got, expected: tuple[float, float]) -> str | None:
    values = read_numbers(got, n=2) if not np.isscalar(got) else None
    if values is None:
        return f"return the two ends of the interval, (low, high), not {_describe(got)}"
    if values[0] > values[1]:
        return "return (low, high) with low <= high"
    width = expected[1] - expected[0]
    tol = 0.05 * width + 1e-4  # the Monte-Carlo spread of a 2.5 % quantile from 5,000 resamples: under 3 %
    return None if np.all(np.abs(values - np.asarray(expected)) <= tol) else "the interval differs"


def check_paired_bootstrap(fn) -> Feedback:
    """Coding exercise 04: a paired bootstrap over videos of a spotting F1 difference.

    ``fn(counts_a, counts_b, seed=0)`` takes two ``(V, 3)`` arrays of per-video TP, FP, FN (the same videos, two
    methods) and returns the 95 % percentile interval ``(low, high)`` of micro F1(B) − micro F1(A), resampling
    videos with replacement and recomputing both F1 on each resample. The reference is the same percentile
    bootstrap with 20,000 resamples on melab's :func:`melab.tuning.micro_f1`; an interval counts as right when
    each end lies within 5 % of the reference's width of it, room for the Monte-Carlo noise of 5,000 resamples
    (under 3 % of the width on these cases; a 90 % interval is 8 % off). Four hidden cases, with mistakes named:
    arms resampled independently, per-video F1 averaged, the sign reversed, a 90 % interval.

    Parameters
    ----------
    fn : callable or None
        ``fn(counts_a: (V, 3) int, counts_b: (V, 3) int, seed: int = 0) -> (low, high)``.
    """
    return check_function(
        fn, name="paired_bootstrap", cases=_bootstrap_cases(), source="a 20,000-resample percentile bootstrap of "
        "melab.tuning.micro_f1", reference=_percentile_ci, compare=_ci_compare,
        show=lambda value: "[{:+.3f}, {:+.3f}]".format(*(float(x) for x in np.asarray(value).ravel()[:2])),
        mistakes={
            "the two arms were resampled independently; pair them: draw one set of videos per resample and "
            "score both methods on it": lambda a, b: _percentile_ci(a, b, paired=False),
            "you averaged per-video F1 differences; micro F1 sums TP, FP and FN over the drawn videos first":
                _mean_video_f1_ci,
            "the sign is reversed: the effect is F1(B) − F1(A)": lambda a, b: tuple(-x for x in _percentile_ci(
                a, b)[::-1]),
            "that is a 90 % interval; a 95 % interval cuts 2.5 % from each end": lambda a, b: _percentile_ci(
                a, b, level=0.90),
        },
        hint="repeat 5,000 times: draw V video indices with replacement, sum each arm's TP, FP, FN over "
             "them, compute both micro F1 and keep B − A; the interval is the 2.5th and 97.5th percentile")
