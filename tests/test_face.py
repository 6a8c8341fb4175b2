"""Tests for melab.face: landmarks, crop, ROIs."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from melab import face
from melab.face import (
    IBUG_FROM_MEDIAPIPE,
    NOSE_ROI,
    REFERENCE_ROIS,
    apply_crop,
    crop_affine,
    crop_face,
    detect_landmarks,
    eye_unit,
    landmark_jumps,
    multiscale_rois,
    roi_boxes,
    roi_names,
)


def template_face(size: int = 128) -> np.ndarray:
    """A plausible frontal iBUG-68 face (the synthetic corpus' neutral template), centred in ``size``."""
    from melab.data.synthetic import make_subject

    return make_subject(0, 0, size=size).landmarks.astype(np.float64)


def rotate(points: np.ndarray, degrees: float, centre: np.ndarray) -> np.ndarray:
    a = np.deg2rad(degrees)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (points - centre) @ r.T + centre


def test_mediapipe_table_is_68_distinct_mesh_vertices():
    assert IBUG_FROM_MEDIAPIPE.shape == (68,)
    assert len(set(IBUG_FROM_MEDIAPIPE.tolist())) == 68
    assert IBUG_FROM_MEDIAPIPE.min() >= 0 and IBUG_FROM_MEDIAPIPE.max() < 468


def test_crop_puts_inner_eye_corners_where_the_rule_says():
    lm = template_face(200)
    for size in (64, 128, 320):
        m = crop_affine(lm, size=size)
        p39, p42 = apply_crop(m, size=size, landmarks=lm[[39, 42]])
        g = size / 9
        np.testing.assert_allclose(p39, [4.5 * g - g, 3.5 * g], atol=1e-3)
        np.testing.assert_allclose(p42, [4.5 * g + g, 3.5 * g], atol=1e-3)


def test_alignment_levels_a_tilted_eye_line():
    lm = rotate(template_face(), 20.0, np.array([64.0, 64.0]))
    m = crop_affine(lm, size=128, align=True)
    p = apply_crop(m, size=128, landmarks=lm)
    assert abs(p[42, 1] - p[39, 1]) < 1e-3
    assert eye_unit(p) == pytest.approx(128 / 9, rel=1e-4)
    m0 = crop_affine(lm, size=128, align=False)  # reference: no rotation, the eye line stays tilted
    p0 = apply_crop(m0, size=128, landmarks=lm)
    assert p0[42, 1] - p0[39, 1] > 5


def test_unaligned_crop_is_the_reference_box():
    lm = template_face(200)
    a, b = lm[39], lm[42]
    g = (b[0] - a[0]) / 2
    c = (a + b) / 2
    size = 90
    m = crop_affine(lm, size=size, align=False)
    corners = np.array([[c[0] - 4.5 * g, c[1] - 3.5 * g], [c[0] + 4.5 * g, c[1] + 5.5 * g]])
    np.testing.assert_allclose(apply_crop(m, size=size, landmarks=corners), [[0, 0], [size, size]], atol=1e-6)


def test_apply_crop_moves_pixels_and_points_together():
    lm = rotate(template_face(), -12.0, np.array([64.0, 64.0]))
    img = np.zeros((128, 128, 3), np.uint8)
    x, y = np.rint(lm[30]).astype(int)
    img[y - 1:y + 2, x - 1:x + 2] = 255
    crops, clm, _ = crop_face(np.stack([img, img]), np.stack([lm, lm]), size=96)
    assert crops.shape == (2, 96, 96, 3) and clm.shape == (2, 68, 2)
    cy, cx = np.unravel_index(np.argmax(crops[0, ..., 0]), (96, 96))
    m = crop_affine(lm, size=96)
    px, py = apply_crop(m, size=96, landmarks=np.array([x, y], float))
    assert abs(cx - px) <= 1 and abs(cy - py) <= 1


def test_roi_boxes_move_with_landmarks():
    lm = template_face()
    boxes = roi_boxes(lm)
    assert boxes.shape == (18, 4)
    moved = roi_boxes(lm + np.array([7.0, -4.0]))
    np.testing.assert_array_equal(moved - boxes, np.tile([7, -4, 7, -4], (18, 1)))
    doubled = roi_boxes(lm * 2)  # boxes scale with the face, since paddings are in g
    w, w2 = boxes[:, 2] - boxes[:, 0], doubled[:, 2] - doubled[:, 0]
    np.testing.assert_allclose(w2, 2 * w, atol=2)


def test_reference_rois_are_5_regions_and_13_patches_in_place():
    assert [r.kind for r in REFERENCE_ROIS].count("region") == 5
    assert [r.kind for r in REFERENCE_ROIS].count("patch") == 13
    lm = template_face()
    boxes = dict(zip(roi_names(), roi_boxes(lm, size=128), strict=True))
    centre = {n: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for n, b in boxes.items()}
    assert centre["brow_r"][0] < lm[27, 0] < centre["brow_l"][0]  # subject's right on the image's left
    assert centre["brow_r"][1] < lm[37, 1] < centre["under_eye_r"][1] < centre["mouth"][1]
    x0, y0, x1, y1 = boxes["mouth_corner_r"]
    assert x0 <= lm[48, 0] < x1 and y0 <= lm[48, 1] < y1
    nose = roi_boxes(lm, (NOSE_ROI,))[0]
    assert nose[0] < lm[27, 0] < nose[2] and nose[1] <= lm[27, 1] + 0.5 and lm[28, 1] <= nose[3] < lm[30, 1]


def test_roi_boxes_are_clipped_and_never_empty():
    lm = template_face() - 60  # face half outside the image
    boxes = roi_boxes(lm, size=128)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 128).all()
    assert (boxes[:, 2:] > boxes[:, :2]).all()


def test_multiscale_regions_contain_their_scale_one_box():
    rois = multiscale_rois(scales=(1.0, 1.6))
    assert len(rois) == 18 + 5
    assert rois[:18] == REFERENCE_ROIS
    names = roi_names(rois)
    assert "mouth@1.6" in names and "lip_upper@1.6" not in names
    boxes = dict(zip(names, roi_boxes(template_face(), rois), strict=True))
    for r in REFERENCE_ROIS:
        if r.kind == "region":
            small, big = boxes[r.name], boxes[f"{r.name}@1.6"]
            assert big[0] <= small[0] and big[1] <= small[1] and big[2] >= small[2] and big[3] >= small[3]
    with pytest.raises(ValueError, match="positive"):
        multiscale_rois(scales=(0.0,))


def test_synthetic_landmarks_pass_through_and_are_checked():
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    truth = np.repeat(template_face()[None], 3, axis=0)
    out = detect_landmarks(frames, source="synthetic", truth=truth)
    assert out.dtype == np.float32 and np.allclose(out, truth)
    with pytest.raises(ValueError, match="shape"):
        detect_landmarks(frames, source="synthetic", truth=truth[:2])
    with pytest.raises(ValueError, match="truth=video.landmarks"):
        detect_landmarks(frames, source="synthetic")
    with pytest.raises(ValueError, match="unknown landmark source"):
        detect_landmarks(frames, source="dlib")


def test_landmark_jumps_are_found_and_warned():
    track = np.repeat(template_face()[None], 10, axis=0)
    track[6:] += 40.0  # the detector jumps to another place at frame 6
    np.testing.assert_array_equal(landmark_jumps(track), [6])
    with pytest.warns(UserWarning, match="between frames 5→6"):
        detect_landmarks(np.zeros((10, 8, 8, 3), np.uint8), source="synthetic", truth=track)


def fake_detector(missing: list[int]):
    def detect(frames, **_):
        out = np.repeat(template_face()[None], len(frames), axis=0).astype(np.float32)
        out[missing] = np.nan
        return out

    return detect


def test_missing_faces_are_named_or_interpolated(monkeypatch):
    frames = np.zeros((8, 16, 16, 3), np.uint8)
    monkeypatch.setattr(face, "mediapipe_landmarks", fake_detector([3, 4]))
    with pytest.raises(ValueError, match="no face found in frames 3–4 of clip.mp4"):
        detect_landmarks(frames, name="clip.mp4")
    with pytest.warns(UserWarning, match="interpolated"):
        filled = detect_landmarks(frames, name="clip.mp4", max_gap=2)
    np.testing.assert_allclose(filled[3], template_face(), atol=1e-4)
    monkeypatch.setattr(face, "mediapipe_landmarks", fake_detector([0]))
    with pytest.raises(ValueError, match="frames 0 of"):  # a gap at the start cannot be interpolated
        detect_landmarks(frames, max_gap=5)


def test_missing_mediapipe_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(ImportError, match=r"pip install --no-deps mediapipe==0\.10\.14"):
        detect_landmarks(np.zeros((1, 8, 8, 3), np.uint8))


def test_bad_frames_are_rejected():
    with pytest.raises(ValueError, match="uint8 RGB"):
        detect_landmarks(np.zeros((2, 8, 8), np.float32), source="synthetic", truth=np.zeros((2, 68, 2)))


@pytest.fixture(scope="module")
def astronaut_landmarks():
    pytest.importorskip("mediapipe")
    skdata = pytest.importorskip("skimage.data")
    image = skdata.astronaut()
    return image, detect_landmarks(image, source="mediapipe", name="astronaut")[0]


def test_mediapipe_offline_on_astronaut(astronaut_landmarks):
    image, lm = astronaut_landmarks
    assert lm.shape == (68, 2) and np.isfinite(lm).all()
    # Her face spans about x 175-275, y 65-185 in the 512 x 512 image.
    assert (lm[:, 0] > 165).all() and (lm[:, 0] < 285).all()
    assert (lm[:, 1] > 60).all() and (lm[:, 1] < 195).all()
    # Anatomical order: brows above eyes above nose tip above mouth above chin; right/left on image left/right.
    assert lm[17:27, 1].mean() < lm[36:48, 1].mean() < lm[30, 1] < lm[48:68, 1].mean() < lm[8, 1]
    assert lm[36, 0] < lm[39, 0] < lm[27, 0] < lm[42, 0] < lm[45, 0]
    assert lm[48, 0] < lm[51, 0] < lm[54, 0] and lm[8, 1] == lm[:17, 1].max()
    assert 9 < eye_unit(lm) < 15  # inner eye corners ~ 24 px apart


def test_astronaut_crop_and_rois_land_on_the_face(astronaut_landmarks):
    image, lm = astronaut_landmarks
    crop, clm, _ = crop_face(image, lm, size=128)
    boxes = roi_boxes(clm, size=128)
    assert crop.shape == (128, 128, 3)
    assert (boxes[:, 0] > 5).all() and (boxes[:, 2] < 123).all()  # all ROIs inside the face crop
    assert eye_unit(clm) == pytest.approx(128 / 9, rel=1e-3)
