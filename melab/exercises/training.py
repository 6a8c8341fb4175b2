"""Checkers of notebook 03, training: windows per epoch, the effect of the negative ratio, a LOSO split (a value and
a coding exercise)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from melab import train
from melab.data.splits import loso_folds
from melab.exercises._feedback import (
    DIRECTION_SYNONYMS,
    DIRECTIONS,
    Case,
    Feedback,
    _describe,
    _say,
    _unanswered,
    as_array,
    check_function,
    check_number,
    match_choice,
    read_names,
    read_number,
)

__all__ = ["check_epoch_windows", "check_ratio_effect", "check_loso_split", "check_loso_function"]


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
    if not isinstance(windows, train.SpotterWindows):
        raise ValueError(f"windows must be melab.train.spotter_windows' output, got {_describe(windows)}")
    ratio = read_number(negative_ratio)
    if ratio is None or ratio.value < 0:
        raise ValueError(f"negative_ratio must be a number >= 0, got {negative_ratio!r}")
    if answer is None:
        return _unanswered("count the windows that hold an ME; an epoch keeps all of them and draws "
                           "negative_ratio negatives per positive, but never more negatives than exist")
    data = train.SpotterData(windows, negative_ratio=ratio.value)
    n_pos, n_neg = len(data.positives), len(data.negatives)
    ref = n_pos + data.n_negative
    capped = data.n_negative < round(ratio.value * n_pos)
    mistakes = {"you counted only the negatives; every epoch also keeps all positive windows": data.n_negative,
                "that is every window; the ratio limits the negatives drawn per epoch": n_pos + n_neg}
    if capped:
        mistakes[f"there are only {n_neg} negative windows, so the draw is capped at {n_neg}"] = \
            n_pos + round(ratio.value * n_pos)
    return check_number(answer, ref, what="one whole number of windows", mistakes=mistakes,
                        correct=f"{n_pos} positive + {data.n_negative} negative windows = {ref}"
                                + (" (capped: there are no more negatives)" if capped else ""),
                        fallback=f"positives {n_pos}, negatives available {n_neg}: combine them with the ratio")


def _outside_mean(spot, events: pd.DataFrame) -> float:
    """Mean score over the frames whose spotting target is 0 (outside every ME), pooled over videos.

    Macro-expression frames count: they are negatives in training, and on the realistic corpus they hold most
    of a spotter's false alarms, so they are where a higher negative ratio shows first."""
    if not isinstance(spot, Mapping):
        spot = {None: spot}
    values = []
    for video, s in spot.items():
        s = as_array(s, f"the spot scores of video {video!r}")
        if s.ndim != 1 or not np.all(np.isfinite(s)):
            raise ValueError(f"spot scores must be (T,) finite arrays; video {video!r} has shape {s.shape}")
        rows = events if video is None else events[events["video"] == video]
        inside, _ = train.frame_targets(len(s), rows, kinds=("micro",))
        values.append(s[inside == 0])
    if not values or not sum(len(v) for v in values):
        raise ValueError("spot scores hold no frame outside the MEs")
    return float(np.concatenate(values).mean())


def _runs(spot) -> list:
    """One run (an array or a mapping) or a list of runs, one per training seed."""
    if isinstance(spot, (list, tuple)) and spot and all(isinstance(s, (Mapping, np.ndarray)) for s in spot):
        return list(spot)
    return [spot]


def check_ratio_effect(prediction, spot_low, spot_high, events: pd.DataFrame, *,
                       tolerance: float = 0.005) -> Feedback:
    """Exercise 03: predict, then measure, how a higher negative ratio moves the scores outside MEs.

    The measurement is the change of the mean spot score on the frames whose target is 0 (outside every ME,
    macro-expressions included), from the model trained at the low ratio to the one trained at the high ratio.
    With one run the verdict is that run's direction, and the message says how to add seeds; with several runs
    (one per training seed, the same seeds for both ratios) a direction counts only when every seed agrees.

    Parameters
    ----------
    prediction : {"higher", "lower", "same"} or None
        The predicted direction (any case; "decrease", "down", "increase", "unchanged", ... are read too).
    spot_low, spot_high : np.ndarray, mapping, or a list of them
        (T,) spot scores of one video, or video -> (T,), of the two models on the same held-out videos; a list
        holds one such run per training seed.
    events : pd.DataFrame
        Events table (``video`` column when the scores are a mapping).
    tolerance : float
        Changes smaller than this count as "same".
    """
    if not isinstance(events, pd.DataFrame) or not {"onset", "offset", "kind"} <= set(events.columns):
        raise ValueError("events must be an events table with onset, offset and kind columns")
    lows, highs = _runs(spot_low), _runs(spot_high)
    if len(lows) != len(highs):
        raise ValueError(f"spot_low holds {len(lows)} runs but spot_high {len(highs)}: pair them by seed")
    if prediction is None:
        return _unanswered("a higher ratio puts more windows without an ME into every epoch, and their target is "
                           "0 on every frame; decide how that should move the scores outside MEs and write "
                           "'higher', 'lower' or 'same' before you train")
    changes = [(_outside_mean(lo, events), _outside_mean(hi, events)) for lo, hi in zip(lows, highs, strict=True)]
    guess = match_choice(prediction, DIRECTIONS, DIRECTION_SYNONYMS)
    if guess is None:
        return _say("wrong", f"answer with 'higher', 'lower' or 'same', not {_describe(prediction)}")
    signs = {"same" if abs(hi - lo) < tolerance else ("higher" if hi > lo else "lower") for lo, hi in changes}
    if len(changes) == 1:
        (lo, hi), = changes
        measured = signs.pop()
        text = f"in this run the mean score outside MEs (target 0) went from {lo:.3f} to {hi:.3f} ({measured})"
        more = ("one run is one training seed: train both models again with SpotterTrainConfig(seed=1), 2, ... and "
                "pass the runs as lists to see whether every seed agrees")
        if guess == measured:
            return _say("correct", f"{text}; {more}")
        why = (": more negatives pull the scores of frames without an ME towards their target, 0"
               if measured == "lower" else "")
        return _say("wrong", f"you predicted {guess}, but {text}{why}. {more}")
    deltas = ", ".join(f"{hi - lo:+.3f}" for lo, hi in changes)
    if len(signs) > 1:
        return _say("wrong", f"the {len(changes)} seeds disagree (changes {deltas}): no direction can be called on "
                             "these runs; add seeds")
    measured = signs.pop()
    text = f"all {len(changes)} seeds: {measured} (changes of the mean score outside MEs {deltas})"
    if guess == measured:
        return _say("correct", text)
    return _say("wrong", f"you predicted {guess}, but {text}")


def _video_table(videos) -> pd.DataFrame:
    if not isinstance(videos, pd.DataFrame) or not {"video", "subject"} <= set(videos.columns):
        raise ValueError("videos must be a DataFrame with columns video and subject (e.g. load_roi_corpus().videos)")
    return videos


def check_loso_split(train_videos, held_out: str, videos: pd.DataFrame) -> Feedback:
    """Exercise 03: the training videos of one leave-one-subject-out fold.

    Parameters
    ----------
    train_videos : sequence of str, DataFrame or None
        Video names the fold trains on (any container; a DataFrame is read by its ``video`` column).
    held_out : str
        The held-out subject.
    videos : pd.DataFrame
        Columns ``video, subject`` (e.g. ``load_roi_corpus().videos``).
    """
    videos = _video_table(videos)
    subject_of = dict(zip(videos["video"].astype(str), videos["subject"].astype(str), strict=True))
    if str(held_out) not in set(subject_of.values()):
        raise ValueError(f"held_out {held_out!r} is not a subject of videos: {sorted(set(subject_of.values()))}")
    held_out = str(held_out)
    if train_videos is None:
        return _unanswered("keep every video whose subject is not the held-out one, and give their names")
    names = read_names(train_videos, column="video")
    if names is None:
        if read_number(train_videos) is not None:
            return _say("wrong", "give the list of video names the fold trains on, not how many there are")
        return _say("wrong", f"give a list of video names; got {_describe(train_videos)}")
    got = set(names)
    ref = {v for v, s in subject_of.items() if s != held_out}
    n_subjects = len(set(subject_of.values())) - 1
    if got == ref:
        return _say("correct", f"{len(ref)} videos of {n_subjects} subjects, none of {held_out}")
    unknown = sorted(got - set(subject_of))
    if unknown:
        return _say("wrong", f"{len(unknown)} name(s) are not videos of this table, e.g. {unknown[0]!r}")
    leaked = sorted(v for v in got if subject_of[v] == held_out)
    if leaked:
        return _say("wrong", f"{', '.join(leaked)} belongs to the held-out subject {held_out}: the model would see "
                             "its face in training, and its test score would be optimistic")
    missing = ref - got
    return _say("wrong", f"{len(missing)} training video(s) are missing: LOSO trains on every video of all "
                         f"{n_subjects} other subjects")


@functools.lru_cache(maxsize=1)
def _loso_cases() -> tuple[Case, ...]:
    rng = np.random.default_rng(2603)
    cases = []
    for n_subjects, max_videos, numeric in [(3, 2, False), (5, 3, False), (2, 1, False), (4, 4, True), (7, 2, False)]:
        rows = [(f"{s}_{j}" if not numeric else f"clip{100 * s + j}", s if numeric else f"p{s:02d}")
                for s in rng.permutation(np.arange(1, n_subjects + 1)) for j in range(1, rng.integers(1, max_videos + 1)
                                                                                   + 1)]
        table = pd.DataFrame(rows, columns=["video", "subject"]).sample(frac=1.0, random_state=int(rng.integers(99)))
        table = table.reset_index(drop=True).assign(n_frames=300)
        cases.append(Case((table,), f"{len(table)} videos of {n_subjects} subjects"
                                    + (", subjects numbered 1.." if numeric else "")))
    return tuple(cases)


def _loso_reference(videos: pd.DataFrame) -> dict[str, tuple[set[str], set[str]]]:
    names = videos["video"].astype(str).to_numpy()
    return {fold.subject: (set(names[fold.train]), set(names[fold.test])) for fold in loso_folds(videos)}


def _loso_compare(got, expected: dict) -> str | None:
    if not isinstance(got, Mapping):
        return f"return a dict: subject -> (train videos, test videos), not {_describe(got)}"
    folds = {}
    for subject, pair in got.items():
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            return f"each value must be a pair (train videos, test videos); subject {subject!r} has {_describe(pair)}"
        train_names, test_names = (read_names(part, column="video") for part in pair)
        if train_names is None or test_names is None:
            return f"subject {subject!r}: give the train and test parts as lists of video names"
        folds[str(subject)] = (set(train_names), set(test_names))
    if set(folds) != set(expected):
        return f"one fold per subject: expected the subjects {sorted(expected)}, got {sorted(folds)}"
    for subject, (train_names, test_names) in expected.items():
        got_train, got_test = folds[subject]
        if (got_train, got_test) == (test_names, train_names):
            return f"subject {subject}: train and test are swapped; the fold tests on the held-out subject's videos"
        if got_train & test_names:
            return f"subject {subject}: the training part holds the held-out subject's own videos (a leak)"
        if (got_train, got_test) != (train_names, test_names):
            return f"subject {subject}: the videos of its fold differ"
    return None


def _show_folds(value) -> str:
    if not isinstance(value, Mapping):
        return _describe(value)
    parts = []
    for subject, pair in list(value.items())[:3]:
        train_names, test_names = (sorted(read_names(p, column="video") or []) for p in pair)
        parts.append(f"{subject}: test {test_names}, train {len(train_names)} videos")
    return "{" + "; ".join(parts) + ("; ..." if len(value) > 3 else "") + "}"


def check_loso_function(fn) -> Feedback:
    """Coding exercise 03: a function ``fn(videos)`` that returns every leave-one-subject-out fold of a video table.

    The reference is :func:`melab.data.splits.loso_folds` (scikit-learn's ``LeaveOneGroupOut``): one fold per
    subject, testing on that subject's videos and training on all the others. The function runs on five hidden
    tables (shuffled rows, subjects with one to four videos, numbered subjects).

    Parameters
    ----------
    fn : callable or None
        ``fn(videos: pd.DataFrame with columns video, subject) -> {subject: (train_videos, test_videos)}``.
    """
    return check_function(
        fn, name="loso_split", cases=_loso_cases(), source="melab.data.splits.loso_folds",
        reference=_loso_reference, compare=_loso_compare, show=_show_folds,
        hint="for every subject in the table, its own videos are the test part and every other video is the "
             "training part; return them as a dict keyed by subject")
