"""The plot of ``melab spot``: spotting scores over a video's time, with the detected intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from melab.decode import smooth_scores
from melab.viz._style import MIN_FONT_PT, new_figure

__all__ = ["plot_spotting"]


def plot_spotting(result, *, truth: pd.DataFrame | None = None, title: str | None = None):
    """Draw what :func:`melab.spot.spot_video` found: scores, thresholds, intervals and their emotions.

    Parameters
    ----------
    result : melab.spot.SpotResult
    truth : events table, optional
        ``onset, offset`` in video frames (+ ``kind``; rows of other videos, by ``video``, are left out),
        drawn as shaded spans: MEs blue, macro-expressions purple.
    title : default names the video.

    Returns
    -------
    matplotlib.figure.Figure
        Time in seconds on x, the smoothed spotting score on y (model rate), detected intervals as green
        bars labelled with their emotion.
    """
    d = result.decoder
    s = smooth_scores(result.spot, d.get("smooth", 1))
    fig, ax = new_figure(height=3.4)
    ax.plot(np.arange(s.size) / result.model_fps, s, color="black", lw=1)
    handles = [Patch(color="tab:green", label="detected")]
    if truth is not None:
        rows = truth[truth["video"].astype(str) == result.video] if "video" in truth.columns else truth
        colours = {"micro": "tab:blue", "macro": "tab:purple"}
        for row in rows.itertuples():
            kind = getattr(row, "kind", "micro")
            ax.axvspan(row.onset / result.fps, (row.offset + 1) / result.fps, color=colours.get(kind, "grey"),
                       alpha=0.15, lw=0)
        handles += [Patch(color="tab:blue", alpha=0.3, label="true ME"),
                    Patch(color="tab:purple", alpha=0.3, label="true MaE")]
    for level in d.get("thresholds", ()):
        ax.axhline(level, color="grey", ls="--", lw=0.8)
    for row in result.intervals.itertuples():
        start, stop = row.onset / result.fps, (row.offset + 1) / result.fps
        ax.axvspan(start, stop, ymin=0.0, ymax=0.06, color="tab:green")
        ax.text((start + stop) / 2, 1.04, row.emotion, ha="center", va="bottom", fontsize=MIN_FONT_PT)
    ax.set_xlim(0, result.n_frames / result.fps)
    ax.set_ylim(-0.08, 1.2)
    ax.set_xlabel(f"time (s); video at {result.fps:g} fps, scores at the model's {result.model_fps:g} fps")
    ax.set_ylabel("spotting score")
    ax.set_title(title or f"melab spot: {result.video}")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3, frameon=False)
    fig.tight_layout()
    return fig
