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


# ---- the reference learner ----------------------------------------------------------------------------------

def toy_videos(n=4, T=400, seed=0):
    """Videos with 6-frame MEs in two ROIs and 60-frame macro-expressions of the same size in every ROI."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    out, rows = {}, []
    for v in range(n):
        x = rng.normal(0, 0.03, (T, 12))
        for onset in rng.choice(np.arange(20, T - 100, 40), 3, replace=False):
            x[onset:onset + 6, 0:4] += np.hanning(6)[:, None] * 0.6
            rows.append(dict(video=f"v{v}", onset=onset, offset=onset + 5, kind="micro"))
        x[T - 80:T - 20] += np.hanning(60)[:, None] * 0.6
        rows.append(dict(video=f"v{v}", onset=T - 80, offset=T - 21, kind="macro"))
        out[f"v{v}"] = x
    return out, pd.DataFrame(rows)


def test_the_reference_learner_tells_mes_from_macro_expressions_on_held_out_videos():
    from melab.baselines import ContrastLogistic
    from melab.metrics import frame_auc

    series, events = toy_videos()
    learner = ContrastLogistic().fit({v: series[v] for v in ("v0", "v1", "v2")}, events)
    s = learner.scores(series["v3"])
    assert s.shape == (400,) and ((0 <= s) & (s <= 1)).all()
    auc = frame_auc({"v3": s}, events)
    assert auc.auc > 0.9 and auc.auc_mae > 0.9, auc


def test_cross_val_scores_hold_each_group_out_of_its_own_training():
    from melab.baselines import ContrastLogistic, cross_val_scores

    series, events = toy_videos()
    groups = {"v0": "a", "v1": "a", "v2": "b", "v3": "b"}
    held = cross_val_scores(series, events, groups)
    assert list(held) == list(groups)
    oracle = ContrastLogistic().fit({"v2": series["v2"], "v3": series["v3"]}, events)
    np.testing.assert_array_equal(held["v1"], oracle.scores(series["v1"]))
    with pytest.raises(ValueError, match="at least 2 groups"):
        cross_val_scores(series, events, {v: "a" for v in series})
    with pytest.raises(ValueError, match="no ROI series for videos"):
        cross_val_scores(series, events, {**groups, "v9": "b"})


def test_the_reference_learner_needs_mes_and_a_fit():
    from melab.baselines import ContrastLogistic

    series, events = toy_videos(n=1)
    with pytest.raises(ValueError, match="hold no ME frames"):
        ContrastLogistic().fit(series, events[events["kind"] == "macro"])
    with pytest.raises(ValueError, match="not fitted yet"):
        ContrastLogistic().scores(series["v0"])
