"""Checkers of notebook 00, the synthetic corpus: which AU moves a landmark, by how much, and which frames an
expression covers (a coding exercise)."""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

from melab.data import synthetic as S
from melab.exercises._feedback import (
    Case,
    Feedback,
    Number,
    _describe,
    _say,
    _unanswered,
    agrees,
    check_function,
    norm_text,
    read_number,
    read_numbers,
    read_text,
)
from melab.train import frame_targets

__all__ = ["check_au_for_landmark", "check_landmark_motion", "check_expression_frames"]


def _subject(subject):
    return S.make_subject(0, 0) if subject is None else subject


def _landmark_index(landmark, n: int) -> int:
    number = read_number(landmark)
    if number is None or number.value != int(number.value) or not 0 <= int(number.value) < n:
        raise ValueError(f"landmark must be an iBUG index 0..{n - 1}, got {landmark!r}")
    return int(number.value)


@functools.lru_cache(maxsize=32)
def _fields_of_default(landmark: int) -> np.ndarray:
    subject = _subject(None)
    return S.au_displacement(subject, subject.landmarks[[landmark]].astype(np.float64))[:, 0]


def _landmark_fields(subject, landmark) -> np.ndarray:
    """(n_AU, 2) displacement of every AU at one neutral landmark, px per unit intensity."""
    index = _landmark_index(landmark, len(_subject(subject).landmarks))
    if subject is None:
        return _fields_of_default(index)
    return S.au_displacement(subject, subject.landmarks[[index]].astype(np.float64))[:, 0]


def _au_code(answer) -> str | None:
    """An AU code from "AU4", "au 4", "4" or 4; None if the answer names no number."""
    number = read_number(answer)
    if number is not None and number.value == int(number.value):
        return f"AU{int(number.value)}"
    text = read_text(answer)
    match = re.fullmatch(r"au_?(\d+)", text or "")
    return f"AU{int(match.group(1))}" if match else None


def check_au_for_landmark(answer, landmark: int, subject=None) -> Feedback:
    """Exercise 00: which action unit moves iBUG landmark ``landmark`` the most?

    The reference is the AU with the largest displacement at the landmark in
    :func:`melab.data.synthetic.au_displacement` (any AU within 5 % of it is accepted too).

    Parameters
    ----------
    answer : str, int or None
        An AU code such as ``"AU4"`` (any case; ``4`` means AU4).
    landmark : int
        iBUG-68 index (0-based).
    subject : SubjectStyle, optional
        Default ``make_subject(0, 0)``.
    """
    length = np.linalg.norm(_landmark_fields(subject, landmark), axis=-1)
    if answer is None:
        return _unanswered(f"the generator knows every AU's true displacement at any point of the neutral face "
                           f"(melab.data.synthetic.au_displacement); compare the lengths of all AU vectors at "
                           f"landmark {landmark} and name the longest")
    code = _au_code(answer)
    if code is None:
        return _say("wrong", f"give an AU code such as 'AU1'; got {_describe(answer)}")
    if code not in S.AU_CODES:
        return _say("wrong", f"{code} is not an AU of the generator; its AUs are {', '.join(S.AU_CODES)}")
    best = int(np.argmax(length))
    j = S.AU_CODES.index(code)
    if length[j] >= 0.95 * length[best]:
        return _say("correct", f"{code} ({S.AU_TABLE[code].name}) moves landmark {landmark} by "
                               f"{length[j]:.2f} px per px of AU intensity")
    if length[j] < 0.01:
        return _say("wrong", f"{code} does not reach landmark {landmark} at all (0.00 px); look for an AU whose "
                             "anchors sit on or near it")
    return _say("wrong", f"{code} moves landmark {landmark} by {length[j]:.2f} px, but another AU moves it by "
                         f"{length[best]:.2f} px; compare the lengths of all AU vectors, not just the anchors")


def _read_vector(answer) -> list[Number] | None:
    """Two numbers with the precision each was given in, from a pair, an array, a Series, a mapping or a string."""
    if isinstance(answer, dict) and {"dx", "dy"} <= {norm_text(str(k)) for k in answer}:
        answer = [answer[k] for k in sorted(answer, key=lambda k: norm_text(str(k)))]
    if isinstance(answer, str):
        parts = re.findall(r"[+\-−–]?\s*(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?", answer.lower())
        numbers = [read_number(p) for p in parts]
    else:
        values = read_numbers(answer, n=2)
        if values is None:
            return None
        if isinstance(answer, (list, tuple)) and len(answer) == 2:
            numbers = [read_number(x) for x in answer]
        else:
            numbers = [Number(float(v), None) for v in values]
    if len(numbers) != 2 or any(n is None for n in numbers):
        return None
    return numbers


def check_landmark_motion(answer, au: str, landmark: int, *, intensity_px: float = 1.0, subject=None) -> Feedback:
    """Exercise 00: the displacement (dx, dy) in pixels of one landmark when one AU is active.

    The reference is :func:`melab.data.synthetic.au_displacement` at the neutral landmark, times
    ``intensity_px`` (each AU field peaks at 1 px per unit of intensity). Each component is right to the
    precision given, or within 2 % of the vector's length.

    Parameters
    ----------
    answer : (dx, dy) or None
        Pixels; +x to the right, +y **down** (image rows). A list, tuple, array, Series, ``{"dx", "dy"}``
        mapping or a string such as ``"(0.1, -0.7)"``.
    au : str
        AU code.
    landmark : int
        iBUG-68 index.
    intensity_px : float
        AU intensity (peak displacement of its field, px).
    subject : SubjectStyle, optional
        Default ``make_subject(0, 0)``.
    """
    if au not in S.AU_CODES:
        raise ValueError(f"au must be one of {', '.join(S.AU_CODES)}, got {au!r}")
    ref = _landmark_fields(subject, landmark)[S.AU_CODES.index(au)] * float(intensity_px)
    if answer is None:
        return _unanswered(f"take {au}'s true displacement at landmark {landmark} of the neutral face "
                           f"(px per px of intensity) and scale it to an intensity of {intensity_px:g} px; "
                           "mind the direction of the image's y axis")
    got = _read_vector(answer)
    if got is None:
        return _say("wrong", f"give two numbers, (dx, dy) in pixels; got {_describe(answer)}")
    length = float(np.linalg.norm(ref))
    tol = 0.02 * max(length, 0.05)

    def ok(target: np.ndarray) -> bool:
        return all(agrees(n, t, abs_tol=tol) for n, t in zip(got, target, strict=True))

    if ok(ref):
        return _say("correct", f"{au} moves landmark {landmark} by dx {ref[0]:+.2f}, dy {ref[1]:+.2f} px "
                               f"({'up' if ref[1] < 0 else 'down'} on the image)")
    if abs(ref[1]) > tol and ok(ref * [1, -1]):
        return _say("wrong", "the sign of dy is flipped: image rows grow downwards, so a movement up has a "
                             "negative dy")
    if abs(ref[0]) > tol and ok(ref * [-1, 1]):
        return _say("wrong", "the sign of dx is flipped: positive dx is to the right of the image (the subject's left)")
    if ok(ref[::-1]):
        return _say("wrong", "dx and dy are swapped: flow is (dx, dy) = (column, row) order, not (row, column)")
    values = np.array([n.value for n in got])
    norm = float(np.linalg.norm(values))
    if norm > 0 and length > 0 and float(values @ ref) / (norm * length) > 0.99:
        return _say("wrong", f"right direction, wrong length: yours is {norm / length:.2f} × the reference; the field "
                             f"is in px per px of intensity, times intensity_px={intensity_px:g}")
    return _say("wrong", f"expected a vector of {length:.2f} px; check that you took {au}'s row and landmark "
                         f"{landmark}")


# ---------------------------------------------------------------------------------------------- coding exercise

_EMOTIONS = ("anger", "disgust", "happiness", "surprise", "sadness", "fear", "others")


def _events_case(rng: np.random.Generator, n_frames: int, n_events: int) -> pd.DataFrame:
    """A random events table of one video: micro and macro events, some touching the first or last frame."""
    rows = []
    for i in range(n_events):
        kind = "micro" if i % 2 == 0 else "macro"
        length = int(rng.integers(1, 6)) if kind == "micro" else int(rng.integers(5, 25))
        onset = int(rng.integers(0, n_frames - length + 1))
        rows.append((onset, onset + length // 2, onset + length - 1, _EMOTIONS[i % len(_EMOTIONS)], kind))
    if n_events >= 3:  # one micro event on the first frame and one on the last
        rows[0] = (0, 0, 2, rows[0][3], "micro")
        rows[2] = (n_frames - 3, n_frames - 2, n_frames - 1, rows[2][3], "micro")
    table = pd.DataFrame(rows, columns=["onset", "apex", "offset", "emotion", "kind"])
    return table.sample(frac=1.0, random_state=int(rng.integers(1 << 31))).reset_index(drop=True).assign(
        video="v", subject="s", fps=30)


@functools.lru_cache(maxsize=1)
def _frame_cases() -> tuple[Case, ...]:
    rng = np.random.default_rng(2600)
    cases = []
    for n_frames, n_events, kind in [(40, 4, "micro"), (60, 6, "micro"), (25, 3, "macro"), (90, 8, "micro"),
                                     (30, 0, "micro"), (120, 9, "macro")]:
        events = _events_case(rng, n_frames, n_events)
        shown = (f"{n_frames} frames, {len(events)} events ({(events['kind'] == 'micro').sum()} micro), "
                 f"kind={kind!r}")
        cases.append(Case((events, n_frames, kind), shown))
    return tuple(cases)


def _frames_reference(events: pd.DataFrame, n_frames: int, kind: str) -> np.ndarray:
    return frame_targets(n_frames, events, kinds=(kind,))[0] > 0


def _frames_compare(got, expected: np.ndarray) -> str | None:
    if isinstance(got, (pd.Series, pd.DataFrame)):
        got = got.to_numpy()
    if not isinstance(got, (list, tuple, np.ndarray)):
        return f"return one True/False (or 1/0) per frame, {expected.size} values"
    values = np.asarray(got, dtype=object).ravel()
    if values.size != expected.size or not all(isinstance(v, (bool, np.bool_, int, np.integer, float, np.floating))
                                               for v in values):
        return f"return one True/False (or 1/0) per frame, {expected.size} values"
    values = values.astype(np.float64)
    if not np.isin(values, (0.0, 1.0)).all():
        return "return True/False (or 1/0) per frame, not other numbers"
    return None if np.array_equal(values.astype(bool), expected) else "the frames differ"


def _show_frames(value) -> str:
    if not isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return _describe(value)
    mask = np.asarray(value).astype(bool).ravel()
    starts = np.flatnonzero(np.diff(np.r_[0, mask.astype(int)]) == 1)
    stops = np.flatnonzero(np.diff(np.r_[mask.astype(int), 0]) == -1)
    spans = [f"{a}" if a == b else f"{a}-{b}" for a, b in zip(starts, stops, strict=True)]
    return f"frames {', '.join(spans)}" if spans else "no frame"


def _exclusive_offset(events: pd.DataFrame, n_frames: int, kind: str) -> np.ndarray:
    mask = np.zeros(n_frames, bool)
    for ev in events[events["kind"] == kind].itertuples():
        mask[ev.onset:ev.offset] = True
    return mask


def _every_kind(events: pd.DataFrame, n_frames: int, kind: str) -> np.ndarray:
    return frame_targets(n_frames, events, kinds=tuple(events["kind"].unique()))[0] > 0


def check_expression_frames(fn) -> Feedback:
    """Coding exercise 00: a function ``fn(events, n_frames, kind)`` that returns, for each of the ``n_frames``
    frames of a video, whether it lies inside an expression of that ``kind``.

    The reference is the spotting target of :func:`melab.train.frame_targets` (onset and offset both
    inclusive). The function runs on six hidden events tables (events on the first and last frame, single-frame
    and overlapping events, a video without events) and the first case it gets wrong is named.

    Parameters
    ----------
    fn : callable or None
        ``fn(events: pd.DataFrame, n_frames: int, kind: str) -> (n_frames,) bool``.
    """
    return check_function(
        fn, name="expression_frames", cases=_frame_cases(), reference=_frames_reference, compare=_frames_compare,
        show=_show_frames, source="melab.train.frame_targets",
        hint="start from an array of n_frames False values and set every frame from onset to offset of each "
             "row of the requested kind; both onset and offset belong to the expression",
        mistakes={"offset is inclusive: an event (onset, offset) covers offset − onset + 1 frames":
                  _exclusive_offset,
                  "keep only the rows of the requested kind": _every_kind})
