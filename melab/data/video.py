"""Frames from a video file or an image folder, with clear errors for bad input.

Frames are returned as ``uint8`` arrays ``(T, H, W, 3)`` in RGB order, plus the frame rate in frames per second.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
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


PLAUSIBLE_FPS = (10.0, 1000.0)  # face videos: webcams 15-60, ME datasets 30-200 (SAMM), high-speed up to 1000


def warn_if_implausible_fps(path: str | os.PathLike, fps: float, *, given: bool, fps_flag: str = "fps=") -> None:
    """Warn when a frame rate lies outside :data:`PLAUSIBLE_FPS`: a container stamped 1 fps (or a mistyped
    ``--fps``) makes every later step wrong without an error (a 30 fps clip read at 1 fps is spotted over 30 times
    its length, each frame repeated 30 times)."""
    low, high = PLAUSIBLE_FPS
    if not low <= fps <= high:
        source = f"{fps_flag}{'' if fps_flag.endswith('=') else ' '}{fps:g} was given" if given else \
            f"its file states {fps:g} fps"
        warnings.warn(f"video {path}: {source}, an implausible rate for a face video (usually {low:g}–{high:g} fps); "
                      f"its timing and every resampling follow from it. If it is wrong, pass the true rate with "
                      f"{fps_flag}", stacklevel=3)


class VideoReader:
    """Frames of a video file or an image folder, decoded one at a time: the one reader of ``melab spot``,
    :mod:`melab.flow` and the datasets.

    Opening checks what can be checked without decoding (the path, the frame rate, an empty folder); iterating
    decodes frame after frame, so a long video never sits in memory whole (like ``torchvision.io.VideoReader``).

    Parameters
    ----------
    path : a video file (anything OpenCV's FFmpeg backend opens: mp4, avi, ...) or a folder of images
        (jpg/png/bmp/tif), sorted numerically by the numbers in their file names (:func:`list_images`).
    fps : frame rate. Required for an image folder; for a video file it overrides the container's rate.
    max_side : frames whose longer side exceeds this are shrunk to it (``cv2.INTER_AREA``), by the factor that
        the first frame read needs (:attr:`scale`); None keeps every frame as it is.
    fps_flag : how messages name the frame-rate option (``"fps="`` in Python, ``"--fps"`` on the command line).

    Attributes
    ----------
    path : Path.
    fps : frames per second.
    n_declared : images in the folder, or frames the file's header declares (a truncated file decodes fewer).
    scale : factor applied to the frames (video pixels × scale = frame pixels); None until a frame is read.
    n_read : frames of a file decoded so far (skipped ones included).

    Raises
    ------
    FileNotFoundError : the path does not exist.
    VideoError : the file cannot be opened or states no frame rate; the folder holds no image or has no frame
        rate; while reading, an image is unreadable or the frame size changes.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = None, *, max_side: int | None = None,
                 fps_flag: str = "fps="):
        self.path = Path(path)
        self.max_side = max_side
        self.scale: float | None = None
        self.n_read = 0
        self._shape: tuple[int, ...] | None = None  # of the first frame read, named self._first
        self._first = ""
        self._capture = None
        if not self.path.exists():
            raise FileNotFoundError(f"no such video or image folder: {self.path}")
        if self.path.is_dir():
            if fps is None:
                raise VideoError(f"image folder {self.path} has no frame rate; pass {fps_flag} (e.g. "
                                 f"{fps_flag}{'' if fps_flag.endswith('=') else ' '}30 for CAS(ME)^3)")
            self.files: list[Path] | None = list_images(self.path)
            if not self.files:
                raise VideoError(f"image folder {self.path} holds zero frames (looked for {', '.join(IMAGE_SUFFIXES)})")
            self.fps, self.n_declared = float(fps), len(self.files)
            warn_if_implausible_fps(self.path, self.fps, given=True, fps_flag=fps_flag)
            return
        self.files = None
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            self.close()
            raise VideoError(f"cannot open video {self.path}: the file is unreadable or corrupt (or not a video)")
        rate = float(fps) if fps is not None else self._capture.get(cv2.CAP_PROP_FPS)
        if not (rate and math.isfinite(rate) and rate > 0):
            self.close()
            raise VideoError(f"video {self.path} does not state its frame rate; pass {fps_flag}")
        self.fps, self.n_declared = float(rate), int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        warn_if_implausible_fps(self.path, self.fps, given=fps is not None, fps_flag=fps_flag)

    def close(self) -> None:
        """Release the file (reading ends by itself at its last frame)."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _frame(self, bgr: np.ndarray, name: str) -> np.ndarray:
        """A decoded BGR image as this reader's RGB frame: size checked against the first, shrunk to ``max_side``."""
        if self._shape is None:
            self._shape, self._first = bgr.shape, name
            self.scale = 1.0 if self.max_side is None else min(1.0, self.max_side / max(bgr.shape[:2]))
        elif bgr.shape != self._shape:
            raise VideoError(f"mixed frame sizes in {self.path}: {self._first} is {self._shape[1]}x{self._shape[0]} "
                             f"but {name} is {bgr.shape[1]}x{bgr.shape[0]}")
        if self.scale != 1.0:
            h, w = bgr.shape[:2]
            bgr = cv2.resize(bgr, (round(w * self.scale), round(h * self.scale)), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # a channel swap, as bgr[..., ::-1], 20x faster

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start .. stop - 1`` (0-based; all by default) as ``(H, W, 3)`` uint8 RGB, one at a time.

        A file is decoded from its first frame (formats cannot seek exactly) and released at its end; a file that
        decodes fewer frames than its header declares gets a warning naming the missing ones.
        """
        if self.files is not None:
            for f in self.files[start:stop]:
                yield self._image(f)
            return
        if self._capture is None:
            raise VideoError(f"video {self.path} was read already; open it again")
        try:
            while stop is None or self.n_read < stop:
                ok, img = self._capture.read()
                if not ok:  # the end of the file: was it all there?
                    warn_if_truncated(self.path, self.n_read, self.n_declared)
                    break
                self.n_read += 1
                if self.n_read > start:
                    yield self._frame(img, f"frame {self.n_read - 1}")
        finally:
            self.close()

    def pick(self, numbers: Sequence[int]) -> Iterator[np.ndarray]:
        """The images ``numbers`` (0-based, any order, repeats allowed) of an image folder, decoding only those."""
        if self.files is None:
            raise TypeError(f"{self.path} is a video file; read its frames in order with frames()")
        for i in numbers:
            yield self._image(self.files[i])

    def _image(self, f: Path) -> np.ndarray:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise VideoError(f"cannot decode image {f}: the file is unreadable or corrupt")
        return self._frame(img, f.name)


def read_frames(path: str | os.PathLike, fps: float | None = None, *, start: int = 0,
                stop: int | None = None) -> tuple[np.ndarray, float]:
    """Read all frames of a video file or an image folder (:class:`VideoReader`, kept whole).

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
    with VideoReader(path, fps) as reader:
        frames = list(reader.frames(start, stop))
    if not frames:
        raise VideoError(f"image folder {reader.path} holds zero frames (looked for {', '.join(IMAGE_SUFFIXES)})"
                         if reader.files is not None else
                         f"video {reader.path} holds zero frames (corrupt, truncated or not a video)")
    return np.stack(frames), reader.fps


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
