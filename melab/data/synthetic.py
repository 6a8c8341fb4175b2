"""Synthetic micro-expression videos with exact ground truth: melab's embedded default corpus.

A synthetic *subject* is a procedurally textured face with its own geometry, tone and lighting, described
by a neutral 68-point landmark set in the iBUG layout. Facial *action units* (FACS AUs) are smooth
displacement fields anchored on those landmarks (sums of Gaussians). An expression is an EMFACS-style AU
combination whose intensity rises smoothly from onset to apex and falls to offset. Every frame is the
neutral face warped by

    M_t(x) = A_t (x + D_t(x)),      D_t(x) = sum_j s_tj B_j(x)

where ``B_j`` is the displacement field of AU ``j`` (pixels per unit intensity), ``s_tj`` its intensity at
frame ``t`` and ``A_t`` a small similarity transform for head motion. Because ``M_t`` is known, so is the
exact displacement of every pixel between any two frames (:meth:`SyntheticVideo.true_flow`) and the
landmarks of every frame. Nuisances (blinks, head drift and jerks, illumination drift, sensor noise, JPEG
compression) are layered on top, and micro-expressions (MEs) are rare, tiny and short next to
macro-expressions (MaEs), as in CAS(ME)^3 and SAMM-LV.

Two difficulties (:data:`DIFFICULTIES`):

- ``"easy"`` is generator version 1, byte for byte: MEs (0.3-1.5 px) never overlap MaEs (2-6 px) in amplitude,
  about 10 MEs a minute, every emotion one fixed AU set, balanced classes, exact labels, rigid in-plane head motion.
  Everything separates by size, so models land at the ceiling.
- ``"realistic"`` (:class:`Realism`) is as hard as CAS(ME)^3 / SAMM-LV in the ways the papers' claims depend on:
  3 MEs a minute (still above the real datasets' rate, for CPU training budgets) with a third of the videos
  ME-free, more than two MaEs per ME, unlabelled subtle movements (gaze shifts, swallows, lip presses, sniffs,
  speech-like mouth motion, small nods) and talking, ME and MaE amplitudes that overlap (what separates them is
  duration and AU pattern, as in FACS), skewed and asymmetric ME durations, annotation jitter, AU sets that vary
  from event to event and subject to subject, asymmetric events, label noise among the negative emotions, skewed
  class shares, out-of-plane head rotation, illumination flicker and JPEG quality 75-90.
  The exact values of every event (and the unlabelled movements) are in the truth files, never in ``events.csv``.

Units: pixels of the rendered frame, frames are 0-based and intervals inclusive, time in seconds.
Amplitudes are stated for a 128-px face and scale with ``size``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline
from scipy.ndimage import gaussian_filter
from tqdm.auto import tqdm

from melab.atomic import remove_stale_temporaries
from melab.data.annotations import EVENT_COLUMNS
from melab.data.cache import manifest_problem, write_manifest
from melab.data.splits import SEVEN_CLASSES
from melab.workers import die_with_parent

# Version 2 added difficulty "realistic"; "easy" output is version 1's, byte for byte (its subjects.json still says
# generator_version 1: the version whose output it is). The cache directory carries the difficulty and this version.
GENERATOR_VERSION = 2
DIFFICULTIES = ("realistic", "easy")
# The difficulty that presets, the command line, notebooks and benchmarks resolve to. "easy" stays available to
# show what difficulty does (notebook 00) and to reproduce version-1 results.
DEFAULT_DIFFICULTY = "realistic"

# --------------------------------------------------------------------------------------------------
# Geometry: a neutral iBUG-68 template in "g" units (g = half the inner-eye-corner distance, the unit of
# the reference crop rule), origin between the inner eye corners, y pointing down.
# --------------------------------------------------------------------------------------------------


def _template_landmarks() -> np.ndarray:
    """Neutral 68-point template ``(68, 2)`` in g units; subject right (points 17-21, 36-41) is image left."""
    pts = np.zeros((68, 2))
    alpha = np.linspace(np.pi - 0.2, 2 * np.pi + 0.2, 17)
    pts[0:17] = np.c_[4.2 * np.cos(alpha), 0.9 - 4.5 * np.sin(alpha)]
    brow_x = np.linspace(-3.5, -0.8, 5)
    brow_y = -1.45 - 0.45 * np.sin(np.linspace(0.15, np.pi - 0.35, 5))
    pts[17:22] = np.c_[brow_x, brow_y]
    pts[22:27] = np.c_[-brow_x[::-1], brow_y[::-1]]
    pts[27:31] = np.c_[np.zeros(4), [0.0, 0.9, 1.8, 2.7]]
    pts[31:36] = np.c_[[-0.9, -0.45, 0.0, 0.45, 0.9], [3.05, 3.18, 3.25, 3.18, 3.05]]
    right_eye = [(-3.2, 0.0), (-2.5, -0.45), (-1.7, -0.45), (-1.0, 0.0), (-1.7, 0.4), (-2.5, 0.4)]
    pts[36:42] = right_eye
    pts[42:48] = [(-x, y) for x, y in (right_eye[3], right_eye[2], right_eye[1], right_eye[0],
                                       right_eye[5], right_eye[4])]
    pts[48:60] = [(-1.8, 4.0), (-1.2, 3.72), (-0.5, 3.58), (0.0, 3.66), (0.5, 3.58), (1.2, 3.72),
                  (1.8, 4.0), (1.2, 4.4), (0.5, 4.6), (0.0, 4.65), (-0.5, 4.6), (-1.2, 4.4)]
    pts[60:68] = [(-1.5, 4.0), (-0.5, 3.92), (0.0, 3.94), (0.5, 3.92), (1.5, 4.0), (0.5, 4.1),
                  (0.0, 4.12), (-0.5, 4.1)]
    return pts


# --------------------------------------------------------------------------------------------------
# Action units: anchors (landmark index, offset in g, direction) and a Gaussian falloff (sigma, in g).
# Directions are in image coordinates (x right, y down); each AU field is normalised to a peak of 1 px.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionUnit:
    """One FACS action unit as a smooth displacement field anchored on landmarks."""

    code: str
    name: str
    anchors: tuple[tuple[int, tuple[float, float], tuple[float, float]], ...]
    sigma: float


def _mirror(anchors):
    """Left-right mirror of a set of anchors on the subject's right side (iBUG index symmetry)."""
    pairs = [(i, 16 - i) for i in range(17)] + [(17 + i, 26 - i) for i in range(5)] + [
        (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46), (31, 35), (32, 34), (33, 33),
        (48, 54), (49, 53), (50, 52), (51, 51), (55, 59), (56, 58), (57, 57), (60, 64), (61, 63), (62, 62),
        (65, 67), (66, 66), (27, 27), (28, 28), (29, 29), (30, 30)]
    mirror_index = {**dict(pairs), **{b: a for a, b in pairs}}
    return tuple((mirror_index[i], (-ox, oy), (-dx, dy)) for i, (ox, oy), (dx, dy) in anchors)


def _both(anchors):
    return tuple(anchors) + _mirror(anchors)


AU_TABLE: dict[str, ActionUnit] = {
    au.code: au
    for au in [
        ActionUnit("AU1", "inner brow raiser", _both([(21, (0, 0), (0, -1)), (20, (0, 0), (0, -0.6))]), 0.6),
        ActionUnit("AU2", "outer brow raiser", _both([(17, (0, 0), (0, -1)), (18, (0, 0), (0, -0.8))]), 0.6),
        ActionUnit("AU4", "brow lowerer",
                   _both([(21, (0, 0), (0.55, 1)), (20, (0, 0), (0.35, 0.8)), (19, (0, 0), (0.2, 0.5))]), 0.6),
        ActionUnit("AU5", "upper lid raiser", _both([(37, (0, 0), (0, -1)), (38, (0, 0), (0, -1))]), 0.35),
        ActionUnit("AU6", "cheek raiser",
                   _both([(41, (0, 1.1), (0, -1)), (40, (0, 0), (0, -0.4)), (41, (0, 0), (0, -0.4))]), 0.7),
        ActionUnit("AU7", "lid tightener", _both([(40, (0, 0), (0, -1)), (41, (0, 0), (0, -1))]), 0.35),
        ActionUnit("AU9", "nose wrinkler",
                   _both([(31, (0, -0.2), (0.2, -1)), (29, (-0.4, 0), (0.1, -0.6)), (21, (0, 0), (0.2, 0.4))]),
                   0.5),
        ActionUnit("AU10", "upper lip raiser",
                   _both([(50, (0, 0), (0, -1)), (49, (0, 0), (0, -0.8))]) + ((51, (0, 0), (0, -1)),), 0.5),
        ActionUnit("AU12", "lip corner puller", _both([(48, (0, 0), (-0.7, -1))]), 0.6),
        ActionUnit("AU14", "dimpler (left side)", ((54, (0, 0), (1, -0.3)), (54, (0.4, 0), (0.6, -0.2))), 0.5),
        ActionUnit("AU15", "lip corner depressor", _both([(48, (0, 0), (-0.2, 1))]), 0.6),
        ActionUnit("AU17", "chin raiser", ((57, (0, 0), (0, -1)), (8, (0, -0.5), (0, -0.8))), 0.6),
        ActionUnit("AU20", "lip stretcher", _both([(48, (0, 0), (-1, 0.2))]), 0.6),
        ActionUnit("AU23", "lip tightener",
                   _both([(48, (0, 0), (0.6, 0)), (50, (0, 0), (0, 0.4)), (58, (0, 0), (0, -0.4))]), 0.4),
        ActionUnit("AU25", "lips part", ((57, (0, 0), (0, 1)), (66, (0, 0), (0, 1))), 0.45),
        ActionUnit("AU26", "jaw drop", ((57, (0, 0), (0, 1)), (8, (0, 0), (0, 1)), (8, (0, -1.2), (0, 1))), 1.0),
        ActionUnit("AU45", "blink", _both([(37, (0, 0), (0, 1)), (38, (0, 0), (0, 1))]), 0.33),
    ]
}
AU_CODES: tuple[str, ...] = tuple(AU_TABLE)

EMOTION_AUS: dict[str, tuple[str, ...]] = {
    "happiness": ("AU6", "AU12"),
    "sadness": ("AU1", "AU4", "AU15"),
    "surprise": ("AU1", "AU2", "AU5", "AU26"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU20"),
    "anger": ("AU4", "AU5", "AU7", "AU23"),
    "disgust": ("AU9", "AU10", "AU15"),
    "contempt": ("AU12", "AU14"),
}
# AU15 joins disgust in about half of the events ("9+10(+15)"); contempt's AU12 is unilateral via AU14.
_OPTIONAL_AUS = {"disgust": ("AU15",)}
_OTHERS_POOL = ("AU1", "AU2", "AU4", "AU7", "AU9", "AU10", "AU12", "AU15", "AU17", "AU20", "AU23", "AU25")

# Action units that only the realistic corpus moves (unlabelled movements): appended after AU_CODES, so an easy
# intensity table (T, 17) keeps its meaning. The eye-turn fields move the irises (centre about 1.1 g inside the
# outer eye corner); FACS codes 61/62 are "eyes turn left/right" (the subject's left is image right).
EXTRA_AU_TABLE: dict[str, ActionUnit] = {
    au.code: au
    for au in [
        ActionUnit("AU24", "lip pressor", _both([(50, (0, 0), (0, 0.8)), (58, (0, 0), (0, -0.8))])
                   + ((51, (0, 0), (0, 1)), (57, (0, 0), (0, -1))), 0.4),
        ActionUnit("AU38", "nostril dilator", _both([(31, (0, 0), (-1, 0)), (31, (0, -0.3), (-0.6, 0))]), 0.3),
        ActionUnit("AU61", "eyes turn left", ((36, (1.1, 0), (1, 0)), (45, (-1.1, 0), (1, 0))), 0.3),
        ActionUnit("AU62", "eyes turn right", ((36, (1.1, 0), (-1, 0)), (45, (-1.1, 0), (-1, 0))), 0.3),
    ]
}
ALL_AU_CODES: tuple[str, ...] = AU_CODES + tuple(EXTRA_AU_TABLE)
_ALL_AUS = {**AU_TABLE, **EXTRA_AU_TABLE}
# Realistic intensities drive each AU's field on the subject's right half and on the left half separately
# (columns R1.. then L1..), so that an event can be asymmetric or unilateral.
LATERAL_CODES: tuple[str, ...] = tuple(f"R{c[2:]}" for c in ALL_AU_CODES) + tuple(f"L{c[2:]}" for c in ALL_AU_CODES)


# --------------------------------------------------------------------------------------------------
# Presets and subjects
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """Size of a synthetic corpus. Counts are per video unless stated; durations in seconds.

    Event counts, nuisance rates and ``jpeg_quality`` are those of difficulty ``"easy"``; a realistic corpus
    takes subjects, videos, durations, fps and size from here and its rates from :data:`REALISM`.
    """

    name: str
    n_subjects: int
    videos_per_subject: int
    duration_s: float
    fps: float = 30.0
    size: int = 128
    mes_per_video: int = 6
    maes_per_video: int = 8
    blinks_per_minute: float = 15.0
    jerks_per_minute: float = 3.0
    jpeg_quality: int = 95
    # (subject index, video index, fps, duration) of extra high-frame-rate videos, SAMM-LV-like.
    high_fps_videos: tuple[tuple[int, int, float, float], ...] = ()


PRESETS: dict[str, Preset] = {
    "tiny": Preset("tiny", n_subjects=3, videos_per_subject=2, duration_s=10.0, mes_per_video=2,
                   maes_per_video=2, high_fps_videos=((2, 1, 200.0, 3.0),)),
    "lab": Preset("lab", n_subjects=10, videos_per_subject=2, duration_s=50.0, mes_per_video=7,
                  maes_per_video=9),
    "bench": Preset("bench", n_subjects=16, videos_per_subject=2, duration_s=60.0, mes_per_video=10,
                    maes_per_video=11),
}

ME_DURATION_S = (0.2, 0.5)
ME_AMPLITUDE_PX = (0.3, 1.5)
MAE_DURATION_S = (0.5, 4.0)
MAE_AMPLITUDE_PX = (2.0, 6.0)


@dataclass(frozen=True)
class SubjectStyle:
    """What makes one synthetic subject look like itself (all random draws happen in ``make_subject``)."""

    subject_id: str
    seed: int
    size: int
    landmarks: np.ndarray = field(repr=False)  # (68, 2) float32, neutral, pixels
    g: float  # half inner-eye-corner distance, pixels
    skin_rgb: tuple[float, float, float]
    hair_rgb: tuple[float, float, float]
    light_dir: tuple[float, float]
    noise_sigma: float  # sensor noise, grey levels
    amplitude_scale: float  # this subject's expressiveness
    texture_gain: float


def make_subject(seed: int, index: int, *, size: int = 128) -> SubjectStyle:
    """Draw subject ``index`` of a corpus with master ``seed``: geometry, tone, lighting, expressiveness."""
    rng = np.random.default_rng([seed, index, 0])
    tpl = _template_landmarks()
    g = size / 9.0 * rng.uniform(0.9, 0.97)
    shape = tpl.copy()
    shape[36:48, 0] *= rng.uniform(0.93, 1.07)  # eye spacing
    shape[36:48, 1] = (shape[36:48, 1] - 0) * rng.uniform(0.85, 1.15)  # eye opening
    shape[17:27, 1] += rng.uniform(-0.25, 0.2)  # brow height
    shape[27:36, 1] *= rng.uniform(0.93, 1.07)  # nose length
    shape[48:68, 0] *= rng.uniform(0.88, 1.12)  # mouth width
    shape[48:68, 1] += rng.uniform(-0.15, 0.15)
    shape[0:17, 0] *= rng.uniform(0.95, 1.05)  # jaw width
    shape += rng.normal(0, 0.04, shape.shape)
    centre = np.array([size / 2 + rng.uniform(-2, 2), 3.5 * g + (size - 9 * g) / 2 + rng.uniform(-2, 2)])
    landmarks = (shape * g + centre).astype(np.float32)
    tone = rng.uniform(0.0, 1.0)  # from deep to light skin
    skin = (1 - tone) * np.array([105.0, 70, 50]) + tone * np.array([238.0, 200, 175])
    hair = rng.uniform(15, 90) * np.array([1.0, rng.uniform(0.7, 0.95), rng.uniform(0.5, 0.8)])
    angle = rng.uniform(0, 2 * np.pi)
    return SubjectStyle(
        subject_id=f"sub{index + 1:02d}", seed=seed, size=size, landmarks=landmarks, g=float(g),
        skin_rgb=tuple(float(v) for v in skin), hair_rgb=tuple(float(v) for v in hair),
        light_dir=(float(np.cos(angle)), float(np.sin(angle))), noise_sigma=float(rng.uniform(1.0, 2.5)),
        amplitude_scale=float(rng.uniform(0.75, 1.25)), texture_gain=float(rng.uniform(0.8, 1.2)),
    )


def _noise_texture(rng: np.random.Generator, shape: tuple[int, int], scales_amps) -> np.ndarray:
    """Band-limited noise: a sum of Gaussian-filtered white noise, each normalised to unit std."""
    out = np.zeros(shape)
    for sigma, amp in scales_amps:
        n = gaussian_filter(rng.standard_normal(shape), sigma)
        out += amp * n / (n.std() + 1e-9)
    return out


def render_neutral(subject: SubjectStyle) -> np.ndarray:
    """The subject's neutral face ``(H, W, 3)`` float32 in [0, 255], before motion, lighting and noise."""
    rng = np.random.default_rng([subject.seed, int(subject.subject_id[3:]) - 1, 1])
    s, g, lm = subject.size, subject.g, subject.landmarks
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
    skin = np.array(subject.skin_rgb)
    background = np.array([70.0, 80.0, 95.0]) + rng.uniform(-20, 20, 3)
    img = np.empty((s, s, 3))
    img[:] = background
    img += _noise_texture(rng, (s, s), [(1.0, 5), (4.0, 10)])[..., None]

    face = np.zeros((s, s), np.uint8)
    jaw = lm[0:17]
    top = np.array([[lm[0, 0], lm[19, 1] - 2.2 * g], [lm[16, 0], lm[24, 1] - 2.2 * g]])
    outline = np.vstack([jaw, top[::-1] * [1, 1]])
    cv2.fillPoly(face, [np.round(outline * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    cv2.ellipse(face, (int(lm[27, 0]), int(lm[19, 1] - 0.8 * g)), (int(4.2 * g), int(2.4 * g)),
                0, 180, 360, 255, -1, cv2.LINE_AA)
    face_mask = gaussian_filter(face / 255.0, 0.8)[..., None]
    tex = subject.texture_gain * _noise_texture(rng, (s, s), [(0.7, 4), (1.5, 4), (3.5, 6)])
    shade = 1 - 0.18 * (((xx - lm[27, 0]) / (4.6 * g)) ** 2 + ((yy - lm[30, 1]) / (6 * g)) ** 2)
    lx, ly = subject.light_dir
    shade *= 1 + 0.08 * (lx * (xx - s / 2) + ly * (yy - s / 2)) / s
    skin_img = skin * shade[..., None] + tex[..., None]
    img = face_mask * skin_img + (1 - face_mask) * img

    hair_line = lm[19, 1] - 1.7 * g + 0.3 * g * np.sin(xx / (1.3 * g) + rng.uniform(0, 6))
    hair = gaussian_filter((yy < hair_line).astype(float), 1.0)[..., None]
    streaks = gaussian_filter(rng.standard_normal((s, s)), (0.6, 2.5)) * 60
    img = hair * (np.array(subject.hair_rgb) + streaks[..., None]) + (1 - hair) * img

    dark = np.zeros((s, s), np.float32)
    for idx in (range(17, 22), range(22, 27)):
        pts = np.round(lm[list(idx)] * 16).astype(np.int32)
        cv2.polylines(dark, [pts], False, 1.0, max(1, int(0.32 * g)), cv2.LINE_AA, shift=4)
    brow = gaussian_filter(dark, 0.7)[..., None] * (0.75 + 0.25 * (streaks[..., None] / 60).clip(-1, 1))
    img = img * (1 - 0.75 * brow) + brow * 0.75 * np.array(subject.hair_rgb)

    for eye in (lm[36:42], lm[42:48]):
        mask = np.zeros((s, s), np.float32)
        cv2.fillPoly(mask, [np.round(eye * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
        mask = gaussian_filter(mask, 0.5)[..., None]
        img = img * (1 - mask) + mask * np.array([235.0, 232, 228])
        c = eye.mean(axis=0)
        iris = np.exp(-(((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * (0.28 * g) ** 2)))[..., None] * mask
        img = img * (1 - 0.8 * iris) + 0.8 * iris * np.array([60.0, 45, 30])
        lid = np.zeros((s, s), np.float32)
        cv2.polylines(lid, [np.round(eye[[0, 1, 2, 3]] * 16).astype(np.int32)], False, 1.0,
                      max(1, int(0.12 * g)), cv2.LINE_AA, shift=4)
        lid = gaussian_filter(lid, 0.6)[..., None]
        img = img * (1 - 0.6 * lid)

    nose = np.zeros((s, s), np.float32)
    for i in (31, 35):
        cv2.ellipse(nose, (int(round(lm[i, 0])), int(round(lm[i, 1]))), (max(1, int(0.22 * g)),
                    max(1, int(0.13 * g))), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    cv2.polylines(nose, [np.round(lm[[29, 31]] * 16).astype(np.int32),
                         np.round(lm[[29, 35]] * 16).astype(np.int32)], False, 0.35, 1, cv2.LINE_AA, shift=4)
    img *= 1 - 0.55 * gaussian_filter(nose, 0.8)[..., None]

    lips = np.zeros((s, s), np.float32)
    cv2.fillPoly(lips, [np.round(lm[48:60] * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    lips = gaussian_filter(lips, 0.7)[..., None]
    lip_rgb = skin * np.array([0.85, 0.55, 0.55])
    img = img * (1 - lips) + lips * (lip_rgb + tex[..., None] * 0.5)
    mouth = np.zeros((s, s), np.float32)
    cv2.polylines(mouth, [np.round(lm[[60, 61, 62, 63, 64]] * 16).astype(np.int32)], False, 1.0,
                  max(1, int(0.1 * g)), cv2.LINE_AA, shift=4)
    img *= 1 - 0.6 * gaussian_filter(mouth, 0.5)[..., None]
    return np.clip(img, 0, 255).astype(np.float32)


_NEUTRAL_CACHE: dict[tuple, np.ndarray] = {}


def _neutral(subject: SubjectStyle) -> np.ndarray:
    """:func:`render_neutral`, kept for the last few subjects (a clips corpus renders many clips per face)."""
    key = (subject.seed, subject.subject_id, subject.size)
    if key not in _NEUTRAL_CACHE:
        face = render_neutral(subject)
        face.flags.writeable = False
        while len(_NEUTRAL_CACHE) >= 4:
            _NEUTRAL_CACHE.pop(next(iter(_NEUTRAL_CACHE)))
        _NEUTRAL_CACHE[key] = face
    return _NEUTRAL_CACHE[key]


def au_displacement(subject: SubjectStyle, points: np.ndarray) -> np.ndarray:
    """Displacement of every AU at ``points``.

    Parameters
    ----------
    subject : the subject whose neutral landmarks anchor the fields.
    points : ``(N, 2)`` array of (x, y) positions in pixels, in the neutral face.

    Returns
    -------
    ``(n_AU, N, 2)`` float64 displacement in pixels per unit intensity, in ``AU_CODES`` order. Each AU's field is
    scaled so that its peak over the face is 1 px.
    """
    out = np.zeros((len(AU_CODES), len(points), 2))
    for j, code in enumerate(AU_CODES):
        out[j] = _au_field(subject, AU_TABLE[code], points)
        out[j] /= _au_peak(subject, code)
    return out


def _au_field(subject: SubjectStyle, au: ActionUnit, points: np.ndarray) -> np.ndarray:
    g, lm = subject.g, subject.landmarks.astype(np.float64)
    field_ = np.zeros((len(points), 2))
    for idx, offset, direction in au.anchors:
        centre = lm[idx] + np.asarray(offset) * g
        w = np.exp(-np.sum((points - centre) ** 2, axis=1) / (2 * (au.sigma * g) ** 2))
        field_ += w[:, None] * np.asarray(direction)
    return field_


_PEAK_CACHE: dict[tuple, float] = {}


def _au_peak(subject: SubjectStyle, code: str) -> float:
    key = (subject.seed, subject.subject_id, subject.size, code)
    if key not in _PEAK_CACHE:
        s = subject.size
        yy, xx = np.mgrid[0:s, 0:s]
        grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float64)
        _PEAK_CACHE[key] = float(np.linalg.norm(_au_field(subject, _ALL_AUS[code], grid), axis=1).max())
    return _PEAK_CACHE[key]


def au_basis(subject: SubjectStyle) -> np.ndarray:
    """Dense AU fields on the pixel grid: ``(n_AU, H, W, 2)`` float32, pixels per unit intensity."""
    s = subject.size
    yy, xx = np.mgrid[0:s, 0:s]
    grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float64)
    return au_displacement(subject, grid).reshape(len(AU_CODES), s, s, 2).astype(np.float32)


def lateral_displacement(subject: SubjectStyle, points: np.ndarray) -> np.ndarray:
    """Displacement of each AU's right-half and left-half field at ``points``, in :data:`LATERAL_CODES` order.

    Every AU of :data:`ALL_AU_CODES` is split at the facial midline (the nose ridge) by a smooth weight of
    width 0.25 g, so that its right part plus its left part is its whole field (peak 1 px, as in
    :func:`au_displacement`). The subject's right is image left.

    Returns
    -------
    ``(2 * n_AU, N, 2)`` float64, pixels per unit intensity.
    """
    whole = np.zeros((len(ALL_AU_CODES), len(points), 2))
    for j, code in enumerate(ALL_AU_CODES):
        whole[j] = _au_field(subject, _ALL_AUS[code], points) / _au_peak(subject, code)
    midline = float(subject.landmarks[27:31, 0].mean())
    right = 1.0 / (1.0 + np.exp((points[:, 0] - midline) / (0.25 * subject.g)))
    return np.concatenate([whole * right[None, :, None], whole * (1 - right)[None, :, None]])


_BASIS_CACHE: dict[tuple, np.ndarray] = {}


def lateral_basis(subject: SubjectStyle) -> np.ndarray:
    """Dense right/left AU fields ``(2 * n_AU, H, W, 2)`` float32 (see :func:`lateral_displacement`), read-only.

    The last few subjects' bases are kept in memory: a corpus renders or loads a subject's videos one after another.
    """
    key = (subject.seed, subject.subject_id, subject.size)
    if key not in _BASIS_CACHE:
        s = subject.size
        yy, xx = np.mgrid[0:s, 0:s]
        grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float64)
        basis = lateral_displacement(subject, grid).reshape(len(LATERAL_CODES), s, s, 2).astype(np.float32)
        basis.flags.writeable = False
        while len(_BASIS_CACHE) >= 4:
            _BASIS_CACHE.pop(next(iter(_BASIS_CACHE)))
        _BASIS_CACHE[key] = basis
    return _BASIS_CACHE[key]


# --------------------------------------------------------------------------------------------------
# Timelines: events, nuisances and head motion for one video
# --------------------------------------------------------------------------------------------------


def _envelope(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Intensity ``(T,)`` in [0, 1]: raised-cosine rise onset→apex (1 at apex) and fall apex→offset."""
    t = np.arange(n_frames, dtype=np.float64)
    env = np.zeros(n_frames)
    rise = (t >= onset) & (t <= apex)
    fall = (t > apex) & (t <= offset)
    env[rise] = 0.5 * (1 - np.cos(np.pi * (t[rise] - onset) / max(apex - onset, 1)))
    env[fall] = 0.5 * (1 + np.cos(np.pi * (t[fall] - apex) / max(offset - apex, 1)))
    env[apex] = 1.0
    return env


def _event_aus(rng: np.random.Generator, emotion: str) -> tuple[str, ...]:
    if emotion == "others":
        return (str(rng.choice(_OTHERS_POOL)),)
    aus = EMOTION_AUS[emotion]
    optional = _OPTIONAL_AUS.get(emotion, ())
    return tuple(a for a in aus if a not in optional or rng.random() < 0.5)


def _place(rng, busy: np.ndarray, length: int, margin: int) -> int | None:
    """A random start for ``length`` frames where ``busy`` (with ``margin``) is free, or None."""
    free = ~np.convolve(busy, np.ones(2 * margin + 1, bool), mode="same").astype(bool)
    ok = np.convolve(free, np.ones(length), mode="valid") >= length
    starts = np.flatnonzero(ok)
    return None if len(starts) == 0 else int(rng.choice(starts))


def _blinks(rng: np.random.Generator, busy: np.ndarray, n_frames: int, fps: float, per_minute: float,
            g: float) -> Iterator[tuple[int, int, int, float]]:
    """Blinks at ``per_minute`` (Poisson), 0.1–0.4 s long, placed in free time: (onset, apex, offset, amplitude px).

    Both difficulties draw them this way, in this order, so easy corpora keep version 1's bytes.
    """
    for _ in range(rng.poisson(per_minute * n_frames / fps / 60)):
        length = max(3, int(round(rng.uniform(0.1, 0.4) * fps)))
        start = _place(rng, busy, length, margin=int(0.15 * fps))
        if start is None:
            continue
        onset, offset = start, start + length - 1
        yield onset, onset + (length - 1) // 2, offset, rng.uniform(0.25, 0.4) * g


def _head_jerks(rng: np.random.Generator, busy: np.ndarray, head: np.ndarray, fps: float, per_minute: float,
                scale_px: float) -> list[tuple[int, int, float]]:
    """Add sudden in-plane head shifts at ``per_minute`` (Poisson) to ``head`` (T, >= 2; px) in place.

    Each is a step of 1–3.5 × ``scale_px`` pixels in a random direction, reached along a half-cosine over
    0.1–0.25 s placed in free time. Returns (start, end, size px) per jerk. Both difficulties draw them this
    way, in this order, so easy corpora keep version 1's bytes.
    """
    n_frames = len(head)
    jerks = []
    for _ in range(rng.poisson(per_minute * n_frames / fps / 60)):
        length = max(2, int(round(rng.uniform(0.1, 0.25) * fps)))
        start = _place(rng, busy, length, margin=int(0.3 * fps))
        if start is None:
            continue
        step = rng.normal(0, 1, 2)
        step *= rng.uniform(1.0, 3.5) * scale_px / np.linalg.norm(step)
        ramp = np.clip((np.arange(n_frames) - start) / (length - 1), 0, 1)
        head[:, :2] += 0.5 * (1 - np.cos(np.pi * ramp))[:, None] * step
        jerks.append((start, start + length - 1, float(np.linalg.norm(step))))
    return jerks

def _event_intensity(basis: np.ndarray, weights: dict[str, float], amplitude_px: float, n_frames: int,
                     onset: int, apex: int, offset: int) -> np.ndarray:
    """AU intensities ``(T, n_AU)`` of one expression whose combined field peaks at ``amplitude_px`` at apex."""
    w = np.zeros(len(AU_CODES))
    for code, value in weights.items():
        w[AU_CODES.index(code)] = value
    peak = np.linalg.norm(np.tensordot(w, basis, axes=1), axis=-1).max()
    return np.outer(_envelope(n_frames, onset, apex, offset), w * amplitude_px / peak)


@dataclass
class Timeline:
    """Everything that moves in one video, before rendering."""

    video: str
    video_index: int
    n_frames: int
    fps: float
    events: pd.DataFrame  # canonical events (+ aus, amplitude_px), as annotated
    distractors: pd.DataFrame  # unlabelled movements: kind, onset, apex, offset, amplitude_px
    au_intensity: np.ndarray  # (T, 17) float32 in AU_CODES order (easy) or (T, 42) in LATERAL_CODES order
    head: np.ndarray  # (T, 4) float32: tx, ty (px), rotation (rad), log-scale; realistic adds yaw, pitch (rad)
    gain: np.ndarray  # (T, 2) float32: global gain, horizontal illumination gradient
    truth: pd.DataFrame | None = None  # realistic: exact onset/apex/offset and true emotion of each event
    jpeg_quality: int | None = None  # realistic: this video's JPEG quality


def plan_video(subject: SubjectStyle, basis: np.ndarray, *, video_index: int, n_frames: int, fps: float,
               n_me: int, n_mae: int, blinks_per_minute: float, jerks_per_minute: float,
               me_emotions: Sequence[str] | None = None) -> Timeline:
    """Draw the events, nuisances and head motion of one video (no pixels yet)."""
    rng = np.random.default_rng([subject.seed, int(subject.subject_id[3:]) - 1, 2, video_index])
    scale_px = subject.size / 128.0
    busy = np.zeros(n_frames, bool)
    edge = max(1, int(0.5 * fps))
    busy[:edge] = busy[-edge:] = True
    intensity = np.zeros((n_frames, len(AU_CODES)))
    video_id = f"{subject.subject_id}_{video_index + 1}"
    rows, distractors = [], []
    emotions = list(me_emotions) if me_emotions is not None else list(
        rng.choice(SEVEN_CLASSES + ("others",), n_me))
    mae_emotions = list(rng.choice(("happiness", "happiness", "surprise", "disgust", "sadness", "anger",
                                    "others"), n_mae))
    specs = [("micro", e) for e in emotions] + [("macro", e) for e in mae_emotions]
    order = rng.permutation(len(specs))
    for i in order:
        kind, emotion = specs[i]
        lo, hi = ME_DURATION_S if kind == "micro" else MAE_DURATION_S
        length = int(np.clip(round(rng.uniform(lo, hi) * fps), np.ceil(lo * fps), np.floor(hi * fps)))
        start = _place(rng, busy, length, margin=int(0.4 * fps))
        if start is None:
            continue
        onset, offset = start, start + length - 1
        apex = onset + int(round(rng.uniform(0.35, 0.6) * (length - 1)))
        apex = int(np.clip(apex, onset + 1, offset - 1))
        busy[onset:offset + 1] = True
        if kind == "micro":
            amp = float(np.clip(subject.amplitude_scale * rng.uniform(0.45, 1.2), *ME_AMPLITUDE_PX))
        else:
            amp = float(rng.uniform(*MAE_AMPLITUDE_PX))
        aus = _event_aus(rng, str(emotion))
        weights = {a: rng.uniform(0.6, 1.0) for a in aus}
        intensity += _event_intensity(basis, weights, amp * scale_px, n_frames, onset, apex, offset)
        rows.append(dict(subject=subject.subject_id, video=video_id, onset=onset, apex=apex, offset=offset,
                         emotion=str(emotion), kind=kind, fps=float(fps),
                         aus="+".join(a[2:] for a in aus), amplitude_px=round(amp, 4)))

    blink = AU_CODES.index("AU45")
    for onset, apex, offset, amp in _blinks(rng, busy, n_frames, fps, blinks_per_minute, subject.g):
        intensity[:, blink] += amp * _envelope(n_frames, onset, apex, offset)
        distractors.append(dict(video=video_id, kind="blink", onset=onset, apex=apex, offset=offset,
                                amplitude_px=round(float(amp), 4)))

    head = _head_motion(rng, n_frames, fps, scale_px)
    for start, end, size in _head_jerks(rng, busy, head, fps, jerks_per_minute, scale_px):
        distractors.append(dict(video=video_id, kind="head_jerk", onset=start, apex=end, offset=end,
                                amplitude_px=round(float(size), 4)))

    knots = np.arange(0, n_frames / fps + 10, 10.0)
    gain = np.c_[1 + CubicSpline(knots, rng.normal(0, 0.03, len(knots)))(np.arange(n_frames) / fps),
                 CubicSpline(knots, rng.normal(0, 0.04, len(knots)))(np.arange(n_frames) / fps)]
    events = pd.DataFrame(rows, columns=list(EVENT_COLUMNS) + ["aus", "amplitude_px"])
    events = events.sort_values("onset", kind="stable").reset_index(drop=True)
    distractors = pd.DataFrame(distractors, columns=["video", "kind", "onset", "apex", "offset", "amplitude_px"])
    distractors = distractors.sort_values("onset", kind="stable").reset_index(drop=True)
    return Timeline(video_id, video_index, n_frames, float(fps), events, distractors, intensity.astype(np.float32),
                    head.astype(np.float32), gain.astype(np.float32))


def _head_motion(rng: np.random.Generator, n_frames: int, fps: float, scale_px: float) -> np.ndarray:
    """Slow drift ``(T, 4)``: translation (px), rotation (rad) and log-scale as smooth random walks."""
    knots = np.arange(0, n_frames / fps + 3, 3.0)
    t = np.arange(n_frames) / fps
    walk = np.cumsum(rng.normal(0, 1, (len(knots), 4)), axis=0)
    walk -= walk[0]
    walk *= np.array([0.5 * scale_px, 0.5 * scale_px, np.deg2rad(0.25), 0.002])
    return CubicSpline(knots, walk)(t)


# --------------------------------------------------------------------------------------------------
# Realistic difficulty (generator version 2): timelines as hard as CAS(ME)^3 / SAMM-LV
# --------------------------------------------------------------------------------------------------

NEGATIVE_EMOTIONS = ("anger", "disgust", "fear", "sadness")

# How often each prototype AU of an emotion shows up in an event of that emotion: the core AU most often, as in
# the FACS coding of CASME II and SAMM, where few MEs carry every AU of their emotion's prototype.
AU_PRESENCE: dict[str, dict[str, float]] = {
    "happiness": {"AU6": 0.7, "AU12": 0.9},
    "sadness": {"AU1": 0.75, "AU4": 0.8, "AU15": 0.7},
    "surprise": {"AU1": 0.8, "AU2": 0.8, "AU5": 0.6, "AU26": 0.7},
    "fear": {"AU1": 0.7, "AU2": 0.65, "AU4": 0.7, "AU5": 0.6, "AU20": 0.75},
    "anger": {"AU4": 0.9, "AU5": 0.6, "AU7": 0.75, "AU23": 0.7},
    "disgust": {"AU9": 0.8, "AU10": 0.75, "AU15": 0.6},
    "contempt": {"AU12": 0.7, "AU14": 0.9},
}
_STRAY_POOL = tuple(c for c in AU_CODES if c != "AU45")
SUBTLE_KINDS = ("gaze_shift", "swallow", "lip_press", "sniff", "speech", "nod")


@dataclass(frozen=True)
class Realism:
    """What makes the realistic corpus as hard as real data.

    Rates are per minute of video, amplitudes are apex amplitudes on a 128-px face (pixels; they scale with the
    frame size), durations are in seconds (their frame counts scale with fps) and jitter in frames at 30 fps.
    """

    mes_per_minute: float = 3.0  # CAS(ME)^3 has ~0.66 MEs a video, SAMM-LV ~1: denser here, for CPU budgets
    me_free_share: float = 0.3  # at least this share of the videos holds no ME
    maes_per_minute: float = 8.0  # and at least 2 MaEs per ME in every video
    subtle_per_minute: float = 4.5  # unlabelled subtle movements, and at least one per ME in every video
    subtle_shares: tuple[float, ...] = (0.25, 0.15, 0.2, 0.1, 0.2, 0.1)  # over SUBTLE_KINDS
    me_amplitude_px: tuple[float, float] = (0.15, 1.0)
    me_amplitude_median_px: float = 0.45
    me_amplitude_log_sd: float = 0.4
    mae_amplitude_px: tuple[float, float] = (0.6, 6.0)  # log-uniform: 40% below 1.5 px
    subtle_amplitude_px: tuple[float, float] = (0.2, 1.5)  # log-uniform, overlapping the MEs
    me_duration_s: tuple[float, float] = (0.1, 0.5)
    me_duration_median_s: float = 0.33  # centre of the log-normal; truncated to me_duration_s, the median is 0.3 s
    me_duration_log_sd: float = 0.5
    mae_duration_s: tuple[float, float] = (0.5, 4.0)  # log-uniform
    subtle_duration_s: tuple[float, float] = (0.15, 0.8)  # log-uniform
    apex_beta: tuple[float, float] = (1.3, 3.0)  # apex position within an event (Beta): early, with a slow offset
    annotation_jitter: tuple[float, ...] = (0.15, 0.25, 0.2, 0.25, 0.15)  # P(-2, -1, 0, 1, 2 frames) at 30 fps
    stray_au: float = 0.2  # chance of one AU outside the prototype
    subject_au_log_sd: float = 0.3  # per-subject strength of each AU (log-normal)
    asymmetric_share: float = 0.4  # events whose weaker side moves (1 - a) as much, a in asymmetry
    asymmetry: tuple[float, float] = (0.3, 1.0)  # a = 1: unilateral
    negative_label_noise: float = 0.1  # annotators swap the negative emotions this often
    class_shares: tuple[tuple[str, float], ...] = (
        ("anger", 0.17), ("disgust", 0.20), ("fear", 0.10), ("sadness", 0.13), ("contempt", 0.08),
        ("happiness", 0.12), ("surprise", 0.09), ("others", 0.11))
    head_turn_deg: float = 1.5  # sd of the slow yaw and pitch drift (clipped at +-4 degrees)
    talking_share: tuple[float, float] = (0.10, 0.20)  # share of frames with speech
    flicker: tuple[float, float] = (0.003, 0.012)  # relative amplitude of mains flicker aliased by the frame rate
    jpeg_quality: tuple[int, int] = (75, 90)


REALISM = Realism()


def subject_au_gains(subject: SubjectStyle) -> np.ndarray:
    """How strongly this subject moves each AU of :data:`ALL_AU_CODES`: ``(n_AU,)`` log-normal around 1."""
    rng = np.random.default_rng([subject.seed, int(subject.subject_id[3:]) - 1, 5])
    return np.exp(rng.normal(0.0, REALISM.subject_au_log_sd, len(ALL_AU_CODES)))


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _realistic_aus(rng: np.random.Generator, emotion: str) -> tuple[tuple[str, ...], bool]:
    """The AUs of one event: each prototype AU with its :data:`AU_PRESENCE` (the core AU if none), and with
    probability :attr:`Realism.stray_au` one AU from outside the prototype."""
    if emotion == "others":
        aus = [str(a) for a in rng.choice(_OTHERS_POOL, int(rng.integers(1, 3)), replace=False)]
    else:
        presence = AU_PRESENCE[emotion]
        aus = [a for a, p in presence.items() if rng.random() < p] or [max(presence, key=presence.get)]
    stray = bool(rng.random() < REALISM.stray_au)
    if stray:
        aus.append(str(rng.choice([a for a in _STRAY_POOL if a not in EMOTION_AUS.get(emotion, aus)])))
    return tuple(aus), stray


def _lateral_weights(weights: dict[str, float], asymmetry: float) -> np.ndarray:
    """``(2 n_AU,)`` right/left weights; ``asymmetry`` in [-1, 1] (> 0: the subject's left is weaker)."""
    w = np.zeros(len(ALL_AU_CODES))
    for code, value in weights.items():
        w[ALL_AU_CODES.index(code)] = value
    return np.concatenate([w * min(1.0, 1.0 + asymmetry), w * min(1.0, 1.0 - asymmetry)])


def _scaled(basis: np.ndarray, w: np.ndarray, amplitude_px: float) -> np.ndarray:
    """``w`` scaled so that the combined field peaks at ``amplitude_px``."""
    active = np.flatnonzero(w)
    peak = np.linalg.norm(np.tensordot(w[active], basis[active], axes=1), axis=-1).max()
    return w * amplitude_px / peak


def _plateau(n_frames: int, onset: int, rise: int, fall: int, offset: int) -> np.ndarray:
    """Intensity ``(T,)``: raised-cosine rise over onset..rise, hold at 1, fall over fall..offset (a fixation)."""
    t = np.arange(n_frames, dtype=np.float64)
    env = np.zeros(n_frames)
    env[(t >= rise) & (t <= fall)] = 1.0
    up = (t >= onset) & (t < rise)
    env[up] = 0.5 * (1 - np.cos(np.pi * (t[up] - onset) / max(rise - onset, 1)))
    down = (t > fall) & (t <= offset)
    env[down] = 0.5 * (1 + np.cos(np.pi * (t[down] - fall) / max(offset - fall, 1)))
    return env


def _syllables(rng: np.random.Generator, n_frames: int, onset: int, offset: int, fps: float) -> np.ndarray:
    """Mouth opening ``(T,)`` in [0, 1] while speaking: one raised-cosine bump per syllable (4-6 per second)."""
    env = np.zeros(n_frames)
    t = onset
    while t < offset:
        length = max(2, int(round(fps / rng.uniform(4.0, 6.0))))
        stop = min(offset, t + length - 1)
        env[t:stop + 1] = rng.uniform(0.3, 1.0) * np.sin(np.pi * (np.arange(t, stop + 1) - t + 0.5) / length)
        t = stop + 1
    return env


def _apex_of(rng: np.random.Generator, onset: int, offset: int) -> int:
    apex = onset + int(round(rng.beta(*REALISM.apex_beta) * (offset - onset)))
    return int(np.clip(apex, onset + 1, offset - 1))


def _jitter(rng: np.random.Generator, fps: float) -> int:
    return int(round(rng.choice([-2, -1, 0, 1, 2], p=REALISM.annotation_jitter) * fps / 30.0))


def _annotate(rng: np.random.Generator, onset: int, apex: int, offset: int, n_frames: int, fps: float,
              emotion: str) -> tuple[int, int, str]:
    """Annotated onset and offset (jittered, still around the apex and inside the video) and label."""
    ann_onset = int(np.clip(onset + _jitter(rng, fps), 0, apex - 1))
    ann_offset = int(np.clip(offset + _jitter(rng, fps), apex + 1, n_frames - 1))
    label = emotion
    if emotion in NEGATIVE_EMOTIONS and rng.random() < REALISM.negative_label_noise:
        label = str(rng.choice([e for e in NEGATIVE_EMOTIONS if e != emotion]))
    return ann_onset, ann_offset, label


def me_length(rng: np.random.Generator, fps: float) -> int:
    """A realistic ME duration in frames: log-normal around 0.3 s, skewed, truncated to 0.1-0.5 s (redrawn)."""
    lo, hi = np.ceil(REALISM.me_duration_s[0] * fps), np.floor(REALISM.me_duration_s[1] * fps)
    while True:
        frames = round(np.exp(rng.normal(np.log(REALISM.me_duration_median_s * fps), REALISM.me_duration_log_sd)))
        if lo <= frames <= hi:
            return int(frames)


def me_amplitude(rng: np.random.Generator, subject: SubjectStyle) -> float:
    """A realistic ME apex amplitude (px at 128): log-normal around 0.45 px times the subject's expressiveness."""
    amp = REALISM.me_amplitude_median_px * subject.amplitude_scale * np.exp(rng.normal(0, REALISM.me_amplitude_log_sd))
    return float(np.clip(amp, *REALISM.me_amplitude_px))


def _expression(rng: np.random.Generator, subject: SubjectStyle, basis: np.ndarray, gains: np.ndarray,
                emotion: str, amplitude_px: float) -> tuple[np.ndarray, tuple[str, ...], bool, float]:
    """Right/left AU weights of one expression at ``amplitude_px`` (frame pixels), its AUs, stray flag, asymmetry."""
    aus, stray = _realistic_aus(rng, emotion)
    weights = {a: rng.uniform(0.6, 1.0) * gains[ALL_AU_CODES.index(a)] for a in aus}
    if rng.random() < REALISM.asymmetric_share:
        asymmetry = float(rng.uniform(*REALISM.asymmetry) * rng.choice([-1, 1]))
    else:
        asymmetry = float(rng.uniform(-0.1, 0.1))
    return _scaled(basis, _lateral_weights(weights, asymmetry), amplitude_px), aus, stray, asymmetry


def plan_realistic_video(subject: SubjectStyle, basis: np.ndarray, *, video_index: int, n_frames: int, fps: float,
                         me_emotions: Sequence[str], n_mae: int, n_subtle: int,
                         blinks_per_minute: float = 15.0, jerks_per_minute: float = 3.0) -> Timeline:
    """Draw the events, unlabelled movements, talking, head pose and lighting of one realistic video.

    Parameters
    ----------
    subject : the face; basis : its :func:`lateral_basis`.
    me_emotions : one emotion per ME (none: an ME-free video).
    n_mae, n_subtle : numbers of MaEs and of unlabelled subtle movements (fewer if the video is too short).

    Returns
    -------
    A :class:`Timeline` whose ``events`` are as annotated (onset/offset jittered by up to 2 frames at 30 fps, about
    10% of negative labels swapped) and whose ``truth`` holds the exact values and true emotions.
    """
    rng = np.random.default_rng([subject.seed, int(subject.subject_id[3:]) - 1, 12, video_index])
    scale_px = subject.size / 128.0
    gains = subject_au_gains(subject)
    labelled = np.zeros(n_frames, bool)  # MEs and MaEs never overlap, so that each label is unambiguous
    edge = max(1, int(0.5 * fps))
    labelled[:edge] = labelled[-edge:] = True
    intensity = np.zeros((n_frames, len(LATERAL_CODES)))
    video_id = f"{subject.subject_id}_{video_index + 1}"
    mae_emotions = rng.choice(("happiness", "happiness", "surprise", "disgust", "sadness", "anger", "others"), n_mae)
    truth, distractors = [], []
    for kind, emotion in [("micro", str(e)) for e in me_emotions] + [("macro", str(e)) for e in mae_emotions]:
        if kind == "micro":
            length = me_length(rng, fps)
        else:
            length = int(round(_loguniform(rng, *REALISM.mae_duration_s) * fps))
        start = _place(rng, labelled, length, margin=int(0.4 * fps))
        while start is None and kind == "macro" and length > REALISM.mae_duration_s[0] * fps:
            length = max(int(REALISM.mae_duration_s[0] * fps), length // 2)  # a shorter MaE where a long one fails
            start = _place(rng, labelled, length, margin=int(0.4 * fps))
        if start is None:
            continue
        onset, offset = start, start + length - 1
        apex = _apex_of(rng, onset, offset)
        labelled[onset:offset + 1] = True
        amp = me_amplitude(rng, subject) if kind == "micro" else _loguniform(rng, *REALISM.mae_amplitude_px)
        w, aus, stray, asymmetry = _expression(rng, subject, basis, gains, emotion, amp * scale_px)
        intensity += np.outer(_envelope(n_frames, onset, apex, offset), w)
        ann_onset, ann_offset, label = _annotate(rng, onset, apex, offset, n_frames, fps, emotion)
        truth.append(dict(subject=subject.subject_id, video=video_id, onset=onset, apex=apex, offset=offset,
                          emotion=emotion, kind=kind, fps=float(fps), label=label, ann_onset=ann_onset,
                          ann_offset=ann_offset, aus="+".join(a[2:] for a in aus), stray_au=stray,
                          asymmetry=round(asymmetry, 4), amplitude_px=round(amp, 4)))

    busy = np.convolve(labelled, np.ones(2 * int(0.15 * fps) + 1), mode="same") > 0  # unlabelled: not on a label

    def add(kind: str, onset: int, apex: int, offset: int, amp: float) -> None:
        busy[onset:offset + 1] = True
        distractors.append(dict(video=video_id, kind=kind, onset=onset, apex=apex, offset=offset,
                                amplitude_px=round(float(amp), 4)))

    mouth = [ALL_AU_CODES.index(a) for a in ("AU25", "AU26", "AU10", "AU23")]
    talk_target = int(rng.uniform(*REALISM.talking_share) * n_frames)
    talked = 0
    shortest = int(0.3 * fps)
    while talked < talk_target:
        length = max(shortest, min(talk_target - talked, int(rng.uniform(1.0, 3.0) * fps)))
        start = _place(rng, busy, length, margin=int(0.2 * fps))
        while start is None and length > shortest:  # a shorter utterance where a long one does not fit
            length = max(shortest, length // 2)
            start = _place(rng, busy, length, margin=int(0.2 * fps))
        if start is None:
            break
        onset, offset = start, start + length - 1
        amp = rng.uniform(0.6, 2.5)
        w = np.zeros(len(ALL_AU_CODES))
        w[mouth] = [1.0, rng.uniform(0.3, 0.8), rng.uniform(0.0, 0.4), rng.uniform(0.0, 0.4)]
        w = _scaled(basis, np.concatenate([w, w]), amp * scale_px)
        intensity += np.outer(_syllables(rng, n_frames, onset, offset, fps), w)
        add("talking", onset, (onset + offset) // 2, offset, amp)
        talked += offset - onset + 1

    head = _head_motion(rng, n_frames, fps, scale_px)
    knots = np.arange(0, n_frames / fps + 3, 3.0)
    turn = CubicSpline(knots, rng.normal(0, np.deg2rad(REALISM.head_turn_deg), (len(knots), 2)))  # pose wanders
    head = np.c_[head, np.clip(turn(np.arange(n_frames) / fps), -np.deg2rad(4), np.deg2rad(4))]
    kinds = rng.choice(SUBTLE_KINDS, n_subtle, p=REALISM.subtle_shares)
    for kind in map(str, kinds):
        length = max(3, int(round(_loguniform(rng, *REALISM.subtle_duration_s) * fps)))
        start = _place(rng, busy, length, margin=int(0.15 * fps))
        if start is None:
            continue
        onset, offset = start, start + length - 1
        apex = _apex_of(rng, onset, offset)
        amp = _loguniform(rng, *REALISM.subtle_amplitude_px)
        if kind == "nod":  # a pitch about the neck: the face drops and turns a little
            env = _envelope(n_frames, onset, apex, offset)
            head[:, 1] += amp * scale_px * env
            head[:, 5] += amp / (1.2 * 128.0) * env
            add(kind, onset, apex, offset, amp)
            continue
        if kind == "gaze_shift":  # a saccade (~50 ms), a fixation, a saccade back
            rise = min(onset + max(1, int(0.05 * fps)), offset - 2)
            fall = max(rise + 1, offset - max(1, int(0.05 * fps)))
            env, weights = _plateau(n_frames, onset, rise, fall, offset), {str(rng.choice(["AU61", "AU62"])): 1.0}
        elif kind == "speech":
            env, weights = _syllables(rng, n_frames, onset, offset, fps), {"AU25": 1.0, "AU26": 0.5}
        else:
            env = _envelope(n_frames, onset, apex, offset)
            weights = {"swallow": {"AU17": 1.0, "AU24": 0.6}, "lip_press": {"AU24": 1.0, "AU23": 0.4},
                       "sniff": {"AU38": 1.0, "AU9": 0.4}}[kind]
        w = _scaled(basis, _lateral_weights(weights, float(rng.uniform(-0.2, 0.2))), amp * scale_px)
        intensity += np.outer(env, w)
        add(kind, onset, apex, offset, amp)

    blink = [ALL_AU_CODES.index("AU45"), len(ALL_AU_CODES) + ALL_AU_CODES.index("AU45")]
    for onset, apex, offset, amp in _blinks(rng, busy, n_frames, fps, blinks_per_minute, subject.g):
        intensity[:, blink] += amp * _envelope(n_frames, onset, apex, offset)[:, None]
        add("blink", onset, apex, offset, amp)
    for start, end, size in _head_jerks(rng, busy, head, fps, jerks_per_minute, scale_px):
        add("head_jerk", start, end, end, size)

    gain = _realistic_gain(rng, n_frames, fps)
    truth_table = pd.DataFrame(truth, columns=TRUTH_COLUMNS).sort_values("onset", kind="stable").reset_index(drop=True)
    events = _annotations(truth_table)
    distractor_table = pd.DataFrame(distractors, columns=["video", "kind", "onset", "apex", "offset", "amplitude_px"])
    distractor_table = distractor_table.sort_values("onset", kind="stable").reset_index(drop=True)
    return Timeline(video_id, video_index, n_frames, float(fps), events, distractor_table,
                    intensity.astype(np.float32), head.astype(np.float32), gain.astype(np.float32),
                    truth=truth_table, jpeg_quality=int(rng.integers(REALISM.jpeg_quality[0],
                                                                     REALISM.jpeg_quality[1] + 1)))


TRUTH_COLUMNS = ["subject", "video", "onset", "apex", "offset", "emotion", "kind", "fps", "label", "ann_onset",
                 "ann_offset", "aus", "stray_au", "asymmetry", "amplitude_px"]


def _annotations(truth: pd.DataFrame) -> pd.DataFrame:
    """The events table as annotated (jittered onset/offset, possibly swapped label) from the exact truth."""
    events = truth.assign(onset=truth["ann_onset"], offset=truth["ann_offset"], emotion=truth["label"])
    return events[list(EVENT_COLUMNS) + ["aus", "amplitude_px"]].reset_index(drop=True)


def _realistic_gain(rng: np.random.Generator, n_frames: int, fps: float) -> np.ndarray:
    """``(T, 2)`` slow illumination drift, mains flicker (100 Hz aliased by the frame rate) and exposure jitter."""
    knots = np.arange(0, n_frames / fps + 10, 10.0)
    t = np.arange(n_frames) / fps
    gain = np.c_[1 + CubicSpline(knots, rng.normal(0, 0.03, len(knots)))(t),
                 CubicSpline(knots, rng.normal(0, 0.04, len(knots)))(t)]
    alias = abs(100.0 - fps * round(100.0 / fps))
    flicker = rng.uniform(*REALISM.flicker) * np.sin(2 * np.pi * alias * t + rng.uniform(0, 2 * np.pi))
    gain[:, 0] *= 1 + flicker + rng.normal(0, 0.002, n_frames)
    return gain


# --------------------------------------------------------------------------------------------------
# Rendering and exact displacement
# --------------------------------------------------------------------------------------------------


def _affine(head_row: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Similarity transform ``(2, 3)`` for one frame: rotate/scale about ``centre``, then translate."""
    tx, ty, rot, log_s = (float(v) for v in head_row)
    s = np.exp(log_s)
    c, si = s * np.cos(rot), s * np.sin(rot)
    lin = np.array([[c, -si], [si, c]])
    return np.c_[lin, centre + np.array([tx, ty]) - lin @ centre]


# Distance from the camera to the face, in face-image pixels (a 128-px face about 15 cm wide seen from about
# 50 cm): sets how strongly a yaw or pitch foreshortens the near and far halves of the face.
FACE_DISTANCE_FACES = 3.3


def _out_of_plane(yaw: float, pitch: float, centre: np.ndarray, size: int) -> np.ndarray:
    """Homography ``(3, 3)`` of the face plane rotated by ``yaw`` (about the vertical) and ``pitch`` (radians)
    about ``centre``, under a pinhole camera whose distance to the face is :data:`FACE_DISTANCE_FACES` faces."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    rot = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]) @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    distance = FACE_DISTANCE_FACES * size
    # plane point p (relative to centre) -> rot @ (p, 0) at depth distance; projected with focal length = distance
    h = np.array([[rot[0, 0], rot[0, 1], 0.0], [rot[1, 0], rot[1, 1], 0.0],
                  [rot[2, 0] / distance, rot[2, 1] / distance, 1.0]])
    shift, back = np.eye(3), np.eye(3)
    shift[:2, 2], back[:2, 2] = centre, -centre
    return shift @ h @ back


def _apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(N, 2)`` points mapped by the ``(3, 3)`` homography ``h`` (float64)."""
    p = points.astype(np.float64) @ h[:, :2].T + h[:, 2]
    return p[:, :2] / p[:, 2:3]


class SyntheticVideo:
    """One rendered synthetic video with its ground truth.

    Attributes
    ----------
    frames : ``(T, H, W, 3)`` uint8 RGB (rendered lazily on first access when loaded from disk).
    fps : frames per second.
    events : canonical events table of this video (+ ``aus``, ``amplitude_px``), as annotated.
    distractors : unlabelled movements (``kind, onset, apex, offset, amplitude_px``): blinks and head jerks; in a
        realistic video also gaze shifts, swallows, lip presses, sniffs, speech, nods and talking.
    truth : realistic videos: the exact events (``onset, apex, offset`` unjittered, true ``emotion`` beside the
        annotated ``label``, ``asymmetry``); None for easy videos, whose events are exact.
    landmarks : ``(T, 68, 2)`` float32, true iBUG-68 positions in pixels.
    """

    def __init__(self, subject: SubjectStyle, timeline: Timeline, frames: np.ndarray | None = None,
                 *, jpeg_quality: int | None = None, path: Path | None = None, basis: np.ndarray | None = None):
        self.subject = subject
        self.timeline = timeline
        self.fps = timeline.fps
        self.events = timeline.events
        self.distractors = timeline.distractors
        self.truth = timeline.truth
        self.jpeg_quality = jpeg_quality
        self.path = path
        self._basis_given = basis  # the AU fields are costly: reuse them, and make them only when rendering
        self._frames = frames
        self._centre = subject.landmarks[27:31].mean(axis=0).astype(np.float64)
        self.landmarks = self._landmarks()

    @property
    def lateral(self) -> bool:
        """True for a realistic video: right/left AU intensities and out-of-plane head rotation."""
        return self.timeline.au_intensity.shape[1] == len(LATERAL_CODES)

    @property
    def _basis(self) -> np.ndarray:
        if self._basis_given is None:
            self._basis_given = lateral_basis(self.subject) if self.lateral else au_basis(self.subject)
        return self._basis_given

    def _head_matrix(self, t: int) -> np.ndarray:
        """Realistic head pose of frame ``t`` as a ``(3, 3)`` homography: out-of-plane rotation, then similarity."""
        row = self.timeline.head[t]
        similarity = np.vstack([_affine(row[:4], self._centre), [0.0, 0.0, 1.0]])
        return similarity @ _out_of_plane(float(row[4]), float(row[5]), self._centre, self.subject.size)

    @property
    def video(self) -> str:
        return self.timeline.video

    @property
    def n_frames(self) -> int:
        return self.timeline.n_frames

    @property
    def frames(self) -> np.ndarray:
        if self._frames is None:
            if self.path is not None:
                from melab.data.video import read_frames

                self._frames, _ = read_frames(self.path, fps=self.fps)
            else:
                self._frames = self.render()
        return self._frames

    def _landmarks(self) -> np.ndarray:
        lm0 = self.subject.landmarks.astype(np.float64)
        disp = lateral_displacement(self.subject, lm0) if self.lateral else au_displacement(self.subject, lm0)
        moved = lm0[None] + np.einsum("tj,jnc->tnc", self.timeline.au_intensity.astype(np.float64), disp)
        out = np.empty_like(moved)
        for t in range(self.n_frames):
            if self.lateral:
                out[t] = _apply_homography(self._head_matrix(t), moved[t])
            else:
                a = _affine(self.timeline.head[t], self._centre)
                out[t] = moved[t] @ a[:, :2].T + a[:, 2]
        return out.astype(np.float32)

    def au_field(self, t: int) -> np.ndarray:
        """``D_t`` on the pixel grid, ``(H, W, 2)`` float32 pixels (expression only, no head motion)."""
        s = self.timeline.au_intensity[t]
        active = np.flatnonzero(np.abs(s) > 1e-6)
        if len(active) == 0:
            return np.zeros(self._basis.shape[1:], np.float32)
        return np.tensordot(s[active], self._basis[active], axes=1).astype(np.float32)

    def _source_coords(self, t: int) -> np.ndarray:
        """Neutral-face position ``x = M_t^{-1}(y)`` of every output pixel ``y``: ``(H, W, 2)`` float32."""
        n = self.subject.size
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        if self.lateral:
            u = _apply_homography(np.linalg.inv(self._head_matrix(t)), np.stack([xx, yy], axis=-1).reshape(-1, 2))
            u = u.reshape(n, n, 2).astype(np.float32)
        else:
            inv = cv2.invertAffineTransform(_affine(self.timeline.head[t], self._centre))
            u = np.stack([inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2],
                          inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]], axis=-1).astype(np.float32)
        d = self.au_field(t)
        if not d.any():
            return u
        x = u - d
        for _ in range(4):  # fixed point x = u - D(x); converges since |grad D| << 1
            dx = cv2.remap(d, x[..., 0], x[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            x = u - dx
        return x

    def render(self, *, lighting: bool = True, sensor_noise: bool = True, progress: bool = False) -> np.ndarray:
        """Render all frames ``(T, H, W, 3)`` uint8 RGB; ``lighting`` and ``sensor_noise`` switch the nuisances."""
        neutral = _neutral(self.subject)
        rng = np.random.default_rng([self.subject.seed, int(self.subject.subject_id[3:]) - 1, 3,
                                     self.timeline.video_index])
        n = self.subject.size
        ramp = (np.arange(n, dtype=np.float32) - n / 2) / n
        frames = np.empty((self.n_frames, n, n, 3), np.uint8)
        for t in tqdm(range(self.n_frames), desc="render", disable=not progress, leave=False):
            x = self._source_coords(t)
            img = cv2.remap(neutral, x[..., 0], x[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
            if lighting:
                g0, g1 = self.timeline.gain[t]
                img *= (g0 * (1 + g1 * ramp))[None, :, None]
            if sensor_noise:
                img += rng.standard_normal(img.shape, dtype=np.float32) * self.subject.noise_sigma
            frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        if self.jpeg_quality:
            for t in range(self.n_frames):
                frames[t] = _jpeg_roundtrip(frames[t], self.jpeg_quality)
        return frames

    def true_flow(self, t0: int, t1: int) -> np.ndarray:
        """Exact displacement from frame ``t0`` to frame ``t1``.

        Returns
        -------
        ``(H, W, 2)`` float32: for each pixel ``y`` of frame ``t0``, ``M_t1(M_t0^{-1}(y)) - y`` in pixels (dx, dy),
        the same convention as :func:`melab.flow.optical_flow` (reference ``t0`` → target ``t1``).
        """
        for t in (t0, t1):
            if not 0 <= t < self.n_frames:
                raise IndexError(f"frame {t} is outside 0..{self.n_frames - 1}")
        n = self.subject.size
        x = self._source_coords(t0)
        d1 = self.au_field(t1)
        moved = x + cv2.remap(d1, x[..., 0], x[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if self.lateral:
            target = _apply_homography(self._head_matrix(t1), moved.reshape(-1, 2)).reshape(n, n, 2)
        else:
            a = _affine(self.timeline.head[t1], self._centre)
            target = moved @ a[:, :2].T.astype(np.float32) + a[:, 2].astype(np.float32)
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        return (target - np.stack([xx, yy], axis=-1)).astype(np.float32)

    def peak_displacement(self, event: int = 0) -> np.ndarray:
        """Largest true displacement over the face, relative to the onset, for each frame of one expression.

        Returns
        -------
        ``(offset - onset + 1,)`` float64, pixels: ``max |true_flow(onset, t)|`` for t = onset..offset of
        ``events`` row ``event``.
        """
        if not 0 <= event < len(self.events):
            raise IndexError(f"event {event} is outside 0..{len(self.events) - 1}")
        ev = self.events.iloc[event]
        onset, offset = int(ev.onset), int(ev.offset)
        return np.array([np.linalg.norm(self.true_flow(onset, t), axis=-1).max() for t in range(onset, offset + 1)])

    def expression_peak(self, start: int, stop: int) -> np.ndarray:
        """Largest facial displacement from the neutral face, head motion left out, for frames ``start..stop``.

        Works on an unrendered video. Labelled events never overlap one another, and unlabelled movements keep clear
        of them, so over an event's span this is that event's own motion: 0 at onset and offset, its amplitude at
        the apex. A nod or a head jerk moves the head, not the face, and gives 0 here.

        Returns
        -------
        ``(stop - start + 1,)`` float64, pixels: ``max |D_t|`` over the pixel grid (:meth:`au_field`).
        """
        if not 0 <= start <= stop < self.n_frames:
            raise IndexError(f"frames {start}..{stop} are not inside 0..{self.n_frames - 1}")
        return np.array([np.linalg.norm(self.au_field(t), axis=-1).max() for t in range(start, stop + 1)])


def _jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _resolve(difficulty: str | None) -> str:
    difficulty = DEFAULT_DIFFICULTY if difficulty is None else difficulty
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, not {difficulty!r}")
    return difficulty


def _class_draw(rng: np.random.Generator, n: int, classes: Sequence[str] | None = None) -> list[str]:
    """``n`` emotions drawn with the realistic class shares (restricted to ``classes``, renormalised)."""
    shares = dict(REALISM.class_shares)
    names = list(classes or shares)
    p = np.array([shares[c] for c in names])
    return [str(e) for e in rng.choice(names, n, p=p / p.sum())]


def generate_video(seed: int = 0, subject_index: int = 0, video_index: int = 0, *, duration_s: float = 20.0,
                   fps: float = 30.0, size: int = 128, n_me: int = 3, n_mae: int = 3,
                   blinks_per_minute: float = 15.0, jerks_per_minute: float = 3.0,
                   me_emotions: Sequence[str] | None = None, jpeg_quality: int | None | str = "auto",
                   render: bool = True, difficulty: str | None = None, n_subtle: int | None = None) -> SyntheticVideo:
    """Generate one synthetic video in memory.

    Parameters
    ----------
    seed, subject_index, video_index : identify the subject and the video; the same triple gives the same video.
    duration_s, fps, size : length in seconds, frame rate, and square frame size in pixels.
    n_me, n_mae : numbers of micro- and macro-expressions to place (fewer if the video is too short).
    me_emotions : emotions of the MEs, in any order; default: drawn uniformly from the seven classes + others
        (easy) or with the realistic class shares.
    jpeg_quality : JPEG compression applied to every frame (None: lossless); ``"auto"``: 95 (easy) or the video's
        own quality in 75-90 (realistic).
    render : render the frames now; otherwise they render on first access of ``.frames``.
    difficulty : ``"easy"`` or ``"realistic"`` (default :data:`DEFAULT_DIFFICULTY`).
    n_subtle : realistic only: unlabelled subtle movements (default: :attr:`Realism.subtle_per_minute`, at least
        ``n_me``).

    Examples
    --------
    >>> v = generate_video(0, 0, 0, duration_s=4, n_me=1, n_mae=0)
    >>> v.frames.shape, v.landmarks.shape
    ((120, 128, 128, 3), (120, 68, 2))
    """
    subject = make_subject(seed, subject_index, size=size)
    n_frames = int(round(duration_s * fps))
    if _resolve(difficulty) == "easy":
        basis = au_basis(subject)
        timeline = plan_video(subject, basis, video_index=video_index, n_frames=n_frames,
                              fps=fps, n_me=n_me, n_mae=n_mae, blinks_per_minute=blinks_per_minute,
                              jerks_per_minute=jerks_per_minute, me_emotions=me_emotions)
        quality = 95 if jpeg_quality == "auto" else jpeg_quality
    else:
        basis = lateral_basis(subject)
        if me_emotions is None:
            me_emotions = _class_draw(np.random.default_rng([seed, subject_index, 13, video_index]), n_me)
        if n_subtle is None:
            n_subtle = max(len(me_emotions), int(round(REALISM.subtle_per_minute * duration_s / 60)))
        timeline = plan_realistic_video(subject, basis, video_index=video_index, n_frames=n_frames, fps=fps,
                                        me_emotions=me_emotions, n_mae=n_mae, n_subtle=n_subtle,
                                        blinks_per_minute=blinks_per_minute, jerks_per_minute=jerks_per_minute)
        quality = timeline.jpeg_quality if jpeg_quality == "auto" else jpeg_quality
    video = SyntheticVideo(subject, timeline, jpeg_quality=quality, basis=basis)
    if render:
        video._frames = video.render()
    return video


def generate_clip(seed: int = 0, subject_index: int = 0, emotion: str = "surprise", *, kind: str = "micro",
                  amplitude_px: float | None = None, duration_s: float | None = None, fps: float = 30.0,
                  pad_s: float = 0.3, size: int = 128, jpeg_quality: int | None = None) -> SyntheticVideo:
    """A short clip with exactly one expression and no nuisance motion: for figures and exercises.

    The expression uses all AUs of ``emotion`` (``EMOTION_AUS``, or one AU for "others") at equal weight;
    ``amplitude_px`` (at a 128-px face) and ``duration_s`` default to the middle of the ME or MaE range.
    Sensor noise still applies when rendered; pass ``jpeg_quality=None`` for no compression.
    """
    if kind not in ("micro", "macro"):
        raise ValueError(f"kind must be 'micro' or 'macro', not {kind!r}")
    if emotion not in EMOTION_AUS and emotion != "others":
        raise ValueError(f"unknown emotion {emotion!r}; choose one of {sorted(EMOTION_AUS) + ['others']}")
    subject = make_subject(seed, subject_index, size=size)
    basis = au_basis(subject)
    durations, amplitudes = (ME_DURATION_S, ME_AMPLITUDE_PX) if kind == "micro" else \
        (MAE_DURATION_S, MAE_AMPLITUDE_PX)
    length = int(round((duration_s or float(np.mean(durations))) * fps))
    pad = int(round(pad_s * fps))
    n_frames = length + 2 * pad
    onset, offset = pad, pad + length - 1
    apex = onset + int(round(0.45 * (length - 1)))
    amp = amplitude_px if amplitude_px is not None else float(np.mean(amplitudes))
    aus = EMOTION_AUS.get(emotion, ("AU10",))
    intensity = _event_intensity(basis, dict.fromkeys(aus, 1.0), amp * size / 128.0, n_frames, onset, apex,
                                 offset)
    video = f"{subject.subject_id}_clip"
    events = pd.DataFrame([dict(subject=subject.subject_id, video=video, onset=onset, apex=apex, offset=offset,
                                emotion=emotion, kind=kind, fps=float(fps), aus="+".join(a[2:] for a in aus),
                                amplitude_px=round(amp, 4))])
    timeline = Timeline(video, 0, n_frames, float(fps), events, pd.DataFrame(), intensity.astype(np.float32),
                        np.zeros((n_frames, 4), np.float32), np.c_[np.ones(n_frames), np.zeros(n_frames)]
                        .astype(np.float32))
    return SyntheticVideo(subject, timeline, jpeg_quality=jpeg_quality, basis=basis)


# --------------------------------------------------------------------------------------------------
# Corpora on disk
# --------------------------------------------------------------------------------------------------


def default_root() -> Path:
    """Where corpora are cached: ``$MELAB_DATA`` if set, else ``~/.cache/melab``."""
    return Path(os.environ.get("MELAB_DATA") or Path.home() / ".cache" / "melab")


def corpus_dir(preset: str = "lab", seed: int = 0, root: str | os.PathLike | None = None, *,
               difficulty: str | None = None) -> Path:
    """The cache directory of a corpus: keyed by preset, difficulty, seed and :data:`GENERATOR_VERSION`."""
    difficulty = "realistic" if preset == "clips" else _resolve(difficulty)
    return Path(root or default_root()) / "synthetic" / f"{preset}-{difficulty}-seed{seed}-v{GENERATOR_VERSION}"


@dataclass(frozen=True)
class ClipsPreset:
    """A recognition corpus of onset-to-offset ME clips, one expression each, like CASME II, SAMM and DFME.

    Subjects are split once, DFME style, into a training set and two test sets of disjoint subjects
    (``split.csv``). Clip emotions follow the realistic class shares over the seven classes.
    """

    name: str = "clips"
    n_subjects: int = 48
    clips_per_subject: int = 10
    test_a: float = 0.2  # share of the subjects in test set A
    test_b: float = 0.2
    fps: float = 30.0
    size: int = 128


CLIPS = ClipsPreset()
PRESET_NAMES: tuple[str, ...] = (*PRESETS, "clips")


def _video_specs(preset: Preset, seed: int) -> list[dict]:
    """One dict per video: who, how long, which fps, and the ME emotions (balanced over the corpus)."""
    rng = np.random.default_rng([seed, 999])
    n_videos = preset.n_subjects * preset.videos_per_subject
    pool = list(SEVEN_CLASSES) * int(np.ceil(n_videos * preset.mes_per_video / 8 + 1)) + \
        ["others"] * int(np.ceil(n_videos * preset.mes_per_video / 8 + 1))
    pool = list(rng.permutation(pool))
    specs = []
    for s in range(preset.n_subjects):
        for v in range(preset.videos_per_subject):
            me = [str(pool.pop()) for _ in range(preset.mes_per_video)]
            specs.append(dict(subject_index=s, video_index=v, fps=preset.fps, duration_s=preset.duration_s,
                              n_me=preset.mes_per_video, n_mae=preset.maes_per_video, me_emotions=me))
    for s, v, fps, dur in preset.high_fps_videos:
        for spec in specs:
            if spec["subject_index"] == s and spec["video_index"] == v:
                spec.update(fps=fps, duration_s=dur, n_me=1, n_mae=1, me_emotions=spec["me_emotions"][:1])
    return specs


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` byte-identically for identical arrays (np.savez stamps the current time)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arr), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def _spec_video(spec: dict, seed: int, size: int, *, difficulty: str, blinks: float = 0.0, jerks: float = 0.0,
                render: bool = True) -> SyntheticVideo:
    """The video of one corpus spec (:func:`_video_specs` or :func:`_realistic_specs`), as every builder and
    :func:`plan_corpus` draw it (frames rendered without JPEG: the builders compress on write)."""
    common = dict(duration_s=spec["duration_s"], fps=spec["fps"], size=size, me_emotions=spec["me_emotions"],
                  n_mae=spec["n_mae"], jpeg_quality=None, render=render, difficulty=difficulty)
    if difficulty == "easy":
        return generate_video(seed, spec["subject_index"], spec["video_index"], n_me=spec["n_me"], **common)
    return generate_video(seed, spec["subject_index"], spec["video_index"], n_subtle=spec["n_subtle"],
                          blinks_per_minute=blinks, jerks_per_minute=jerks, **common)


def _build_video(args: tuple[dict, int, int, int, str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    spec, seed, size, quality, out = args
    video = _spec_video(spec, seed, size, difficulty="easy")
    subject = video.subject
    vid = f"{subject.subject_id}_{spec['video_index'] + 1}"
    folder = Path(out) / subject.subject_id / vid
    folder.mkdir(parents=True, exist_ok=True)
    frames = video.frames
    for t, frame in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        (folder / f"img_{t:05d}.jpg").write_bytes(buf.tobytes())
    tl = video.timeline
    _write_npz(folder / "truth.npz", landmarks=video.landmarks, au_intensity=tl.au_intensity, head=tl.head,
               gain=tl.gain, seed=np.int64(seed), subject_index=np.int64(spec["subject_index"]),
               video_index=np.int64(spec["video_index"]), size=np.int64(size), fps=np.float64(tl.fps))
    info = dict(subject=subject.subject_id, video=vid, n_frames=tl.n_frames, fps=tl.fps, height=size, width=size)
    events = tl.events.assign(video=vid)
    return events, tl.distractors.assign(video=vid), info


def _realistic_specs(preset: Preset, seed: int) -> list[dict]:
    """One dict per video of a realistic corpus: ME emotions (none in the ME-free videos) and event counts.

    MEs come at :attr:`Realism.mes_per_minute` over the whole corpus, in at most ``1 - me_free_share`` of the
    videos; each video holds at least 2 MaEs and one unlabelled subtle movement per ME.
    """
    rng = np.random.default_rng([seed, 998])
    specs = [dict(subject_index=s, video_index=v, fps=preset.fps, duration_s=preset.duration_s)
             for s in range(preset.n_subjects) for v in range(preset.videos_per_subject)]
    for s, v, fps, dur in preset.high_fps_videos:
        for spec in specs:
            if (spec["subject_index"], spec["video_index"]) == (s, v):
                spec.update(fps=fps, duration_s=dur)
    minutes = np.array([spec["duration_s"] / 60 for spec in specs])
    total_me = int(round(REALISM.mes_per_minute * minutes.sum()))
    n_with = max(1, min(len(specs) - int(np.ceil(REALISM.me_free_share * len(specs))), total_me))
    with_me = np.sort(rng.permutation(len(specs))[:n_with])
    counts = np.zeros(len(specs), int)
    counts[with_me] = 1 + rng.multinomial(total_me - n_with, minutes[with_me] / minutes[with_me].sum())
    for spec, n_me, m in zip(specs, counts, minutes, strict=True):
        spec["me_emotions"] = _class_draw(rng, int(n_me))
        spec["n_mae"] = max(2 * int(n_me), 1, int(round(REALISM.maes_per_minute * m + rng.uniform(-1, 1))))
        spec["n_subtle"] = max(int(n_me), 1, int(round(REALISM.subtle_per_minute * m + rng.uniform(-1, 1))))
    return specs


def _build_realistic_video(args: tuple[dict, int, int, str, float, float]) -> tuple[pd.DataFrame, ...]:
    spec, seed, size, out, blinks, jerks = args
    video = _spec_video(spec, seed, size, difficulty="realistic", blinks=blinks, jerks=jerks)
    folder = Path(out) / video.subject.subject_id / video.video
    _write_frames(folder, video.frames, video.timeline.jpeg_quality)
    _write_truth(folder, video, seed, size)
    info = dict(subject=video.subject.subject_id, video=video.video, n_frames=video.n_frames, fps=video.fps,
                height=size, width=size)
    return video.events, video.distractors, video.truth, pd.DataFrame([info])


def _write_frames(folder: Path, frames: np.ndarray, quality: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        (folder / f"img_{t:05d}.jpg").write_bytes(buf.tobytes())


def _write_truth(folder: Path, video: SyntheticVideo, seed: int, size: int) -> None:
    tl = video.timeline
    _write_npz(folder / "truth.npz", landmarks=video.landmarks, au_intensity=tl.au_intensity, head=tl.head,
               gain=tl.gain, seed=np.int64(seed), subject_index=np.int64(int(video.subject.subject_id[3:]) - 1),
               video_index=np.int64(tl.video_index), size=np.int64(size), fps=np.float64(tl.fps),
               jpeg_quality=np.int64(tl.jpeg_quality))


def clip_timeline(subject: SubjectStyle, basis: np.ndarray, clip_index: int, emotion: str, *,
                  fps: float = 30.0) -> Timeline:
    """One realistic ME clip from its annotated onset to its annotated offset, as CASME II cuts its clips.

    The expression has the realistic AU sets, subject gains, asymmetry, amplitude and duration; the clip
    carries slow head drift with a few degrees of yaw and pitch, flicker, and its own JPEG quality. The
    annotation's jitter decides where the clip starts and ends, so the true onset may lie up to 2 frames
    before the first frame (``truth`` onset < 0) or after it. ``events`` has onset 0 and offset T - 1.
    """
    rng = np.random.default_rng([subject.seed, int(subject.subject_id[3:]) - 1, 14, clip_index])
    pad = int(round(2 * fps / 30.0))
    length = me_length(rng, fps)
    n_frames = length + 2 * pad
    onset, offset = pad, pad + length - 1
    apex = _apex_of(rng, onset, offset)
    amp = me_amplitude(rng, subject)
    w, aus, stray, asymmetry = _expression(rng, subject, basis, subject_au_gains(subject), emotion,
                                           amp * subject.size / 128.0)
    ann_onset, ann_offset, label = _annotate(rng, onset, apex, offset, n_frames, fps, emotion)
    keep = slice(ann_onset, ann_offset + 1)
    intensity = np.outer(_envelope(n_frames, onset, apex, offset), w)[keep]
    head = _head_motion(rng, n_frames, fps, subject.size / 128.0)
    pose = rng.normal(0, np.deg2rad(REALISM.head_turn_deg), 2) + rng.normal(0, np.deg2rad(0.1), (n_frames, 2))
    head = np.c_[head, np.clip(pose, -np.deg2rad(4), np.deg2rad(4))][keep]
    gain = _realistic_gain(rng, n_frames, fps)[keep]
    video_id = f"{subject.subject_id}_c{clip_index + 1:03d}"
    truth = pd.DataFrame([dict(subject=subject.subject_id, video=video_id, onset=onset - ann_onset,
                               apex=apex - ann_onset, offset=offset - ann_onset, emotion=emotion, kind="micro",
                               fps=float(fps), label=label, ann_onset=0, ann_offset=ann_offset - ann_onset,
                               aus="+".join(a[2:] for a in aus), stray_au=stray, asymmetry=round(asymmetry, 4),
                               amplitude_px=round(amp, 4))], columns=TRUTH_COLUMNS)
    return Timeline(video_id, clip_index, ann_offset - ann_onset + 1, float(fps), _annotations(truth),
                    pd.DataFrame(columns=["video", "kind", "onset", "apex", "offset", "amplitude_px"]),
                    intensity.astype(np.float32), head.astype(np.float32), gain.astype(np.float32), truth=truth,
                    jpeg_quality=int(rng.integers(REALISM.jpeg_quality[0], REALISM.jpeg_quality[1] + 1)))


def _clip_emotions(seed: int, preset: ClipsPreset) -> list[list[str]]:
    rng = np.random.default_rng([seed, 996])
    return [_class_draw(rng, preset.clips_per_subject, SEVEN_CLASSES) for _ in range(preset.n_subjects)]


def _build_clips(args: tuple[int, list[str], int, ClipsPreset, str]) -> tuple[pd.DataFrame, ...]:
    subject_index, emotions, seed, preset, out = args
    subject = make_subject(seed, subject_index, size=preset.size)
    basis = lateral_basis(subject)
    tables: list[list[pd.DataFrame]] = [[], [], []]
    for i, emotion in enumerate(emotions):
        video = SyntheticVideo(subject, clip_timeline(subject, basis, i, emotion, fps=preset.fps), basis=basis)
        folder = Path(out) / subject.subject_id / video.video
        _write_frames(folder, video.render(), video.timeline.jpeg_quality)
        _write_truth(folder, video, seed, preset.size)
        info = dict(subject=subject.subject_id, video=video.video, n_frames=video.n_frames, fps=video.fps,
                    height=preset.size, width=preset.size)
        for table, part in zip(tables, (video.events, video.truth, pd.DataFrame([info])), strict=True):
            table.append(part)
    return tuple(pd.concat(t, ignore_index=True) for t in tables)


def clips_split(n_subjects: int, seed: int, preset: ClipsPreset = CLIPS) -> pd.DataFrame:
    """The fixed subject split of a clips corpus: columns ``subject, part`` (train, test_a, test_b)."""
    order = np.random.default_rng([seed, 995]).permutation(n_subjects)
    n_a, n_b = (max(1, int(round(f * n_subjects))) for f in (preset.test_a, preset.test_b))
    part = np.array(["train"] * n_subjects, dtype=object)
    part[order[:n_a]], part[order[n_a:n_a + n_b]] = "test_a", "test_b"
    return pd.DataFrame({"subject": [f"sub{i + 1:02d}" for i in range(n_subjects)], "part": part})


def read_split(corpus: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Subjects of ``train``, ``test_a`` and ``test_b`` of a clips corpus (its ``split.csv``), each sorted.

    ``melab.recognition.DfmeSplit(**read_split(corpus))`` gives the masks that the recognition benchmark uses.
    """
    path = Path(corpus) / "split.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: only a clips corpus (make_corpus('clips')) has a fixed split")
    table = pd.read_csv(path, dtype=str)
    return {part: tuple(sorted(table.loc[table["part"] == part, "subject"])) for part in ("train", "test_a", "test_b")}


def make_corpus(preset: str = "lab", seed: int = 0, root: str | os.PathLike | None = None, *,
                difficulty: str | None = None, processes: int | None = None, progress: bool = True,
                overwrite: bool = False) -> Path:
    """Generate a synthetic corpus on disk (or reuse the cached one) and return its directory.

    The layout mirrors a real dataset::

        events.csv                        canonical events (+ aus, amplitude_px), 0-based inclusive frames, as
                                          annotated (realistic: onset/offset jittered, some labels swapped)
        distractors.csv                   unlabelled movements (blinks, head jerks; realistic: also gaze shifts,
                                          swallows, lip presses, sniffs, speech, nods, talking)
        truth_events.csv                  realistic only: the exact events, true emotion, AUs and asymmetry
        videos.csv                        subject, video, n_frames, fps, height, width
        subjects.json                     per-subject style parameters
        split.csv                         clips only: subject, part (train, test_a, test_b)
        <subject>/<video>/img_00000.jpg   RGB frames, JPEG
        <subject>/<video>/truth.npz       landmarks (T,68,2) and the motion parameters

    The corpus is written to a temporary sibling directory and renamed into place when complete, so an
    interrupted run never leaves a half corpus behind (its temporary is removed by the next run). A cache hit
    checks ``manifest.json`` (every file's size) and generates a damaged corpus again, with a warning. The
    same preset, difficulty and seed give byte-identical files, with any number of processes. An ``"easy"``
    corpus is generator version 1's, byte for byte (plus the manifest).

    Parameters
    ----------
    preset : ``"tiny"``, ``"lab"`` or ``"bench"`` (long videos, see :data:`PRESETS`), or ``"clips"`` (realistic
        recognition clips, see :class:`ClipsPreset`).
    seed : master seed.
    root : cache root; default :func:`default_root`.
    difficulty : ``"realistic"`` or ``"easy"``; default :data:`DEFAULT_DIFFICULTY` (clips are always realistic).
    processes : worker processes (default: up to 2).
    """
    if preset not in PRESET_NAMES:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESET_NAMES)}")
    if preset == "clips" and difficulty not in (None, "realistic"):
        raise ValueError(f"the clips preset is realistic only; got difficulty={difficulty!r}")
    difficulty = "realistic" if preset == "clips" else _resolve(difficulty)
    final = corpus_dir(preset, seed, root, difficulty=difficulty)
    remove_stale_temporaries(final.parent, prefix=final.name)  # left by killed runs
    damage = manifest_problem(final) if final.exists() and not overwrite else None
    if final.exists() and not overwrite and damage is None:
        return final
    if damage is not None:
        warnings.warn(f"cached corpus {final} is damaged or incomplete ({damage}); generating it again", stacklevel=2)
        overwrite = True
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    workers = processes or min(2, os.cpu_count() or 1)
    if preset == "clips":
        cfg: Preset | ClipsPreset = CLIPS
        build, jobs = _build_clips, [(s, emotions, seed, CLIPS, str(tmp))
                                     for s, emotions in enumerate(_clip_emotions(seed, CLIPS))]
    elif difficulty == "realistic":
        cfg = PRESETS[preset]
        build, jobs = _build_realistic_video, [(spec, seed, cfg.size, str(tmp), cfg.blinks_per_minute,
                                                cfg.jerks_per_minute) for spec in _realistic_specs(cfg, seed)]
    else:
        cfg = PRESETS[preset]
        build, jobs = _build_video, [(spec, seed, cfg.size, cfg.jpeg_quality, str(tmp))
                                     for spec in _video_specs(cfg, seed)]
    try:
        if workers > 1:
            with ProcessPoolExecutor(workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
                results = list(tqdm(pool.map(build, jobs), total=len(jobs), desc=f"synth {preset}",
                                    disable=not progress))
        else:
            results = [build(j) for j in tqdm(jobs, desc=f"synth {preset}", disable=not progress)]
        if preset == "clips":
            _write_tables(tmp, events=[r[0] for r in results], truth_events=[r[1] for r in results],
                          videos=[r[2] for r in results])
            clips_split(CLIPS.n_subjects, seed).to_csv(tmp / "split.csv", index=False)
        elif difficulty == "realistic":
            _write_tables(tmp, events=[r[0] for r in results], distractors=[r[1] for r in results],
                          truth_events=[r[2] for r in results], videos=[r[3] for r in results])
        else:
            events = pd.concat([r[0] for r in results], ignore_index=True)
            distractors = pd.concat([r[1] for r in results], ignore_index=True)
            videos = pd.DataFrame([r[2] for r in results])
            events.to_csv(tmp / "events.csv", index=False)
            distractors.to_csv(tmp / "distractors.csv", index=False)
            videos.to_csv(tmp / "videos.csv", index=False)
        styles = {}
        for s in range(cfg.n_subjects):
            st = asdict(make_subject(seed, s, size=cfg.size))
            st.pop("landmarks")
            styles[st["subject_id"]] = st
        header = {"preset": asdict(cfg), "seed": seed, "generator_version": 1 if difficulty == "easy" else
                  GENERATOR_VERSION}
        if difficulty == "realistic":
            header.update(difficulty=difficulty, realism=asdict(REALISM))
        (tmp / "subjects.json").write_text(json.dumps({**header, "subjects": styles}, indent=1, sort_keys=True))
        write_manifest(tmp)
        if overwrite and final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


@dataclass
class CorpusPlan:
    """Every video of a corpus, planned but not rendered: what :func:`make_corpus` would write, minus the pixels.

    ``events`` and ``distractors`` are the tables of ``events.csv`` and ``distractors.csv``; ``truth`` holds the exact
    events (``truth_events.csv`` of a realistic corpus; an easy corpus's events are exact, so there it is ``events``).
    ``videos`` maps each video id to its unrendered :class:`SyntheticVideo` (``au_field``, ``true_flow`` and
    ``landmarks`` work without rendering), and ``video_table`` is ``videos.csv``. ``name`` is the corpus directory's.
    """

    name: str
    events: pd.DataFrame
    distractors: pd.DataFrame
    truth: pd.DataFrame
    videos: dict[str, SyntheticVideo]
    video_table: pd.DataFrame


def plan_corpus(preset: str = "lab", seed: int = 0, *, difficulty: str | None = None) -> CorpusPlan:
    """Plan every video of a long-video preset without rendering a frame (about 0.2 s a minute of video).

    Draws the same timelines as :func:`make_corpus` with the same ``preset``, ``seed`` and ``difficulty``, so its
    tables equal the corpus's (its amplitudes, durations and distractors), at a fraction of the cost. For figures and
    statistics of a corpus's events; ``"clips"`` is not a long-video preset and is refused.
    """
    if preset not in PRESETS:
        raise ValueError(f"plan_corpus plans the long-video presets {sorted(PRESETS)}, not {preset!r}")
    difficulty, cfg = _resolve(difficulty), PRESETS[preset]
    specs = _video_specs(cfg, seed) if difficulty == "easy" else _realistic_specs(cfg, seed)
    videos = {}
    for spec in specs:
        v = _spec_video(spec, seed, cfg.size, difficulty=difficulty, blinks=cfg.blinks_per_minute,
                        jerks=cfg.jerks_per_minute, render=False)
        videos[v.video] = v
    events, distractors = (pd.concat([getattr(v, t) for v in videos.values()], ignore_index=True)
                           for t in ("events", "distractors"))
    truth = events if difficulty == "easy" else pd.concat([v.truth for v in videos.values()], ignore_index=True)
    table = pd.DataFrame([dict(subject=v.subject.subject_id, video=v.video, n_frames=v.n_frames, fps=v.fps,
                               height=cfg.size, width=cfg.size) for v in videos.values()])
    return CorpusPlan(corpus_dir(preset, seed, difficulty=difficulty).name, events, distractors, truth, videos, table)


def _write_tables(folder: Path, **parts: list[pd.DataFrame]) -> None:
    """Concatenate each table's per-video parts and write it as ``<name>.csv``."""
    for name, frames in parts.items():
        pd.concat(frames, ignore_index=True).to_csv(folder / f"{name}.csv", index=False)


def load_video(corpus: str | os.PathLike, video: str) -> SyntheticVideo:
    """Load one video of a corpus made by :func:`make_corpus`, with its ground truth.

    Frames are read from disk lazily (on first access of ``.frames``); ``true_flow`` and ``landmarks`` come
    from ``truth.npz``, and the exact events of a realistic corpus from ``truth_events.csv``.
    """
    corpus = Path(corpus)
    events_all = pd.read_csv(corpus / "events.csv")
    subject_id = video.split("_")[0]
    folder = corpus / subject_id / video
    if not (folder / "truth.npz").exists():
        raise FileNotFoundError(f"no video {video!r} in {corpus} (expected {folder / 'truth.npz'})")
    with np.load(folder / "truth.npz", allow_pickle=False) as z:
        truth = {k: z[k] for k in z.files}
    subject = make_subject(int(truth["seed"]), int(truth["subject_index"]), size=int(truth["size"]))
    events = events_all[events_all["video"] == video].reset_index(drop=True)
    dist_path = corpus / "distractors.csv"
    distractors = pd.read_csv(dist_path) if dist_path.exists() else pd.DataFrame()
    distractors = distractors[distractors["video"] == video].reset_index(drop=True) if len(distractors) else \
        distractors
    exact = None
    if (corpus / "truth_events.csv").exists():
        exact = pd.read_csv(corpus / "truth_events.csv")
        exact = exact[exact["video"] == video].reset_index(drop=True)
    timeline = Timeline(video, int(truth["video_index"]), len(truth["landmarks"]), float(truth["fps"]),
                        events, distractors,
                        truth["au_intensity"], truth["head"], truth["gain"], truth=exact,
                        jpeg_quality=int(truth["jpeg_quality"]) if "jpeg_quality" in truth else None)
    out = SyntheticVideo(subject, timeline, path=folder)
    out.landmarks = truth["landmarks"]
    return out


def recognition_samples(events: pd.DataFrame, *, kinds: Sequence[str] = ("micro",)) -> pd.DataFrame:
    """(onset, apex) pairs with 7-class labels: events whose emotion is in :data:`SEVEN_CLASSES`.

    Returns the matching rows with an extra integer column ``label`` (index into ``SEVEN_CLASSES``).
    """
    keep = events[events["kind"].isin(kinds) & events["emotion"].isin(SEVEN_CLASSES)].copy()
    keep["label"] = keep["emotion"].map(SEVEN_CLASSES.index).astype(int)
    return keep.reset_index(drop=True)


def summarize(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Counts per emotion and kind (with totals), and the median apex amplitude (px) per kind."""
    counts = pd.crosstab(events["emotion"], events["kind"], margins=True, margins_name="total")
    return counts, events.groupby("kind")["amplitude_px"].median().round(2)
