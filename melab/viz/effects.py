"""A paired comparison of two models over training seeds: the scores, and their differences against the spread."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from melab.viz._style import new_figure

__all__ = ["plot_paired_effect"]


def plot_paired_effect(a: pd.Series | Mapping[int, float], b: pd.Series | Mapping[int, float], *,
                       names: tuple[str, str] = ("A", "B"), metric: str = "UF1",
                       ci: tuple[float, float] | None = None, ci_label: str = "95% CI",
                       title: str | None = None):
    """Two panels: each seed's score of A and of B joined by a line, and the per-seed differences B − A.

    The right panel shows the differences as dots, their mean ± one standard deviation over the seeds (ddof 1)
    as a bar, and, when given, a confidence interval of the effect (e.g. the bootstrap CI of
    ``benchmarks/results/claims.json``) as a second bar, against a line at 0: a gap is clear when its bar
    stays off the zero line, not when its mean does.

    Parameters
    ----------
    a, b : pd.Series or mapping
        Score of model A and of model B per training seed (same seeds, at least two).
    names : (str, str)
        Names of A and B.
    metric : str
        Name of the score, for the axis labels.
    ci : (float, float), optional
        Low and high end of a confidence interval of the effect B − A.
    ci_label : str
        Legend text of ``ci``.
    title : str, optional
        Figure title (default ``"<B> vs <A>, paired by seed"``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    a, b = pd.Series(a, dtype=np.float64), pd.Series(b, dtype=np.float64)
    if set(a.index) != set(b.index):
        raise ValueError(f"a and b must hold the same seeds, got {sorted(a.index)} and {sorted(b.index)}")
    if len(a) < 2:
        raise ValueError(f"a paired spread needs at least two seeds, got {len(a)}")
    if ci is not None and not ci[0] <= ci[1]:
        raise ValueError(f"ci must be (low, high) with low <= high, got {ci}")
    seeds = sorted(a.index)
    a, b = a[seeds], b[seeds]
    diff = b - a
    fig, (left, right) = new_figure(1, 2, height=3.8, gridspec_kw={"width_ratios": [1.2, 1]})
    for seed in seeds:
        left.plot([0, 1], [a[seed], b[seed]], color="0.6", lw=1, zorder=1)
    left.scatter(np.zeros(len(a)), a, color="C0", zorder=2)
    left.scatter(np.ones(len(b)), b, color="C1", zorder=2)
    left.set_xticks([0, 1], list(names))
    left.set_xlim(-0.4, 1.4)
    left.set_xlabel("model (lines join one seed)")
    left.set_ylabel(metric)
    left.set_title(f"{metric} per seed")
    right.axhline(0, color="0.3", lw=1)
    right.scatter(np.zeros(len(diff)), diff, color="0.35", zorder=3, label="one seed")
    right.errorbar([0.35], [diff.mean()], yerr=[diff.std(ddof=1)], fmt="o", color="C3", capsize=4,
                   label="mean ± sd over seeds")
    if ci is not None:
        mid = (ci[0] + ci[1]) / 2
        right.errorbar([0.7], [mid], yerr=[[mid - ci[0]], [ci[1] - mid]], fmt="none", ecolor="C2", capsize=4,
                       lw=2, label=ci_label)
    low, high = right.get_ylim()
    pad = 0.1 * (high - low)
    right.set_ylim(min(low, -pad), max(high, pad))  # the zero line always shows, off the frame
    right.set_xlim(-0.3, 1.0)
    right.set_xticks([])
    right.set_xlabel(f"{names[1]} − {names[0]}")
    right.set_ylabel(f"difference in {metric}")
    right.set_title("Paired differences")
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(title or f"{names[1]} vs {names[0]}, paired by seed")
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # room for the legend below the panels
    return fig
