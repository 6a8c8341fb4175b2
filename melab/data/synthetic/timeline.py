"""Timelines: what moves in one video, and when, before any pixel is rendered.

A :class:`Timeline` holds a video's events (as annotated), its unlabelled movements (distractors), the AU
intensities of every frame, the head pose and the lighting gain. Two planners draw it:

- :func:`plan_video`, difficulty ``"easy"`` (generator version 1): MEs and MaEs that separate by size, blinks
  and head jerks;
- :func:`plan_realistic_video`, difficulty ``"realistic"`` (:class:`Realism`): events as hard as CAS(ME)^3 /
  SAMM-LV, unlabelled subtle movements and talking, annotation jitter, label noise, asymmetric events and
  out-of-plane head turns; :func:`clip_timeline` is one realistic ME cut from onset to offset.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline

from melab.data.annotations import EVENT_COLUMNS
from melab.data.labels import SEVEN_CLASSES
from melab.data.synthetic.face import SubjectStyle
from melab.data.synthetic.facs import (
    _OPTIONAL_AUS,
    _OTHERS_POOL,
    _STRAY_POOL,
    ALL_AU_CODES,
    AU_CODES,
    AU_PRESENCE,
    EMOTION_AUS,
    LATERAL_CODES,
    NEGATIVE_EMOTIONS,
)

DIFFICULTIES = ("realistic", "easy")
# The difficulty that presets, the command line, notebooks and benchmarks resolve to. "easy" stays available to
# show what difficulty does (notebook 00) and to reproduce version-1 results.
DEFAULT_DIFFICULTY = "realistic"


def _resolve(difficulty: str | None) -> str:
    difficulty = DEFAULT_DIFFICULTY if difficulty is None else difficulty
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, not {difficulty!r}")
    return difficulty


ME_DURATION_S = (0.2, 0.5)
ME_AMPLITUDE_PX = (0.3, 1.5)
MAE_DURATION_S = (0.5, 4.0)
MAE_AMPLITUDE_PX = (2.0, 6.0)


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


def _class_draw(rng: np.random.Generator, n: int, classes: Sequence[str] | None = None) -> list[str]:
    """``n`` emotions drawn with the realistic class shares (restricted to ``classes``, renormalised)."""
    shares = dict(REALISM.class_shares)
    names = list(classes or shares)
    p = np.array([shares[c] for c in names])
    return [str(e) for e in rng.choice(names, n, p=p / p.sum())]

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
