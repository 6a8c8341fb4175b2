"""Confusion matrices: counts with row percentages, the difference of two models, per-class recall bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch

from melab.viz._style import MIN_FONT_PT, new_figure

__all__ = ["plot_confusion", "plot_confusion_diff", "plot_per_class"]


def _matrix(cm, labels: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    """(K, K) float64 counts and K labels from a DataFrame (its index) or an array (``labels`` required)."""
    if labels is None:
        if not isinstance(cm, pd.DataFrame):
            raise ValueError("pass labels= for a confusion matrix given as an array")
        labels = list(cm.index)
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix of shape {m.shape} does not fit {len(labels)} labels")
    return m, [str(label) for label in labels]


def _row_fractions(m: np.ndarray) -> np.ndarray:
    rows = m.sum(axis=1, keepdims=True)
    return np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)


def _heatmap_axes(ax, labels: list[str], title: str) -> None:
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    ax.set_xticklabels(labels, rotation=90)  # upright: neighbours' boxes never overlap
    ax.set_yticklabels(labels, rotation=0)


def plot_confusion(cm: pd.DataFrame | np.ndarray, labels: Sequence[str] | None = None, *,
                   normalize: str | None = None, title: str = "Confusion matrix", cmap: str = "Blues"):
    """Heatmap of a confusion matrix; every cell shows its count and its share of the true class.

    Parameters
    ----------
    cm : pd.DataFrame or np.ndarray
        (K, K) counts, rows true, columns predicted (e.g. :func:`melab.metrics.confusion`).
    labels : sequence of str, optional
        K class names (default: the DataFrame's index).
    normalize : None or "true"
        Colour by counts (None) or by row fraction ("true": each true class sums to 1, so classes of
        different sizes compare).
    title : str
        Figure title.
    cmap : str
        Matplotlib colormap.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if normalize not in (None, "true"):
        raise ValueError(f"normalize must be None or 'true', got {normalize!r}")
    m, labels = _matrix(cm, labels)
    share = _row_fractions(m)
    text = np.array([[f"{m[i, j]:.0f}\n{100 * share[i, j]:.0f}%" if m[i, j] else "0"
                      for j in range(len(labels))] for i in range(len(labels))])
    fig, ax = new_figure(height=4.6)
    colour = share if normalize == "true" else m
    sns.heatmap(colour, annot=text, fmt="", cmap=cmap, ax=ax, square=True, linewidths=0.5, linecolor="white",
                vmin=0, vmax=1 if normalize == "true" else None, annot_kws={"fontsize": MIN_FONT_PT},
                cbar_kws={"label": "fraction of the true class" if normalize == "true" else "samples"})
    _heatmap_axes(ax, labels, f"{title} (cells: count, % of row)")
    fig.tight_layout()
    return fig


def plot_confusion_diff(cm_a: pd.DataFrame | np.ndarray, cm_b: pd.DataFrame | np.ndarray,
                        labels: Sequence[str] | None = None, *, names: tuple[str, str] = ("A", "B"),
                        normalize: str | None = None, title: str | None = None):
    """Where confusion moved from model A to model B, coloured by whether B is better or worse there.

    Each cell shows the signed change ``B − A`` (of counts, or of row percentages). Its colour says what the
    change means: on the diagonal more samples is better, off the diagonal more samples (a mistake made more
    often) is worse. Blue is better for B, red is worse, white unchanged; zero cells are left blank and the
    diagonal is boxed. The colour bar is labelled in sizes ("3 better", "3 worse"), not signs, so it never
    contradicts a cell's signed count.

    Parameters
    ----------
    cm_a, cm_b : pd.DataFrame or np.ndarray
        (K, K) counts of the two models, rows true, columns predicted, same classes.
    labels : sequence of str, optional
        K class names (default: ``cm_a``'s index).
    names : (str, str)
        Names of A and B for the title.
    normalize : None or "true"
        Difference of counts (None; use it when both models saw the same samples) or of row
        fractions, shown in percentage points ("true").
    title : str, optional
        Figure title (default ``"<B> − <A>"``).

    Returns
    -------
    matplotlib.figure.Figure
        The heatmap's colour values are the *gain* of B: ``B − A`` on the diagonal, ``A − B`` off it.
    """
    if normalize not in (None, "true"):
        raise ValueError(f"normalize must be None or 'true', got {normalize!r}")
    a, labels = _matrix(cm_a, labels)
    b, _ = _matrix(cm_b, labels)
    diff = 100 * (_row_fractions(b) - _row_fractions(a)) if normalize == "true" else b - a
    gain = np.where(np.eye(len(labels), dtype=bool), diff, -diff)  # > 0: better for B
    unit = "percentage points of the true class" if normalize == "true" else "samples"
    text = np.array([[f"{v:+.0f}" if round(v) else "" for v in row] for row in diff])
    limit = max(float(np.abs(diff).max()), 1.0)  # symmetric limits: 0 sits at the colormap's centre
    fig, ax = new_figure(height=5.0)
    sns.heatmap(gain, annot=text, fmt="", cmap="RdBu", vmin=-limit, vmax=limit, ax=ax, square=True,
                linewidths=0.5, linecolor="white", annot_kws={"fontsize": MIN_FONT_PT},
                cbar_kws={"label": f"for {names[1]}: how much better or worse ({unit})"})
    # the bar gives sizes and meaning, never a sign: a cell's own text is the signed change of its count, and an
    # off-diagonal "+3" (three more mistakes) is worse, so a signed bar would contradict it
    bar = ax.collections[0].colorbar
    ticks = [t for t in bar.get_ticks() if -limit <= t <= limit and float(t).is_integer()]
    bar.set_ticks(ticks, labels=[f"{abs(t):g} better" if t > 0 else f"{abs(t):g} worse" if t < 0 else "no change"
                                 for t in ticks])
    for i in range(len(labels)):  # outline the diagonal: the correct predictions
        ax.add_patch(plt.Rectangle((i, i), 1, 1, fill=False, edgecolor="0.3", lw=1, clip_on=False))
    _heatmap_axes(ax, labels, title or f"{names[1]} − {names[0]} (cells: change in count; boxed: correct)")
    ax.set_title(ax.get_title(), pad=24)  # room for the legend between title and matrix
    cmap = plt.get_cmap("RdBu")
    ax.legend(handles=[Patch(color=cmap(0.85), label=f"better for {names[1]}"),
                       Patch(color=cmap(0.15), label=f"worse for {names[1]}"),
                       Patch(fill=False, ec="0.3", label="diagonal (correct)")],
              loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False, handlelength=1,
              columnspacing=1.0)
    fig.tight_layout()
    return fig


def plot_per_class(recalls: Mapping[str, Sequence[float] | pd.Series], labels: Sequence[str] | None = None, *,
                   title: str = "Per-class recall", ylabel: str = "recall (fraction of the class)"):
    """Grouped bars: the recall of every class, one bar per model side by side.

    Parameters
    ----------
    recalls : mapping
        Model name -> K recalls in [0, 1] (a Series indexed by class, e.g.
        :func:`melab.recognition.per_class_recall`, or a sequence in ``labels`` order).
    labels : sequence of str, optional
        K class names (default: the first Series' index).
    title, ylabel : str
        Figure title and y-axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not recalls:
        raise ValueError("recalls is empty: pass {model name: per-class recall}")
    if labels is None:
        first = next(iter(recalls.values()))
        if not isinstance(first, pd.Series):
            raise ValueError("pass labels= when the recalls are plain sequences")
        labels = list(first.index)
    labels = [str(label) for label in labels]
    table = {}
    for name, values in recalls.items():
        values = values.reindex(labels) if isinstance(values, pd.Series) else pd.Series(list(values), labels)
        if len(values) != len(labels) or values.isna().any():
            raise ValueError(f"recalls of {name!r} do not cover the classes {labels}")
        table[name] = values.to_numpy(dtype=np.float64)
    fig, ax = new_figure(height=3.4)
    width = 0.8 / len(table)
    x = np.arange(len(labels))
    for k, (name, values) in enumerate(table.items()):
        ax.bar(x - 0.4 + (k + 0.5) * width, values, width, label=name, color=f"C{k}")
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylim(0, 1.2)  # headroom for the legend
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlabel("true class")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(ncol=len(table), loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
