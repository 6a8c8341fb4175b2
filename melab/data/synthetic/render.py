"""Rendering: the synthetic video of a timeline, its exact displacement field, and one-call generators.

Every frame is the neutral face warped by ``M_t(x) = A_t (x + D_t(x))``, with ``D_t`` the AU fields weighted by
the timeline's intensities and ``A_t`` the head pose (a similarity, after an out-of-plane rotation in realistic
videos). Because ``M_t`` is known, so is the exact displacement of every pixel between any two frames
(:meth:`SyntheticVideo.true_flow`) and the landmarks of every frame. :func:`generate_video` and
:func:`generate_clip` draw a subject and a timeline and return the :class:`SyntheticVideo`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from melab.data.synthetic.face import (
    SubjectStyle,
    _neutral,
    au_basis,
    au_displacement,
    lateral_basis,
    lateral_displacement,
    make_subject,
)
from melab.data.synthetic.facs import EMOTION_AUS, LATERAL_CODES
from melab.data.synthetic.timeline import (
    MAE_AMPLITUDE_PX,
    MAE_DURATION_S,
    ME_AMPLITUDE_PX,
    ME_DURATION_S,
    REALISM,
    Timeline,
    _class_draw,
    _event_intensity,
    _resolve,
    plan_realistic_video,
    plan_video,
)


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
