"""Tests for melab.flow: dense flow, ROI series, stitching, strain, colour coding, cache."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from melab import flow as flow_mod
from melab.face import REFERENCE_ROIS, crop_affine, multiscale_rois
from melab.flow import (
    channel_names,
    crop_true_flow,
    extract_roi_series,
    flow_accuracy,
    flow_epe,
    flow_to_rgb,
    onset_apex_flow,
    optical_flow,
    optical_strain,
    roi_flow_series,
    roi_series,
    stitch_windows,
    top_p_mean,
    video_flow,
    window_starts,
)


def texture(size: int = 96, seed: int = 0, sigma: float = 2.0) -> np.ndarray:
    """Smooth random grey texture, uint8."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), sigma)
    img = (img - img.min()) / (img.max() - img.min())
    return np.rint(40 + 175 * img).astype(np.uint8)


def shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Move the image content by (dx, dy) pixels (subpixel, bilinear)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, img.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def face_template(size: int = 128) -> np.ndarray:
    from melab.data.synthetic import make_subject

    return make_subject(0, 0, size=size).landmarks.astype(np.float32)


def moving_face(n_frames: int, head: np.ndarray, size: int = 128):
    """A textured face image translated by ``head[t]`` (px) in frame t, with its landmarks."""
    base = np.stack([texture(size, seed=1, sigma=1.5)] * 3, axis=-1)
    lm = face_template(size)
    frames = np.stack([shift(base, *head[t]) for t in range(n_frames)])
    return frames, lm[None] + head[:, None, :].astype(np.float32)


@pytest.mark.parametrize("method", ["farneback", "dis", "tvl1"])
def test_flow_recovers_a_known_subpixel_shift(method):
    a = texture()
    b = shift(a, 1.5, -0.7)  # content moves right and up
    f = optical_flow(a, b, method=method)
    assert f.shape == (96, 96, 2) and f.dtype == np.float32
    np.testing.assert_allclose(f[16:-16, 16:-16].reshape(-1, 2).mean(axis=0), [1.5, -0.7], atol=0.1)


def test_flow_accepts_rgb_and_grey_alike():
    a = texture()
    b = shift(a, 0.8, 0.3)
    rgb = optical_flow(np.stack([a] * 3, -1), np.stack([b] * 3, -1))
    np.testing.assert_allclose(rgb, optical_flow(a, b), atol=1e-5)


def test_flow_rejects_bad_arguments():
    a = texture()
    with pytest.raises(ValueError, match="unknown flow method"):
        optical_flow(a, a, method="horn")
    with pytest.raises(ValueError, match="unknown Farneback parameters"):
        optical_flow(a, a, window=3)
    with pytest.raises(ValueError, match="differ in size"):
        optical_flow(a, a[:50])


def test_windows_cover_every_frame_and_short_videos_fail():
    for n, k in [(100, 20), (101, 20), (57, 50), (50, 50)]:
        starts = window_starts(n, k)
        covered = np.zeros(n, bool)
        for s in starts:
            covered[s:s + k] = True
        assert covered.all() and starts[-1] + k <= n and np.all(np.diff(starts) <= k // 2)
    with pytest.raises(ValueError, match="has 30 frames, fewer than the window length k=50"):
        window_starts(30, 50)
    with pytest.raises(ValueError, match="stride"):
        window_starts(100, 20, 20)


def test_video_flow_is_relative_to_each_windows_first_frame():
    a = texture(64)
    frames = np.stack([shift(a, 0.25 * t, 0.0) for t in range(12)])
    starts, flows = video_flow(frames, 6)
    assert flows.shape == (len(starts), 6, 64, 64, 2)
    assert not flows[:, 0].any()
    for w in range(len(starts)):
        np.testing.assert_allclose(flows[w, 5, 16:-16, 16:-16, 0].mean(), 1.25, atol=0.1)


def test_top_p_mean_matches_a_sort():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(7, 53, 2)).astype(np.float32)
    for p in (0.2, 0.3, 0.7, 1.0):
        m = max(1, round(p * 53))
        order = np.argsort(np.hypot(v[..., 0], v[..., 1]), axis=1)[:, ::-1][:, :m]
        expected = np.take_along_axis(v, order[..., None], axis=1).mean(axis=1)
        np.testing.assert_allclose(top_p_mean(v, p), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_frames,k,stride", [(100, 20, None), (101, 16, 5), (40, 40, 13), (77, 30, 29)])
def test_stitching_recovers_a_chained_track_on_every_frame(n_frames, k, stride):
    rng = np.random.default_rng(n_frames)
    track = np.cumsum(rng.normal(size=(n_frames, 3)), axis=0)
    starts = window_starts(n_frames, k, stride)
    values = np.stack([track[s:s + k] - track[s] for s in starts])
    out = stitch_windows(values, starts, n_frames)
    assert out.shape == (n_frames, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, track - track[0], atol=1e-4)  # including the first k/2 frames


def test_detrending_keeps_a_short_bump_and_drops_a_slow_drift():
    n, k = 400, 40
    t = np.arange(n)
    bump = np.exp(-0.5 * ((t - 200) / 4.0) ** 2)
    track = (0.003 * t + bump)[:, None]  # a slow drift of 1.2 px over the video
    starts = window_starts(n, k)
    values = np.stack([track[s:s + k] - track[s] for s in starts])
    out = stitch_windows(values, starts, n, detrend=4.0)[:, 0]
    assert out[200] == pytest.approx(1.0, abs=0.1)
    assert np.abs(out[np.abs(t - 200) > 30]).max() < 0.1


def test_compensation_removes_a_pure_head_translation():
    n = 24
    head = np.c_[np.linspace(0, 2.5, n), np.linspace(0, -1.2, n)]
    frames, lm = moving_face(n, head)
    fs = roi_flow_series(frames, lm, k=12, detrend=None, with_raw=True)
    assert fs.series.shape == (n, 36)
    assert np.abs(fs.series).max() < 0.1  # nothing moves relative to the head
    in_crop = (head - head[0]) @ crop_affine(lm[0], size=128)[:, :2].T  # crop pixels are ~1.06 frame pixels
    np.testing.assert_allclose(fs.head, in_crop, atol=0.05)
    raw = fs.raw.reshape(n, 18, 2)
    np.testing.assert_allclose(raw.mean(axis=1), in_crop, atol=0.1)
    uncompensated = roi_series(frames, lm, k=12, detrend=None, compensate=False)
    np.testing.assert_array_equal(uncompensated, fs.raw)


def test_roi_series_responds_in_the_moving_roi_only():
    n = 20
    base = np.stack([texture(128, seed=2, sigma=1.5)] * 3, axis=-1)
    lm = np.repeat(face_template()[None], n, axis=0)
    frames = np.repeat(base[None], n, axis=0)
    x, y = np.rint(lm[0, 48]).astype(int)  # move a patch around the right mouth corner down by 1.5 px
    moved = shift(base, 0.0, 1.5)
    for t in range(10, n):
        frames[t, y - 5:y + 6, x - 5:x + 6] = moved[y - 5:y + 6, x - 5:x + 6]
    series = roi_series(frames, lm, k=10, detrend=None, size=128)
    names = channel_names()
    peak = np.abs(series[15]).argmax()
    assert names[peak] == "mouth_corner_r_dy" and series[15, peak] > 0.5
    assert np.abs(series[:10]).max() < 0.05
    rois = multiscale_rois(scales=(1.0, 1.6))
    multi = roi_series(frames, lm, k=10, detrend=None, size=128, rois=rois)
    assert multi.shape == (n, 2 * (18 + 5))
    np.testing.assert_allclose(multi[:, :36], series, atol=1e-6)  # scale-1 channels unchanged


def test_stitching_does_not_depend_on_batching():
    from melab.data.synthetic import generate_video

    video = generate_video(1, 0, 0, duration_s=3, n_me=1, n_mae=0)
    frames, lm = video.frames[:64], video.landmarks[:64]
    full = roi_series(frames, lm, k=16, detrend=None, size=96)
    prefix = roi_series(frames[:48], lm[:48], k=16, detrend=None, size=96)
    assert np.abs(full).sum(axis=1)[1:8].min() > 0  # the first k/2 frames are measured, not zero
    np.testing.assert_allclose(prefix[:32], full[:32], atol=1e-6)


def test_bad_landmarks_are_named():
    frames, lm = moving_face(20, np.zeros((20, 2)))
    lm = lm.copy()
    lm[10] = np.nan
    with pytest.raises(ValueError, match=r"no landmarks \(NaN\) at frames \[10\] of clip"):
        roi_series(frames, lm, k=10, name="clip")
    lm[10] = lm[9]
    lm[15:] += 30
    with pytest.warns(UserWarning, match="between frames 14→15"):
        roi_series(frames, lm, k=10)
    with pytest.raises(ValueError, match="fewer than the window length"):
        roi_series(frames[:8], lm[:8], k=10)


def test_optical_strain_of_known_fields():
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    translation = np.stack([np.full_like(xx, 2.0), np.full_like(xx, -1.0)], -1)
    rotation = 0.01 * np.stack([-(yy - 16), xx - 16], -1)  # rigid: no strain
    stretch = np.stack([0.03 * xx, 0.04 * yy], -1)
    shear = np.stack([0.02 * yy, np.zeros_like(xx)], -1)
    assert np.allclose(optical_strain(translation), 0) and np.allclose(optical_strain(rotation), 0, atol=1e-6)
    np.testing.assert_allclose(optical_strain(stretch), 0.05, rtol=1e-5)
    np.testing.assert_allclose(optical_strain(shear), 0.02 / np.sqrt(2), rtol=1e-5)


def test_flow_to_rgb_colour_wheel():
    still = flow_to_rgb(np.zeros((4, 4, 2)))
    assert still.dtype == np.uint8 and (still == 255).all()  # no motion is white
    dirs = np.array([[[1, 0], [0, 1], [-1, 0], [0, -1]]], np.float32)
    rgb = flow_to_rgb(dirs).reshape(4, 3).astype(int)
    assert len({tuple(c) for c in rgb}) == 4
    assert rgb[0].argmax() == 0 and rgb[2].argmax() == 2  # right is red, left is blue (Middlebury)
    half = flow_to_rgb(dirs, max_flow=2.0).reshape(4, 3).astype(int)
    assert (half.min(axis=1) > rgb.min(axis=1)).all()  # less saturated when max_flow grows


def test_onset_apex_flow_is_u_v_strain():
    a = np.stack([texture(96)] * 3, -1)
    frames = np.stack([a, shift(a, 1.0, 0.0), shift(a, 2.0, 0.0)])
    out = onset_apex_flow(frames, 0, 2, size=48)
    assert out.shape == (3, 48, 48) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 8:-8, 8:-8].mean(), 1.0, atol=0.15)  # 2 px at half resolution
    assert abs(out[1, 8:-8, 8:-8].mean()) < 0.1 and out[2, 8:-8, 8:-8].mean() < 0.1
    with pytest.raises(IndexError):
        onset_apex_flow(frames, 0, 5)


def test_crop_true_flow_and_epe():
    lm = face_template(200)
    affine = crop_affine(lm, size=100)
    const = np.zeros((200, 200, 2), np.float32) + np.float32([3.0, -1.0])
    scale = 100 / (9 * 0.5 * np.linalg.norm(lm[42] - lm[39]))
    crop = crop_true_flow(const, affine, 100)
    np.testing.assert_allclose(crop.reshape(-1, 2).mean(axis=0), affine[:, :2] @ [3.0, -1.0], rtol=1e-3)
    assert np.linalg.norm(crop[0, 0]) == pytest.approx(scale * np.hypot(3, 1), rel=1e-4)
    assert flow_epe(np.zeros((2, 2, 2)), np.full((2, 2, 2), [3.0, 4.0])) == pytest.approx(5.0)
    mask = np.array([[True, False], [False, False]])
    assert flow_epe(np.zeros((2, 2, 2)), np.array([[[3, 4], [0, 0]], [[0, 0], [0, 0]]]), mask) == 5.0


def test_flow_accuracy_beats_predicting_no_motion():
    from melab.data.synthetic import generate_clip

    clip = generate_clip(0, 1, "surprise", kind="micro", amplitude_px=1.4)
    table = flow_accuracy([clip], methods=("farneback", "dis"), k=20, pairs_per_video=2)
    assert list(table.index) == ["farneback", "dis"]
    assert {"epe_all", "epe_roi", "epe_apex", "true_apex", "ms_per_pair", "n_pairs"} <= set(table.columns)
    assert (table["n_pairs"] == 3).all()  # 2 window pairs + 1 onset-apex pair
    assert (table["epe_apex"] < 0.6 * table["true_apex"]).all()


@pytest.fixture()
def two_videos():
    items = []
    for seed in (0, 1):
        head = np.c_[np.linspace(0, 0.5 * seed, 14), np.zeros(14)]
        frames, lm = moving_face(14, head, size=96)
        items.append((frames, lm))
    return items


def test_cache_reuses_entries_and_matches_direct_computation(two_videos, tmp_path, monkeypatch):
    out = extract_roi_series(two_videos, cache_dir=tmp_path, k=8, size=64, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    np.testing.assert_allclose(out[1], roi_series(*two_videos[1], k=8, size=64), atol=1e-6)

    def boom(job):
        raise AssertionError("cached entries must not be recomputed")

    monkeypatch.setattr(flow_mod, "_run_job", boom)
    again = extract_roi_series(two_videos, cache_dir=tmp_path, k=8, size=64, progress=False)
    np.testing.assert_array_equal(again[0], out[0])
    with pytest.raises(AssertionError, match="recomputed"):  # other parameters: another key
        extract_roi_series(two_videos, cache_dir=tmp_path, k=8, size=64, method="dis", progress=False)


def test_a_crash_mid_write_leaves_no_entry_and_a_rerun_resumes(two_videos, tmp_path, monkeypatch):
    real_savez = np.savez
    calls = []

    def crash_after_partial_write(fh, **arrays):
        calls.append(1)
        if len(calls) == 2:  # the second video dies half-way through writing its entry
            fh.write(b"PK\x03\x04 partial")
            raise KeyboardInterrupt("killed")
        real_savez(fh, **arrays)

    monkeypatch.setattr(np, "savez", crash_after_partial_write)
    with pytest.raises(KeyboardInterrupt):
        extract_roi_series(two_videos, cache_dir=tmp_path, k=8, size=64, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 1 and not list(tmp_path.glob("*.tmp"))
    monkeypatch.setattr(np, "savez", real_savez)
    # a run killed outright (no clean-up) leaves a stray temp file and maybe a torn entry: both are ignored
    (tmp_path / "stray.123.tmp").write_bytes(b"PK\x03\x04")
    done = sorted(tmp_path.glob("*.npz"))[0]
    n_computed = []
    real_run = flow_mod._run_job
    monkeypatch.setattr(flow_mod, "_run_job", lambda job: n_computed.append(1) or real_run(job))
    out = extract_roi_series(two_videos, cache_dir=tmp_path, k=8, size=64, progress=False)
    assert len(n_computed) == 1  # only the missing video was computed
    done.write_bytes(done.read_bytes()[:50])
    out2 = extract_roi_series(two_videos, cache_dir=tmp_path, k=8, size=64, progress=False)
    assert len(n_computed) == 2
    for a, b in zip(out, out2, strict=True):
        np.testing.assert_array_equal(a, b)


def test_two_processes_give_the_same_series(two_videos, tmp_path):
    one = extract_roi_series(two_videos, cache_dir=tmp_path / "a", k=8, size=64, progress=False)
    two = extract_roi_series(two_videos, cache_dir=tmp_path / "b", k=8, size=64, processes=2, progress=False)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_image_folders_are_read_keyed_by_content_and_use_their_truth(two_videos, tmp_path, monkeypatch):
    frames, lm = two_videos[1]
    folder = tmp_path / "sub01" / "sub01_1"
    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"img_{t:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    np.savez(folder / "truth.npz", landmarks=lm)
    cache = tmp_path / "cache"
    (series,) = extract_roi_series([folder], cache_dir=cache, k=8, size=64, progress=False)
    np.testing.assert_allclose(series, roi_series(frames, lm, k=8, size=64), atol=1e-6)
    os.utime(folder / "img_00003.png", ns=(1, 1))  # touched, not changed: the entry still serves
    extract_roi_series([folder], cache_dir=cache, k=8, size=64, progress=False)
    assert len(list(cache.glob("*.npz"))) == 1
    cv2.imwrite(str(folder / "img_00003.png"), cv2.cvtColor(frames[4], cv2.COLOR_RGB2BGR))  # the video changed
    extract_roi_series([folder], cache_dir=cache, k=8, size=64, progress=False)
    assert len(list(cache.glob("*.npz"))) == 2


def test_extract_rejects_unknown_options(two_videos, tmp_path):
    with pytest.raises(TypeError, match="unknown options"):
        extract_roi_series(two_videos, cache_dir=tmp_path, k=8, window=3)


def test_channel_names_follow_the_roi_table():
    names = channel_names()
    assert len(names) == 2 * len(REFERENCE_ROIS) == 36
    assert names[:2] == ["brow_r_dx", "brow_r_dy"] and names[-1] == "under_eye_l_dy"
    assert os.path.basename(flow_mod.__file__) == "flow.py"
