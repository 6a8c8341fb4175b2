"""ipywidgets explorers. Each one wraps a pure function and only redraws what it returns.

Every explorer draws into an ``Image`` widget, never through ``interact``/``Output``: when a notebook runs
headless (nbconvert, nbval), nbclient answers an Output widget's output with comm messages on the shell
channel while it waits there for the cell's reply, and that reply can then be missed until the cell's
timeout runs out (forever without one): jupyter/nbclient#312. An Image widget needs no such answer.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from melab.decode import relative_threshold, smooth_scores
from melab.metrics import decode_and_score
from melab.scan import SCAN_KINDS
from melab.viz.decode import plot_timeline
from melab.viz.scan import plot_scan_step

__all__ = ["DecodingExplorer", "ScanExplorer", "decoding_explorer", "scan_explorer", "scores_html"]

TABLE_COLUMNS = ("tp", "fp", "fn", "precision", "recall", "f1", "strs")
#: The sliders each decoding method reads (as :func:`melab.metrics.decode_and_score` documents); the rest are disabled.
METHOD_SLIDERS = {"fixed_window": ("k", "p", "smooth"), "siss": ("k", "low", "high", "smooth")}


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


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
        ``method`` (dropdown) and the sliders ``k, p, low, high, smooth``. The sliders the chosen method
        ignores (:data:`METHOD_SLIDERS`) are disabled: ``p`` for SISS, ``low`` and ``high`` for the fixed window.
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
        used = METHOD_SLIDERS[values["method"]]
        for name, control in self.controls.items():
            if name != "method":
                control.disabled = name not in used
        if values["method"] == "siss" and values["low"] > values["high"]:
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
        return _png(fig)


def decoding_explorer(scores, truth, *, class_probs=None, fps: float = 30.0, **options) -> DecodingExplorer:
    """Interactive explorer of interval decoding on one video.

    Sliders for the decoder (``method``), ``k``, ``p`` (fixed window), ``low`` and ``high``
    (SISS) and the box-filter width ``smooth``, all with ``continuous_update=False``; the sliders the
    chosen method ignores are disabled (``p`` for SISS, ``low`` and ``high`` for the fixed window). Every
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


class ScanExplorer(w.VBox):
    """A scan-kind dropdown and a step slider over :func:`melab.viz.scan.plot_scan_step`.

    Attributes
    ----------
    controls : dict of str to ipywidgets.Widget
        ``kind`` (dropdown of :data:`melab.scan.SCAN_KINDS`) and ``step`` (slider, 0-based token).
    image : ipywidgets.Image
        The current frame as PNG.
    """

    def __init__(self, h: int = 7, w_: int = 7, *, kind: str = "v_zigzag", step: int = 10):
        if kind not in SCAN_KINDS:
            raise ValueError(f"unknown scan kind {kind!r}; choose one of {', '.join(SCAN_KINDS)}")
        if not 0 <= step < h * w_:
            raise ValueError(f"step must be in 0..{h * w_ - 1} for a {h}x{w_} grid, got {step}")
        self.shape = (h, w_)
        self.controls = {
            "kind": w.Dropdown(options=list(SCAN_KINDS), value=kind, description="kind"),
            "step": w.IntSlider(value=step, min=0, max=h * w_ - 1, description="step", continuous_update=False),
        }
        self.image = w.Image(format="png")
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        super().__init__([w.HBox(list(self.controls.values())), self.image])
        self.update()

    def _on_change(self, _change) -> None:
        self.update()

    def update(self) -> None:
        """Redraw the frame of the current kind and step."""
        self.image.value = _png(plot_scan_step(*self.shape, self.controls["kind"].value, self.controls["step"].value))


def scan_explorer(h: int = 7, w_: int = 7, *, kind: str = "v_zigzag", step: int = 10) -> ScanExplorer:
    """Interactive explorer of a scan order on an ``h`` × ``w_`` token grid.

    Moving the ``step`` slider shows the tokens visited so far, numbered, and the path up to that token
    (:func:`melab.scan.scan_progress`, drawn by :func:`melab.viz.scan.plot_scan_step`); the ``kind`` dropdown
    switches among :data:`melab.scan.SCAN_KINDS`.

    Returns
    -------
    ScanExplorer
        Display it in a notebook; ``.controls`` and ``.image`` are there for tests.
    """
    return ScanExplorer(h, w_, kind=kind, step=step)
