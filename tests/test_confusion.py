"""Confusion plots: right tick labels, cell texts and colour scales, and no overlapping text."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh

from melab.data.splits import SEVEN_CLASSES
from melab.metrics import confusion
from melab.viz import confusion as V

CM = confusion(*np.random.default_rng(0).choice(SEVEN_CLASSES, size=(2, 200)), SEVEN_CLASSES)


def overlapping(texts) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts whose drawn bounding boxes intersect."""
    boxes = [(t.get_text(), t.get_window_extent()) for t in texts if t.get_visible() and t.get_text()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def heatmap_axes(fig):
    return next(ax for ax in fig.axes if ax.collections and isinstance(ax.collections[0], QuadMesh))


def check_text_layout(fig, labels) -> None:
    fig.canvas.draw()
    ax = heatmap_axes(fig)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(labels)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(labels)
    assert ax.get_title() and ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert overlapping(ax.get_xticklabels()) == []
    assert overlapping(ax.get_yticklabels()) == []
    assert overlapping(ax.texts) == []
    # tick labels stay inside the figure and clear of the axis labels
    figure_box = fig.bbox
    for t in [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.xaxis.label, ax.yaxis.label, ax.title]:
        box = t.get_window_extent()
        assert figure_box.x0 - 1 <= box.x0 and box.x1 <= figure_box.x1 + 1, t.get_text()
        assert figure_box.y0 - 1 <= box.y0 and box.y1 <= figure_box.y1 + 1, t.get_text()
    assert overlapping([*ax.get_xticklabels(), ax.xaxis.label]) == []
    assert overlapping([*ax.get_yticklabels(), ax.yaxis.label]) == []


@pytest.mark.parametrize("normalize", [None, "true"])
def test_plot_confusion_labels_texts_and_scale(normalize):
    fig = V.plot_confusion(CM, normalize=normalize, title="single head")
    check_text_layout(fig, SEVEN_CLASSES)
    ax = heatmap_axes(fig)
    texts = [t.get_text() for t in ax.texts]
    share = CM.iloc[0, 0] / CM.iloc[0].sum()
    assert texts[0] == f"{CM.iloc[0, 0]}\n{100 * share:.0f}%"  # count and row percentage
    mesh = ax.collections[0]
    values = mesh.get_array().reshape(7, 7)
    expected = CM.to_numpy() / CM.to_numpy().sum(axis=1, keepdims=True) if normalize else CM.to_numpy()
    np.testing.assert_allclose(values, expected)
    if normalize:
        assert (mesh.norm.vmin, mesh.norm.vmax) == (0, 1)
    plt.close(fig)


def test_plot_confusion_small_matrix_texts():
    fig = V.plot_confusion(np.array([[3, 1], [0, 2]]), ["neg", "pos"])
    assert [t.get_text() for t in heatmap_axes(fig).texts] == ["3\n75%", "1\n25%", "0", "2\n100%"]
    plt.close(fig)
    with pytest.raises(ValueError, match="labels"):
        V.plot_confusion(np.eye(2))
    with pytest.raises(ValueError, match="does not fit"):
        V.plot_confusion(np.eye(2), ["a", "b", "c"])


@pytest.mark.parametrize("normalize", [None, "true"])
def test_plot_confusion_diff_is_centred_at_zero(normalize):
    other = CM.copy()
    other.iloc[0, 0] += 4
    other.iloc[1, 0] -= 1
    fig = V.plot_confusion_diff(CM, other, names=("single", "DGCM"), normalize=normalize)
    check_text_layout(fig, SEVEN_CLASSES)
    ax = heatmap_axes(fig)
    mesh = ax.collections[0]
    assert mesh.norm.vmin == -mesh.norm.vmax and mesh.norm(0.0) == pytest.approx(0.5)
    values = mesh.get_array().reshape(7, 7)
    assert np.count_nonzero(values) == 2 + (normalize == "true") * 12  # row-normalised: the whole rows move
    if normalize is None:
        # colour = gain for B: more correct anger (+4) and one fewer disgust-as-anger mistake (-1) are both better
        assert values[0, 0] == 4 and values[1, 0] == 1
        assert [t.get_text() for t in ax.texts if t.get_text()] == ["+4", "-1"]
        assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["better for DGCM", "worse for DGCM"]
    assert "DGCM − single" in ax.get_title()
    plt.close(fig)


def test_plot_per_class_bars_side_by_side():
    recalls = {"single": pd.Series([0.5, 0.2, 0.9], index=["anger", "fear", "happiness"]),
               "DGCM": pd.Series([0.9, 0.6, 0.5], index=["happiness", "anger", "fear"])}
    fig = V.plot_per_class(recalls)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["anger", "fear", "happiness"]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.5, 0.2, 0.9, 0.6, 0.5, 0.9])  # DGCM reindexed to the same classes
    lefts = [p.get_x() for p in ax.patches]
    assert lefts[0] < lefts[3] < lefts[1]  # the two models' bars of a class sit next to each other
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert overlapping(ax.get_xticklabels()) == []
    assert overlapping([*ax.get_xticklabels(), *ax.get_legend().get_texts(), ax.xaxis.label]) == []
    plt.close(fig)
    with pytest.raises(ValueError, match="do not cover"):
        V.plot_per_class({"a": pd.Series([0.1], index=["anger"])}, ["anger", "fear"])
