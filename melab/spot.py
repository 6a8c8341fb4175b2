"""``melab spot``: where are the micro-expressions in a face video?

The whole chain on one video, as plain functions::

    video file (any fps) -> frames at the model's rate -> MediaPipe landmarks -> face crop
      -> ROI flow series (melab.flow) -> spotter (melab.models.spotter) -> SISS (melab.decode)
      -> an emotion per interval (melab.decode.assign_emotions) -> intervals in the video's own frames

The result is one row per interval: ``video, onset, offset, emotion, score, interpolated_frames`` (0-based
inclusive frame numbers of the input video; ``score`` is the highest spotting score inside the interval;
``interpolated_frames`` the number of its frames whose face landmarks were interpolated, see Faces).

Frame rate
----------
A spotter sees ROI series at the frame rate it was trained on (``model_fps``, 30 fps for the shipped
checkpoint): its window ``k`` and everything it learned about durations are in frames at that rate. A
video at another rate is resampled by **nearest timestamp**: model frame ``j`` (time ``j / model_fps``)
is the video frame ``i = round(j · fps / model_fps)`` (:func:`resample_index`). Only those frames are
decoded, kept and analysed (landmarks, flow, spotter); flow is computed between them, as if the video
had been filmed at ``model_fps``. A high-speed video (SAMM-LV, 200 fps) is thus subsampled, and a slow one
(25 fps) repeats a frame now and then. Intervals found at the model rate are mapped back by time
(:func:`to_video_intervals`): model frame ``j`` stands for the time span ``[(j − ½)/model_fps,
(j + ½)/model_fps)``, and an interval covers every video frame whose timestamp ``i / fps`` falls inside
the union of its frames' spans (and the frames the model was shown at its ends). At equal rates both maps
are the identity.

Official weights
----------------
``--checkpoint`` also takes an official ME-TST / BoostingVRME ``METST_SF`` weight file (``subject_N.pkl``):
it is loaded into the reference layout (:func:`melab.models.spotter.load_official`), fed the reference ROI
series (:func:`melab.flow.roi_series` with ``layout="reference"``) window by window, each window relative
to its first frame (:func:`melab.flow.reference_windows`), at the official rate and window of the dataset
it was trained on (:data:`OFFICIAL_DATASETS`: CAS(ME)^3 30 fps, k = 50; SAMM-LV every 7th frame of 200 fps,
k = 30). Overlapping windows are averaged as for melab's own checkpoints (the official code keeps each
window's second half).

Faces
-----
Landmarks come from MediaPipe face mesh (offline, see :mod:`melab.face`), or from a ``(T, 68, 2)`` iBUG
array (``--landmarks FILE.npy``, in the video's pixels) from any other detector. Short dropouts (up to
``max_gap_s``) are filled in with a warning (interpolated, or the nearest detection at the video's
ends); longer ones stop the run with the video frames that lack a face. The flow across a filled gap is
not the face's motion, so an interval that overlaps one is flagged (``interpolated_frames`` > 0) and
warned about. Given landmarks must be pixels of the video: normalised ([0, 1]) or off-frame ones are
refused (:func:`melab.flow.check_landmarks_in_frame`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from melab import ARTEFACTS, checks
from melab.atomic import Output, atomic_path, check_output_file, check_paths
from melab.data.ids import normalise_id, spellings
from melab.data.video import VideoError, VideoReader
from melab.decode import assign_emotions, siss, smooth_scores
from melab.device import torch_threads
from melab.face import FaceMeshTracker
from melab.flow import REFERENCE_SERIES_OPTIONS, RoiFlowStream, RoiFlowWorkers, check_landmarks_in_frame
from melab.inference import DEFAULT_CHECKPOINT, OFFICIAL_DATASETS, SpotterModel, load_spotter, spotter_scores

__all__ = [
    "DEFAULT_CHECKPOINT",
    "decoding_settings",
    "default_decoding",
    "OFFICIAL_DATASETS",
    "OUTPUT_COLUMNS",
    "SpotterModel",
    "SpotResult",
    "load_landmarks",
    "load_spotter",
    "resample_index",
    "to_video_intervals",
    "read_resampled",
    "resample_frames",
    "spot_frames",
    "spot_video",
    "spot",
    "make_sample_video",
]

# the first five are the DESIGN contract; interpolated_frames counts the interval's frames whose face was
# interpolated over a dropout (a score there may come from the gap, not from an ME)
OUTPUT_COLUMNS = ["video", "onset", "offset", "emotion", "score", "interpolated_frames"]

Interval = tuple[int, int]
DECODING_FILE = ARTEFACTS / "spot_decoding.json"
MAX_FRAME = 10**9  # frame numbers above this are no video's (a day at 10,000 fps is 8.6e8 frames)


def default_decoding() -> dict:
    """``melab spot``'s SISS defaults ``{smooth, low, high, k_decode}`` from ``data/spot_decoding.json``.

    ``make artefacts`` writes the file: the setting chosen by the nested rule on the shipped spotter's LOSO scores
    of its own training corpus (:func:`melab.train.artefacts.spot_decoding`), with the held-out F1 it is worth.
    """
    return json.loads(DECODING_FILE.read_text())["settings"]


def decoding_settings(low: float | None = None, high: float | None = None,
                      smooth: int | None = None) -> tuple[float, float, int]:
    """SISS's ``(low, high, smooth)`` for ``melab spot``: each one not given from :func:`default_decoding`, all checked.

    Raises
    ------
    ValueError naming the flag (``--low``, ``--high``, ``--smooth``): a threshold outside [0, 1], ``low`` above
    ``high`` (no interval could be extended), or a width that is not an odd whole number of frames.
    """
    chosen = default_decoding() if None in (low, high, smooth) else {}
    given = {"low": low, "high": high, "smooth": smooth}
    value = {name: chosen[name] if v is None else v for name, v in given.items()}

    def shown(name: str) -> str:
        return f"--{name} {value[name]}" + (f" (the default from {DECODING_FILE.name})" if given[name] is None else "")

    for name in ("low", "high"):
        if isinstance(value[name], bool) or not isinstance(value[name], (int, float)) or \
                not 0.0 <= value[name] <= 1.0:
            raise ValueError(f"{shown(name)}: a SISS threshold is a score in [0, 1]")
    if value["low"] > value["high"]:
        raise ValueError(f"{shown('low')} is above {shown('high')}: SISS extends an interval while scores stay above "
                         "low near the peak and above high beyond it, so low must not exceed high; swap them")
    width = value["smooth"]
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1 or width % 2 == 0:
        raise ValueError(f"{shown('smooth')}: the box filter's width must be an odd whole number of frames "
                         "(1 = no smoothing)")
    return float(value["low"]), float(value["high"]), int(width)


# --------------------------------------------------------------------------------------------------
# Frame rates
# --------------------------------------------------------------------------------------------------


def resample_index(n_frames: int, fps: float, model_fps: float) -> np.ndarray:
    """Video frame shown at each model frame, by nearest timestamp.

    Parameters
    ----------
    n_frames : frames of the video, T.
    fps, model_fps : frame rates of the video and of the model, frames per second.

    Returns
    -------
    ``(T_m,)`` int64, non-decreasing, ``index[j] = round(j · fps / model_fps)`` (halves round up), for the
    ``T_m = floor((T − 1) · model_fps / fps) + 1`` model frames whose time lies inside the video.

    Examples
    --------
    >>> resample_index(7, 60.0, 30.0)
    array([0, 2, 4, 6])
    >>> resample_index(4, 20.0, 30.0)
    array([0, 1, 1, 2, 3])
    """
    n_frames = checks.integer("n_frames", n_frames, 1, MAX_FRAME)
    fps, model_fps = (checks.number(name, rate, 0.0, 100_000.0, low_open=True)
                      for name, rate in (("fps", fps), ("model_fps", model_fps)))
    ratio = fps / model_fps
    # the small tolerance keeps frames whose time is on the last frame up to float rounding
    n_model = int(math.floor((n_frames - 1) / ratio + 1e-9)) + 1
    index = np.floor(np.arange(n_model) * ratio + 0.5 + 1e-9).astype(np.int64)
    return np.minimum(index, n_frames - 1)


def to_video_intervals(intervals, fps: float, model_fps: float, n_frames: int) -> list[Interval]:
    """Map model-rate intervals to the video's frames by time (rule in the module docstring).

    An interval covers every video frame timed inside its frames' spans, ``[(onset − ½)/model_fps,
    (offset + ½)/model_fps)``, and always the video frames shown for its first and last model frames (when
    upsampling, the nearest frame can lie just outside that span).

    Parameters
    ----------
    intervals : sequence of (onset, offset), 0-based inclusive model frames.
    fps, model_fps : frame rates of the video and of the model.
    n_frames : frames of the video.

    Returns
    -------
    list of (onset, offset), 0-based inclusive video frames inside ``0 .. n_frames − 1``.

    Examples
    --------
    >>> to_video_intervals([(10, 14)], 60.0, 30.0, 100)
    [(19, 28)]
    """
    index = resample_index(n_frames, fps, model_fps)
    ratio = fps / model_fps
    spans = checks.array("intervals", intervals, dtype="integer")
    if spans.size and (spans.ndim != 2 or spans.shape[1] != 2):
        raise ValueError(f"intervals must be (onset, offset) pairs of model frames, got shape {spans.shape}")
    out = []
    for onset, offset in spans.reshape(-1, 2).astype(np.int64).tolist():
        if not 0 <= onset <= offset < len(index):
            raise ValueError(f"interval ({onset}, {offset}) is not inside the {len(index)} model frames")
        start = min(math.ceil((onset - 0.5) * ratio - 1e-9), index[onset])
        stop = max(math.ceil((offset + 0.5) * ratio - 1e-9) - 1, index[offset])
        out.append((max(int(start), 0), min(int(stop), n_frames - 1)))
    return out


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def resample_frames(frames: Iterable[np.ndarray], fps: float, model_fps: float) -> Iterator[tuple[int, np.ndarray]]:
    """The frames a model at ``model_fps`` sees, picked from a stream of video frames as they are decoded.

    Model frame ``j`` shows video frame ``round(j · fps / model_fps)`` (:func:`resample_index`); a model frame is
    yielded once the video is known to last until its time (so none is yielded past the last frame, as
    :func:`resample_index` drops them), at most one video frame after the one it shows. The stream is never held
    whole: a high-speed or long video is subsampled on the fly.

    Parameters
    ----------
    frames : the video's frames in order (e.g. :meth:`melab.data.video.VideoReader.frames`).
    fps, model_fps : frame rates of the video and of the model.

    Yields
    ------
    ``(i, frame)`` per model frame, in order: the video frame number ``i`` and its frame (the same object for
    the model frames that repeat a video frame when upsampling).
    """
    ratio = fps / model_fps
    pending: list[tuple[int, int, np.ndarray]] = []  # (model frame, video frame, frame) not yet known to be inside
    j = 0
    for n, frame in enumerate(frames):
        # frame n is the nearest of every model frame j with round(j · ratio) = n (several when upsampling)
        while math.floor(j * ratio + 0.5 + 1e-9) == n:
            pending.append((j, n, frame))
            j += 1
        last = math.floor(n / ratio + 1e-9)  # the last model frame timed at or before frame n (resample_index)
        while pending and pending[0][0] <= last:
            _, i, picked = pending.pop(0)
            yield i, picked


def read_resampled(path: str | os.PathLike, model_fps: float, *, fps: float | None = None,
                   max_side: int = 640) -> tuple[np.ndarray, np.ndarray, float, int, float]:
    """Read only the frames a model at ``model_fps`` sees (see :func:`resample_index`), downscaled.

    Frames are decoded one by one (:class:`melab.data.video.VideoReader`) and kept only when picked
    (:func:`resample_frames`); of an image folder only the picked images are decoded.

    Parameters
    ----------
    path : a video file OpenCV can open, or a folder of images (then ``fps`` is required).
    model_fps : the model's frame rate.
    fps : the video's frame rate; overrides the rate its container states.
    max_side : frames whose longer side exceeds this are shrunk to it (landmarks and the 128-px face crop
        need no more).

    Returns
    -------
    frames : ``(T_m, H', W', 3)`` uint8 RGB, the picked frames.
    index : ``(T_m,)`` int64, their frame numbers in the video.
    fps : the video's frame rate.
    n_frames : frames in the video, T.
    scale : factor applied to the frames (1.0: none); video pixels × scale = frame pixels.

    Raises
    ------
    FileNotFoundError, melab.data.video.VideoError
        Missing path; unreadable, empty or rateless video.
    """
    with VideoReader(path, fps, max_side=max_side, fps_flag="--fps") as reader:
        if reader.files is not None:
            n_frames = len(reader.files)
            index = resample_index(n_frames, reader.fps, model_fps)
            frames = list(reader.pick(index))
        else:
            frames = [frame for _, frame in resample_frames(reader.frames(), reader.fps, model_fps)]
            n_frames = reader.n_read
            if n_frames == 0:
                raise VideoError(f"video {reader.path} holds zero frames (corrupt, truncated or not a video)")
            index = resample_index(n_frames, reader.fps, model_fps)
    return np.stack(frames), index, reader.fps, n_frames, reader.scale


# --------------------------------------------------------------------------------------------------
# Landmarks
# --------------------------------------------------------------------------------------------------


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) positions of the True runs of a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _frame_ranges(runs: list[tuple[int, int]], index: np.ndarray, limit: int = 5) -> str:
    """Runs of model frames as video frame ranges, e.g. '0–49, 300–310'."""
    parts = [f"{index[a]}" if index[a] == index[b] else f"{index[a]}–{index[b]}" for a, b in runs[:limit]]
    return ", ".join(parts) + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


def load_landmarks(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` landmarks file as a float32 array, with an error naming the file if it is not one."""
    try:
        return np.asarray(np.load(path, allow_pickle=False), np.float32)
    except FileNotFoundError:
        raise FileNotFoundError(f"--landmarks {path}: no such file") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"--landmarks {path} is a folder; give a .npy file of (T, 68, 2) pixels") from None
    except (ValueError, OSError, EOFError, TypeError) as err:
        raise ValueError(f"--landmarks {path} is not a numeric .npy array of (T, 68, 2) pixels (numpy says: "
                         f"{err}); melab never unpickles objects from a landmarks file") from None


class _FaceTrack:
    """The landmarks of the picked frames as they come, with short dropouts filled: a frame goes on to the flow
    once its landmarks are final, so the frames of one dropout (at most ``max_gap`` of them) wait here.

    A dropout is filled as :func:`numpy.interp` fills it over the whole video (linearly between the detections
    around it, the nearest detection at the video's ends), exactly; one longer than ``max_gap`` frames stops the
    work (its frames are still counted, for the message of :meth:`finish`). ``detector``: the landmarks are
    MediaPipe's, whose misses the message explains.
    """

    def __init__(self, max_gap: int, name: str, *, detector: bool = False):
        self.max_gap, self.name = max_gap, name
        # measured on skimage's astronaut: a face 30 % of the frame's height was found, one of 18 % missed, at 640
        # and at 2000 px wide alike (the detector sees the frame at 128 px: resolution does not help)
        self.hint = (" MediaPipe's face detector sees the whole frame at 128 px: a face under about a quarter of the "
                     "frame's height is missed, whatever the resolution, so crop the video around the face."
                     if detector else "")
        self.index: list[int] = []  # video frame of each model frame
        self.landmarks: list[np.ndarray] = []  # (68, 2) each, filled in place
        self.missing: list[bool] = []
        self.failed = False  # a dropout too long: what follows is only counted
        self._waiting: list[tuple[int, np.ndarray]] = []  # (model frame, frame) of the dropout now open
        self._last_good: int | None = None

    def push(self, i: int, frame: np.ndarray, landmarks: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Add model frame ``(video frame i, frame, (68, 2) landmarks or NaN)``; the frames whose landmarks are now
        final, in order, as ``(frame, landmarks)``."""
        j = len(self.index)
        missing = not np.isfinite(landmarks).all()
        self.index.append(i)
        self.landmarks.append(np.asarray(landmarks, np.float32))
        self.missing.append(missing)
        if self.failed:
            return []
        if missing:
            self._waiting.append((j, frame))
            if len(self._waiting) > self.max_gap:
                self.failed, self._waiting = True, []
            return []
        ready = self._fill(right=j) + [(frame, self.landmarks[j])]
        self._last_good = j
        return ready

    def _fill(self, right: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Fill the waiting dropout from the detections at its ends (``right`` None: the video's end)."""
        if not self._waiting:
            return []
        known = [g for g in (self._last_good, right) if g is not None]
        xp = np.array(known, np.float64)
        fp = np.stack([self.landmarks[g].reshape(-1) for g in known])  # (1 or 2, 136)
        gap = np.array([j for j, _ in self._waiting], np.float64)
        for j, column in zip(gap.astype(int), np.stack([np.interp(gap, xp, fp[:, c]) for c in range(fp.shape[1])],
                                                       axis=1), strict=True):
            self.landmarks[j][:] = column.reshape(68, 2)
        ready = [(frame, self.landmarks[j]) for j, frame in self._waiting]
        self._waiting = []
        return ready

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The frames still waiting (a dropout at the video's end), filled; raises if a dropout was too long (or no
        face was found at all), warns about the ones filled."""
        missing = np.array(self.missing, bool)
        index = np.array(self.index, np.int64)
        runs = _runs(missing)
        fatal = [r for r in runs if r[1] - r[0] + 1 > self.max_gap]
        if missing.all():  # nothing to fill from, however long the gaps may be
            fatal = runs
        if fatal:
            raise ValueError(f"no face found in frames {_frame_ranges(fatal, index)} of {self.name}; check that one "
                             "frontal, well-lit face is visible there (or cut them off), or pass --landmarks "
                             f"FILE.npy with (T, 68, 2) landmarks from another detector.{self.hint}")
        ready = self._fill(right=None)
        if runs:
            warnings.warn(f"no face in frames {_frame_ranges(runs, index)} of {self.name}; interpolated the landmarks "
                          "there", stacklevel=3)
        return ready


class _GivenLandmarks:
    """Landmarks from another detector (an array or ``.npy`` file of ``(n_frames, 68, 2)`` video pixels), picked
    for the model frames as they come.

    The video is assumed to have one frame per row (``n_frames`` is known only at its end): the rows of the
    model frames are picked by :func:`resample_index` of that count, scaled, and checked to lie in the frame
    as soon as the first frame shows its size. A video that turns out longer or shorter fails, at its end, with
    the message that names both counts.
    """

    def __init__(self, landmarks, *, fps: float, model_fps: float, name: str):
        self.name, self.fps, self.model_fps = name, fps, model_fps
        self.source, self.what = landmarks, "the given landmarks"
        if isinstance(landmarks, (str, os.PathLike)):
            self.source, self.what = load_landmarks(landmarks), f"--landmarks {landmarks}"
        self.source = np.asarray(self.source, np.float32)
        self.fits = self.source.ndim == 3 and self.source.shape[1:] == (68, 2) and len(self.source) > 0
        self._picked: tuple[np.ndarray, np.ndarray] | None = None  # (video frame, landmarks) per model frame

    def __call__(self, j: int, i: int, frame: np.ndarray, scale: float) -> np.ndarray | None:
        """``(68, 2)`` landmarks of model frame ``j`` (video frame ``i``) in frame pixels; None once the video
        is known not to fit them."""
        if self._picked is None and self.fits:
            index = resample_index(len(self.source), self.fps, self.model_fps)
            self._picked = (index, self.source[index] * scale)
            check_landmarks_in_frame(self._picked[1], frame.shape[0], frame.shape[1], name=self.name,
                                     source=self.what, frames=index)
        if not self.fits or j >= len(self._picked[0]) or self._picked[0][j] != i:
            self.fits = False
            return None
        return self._picked[1][j]

    def check(self, n_frames: int) -> None:
        """Raise unless the video has one row of landmarks per frame."""
        if not self.fits or self.source.shape != (n_frames, 68, 2):
            raise ValueError(f"landmarks for {self.name} must have shape ({n_frames}, 68, 2): iBUG-68 (x, y) pixels "
                             f"for each of its {n_frames} frames; got {self.source.shape}")


# --------------------------------------------------------------------------------------------------
# Spotting
# --------------------------------------------------------------------------------------------------


@dataclass
class SpotResult:
    """What :func:`spot_frames` found in one video.

    Attributes
    ----------
    intervals : one row per interval, columns :data:`OUTPUT_COLUMNS` (video frames).
    spot : ``(T_m,)`` float32 spotting scores at the model's rate.
    probs : ``(T_m, K + 1)`` float32 class probabilities at the model's rate, neutral last.
    index : ``(T_m,)`` video frame of each model frame.
    model_intervals : the decoded intervals in model frames, before the emotion vote (neutral ones too).
    fps, model_fps : frame rates of the video and of the model.
    n_frames : frames of the video.
    video : the video's name.
    decoder : the SISS settings, with ``thresholds`` = (low, high) as scores after smoothing.
    """

    intervals: pd.DataFrame
    spot: np.ndarray
    probs: np.ndarray
    index: np.ndarray
    model_intervals: list[Interval]
    fps: float
    model_fps: float
    n_frames: int
    video: str
    decoder: dict = field(default_factory=dict)

    def report(self, truth: pd.DataFrame | str | os.PathLike | None = None) -> str:
        """The interval table as text; with an events table ``truth`` (or its CSV), matched against its MEs.

        ``truth`` has ``onset, offset`` in video frames, and may have ``video`` (other videos' rows are
        ignored), ``kind`` (only ``"micro"`` rows are matched) and ``emotion``. Matching is the MEGC rule:
        one-to-one at IoU >= 0.5 (:func:`melab.metrics.spotting_scores`).
        """
        truth = _read_truth(truth)
        lines = [f"{self.video}: {len(self.intervals)} interval(s) in {self.n_frames} frames at {self.fps:g} fps "
                 f"(model rate {self.model_fps:g} fps)"]
        table = self.intervals.drop(columns="video").round({"score": 3})
        if truth is not None:
            from melab.metrics import spotting_scores  # here: scoring against a truth is the rare case

            truth = _truth_of(truth, self.video)
            micro = truth[truth["kind"] == "micro"] if "kind" in truth.columns else truth
            micro = micro.reset_index(drop=True)
            s = spotting_scores(table[["onset", "offset"]].to_numpy().tolist(),
                                micro[["onset", "offset"]].to_numpy().tolist())
            match = s.matches.set_index("pred_row")
            table["true_me"] = [f"{match.true_onset[i]}–{match.true_offset[i]}" if i in match.index else "FP"
                                for i in range(len(table))]
            if "emotion" in micro.columns:
                table["true_emotion"] = [micro.emotion[match.true_row[i]] if i in match.index else "-"
                                         for i in range(len(table))]
            table["iou"] = [round(match.iou[i], 2) if i in match.index else 0.0 for i in range(len(table))]
            missed = micro.drop(index=s.matches["true_row"])
        if len(table):
            lines.append(table.to_string(index=False))
        if truth is not None:
            if len(missed):
                lines.append("missed MEs: " + ", ".join(f"{r.onset}–{r.offset}" for r in missed.itertuples()))
            lines.append(f"against {len(micro)} true ME(s), IoU >= 0.5: TP {s.tp}  FP {s.fp}  FN {s.fn}  "
                         f"precision {s.precision:.3f}  recall {s.recall:.3f}  F1 {s.f1:.3f}")
        return "\n".join(lines)


def spot_frames(frames: np.ndarray, index: np.ndarray, *, fps: float, n_frames: int, spotter: SpotterModel,
                landmarks="mediapipe", scale: float = 1.0, video: str = "video", low: float | None = None,
                high: float | None = None, smooth: int | None = None, k_decode: int | None = None,
                penalty: Mapping[str, float] | None = None, max_gap_s: float = 0.2, workers: int | None = None,
                progress: bool = True) -> SpotResult:
    """Spot MEs in frames already sampled at the model's rate (see :func:`read_resampled`).

    Parameters
    ----------
    frames : ``(T_m, H, W, 3)`` uint8 RGB at ``spotter.fps``.
    index : ``(T_m,)`` video frame number of each of them (:func:`resample_index`).
    fps, n_frames : the video's frame rate and length.
    spotter : from :func:`load_spotter`.
    landmarks : ``"mediapipe"``, or ``(n_frames, 68, 2)`` landmarks of the whole video (array or ``.npy``
        path) in video pixels.
    scale : video pixels × scale = pixels of ``frames`` (for given landmarks).
    video : name for the table and messages.
    low, high, smooth : SISS thresholds in absolute score units and the box-filter width
        (:func:`melab.decode.siss` with ``scale="absolute"``): a confident spotter stays silent on a
        video without MEs. Each one not given comes from ``data/spot_decoding.json``
        (:func:`default_decoding`): chosen by the nested rule on the shipped spotter's training data (the
        LOSO scores of its corpus), never on the videos it is then used on.
    k_decode : SISS half window in model frames; default ``round(model_fps / 6)``, half of a 1/3-s ME (the
        median ME of CAS(ME)^3 and of the synthetic corpora): 5 frames at 30 fps.
    penalty : subtracted from class probabilities before the emotion vote (:func:`assign_emotions`).
    max_gap_s : face dropouts up to this long are interpolated; longer ones raise.
    workers : processes that compute the ROI flow (:class:`melab.flow.RoiFlowWorkers`); 0 computes it here;
        default as in :func:`spot_video`. The result is the same.
    progress : show a progress bar over the frames (``TQDM_DISABLE=1`` silences it).

    Returns
    -------
    SpotResult
    """
    with _flow_stage(workers, len(frames) / spotter.fps) as flow:
        return _spot_stream(zip(index, frames, strict=True), flow, spotter=spotter, video=video, fps=lambda: fps,
                            n_frames=lambda: n_frames, scale=lambda: scale, expected=len(frames),
                            landmarks=landmarks, low=low, high=high, smooth=smooth, k_decode=k_decode,
                            penalty=penalty, max_gap_s=max_gap_s, progress=progress)


# For a video shorter than this (seconds), starting worker processes costs more than it saves.
PARALLEL_FROM_S = 20.0


def _flow_stage(workers: int | None, seconds: float | None) -> RoiFlowWorkers | contextlib.nullcontext:
    """Worker processes for the ROI flow of a video ``seconds`` long, started now, or none (computed here).

    ``workers`` None: one per CPU core (at most 4) for a video of at least :data:`PARALLEL_FROM_S` seconds (or of
    unknown length), else none.
    """
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if seconds is None or seconds >= PARALLEL_FROM_S else 0
    return RoiFlowWorkers(workers) if workers > 0 else contextlib.nullcontext()


def _spot_stream(picked: Iterable[tuple[int, np.ndarray]], flow, *, spotter: SpotterModel, video: str, fps, n_frames,
                 scale, expected: int | None, landmarks="mediapipe", low: float | None = None,
                 high: float | None = None, smooth: int | None = None, k_decode: int | None = None,
                 penalty: Mapping[str, float] | None = None, max_gap_s: float = 0.2,
                 progress: bool = True) -> SpotResult:
    """Spot MEs in picked frames that arrive one at a time: ``(video frame number, RGB frame)`` at the model's rate.

    Each frame gets its landmarks as it comes (MediaPipe tracks the face frame by frame), waits only while a
    dropout is open, and goes on to the ROI flow (``flow``: :class:`melab.flow.RoiFlowWorkers`, or None to compute
    it here with a :class:`melab.flow.RoiFlowStream`), which keeps one window of grey frames. The model sees the
    stitched ROI series (T × 36 floats) once the video has ended. ``fps``, ``n_frames`` and ``scale`` are callables
    read when their value is known (a file's length at its end); the other keywords are :func:`spot_frames`'.
    """
    low, high, smooth = decoding_settings(low, high, smooth)  # checked before the work
    layout = REFERENCE_SERIES_OPTIONS if spotter.layout == "reference" else {}
    options = dict(k=spotter.k, name=video, **layout)
    flow = flow.configure(**options) if isinstance(flow, RoiFlowWorkers) else RoiFlowStream(**options)
    given = None
    if not (isinstance(landmarks, str) and landmarks == "mediapipe"):
        given = _GivenLandmarks(landmarks, fps=fps(), model_fps=spotter.fps, name=video)
    track = _FaceTrack(int(max_gap_s * spotter.fps), video, detector=given is None)
    # pass `disable` only to switch the bar off, so that TQDM_DISABLE=1 in the environment still works
    with FaceMeshTracker(name=video) if given is None else contextlib.nullcontext() as tracker, \
            tqdm(total=expected, desc=f"spot {video}", unit="frame", **({} if progress else {"disable": True})) as bar:
        n_model = 0
        for j, (i, frame) in enumerate(picked):
            n_model = j + 1
            bar.update()
            points = tracker(frame, int(i)) if given is None else given(j, int(i), frame, scale())
            if points is None:  # the video does not fit the given landmarks: given.check says so at its end
                continue
            for ready in track.push(int(i), frame, points):
                flow.push(*ready)
        n = n_frames()
        if n_model < spotter.k:
            raise ValueError(f"{video} is too short: {n / fps():.2f} s ({n} frames at {fps():g} fps); melab spot "
                             f"needs at least {spotter.k / spotter.fps:.2f} s, one spotter window of {spotter.k} "
                             f"frames at {spotter.fps:g} fps")
        if given is not None:
            given.check(n)
        for ready in track.finish():
            flow.push(*ready)
        bar.set_postfix_str("ROI flow")
        series = flow.finish().series
        bar.set_postfix_str("spotter")
        with torch_threads(1):
            scores = spotter_scores(spotter, series)
    return _decode(scores, np.array(track.index, np.int64), np.array(track.missing, bool), spotter=spotter,
                   video=video, fps=fps(), n_frames=n, low=low, high=high, smooth=smooth, k_decode=k_decode,
                   penalty=penalty)


def _decode(scores, index: np.ndarray, filled: np.ndarray, *, spotter: SpotterModel, video: str, fps: float,
            n_frames: int, low, high, smooth, k_decode, penalty) -> SpotResult:
    """Intervals, emotions and the result table from whole-video scores (see :func:`spot_frames`)."""
    k_decode = k_decode if k_decode is not None else max(1, round(spotter.fps / 6))
    model_intervals = siss(scores.spot, k_decode, low, high, smooth=smooth, scale="absolute")
    rows = assign_emotions(scores.probs, model_intervals, labels=spotter.labels, penalty=penalty)
    kept = [(onset, offset) for onset, offset, _, _ in rows]
    spans = to_video_intervals(kept, fps, spotter.fps, n_frames)
    smoothed = smooth_scores(scores.spot, smooth)
    filled_frames = [np.unique(index[a:b + 1][filled[a:b + 1]]) for a, b, _, _ in rows]
    table = pd.DataFrame(
        [(video, on, off, emotion, float(smoothed[a:b + 1].max()), len(gap))
         for (on, off), (a, b, emotion, _), gap in zip(spans, rows, filled_frames, strict=True)],
        columns=OUTPUT_COLUMNS,
    ).astype({"onset": "int64", "offset": "int64", "score": "float64", "interpolated_frames": "int64"})
    for (on, off), gap in zip(spans, filled_frames, strict=True):
        if len(gap):
            where = _frame_ranges(_runs(np.isin(index, gap)), index)
            warnings.warn(f"interval {on}–{off} of {video} overlaps frames {where} "
                          "where no face was found and the landmarks were interpolated: its score may come from the "
                          "gap, not from an ME (column interpolated_frames)", stacklevel=4)
    decoder = dict(method="siss", k=k_decode, low=low, high=high, smooth=smooth, scale="absolute",
                   thresholds=(low, high))
    return SpotResult(table, scores.spot, scores.probs, index, model_intervals, float(fps), spotter.fps,
                      n_frames, video, decoder)


def spot_video(path: str | os.PathLike, *, checkpoint: str | os.PathLike | SpotterModel | None = None,
               fps: float | None = None, max_side: int = 640, official: str = "casme3", workers: int | None = None,
               **options) -> SpotResult:
    """Spot MEs in a video file or image folder, streamed: frames are decoded, tracked and turned into flow one
    at a time, so memory stays bounded however long the video (only the picked frames of one flow window and
    the ROI series are held).

    Parameters
    ----------
    path : the video (any frame rate; resampled to the model's, see the module docstring).
    checkpoint : spotter checkpoint path (melab's, or an official weight file) or a loaded
        :class:`SpotterModel`; default the shipped one.
    official : for an official weight file, the dataset it was trained on (:data:`OFFICIAL_DATASETS`).
    fps : the video's frame rate (required for an image folder; overrides a file's own).
    max_side : see :func:`read_resampled`.
    workers : processes that compute the ROI flow while this one decodes and tracks the face; default one per
        CPU core (at most 4) for a video of :data:`PARALLEL_FROM_S` seconds or more, else 0: everything is computed
        here. The result is the same.
    **options : keywords of :func:`spot_frames` (``landmarks, low, high, smooth, k_decode, penalty,
        max_gap_s, progress``).

    Returns
    -------
    SpotResult, equal to :func:`spot_frames` on :func:`read_resampled`'s frames.
    """
    spotter = checkpoint if isinstance(checkpoint, SpotterModel) else load_spotter(checkpoint, official=official)
    with VideoReader(path, fps, max_side=max_side, fps_flag="--fps") as reader:
        if reader.files is not None:
            index = resample_index(len(reader.files), reader.fps, spotter.fps)
            picked, expected = zip(index, reader.pick(index), strict=True), len(index)
        else:  # a file's header may state a wrong length; it only sizes the progress bar and the flow stage
            picked = resample_frames(reader.frames(), reader.fps, spotter.fps)
            expected = round(reader.n_declared * spotter.fps / reader.fps) or None

        def n_frames() -> int:
            if reader.files is None and reader.n_read == 0:
                raise VideoError(f"video {reader.path} holds zero frames (corrupt, truncated or not a video)")
            return len(reader.files) if reader.files is not None else reader.n_read

        with _flow_stage(workers, expected and expected / spotter.fps) as flow:  # starts while MediaPipe loads
            return _spot_stream(picked, flow, spotter=spotter, video=Path(path).stem, fps=lambda: reader.fps,
                                n_frames=n_frames, scale=lambda: reader.scale, expected=expected, **options)


def spot(video: str | os.PathLike, out: str | os.PathLike | None = None, *,
         checkpoint: str | os.PathLike | None = None, plot: str | os.PathLike | None = None,
         truth: str | os.PathLike | pd.DataFrame | None = None, landmarks="mediapipe", fps: float | None = None,
         **options) -> SpotResult:
    """What ``melab spot VIDEO --out FILE.csv [--checkpoint PATH] [--plot FILE.png]`` does.

    Parameters
    ----------
    video : video file or image folder.
    out : CSV to write (one row per interval: ``video, onset, offset, emotion, score``), atomically.
    checkpoint : spotter checkpoint; default the shipped ``data/spotter_lab.pt``.
    plot : PNG to write: the score curve with the intervals (and ``truth``, if given).
    truth : events table or CSV (``video, onset, offset``, optionally ``kind, emotion``) to draw and to
        compare with in :meth:`SpotResult.report`.
    landmarks : ``"mediapipe"`` or a ``.npy`` file of ``(T, 68, 2)`` landmarks in video pixels.
    fps : the video's frame rate, if its container has none or it is an image folder.
    **options : more keywords of :func:`spot_video` / :func:`spot_frames`.

    Returns
    -------
    SpotResult
    """
    # everything that can fail is checked before the work, so that a failure writes nothing
    if out is not None:
        check_output_file(out, "--out")
    if plot is not None:
        check_output_file(plot, "--plot")
    given_landmarks = None if isinstance(landmarks, str) and landmarks == "mediapipe" else landmarks
    model_path = checkpoint.path if isinstance(checkpoint, SpotterModel) else checkpoint or DEFAULT_CHECKPOINT
    check_paths({"VIDEO": video, "--checkpoint": model_path,
                 "--truth": truth if isinstance(truth, (str, os.PathLike)) else None,
                 "--landmarks": given_landmarks if isinstance(given_landmarks, (str, os.PathLike)) else None},
                [Output("--out", out), Output("--plot", plot)])
    truth = _read_truth(truth)
    if isinstance(given_landmarks, (str, os.PathLike)):
        load_landmarks(given_landmarks)  # a bad file fails here, before the work
    decoding_settings(options.get("low"), options.get("high"), options.get("smooth"))
    result = spot_video(video, checkpoint=checkpoint, landmarks=landmarks, fps=fps, **options)
    if out is not None:
        with atomic_path(out) as tmp:
            result.intervals.to_csv(tmp, index=False)
    if plot is not None:
        import matplotlib.pyplot as plt

        from melab.viz.spot import plot_spotting

        fig = plot_spotting(result, truth=None if truth is None else _truth_of(truth, result.video, warn=False))
        with atomic_path(plot) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
    return result


def _read_truth(truth) -> pd.DataFrame | None:
    """An events table, or its CSV, checked value by value: an error names the file (or table), the row and what
    is wrong, before any work. Frames become int64, ``kind`` and ``emotion`` lower case; exact duplicate rows are
    warned about (each would count as one more expression to find)."""
    if truth is None:
        return None
    if not isinstance(truth, pd.DataFrame):
        path = Path(truth)
        if not path.is_file():
            raise FileNotFoundError(f"--truth {path}: no such file" if not path.exists() else
                                    f"--truth {path} is a folder; give an events CSV")
        try:
            truth = pd.read_csv(path, dtype={"subject": str, "video": str})
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise ValueError(f"--truth {path} is not a CSV file ({type(err).__name__}: {err})") from None
        source = f"--truth {path}"

        def row(i) -> str:
            return f"line {i + 2}"  # the header is line 1
    else:
        source = "the truth table"

        def row(i) -> str:
            return f"row {i!r}"
    missing = [c for c in ("onset", "offset") if c not in truth.columns]
    if missing:
        raise ValueError(f"{source} has no column(s) {', '.join(missing)}; an events CSV needs video, onset, offset "
                         f"(0-based frames) and optionally kind, emotion; found {', '.join(map(str, truth.columns))}")
    truth = truth.copy()
    for column in ("onset", "offset"):
        raw = truth[column]
        number = pd.to_numeric(raw, errors="coerce").astype(np.float64)
        bad = ~np.isfinite(number) | (number != np.round(number)) | (number < 0) | (number > MAX_FRAME)
        if bad.any():
            i = bad[bad].index[0]
            shown = "(blank)" if pd.isna(raw[i]) else repr(raw[i]) if isinstance(raw[i], str) else str(raw[i])
            raise ValueError(f"{source}, {row(i)}: {column} {shown} is not a frame number (a whole number from 0 to "
                             f"{MAX_FRAME:.0e}, 0-based); {int(bad.sum())} row(s) like it. Fix or delete them")
        truth[column] = number.astype(np.int64)
    late = truth["onset"] > truth["offset"]
    if late.any():
        i = late[late].index[0]
        raise ValueError(f"{source}, {row(i)}: onset {truth.onset[i]} is after offset {truth.offset[i]} (frames are "
                         f"0-based and inclusive); {int(late.sum())} row(s) like it")
    for column in ("kind", "emotion"):
        if column in truth.columns:
            truth[column] = truth[column].astype("string").str.strip().str.lower()
    if "kind" in truth.columns:
        odd = ~truth["kind"].isin(["micro", "macro"])
        if odd.any():
            i = odd[odd].index[0]
            raise ValueError(f"{source}, {row(i)}: kind {truth['kind'][i]!r} is neither micro nor macro (only micro "
                             "rows are matched)")
    key = [c for c in ("video", "onset", "offset", "kind") if c in truth.columns]
    twice = truth.duplicated(subset=key, keep="first")
    if twice.any():
        rows = ", ".join(row(i) for i in twice[twice].index[:3])
        warnings.warn(f"{source} repeats {int(twice.sum())} row(s) ({rows}{', ...' if twice.sum() > 3 else ''}); "
                      "each copy is one more expression to find, so recall and F1 are lower. Delete the copies",
                      stacklevel=3)
    return truth


def _truth_of(truth: pd.DataFrame, video: str, *, warn: bool = True) -> pd.DataFrame:
    """The rows of ``truth`` for ``video``, its names compared as :func:`melab.data.ids.normalise_id` does
    (``EP01`` is ``ep01``), with ``video`` spelt as the file is; every row when the table has no ``video``."""
    if "video" not in truth.columns:
        return truth
    mine = truth["video"].map(normalise_id) == normalise_id(video)
    if warn and len(truth) and not mine.any():
        warnings.warn(f"no row of the truth table is for video {video!r} (it names {spellings(truth['video'])}); "
                      "every interval counts as a false positive. The video column must be the file's stem",
                      stacklevel=3)
    return truth[mine].assign(video=video)


# --------------------------------------------------------------------------------------------------
# A bundled sample
# --------------------------------------------------------------------------------------------------


def make_sample_video(path: str | os.PathLike, *, seed: int = 1, subject_index: int = 0, video_index: int = 0,
                      duration_s: float = 20.0, fps: float = 30.0, n_me: int = 4, n_mae: int = 3,
                      difficulty: str | None = None) -> tuple[Path, Path]:
    """Write a synthetic face video as MP4, with its events table next to it.

    The default seed 1 draws a subject that is in no corpus the shipped spotter saw (those use seed 0),
    so ``melab spot`` on it is a fair held-out check.

    Parameters
    ----------
    path : the ``.mp4`` to write; the events go to ``<stem>_events.csv`` beside it.
    seed, subject_index, video_index, duration_s, fps, n_me, n_mae, difficulty :
        passed to :func:`melab.data.synthetic.generate_video` (``"easy"`` draws clearly separable MEs, the
        default ``"realistic"`` ones as hard as real data).

    Returns
    -------
    (video path, events path). The events' ``video`` column is the file's stem, as ``melab spot`` names it.
    """
    from melab.data.synthetic import generate_video
    from melab.data.video import write_video

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clip = generate_video(seed, subject_index, video_index, duration_s=duration_s, fps=fps, n_me=n_me,
                          n_mae=n_mae, difficulty=difficulty)
    write_video(clip.frames, path, fps)
    events = clip.events.assign(video=path.stem)
    events_path = path.with_name(f"{path.stem}_events.csv")
    with atomic_path(events_path) as tmp:
        events.to_csv(tmp, index=False)
    return path, events_path
