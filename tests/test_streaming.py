"""Streaming: melab spot and melab flow read, track and flow a video one frame at a time, in bounded memory, and
give exactly what the whole-video path gives (every frame decoded first, then landmarks, then flow)."""

from __future__ import annotations

import gc
import os
import signal
import threading
import warnings
import weakref

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from melab.data.synthetic import generate_video
from melab.data.video import VideoReader, read_frames, write_video
from melab.face import REFERENCE_ROIS, mediapipe_landmarks
from melab.flow import (
    REFERENCE_SERIES_OPTIONS,
    RoiFlowStream,
    RoiFlowWorkers,
    _gray,
    _window_values,
    extract_roi_series,
    flow_params,
    roi_flow_series,
    stitch_windows,
    window_starts,
)
from melab.inference import spotter_scores
from melab.spot import _FaceTrack, load_spotter, read_resampled, resample_frames, resample_index, spot_video

K = 30


@pytest.fixture(scope="module")
def clip():
    """A 4.1-s realistic clip (123 frames: the last window is aligned to the end) with its true landmarks."""
    video = generate_video(4, 2, 1, duration_s=4.1, n_me=2, n_mae=2)
    return video.frames, video.landmarks


def whole_video_series(frames, landmarks, *, k, stride=None, detrend=6.0):
    """The whole-video path, the oracle: every grey frame in memory, each window cut from the array."""
    gray = np.stack([_gray(f) for f in frames])
    starts = window_starts(len(gray), k, stride)
    options = dict(rois=REFERENCE_ROIS, top_p=(0.3, 0.2), size=128, align=True, method="farneback",
                   params=flow_params("farneback"), recentre_px=1.0, max_recentre=2, with_raw=False)
    values = [_window_values(gray[s:s + k], np.asarray(landmarks[s], np.float32), k, **options) for s in starts]
    return stitch_windows(np.stack([c.reshape(k, -1) for c, _, _, _ in values]), starts, len(gray), detrend=detrend)


@pytest.mark.parametrize("stride", [None, 7])
def test_the_stream_equals_the_whole_video_path(clip, stride):
    frames, landmarks = clip
    stream = RoiFlowStream(k=K, stride=stride)
    for frame, points in zip(frames, landmarks, strict=True):
        stream.push(frame, points)
    np.testing.assert_array_equal(stream.finish().series, whole_video_series(frames, landmarks, k=K, stride=stride))


def test_the_stream_holds_one_window_of_frames(clip):
    """Every pushed frame is dropped once no window needs it: at most k grey frames are alive at any time."""
    frames, landmarks = clip
    grey = [_gray(f) for f in frames]  # pushed as they are, so the stream keeps these very arrays
    alive = [weakref.ref(g) for g in grey]
    stream, most = RoiFlowStream(k=K), 0
    for t in range(len(grey)):
        frame, grey[t] = grey[t], None  # only the stream may keep it now
        stream.push(frame, landmarks[t])
        del frame
        gc.collect()
        most = max(most, sum(ref() is not None for ref in alive[:t + 1]))  # of the frames pushed so far
    assert most == K and len(stream.ring) == K
    stream.finish()


@pytest.mark.parametrize("options", [dict(with_raw=True), REFERENCE_SERIES_OPTIONS], ids=["melab", "reference"])
def test_workers_give_the_same_series_as_one_process(clip, options):
    frames, landmarks = clip
    inline = roi_flow_series(frames, landmarks, k=K, **options)
    with RoiFlowWorkers(2) as workers:
        workers.configure(k=K, **options)
        for frame, points in zip(frames, landmarks, strict=True):
            workers.push(frame, points)
        parallel = workers.finish()
    for name in ("series", "raw", "head", "starts"):
        if getattr(inline, name) is None:
            assert getattr(parallel, name) is None
        else:
            np.testing.assert_array_equal(getattr(parallel, name), getattr(inline, name))
    assert parallel.n_flow_calls == inline.n_flow_calls


def test_an_error_in_a_worker_is_raised_here(clip):
    frames, landmarks = clip
    with pytest.raises(ValueError, match=r"short clip has 20 frames, fewer than the window length k=30"), \
            RoiFlowWorkers(2) as workers:
        workers.configure(k=K, name="short clip")
        for frame, points in zip(frames[:20], landmarks[:20], strict=True):
            workers.push(frame, points)
        workers.finish()


def test_a_failed_window_names_the_video_and_its_frames_in_one_process_and_in_workers(clip):
    """Frame 30 starts a window (k 30, stride 15) whose crop cannot be made: the error names the video and the
    window's frames, the same from a worker (with the worker's traceback as its cause) as from one process."""
    frames, landmarks = clip
    broken = landmarks.copy()
    broken[30, 42] = broken[30, 39]  # the inner eye corners coincide
    expected = r"the ROI flow of clip failed in the window of its frames 30–59 \(0-based, as pushed\): inner eye"
    with pytest.raises(ValueError, match=expected) as inline:
        stream = RoiFlowStream(k=K, name="clip")
        for frame, points in zip(frames, broken, strict=True):
            stream.push(frame, points)
    with pytest.raises(ValueError, match=expected) as parallel, RoiFlowWorkers(2) as workers:
        workers.configure(k=K, name="clip")
        for frame, points in zip(frames, broken, strict=True):
            workers.push(frame, points)
        workers.finish()
    assert str(parallel.value) == str(inline.value)
    assert "_window_values" in str(parallel.value.__cause__)  # where it failed, over there


def test_a_worker_that_dies_is_reported_not_waited_for(clip):
    frames, landmarks = clip
    with pytest.raises(ChildProcessError, match=r"a flow worker process for clip was killed by signal 9"), \
            RoiFlowWorkers(2) as workers:
        workers.configure(k=K, name="clip")
        for t, (frame, points) in enumerate(zip(frames, landmarks, strict=True)):
            if t == 40:
                os.kill(workers._processes[1].pid, signal.SIGKILL)
            workers.push(frame, points)
        workers.finish()


def test_at_most_queue_frames_wait_for_a_worker(clip):
    """A worker that does not keep up holds the caller back once ``queue`` frames wait for it: a fast decoder never
    piles up frames in memory. (The worker is stopped; whatever the timing, no more than 4 frames get in.)"""
    frames, landmarks = clip
    with RoiFlowWorkers(1, queue=4) as workers:
        workers.configure(k=K)
        worker = workers._processes[0].pid
        os.kill(worker, signal.SIGSTOP)
        pushed = []

        def push_all():
            for frame, points in zip(frames, landmarks, strict=True):
                workers.push(frame, points)
                pushed.append(1)

        feeder = threading.Thread(target=push_all)
        feeder.start()
        feeder.join(timeout=2.0)
        waiting = len(pushed)
        os.kill(worker, signal.SIGCONT)
        feeder.join()
        series = workers.finish().series
    assert 3 <= waiting <= 4  # the options and 3 frames, or 4 frames once the worker had read the options
    np.testing.assert_array_equal(series, roi_flow_series(frames, landmarks, k=K).series)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), fps=st.sampled_from([12.5, 20.0, 25.0, 29.97, 30.0, 50.0, 60.0, 200.0]),
       model_fps=st.sampled_from([200.0 / 7, 30.0]))
def test_frames_are_picked_on_the_fly_as_resample_index_picks_them(n, fps, model_fps):
    picked = [i for i, _ in resample_frames(iter(range(n)), fps, model_fps)]
    assert picked == resample_index(n, fps, model_fps).tolist()


def test_resampling_holds_at_most_two_decoded_frames():
    made = []

    def decoded():
        for _ in range(200):
            frame = np.zeros((4, 4, 3), np.uint8)
            made.append(weakref.ref(frame))
            yield frame

    most = 0
    for _, frame in resample_frames(decoded(), 20.0, 30.0):  # upsampling: some frames are shown twice
        del frame
        gc.collect()
        most = max(most, sum(ref() is not None for ref in made))
    assert most <= 2


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_dropouts_are_filled_as_interpolation_over_the_whole_video(data):
    """The frames of a dropout wait only until the next face; the filled landmarks are np.interp's over every
    detection, exactly, and at most max_gap frames wait at any time."""
    n, max_gap = data.draw(st.integers(5, 60)), data.draw(st.integers(1, 6))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    truth = rng.normal(100, 20, (n, 68, 2)).astype(np.float32)
    missing = np.zeros(n, bool)
    for _ in range(data.draw(st.integers(0, 4))):
        start = data.draw(st.integers(0, n - 1))
        missing[start:start + data.draw(st.integers(1, max_gap))] = True
    missing[data.draw(st.integers(0, n - 1))] = False  # at least one face
    edges = np.flatnonzero(np.diff(np.r_[0, missing.astype(np.int8), 0]))
    assume((np.diff(edges)[::2] <= max_gap).all())  # runs that touch are one longer run, which fails (below)
    seen = np.where(missing[:, None, None], np.nan, truth)
    track, out, waiting = _FaceTrack(max_gap, "clip"), [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(n):
            ready = track.push(j, j, seen[j].copy())
            out += ready
            waiting = max(waiting, j + 1 - len(out))
        out += track.finish()
    expected = seen.reshape(n, -1).copy()
    good = np.flatnonzero(~missing)
    for c in range(expected.shape[1]):
        expected[missing, c] = np.interp(np.flatnonzero(missing), good, expected[good, c])
    assert [frame for frame, _ in out] == list(range(n))
    np.testing.assert_array_equal(np.stack([points for _, points in out]), expected.reshape(n, 68, 2))
    assert waiting <= max_gap + 1


def test_a_dropout_too_long_stops_the_flow_and_names_every_long_one():
    track = _FaceTrack(2, "clip")
    face, none = np.ones((68, 2), np.float32), np.full((68, 2), np.nan, np.float32)
    pattern = [face] * 3 + [none] * 3 + [face] * 2 + [none] * 4 + [face]
    assert sum(len(track.push(j, j, p)) for j, p in enumerate(pattern)) == 3  # nothing after the first long one
    with pytest.raises(ValueError, match=r"no face found in frames 3–5, 8–11 of clip"):
        track.finish()


@pytest.mark.slow
def test_spot_streamed_equals_the_whole_video_path(tmp_path):
    """spot_video (one process, and with flow workers) against every frame read first, then MediaPipe on all of
    them, then the ROI flow and the spotter: the same scores, bit for bit."""
    clip = generate_video(1, 0, 0, duration_s=6.0, n_me=2, n_mae=1)
    path = write_video(clip.frames, tmp_path / "clip.mp4", clip.fps)
    spotter = load_spotter()
    frames, index, *_ = read_resampled(path, spotter.fps)
    series = roi_flow_series(frames, mediapipe_landmarks(frames), k=spotter.k).series
    whole = spotter_scores(spotter, series)
    for workers in (0, 2):
        streamed = spot_video(path, checkpoint=spotter, workers=workers, progress=False)
        np.testing.assert_array_equal(streamed.spot, whole.spot)
        np.testing.assert_array_equal(streamed.probs, whole.probs)
        np.testing.assert_array_equal(streamed.index, index)


def test_melab_flow_streams_files_and_folders_with_the_series_of_whole_videos(tmp_path, clip):
    frames, landmarks = clip
    path = write_video(frames, tmp_path / "clip.mp4", 30.0)
    decoded, _ = read_frames(path)
    [streamed] = extract_roi_series([(path, landmarks)], cache_dir=tmp_path / "cache", k=K, progress=False)
    np.testing.assert_array_equal(streamed, roi_flow_series(decoded, landmarks, k=K).series)
    with VideoReader(path) as reader:
        assert reader.n_declared == len(frames)


@pytest.mark.parametrize("official", [False, True], ids=["melab", "reference"])
def test_the_spotters_scores_do_not_depend_on_torch_threads(official, tmp_path):
    """melab spot scores on one torch thread (fast on a busy machine); the scores must not change with it."""
    import torch

    from melab.device import torch_threads
    from melab.inference import OFFICIAL_DATASETS, SpotterModel, load_spotter
    from melab.models.spotter import Spotter, SpotterConfig

    if official:
        torch.manual_seed(0)
        model = Spotter(SpotterConfig.reference()).eval()
        spotter = SpotterModel(model, *OFFICIAL_DATASETS["casme3"], ("a", "b", "c", "d", "neutral"), tmp_path,
                               "reference")
    else:
        spotter = load_spotter()
    series = np.random.default_rng(0).normal(0, 0.5, (700, 36)).astype(np.float32)
    with torch_threads(1):
        one = spotter_scores(spotter, series)
    with torch_threads(2):
        two = spotter_scores(spotter, series)
    np.testing.assert_array_equal(one.spot, two.spot)
    np.testing.assert_array_equal(one.probs, two.probs)
