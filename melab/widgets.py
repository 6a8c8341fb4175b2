"""ipywidgets explorers. Each one wraps a pure function and only redraws what it returns."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from melab.decode import relative_threshold, smooth_scores
from melab.metrics import decode_and_score
from melab.viz.decode import plot_timeline

__all__ = ["DecodingExplorer", "decoding_explorer", "scores_html"]

TABLE_COLUMNS = ("tp", "fp", "fn", "precision", "recall", "f1", "strs")


def scores_html(table: pd.DataFrame) -> str:
    """The explorer's score table as HTML; each value cell carries ``data-metric="<name>"``."""
    row = table.iloc[0]
    cells = []
    for name in TABLE_COLUMNS:
        value = row[name]
        if pd.isna(value):
            text = "n/a"
        else:
            text = f"{int(value)}" if name in ("tp", "fp", "fn") else f"{value:.4f}"
        cells.append(f'<tr><th>{name.upper() if len(name) <= 4 else name}</th>'
                     f'<td data-metric="{name}">{text}</td></tr>')
    return '<table class="melab-scores">' + "".join(cells) + "</table>"


class DecodingExplorer(w.VBox):
    """Sliders for a decoder, a timeline and a live score table (see :func:`decoding_explorer`).

    Attributes
    ----------
    controls : dict of str to ipywidgets.Widget
        ``method`` (dropdown) and the sliders ``k, p, low, high, smooth``.
    params : dict
        The keyword arguments of the last :func:`melab.metrics.decode_and_score` call.
    result : tuple of (pandas.DataFrame, pandas.DataFrame)
        Its return value: the decoded intervals and the one-row score table.
    """

    def __init__(self, scores, truth, *, class_probs=None, labels: Sequence[str] | None = None,
                 penalty: Mapping[str, float] | None = None, fps: float = 30.0, method: str = "siss",
                 k: int | None = None, p: float = 0.55, low: float = 0.3, high: float = 0.6, smooth: int = 1):
        if low > high:
            raise ValueError(f"low ({low}) must not exceed high ({high})")
        self.scores = np.asarray(scores, dtype=float)
        self.truth = truth
        self.fixed = {"class_probs": class_probs, "labels": labels, "penalty": penalty}
        self.fps = float(fps)
        k = max(1, round(0.15 * fps)) if k is None else k
        max_smooth = 2 * max(1, round(0.2 * fps)) + 1
        common = {"continuous_update": False, "style": {"description_width": "70px"}}
        self.controls = {
            "method": w.Dropdown(options=["fixed_window", "siss"], value=method, description="method"),
            "k": w.IntSlider(value=k, min=1, max=max(k, round(fps)), description="k (frames)", **common),
            "p": w.FloatSlider(value=p, min=0.0, max=1.0, step=0.05, description="p", **common),
            "low": w.FloatSlider(value=low, min=0.0, max=1.0, step=0.05, description="low", **common),
            "high": w.FloatSlider(value=high, min=0.0, max=1.0, step=0.05, description="high", **common),
            "smooth": w.IntSlider(value=smooth, min=1, max=max(smooth, max_smooth), step=2,
                                  description="smooth", **common),
        }
        self.image = w.Image(format="png")
        self.table = w.HTML()
        self.message = w.HTML()
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        sliders = w.VBox(list(self.controls.values()))
        super().__init__([w.HBox([sliders, w.VBox([self.table, self.message])]), self.image])
        self.update()

    def _on_change(self, _change) -> None:
        self.update()

    def update(self) -> None:
        """Recompute :attr:`result` from the controls and redraw."""
        values = {name: control.value for name, control in self.controls.items()}
        if values["low"] > values["high"]:
            self.message.value = "<b>low must not exceed high</b>: move one of them."
            return
        self.message.value = ""
        self.params = values | self.fixed
        self.result = decode_and_score(self.scores, self.truth, **self.params)
        intervals, table = self.result
        self.table.value = scores_html(table)
        self.image.value = self._render(intervals)

    def _render(self, intervals: pd.DataFrame) -> bytes:
        s = smooth_scores(self.scores, self.params["smooth"])
        names = ["p"] if self.params["method"] == "fixed_window" else ["low", "high"]
        fig = plot_timeline(s, self.truth, list(zip(intervals["onset"], intervals["offset"], strict=True)),
                            is_tp=intervals["tp"].tolist(), fps=self.fps,
                            threshold=[relative_threshold(s, self.params[n]) for n in names],
                            title=f"{self.params['method']}: smoothed scores and decoded intervals")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        return buffer.getvalue()


def decoding_explorer(scores, truth, *, class_probs=None, fps: float = 30.0, **options) -> DecodingExplorer:
    """Interactive explorer of interval decoding on one video.

    Sliders for the decoder (``method``), ``k``, ``p`` (fixed window), ``low`` and ``high``
    (SISS) and the box-filter width ``smooth``, all with ``continuous_update=False``. Every
    change calls the pure function :func:`melab.metrics.decode_and_score` and shows its
    result: a timeline (smoothed scores, threshold lines, true MEs and MaEs, decoded
    intervals coloured TP/FP) and a table of TP, FP, FN, precision, recall, F1 and STRS.
    The table's value cells carry ``data-metric`` attributes so a browser test can read them.

    Parameters
    ----------
    scores : array_like, shape (T,)
        Spotting scores of one video.
    truth : pandas.DataFrame or sequence of (onset, offset)
        The video's events table (``onset, offset``; ``kind`` and ``emotion`` if known) or
        intervals. Only MEs are scored; MaEs are drawn.
    class_probs : array_like, shape (T, K+1), optional
        Per-frame class probabilities (neutral last); with ``labels=`` in ``options`` the
        intervals get emotions and the table shows STRS.
    fps : float
        Frame rate; sets the default ``k`` (0.15 s) and the slider ranges.
    **options
        ``labels``, ``penalty``, and the starting ``method, k, p, low, high, smooth``.

    Returns
    -------
    DecodingExplorer
        Display it in a notebook; ``.controls`` and ``.result`` are there for tests.
    """
    return DecodingExplorer(scores, truth, class_probs=class_probs, fps=fps, **options)
