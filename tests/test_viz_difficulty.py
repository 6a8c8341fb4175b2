"""The easy-against-realistic figures of notebook 00 draw exactly the data they are given, readably."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.patches import StepPatch  # noqa: E402
from test_viz import assert_readable  # noqa: E402

from melab import viz  # noqa: E402
from melab.data import synthetic as S  # noqa: E402
from melab.data.check import amplitude_histogram, amplitude_overlap  # noqa: E402


@pytest.fixture(scope="module")
def video():
    """A realistic 20-s video, planned but not rendered: 2 MEs, 4 MaEs and 3 unlabelled subtle movements."""
    return S.generate_video(0, 1, 0, duration_s=20, n_me=2, n_mae=4, n_subtle=3, render=False,
                            difficulty="realistic")


def test_amplitude_overlap_draws_both_histograms_and_their_shared_area():
    rng = np.random.default_rng(0)
    corpora = {"apart": pd.DataFrame({"kind": ["micro"] * 50 + ["macro"] * 40,
                                      "amplitude_px": np.r_[rng.uniform(0.3, 1.0, 50), rng.uniform(2, 6, 40)]}),
               "mixed": pd.DataFrame({"kind": ["micro"] * 50 + ["macro"] * 40,
                                      "amplitude_px": np.r_[rng.uniform(0.2, 1.0, 50), rng.uniform(0.6, 6, 40)]})}
    fig = viz.plot_amplitude_overlap(corpora)
    for ax, (name, events) in zip(fig.axes, corpora.items(), strict=True):
        me = events.loc[events["kind"] == "micro", "amplitude_px"].to_numpy()
        mae = events.loc[events["kind"] == "macro", "amplitude_px"].to_numpy()
        steps = {p.get_label(): p.get_data() for p in ax.patches if isinstance(p, StepPatch)}
        assert set(steps) == {"ME", "MaE", "shared"}
        np.testing.assert_allclose(steps["ME"].values, 100 * amplitude_histogram(me)[0])
        np.testing.assert_allclose(steps["MaE"].values, 100 * amplitude_histogram(mae)[0])
        overlap = amplitude_overlap(me, mae)
        assert steps["shared"].values.sum() / 100 == pytest.approx(overlap)
        assert ax.get_title() == f"{name}: overlap {overlap:.2f}"
        assert ax.get_xscale() == "log"
    assert fig.axes[0].get_title() == "apart: overlap 0.00" and fig.axes[1].get_title() != "mixed: overlap 0.00"
    assert_readable(fig, xlabel="apex amplitude (px)", ylabel="events of that kind (%)")


def test_event_motion_plots_each_events_own_displacement(video):
    me = next(video.truth.query("kind == 'micro'").itertuples())
    mae = next(video.truth.query("kind == 'macro'").itertuples())
    subtle = next(video.distractors[video.distractors["kind"].isin(["lip_press", "swallow", "sniff",
                                                                      "gaze_shift", "speech"])].itertuples())
    fig = viz.plot_event_motion({"ME and MaE": [(video, me), (video, mae)], "ME and a distractor": [(video, me),
                                                                                                  (video, subtle)]})
    lines = fig.axes[0].get_lines()
    for line, row in zip(lines, (me, mae), strict=True):
        length = row.offset - row.onset + 1
        np.testing.assert_allclose(line.get_xdata(), np.arange(length) / 30.0)
        y = line.get_ydata()
        assert y[row.apex - row.onset] == pytest.approx(row.amplitude_px, rel=2e-3)  # the apex is the amplitude
        assert y.max() == pytest.approx(row.amplitude_px, rel=2e-3) and y[0] < 0.05 * y.max()
        assert f"{length / 30:.2f} s" in line.get_label() and f"AU {row.aus}" in line.get_label()
    assert lines[0].get_label().startswith(f"ME {me.emotion}") and lines[1].get_label().startswith("MaE")
    distractor = fig.axes[1].get_lines()[1]
    assert distractor.get_label().startswith(subtle.kind.replace("_", " ") + " (unlabelled)")
    assert distractor.get_ydata().max() == pytest.approx(subtle.amplitude_px, rel=2e-3)
    assert_readable(fig, xlabel="time since onset (s)", ylabel="peak facial displacement (px)")


def test_duration_amplitude_scatter_places_every_facial_movement(video):
    table = pd.concat([video.truth, video.distractors], ignore_index=True)
    fig = viz.plot_duration_amplitude({"realistic": table, "again": table})
    points = {c.get_label(): c.get_offsets() for c in fig.axes[0].collections if isinstance(c, PathCollection)}
    for group, xy in points.items():
        rows = table[table["kind"].map(viz.motion_group) == group]
        np.testing.assert_allclose(xy[:, 0], (rows["offset"] - rows["onset"] + 1) / 30.0)
        np.testing.assert_allclose(xy[:, 1], rows["amplitude_px"])
    assert {"ME", "MaE", "blink", "unlabelled facial movement"} <= set(points)
    drawn = sum(len(xy) for xy in points.values())
    assert drawn == table["kind"].map(viz.motion_group).notna().sum() < len(table)  # head motion is left out
    assert_readable(fig, xlabel="duration (s)", ylabel="apex amplitude (px)")


def test_motion_groups():
    assert [viz.motion_group(k) for k in ("micro", "macro", "blink", "talking", "sniff", "nod", "head_jerk")] == \
        ["ME", "MaE", "blink", "unlabelled facial movement", "unlabelled facial movement", None, None]


def test_event_timeline_has_lanes_for_talking_and_subtle_movements(video):
    fig = viz.plot_event_timeline(video.events, video.n_frames, video.fps, distractors=video.distractors)
    lanes = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert lanes[:2] == ["micro", "macro"] and "subtle, unlabelled" in lanes
    assert ("talking" in lanes) == (video.distractors["kind"] == "talking").any()
    assert_readable(fig, xlabel="time (s)")
