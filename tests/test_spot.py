"""``melab spot``: frame-rate maps, reading, clear errors, and the whole pipeline on a synthetic MP4."""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from melab.data.synthetic import generate_video
from melab.data.video import VideoError, write_video
from melab.metrics import spotting_scores
from melab.spot import (
    OUTPUT_COLUMNS,
    load_spotter,
    make_sample_video,
    read_resampled,
    resample_index,
    spot,
    spot_video,
    to_video_intervals,
)

RATES = st.sampled_from([12.5, 20.0, 25.0, 29.97, 30.0, 50.0, 60.0, 100.0, 200.0])


@pytest.fixture(scope="module")
def spotter():
    return load_spotter()


# ---- frame rates ----------------------------------------------------------------------------------


def test_resample_index_known_answers():
    np.testing.assert_array_equal(resample_index(10, 30.0, 30.0), np.arange(10))
    np.testing.assert_array_equal(resample_index(7, 60.0, 30.0), [0, 2, 4, 6])
    np.testing.assert_array_equal(resample_index(8, 60.0, 30.0), [0, 2, 4, 6])  # frame 7 is between model frames
    np.testing.assert_array_equal(resample_index(4, 20.0, 30.0), [0, 1, 1, 2, 3])
    np.testing.assert_array_equal(resample_index(21, 200.0, 30.0), [0, 7, 13, 20])


@given(n=st.integers(1, 3000), fps=RATES, model_fps=st.sampled_from([25.0, 28.6, 30.0]))
def test_resample_index_picks_the_nearest_frame_in_time(n, fps, model_fps):
    index = resample_index(n, fps, model_fps)
    t = np.arange(len(index)) / model_fps
    assert index[0] == 0 and np.all(np.diff(index) >= 0) and index[-1] <= n - 1
    assert t[-1] <= (n - 1) / fps + 1e-9 < t[-1] + 1 / model_fps  # every model frame inside the video, no more
    assert np.all(np.abs(index / fps - t) <= 0.5 / fps + 1e-9)  # nearest video frame in time


@given(n=st.integers(60, 3000), fps=RATES, data=st.data())
def test_video_intervals_cover_the_model_frames_and_nothing_far(n, fps, data):
    model_fps = 30.0
    index = resample_index(n, fps, model_fps)
    onset = data.draw(st.integers(0, len(index) - 1))
    offset = data.draw(st.integers(onset, len(index) - 1))
    [(start, stop)] = to_video_intervals([(onset, offset)], fps, model_fps, n)
    assert 0 <= start <= stop <= n - 1
    assert start <= index[onset] and index[offset] <= stop  # the frames the model saw are inside
    # and nothing beyond half a model frame from the interval's ends, except the frames the model saw there
    assert start == index[onset] or start / fps >= (onset - 0.5) / model_fps - 1e-9
    assert stop == index[offset] or stop / fps < (offset + 0.5) / model_fps + 1e-9
    # and every frame timed inside is covered
    assert start == 0 or (start - 1) / fps < (onset - 0.5) / model_fps + 1e-9
    assert stop == n - 1 or (stop + 1) / fps >= (offset + 0.5) / model_fps - 1e-9


def test_video_intervals_are_the_identity_at_the_model_rate():
    intervals = [(0, 0), (5, 17), (40, 59)]
    assert to_video_intervals(intervals, 30.0, 30.0, 60) == intervals
    assert to_video_intervals([(10, 14)], 60.0, 30.0, 100) == [(19, 28)]


def numbered_video(path, n, fps):
    """An MP4 whose frame i shows i in binary, as 8 black or white bars, so a lossy codec keeps it readable."""
    bits = (np.arange(n)[:, None] >> np.arange(8)) & 1  # (n, 8)
    frames = np.repeat(np.repeat(bits * 255, 8, axis=1)[:, None, :, None], 32, axis=1)  # (n, 32, 64, 1)
    return write_video(np.repeat(frames, 3, axis=3).astype(np.uint8), path, fps)


def frame_numbers(frames):
    bars = frames[:, 16, 4::8, 0] > 128  # the centre of each bar
    return (bars * (1 << np.arange(8))).sum(axis=1)


@pytest.mark.parametrize("fps", [60.0, 20.0])
def test_read_resampled_keeps_the_frames_of_resample_index(tmp_path, fps):
    path = numbered_video(tmp_path / "numbers.mp4", 90, fps)
    frames, index, rate, n_frames, scale = read_resampled(path, 30.0)
    assert (rate, n_frames, scale) == (fps, 90, 1.0)
    np.testing.assert_array_equal(index, resample_index(90, fps, 30.0))
    np.testing.assert_array_equal(frame_numbers(frames), index)


def test_read_resampled_shrinks_large_frames(tmp_path):
    path = write_video(np.zeros((3, 480, 960, 3), np.uint8), tmp_path / "wide.mp4", 30.0)
    frames, _, _, _, scale = read_resampled(path, 30.0, max_side=320)
    assert frames.shape == (3, 160, 320, 3) and scale == pytest.approx(1 / 3)


# ---- errors ---------------------------------------------------------------------------------------


def test_missing_and_unreadable_videos_say_so(tmp_path, spotter):
    with pytest.raises(FileNotFoundError, match="no such video"):
        spot_video(tmp_path / "nowhere.mp4", checkpoint=spotter)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError, match="broken.mp4"):
        spot_video(broken, checkpoint=spotter)


def test_a_video_shorter_than_one_window_is_refused(tmp_path, spotter):
    clip = generate_video(1, 0, 0, duration_s=1.0, n_me=0, n_mae=0)
    path = write_video(clip.frames, tmp_path / "short.mp4", clip.fps)
    with pytest.raises(ValueError, match=r"short is too short: 1.00 s \(30 frames at 30 fps\)"):
        spot_video(path, checkpoint=spotter, progress=False)


def test_frames_without_a_face_are_named_in_video_frames(tmp_path, spotter):
    """Grey frames after a face, in a 60 fps file: MediaPipe finds no face there, and the error gives the
    video's own frame numbers (not the model's)."""
    clip = generate_video(1, 1, 0, duration_s=1.5, n_me=0, n_mae=0, fps=60.0)
    frames = np.concatenate([clip.frames, np.full((60, 128, 128, 3), 128, np.uint8)])
    path = write_video(frames, tmp_path / "face_then_grey.mp4", 60.0)
    with pytest.raises(ValueError, match=r"no face found in frames 90–148 of face_then_grey"):
        spot_video(path, checkpoint=spotter, progress=False)


def test_given_landmarks_are_checked_and_short_gaps_filled(tmp_path, spotter):
    clip = generate_video(1, 0, 0, duration_s=2.0, n_me=0, n_mae=0)
    path = write_video(clip.frames, tmp_path / "clip.mp4", clip.fps)
    np.save(tmp_path / "wrong.npy", clip.landmarks[:10])
    with pytest.raises(ValueError, match=r"must have shape \(60, 68, 2\)"):
        spot_video(path, checkpoint=spotter, landmarks=tmp_path / "wrong.npy", progress=False)
    holes = clip.landmarks.copy()
    holes[:12] = np.nan  # 0.4 s: longer than max_gap_s
    np.save(tmp_path / "holes.npy", holes)
    with pytest.raises(ValueError, match=r"no face found in frames 0–11 of clip"):
        spot_video(path, checkpoint=spotter, landmarks=tmp_path / "holes.npy", progress=False)
    holes = clip.landmarks.copy()
    holes[30:33] = np.nan  # 0.1 s
    np.save(tmp_path / "gap.npy", holes)
    with pytest.warns(UserWarning, match=r"no face in frames 30–32 of clip; interpolated"):
        result = spot_video(path, checkpoint=spotter, landmarks=tmp_path / "gap.npy", progress=False)
    assert result.n_frames == 60 and result.spot.shape == (60,) and np.isfinite(result.spot).all()


# ---- the whole pipeline ---------------------------------------------------------------------------


# A spotter trained on the easy corpus (the shipped model of generator version 1) with its SISS settings: on easy
# videos it finds MEs reliably, so a broken stage of the pipeline (landmarks, crop, flow, resampling, decoding, the
# CSV) shows as lost MEs. The shipped realistic model spots at real-data levels (LOSO F1 ~0.05 on lab) and can
# be no such oracle.
EASY_SPOTTER = Path(__file__).parent / "data" / "spotter_easy.pt"
EASY_DECODING = {"low": 0.1, "high": 0.7, "smooth": 3}


def test_spot_finds_the_mes_of_a_synthetic_mp4(tmp_path):
    video, events_path = make_sample_video(tmp_path / "long.mp4", seed=2, duration_s=15.0, n_me=5, n_mae=3,
                                           difficulty="easy")
    out, png = tmp_path / "spots.csv", tmp_path / "spots.png"
    spotter = load_spotter(EASY_SPOTTER)
    result = spot(video, out, checkpoint=EASY_SPOTTER, plot=png, truth=events_path, progress=False, **EASY_DECODING)
    table = pd.read_csv(out)
    assert list(table.columns) == OUTPUT_COLUMNS
    pd.testing.assert_frame_equal(table, result.intervals, check_dtype=False)
    assert set(table["emotion"]) <= set(spotter.labels[:-1]) and table["score"].between(0, 1).all()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    events = pd.read_csv(events_path)
    micro = events[events["kind"] == "micro"]
    s = spotting_scores(table[["onset", "offset"]].to_numpy().tolist(), micro[["onset", "offset"]].to_numpy().tolist())
    report = result.report(events)
    assert f"TP {s.tp}  FP {s.fp}  FN {s.fn}" in report
    # measured on 7 unseen synthetic MP4s (seeds 1-8, 15 s): precision 0.64, recall 0.74 overall; this one
    # (seed 2) gives 5 TP, 3 FP, 0 FN. The bounds leave room for two misses and two more false alarms.
    assert s.recall >= 0.6 and s.precision >= 0.5, report


def test_cli_spot_writes_the_table(tmp_path):
    from melab.cli import main

    video, events = make_sample_video(tmp_path / "clip.mp4", seed=2, duration_s=4.0, n_me=1, n_mae=0)
    assert main(["spot", str(video), "--out", str(tmp_path / "out.csv"), "--truth", str(events)]) == 0
    assert list(pd.read_csv(tmp_path / "out.csv").columns) == OUTPUT_COLUMNS
    assert main(["spot", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "x.csv")]) == 2


# ---- the shipped spotter on faces it never saw ------------------------------------------------------------


@pytest.mark.xfail(strict=True, reason="issue 22, open: the shipped spotter (LOSO AUC 0.845) finds 2 of the sample's 4 "
                   "MEs (449-458, 490-499; missed 47-52 and 416-426) with one false interval (383-391)")
def test_the_shipped_spotter_finds_the_sample_videos_mes(tmp_path):
    """`melab spot` on the bundled sample (a subject of another seed than the training corpus): at least 3 of
    its 4 MEs, with the decoding chosen by the nested rule on the training corpus (data/spot_decoding.json)."""
    from melab.spot import DEFAULT_CHECKPOINT

    sample = DEFAULT_CHECKPOINT.parent / "sample"
    result = spot(sample / "sample.mp4", tmp_path / "spots.csv", truth=sample / "sample_events.csv", progress=False)
    events = pd.read_csv(sample / "sample_events.csv")
    micro = events[events["kind"] == "micro"]
    s = spotting_scores(result.intervals[["onset", "offset"]].to_numpy().tolist(),
                        micro[["onset", "offset"]].to_numpy().tolist())
    assert s.tp >= 3, result.report(events)


def face_photos():
    """Real face photographs shipped with the installed packages: scikit-image's astronaut (Eileen Collins, NASA,
    public domain) and matplotlib's Grace Hopper (public domain)."""
    from matplotlib import cbook, image
    from skimage import data

    return {"astronaut": data.astronaut(),
            "grace_hopper": image.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}


def animate_photo(photo: np.ndarray, events, *, fps: float = 30.0, duration_s: float = 10.0, seed: int = 0):
    """Frames of a still photo whose brows rise and fall (AU1+2): each ``(start_s, length_s, amplitude_px)`` event
    lifts each brow (a Gaussian bump of upward displacement on the brow, a fifth of the eye span wide, fading
    before the eyes and the nose ridge, so the head-motion reference stays still) from onset to offset with the
    time course of melab's expressions (raised-cosine rise to the apex at 30 % of the event, as spontaneous
    expressions peak early, then a slower raised-cosine fall), peaking at ``amplitude_px`` of the photo's pixels;
    plus sensor noise (SD 1 grey level).
    """
    from melab.face import detect_landmarks

    lm = detect_landmarks(photo, source="mediapipe", name="photo")[0]
    span = lm[45, 0] - lm[36, 0]  # outer eye corners
    yy, xx = np.mgrid[0:photo.shape[0], 0:photo.shape[1]].astype(np.float32)
    bump = np.zeros_like(xx)
    for brow in (lm[17:22], lm[22:27]):
        cx, cy = brow[:, 0].mean(), brow[:, 1].mean()
        bump += np.exp(-(((xx - cx) / (0.2 * span)) ** 2 + ((yy - cy) / (0.12 * span)) ** 2))
    n = int(round(duration_s * fps))
    lift = np.zeros(n, np.float32)
    for start, length, amplitude in events:
        onset, offset = int(round(start * fps)), int(round((start + length) * fps)) - 1
        apex = onset + int(round(0.3 * (offset - onset)))
        rise, fall = np.arange(onset, apex + 1), np.arange(apex + 1, offset + 1)
        lift[rise] = amplitude * 0.5 * (1 - np.cos(np.pi * (rise - onset) / (apex - onset)))
        lift[fall] = amplitude * 0.5 * (1 + np.cos(np.pi * (fall - apex) / (offset - apex)))
    rng = np.random.default_rng(seed)
    frames = [cv2.remap(photo, xx, yy + a * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT) for a in lift]
    return np.stack([np.clip(f + rng.normal(0, 1.0, f.shape), 0, 255).astype(np.uint8) for f in frames])


@pytest.mark.xfail(strict=True, reason="issue 22, open: on a still photograph the ME's ROI flow is about 27x the quiet "
                   "level, where the synthetic corpus' MEs are about 1.1x its quiet p99 and its distractors are the "
                   "large events; the shipped spotter scores the ME 0.05-0.07. Training with the intensity "
                   "augmentation raises it to 0.3 but lowers the LOSO AUC from 0.845 to 0.757, so it is not shipped")
@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_the_shipped_spotter_finds_an_me_and_not_a_macro_expression_of_the_same_size_in_a_real_face(name, tmp_path):
    """A real face, animated with a 0.5-s brow raise (an ME) and a 1.5-s one of the same 1.5 px (a macro-
    expression): the shipped spotter's intervals cover the ME and stay off the macro-expression."""
    pytest.importorskip("mediapipe")
    fps, me, mae = 30.0, (2.5, 0.5, 1.5), (6.0, 1.5, 1.5)
    frames = animate_photo(face_photos()[name], [me, mae], fps=fps)
    path = write_video(frames, tmp_path / f"{name}.mp4", fps)
    result = spot_video(path, progress=False)
    me_frames = (int(me[0] * fps), int((me[0] + me[1]) * fps) - 1)
    mae_frames = (int(mae[0] * fps), int((mae[0] + mae[1]) * fps) - 1)
    found = result.intervals[["onset", "offset"]].to_numpy().tolist()
    s = spotting_scores(found, [list(me_frames)])
    assert s.tp == 1, (found, me_frames)
    assert not any(on <= mae_frames[1] and off >= mae_frames[0] for on, off in found), (found, mae_frames)
