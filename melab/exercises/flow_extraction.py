"""Checkers of notebook 01, optical flow and ROIs: the ROI an AU moves most, end-point error, speed ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd

from melab import face, flow
from melab.data import synthetic as S
from melab.exercises._feedback import Feedback, _close, _diagnose, _number, _say, _unanswered
from melab.exercises.synthetic_data import _subject
from melab.flow import flow_epe


def _au_roi_response(au: str, subject) -> tuple[np.ndarray, list[str]]:
    """Mean magnitude (px per unit intensity) of one AU's field inside each reference ROI of the aligned crop."""
    affine = face.crop_affine(subject.landmarks, size=128)
    field = flow.crop_true_flow(S.au_basis(subject)[S.AU_CODES.index(au)], affine, 128)
    boxes = face.roi_boxes(face.apply_crop(affine, size=128, landmarks=subject.landmarks), size=128)
    response = np.array([np.linalg.norm(field[y0:y1, x0:x1], axis=-1).mean() for x0, y0, x1, y1 in boxes])
    return response, face.roi_names()


def _other_side(name: str) -> str:
    return "_".join({"r": "l", "l": "r"}.get(part, part) for part in name.split("_"))


def check_au_roi(answer: str | None, au: str = "AU14", *, subject=None) -> Feedback:
    """Exercise 01: which of the 18 reference ROIs does an action unit move most?

    The reference is the mean magnitude of the AU's own displacement field inside each ROI box of the
    aligned 128-px crop; any ROI within 90 % of the best is accepted.

    Parameters
    ----------
    answer : str or None
        An ROI name from :func:`melab.face.roi_names`.
    au : str
        AU code.
    subject : SubjectStyle, optional
        Default ``make_subject(0, 0)``.
    """
    if answer is None:
        return _unanswered("compute the ROI series of a clip with that AU (flow.roi_series), take the magnitude "
                           "np.hypot(dx, dy) of every ROI at the apex frame and name the largest (face.roi_names())")
    response, names = _au_roi_response(au, _subject(subject))
    best = names[int(np.argmax(response))]
    if answer not in names:
        return _say("wrong", f"{answer!r} is not an ROI name; choose one of {', '.join(names)}")
    value = response[names.index(answer)]
    if value >= 0.9 * response.max():
        return _say("correct", f"{au} moves {answer} most ({value:.2f} px per px of intensity)")
    if _other_side(answer) == best or (_other_side(answer) in names
                                       and response[names.index(_other_side(answer))] >= 0.9 * response.max()):
        return _say("wrong", f"wrong side: {answer} is on the other half of the face. '_l' and '_r' are the "
                             "subject's left and right, so '_l' is on the right of the image")
    if best.startswith(answer + "_") or (answer == "mouth" and best.startswith(("mouth", "lip"))):
        return _say("wrong", f"{answer} is the region around it; a small patch inside it moves more "
                             f"({response.max():.2f} against {value:.2f} px), because the region averages in "
                             "skin that does not move")
    return _say("wrong", f"{au} moves {answer} by only {value:.2f} px per px of intensity (the best ROI moves "
                         f"{response.max():.2f}); look again at {au}'s anchors in S.AU_TABLE['{au}']")


def check_epe(answer, flow: np.ndarray, true_flow: np.ndarray, mask: np.ndarray | None = None) -> Feedback:
    """Exercise 01: the mean end-point error of an estimated flow against the truth, in pixels.

    The reference is :func:`melab.flow.flow_epe`: the mean over pixels (inside ``mask``) of the length of
    the difference vector.

    Parameters
    ----------
    answer : float or None
        Pixels.
    flow, true_flow : np.ndarray
        ``(H, W, 2)`` pixels.
    mask : np.ndarray, optional
        Bool ``(H, W)``.
    """
    if answer is None:
        return _unanswered("the end-point error of one pixel is the length of (estimated − true) flow, "
                           "np.linalg.norm(est - truth, axis=-1); average it over the pixels")
    value = _number(answer)
    if value is None:
        return _say("wrong", "give one number, the mean error in pixels")
    ref = flow_epe(flow, true_flow, mask)
    est, truth = np.asarray(flow, np.float64), np.asarray(true_flow, np.float64)
    if mask is not None:
        est, truth = est[mask], truth[mask]  # (N, 2) pixels inside the mask
    diff = (est - truth).reshape(-1, 2)
    if _close(value, ref):
        return _say("correct", f"mean end-point error {ref:.3f} px")
    magnitudes = np.abs(np.linalg.norm(est, axis=-1) - np.linalg.norm(truth, axis=-1)).mean()
    mistakes = {
        "you compared magnitudes, |est| − |truth|; EPE is the length of the difference vector, which also "
        "counts errors of direction": magnitudes,
        "you averaged the squared error; EPE is the length, not its square": (diff ** 2).sum(-1).mean(),
        "you averaged |dx| and |dy| separately (an L1 error); EPE is the Euclidean length of the vector":
            np.abs(diff).mean(),
        "you summed |dx| + |dy|; EPE is the Euclidean length sqrt(dx² + dy²)": np.abs(diff).sum(-1).mean(),
        "you summed over the pixels; EPE is the mean": np.linalg.norm(diff, axis=-1).sum(),
        "that is the root-mean-square error; EPE averages the lengths themselves":
            np.sqrt((diff ** 2).sum(-1).mean()),
    }
    message = _diagnose(value, ref, mistakes, rel=0.01)
    if message:
        return _say("wrong", message)
    return _say("wrong", f"the answer is not within 2 % of the reference; check the units (pixels) and that "
                         f"you compared the same pair of frames{' inside the mask' if mask is not None else ''}")


def check_speed_ratio(answer, accuracy: pd.DataFrame, *, slow: str = "tvl1", fast: str = "farneback") -> Feedback:
    """Exercise 01: how many times slower is one flow method than another, from ``flow_accuracy``'s table.

    Parameters
    ----------
    answer : float or None
        The ratio ``ms_per_pair[slow] / ms_per_pair[fast]`` (dimensionless).
    accuracy : pd.DataFrame
        :func:`melab.flow.flow_accuracy` output (index: method, column ``ms_per_pair``).
    slow, fast : str
        The two methods.
    """
    if answer is None:
        return _unanswered(f"divide the {slow} row of accuracy['ms_per_pair'] by the {fast} row")
    value = _number(answer)
    if value is None:
        return _say("wrong", "give one number, a ratio")
    ms = accuracy["ms_per_pair"]
    ref = float(ms[slow] / ms[fast])
    if _close(value, ref, rel=0.05):
        return _say("correct", f"{slow} takes about {ref:.1f} × as long as {fast} per frame pair")
    if _close(value, 1 / ref, rel=0.05):
        return _say("wrong", f"that ratio is upside down: {fast} / {slow}; a 'times slower' ratio is above 1")
    if _close(value, ms[slow] - ms[fast], rel=0.05):
        return _say("wrong", "that is a difference in milliseconds; the question asks for a ratio (no unit)")
    return _say("wrong", f"use the ms_per_pair column of your own table for {slow} and {fast}")
