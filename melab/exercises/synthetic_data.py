"""Checkers of notebook 00, the synthetic corpus: which AU moves a landmark, and by how much."""

from __future__ import annotations

import numpy as np

from melab.data import synthetic as S
from melab.exercises._feedback import Feedback, _say, _unanswered


def _subject(subject):
    return S.make_subject(0, 0) if subject is None else subject


def _landmark_fields(subject, landmark: int) -> np.ndarray:
    """(n_AU, 2) displacement of every AU at one neutral landmark, px per unit intensity."""
    if not 0 <= int(landmark) < len(subject.landmarks):
        raise ValueError(f"landmark must be an iBUG index 0..{len(subject.landmarks) - 1}, got {landmark}")
    return S.au_displacement(subject, subject.landmarks[[int(landmark)]].astype(np.float64))[:, 0]


def check_au_for_landmark(answer: str | None, landmark: int, subject=None) -> Feedback:
    """Exercise 00: which action unit moves iBUG landmark ``landmark`` the most?

    The reference is the AU with the largest displacement at the landmark in
    :func:`melab.data.synthetic.au_displacement` (any AU within 5 % of it is accepted too).

    Parameters
    ----------
    answer : str or None
        An AU code such as ``"AU4"``.
    landmark : int
        iBUG-68 index (0-based).
    subject : SubjectStyle, optional
        Default ``make_subject(0, 0)``.
    """
    if answer is None:
        return _unanswered(f"S.au_displacement(subject, subject.landmarks[[{landmark}]]) gives every AU's (dx, dy) "
                           "at the landmark; take the AU code with the longest vector")
    subject = _subject(subject)
    length = np.linalg.norm(_landmark_fields(subject, landmark), axis=-1)
    best = int(np.argmax(length))
    if isinstance(answer, (int, np.integer)) or (isinstance(answer, str) and answer.strip().isdigit()):
        return _say("wrong", f"write the AU as its code, a string such as 'AU{int(answer)}', not a number")
    answer = answer.strip().upper().replace(" ", "") if isinstance(answer, str) else answer
    if answer not in S.AU_CODES:
        return _say("wrong", f"{answer!r} is not an AU of the generator; the codes are {', '.join(S.AU_CODES)}")
    j = S.AU_CODES.index(answer)
    if length[j] >= 0.95 * length[best]:
        return _say("correct", f"{answer} ({S.AU_TABLE[answer].name}) moves landmark {landmark} by "
                               f"{length[j]:.2f} px per px of AU intensity")
    if length[j] < 0.01:
        return _say("wrong", f"{answer} does not reach landmark {landmark} at all (0.00 px); look for an AU whose "
                             "anchors in S.AU_TABLE sit on or near it")
    return _say("wrong", f"{answer} moves landmark {landmark} by {length[j]:.2f} px, but another AU moves it by "
                         f"{length[best]:.2f} px; compare the lengths of all AU vectors, not just the anchors")


def check_landmark_motion(answer, au: str, landmark: int, *, intensity_px: float = 1.0, subject=None) -> Feedback:
    """Exercise 00: the displacement (dx, dy) in pixels of one landmark when one AU is active.

    The reference is :func:`melab.data.synthetic.au_displacement` at the neutral landmark, times
    ``intensity_px`` (each AU field peaks at 1 px per unit of intensity).

    Parameters
    ----------
    answer : (dx, dy) or None
        Pixels; +x to the right, +y **down** (image rows).
    au : str
        AU code.
    landmark : int
        iBUG-68 index.
    intensity_px : float
        AU intensity (peak displacement of its field, px).
    subject : SubjectStyle, optional
        Default ``make_subject(0, 0)``.
    """
    if answer is None:
        return _unanswered(f"S.au_displacement(subject, subject.landmarks[[{landmark}]])[S.AU_CODES.index('{au}'), 0] "
                           f"is the (dx, dy) per px of intensity; multiply by {intensity_px:g}")
    subject = _subject(subject)
    ref = _landmark_fields(subject, landmark)[S.AU_CODES.index(au)] * intensity_px
    try:
        got = np.asarray(answer, dtype=np.float64).reshape(2)
    except (TypeError, ValueError):
        return _say("wrong", "give two numbers, (dx, dy) in pixels")
    tol = 0.02 * max(float(np.linalg.norm(ref)), 0.05)

    def ok(v: np.ndarray) -> bool:
        return bool(np.all(np.abs(v - ref) <= tol))

    if ok(got):
        return _say("correct", f"{au} moves landmark {landmark} by dx {ref[0]:+.2f}, dy {ref[1]:+.2f} px "
                               f"({'up' if ref[1] < 0 else 'down'} on the image)")
    if ok(got * [1, -1]) and abs(ref[1]) > tol:
        return _say("wrong", "the sign of dy is flipped: image rows grow downwards, so a movement up has a "
                             "negative dy")
    if ok(got * [-1, 1]) and abs(ref[0]) > tol:
        return _say("wrong", "the sign of dx is flipped: positive dx is to the right of the image (the subject's left)")
    if ok(got[::-1]):
        return _say("wrong", "dx and dy are swapped: flow is (dx, dy) = (column, row) order, not (row, column)")
    norm = float(np.linalg.norm(got))
    if norm > 0 and float(np.dot(got, ref)) / (norm * np.linalg.norm(ref)) > 0.999:
        return _say("wrong", f"right direction, wrong length: yours is {norm / np.linalg.norm(ref):.2f} × the "
                             f"reference; the field is in px per px of intensity, times intensity_px={intensity_px:g}")
    return _say("wrong", f"expected a vector of {np.linalg.norm(ref):.2f} px; check that you took {au}'s row and "
                         f"landmark {landmark}")
