"""Onset-apex flow of real ME clips: the apex where a dataset has none, the face crop, and a disk cache.

MERba's input is TV-L1 flow from a clip's onset frame to its apex frame, on an aligned face crop
(:func:`melab.flow.onset_apex_flow`). For a synthetic corpus the true landmarks give the crop; for a real
clip this module finds them, and where a dataset labels no apex (SMIC-HS), it finds the apex too:

- :func:`apex_curve` / :func:`detect_apex`: the apex as the frame of largest motion against the onset;
- :func:`clip_flow`: one clip's flow image with landmarks from MediaPipe (or a fixed centre crop);
- :func:`clip_flows`: every sample of a table (:func:`melab.data.splits.composite_3db`, DFME), cached
  one file per sample, keyed by the clip's images and every setting, written atomically, so an
  interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from melab.atomic import atomic_path
from melab.data.cache import content_digest
from melab.data.video import list_images, read_frames
from melab.face import apply_crop, crop_affine
from melab.flow import onset_apex_flow, optical_flow

__all__ = ["LANDMARK_MODES", "APEX_MODES", "CODE_VERSION", "APEX_CROP", "apex_curve", "detect_apex",
           "centre_square", "onset_landmarks", "clip_flow", "clip_flows"]

LANDMARK_MODES = ("mediapipe", "center")
APEX_MODES = ("label", "detect")
CODE_VERSION = "1"  # bump when a change alters cached flow images
APEX_CROP = 128  # side of the face crop the apex is searched on, pixels


def centre_square(frames: np.ndarray) -> np.ndarray:
    """The largest centred square of each frame: ``(T, H, W, 3)`` -> ``(T, S, S, 3)``, S = min(H, W)."""
    h, w = frames.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return frames[:, top:top + side, left:left + side]


def apex_curve(frames: np.ndarray, *, size: int = 128, method: str = "farneback") -> np.ndarray:
    """Motion of every frame against the first (the onset): mean flow magnitude after removing head motion.

    Each frame's flow from frame 0 is computed on the centre square resized to ``size``; the median flow
    vector of the image (global, i.e. head motion and camera drift) is subtracted before the magnitudes
    are averaged, so a small head shift does not outweigh a local facial movement.

    Parameters
    ----------
    frames : ``(T, H, W, 3)`` uint8 RGB, the clip from its onset (frame 0) to its offset.
    size : side of the square the flow is computed on, pixels.
    method : flow method of :func:`melab.flow.optical_flow` (Farneback: fast, enough to find a peak).

    Returns
    -------
    ``(T,)`` float64, pixels of the ``size`` square; entry 0 is 0.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"frames must be (T, H, W, 3) with T >= 1, got shape {frames.shape}")
    small = [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in centre_square(frames)]
    curve = np.zeros(len(small))
    for t in range(1, len(small)):
        flow = optical_flow(small[0], small[t], method=method).reshape(-1, 2)
        flow = flow - np.median(flow, axis=0)
        curve[t] = float(np.linalg.norm(flow, axis=1).mean())
    return curve


def detect_apex(frames: np.ndarray, *, size: int = 128, method: str = "farneback") -> int:
    """The apex of a clip that has no apex label: the frame of largest motion against the onset.

    MERba's paper takes SMIC-HS's apex from the detector of ME-PLAN (Zhao et al., Neural Networks 2022),
    whose published code follows the optical flow and strain from the onset frame to every later frame in
    facial regions and picks the peak. melab keeps the idea, simplified: the argmax of
    :func:`apex_curve` (mean flow magnitude against the onset, head motion removed) over the whole face
    crop, with no region weighting, so its apexes can differ from the paper's by a few frames.
    :func:`clip_flows` passes the face crop of the onset's landmarks (or the centre square).

    Parameters
    ----------
    frames : ``(T, H, W, 3)`` uint8 RGB, the clip from its onset (frame 0) to its offset, best cropped
        to the face.
    size, method : see :func:`apex_curve`.

    Returns
    -------
    int : 0-based position of the apex in ``frames`` (0 only for a one-frame clip or no motion at all).
    """
    return int(np.argmax(apex_curve(frames, size=size, method=method)))


def onset_landmarks(frame: np.ndarray, *, name: str = "the clip") -> np.ndarray:
    """68 iBUG points ``(68, 2)`` float32 of one frame by MediaPipe's face mesh (pixels).

    Raises
    ------
    ValueError : no face found; the message names the clip and suggests ``landmarks='center'``.
    """
    from melab.face import detect_landmarks

    try:
        return detect_landmarks(frame, source="mediapipe", name=name)[0]
    except ValueError as err:
        raise ValueError(f"{err}; for clips that are face crops already pass landmarks='center'") from None


def clip_flow(frames: np.ndarray, onset: int, apex: int, *, size: int = 96, method: str = "tvl1",
              landmarks: str | np.ndarray = "mediapipe", name: str = "the clip") -> np.ndarray:
    """MERba's input for one real clip: onset-apex flow on the face crop.

    Parameters
    ----------
    frames : ``(T, H, W, 3)`` uint8 RGB.
    onset, apex : 0-based positions in ``frames``.
    size : side S of the output (``MERbaConfig.img_size``).
    method : flow method (TV-L1, as in the paper).
    landmarks : ``"mediapipe"``: 68 iBUG points found by MediaPipe's face mesh on the onset frame give the
        aligned reference crop (:func:`melab.face.crop_affine`), as for every other real video in melab.
        ``"center"``: no face search, the centre square of the frame, resized; for clips that are face
        crops already, and for tests on images MediaPipe cannot read. Or a ``(68, 2)`` array (pixels of
        the onset frame).
    name : how an error names the clip.

    Returns
    -------
    ``(3, S, S)`` float32: dx, dy (pixels of the crop) and optical strain.

    Raises
    ------
    ValueError : no face in the onset frame (``"mediapipe"``), or an unknown ``landmarks``.
    """
    if isinstance(landmarks, str):
        if landmarks == "center":
            return onset_apex_flow(centre_square(frames), onset, apex, size=size, method=method)
        if landmarks != "mediapipe":
            raise ValueError(f"landmarks must be one of {', '.join(LANDMARK_MODES)} or a (68, 2) array; "
                             f"got {landmarks!r}")
        points = onset_landmarks(frames[onset], name=f"{name} (onset frame {onset})")
    else:
        points = np.asarray(landmarks, np.float32)
        if points.shape != (68, 2):
            raise ValueError(f"landmarks of {name} must be (68, 2) pixels of the onset frame, got {points.shape}")
    return onset_apex_flow(frames, onset, apex, size=size, method=method, landmarks=points)


def _clip_identity(path: Path, first: int, last: int) -> str:
    """A digest of the names and bytes of images ``first..last`` of a folder (what the flow reads), not of their
    path, size or time stamp (:func:`melab.data.cache.content_digest`)."""
    images = list_images(path)
    if last >= len(images):
        raise ValueError(f"frames {first}..{last} are beyond the {len(images)} images of {path}")
    return content_digest(images[first:last + 1])


def _entry_key(sample: dict, settings: dict) -> str:
    blob = json.dumps(dict(sample=sample, settings=settings, version=CODE_VERSION), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _load_entry(path: Path) -> tuple[np.ndarray, int] | None:
    """A cached ``(flow, apex)``, or None if the entry is missing or unreadable (it is then recomputed)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return np.asarray(z["flow"], np.float32), int(z["apex"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def clip_flows(samples: pd.DataFrame, *, cache_dir: str | os.PathLike, size: int = 96, method: str = "tvl1",
               landmarks: str = "mediapipe", apex: str | Mapping[str, str] = "label",
               progress: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Onset-apex flow images of every sample of a clip table, cached on disk.

    Parameters
    ----------
    samples : one row per sample with ``path`` (the clip's image folder), ``onset, apex, offset`` (0-based
        positions among the folder's images, sorted by number), ``fps``, and ``dataset`` when ``apex`` is a
        mapping (e.g. :func:`melab.data.splits.composite_3db`).
    cache_dir : folder of the cache: one ``<key>.npz`` per sample (flow and apex). The key hashes the
        images read (names and bytes), the frames, and every setting below, so a changed clip or setting is
        recomputed, never served stale.
    size, method, landmarks : see :func:`clip_flow`.
    apex : ``"label"`` (use the table's apex) or ``"detect"`` (:func:`detect_apex` between onset and
        offset), or a mapping dataset -> mode, e.g. ``{"smic": "detect"}`` (datasets not named: label). A
        sample's own ``apex_mode`` (a column of ``samples``; blank: none) overrides it.
    progress : show a progress bar.

    Returns
    -------
    flows : ``(N, 3, S, S)`` float32.
    samples : a copy of ``samples`` whose ``apex`` is the one used, with ``apex_mode``.

    Each entry is written to a temporary file and renamed into place (:func:`melab.atomic.atomic_path`):
    a killed run leaves only whole entries, and the next call computes only the missing ones.
    """
    modes = dict(apex) if isinstance(apex, Mapping) else None
    if modes is None and apex not in APEX_MODES:
        raise ValueError(f"apex must be one of {', '.join(APEX_MODES)} or a mapping dataset -> mode; got {apex!r}")
    for dataset, mode in (modes or {}).items():
        if mode not in APEX_MODES:
            raise ValueError(f"apex mode of {dataset!r} must be one of {', '.join(APEX_MODES)}, got {mode!r}")
    if landmarks not in LANDMARK_MODES:
        raise ValueError(f"landmarks must be one of {', '.join(LANDMARK_MODES)}, got {landmarks!r}")
    missing = [c for c in ("path", "onset", "apex", "offset", "fps") if c not in samples.columns]
    if missing:
        raise ValueError(f"samples lack column(s) {', '.join(missing)}")
    cache = Path(cache_dir)
    settings = dict(size=size, method=method, landmarks=landmarks)
    out = samples.reset_index(drop=True).copy()
    flows, apexes, used = [], [], []
    rows = out.to_dict("records")
    for row in tqdm(rows, desc="onset-apex flow", disable=not progress):
        mode = (modes or {}).get(row.get("dataset"), "label") if modes is not None else apex
        if isinstance(row.get("apex_mode"), str) and row["apex_mode"]:
            mode = row["apex_mode"]
            if mode not in APEX_MODES:
                raise ValueError(f"apex_mode of sample {row.get('video')!r} must be one of {', '.join(APEX_MODES)}, "
                                 f"got {mode!r}")
        path, onset, offset = Path(row["path"]), int(row["onset"]), int(row["offset"])
        name = f"{row.get('subject', '')}/{row.get('video', path.name)}"
        if not 0 <= onset <= int(row["apex"]) <= offset:
            raise ValueError(f"sample {name}: onset {onset}, apex {row['apex']}, offset {offset} are not in order")
        key = dict(images=_clip_identity(path, onset, offset), onset=onset, offset=offset, apex_mode=mode,
                   apex=int(row["apex"]) if mode == "label" else None)
        entry = cache / f"{_entry_key(key, settings)}.npz"
        cached = _load_entry(entry)
        if cached is None:
            last = int(row["apex"]) if mode == "label" else offset  # a labelled apex needs no frame after it
            frames, _ = read_frames(path, fps=float(row["fps"]), start=onset, stop=last + 1)
            points = onset_landmarks(frames[0], name=f"{name} (onset)") if landmarks == "mediapipe" else None
            if mode == "label":
                peak = int(row["apex"]) - onset
            elif points is None:
                peak = detect_apex(frames)
            else:
                peak = detect_apex(apply_crop(crop_affine(points, size=APEX_CROP), size=APEX_CROP, frames=frames))
            flow = clip_flow(frames, 0, peak, size=size, method=method, name=name,
                             landmarks=landmarks if points is None else points)
            with atomic_path(entry) as tmp:
                np.savez(tmp, flow=flow, apex=np.int64(onset + peak))
            cached = flow, onset + peak
        flows.append(cached[0])
        apexes.append(cached[1])
        used.append(mode)
    out["apex"] = np.asarray(apexes, np.int64)
    out["apex_mode"] = used
    return (np.stack(flows) if flows else np.zeros((0, 3, size, size), np.float32)), out
