"""Training-free feature-difference spotting: contrast, normalisation, top-N and the duration filter."""

import numpy as np
import pytest

from melab.baselines import feature_difference, feature_difference_scores, feature_difference_spot


def series(T=300, rois=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.02, (T, 2 * rois))


def test_a_linear_drift_has_no_contrast():
    x = np.zeros((50, 4))
    x[:, 0] = np.linspace(0, 5, 50)  # a slow head turn: linear in time
    d = feature_difference(x, k=4)
    # f(t) − (f(t−4) + f(t+4)) / 2 = 0 away from the ends; every ROI's contrast is then its median.
    assert np.allclose(d[4:-4], 0.0)


def test_a_short_burst_in_few_rois_is_spotted_and_a_long_motion_is_filtered():
    x = series()
    x[100:109, 0:2] += 0.8  # a 9-frame ME in ROI 0 and 1 (dx of each)
    x[100:109, 2:3] += 0.8
    x[200:260, :] += 0.8  # a 2-second macro-expression in every ROI
    s = feature_difference_scores(x, k=4, top_n=2)
    assert s.min() == 0.0 and s.max() == 1.0
    spots = feature_difference_spot(x, k=4, top_n=2, p=0.3, half_width=5, max_width=15)
    assert any(on <= 104 <= off for on, off in spots)  # the ME
    assert not any(205 <= (on + off) / 2 <= 255 for on, off in spots)  # nothing inside the macro-expression


def test_robust_normalisation_puts_rois_on_one_scale():
    x = series(seed=1)
    x[:, 2:4] *= 50  # one very noisy ROI
    d = feature_difference(x, k=4)
    assert np.allclose(np.median(d, axis=0), 0.0)
    mad = np.median(np.abs(d), axis=0) * 1.4826
    assert np.allclose(mad, 1.0, atol=1e-6)


@pytest.mark.parametrize(("kwargs", "message"), [({"k": 0}, "k must"), ({"top_n": 7}, "top_n must")])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        feature_difference_scores(series(), **kwargs)


def test_bad_series_raise():
    with pytest.raises(ValueError, match="C = 2 x ROIs"):
        feature_difference(np.zeros((10, 3)))
    x = series()
    x[7, 1] = np.nan
    with pytest.raises(ValueError, match="frame 7"):
        feature_difference(x)


def test_plot_baseline_vs_spotter_draws_both_curves_with_truth():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from melab.viz import plot_baseline_vs_spotter, plot_timeline

    x = series()
    x[100:109, 0:3] += 0.8
    baseline = feature_difference_scores(x, k=4, top_n=2)
    spotter = np.zeros(len(x))
    spotter[100:109] = 0.9
    fig = plot_baseline_vs_spotter(spotter, baseline, [(100, 108)], spotter_intervals=[(100, 108)],
                                   baseline_intervals=[(98, 107), (250, 260)], fps=30)
    top, bottom = fig.axes
    assert top.get_title() == "learned spotter: 1 TP, 0 FP" and bottom.get_xlabel() == "frame (30 fps)"
    assert bottom.get_title() == "feature difference (no training): 1 TP, 1 FP"
    np.testing.assert_allclose(bottom.lines[0].get_ydata(), baseline)
    # filled strips: the truth, then one strip per decoded interval, green for a TP and red for a FP
    colours = [tuple(c.get_facecolor()[0][:3]) for c in bottom.collections]
    assert colours[1:] == [matplotlib.colors.to_rgb("tab:green"), matplotlib.colors.to_rgb("tab:red")]
    with pytest.raises(ValueError, match="one length"):
        plot_baseline_vs_spotter(spotter[:-1], baseline, [])
    plt.close("all")
    plot_timeline(spotter, [(100, 108)], [(100, 108)])  # the refactored timeline still draws
    plt.close("all")
