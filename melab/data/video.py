"""Frames from a video file or an image folder, with clear errors for bad input.

Frames are returned as ``uint8`` arrays ``(T, H, W, 3)`` in RGB order, plus the frame rate in frames per second.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import cv2
import numpy as np

from melab.atomic import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class VideoError(ValueError):
    """A video or image folder that cannot be read as frames."""


def _natural_key(path: Path) -> tuple:
    """Sort ``img_2.jpg`` before ``img_10.jpg``: compare the digit runs as numbers."""
    parts = re.split(r"(\d+)", path.name)
    return tuple(int(p) if p.isdigit() else p.lower() for p in parts)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files of ``folder`` sorted numerically by the numbers in their names.

    Raises
    ------
    VideoError
        When some names carry no number, or two names the same numbers (``img1.jpg``, ``img01.jpg``):
        their order in time is then unknown, and an alphabetical order would scramble the video.
    """
    folder = Path(folder)
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    unnumbered = [p.name for p in files if not re.search(r"\d", p.stem)]
    if unnumbered:
        raise VideoError(f"image folder {folder}: {len(unnumbered)} of {len(files)} file names carry no frame number "
                         f"(e.g. {', '.join(unnumbered[:3])}), so their order in time is unknown; name the frames "
                         "with their numbers (img_00001.jpg, img_00002.jpg, ...)")
    seen: dict[tuple, str] = {}
    for p in files:
        numbers = tuple(int(x) for x in re.findall(r"\d+", p.stem))
        if numbers in seen:
            raise VideoError(f"image folder {folder}: {seen[numbers]} and {p.name} carry the same frame number, so "
                             "their order in time is unknown; keep one frame per number")
        seen[numbers] = p.name
    return files


def warn_if_truncated(path: str | os.PathLike, n_read: int, n_declared: int) -> None:
    """Warn when a video file decodes to fewer frames than its header declares (truncated or corrupt)."""
    if n_declared > n_read:
        warnings.warn(f"video {path}: its header declares {n_declared} frames but only {n_read} could be decoded; "
                      f"frames {n_read}–{n_declared - 1} are missing (truncated or corrupt file?). Using frames "
                      f"0–{n_read - 1} only", stacklevel=3)


def read_frames(path: str | os.PathLike, fps: float | None = None, *, start: int = 0,
                stop: int | None = None) -> tuple[np.ndarray, float]:
    """Read all frames of a video file or an image folder.

    Parameters
    ----------
    path : a video file (anything OpenCV's FFmpeg backend opens: mp4, avi, ...) or a folder of images
        (jpg/png/bmp/tif), sorted numerically by the numbers in their file names.
    fps : frame rate. Required for an image folder; for a video file it overrides the container's rate.
    start, stop : read only frames ``start`` to ``stop - 1`` (0-based).

    Returns
    -------
    frames : ``(T, H, W, 3)`` uint8, RGB.
    fps : frames per second.

    Raises
    ------
    FileNotFoundError : the path does not exist.
    VideoError : the file is unreadable or corrupt, holds zero frames, mixes frame sizes, or has no fps.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such video or image folder: {path}")
    if path.is_dir():
        return _read_folder(path, fps, start, stop)
    return _read_file(path, fps, start, stop)


def _read_folder(path: Path, fps: float | None, start: int, stop: int | None) -> tuple[np.ndarray, float]:
    if fps is None:
        raise VideoError(f"image folder {path} has no frame rate; pass fps= (e.g. fps=30 for CAS(ME)^3)")
    files = list_images(path)[start:stop]
    if not files:
        raise VideoError(f"image folder {path} holds zero frames (looked for {', '.join(IMAGE_SUFFIXES)})")
    frames = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise VideoError(f"cannot decode image {f}: the file is unreadable or corrupt")
        if frames and img.shape != frames[0].shape:
            raise VideoError(f"mixed frame sizes in {path}: {files[0].name} is {frames[0].shape[1]}x"
                             f"{frames[0].shape[0]} but {f.name} is {img.shape[1]}x{img.shape[0]}")
        frames.append(img)
    return _to_rgb(frames), float(fps)


def _read_file(path: Path, fps: float | None, start: int, stop: int | None) -> tuple[np.ndarray, float]:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"cannot open video {path}: the file is unreadable or corrupt")
        rate = fps if fps is not None else cap.get(cv2.CAP_PROP_FPS)
        frames = []
        index = 0
        while stop is None or index < stop:
            ok, img = cap.read()
            if not ok:
                break
            if index >= start:
                if frames and img.shape != frames[0].shape:
                    raise VideoError(f"mixed frame sizes in {path} at frame {index}")
                frames.append(img)
            index += 1
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    if not frames:
        raise VideoError(f"video {path} holds zero frames (corrupt, truncated or not a video)")
    if stop is None or declared < stop:
        warn_if_truncated(path, index, declared)
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise VideoError(f"video {path} does not state its frame rate; pass fps=")
    return _to_rgb(frames), float(rate)


def _to_rgb(frames_bgr: list[np.ndarray]) -> np.ndarray:
    out = np.stack(frames_bgr)
    return np.ascontiguousarray(out[..., ::-1])


def write_video(frames: np.ndarray, path: str | os.PathLike, fps: float) -> Path:
    """Write ``(T, H, W, 3)`` uint8 RGB frames as an MP4 (``mp4v``), atomically (temp file, then rename)."""
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3); got {frames.dtype} {frames.shape}")
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                 (frames.shape[2], frames.shape[1]))
        if not writer.isOpened():
            raise VideoError(f"cannot write video {path}: OpenCV has no MP4 encoder here")
        try:
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
        finally:
            writer.release()
    return path
