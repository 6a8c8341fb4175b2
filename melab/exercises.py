"""Checkers for the notebooks' exercises: each says *what* is wrong, not just "wrong".

Every ``check_*`` function takes the student's answer first, then the inputs the answer was computed
from, recomputes the reference answer from those inputs with melab (or scikit-learn), and prints one
line:

- ``not answered yet: ...`` when the answer is ``None`` (the committed notebooks leave it so; the line
  is fixed, so nbval passes on unanswered notebooks);
- ``correct: ...`` when the answer matches;
- ``not quite: ...`` with feedback on the typical mistake it recognises (which token, which sign,
  which unit), or a generic hint.

Each returns a :class:`Feedback` (status and message) so tests and autograders can read the verdict
without parsing text. End the notebook cell with ``;`` or assign the result so that it is not
displayed twice.

Exercises by notebook:

- 00: :func:`check_au_for_landmark`, :func:`check_landmark_motion`
- 01: :func:`check_au_roi`, :func:`check_epe`, :func:`check_speed_ratio`
- 02: :func:`check_scan_order`, :func:`check_memory`, :func:`check_redundancy`
- 03: :func:`check_epoch_windows`, :func:`check_ratio_effect`, :func:`check_loso_split`
- 04: :func:`check_iou`, :func:`check_losing_k`
- 05: :func:`check_uar`, :func:`check_most_confused`
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from melab import face, flow, train
from melab.data import synthetic as S
from melab.data.splits import FINE_CLASSES
from melab.flow import flow_epe
from melab.metrics import interval_iou, iou_matrix
from melab.scan import SCAN_KINDS, redundancy, scan_order
from melab.ssm import selective_scan

__all__ = [
    "Feedback",
    "check_au_for_landmark",
    "check_au_roi",
    "check_epe",
    "check_epoch_windows",
    "check_iou",
    "check_landmark_motion",
    "check_loso_split",
    "check_losing_k",
    "check_memory",
    "check_most_confused",
    "check_ratio_effect",
    "check_redundancy",
    "check_scan_order",
    "check_speed_ratio",
    "check_uar",
    "fixed_window_iou",
]


class Feedback(NamedTuple):
    """The verdict of a checker: ``status`` is "unanswered", "correct" or "wrong"."""

    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == "correct"


def _say(status: str, message: str) -> Feedback:
    prefix = {"unanswered": "not answered yet", "correct": "correct", "wrong": "not quite"}[status]
    print(f"{prefix}: {message}")
    return Feedback(status, message)


def _unanswered(hint: str) -> Feedback:
    return _say("unanswered", f"replace None with your answer. Hint: {hint}")


def _close(a: float, b: float, *, rel: float = 0.02, abs_tol: float = 1e-3) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_tol)


def _number(answer) -> float | None:
    """``answer`` as a float, or None if it is not one number."""
    try:
        value = float(np.asarray(answer, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _diagnose(value: float, ref: float, mistakes: Mapping[str, float], *, rel: float = 0.01,
              abs_tol: float = 5e-4) -> str | None:
    """The message of the typical mistake whose value is nearest ``value`` (within tolerance), if any.

    A mistake that happens to give the reference value is skipped: it cannot be told apart.
    """
    near = [(abs(value - wrong), message) for message, wrong in mistakes.items()
            if _close(value, wrong, rel=rel, abs_tol=abs_tol) and not _close(wrong, ref, rel=rel, abs_tol=abs_tol)]
    return min(near)[1] if near else None


# ------------------------------------------------------------------ 00: the synthetic corpus


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


# ------------------------------------------------------------------ 01: optical flow and ROIs


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


# ------------------------------------------------------------------ 02: scan orders and the selective scan


def check_scan_order(order, h: int = 3, w: int = 4, kind: str = "v_zigzag") -> Feedback:
    """Exercise 02: the visiting order of a scan as row-major token indices.

    The reference is :func:`melab.scan.scan_order` ``(h, w, kind)``.

    Parameters
    ----------
    order : sequence of int or None
        Row-major indices ``r * w + c`` in visiting order.
    h, w : int
        Grid rows and columns.
    kind : str
        Scan kind.
    """
    if order is None:
        return _unanswered(f"number the {h} × {w} grid row-major (token (r, c) is r * {w} + c), then list the "
                           f"indices in the order {kind} visits them; every scan starts at token 0 (top-left)")
    truth = scan_order(h, w, kind).tolist()
    try:
        got = [int(i) for i in order]
    except (TypeError, ValueError):
        if all(np.ndim(t) == 1 and len(t) == 2 for t in order):
            return _say("wrong", f"give row-major indices r * {w} + c, not (row, column) pairs")
        return _say("wrong", "give a list of whole numbers")
    if got == truth:
        return _say("correct", f"{kind} on {h}×{w} is {truth}")
    if len(got) != h * w:
        return _say("wrong", f"{len(got)} tokens given, {h * w} expected: every token is visited exactly once")
    if sorted(got) != list(range(h * w)):
        missing = sorted(set(range(h * w)) - set(got))
        return _say("wrong", f"each token must appear once; missing {missing}")
    column_major = [(i % h) * w + i // h for i in got]
    if column_major == truth:
        return _say("wrong", f"you numbered the tokens column-major (c * {h} + r); melab numbers them row-major, "
                             f"r * {w} + c")
    for other in SCAN_KINDS:
        if other != kind and scan_order(h, w, other).tolist() == got:
            line = "column" if kind.startswith("v_") else "row"
            extra = f" In a zigzag every other {line} runs backwards." if "raster" in other and "zigzag" in kind else ""
            return _say("wrong", f"that is the order of {other}, not {kind}.{extra}")
    i = next(i for i, (a, t) in enumerate(zip(got, truth, strict=True)) if a != t)
    return _say("wrong", f"position {i} should be token {truth[i]} (row {truth[i] // w}, column {truth[i] % w}), "
                         f"not {got[i]}")


def check_memory(answer, delta: float, steps: int, *, a: float = -1.0) -> Feedback:
    """Exercise 02: the share ``h_t / h_0`` of an impulse the state keeps after ``steps`` tokens at constant Δ.

    The reference runs :func:`melab.ssm.selective_scan` (``ref`` backend) on an impulse with ``n = 1``,
    ``A = a``, ``B = C = 1``; in closed form ``exp(a Δ steps)``.

    Parameters
    ----------
    answer : float or None
        A fraction in [0, 1].
    delta : float
        Step size Δ (> 0).
    steps : int
        Tokens after the impulse.
    a : float
        The (negative) state matrix entry A.
    """
    if answer is None:
        return _unanswered("each token multiplies the state by exp(Δ·A); after t tokens it has been multiplied t "
                           "times")
    value = _number(answer)
    if value is None:
        return _say("wrong", "give one number, a fraction between 0 and 1")
    length = steps + 1
    u = torch.zeros(1, 1, length, dtype=torch.float64)
    u[..., 0] = 1.0
    h = selective_scan(u, torch.full((1, 1, length), float(delta), dtype=torch.float64),
                       torch.full((1, 1), float(a), dtype=torch.float64), torch.ones(1, 1, length, dtype=torch.float64),
                       torch.ones(1, 1, length, dtype=torch.float64), backend="ref")[0, 0]
    ref = float(h[steps] / h[0])
    if _close(value, ref, rel=0.01, abs_tol=5e-4):
        return _say("correct", f"exp({a:g} · {delta:g} · {steps}) = {ref:.3f} of the state is left")
    mistakes = {
        "that is the share after one step; the decay applies at every one of the steps": math.exp(a * delta),
        "the decay multiplies the state at each step; it does not subtract Δ each time":
            max(0.0, 1 + a * delta * steps),
        "Δ multiplies the time in the exponent, it does not divide it": math.exp(a * steps / delta),
        "give a fraction, not a percentage": 100 * ref,
        "that is the share forgotten; the question asks for the share kept": 1 - ref,
    }
    message = _diagnose(value, ref, mistakes, rel=0.01, abs_tol=5e-4)
    if message:
        return _say("wrong", message)
    return _say("wrong", "write h_t / h_0 with the decay exp(Δ·A) applied once per token")


def check_redundancy(answer, kind_a: str, kind_b: str, h: int = 7, w: int = 7) -> Feedback:
    """Exercise 02: the share of (unordered) consecutive pairs two scans have in common.

    The reference is :func:`melab.scan.redundancy` with ``directed=False``.

    Parameters
    ----------
    answer : float or None
        A fraction in [0, 1].
    kind_a, kind_b : str
        Scan kinds.
    h, w : int
        Grid size.
    """
    if answer is None:
        return _unanswered(f"list the {h * w - 1} pairs {{t_i, t_i+1}} of each scan as sets and count the common "
                           "ones; divide by the number of pairs")
    value = _number(answer)
    if value is None:
        return _say("wrong", "give one number, a fraction between 0 and 1")
    a, b = scan_order(h, w, kind_a), scan_order(h, w, kind_b)
    ref = redundancy(a, b, h, w)
    if _close(value, ref, rel=1e-3, abs_tol=2e-3):
        return _say("correct", f"{kind_a} and {kind_b} share {ref:.3f} of their consecutive pairs")
    directed = redundancy(a, b, h, w, directed=True)
    if _close(value, directed, abs_tol=5e-3) and not _close(directed, ref, abs_tol=5e-3):
        return _say("wrong", "you counted ordered pairs (t_i → t_i+1); the undirected measure treats {t_i, t_i+1} "
                             "as a set, so a reversed pair still counts")
    if _close(value, 100 * ref, abs_tol=0.5):
        return _say("wrong", "give a fraction, not a percentage")
    if _close(value, ref * (h * w - 1), abs_tol=0.5):
        return _say("wrong", f"that is the number of shared pairs; divide by the {h * w - 1} pairs of a scan")
    return _say("wrong", f"count pairs of consecutive tokens, on a {h} × {w} grid")


# ------------------------------------------------------------------ 03: training


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


# ------------------------------------------------------------------ 04: interval decoding


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


# ------------------------------------------------------------------ 05: confusion matrices


def _labels_from(confusion, labels: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    values = np.asarray(confusion, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(values < 0) or not np.array_equal(values, np.round(values)):
        raise ValueError("confusion must hold sample counts (whole numbers >= 0), not row fractions; "
                         "pass metrics.confusion(...) without normalize")
    m = values.astype(np.int64)
    if labels is None:
        labels = list(confusion.index) if isinstance(confusion, pd.DataFrame) else [str(i) for i in range(len(m))]
    if m.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix of shape {m.shape} does not fit {len(labels)} labels")
    return m, [str(label) for label in labels]


def check_uar(value, confusion, labels: Sequence[str] | None = None) -> Feedback:
    """Exercise 05: the unweighted average recall (UAR) of a count confusion matrix (rows true).

    The reference is :func:`sklearn.metrics.recall_score` ``(average="macro")`` on the samples the matrix
    counts.

    Parameters
    ----------
    value : float or None
        UAR as a fraction.
    confusion : pd.DataFrame or np.ndarray
        (K, K) counts, rows true, columns predicted.
    labels : sequence of str, optional
        Class names (default: the DataFrame's index).
    """
    if value is None:
        return _unanswered("recall of a class = diagonal cell / its row sum; UAR is the plain mean over classes")
    got = _number(value)
    if got is None:
        return _say("wrong", "give one number, a fraction between 0 and 1")
    m, labels = _labels_from(confusion, labels)
    y_true = [labels[i] for i in range(len(m)) for j in range(len(m)) for _ in range(m[i, j])]
    y_pred = [labels[j] for i in range(len(m)) for j in range(len(m)) for _ in range(m[i, j])]
    kw = dict(labels=labels, average="macro", zero_division=0)
    ref = float(recall_score(y_true, y_pred, **kw))
    if _close(got, ref, rel=1e-3, abs_tol=2e-3):
        return _say("correct", f"UAR {ref:.3f}")
    mistakes = {
        "that is the accuracy (trace / total), which weighs classes by their size; UAR averages per-class recalls":
            accuracy_score(y_true, y_pred),
        "you divided by the column sums: that is the mean precision (the official STRS script's 'UAR'); recall "
        "divides by the row (true class) sums": precision_score(y_true, y_pred, **kw),
        "that is UF1, the mean per-class F1; UAR is the mean per-class recall": f1_score(y_true, y_pred, **kw),
        "give a fraction, not a percentage": 100 * ref,
    }
    message = _diagnose(got, ref, mistakes, rel=1e-3, abs_tol=2e-3)
    if message:
        return _say("wrong", message)
    return _say("wrong", "compute each class's recall (diagonal / row sum) and average them with equal weight")


def check_most_confused(answer, confusion, labels: Sequence[str] | None = None, *,
                        among: Sequence[str] | None = None) -> Feedback:
    """Exercise 05: the most frequent mistake among the negative emotions, as ``(true, predicted)``.

    The reference is the largest off-diagonal count of ``confusion`` restricted to the classes ``among``
    (default :data:`melab.data.splits.FINE_CLASSES`); ties are all accepted. When no negative is taken for
    another negative, the answer is ``"none"``.

    Parameters
    ----------
    answer : (str, str), "none" or None
        (true class, predicted class).
    confusion : pd.DataFrame or np.ndarray
        (K, K) counts, rows true, columns predicted.
    labels : sequence of str, optional
        Class names (default: the DataFrame's index).
    among : sequence of str, optional
        The classes to look within.
    """
    if answer is None:
        return _unanswered("look only at rows and columns of the negative emotions, skip the diagonal, and give the "
                           "(true, predicted) cell with the largest count")
    m, labels = _labels_from(confusion, labels)
    wanted = list(among or FINE_CLASSES)
    among = [c for c in wanted if c in labels]
    if len(among) < 2:
        raise ValueError(f"the confusion matrix's classes {labels} hold fewer than two of {wanted}; "
                         "pass labels= or a DataFrame indexed by class")
    idx = [labels.index(c) for c in among]
    sub = m[np.ix_(idx, idx)].copy()
    np.fill_diagonal(sub, -1)
    top = int(sub.max())
    best = {(among[i], among[j]) for i, j in zip(*np.nonzero(sub == top), strict=True)} if top > 0 else set()
    if isinstance(answer, str):
        if answer.lower() == "none" and not best:
            return _say("correct", "no negative emotion was taken for another negative")
        return _say("wrong", "give a pair (true class, predicted class)" if best else
                    "no negative is confused with another here; answer 'none'")
    try:
        true, pred = (str(x) for x in answer)
    except (TypeError, ValueError):
        return _say("wrong", "give a pair (true class, predicted class)")
    if (true, pred) in best:
        return _say("correct", f"{top} {true} samples were predicted as {pred}")
    if not best:
        return _say("wrong", "no negative is confused with another here; answer 'none'")
    outside = [c for c in (true, pred) if c not in among]
    if outside:
        return _say("wrong", f"{', '.join(outside)} is not among {', '.join(among)}: look only at the negatives")
    if true == pred:
        return _say("wrong", "that cell is on the diagonal: correct predictions, not a confusion")
    if (pred, true) in best:
        return _say("wrong", f"the order is reversed: rows are the true class, so the cell is ({pred}, {true})")
    count = int(m[labels.index(true), labels.index(pred)])
    return _say("wrong", f"{count} {true} samples were predicted as {pred}, but another negative pair has {top}")
