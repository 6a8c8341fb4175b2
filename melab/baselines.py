"""Spotting baselines on ROI flow series: training-free feature difference, and a reference learner.

A claim that a learned spotter beats something needs two yardsticks. The **feature difference** (below) asks
whether the corpus is hard for a method with no training at all; the **reference learner**
(:class:`ContrastLogistic`, at the end) asks whether the recipe is weak: a logistic regression on
multi-scale temporal-contrast features, trained on the same folds. A deep spotter that loses to it on
held-out subjects has learned something that does not carry to a new face.

Feature difference
------------------

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

Reference learner
-----------------
:func:`melab.inputs.temporal_contrast` summarises, at several lags ``d`` (frames), how each frame's ROI flow departs
from its neighbourhood: per lag the largest ROI contrast ``|f(t) − (f(t−d) + f(t+d)) / 2|``, the mean of the three
largest, their median over ROIs (how much the whole face moves: talking and head motion move every ROI, an ME a
few), and the largest onset-relative change ``|f(t) − f(t−d)|``. An ME shorter than ``2d`` frames stands out at
lag ``d``; a macro-expression only at long lags, so the profile over lags carries duration.
:func:`melab.inputs.contrast_features` takes their logarithm relative to the video's median (a quiet face and a
noisy one on one scale). :class:`ContrastLogistic` fits a balanced logistic regression (scikit-learn) of "frame
inside an ME" on them; :func:`cross_val_scores` trains it fold by fold. These are the same features the spotter
reads (:mod:`melab.inputs`), so the two differ in the learner only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import peak_widths
from scipy.stats import median_abs_deviation
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from melab.decode import relative_threshold, score_peaks, smooth_scores
from melab.inputs import CONTRAST_LAGS, check_series, contrast_features

__all__ = ["ContrastLogistic", "cross_val_scores", "feature_difference", "feature_difference_scores",
           "feature_difference_spot"]

Interval = tuple[int, int]


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
    x = check_series(series)
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


# ---- the reference learner -------------------------------------------------------------------------------------

@dataclass
class ContrastLogistic:
    """The reference learner: balanced logistic regression of "frame inside an ME" on
    :func:`melab.inputs.contrast_features`.

    Parameters
    ----------
    lags : frame offsets of the features (:data:`melab.inputs.CONTRAST_LAGS`, at 30 fps; see
        :func:`melab.inputs.contrast_lags`).
    C : inverse L2 strength of :class:`sklearn.linear_model.LogisticRegression`.
    kinds : event kinds that are positives (MEs); every other frame, macro-expressions included, is negative.

    Examples
    --------
    >>> learner = ContrastLogistic().fit(train_series, events)  # doctest: +SKIP
    >>> scores = learner.scores(test_series["sub01_1"])  # doctest: +SKIP
    """

    lags: tuple[int, ...] = CONTRAST_LAGS
    C: float = 1.0
    kinds: tuple[str, ...] = ("micro",)
    model: Pipeline | None = field(default=None, repr=False)

    def fit(self, series: Mapping[str, np.ndarray], events: pd.DataFrame) -> ContrastLogistic:
        """Fit on every frame of ``series`` (video -> (T, C) ROI series) against ``events``' ME frames."""
        if not series:
            raise ValueError("no training series given; pass a mapping video -> (T, C) ROI series")
        x, y = [], []
        for video, s in series.items():
            x.append(contrast_features(s, self.lags))
            target = np.zeros(len(s), bool)
            for ev in events[(events["video"] == video) & events["kind"].isin(self.kinds)].itertuples():
                target[max(int(ev.onset), 0):int(ev.offset) + 1] = True
            y.append(target)
        y = np.concatenate(y)
        if y.all() or not y.any():
            raise ValueError(f"the training frames hold {'only' if y.all() else 'no'} ME frames; the learner needs "
                             "both (check the events table and `kinds`)")
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, class_weight="balanced",
                                                                        max_iter=5000))
        self.model.fit(np.concatenate(x), y)
        return self

    def scores(self, series) -> np.ndarray:
        """Per-frame probability of an ME, ``(T,)`` float64 in [0, 1], for one ``(T, C)`` ROI series."""
        if self.model is None:
            raise ValueError("this ContrastLogistic is not fitted yet; call .fit(series, events) first")
        return self.model.predict_proba(contrast_features(series, self.lags))[:, 1]


def cross_val_scores(series: Mapping[str, np.ndarray], events: pd.DataFrame, group_of: Mapping[str, str], *,
                     learner: ContrastLogistic | None = None) -> dict[str, np.ndarray]:
    """Held-out scores of the reference learner: for each group (a subject, or a fold of subjects), a learner
    fitted on every other group's videos scores this group's videos.

    Parameters
    ----------
    series : video -> ``(T, C)`` ROI series, every video of ``group_of``.
    events : events table.
    group_of : video -> its group (the fold it is held out in).
    learner : settings to use (a fresh copy is fitted per group); default :class:`ContrastLogistic`.

    Returns
    -------
    dict, video -> ``(T,)`` held-out scores, in ``group_of``'s order.
    """
    missing = sorted(set(group_of) - set(series))
    if missing:
        raise ValueError(f"no ROI series for videos {missing[:5]}")
    groups = sorted(set(map(str, group_of.values())))
    if len(groups) < 2:
        raise ValueError(f"cross-validation needs at least 2 groups, got {groups}")
    settings = learner or ContrastLogistic()
    held: dict[str, np.ndarray] = {}
    for g in groups:
        fitted = ContrastLogistic(settings.lags, settings.C, settings.kinds).fit(
            {v: series[v] for v, gv in group_of.items() if str(gv) != g}, events)
        held.update({v: fitted.scores(series[v]) for v, gv in group_of.items() if str(gv) == g})
    return {v: held[v] for v in group_of}
