"""The decoding explorer, headless: every control drives the pure decode_and_score call.
Also the decoding plots."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from melab.metrics import decode_and_score, sensitivity_grid
from melab.viz.decode import plot_sensitivity, plot_timeline
from melab.widgets import decoding_explorer, scores_html

LABELS = ["negative", "positive", "surprise", "others", "neutral"]


@pytest.fixture(scope="module")
def video():
    rng = np.random.default_rng(0)
    s = 0.15 * rng.random(300)
    s[50:60] += 0.8
    s[150:200] += 0.6
    s[250:254] += 0.7
    probs = np.tile([0.1, 0.1, 0.1, 0.1, 0.6], (300, 1))
    probs[50:60] = [0.1, 0.6, 0.1, 0.1, 0.1]
    probs[250:254] = [0.1, 0.1, 0.6, 0.1, 0.1]
    truth = pd.DataFrame({"onset": [50, 150, 250], "offset": [59, 199, 253],
                          "kind": ["micro", "macro", "micro"], "emotion": ["positive", "others", "surprise"]})
    return np.clip(s, 0, 1), truth, probs


def assert_shows_pure_result(explorer, scores, truth, **fixed):
    params = {name: c.value for name, c in explorer.controls.items()}
    intervals, table = decode_and_score(scores, truth, **params, **fixed)
    pd.testing.assert_frame_equal(explorer.result[0], intervals)
    pd.testing.assert_frame_equal(explorer.result[1], table)
    assert explorer.table.value == scores_html(table)
    assert f'data-metric="f1">{table["f1"].item():.4f}<' in explorer.table.value
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_slider_drives_decode_and_score(video):
    scores, truth, probs = video
    explorer = decoding_explorer(scores, truth, class_probs=probs, labels=LABELS, fps=30)
    fixed = {"class_probs": probs, "labels": LABELS, "penalty": None}
    assert all(c.continuous_update is False for n, c in explorer.controls.items() if n != "method")
    assert_shows_pure_result(explorer, scores, truth, **fixed)
    seen_f1, seen_images = {explorer.result[1]["f1"].item()}, {bytes(explorer.image.value)}
    for name, value in [("k", 3), ("low", 0.1), ("high", 0.8), ("smooth", 5), ("method", "fixed_window"),
                        ("p", 0.3), ("k", 8), ("smooth", 1)]:
        explorer.controls[name].value = value
        assert explorer.params[name] == value
        assert_shows_pure_result(explorer, scores, truth, **fixed)
        seen_f1.add(explorer.result[1]["f1"].item())
        seen_images.add(bytes(explorer.image.value))
    assert len(seen_f1) > 1 and len(seen_images) > 4


def test_explorer_reports_strs_and_refuses_low_above_high(video):
    scores, truth, probs = video
    explorer = decoding_explorer(scores, truth, class_probs=probs, labels=LABELS, k=4)
    intervals, table = explorer.result
    assert intervals[["onset", "offset", "emotion"]].values.tolist() == [[50, 59, "positive"],
                                                                        [250, 253, "surprise"]]
    assert table["strs"].item() == 1.0
    kept = explorer.result
    explorer.controls["low"].value = 0.9
    assert "low must not exceed high" in explorer.message.value
    assert explorer.result is kept
    explorer.controls["high"].value = 0.95
    assert explorer.message.value == ""
    assert_shows_pure_result(explorer, scores, truth, class_probs=probs, labels=LABELS, penalty=None)


def test_explorer_without_class_probabilities_shows_no_strs(video):
    scores, truth, _ = video
    explorer = decoding_explorer(scores, truth, fps=30)
    assert explorer.controls["k"].value == 4  # 0.15 s at 30 fps
    assert 'data-metric="strs">n/a<' in explorer.table.value


def test_plot_timeline_and_sensitivity(video):
    scores, truth, _ = video
    fig = plot_timeline(scores, truth, [(50, 59), (100, 110)], threshold=0.5, fps=30)
    ax = fig.axes[0]
    assert ax.get_title() and "frame (30 fps)" in ax.get_xlabel() and ax.get_ylabel()
    colours = [tuple(c.get_facecolor()[0]) for c in ax.collections if len(c.get_facecolor())]
    assert {matplotlib.colors.to_rgba(c) for c in ("tab:green", "tab:red")} <= set(colours)  # a TP and a FP strip
    plt.close(fig)

    grid = sensitivity_grid({"v": scores}, truth.assign(video="v"), k=4, lows=[0.1, 0.3], highs=[0.2, 0.6])
    fig = plot_sensitivity(grid)
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    values = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    assert values.shape == (2, 2) and np.isnan(values[0, 0])  # low 0.3 > high 0.2 is skipped
    assert np.isfinite(values).sum() == 3
    assert len(ax.texts) == 3
    plt.close(fig)


def test_scan_explorer_redraws_the_frame_of_its_controls():
    from melab.widgets import scan_explorer

    explorer = scan_explorer(4, 5, kind="v_zigzag", step=9)
    first = explorer.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.controls["step"].value = 10
    assert explorer.image.value != first and explorer.controls["step"].max == 19
    explorer.controls["kind"].value = "h_raster"
    assert explorer.image.value != first
    with pytest.raises(ValueError, match=r"unknown scan kind 'spiral'"):
        scan_explorer(kind="spiral")
    with pytest.raises(ValueError, match=r"step must be in 0..48"):
        scan_explorer(step=49)


def test_explorer_disables_the_sliders_its_method_ignores(video):
    scores, truth, probs = video
    explorer = decoding_explorer(scores, truth, class_probs=probs, labels=LABELS, fps=30, method="siss")
    enabled = {name for name, c in explorer.controls.items() if name != "method" and not c.disabled}
    assert enabled == {"k", "low", "high", "smooth"}
    kept = explorer.result
    explorer.controls["p"].value = 0.2  # disabled for SISS, and SISS does not read it: same intervals
    pd.testing.assert_frame_equal(explorer.result[0], kept[0])
    explorer.controls["method"].value = "fixed_window"
    enabled = {name for name, c in explorer.controls.items() if name != "method" and not c.disabled}
    assert enabled == {"k", "p", "smooth"}
    fixed = {"class_probs": probs, "labels": LABELS, "penalty": None}
    explorer.controls["low"].value = 0.9  # above high, but the fixed window ignores both: no refusal
    assert explorer.message.value == ""
    assert_shows_pure_result(explorer, scores, truth, **fixed)
    explorer.controls["method"].value = "siss"
    assert not explorer.controls["low"].disabled and explorer.controls["p"].disabled
    assert "low must not exceed high" in explorer.message.value
