"""Checkers of notebook 03, training: windows per epoch, the effect of the negative ratio, a LOSO split."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from melab import train
from melab.exercises._feedback import Feedback, _number, _say, _unanswered


def check_epoch_windows(answer, windows, negative_ratio: float) -> Feedback:
    """Exercise 03: how many windows one training epoch uses at a given negative ratio.

    The reference is :class:`melab.train.SpotterData`: every positive window plus
    ``min(#negatives, round(ratio · #positives))`` freshly drawn negatives.

    Parameters
    ----------
    answer : int or None
        Number of windows.
    windows : SpotterWindows
        :func:`melab.train.spotter_windows` output.
    negative_ratio : float
        Negative windows per positive.
    """
    if answer is None:
        return _unanswered("count the positive windows (windows.positive.sum()); an epoch keeps all of them and "
                           "draws negative_ratio negatives per positive, but never more negatives than exist")
    value = _number(answer)
    if value is None:
        return _say("wrong", "give one whole number of windows")
    data = train.SpotterData(windows, negative_ratio=negative_ratio)
    n_pos, n_neg = len(data.positives), len(data.negatives)
    ref = n_pos + data.n_negative
    if value == ref:
        capped = " (capped: there are no more negatives)" if data.n_negative < round(negative_ratio * n_pos) else ""
        return _say("correct", f"{n_pos} positive + {data.n_negative} negative windows = {ref}{capped}")
    if value == data.n_negative:
        return _say("wrong", "you counted only the negatives; every epoch also keeps all positive windows")
    if value == n_pos + round(negative_ratio * n_pos) and data.n_negative < round(negative_ratio * n_pos):
        return _say("wrong", f"there are only {n_neg} negative windows, so the draw is capped at {n_neg}")
    if value == n_pos + n_neg:
        return _say("wrong", "that is every window; the ratio limits the negatives drawn per epoch")
    return _say("wrong", f"positives {n_pos}, negatives available {n_neg}: combine them with the ratio")


def _outside_mean(spot, events: pd.DataFrame) -> float:
    """Mean score over the frames whose spotting target is 0 (outside every ME), pooled over videos.

    Macro-expression frames count: they are negatives in training, and on the realistic corpus they hold most
    of a spotter's false alarms, so they are where a higher negative ratio shows first."""
    if not isinstance(spot, Mapping):
        spot = {None: spot}
    values = []
    for video, s in spot.items():
        s = np.asarray(s, np.float64)
        rows = events if video is None else events[events["video"] == video]
        inside, _ = train.frame_targets(len(s), rows, kinds=("micro",))
        values.append(s[inside == 0])
    return float(np.concatenate(values).mean())


def check_ratio_effect(prediction: str | None, spot_low, spot_high, events: pd.DataFrame, *,
                       tolerance: float = 0.005) -> Feedback:
    """Exercise 03: predict, then measure, how a higher negative ratio moves the scores outside MEs.

    The reference is the sign of the change of the mean spot score on the frames whose target is 0 (outside
    every ME, macro-expressions included), from the model trained at the low ratio to the one trained at the
    high ratio.

    Parameters
    ----------
    prediction : {"higher", "lower", "same"} or None
        The predicted direction.
    spot_low, spot_high : np.ndarray or mapping
        (T,) spot scores of one video, or video -> (T,), of the two models on the same held-out videos.
    events : pd.DataFrame
        Events table (``video`` column when the scores are a mapping).
    tolerance : float
        Changes smaller than this count as "same".
    """
    if prediction is None:
        return _unanswered("more negative windows per epoch means more frames whose target is 0; write "
                           "'higher', 'lower' or 'same' for the mean score outside MEs, then train both")
    if prediction not in ("higher", "lower", "same"):
        return _say("wrong", f"answer with 'higher', 'lower' or 'same', not {prediction!r}")
    low, high = _outside_mean(spot_low, events), _outside_mean(spot_high, events)
    change = high - low
    measured = "same" if abs(change) < tolerance else ("higher" if change > 0 else "lower")
    text = f"the mean score outside MEs (target 0) went from {low:.3f} to {high:.3f}"
    if prediction == measured:
        return _say("correct", f"{text} ({measured})")
    why = ("more negatives pull the scores of frames without an ME towards their target, 0" if measured == "lower"
           else "with few epochs one seed can move against the expected direction; try another seed")
    return _say("wrong", f"you predicted {prediction}, but {text} ({measured}): {why}")


def check_loso_split(train_videos, held_out: str, videos: pd.DataFrame) -> Feedback:
    """Exercise 03: the training videos of one leave-one-subject-out fold.

    Parameters
    ----------
    train_videos : sequence of str or None
        Video names the fold trains on.
    held_out : str
        The held-out subject.
    videos : pd.DataFrame
        Columns ``video, subject`` (e.g. ``load_roi_corpus().videos``).
    """
    if train_videos is None:
        return _unanswered("keep every video whose subject is not the held-out one: "
                           "videos.loc[videos['subject'] != held_out, 'video']")
    if isinstance(train_videos, str):
        return _say("wrong", "give a list of video names, not one string")
    got = {str(v) for v in train_videos}
    subject_of = dict(zip(videos["video"].astype(str), videos["subject"].astype(str), strict=True))
    ref = {v for v, s in subject_of.items() if s != held_out}
    if got == ref:
        return _say("correct", f"{len(ref)} videos of {len(set(subject_of.values())) - 1} subjects, none of {held_out}")
    unknown = sorted(got - set(subject_of))
    if unknown:
        return _say("wrong", f"unknown video names {unknown[:3]}")
    leaked = sorted(v for v in got if subject_of[v] == held_out)
    if leaked:
        return _say("wrong", f"{', '.join(leaked)} belongs to the held-out subject {held_out}: the model would see "
                             "its face in training, and its test score would be optimistic")
    missing = sorted(ref - got)
    return _say("wrong", f"{len(missing)} training videos are missing, e.g. {missing[0]}: LOSO trains on every "
                         "other subject")
