"""Decoder settings chosen on training folds only, nested inside leave-one-subject-out.

Thresholds and smoothing that are picked on the scores they are judged on flatter the method that has more of
them. :func:`nested_select` picks, for each held-out subject, the grid point with the best micro F1 on the
*other* subjects' videos, and applies it to the held-out subject's videos: the held-out scores never take part
in their own choice.

Every grid point is decoded once on every video; the per-video TP/FP/FN counts (:func:`video_counts`) are then
summed over each fold's training videos, so a fold costs a sum, not a decode. The same counts feed the paired
bootstrap of :mod:`melab.effects`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from melab.metrics import match_intervals

__all__ = ["video_counts", "micro_f1", "count_table", "Selection", "nested_select"]

Interval = tuple[int, int]


def video_counts(pred: Sequence[Interval], truth: Sequence[Interval], iou: float = 0.5) -> np.ndarray:
    """TP, FP and FN of one video's predicted intervals against its expressions (one-to-one, IoU >= ``iou``).

    Returns
    -------
    numpy.ndarray, shape (3,), int64
    """
    tp = len(match_intervals(pred, truth, iou)) if len(pred) and len(truth) else 0
    return np.array([tp, len(pred) - tp, len(truth) - tp], dtype=np.int64)


def micro_f1(counts) -> np.ndarray:
    """Micro F1 ``2·TP / (2·TP + FP + FN)`` of counts summed over the second-to-last axis.

    Parameters
    ----------
    counts : array_like, shape (..., V, 3)
        TP, FP, FN per video.

    Returns
    -------
    numpy.ndarray, shape (...): 0 where there is nothing to find and nothing found.
    """
    total = np.asarray(counts).sum(axis=-2)
    tp, fp, fn = total[..., 0], total[..., 1], total[..., 2]
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def count_table(
    decode: Callable[..., Sequence[Interval]],
    grid: Sequence[Mapping],
    truth: Mapping[str, Sequence[Interval]],
    videos: Sequence[str],
    *,
    iou: float = 0.5,
) -> np.ndarray:
    """Counts of every grid point on every video.

    Parameters
    ----------
    decode : callable
        ``decode(video, **params) -> list of (onset, offset)``.
    grid : sequence of mapping
        G parameter sets.
    truth : mapping
        Video -> its expressions' intervals (a video without expressions may be absent).
    videos : sequence of str
        The V videos.

    Returns
    -------
    numpy.ndarray, shape (G, V, 3), int64 TP/FP/FN.
    """
    if not grid:
        raise ValueError("grid is empty: pass at least one parameter set")
    out = np.zeros((len(grid), len(videos), 3), np.int64)
    for g, params in enumerate(grid):
        for v, video in enumerate(videos):
            out[g, v] = video_counts(decode(video, **params), truth.get(video, []), iou)
    return out


@dataclass(frozen=True)
class Selection:
    """Outcome of :func:`nested_select`.

    Attributes
    ----------
    videos : list of str, the V videos in order.
    subjects : list of str, the held-out subjects in order.
    choice : dict, subject -> index of its chosen grid point.
    params : dict, subject -> its chosen parameter set.
    train_f1 : dict, subject -> the chosen point's micro F1 on the other subjects' videos.
    counts : numpy.ndarray, (V, 3) TP/FP/FN of each video under its own subject's choice.
    table : numpy.ndarray, (G, V, 3) the counts of every grid point (:func:`count_table`).
    """

    videos: list[str]
    subjects: list[str]
    choice: dict[str, int]
    params: dict[str, dict]
    train_f1: dict[str, float]
    counts: np.ndarray
    table: np.ndarray

    @property
    def f1(self) -> float:
        """Micro F1 of the held-out videos, each decoded with its fold's choice."""
        return float(micro_f1(self.counts))


def nested_select(
    decode: Callable[..., Sequence[Interval]],
    grid: Sequence[Mapping],
    truth: Mapping[str, Sequence[Interval]],
    subject_of: Mapping[str, str],
    *,
    iou: float = 0.5,
    table: np.ndarray | None = None,
) -> Selection:
    """Choose decoder settings per held-out subject on the other subjects' videos (nested LOSO).

    For subject ``s`` the chosen grid point maximises the micro F1 summed over every video whose subject is not
    ``s`` (ties: the first grid point), and ``s``'s videos are then scored with it.

    Parameters
    ----------
    decode, grid, truth, iou
        As in :func:`count_table`.
    subject_of : mapping
        Video -> subject, for every video to score (its keys, in order, are the videos).
    table : numpy.ndarray, optional
        A :func:`count_table` already computed for these videos and this grid.

    Returns
    -------
    Selection
    """
    videos = list(subject_of)
    subject = np.array([str(subject_of[v]) for v in videos])
    subjects = sorted(set(subject))
    if len(subjects) < 2:
        raise ValueError(f"nested selection needs at least 2 subjects, got {subjects}")
    table = count_table(decode, grid, truth, videos, iou=iou) if table is None else np.asarray(table)
    if table.shape != (len(grid), len(videos), 3):
        raise ValueError(f"table has shape {table.shape}, expected {(len(grid), len(videos), 3)}")
    counts = np.zeros((len(videos), 3), np.int64)
    choice, params, train_f1 = {}, {}, {}
    for s in subjects:
        held = subject == s
        scores = micro_f1(table[:, ~held])  # (G,) F1 of each grid point on the training folds
        best = int(np.argmax(scores))
        choice[s], params[s], train_f1[s] = best, dict(grid[best]), float(scores[best])
        counts[held] = table[best, held]
    return Selection(videos, subjects, choice, params, train_f1, counts, table)


def select(
    decode: Callable[..., Sequence[Interval]],
    grid: Sequence[Mapping],
    truth: Mapping[str, Sequence[Interval]],
    videos: Sequence[str],
    *,
    iou: float = 0.5,
) -> tuple[dict, np.ndarray]:
    """The grid point with the highest micro F1 over ``videos`` (ties: the first): settings for new data.

    This is the inner step of :func:`nested_select` run on all of a model's training videos, as a deployed
    model's defaults are chosen (e.g. on its LOSO scores, which are held-out scores of its training data).
    Never judge the chosen settings on these same videos.

    Returns
    -------
    params : dict, the chosen grid point.
    counts : numpy.ndarray, (3,) its TP, FP, FN summed over ``videos``.
    """
    table = count_table(decode, grid, truth, videos, iou=iou)
    best = int(np.argmax(micro_f1(table)))
    return dict(grid[best]), table[best].sum(axis=0)
