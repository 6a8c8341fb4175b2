"""Reading frames: round trips and a clear, named error for every kind of bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from melab.data.video import VideoError, list_images, read_frames, write_video


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (12, 32, 48, 3), dtype=np.uint8)


def _write_folder(folder, frames, names=None):
    folder.mkdir()
    for i, f in enumerate(frames):
        name = names[i] if names else f"{i}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def test_image_folder_round_trip_is_rgb_and_numerically_sorted(tmp_path, frames):
    names = [f"img{i}.png" for i in range(12)]  # img10 must come after img9, not after img1
    folder = _write_folder(tmp_path / "clip", frames, names)
    out, fps = read_frames(folder, fps=30)
    assert fps == 30.0 and out.dtype == np.uint8 and out.shape == frames.shape
    np.testing.assert_array_equal(out, frames)
    assert [p.name for p in list_images(folder)][9:11] == ["img9.png", "img10.png"]


def test_video_file_round_trip(tmp_path, frames):
    path = write_video(frames, tmp_path / "clip.mp4", fps=25)
    out, fps = read_frames(path)
    assert fps == pytest.approx(25.0) and out.shape == frames.shape
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_missing_path_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.mp4"):
        read_frames(tmp_path / "nothere.mp4")


def test_corrupt_video_is_named(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x01 this is not a video" * 50)
    with pytest.raises(VideoError, match=r"broken\.mp4.*(unreadable or corrupt|zero frames)"):
        read_frames(bad)


def test_corrupt_image_is_named(tmp_path, frames):
    folder = _write_folder(tmp_path / "clip", frames[:3])
    (folder / "3.png").write_bytes(b"garbage")
    with pytest.raises(VideoError, match=r"3\.png.*unreadable or corrupt"):
        read_frames(folder, fps=30)


def test_empty_folder_has_zero_frames(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="zero frames"):
        read_frames(tmp_path / "empty", fps=30)


def test_mixed_frame_sizes_are_named(tmp_path, frames):
    folder = _write_folder(tmp_path / "clip", frames[:2])
    cv2.imwrite(str(folder / "2.png"), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(VideoError, match=r"mixed frame sizes.*2\.png is 10x10"):
        read_frames(folder, fps=30)


def test_folder_without_fps_asks_for_it(tmp_path, frames):
    folder = _write_folder(tmp_path / "clip", frames[:2])
    with pytest.raises(VideoError, match="pass fps="):
        read_frames(folder)


def test_write_video_rejects_bad_arrays(tmp_path):
    with pytest.raises(ValueError, match=r"uint8 \(T, H, W, 3\)"):
        write_video(np.zeros((2, 8, 8), np.float32), tmp_path / "x.mp4", fps=30)
