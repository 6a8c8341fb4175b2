"""The spotter's inputs: multi-scale temporal contrast, per-video standardisation, windows, the left-right mirror."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from melab.face import REFERENCE_ROIS
from melab.flow import window_starts
from melab.inputs import (
    CONTRAST_LAGS,
    INPUTS,
    contrast_feature_names,
    contrast_features,
    contrast_lags,
    input_channels,
    input_windows,
    mirror_input,
    mirror_permutation,
    spotter_input,
    temporal_contrast,
)

C = 2 * len(REFERENCE_ROIS)


def noise(T=300, channels=C, seed=0, sd=0.05):
    return np.random.default_rng(seed).normal(0, sd, (T, channels))


def test_contrast_of_a_one_frame_jump_has_known_values():
    x = np.zeros((20, 6))
    x[10, 0:2] = (3.0, 4.0)  # ROI 0 jumps 5 px at frame 10 only
    f = temporal_contrast(x, lags=(1, 2))
    names = contrast_feature_names((1, 2))
    row = dict(zip(names, f[10], strict=True))
    # lag d: |f(10) − (f(10−d) + f(10+d)) / 2| = 5 in ROI 0, 0 in the others; top-3 mean 5/3; median 0
    assert row == {"max@1": 5.0, "top3@1": pytest.approx(5 / 3), "median@1": 0.0, "onset_max@1": 5.0,
                   "max@2": 5.0, "top3@2": pytest.approx(5 / 3), "median@2": 0.0, "onset_max@2": 5.0}
    # one frame later the jump is the neighbour: contrast 2.5 at lag 1, onset-relative change 5 (back to 0)
    assert f[11, 0] == pytest.approx(2.5) and f[11, 3] == pytest.approx(5.0)
    assert f[13, 0] == 0.0  # out of reach of lag 1 and 2 ... at lag 2, frame 12 sees frame 10
    assert f[12, 4] == pytest.approx(2.5)


def test_a_linear_drift_has_no_contrast_but_moves_onset_relative():
    x = np.zeros((60, 4))
    x[:, 0] = np.linspace(0, 6, 60)  # a slow head turn
    f = temporal_contrast(x, lags=(3,))
    assert np.allclose(f[3:-3, :3], 0.0)
    assert np.allclose(f[3:, 3], 3 * 6 / 59)  # |f(t) − f(t − 3)|


def test_a_short_burst_stands_out_at_short_lags_a_long_one_at_long_lags():
    base = noise(400, seed=1, sd=0.01)
    me, mae = base.copy(), base.copy()
    me[100:106, 0] += np.hanning(6) * 1.0  # 6 frames
    mae[100:190, 0] += np.hanning(90) * 1.0  # 3 s
    f_me, f_mae = (temporal_contrast(s)[:, 0::4] for s in (me, mae))  # max over ROIs at each lag
    assert f_me[100:106, 1].max() > 5 * f_mae[100:190, 1].max()  # lag 2: the ME
    assert f_mae[100:190, -1].max() > f_mae[100:190, 1].max()  # the MaE only shows at lag 15


@given(arrays(np.float64, (40, 8), elements=st.floats(-3, 3)), st.floats(0.1, 10))
@settings(max_examples=30, deadline=None)
def test_contrast_features_do_not_change_with_the_video_scale(x, gain):
    x = x + np.random.default_rng(0).normal(0, 0.1, x.shape)  # no exactly flat feature (median 0)
    a = contrast_features(x)
    np.testing.assert_allclose(contrast_features(gain * x), a, atol=1e-9)
    assert a.shape == (40, 4 * len(CONTRAST_LAGS))


def test_contrast_lags_scale_with_the_frame_rate():
    assert contrast_lags(30.0) == CONTRAST_LAGS
    assert contrast_lags(200.0)[:3] == (7, 13, 20)
    assert contrast_lags(10.0) == (1, 2, 3, 4, 5)  # at least one frame, no repeats
    with pytest.raises(ValueError, match="fps must be positive"):
        contrast_lags(0)
    with pytest.raises(ValueError, match="lags must be"):
        temporal_contrast(noise(), lags=(0, 2))


@pytest.mark.parametrize("kind", INPUTS)
def test_every_input_has_its_channels_and_is_finite(kind):
    x = noise()
    y = spotter_input(x, kind)
    assert y.dtype == np.float32 and y.shape == (300, input_channels(kind, C)) and np.isfinite(y).all()


def test_velocity_is_the_standardised_frame_difference():
    x = noise(seed=3)
    v = spotter_input(x, "velocity")
    d = np.diff(x, axis=0, prepend=x[:1])
    np.testing.assert_allclose(v, (d - np.median(d, 0)) / d.std(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(spotter_input(7 * x + 2, "velocity"), v, rtol=1e-4, atol=1e-4)  # gain-free
    flat = spotter_input(np.zeros((50, 4)), "velocity")
    assert np.all(flat == 0)  # a still face: zeros, no division by zero


def test_contrast_velocity_is_contrast_then_velocity():
    x = noise(seed=4)
    both = spotter_input(x, "contrast_velocity")
    np.testing.assert_array_equal(both[:, :36], spotter_input(x, "contrast"))
    np.testing.assert_array_equal(both[:, 36:], spotter_input(x, "velocity"))
    assert np.allclose(both[:, :36].mean(0), 0, atol=1e-4) and np.allclose(both.std(0), 1, atol=1e-3)


def test_window_input_is_relative_to_each_window_start():
    x = np.cumsum(noise(130, seed=5), axis=0)
    windows, starts = input_windows(spotter_input(x, "window"), 50, "window")
    np.testing.assert_array_equal(starts, window_starts(130, 50))
    assert np.all(windows[:, 0] == 0)
    np.testing.assert_allclose(windows[1, 10], x[starts[1] + 10] - x[starts[1]], atol=1e-6)
    track, _ = input_windows(x, 50, "track")
    np.testing.assert_allclose(track[1, 10], x[starts[1] + 10], rtol=1e-6)


def test_a_short_video_is_padded_to_one_window():
    windows, starts = input_windows(np.ones((30, 4)), 50, "velocity")
    assert windows.shape == (1, 50, 4) and starts.tolist() == [0]
    assert np.all(windows[0, 30:] == 0)


def test_mirror_swaps_left_and_right_and_negates_dx():
    perm = mirror_permutation()
    names = [r.name for r in REFERENCE_ROIS]
    assert names[perm[names.index("brow_r_inner")]] == "brow_l_inner"
    assert names[perm[names.index("mouth")]] == "mouth" and names[perm[names.index("lip_lower")]] == "lip_lower"
    assert np.array_equal(perm[perm], np.arange(len(names)))
    x = np.zeros((2, C), np.float32)
    x[0, 2 * names.index("brow_r")] = 1.0  # brow_r moves right (+dx)
    x[0, 2 * names.index("brow_r") + 1] = -2.0  # and up
    m = mirror_input(x, "velocity")
    assert m[0, 2 * names.index("brow_l")] == -1.0 and m[0, 2 * names.index("brow_l") + 1] == -2.0
    assert np.count_nonzero(m) == 2


@pytest.mark.parametrize("kind", INPUTS)
def test_mirroring_twice_gives_the_input_back_and_the_contrast_does_not_move(kind):
    x = spotter_input(noise(seed=6), kind)
    np.testing.assert_array_equal(mirror_input(mirror_input(x, kind), kind), x)
    if kind.startswith("contrast"):
        np.testing.assert_array_equal(mirror_input(x, kind)[:, :36], x[:, :36])


def test_the_mirror_of_a_series_gives_the_mirror_of_its_input():
    """Mirroring the face (channels swapped, dx negated) and then computing the input equals computing the
    input and mirroring it: the augmentation is what a mirrored video would give."""
    x = noise(seed=7).astype(np.float32)
    mirrored_series = mirror_input(x, "track")
    for kind in INPUTS:
        np.testing.assert_allclose(spotter_input(mirrored_series, kind), mirror_input(spotter_input(x, kind), kind),
                                   rtol=1e-5, atol=1e-5)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="unknown spotter input 'flow'"):
        spotter_input(noise(), "flow")
    with pytest.raises(ValueError, match="C = 2 x ROIs"):
        spotter_input(np.zeros((10, 3)), "velocity")
    x = noise()
    x[7, 1] = np.nan
    with pytest.raises(ValueError, match="frame 7"):
        spotter_input(x, "contrast")
    with pytest.raises(ValueError, match="a 'velocity' input of 18 ROIs has 36"):
        mirror_input(np.zeros((5, 72)), "velocity")
