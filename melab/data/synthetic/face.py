"""Synthetic subjects: face geometry and look, the rendered neutral face, and its AU displacement fields.

A subject (:class:`SubjectStyle`, drawn by :func:`make_subject`) is a procedurally textured face with its own
geometry, tone and lighting, described by a neutral 68-point landmark set in the iBUG layout. The AUs of
:mod:`melab.data.synthetic.facs` become dense displacement fields on that face (:func:`au_basis`, and per face
half :func:`lateral_basis`), in pixels per unit intensity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

from melab.data.synthetic.facs import _ALL_AUS, ALL_AU_CODES, AU_CODES, AU_TABLE, LATERAL_CODES, ActionUnit

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
# Subjects, the neutral face and dense AU fields
# --------------------------------------------------------------------------------------------------


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
