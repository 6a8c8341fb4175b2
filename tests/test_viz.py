"""Figures are readable at their committed size: titles, axis labels, text of at least 9 pt, and the new figures
draw what their docstrings say."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from melab import viz  # noqa: E402
from melab.data import synthetic as S  # noqa: E402
from melab.exercises import fixed_window_iou  # noqa: E402
from melab.face import roi_names  # noqa: E402
from melab.flow import channel_names, flow_epe, stitch_windows, window_starts  # noqa: E402
from melab.viz._style import DPI, FIG_WIDTH, MIN_FONT_PT  # noqa: E402
from melab.viz.train import plot_history, plot_spot_scores, plot_windows  # noqa: E402


def texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def assert_readable(fig, *, xlabel: str | None = None, ylabel: str | None = None) -> None:
    """House style: ~6 in wide at 110 dpi, a title, every text >= 9 pt, and the named axis labels present."""
    fig.canvas.draw()
    width, _ = fig.get_size_inches()
    assert width == pytest.approx(FIG_WIDTH) and fig.dpi == DPI
    small = [(t.get_text()[:30], t.get_fontsize()) for t in texts(fig) if t.get_fontsize() < MIN_FONT_PT]
    assert small == [], small
    titles = [fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title(loc) for ax in fig.axes
                                                                     for loc in ("left", "center", "right")]
    assert any(t.strip() for t in titles), "figure has no title"
    if xlabel:
        assert any(xlabel in ax.get_xlabel() for ax in fig.axes), [ax.get_xlabel() for ax in fig.axes]
    if ylabel:
        assert any(ylabel in ax.get_ylabel() for ax in fig.axes), [ax.get_ylabel() for ax in fig.axes]
    plt.close(fig)


@pytest.fixture(scope="module")
def subject():
    return S.make_subject(0, 0)


@pytest.fixture(scope="module")
def events():
    return pd.DataFrame({"video": "v", "subject": "s", "onset": [40, 120, 200], "apex": [44, 150, 205],
                         "offset": [48, 180, 210], "emotion": ["sadness", "happiness", "others"],
                         "kind": ["micro", "macro", "micro"], "fps": 30})


def test_style_is_set_once_on_import():
    assert plt.rcParams["font.size"] >= MIN_FONT_PT and plt.rcParams["xtick.labelsize"] >= MIN_FONT_PT
    assert DPI >= 110  # projectors: sharp text and underscores


def test_au_field_panels_are_zoomed_with_long_arrows(subject):
    codes = ["AU1", "AU4", "AU12", "AU15", "AU20", "AU26"]
    fig = viz.plot_au_field(subject, codes)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == len(codes) and all(ax.get_position().width * FIG_WIDTH > 1.5 for ax in panels)
    for ax, code in zip(panels, codes, strict=True):
        assert S.AU_TABLE[code].name in ax.get_title()
        x0, x1 = ax.get_xlim()
        assert x1 - x0 < subject.size  # zoomed on the AU
        quiver = ax.collections[0]
        longest = np.hypot(quiver.U, quiver.V).max()
        assert longest > 0.08 * (x1 - x0)  # the longest arrow spans 8 % of the panel or more: its head shows
    # AU1 raises the brows: its arrows point up (negative dy on the image)
    assert np.mean(panels[0].collections[0].V) < 0
    assert_readable(fig)


def test_event_timeline_names_every_emotion_in_full(events):
    fig = viz.plot_event_timeline(events, 300, 30, title="one video")
    names = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert names == ["happiness", "others", "sadness"]  # no unlabelled row, no grey entry
    assert_readable(fig, xlabel="time (s)")


def _boxes(fig, texts) -> list:
    """The text's own box (an Annotation's extent would include its leader line)."""
    renderer = fig.canvas.get_renderer()
    return [Text.get_window_extent(t, renderer) for t in texts]


def test_face_rois_name_every_roi_beside_the_face_without_overlap(subject):
    image = S.render_neutral(subject).astype(np.uint8)
    fig = viz.plot_face_rois(image, subject.landmarks, labels=True, title="ROIs")
    fig.canvas.draw()
    ax = fig.axes[0]
    names = [t for t in ax.texts if t.get_text()]
    assert sorted(t.get_text() for t in names) == sorted([*roi_names(), "nose_ridge"])
    face_box = ax.get_window_extent(fig.canvas.get_renderer())
    boxes = _boxes(fig, names)
    assert not any(b.overlaps(face_box) for b in boxes)  # nothing written over the face or its boxes
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])  # no two names overlap
    assert viz.is_photo(fig)
    assert_readable(fig)


def test_photographs_are_marked_and_line_figures_are_not(subject, events, tiny_corpus):
    """Faces and images of measured fields are embedded as JPEG, lines, text and matrices as PNG."""
    image = S.render_neutral(subject).astype(np.uint8)
    clip = S.generate_clip(0, 0, "surprise", kind="micro", amplitude_px=0.9, duration_s=0.35)
    photos = [viz.subject_gallery(seed=0, n=2), viz.contact_sheet(tiny_corpus, n_subjects=3),
              viz.plot_frames(clip.frames, [0, 5]), viz.plot_au_field(subject, ["AU1"]),
              viz.plot_face_rois(image, subject.landmarks), viz.plot_flow_quiver(image, np.zeros((128, 128, 2))),
              viz.plot_flow(np.ones((8, 8, 2)))]  # a colour-coded field is an image too
    lines = [viz.plot_event_timeline(events, 300, 30),
             viz.plot_window_iou(), viz.plot_displacement_over_time({"ME": np.ones(5)}, fps=30)]
    assert all(viz.is_photo(f) for f in photos) and not any(viz.is_photo(f) for f in lines)
    for fig in photos + lines:
        plt.close(fig)


def test_contact_sheet_leaves_no_slot_empty(tiny_corpus):
    fig = viz.contact_sheet(tiny_corpus, n_subjects=3)
    assert len(fig.axes) == 3 and all(ax.images for ax in fig.axes)
    assert_readable(fig)


def test_event_timeline_keeps_emotion_colours_for_emotions(events):
    from matplotlib.colors import to_rgba

    from melab.viz.synthetic import EMOTION_COLOURS

    distractors = pd.DataFrame({"kind": ["blink", "head_jerk", "talking", "gaze_shift"], "onset": [10, 60, 90, 250],
                                "offset": [14, 62, 140, 255]})
    fig = viz.plot_event_timeline(events, 300, 30, distractors=distractors)
    ax = fig.axes[0]
    emotion_rgba = {to_rgba(c) for c in EMOTION_COLOURS.values()}
    for bar in ax.patches:
        lane = round(bar.get_y() + bar.get_height() / 2)
        colour = to_rgba(bar.get_facecolor())
        assert (colour in emotion_rgba) == (lane < 2), (lane, colour)  # rows 0, 1: micro, macro
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:3] == ["happiness", "others", "sadness"] and legend[-1].startswith("unlabelled")
    assert_readable(fig, xlabel="time (s)")


def test_flow_figures_are_readable(subject):
    rng = np.random.default_rng(0)
    flow = rng.normal(scale=0.5, size=(32, 32, 2)).astype(np.float32)
    assert_readable(viz.plot_flow(flow), xlabel="dx (px)")
    assert_readable(viz.plot_flow_quiver(np.zeros((32, 32, 3), np.uint8), flow, step=4), xlabel="x (px)")
    fig = viz.plot_onset_apex(np.stack([flow[..., 0], flow[..., 1], np.abs(flow[..., 0])]))
    assert [ax.get_xlabel() for ax in fig.axes[3:]] == ["px, + right", "px, + down", "no unit"]  # colour bars
    assert_readable(fig)


def test_flow_methods_side_by_side():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(24, 24, 2)).astype(np.float32)
    flows = {"good": truth + 0.05, "bad": truth + rng.normal(scale=0.5, size=truth.shape).astype(np.float32)}
    mask = np.zeros((24, 24), bool)
    mask[5:15, 5:15] = True
    fig = viz.plot_flow_methods(flows, truth, mask=mask, title="two methods")
    titles = [ax.get_title() for ax in fig.axes]
    assert {"truth", "good", "bad"} <= set(titles)
    for f in flows.values():
        assert f"EPE {flow_epe(f, truth, mask):.2f} px" in titles
    assert any("end-point error" in ax.get_xlabel() for ax in fig.axes)  # the shared colour bar
    assert_readable(fig, xlabel="dx (px)")
    with pytest.raises(ValueError, match="flows is empty"):
        viz.plot_flow_methods({}, truth)


def test_stitching_draws_melab_and_the_reference_rule():
    n, k = 130, 20
    truth = np.sin(np.arange(n) / 9.0)
    starts = window_starts(n, k)
    values = np.stack([truth[s:s + k] - truth[s] for s in starts])
    fig = viz.plot_stitching(values, starts, n, truth=truth - truth[0], fps=10, ylabel="brow y (px)")
    bottom = fig.axes[1]
    lines = {line.get_label(): line.get_ydata() for line in bottom.get_lines()}
    np.testing.assert_allclose(lines["melab (chained)"], stitch_windows(values[..., None], starts, n)[:, 0],
                               atol=1e-6)
    np.testing.assert_allclose(lines["melab (chained)"], truth - truth[0], atol=1e-5)  # exact windows chain exactly
    reference = lines["reference rule (first k/2 = 0)"]
    assert np.all(reference[:k // 2] == 0) and np.any(reference[k // 2:] != 0)
    assert len(fig.axes[0].get_lines()) == len(starts)
    assert_readable(fig, xlabel="time (s)", ylabel="brow y (px)")


def test_roi_series_and_head_motion_are_readable(events):
    t = 300
    names = channel_names()
    series = np.random.default_rng(2).normal(scale=0.1, size=(t, len(names))).astype(np.float32)
    assert_readable(viz.plot_roi_series(series, names, fps=30, events=events), xlabel="time (s)", ylabel="(px)")
    assert_readable(viz.plot_head_motion(series[:, :2], series, series, names, fps=30, events=events),
                    xlabel="time (s)", ylabel="head (px)")


def test_train_figures_one_quantity_per_axis(events):
    t = 300
    series = np.random.default_rng(3).normal(scale=0.1, size=(t, 36)).astype(np.float32)
    fig = plot_windows(series, events, k=50, channels=(0, 1), n_windows=5)
    top, windows, targets = fig.axes
    assert [x.get_text() for x in top.get_legend().get_texts()] == ["brow_r_dx", "brow_r_dy", "micro (truth)",
                                                                   "macro (truth)"]
    assert [x.get_text() for x in windows.get_yticklabels()] == ["0", "25", "50", "75", "100"]
    assert "positive" in windows.get_legend().get_texts()[0].get_text()
    assert_readable(fig, xlabel="frame", ylabel="ROI flow (px)")

    spot = np.clip(np.random.default_rng(4).random(t), 0, 1)
    fig = plot_spot_scores(spot, events, fps=30, others={"flow magnitude": spot[::-1]}, intervals=[(40, 48)])
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel() != fig.axes[1].get_ylabel()
    assert [line.get_label() for line in fig.axes[1].get_lines()][0] != "spotter"
    assert_readable(fig, xlabel="time (s)", ylabel="ME score")
    assert len(plot_spot_scores(spot, events).axes) == 1

    history = pd.DataFrame({"epoch": [1, 2], "loss": [0.3, 0.2], "mse": [0.1, 0.05], "ce": [1.0, 0.8]})
    assert_readable(plot_history(history), xlabel="epoch", ylabel="loss")


def test_window_iou_curves_are_the_best_and_worst_placements():
    fig = viz.plot_window_iou(ks=(5,), lengths=range(2, 20))
    ax = fig.axes[0]
    best, worst = ax.get_lines()[0], ax.get_lines()[1]
    np.testing.assert_allclose(best.get_ydata(), [fixed_window_iou(n, 5).max() for n in range(2, 20)])
    np.testing.assert_allclose(worst.get_ydata(), [fixed_window_iou(n, 5).min() for n in range(2, 20)])
    assert best.get_ydata()[6 - 2] == pytest.approx(6 / 11) == worst.get_ydata()[6 - 2]  # a 6-frame ME: 6/11 always
    assert_readable(fig, xlabel="ME length (frames)", ylabel="IoU")


def test_decode_scan_and_confusion_figures_are_readable():
    from melab.viz.scan import plot_scan_paths, plot_scan_step, plot_state_decay

    s = np.r_[np.zeros(20), np.linspace(0, 1, 5), np.zeros(20)]
    assert_readable(viz.plot_timeline(s, [(21, 25)], [(20, 26)], threshold=0.5, fps=30), xlabel="frame",
                    ylabel="spotting score")
    grid = pd.DataFrame([(lo, hi, lo + hi, int(10 * lo)) for lo in (0.1, 0.2) for hi in (0.2, 0.3) if lo <= hi],
                        columns=["low", "high", "f1", "tp"])
    fig = viz.plot_sensitivity(grid)
    fig.canvas.draw()
    shown = np.ma.filled(fig.axes[0].images[0].get_array().astype(float), np.nan)
    np.testing.assert_array_equal(shown[::-1], [[1, 1], [2, 2]])  # the colour is the count (tp), not F1
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["0", "1", "2"]  # one colour step per ME
    assert_readable(fig, xlabel="high threshold", ylabel="low threshold")
    with pytest.raises(ValueError, match="tp"):
        viz.plot_sensitivity(grid.drop(columns="tp"))
    assert_readable(plot_scan_paths(5, 5, ["h_raster", "v_zigzag", "h_zigzag_rev", "v_raster_mirror"]),
                    xlabel="column (token)", ylabel="row (token)")
    assert_readable(plot_scan_step(7, 7, "v_zigzag", 30), xlabel="column (token)")
    assert_readable(plot_state_decay({"Δ = 0.3": np.exp(-0.3 * np.arange(10))}), xlabel="time step")
    labels = ["anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise"]
    cm = pd.DataFrame(np.eye(7, dtype=int) * 5 + 1, index=labels, columns=labels)
    assert_readable(viz.plot_confusion(cm, normalize="true"), xlabel="predicted class", ylabel="true class")
    fig = viz.plot_confusion_diff(cm, cm + np.eye(7, dtype=int) - np.roll(np.eye(7, dtype=int), 1, axis=1))
    fig.canvas.draw()
    bar = fig.axes[1]
    assert all(t.get_text().endswith(("better", "worse", "no change")) and not t.get_text().startswith(("+", "-", "−"))
               for t in bar.get_yticklabels())  # sizes and meaning, never a sign that contradicts a cell's count
    assert_readable(fig, xlabel="predicted class")
    fig = viz.plot_per_class({"a": pd.Series(0.5, index=labels), "b": pd.Series(0.7, index=labels)})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == labels  # full class names
    assert_readable(fig, xlabel="true class", ylabel="recall")


def test_paired_effect_draws_each_seed_and_the_spread_of_the_differences():
    a = pd.Series([0.56, 0.57, 0.51], index=[0, 1, 2])
    b = pd.Series({2: 0.44, 0: 0.51, 1: 0.48})  # another order: pairs go by seed
    fig = viz.plot_paired_effect(a, b, names=("single", "DGCM"), ci=(-0.1, -0.02), ci_label="95% CI")
    left, right = fig.axes
    assert [line.get_ydata().tolist() for line in left.get_lines()] == [[0.56, 0.51], [0.57, 0.48], [0.51, 0.44]]
    dots = right.collections[0].get_offsets()[:, 1]
    np.testing.assert_allclose(dots, [-0.05, -0.09, -0.07])
    mean_bar = right.containers[0]
    np.testing.assert_allclose(np.asarray(mean_bar.lines[0].get_ydata(), float), [-0.07])  # mean of the differences
    low, high = (float(cap.get_ydata()[0]) for cap in mean_bar.lines[1])
    np.testing.assert_allclose([low, high], [-0.09, -0.05])  # mean -/+ sd (ddof 1) = 0.02
    ci_low, ci_high = (float(cap.get_ydata()[0]) for cap in right.containers[1].lines[1])
    np.testing.assert_allclose([ci_low, ci_high], [-0.1, -0.02])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["one seed", "mean ± sd over seeds", "95% CI"]
    assert_readable(fig, ylabel="difference in UF1")
    with pytest.raises(ValueError, match="same seeds"):
        viz.plot_paired_effect(a, b.drop(2))
    with pytest.raises(ValueError, match="at least two seeds"):
        viz.plot_paired_effect(a.loc[[0]], b.loc[[0]])
    with pytest.raises(ValueError, match="low <= high"):
        viz.plot_paired_effect(a, b, ci=(0.1, -0.1))


def test_synthetic_figures_are_readable(tiny_corpus):
    clip = S.generate_clip(0, 0, "surprise", kind="micro", amplitude_px=0.9, duration_s=0.35)
    assert_readable(viz.plot_frames(clip.frames, [0, 5, 10], title="frames"))
    assert_readable(viz.plot_displacement_over_time({"ME": np.linspace(0, 1, 10)}, fps=30), xlabel="time",
                    ylabel="peak displacement (px)")
    assert_readable(viz.subject_gallery(seed=0, n=4))
    assert_readable(viz.contact_sheet(tiny_corpus, n_subjects=3))


def test_timeline_draws_overlapping_intervals_on_rows_of_their_own():
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba

    from melab.viz.decode import FP_COLOUR, TP_COLOUR

    s = np.r_[np.zeros(20), np.linspace(0, 1, 5), np.zeros(40)]
    intervals = [(20, 26), (24, 30), (28, 34), (50, 52)]
    fig = viz.plot_timeline(s, [(21, 25)], intervals, fps=30)
    decoded = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)
               and to_rgba(c.get_facecolor()[0]) in (to_rgba(TP_COLOUR), to_rgba(FP_COLOUR))]
    spans = [(c.get_paths()[0].vertices[:, 1].min(), c.get_paths()[0].vertices[:, 1].max()) for c in decoded]
    assert len(decoded) == 4
    assert len({spans[0], spans[1], spans[2]}) == 2 and spans[0] == spans[2] == spans[3]  # touching ones stack
    assert fig.axes[0].get_title().endswith("(1 TP, 3 FP)")
    assert_readable(fig)
