"""Checkers of notebook 01, optical flow and ROIs: the ROI an AU moves most, end-point error (a coding exercise and
a value), and a speed ratio."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from melab import face, flow
from melab.data import synthetic as S
from melab.exercises._feedback import (
    Case,
    Feedback,
    _describe,
    _say,
    _unanswered,
    as_array,
    check_function,
    check_number,
    match_choice,
    same_number,
)
from melab.exercises.synthetic_data import _subject
from melab.flow import flow_epe

__all__ = ["check_au_roi", "check_epe", "check_epe_function", "check_speed_ratio"]


def _au_roi_response(au: str, subject) -> tuple[np.ndarray, list[str]]:
    """Mean magnitude (px per unit intensity) of one AU's field inside each reference ROI of the aligned crop."""
    affine = face.crop_affine(subject.landmarks, size=128)
    field = flow.crop_true_flow(S.au_basis(subject)[S.AU_CODES.index(au)], affine, 128)
    boxes = face.roi_boxes(face.apply_crop(affine, size=128, landmarks=subject.landmarks), size=128)
    response = np.array([np.linalg.norm(field[y0:y1, x0:x1], axis=-1).mean() for x0, y0, x1, y1 in boxes])
    return response, face.roi_names()


@functools.lru_cache(maxsize=8)
def _default_response(au: str) -> tuple[np.ndarray, list[str]]:
    return _au_roi_response(au, _subject(None))


def _other_side(name: str) -> str:
    return "_".join({"r": "l", "l": "r"}.get(part, part) for part in name.split("_"))


def check_au_roi(answer, au: str = "AU14", *, subject=None) -> Feedback:
    """Exercise 01: which of the 18 reference ROIs does an action unit move most?

    The reference is the mean magnitude of the AU's own displacement field inside each ROI box of the
    aligned 128-px crop; any ROI within 90 % of the best is accepted.

    Parameters
    ----------
    answer : str or None
        An ROI name from :func:`melab.face.roi_names` (any case; spaces for underscores).
    au : str
        AU code.
    subject : SubjectStyle, optional
        Default ``make_subject(0, 0)``.
    """
    if au not in S.AU_CODES:
        raise ValueError(f"au must be one of {', '.join(S.AU_CODES)}, got {au!r}")
    if answer is None:
        return _unanswered(f"compute the ROI series of a clip that shows {au}, take each ROI's motion magnitude "
                           "(the length of its (dx, dy)) at the apex frame, and name the ROI where it is largest")
    response, names = _default_response(au) if subject is None else _au_roi_response(au, subject)
    name = match_choice(answer, names)
    if name is None:
        return _say("wrong", f"{_describe(answer)} is not an ROI name; choose one of {', '.join(names)}")
    best = names[int(np.argmax(response))]
    value = response[names.index(name)]
    if value >= 0.9 * response.max():
        return _say("correct", f"{au} moves {name} most ({value:.2f} px per px of intensity)")
    other = _other_side(name)
    if other in names and response[names.index(other)] >= 0.9 * response.max():
        return _say("wrong", f"wrong side: {name} is on the other half of the face. '_l' and '_r' are the "
                             "subject's left and right, so '_l' is on the right of the image")
    if best.startswith(name + "_") or (name == "mouth" and best.startswith(("mouth", "lip"))):
        return _say("wrong", f"{name} is the region around it; a small patch inside it moves more "
                             f"({response.max():.2f} against {value:.2f} px), because the region averages in "
                             "skin that does not move")
    return _say("wrong", f"{au} moves {name} by only {value:.2f} px per px of intensity (the best ROI moves "
                         f"{response.max():.2f}); look again at where {au}'s anchors sit (S.AU_TABLE)")


def _flows(flow_est, true_flow, mask) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    est, truth = as_array(flow_est, "flow"), as_array(true_flow, "true_flow")
    if est.ndim != 3 or est.shape[-1] != 2:
        raise ValueError(f"flow must be (H, W, 2) pixels, got shape {est.shape}")
    if truth.shape != est.shape:
        raise ValueError(f"true_flow must have flow's shape {est.shape}, got {truth.shape}")
    if mask is not None:
        mask = as_array(mask, "mask", dtype=None)
        if mask.shape != est.shape[:2] or mask.dtype != bool or not mask.any():
            raise ValueError(f"mask must be a bool (H, W) = {est.shape[:2]} array with at least one True pixel")
    return est, truth, mask


def _epe_mistakes(est: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> dict:
    """Message -> the value each typical mistake gives."""
    if mask is not None:
        est, truth = est[mask], truth[mask]  # (N, 2) pixels inside the mask
    diff = (est - truth).reshape(-1, 2)
    return {
        "you compared magnitudes, |est| − |truth|; EPE is the length of the difference vector, which also "
        "counts errors of direction":
            np.abs(np.linalg.norm(est, axis=-1) - np.linalg.norm(truth, axis=-1)).mean(),
        "you averaged the squared error; EPE is the length, not its square": (diff ** 2).sum(-1).mean(),
        "you averaged |dx| and |dy| separately (an L1 error); EPE is the Euclidean length of the vector":
            np.abs(diff).mean(),
        "you summed |dx| + |dy|; EPE is the Euclidean length sqrt(dx² + dy²)": np.abs(diff).sum(-1).mean(),
        "you summed over the pixels; EPE is the mean": np.linalg.norm(diff, axis=-1).sum(),
        "that is the root-mean-square error; EPE averages the lengths themselves":
            np.sqrt((diff ** 2).sum(-1).mean()),
    }


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
    est, truth, mask = _flows(flow, true_flow, mask)
    if answer is None:
        return _unanswered("the error of one pixel is the length of the difference between its estimated and its "
                           "true flow vector; average that over the pixels" + (" inside the mask" if mask is not None
                                                                               else ""))
    ref = flow_epe(est, truth, mask)
    return check_number(answer, ref, what="one number, the mean error in pixels", correct=f"mean end-point error "
                        f"{ref:.3f} px", mistakes=_epe_mistakes(est, truth, mask), rel=1e-4,
                        fallback="check the units (pixels) and that you compared the same pair of frames"
                                 + (" inside the mask" if mask is not None else ""))


@functools.lru_cache(maxsize=1)
def _epe_cases() -> tuple[Case, ...]:
    rng = np.random.default_rng(2601)
    cases = []
    for h, w, dtype, masked in [(4, 5, np.float32, False), (6, 8, np.float64, True), (1, 1, np.float32, False),
                                (16, 12, np.float32, True), (9, 9, np.float64, False)]:
        truth = rng.normal(size=(h, w, 2)).astype(dtype)
        est = (truth + rng.normal(scale=0.4, size=truth.shape)).astype(dtype)
        if (h, w) == (9, 9):
            est = -truth  # same magnitudes, opposite directions: only a true EPE sees the error
        mask = None
        if masked:
            mask = rng.random((h, w)) < 0.3
            mask[0, 0] = True
        args = (est, truth) if mask is None else (est, truth, mask)
        shown = f"est and truth {h}×{w}×2 {np.dtype(dtype).name}" + (f", mask of {mask.sum()} pixels" if masked
                                                                       else ", no mask")
        cases.append(Case(args, shown))
    return tuple(cases)


def _epe_mistake(message: str):
    def mistake(est, truth, mask=None):
        return _epe_mistakes(np.asarray(est, np.float64), np.asarray(truth, np.float64), mask)[message]
    return mistake


def check_epe_function(fn) -> Feedback:
    """Coding exercise 01: a function ``fn(est, truth, mask=None)`` that returns the mean end-point error in pixels.

    The reference is :func:`melab.flow.flow_epe`. The function runs on five hidden flow pairs (float32 and
    float64, with and without a mask, one pair whose magnitudes agree but directions do not).

    Parameters
    ----------
    fn : callable or None
        ``fn(est: (H, W, 2), truth: (H, W, 2), mask: (H, W) bool or None = None) -> float``.
    """
    messages = list(_epe_mistakes(np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), None))
    return check_function(
        fn, name="my_epe", cases=_epe_cases(), source="melab.flow.flow_epe",
        reference=lambda est, truth, mask=None: flow_epe(est, truth, mask),
        compare=lambda got, expected: same_number(got, expected, rel=1e-4),
        show=lambda value: f"{float(value):.4f} px",
        mistakes={message: _epe_mistake(message) for message in messages}
        | {"use only the pixels inside the mask when one is given":
           lambda est, truth, mask=None: flow_epe(est, truth)},
        hint="subtract the two flows, take each pixel's vector length (the square root of dx² + dy²), keep the "
             "pixels inside the mask when there is one, and average")


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
    if not isinstance(accuracy, pd.DataFrame) or "ms_per_pair" not in accuracy.columns:
        raise ValueError("accuracy must be flow_accuracy's table, a DataFrame with an ms_per_pair column")
    if answer is None:
        return _unanswered(f"read the time per frame pair of {slow} and of {fast} in the ms_per_pair column and "
                           "say how many times longer the first takes")
    missing = [m for m in (slow, fast) if m not in accuracy.index]
    if missing:
        raise ValueError(f"accuracy has no row for {', '.join(missing)}; its methods are {list(accuracy.index)}")
    ms = pd.to_numeric(accuracy["ms_per_pair"], errors="coerce")
    if not (np.isfinite(ms[[slow, fast]]).all() and ms[fast] > 0):
        raise ValueError(f"accuracy's ms_per_pair must hold positive times for {slow} and {fast}")
    ref = float(ms[slow] / ms[fast])
    return check_number(answer, ref, what="one number, a ratio", rel=0.05,
                        correct=f"{slow} takes about {ref:.1f} × as long as {fast} per frame pair",
                        mistakes={f"that ratio is upside down: {fast} / {slow}; a 'times slower' ratio is above 1":
                                  1 / ref,
                                  "that is a difference in milliseconds; the question asks for a ratio (no unit)":
                                  float(ms[slow] - ms[fast])},
                        fallback=f"use the ms_per_pair column of your own table for {slow} and {fast}")
