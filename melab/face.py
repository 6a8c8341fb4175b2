"""Faces: 68-point landmarks, the reference crop, and named regions of interest (ROIs).

Everything here works on plain arrays in pixels, (x, y) order, iBUG 68-point layout (0-based: jaw 0-16,
right brow 17-21, left brow 22-26, nose ridge 27-30, nostrils 31-35, right eye 36-41, left eye 42-47, outer
lip 48-59, inner lip 60-67; "right" is the subject's right, on the image's left).

The one length unit of the module is **g**, half the distance between the inner eye corners (iBUG 39 and
42). The reference crop is 9 g square, so after cropping to ``size`` pixels g is ``size / 9`` for every face,
and the ROI table below can state its paddings in g once for all crop sizes.

Landmarks come from two sources:

- ``source="synthetic"``: the ground truth of a synthetic video, passed through after validation;
- ``source="mediapipe"``: MediaPipe face mesh 0.10.14, fully offline (its model ships inside the wheel), with
  its 468 points mapped to the 68 of iBUG by :data:`IBUG_FROM_MEDIAPIPE`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass, replace

import cv2
import numpy as np

__all__ = [
    "FaceMeshTracker",
    "IBUG_FROM_MEDIAPIPE",
    "NOSE_ROI",
    "REFERENCE_ROIS",
    "ROI",
    "apply_crop",
    "crop_affine",
    "crop_face",
    "detect_landmarks",
    "eye_unit",
    "fill_gaps",
    "landmark_jumps",
    "mediapipe_landmarks",
    "multiscale_rois",
    "roi_boxes",
    "roi_names",
    "warn_landmark_jumps",
]

# --------------------------------------------------------------------------------------------------
# MediaPipe face mesh (468 points) -> iBUG 68
# --------------------------------------------------------------------------------------------------

# How each group was chosen. MediaPipe's face-mesh contours (``FACEMESH_FACE_OVAL``, ``FACEMESH_LIPS``, the
# eye and brow contours in ``mediapipe.python.solutions.face_mesh_connections``) run through the same
# anatomical curves as the iBUG groups. For each group we walk the mesh contour between the iBUG end points
# and keep the mesh vertices nearest to evenly spaced arc-length positions (the spacing of the iBUG layout),
# measured on the frontal face of ``skimage.data.astronaut()``, then make the choice left-right symmetric
# using the mesh's mirror pairs (e.g. 234 <-> 454, 61 <-> 291, 33 <-> 263).
IBUG_FROM_MEDIAPIPE = np.array([
    # jaw 0-16: face oval from 127 (subject's right, level with the eyes) via the chin 152 to 356.
    127, 234, 132, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 361, 454, 356,
    # right brow 17-21, outer -> inner: upper brow contour.
    70, 63, 105, 66, 107,
    # left brow 22-26, inner -> outer: the mirror pairs of the right brow.
    336, 296, 334, 293, 300,
    # nose ridge 27-30: nasion 168 down the ridge to the tip 1, evenly spaced in y.
    168, 197, 5, 1,
    # nostrils 31-35: right alar base 98, 97, subnasale 2, 326, left alar base 327.
    98, 97, 2, 326, 327,
    # right eye 36-41: outer corner 33, upper lid 160 158, inner corner 133, lower lid 153 144.
    33, 160, 158, 133, 153, 144,
    # left eye 42-47: inner corner 362, upper lid 385 387, outer corner 263, lower lid 373 380.
    362, 385, 387, 263, 373, 380,
    # outer lip 48-59: corner 61, upper contour 39 37 0 267 269, corner 291, lower contour 321 314 17 84 91.
    61, 39, 37, 0, 267, 269, 291, 321, 314, 17, 84, 91,
    # inner lip 60-67: corner 78, upper 81 13 311, corner 308, lower 402 14 178.
    78, 81, 13, 311, 308, 402, 14, 178,
], dtype=np.int64)

_INSTALL_HINT = (
    "MediaPipe is needed for landmarks on real faces but is not installed. Install it with "
    "`pip install --no-deps mediapipe==0.10.14` and `pip install -e .[face]` (or run `make install`); "
    "for synthetic videos pass `source='synthetic'` with the true landmarks instead."
)


def _import_mediapipe():
    try:
        import mediapipe as mp
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    if not hasattr(mp, "solutions"):
        raise ImportError(f"this MediaPipe ({mp.__version__}) has no `solutions` API. {_INSTALL_HINT}")
    return mp


def _as_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB of shape (T, H, W, 3) or (H, W, 3); got {frames.dtype} "
                         f"{frames.shape}")
    return frames


@contextlib.contextmanager
def _native_stderr_silenced():
    """Silence file descriptor 2 while MediaPipe runs: its C++ side logs TFLite and absl chatter there.

    Its real failures still surface, as Python exceptions.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


MIN_FACE_PX = 64  # jaw width in pixels below which landmarks and the 128-px crop's flow lose precision
SECOND_FACE_EVERY = 30  # frames between two checks for a second face (once a second at 30 fps)


class FaceMeshTracker:
    """MediaPipe face mesh over a stream of frames, one at a time, mapped to iBUG 68.

    In tracking mode (``static_image_mode=False``) each frame's landmarks seed the next frame's search, so
    frames must come in order, all through one tracker; :func:`mediapipe_landmarks` is this tracker run over
    an array. Use it as a context manager (it holds MediaPipe's graph).

    Parameters
    ----------
    static_image_mode : detect on every frame independently (True) or track between frames (False).
    min_detection_confidence : MediaPipe's face-detector threshold.
    name : the video, for the warnings.

    Warns
    -----
    On leaving the context after the last frame: when a second face is in view (checked on one frame in
    :data:`SECOND_FACE_EVERY`, with a two-face detector of its own, so the track stays MediaPipe's single-face one),
    and when the face is smaller than :data:`MIN_FACE_PX` wide (its landmarks, crop and flow lose precision; a
    video shrunk to fit a size limit can make a distant face that small).
    """

    def __init__(self, *, static_image_mode: bool = False, min_detection_confidence: float = 0.5,
                 name: str = "the video"):
        self._mp = _import_mediapipe()
        self._options = dict(static_image_mode=static_image_mode, max_num_faces=1, refine_landmarks=False,
                             min_detection_confidence=min_detection_confidence)
        self._mesh = self._probe = None
        self.name = name
        self._count = 0
        self._second: list[int] = []  # frame numbers with two faces
        self._widths: list[float] = []  # jaw width of every frame with a face, pixels (a float a frame)
        self._size = (0, 0)

    def __call__(self, frame: np.ndarray, number: int | None = None) -> np.ndarray:
        """``(68, 2)`` float32 pixels of the face in one ``(H, W, 3)`` uint8 RGB frame; NaN if none was found.
        ``number``: the frame's number in its video, for the warnings (default: its place in this stream)."""
        h, w = frame.shape[:2]
        number = self._count if number is None else int(number)
        out = np.full((68, 2), np.nan, np.float32)
        image = np.ascontiguousarray(frame)
        # MediaPipe's graph starts with the first frame; its threads log TFLite and absl chatter to file
        # descriptor 2 until that frame is done
        with _native_stderr_silenced() if self._mesh is None else contextlib.nullcontext(), \
                warnings.catch_warnings():
            if self._mesh is None:
                self._mesh = self._mp.solutions.face_mesh.FaceMesh(**self._options)
                self._probe = self._mp.solutions.face_mesh.FaceMesh(
                    **{**self._options, "static_image_mode": True, "max_num_faces": 2})
            # MediaPipe 0.10.14 calls a protobuf API that newer protobuf deprecates; not ours to fix.
            warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
            found = self._mesh.process(image).multi_face_landmarks
            if self._count % SECOND_FACE_EVERY == 0 and len(self._probe.process(image).multi_face_landmarks or ()) > 1:
                self._second.append(number)
        self._count += 1
        self._size = (w, h)
        if found:
            pts = found[0].landmark
            out[:] = [(pts[j].x * w, pts[j].y * h) for j in IBUG_FROM_MEDIAPIPE]
            self._widths.append(float(np.ptp(out[:, 0])))
        return out

    def _warn(self) -> None:
        """The warnings the class docstring lists, about every frame seen."""
        if self._second:
            shown = ", ".join(map(str, self._second[:5])) + (f" and {len(self._second) - 5} more"
                                                               if len(self._second) > 5 else "")
            warnings.warn(f"a second face is in view in frames {shown} of {self.name} ({self._count} frames, checked "
                          f"one in {SECOND_FACE_EVERY}); the landmarks follow one face and may jump to the other. "
                          "Crop the video to one face", stacklevel=3)
        if self._widths and (width := float(np.median(self._widths))) < MIN_FACE_PX:
            w, h = self._size
            warnings.warn(f"the face is only {width:.0f} px wide in the {w}x{h} frames of {self.name} (below "
                          f"{MIN_FACE_PX} px its landmarks and flow lose precision, and below about 20 px it is not "
                          "found); use a video in which the face fills more of the frame", stacklevel=3)

    def close(self) -> None:
        for mesh in (self._mesh, self._probe):
            if mesh is not None:
                mesh.close()
        self._mesh = self._probe = None

    def __enter__(self) -> FaceMeshTracker:
        return self

    def __exit__(self, error: type[BaseException] | None, *exc) -> None:
        self.close()
        if error is None:
            self._warn()


def mediapipe_landmarks(frames: np.ndarray, *, static_image_mode: bool | None = None,
                        min_detection_confidence: float = 0.5) -> np.ndarray:
    """Run MediaPipe face mesh on every frame and map its 468 points to iBUG 68 (:class:`FaceMeshTracker`).

    Parameters
    ----------
    frames : ``(T, H, W, 3)`` or ``(H, W, 3)`` uint8 RGB.
    static_image_mode : detect on every frame independently (True) or track between frames (False).
        Default: True for a single image, False for a video.
    min_detection_confidence : MediaPipe's face-detector threshold.

    Returns
    -------
    ``(T, 68, 2)`` float32 pixels; NaN on frames where no face was found.

    Warns
    -----
    As :class:`FaceMeshTracker`: a second face in view, a face under :data:`MIN_FACE_PX` wide.
    """
    frames = _as_frames(frames)
    static = (len(frames) == 1) if static_image_mode is None else static_image_mode
    out = np.full((len(frames), 68, 2), np.nan, np.float32)
    with FaceMeshTracker(static_image_mode=static, min_detection_confidence=min_detection_confidence) as track:
        for i, frame in enumerate(frames):
            out[i] = track(frame)
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) index pairs of the True runs of a 1-D boolean mask."""
    padded = np.r_[False, mask, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _format_runs(runs: list[tuple[int, int]], limit: int = 5) -> str:
    text = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in runs[:limit])
    return text + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


def eye_unit(landmarks: np.ndarray) -> np.ndarray:
    """g: half the distance between the inner eye corners (iBUG 39, 42), in pixels.

    ``landmarks`` is ``(..., 68, 2)``; returns an array of shape ``(...)``.
    """
    lm = np.asarray(landmarks, np.float64)
    return 0.5 * np.linalg.norm(lm[..., 42, :] - lm[..., 39, :], axis=-1)


def landmark_jumps(landmarks: np.ndarray, *, max_jump: float = 0.5) -> np.ndarray:
    """Frames where the landmark track jumps.

    A jump at frame ``t`` means that the median displacement of the 68 points from frame ``t - 1`` to ``t``
    exceeds ``max_jump`` g. Real faces move less than that between two frames; a detector that locks onto
    another face or a wrong scale does not.

    Parameters
    ----------
    landmarks : ``(T, 68, 2)`` pixels.
    max_jump : threshold in g (half inner-eye distance).

    Returns
    -------
    1-D int array of frame indices ``t`` (the frame after the jump).
    """
    lm = np.asarray(landmarks, np.float64)
    if len(lm) < 2:
        return np.zeros(0, np.int64)
    step = np.median(np.linalg.norm(np.diff(lm, axis=0), axis=-1), axis=-1)
    return np.flatnonzero(step > max_jump * eye_unit(lm[:-1])) + 1


def warn_landmark_jumps(landmarks: np.ndarray, *, max_jump: float = 0.5, name: str = "the video") -> np.ndarray:
    """Warn (naming the frames) if the landmark track jumps; returns the frames, as :func:`landmark_jumps`."""
    jumps = landmark_jumps(landmarks, max_jump=max_jump)
    if len(jumps):
        where = ", ".join(f"{t - 1}→{t}" for t in jumps[:8]) + (" ..." if len(jumps) > 8 else "")
        warnings.warn(f"landmark track of {name} jumps by more than {max_jump} g between frames {where}; "
                      "check those frames (another face, occlusion) or smooth the landmarks", stacklevel=3)
    return jumps


def detect_landmarks(frames: np.ndarray, *, source: str = "mediapipe", truth: np.ndarray | None = None,
                     name: str = "the video", max_gap: int = 0, max_jump: float = 0.5,
                     static_image_mode: bool | None = None) -> np.ndarray:
    """68-point iBUG landmarks for every frame.

    Parameters
    ----------
    frames : ``(T, H, W, 3)`` (or one ``(H, W, 3)``) uint8 RGB.
    source : ``"mediapipe"`` (face mesh on real faces, offline) or ``"synthetic"`` (``truth`` passed through).
    truth : ``(T, 68, 2)`` true landmarks, required for ``source="synthetic"``.
    name : how errors and warnings refer to the video (e.g. its file name).
    max_gap : runs of at most this many frames without a face are filled by linear interpolation (with a
        warning); longer runs raise. Default 0: every frame must show a face.
    max_jump : warn when the track jumps by more than this many g between frames (see :func:`landmark_jumps`).
    static_image_mode : passed to :func:`mediapipe_landmarks`.

    Returns
    -------
    ``(T, 68, 2)`` float32, (x, y) pixels.

    Raises
    ------
    ValueError
        No face in some frames (the message names them), or malformed ``truth``.
    ImportError
        ``source="mediapipe"`` without MediaPipe installed (the message says how to install it).
    """
    frames = _as_frames(frames)
    if source == "synthetic":
        if truth is None:
            raise ValueError("source='synthetic' needs the true landmarks: pass truth=video.landmarks")
        lm = np.asarray(truth, np.float32)
        if lm.shape != (len(frames), 68, 2):
            raise ValueError(f"truth must have shape ({len(frames)}, 68, 2) to match the frames; got {lm.shape}")
    elif source == "mediapipe":
        lm = mediapipe_landmarks(frames, static_image_mode=static_image_mode)
    else:
        raise ValueError(f"unknown landmark source {source!r}; use 'mediapipe' or 'synthetic'")
    lm = fill_gaps(lm, name=name, max_gap=max_gap)
    warn_landmark_jumps(lm, max_jump=max_jump, name=name)
    return lm


def fill_gaps(landmarks: np.ndarray, *, name: str = "the video", max_gap: int = 0) -> np.ndarray:
    """Interpolate runs of at most ``max_gap`` frames without a face (NaN), with a warning; longer runs, and runs at
    the video's ends, raise an error that names their frames. ``landmarks`` ``(T, 68, 2)`` is filled in place."""
    lm = landmarks
    missing = np.isnan(lm).any(axis=(1, 2))
    if missing.any():
        runs = _runs(missing)
        long_runs = [r for r in runs if r[1] - r[0] + 1 > max_gap or r[0] == 0 or r[1] == len(lm) - 1]
        if long_runs:
            raise ValueError(f"no face found in frames {_format_runs(long_runs)} of {name}; check the video "
                             "(face visible, frontal, lit), or pass source='synthetic' with true landmarks")
        good = np.flatnonzero(~missing)
        flat = lm.reshape(len(lm), -1)
        for c in range(flat.shape[1]):
            flat[missing, c] = np.interp(np.flatnonzero(missing), good, flat[good, c])
        warnings.warn(f"no face in frames {_format_runs(runs)} of {name}; interpolated the landmarks there",
                      stacklevel=3)
    return lm


# --------------------------------------------------------------------------------------------------
# Crop: the reference rule, plus in-plane alignment on the eye line
# --------------------------------------------------------------------------------------------------


def crop_affine(landmarks: np.ndarray, *, size: int = 128, align: bool = True) -> np.ndarray:
    """The affine map from frame pixels to a ``size`` x ``size`` face crop.

    The reference rule: with c the midpoint of the inner eye corners (iBUG 39, 42) and g half their
    distance, the crop spans rows c_y - 3.5 g .. c_y + 5.5 g and columns c_x ± 4.5 g (9 g square), resized to
    ``size``. With ``align=True`` the crop is also rotated about c so that the eye line 39 → 42 is
    horizontal and g is the Euclidean half-distance; ``align=False`` reproduces the reference exactly (no
    rotation, g from the x-distance only).

    Parameters
    ----------
    landmarks : ``(68, 2)`` pixels of the frame that defines the crop.
    size : side of the square crop, pixels. The reference uses 320; 128 is 6x cheaper for flow.
    align : rotate so the eye line is horizontal.

    Returns
    -------
    ``(2, 3)`` float64 matrix ``M``: a frame point ``p`` maps to ``M @ [p_x, p_y, 1]`` in the crop.
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm[[39, 42]]).all():
        raise ValueError(f"crop_affine needs finite (68, 2) landmarks; got shape {lm.shape}")
    a, b = lm[39], lm[42]
    centre = 0.5 * (a + b)
    if align:
        angle = np.arctan2(b[1] - a[1], b[0] - a[0])
        g = 0.5 * np.linalg.norm(b - a)
    else:
        angle, g = 0.0, 0.5 * abs(b[0] - a[0])
    if g < 1e-3:
        raise ValueError("inner eye corners (iBUG 39 and 42) coincide; the landmarks are not a face")
    s = size / (9.0 * g)
    cos, sin = np.cos(angle), np.sin(angle)
    lin = s * np.array([[cos, sin], [-sin, cos]])  # rotate by -angle, then scale
    origin = np.array([4.5 * g, 3.5 * g]) * s  # where the eye midpoint lands in the crop
    return np.c_[lin, origin - lin @ centre]


def apply_crop(affine: np.ndarray, *, size: int, frames: np.ndarray | None = None,
               landmarks: np.ndarray | None = None):
    """Apply a crop affine (from :func:`crop_affine`) to frames and/or landmarks.

    Parameters
    ----------
    affine : ``(2, 3)`` frame → crop map.
    size : crop side in pixels.
    frames : ``(..., H, W, C)`` or ``(H, W)`` uint8/float images; bilinear, borders replicated.
    landmarks : ``(..., 68, 2)`` (or any ``(..., 2)``) points in frame pixels.

    Returns
    -------
    The warped frames ``(..., size, size, C)`` and/or points ``(..., 2)`` in crop pixels: a single array if
    only one of them was given, else the tuple ``(frames, landmarks)``.
    """
    m = np.asarray(affine, np.float64)
    out = []
    if frames is not None:
        arr = np.asarray(frames)
        if arr.ndim <= 3 and (arr.ndim == 2 or arr.shape[-1] in (1, 3)):
            out.append(cv2.warpAffine(arr, m, (size, size), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE))
        else:
            out.append(np.stack([apply_crop(m, size=size, frames=f) for f in arr]))
    if landmarks is not None:
        pts = np.asarray(landmarks, np.float64)
        out.append((pts @ m[:, :2].T + m[:, 2]).astype(np.float32))
    if not out:
        raise ValueError("apply_crop needs frames, landmarks or both")
    return out[0] if len(out) == 1 else tuple(out)


def crop_face(frames: np.ndarray, landmarks: np.ndarray, *, size: int = 128, align: bool = True,
              ref: int = 0):
    """Crop frames with the crop of frame ``ref`` (one crop for all, so motion between frames is kept).

    Parameters
    ----------
    frames : ``(T, H, W, 3)`` or ``(H, W, 3)`` uint8.
    landmarks : ``(T, 68, 2)`` or ``(68, 2)`` pixels.
    size, align : see :func:`crop_affine`.
    ref : index of the frame whose landmarks define the crop.

    Returns
    -------
    ``(crops, crop_landmarks, affine)``: ``(T, size, size, 3)`` uint8, ``(T, 68, 2)`` float32 crop pixels and
    the ``(2, 3)`` affine.
    """
    lm = np.asarray(landmarks, np.float32)
    affine = crop_affine(lm if lm.ndim == 2 else lm[ref], size=size, align=align)
    crops, lms = apply_crop(affine, size=size, frames=frames, landmarks=lm)
    return crops, lms, affine


# --------------------------------------------------------------------------------------------------
# ROIs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ROI:
    """A named box built from landmarks.

    The box is the bounding box of ``points``, grown by ``pad`` = (left, top, right, bottom) in g (negative
    values shrink it), then scaled by ``scale`` about its centre.
    """

    name: str
    kind: str  # "region", "patch" or "nose"
    points: tuple[int, ...]
    pad: tuple[float, float, float, float]
    scale: float = 1.0


def _patch(name: str, point: int, left=0.3, top=0.3, right=0.3, bottom=0.3) -> ROI:
    return ROI(name, "patch", (point,), (left, top, right, bottom))


# The reference's 18 ROIs, in its channel order. Its pixel offsets at a 320-px crop (g = 35.6 px) are
# restated in g: a 20-px patch is ±0.3 g, the mouth region grows 10 px sideways (0.3 g), and so on. The
# brow regions reach 0.3 g above the brow (the reference's are only as tall as the brow's arch, 4-6 px
# at a 128-px crop).
REFERENCE_ROIS: tuple[ROI, ...] = (
    ROI("brow_r", "region", (17, 18, 19, 20, 21), (-0.15, 0.3, -0.3, 0.1)),
    _patch("brow_r_inner", 20),
    _patch("brow_r_mid", 19),
    _patch("brow_r_outer", 18),
    ROI("brow_l", "region", (22, 23, 24, 25, 26), (-0.3, 0.3, -0.15, 0.1)),
    _patch("brow_l_inner", 23),
    _patch("brow_l_mid", 24),
    _patch("brow_l_outer", 25),
    ROI("mouth", "region", tuple(range(48, 67)), (0.3, 0.15, 0.3, 0.0)),
    _patch("mouth_corner_r", 48, right=0.6),  # reaches inward, toward the lips
    _patch("mouth_corner_l", 54, left=0.6),
    _patch("lip_upper", 51),
    _patch("lip_lower", 57),
    _patch("lip_inner", 62),
    _patch("nostril_r", 31, left=0.55, top=0.55, bottom=0.15),  # the wing above and outside the nostril
    _patch("nostril_l", 35, right=0.55, top=0.55, bottom=0.15),
    # below the lower lid (40, 41 / 46, 47), as wide as the eye: the reference's w/4 .. 3w/4 under the eye.
    ROI("under_eye_r", "region", (40, 41), (0.5, -0.25, 0.5, 0.85)),
    ROI("under_eye_l", "region", (46, 47), (0.5, -0.25, 0.5, 0.85)),
)

# Head-motion reference: the upper nose ridge (27-28), ±0.3 g wide. The reference uses the lower ridge
# (29-30, a 16 px wide box at a 320 px crop), but the nose wrinkler AU9 (disgust) lifts the lower nose: on a
# synthetic disgust macro-expression the lower box misread the head motion by 2.2 px, the upper box by 0.3 px.
NOSE_ROI = ROI("nose_ridge", "nose", (27, 28), (0.3, 0.0, 0.3, 0.1))


def multiscale_rois(rois: tuple[ROI, ...] = REFERENCE_ROIS, *, scales: tuple[float, ...] = (1.0, 1.6)
                    ) -> tuple[ROI, ...]:
    """Multi-granularity ROIs (ME-TST+): every region at each of ``scales``, every patch once.

    Regions at scale 1 keep their names; other scales are named ``f"{name}@{scale:g}"`` and follow all the
    scale-1 ROIs, so the first channels stay those of ``rois``.
    """
    if len(scales) < 1 or any(s <= 0 for s in scales):
        raise ValueError(f"scales must be positive; got {scales}")
    out = list(rois) if 1.0 in scales else [r for r in rois if r.kind != "region"]
    for s in scales:
        if s != 1.0:
            out += [replace(r, name=f"{r.name}@{s:g}", scale=s) for r in rois if r.kind == "region"]
    return tuple(out)


def roi_names(rois: tuple[ROI, ...] = REFERENCE_ROIS) -> list[str]:
    """The ROI names, in channel order."""
    return [r.name for r in rois]


def roi_boxes(landmarks: np.ndarray, rois: tuple[ROI, ...] = REFERENCE_ROIS, *, size: int | None = None
              ) -> np.ndarray:
    """Pixel boxes of ``rois`` for one face.

    Parameters
    ----------
    landmarks : ``(68, 2)`` pixels, usually in crop coordinates (then g = size / 9).
    rois : the ROI table.
    size : if given, clip the boxes to a ``size`` x ``size`` image (each keeps at least one pixel).

    Returns
    -------
    ``(R, 4)`` int64 boxes ``(x0, y0, x1, y1)``, end-exclusive: the ROI is ``image[y0:y1, x0:x1]``.
    """
    lm = np.asarray(landmarks, np.float64)
    g = float(eye_unit(lm))
    boxes = np.empty((len(rois), 4))
    for i, r in enumerate(rois):
        pts = lm[list(r.points)]
        left, top, right, bottom = r.pad
        x0, y0 = pts.min(axis=0) - np.array([left, top]) * g
        x1, y1 = pts.max(axis=0) + np.array([right, bottom]) * g
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, r.scale * (x1 - x0) / 2, r.scale * (y1 - y0) / 2
        boxes[i] = cx - hw, cy - hh, cx + hw, cy + hh
    out = np.rint(boxes).astype(np.int64)
    out[:, 2:] = np.maximum(out[:, 2:], out[:, :2] + 1)
    if size is not None:
        out[:, :2] = out[:, :2].clip(0, size - 1)
        out[:, 2:] = np.maximum(out[:, 2:].clip(1, size), out[:, :2] + 1)
    return out
