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
from collections.abc import Sequence
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

GENERATOR_VERSION = 1

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


# --------------------------------------------------------------------------------------------------
# Presets and subjects
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """Size of a synthetic corpus. Counts are per video unless stated; durations in seconds."""

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
        _PEAK_CACHE[key] = float(np.linalg.norm(_au_field(subject, AU_TABLE[code], grid), axis=1).max())
    return _PEAK_CACHE[key]


def au_basis(subject: SubjectStyle) -> np.ndarray:
    """Dense AU fields on the pixel grid: ``(n_AU, H, W, 2)`` float32, pixels per unit intensity."""
    s = subject.size
    yy, xx = np.mgrid[0:s, 0:s]
    grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float64)
    return au_displacement(subject, grid).reshape(len(AU_CODES), s, s, 2).astype(np.float32)


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
    events: pd.DataFrame  # canonical events (+ aus, amplitude_px)
    distractors: pd.DataFrame  # blinks and head jerks: kind, onset, apex, offset, amplitude_px
    au_intensity: np.ndarray  # (T, n_AU) float32
    head: np.ndarray  # (T, 4) float32: tx, ty (px), rotation (rad), log-scale
    gain: np.ndarray  # (T, 2) float32: global gain, horizontal illumination gradient


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
    for _ in range(rng.poisson(blinks_per_minute * n_frames / fps / 60)):
        length = max(3, int(round(rng.uniform(0.1, 0.4) * fps)))
        start = _place(rng, busy, length, margin=int(0.15 * fps))
        if start is None:
            continue
        onset, offset = start, start + length - 1
        apex = onset + (length - 1) // 2
        amp = rng.uniform(0.25, 0.4) * subject.g
        intensity[:, blink] += amp * _envelope(n_frames, onset, apex, offset)
        distractors.append(dict(video=video_id, kind="blink", onset=onset, apex=apex, offset=offset,
                                amplitude_px=round(float(amp), 4)))

    head = _head_motion(rng, n_frames, fps, scale_px)
    for _ in range(rng.poisson(jerks_per_minute * n_frames / fps / 60)):
        length = max(2, int(round(rng.uniform(0.1, 0.25) * fps)))
        start = _place(rng, busy, length, margin=int(0.3 * fps))
        if start is None:
            continue
        step = rng.normal(0, 1, 2)
        step *= rng.uniform(1.0, 3.5) * scale_px / np.linalg.norm(step)
        ramp = np.clip((np.arange(n_frames) - start) / (length - 1), 0, 1)
        ramp = 0.5 * (1 - np.cos(np.pi * ramp))
        head[:, :2] += ramp[:, None] * step
        distractors.append(dict(video=video_id, kind="head_jerk", onset=start, apex=start + length - 1,
                                offset=start + length - 1, amplitude_px=round(float(np.linalg.norm(step)), 4)))

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
# Rendering and exact displacement
# --------------------------------------------------------------------------------------------------


def _affine(head_row: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Similarity transform ``(2, 3)`` for one frame: rotate/scale about ``centre``, then translate."""
    tx, ty, rot, log_s = (float(v) for v in head_row)
    s = np.exp(log_s)
    c, si = s * np.cos(rot), s * np.sin(rot)
    lin = np.array([[c, -si], [si, c]])
    return np.c_[lin, centre + np.array([tx, ty]) - lin @ centre]


class SyntheticVideo:
    """One rendered synthetic video with its ground truth.

    Attributes
    ----------
    frames : ``(T, H, W, 3)`` uint8 RGB (rendered lazily on first access when loaded from disk).
    fps : frames per second.
    events : canonical events table of this video (+ ``aus``, ``amplitude_px``).
    distractors : blinks and head jerks (``kind, onset, apex, offset, amplitude_px``).
    landmarks : ``(T, 68, 2)`` float32, true iBUG-68 positions in pixels.
    """

    def __init__(self, subject: SubjectStyle, timeline: Timeline, frames: np.ndarray | None = None,
                 *, jpeg_quality: int | None = None, path: Path | None = None, basis: np.ndarray | None = None):
        self.subject = subject
        self.timeline = timeline
        self.fps = timeline.fps
        self.events = timeline.events
        self.distractors = timeline.distractors
        self.jpeg_quality = jpeg_quality
        self.path = path
        self._basis = au_basis(subject) if basis is None else basis  # the AU fields are costly: reuse them
        self._frames = frames
        self._centre = subject.landmarks[27:31].mean(axis=0).astype(np.float64)
        self.landmarks = self._landmarks()

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
        disp = au_displacement(self.subject, lm0)  # (n_AU, 68, 2)
        moved = lm0[None] + np.einsum("tj,jnc->tnc", self.timeline.au_intensity.astype(np.float64), disp)
        out = np.empty_like(moved)
        for t in range(self.n_frames):
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
        inv = cv2.invertAffineTransform(_affine(self.timeline.head[t], self._centre))
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
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
        neutral = render_neutral(self.subject)
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
        a = _affine(self.timeline.head[t1], self._centre)
        target = moved @ a[:, :2].T.astype(np.float32) + a[:, 2].astype(np.float32)
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        return (target - np.stack([xx, yy], axis=-1)).astype(np.float32)


def _jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def generate_video(seed: int = 0, subject_index: int = 0, video_index: int = 0, *, duration_s: float = 20.0,
                   fps: float = 30.0, size: int = 128, n_me: int = 3, n_mae: int = 3,
                   blinks_per_minute: float = 15.0, jerks_per_minute: float = 3.0,
                   me_emotions: Sequence[str] | None = None, jpeg_quality: int | None = 95,
                   render: bool = True) -> SyntheticVideo:
    """Generate one synthetic video in memory.

    Parameters
    ----------
    seed, subject_index, video_index : identify the subject and the video; the same triple gives the same video.
    duration_s, fps, size : length in seconds, frame rate, and square frame size in pixels.
    n_me, n_mae : numbers of micro- and macro-expressions to place (fewer if the video is too short).
    me_emotions : emotions of the MEs, in any order; default: drawn uniformly from the seven classes + others.
    jpeg_quality : JPEG compression applied to every frame (None: lossless).
    render : render the frames now; otherwise they render on first access of ``.frames``.

    Examples
    --------
    >>> v = generate_video(0, 0, 0, duration_s=4, n_me=1, n_mae=0)
    >>> v.frames.shape, v.landmarks.shape
    ((120, 128, 128, 3), (120, 68, 2))
    """
    subject = make_subject(seed, subject_index, size=size)
    basis = au_basis(subject)
    timeline = plan_video(subject, basis, video_index=video_index, n_frames=int(round(duration_s * fps)),
                          fps=fps, n_me=n_me, n_mae=n_mae, blinks_per_minute=blinks_per_minute,
                          jerks_per_minute=jerks_per_minute, me_emotions=me_emotions)
    video = SyntheticVideo(subject, timeline, jpeg_quality=jpeg_quality, basis=basis)
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


def corpus_dir(preset: str = "lab", seed: int = 0, root: str | os.PathLike | None = None) -> Path:
    """The cache directory of a corpus: keyed by preset, seed and :data:`GENERATOR_VERSION`."""
    return Path(root or default_root()) / "synthetic" / f"{preset}-seed{seed}-v{GENERATOR_VERSION}"


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


def _build_video(args: tuple[dict, int, int, int, str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    spec, seed, size, quality, out = args
    video = generate_video(seed, spec["subject_index"], spec["video_index"], duration_s=spec["duration_s"],
                           fps=spec["fps"], size=size, n_me=spec["n_me"], n_mae=spec["n_mae"],
                           me_emotions=spec["me_emotions"], jpeg_quality=None)
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


def make_corpus(preset: str = "lab", seed: int = 0, root: str | os.PathLike | None = None, *,
                processes: int | None = None, progress: bool = True, overwrite: bool = False) -> Path:
    """Generate a synthetic corpus on disk (or reuse the cached one) and return its directory.

    The layout mirrors a real dataset::

        events.csv                        canonical events (+ aus, amplitude_px), 0-based inclusive frames
        distractors.csv                   blinks and head jerks (not expressions; for analysis)
        videos.csv                        subject, video, n_frames, fps, height, width
        subjects.json                     per-subject style parameters
        <subject>/<video>/img_00000.jpg   RGB frames, JPEG
        <subject>/<video>/truth.npz       landmarks (T,68,2) and the motion parameters

    The corpus is written to a temporary sibling directory and renamed into place when complete, so an
    interrupted run never leaves a half corpus behind (its temporary is removed by the next run). A cache hit
    checks ``manifest.json`` (every file's size) and generates a damaged corpus again, with a warning. The
    same preset and seed give byte-identical files.

    Parameters
    ----------
    preset : ``"tiny"``, ``"lab"`` or ``"bench"`` (see :data:`PRESETS`).
    seed : master seed.
    root : cache root; default :func:`default_root`.
    processes : worker processes (default: up to 2).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    cfg = PRESETS[preset]
    final = corpus_dir(preset, seed, root)
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
    specs = _video_specs(cfg, seed)
    jobs = [(spec, seed, cfg.size, cfg.jpeg_quality, str(tmp)) for spec in specs]
    workers = processes or min(2, os.cpu_count() or 1)
    try:
        if workers > 1:
            with ProcessPoolExecutor(workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
                results = list(tqdm(pool.map(_build_video, jobs), total=len(jobs), desc=f"synth {preset}",
                                    disable=not progress))
        else:
            results = [_build_video(j) for j in tqdm(jobs, desc=f"synth {preset}", disable=not progress)]
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
        (tmp / "subjects.json").write_text(json.dumps(
            {"preset": asdict(cfg), "seed": seed, "generator_version": GENERATOR_VERSION, "subjects": styles},
            indent=1, sort_keys=True))
        write_manifest(tmp)
        if overwrite and final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_video(corpus: str | os.PathLike, video: str) -> SyntheticVideo:
    """Load one video of a corpus made by :func:`make_corpus`, with its ground truth.

    Frames are read from disk lazily (on first access of ``.frames``); ``true_flow`` and ``landmarks`` come
    from ``truth.npz``.
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
    timeline = Timeline(video, int(truth["video_index"]), len(truth["landmarks"]), float(truth["fps"]),
                        events, distractors,
                        truth["au_intensity"], truth["head"], truth["gain"])
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
