"""How hard a synthetic corpus is, drawn: easy against realistic, side by side (notebook 00).

Each function takes one table (or one set of events) per corpus and draws one panel per corpus, on shared axes, so
that what changes between the difficulties is what the eye compares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from melab.data.check import amplitude_histogram
from melab.data.synthetic import SUBTLE_KINDS, SyntheticVideo
from melab.viz._style import new_figure

__all__ = ["plot_amplitude_overlap", "plot_event_motion", "plot_duration_amplitude", "motion_group"]

GROUP_COLOURS = {"ME": "tab:red", "MaE": "tab:blue", "unlabelled facial movement": "tab:orange",
                 "blink": "tab:gray"}


def _log_axis(ax: plt.Axes, which: str, ticks: Sequence[float]) -> None:
    """Axis ``which`` ("x" or "y") of ``ax`` on a log scale, labelled in plain numbers at ``ticks``, no minor labels."""
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    axis.set_ticks(ticks, [f"{t:g}" for t in ticks])
    axis.set_minor_formatter(NullFormatter())


def plot_amplitude_overlap(corpora: Mapping[str, pd.DataFrame], *,
                           title: str = "Apex amplitudes of MEs and MaEs") -> plt.Figure:
    """Histograms of the ME and MaE apex amplitudes of each corpus, one panel per corpus, and their shared area.

    Parameters
    ----------
    corpora : name -> events table with columns ``kind`` ("micro" / "macro") and ``amplitude_px`` (apex, px).

    Each panel shows the share of each kind's events per log-spaced amplitude bin
    (:func:`melab.data.check.amplitude_histogram`) and, in black, the part the two histograms share: its area is the
    overlap coefficient of :func:`melab.data.check.amplitude_overlap`, given in the panel title.
    """
    fig, axes = new_figure(1, len(corpora), height=2.8, sharey=True, squeeze=False)
    for ax, (name, events) in zip(axes[0], corpora.items(), strict=True):
        shares = {}
        for kind, label, colour in (("micro", "ME", "tab:red"), ("macro", "MaE", "tab:blue")):
            share, edges = amplitude_histogram(events.loc[events["kind"] == kind, "amplitude_px"].to_numpy())
            shares[kind] = share
            ax.stairs(100 * share, edges, fill=True, alpha=0.45, color=colour, label=label)
        shared = np.minimum(shares["micro"], shares["macro"])
        ax.stairs(100 * shared, edges, fill=True, color="black", label="shared")
        _log_axis(ax, "x", (0.1, 0.3, 1, 3))
        ax.set_xlim(0.1, 8)
        ax.set_xlabel("apex amplitude (px)")
        ax.set_title(f"{name}: overlap {shared.sum():.2f}")
    axes[0, 0].set_ylabel("events of that kind (%)")
    axes[0, -1].legend(loc="upper right", frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def motion_group(kind: str) -> str | None:
    """The group a row's ``kind`` belongs to in these figures: "ME", "MaE", "blink", "unlabelled facial movement"
    (the subtle kinds that move the face, and talking), or None for head motion (nods, head jerks)."""
    if kind in ("micro", "macro"):
        return {"micro": "ME", "macro": "MaE"}[kind]
    if kind == "blink":
        return "blink"
    if kind == "talking" or (kind in SUBTLE_KINDS and kind != "nod"):
        return "unlabelled facial movement"
    return None


def _motion_label(row, fps: float) -> str:
    seconds = (row.offset - row.onset + 1) / fps
    if row.kind in ("micro", "macro"):
        return f"{motion_group(row.kind)} {row.emotion} (AU {row.aus}), {seconds:.2f} s"
    return f"{row.kind.replace('_', ' ')} (unlabelled), {seconds:.2f} s"


def plot_event_motion(panels: Mapping[str, Sequence[tuple[SyntheticVideo, object]]], *,
                      title: str = "Facial motion of single events") -> plt.Figure:
    """The facial displacement of a few events over time, one panel per corpus, on one shared pixel scale.

    Parameters
    ----------
    panels : panel title -> ``(video, row)`` pairs; ``row`` (a table row, e.g. from ``itertuples``) has ``kind,
        onset, offset`` (exact frames) and, for an expression, ``emotion`` and ``aus``. The video may be unrendered.

    Each curve is :meth:`SyntheticVideo.expression_peak` over the event's frames against the time since its onset
    (seconds), labelled with the kind, the AUs and the duration: its height at the apex is the event's amplitude.
    """
    fig, axes = new_figure(1, len(panels), height=3.3, sharey=True, squeeze=False)
    for ax, (name, events) in zip(axes[0], panels.items(), strict=True):
        for video, row in events:
            curve = video.expression_peak(int(row.onset), int(row.offset))
            ax.plot(np.arange(len(curve)) / video.fps, curve, lw=1.8, color=GROUP_COLOURS[motion_group(row.kind)],
                    label=_motion_label(row, video.fps))
        ax.set_xlabel("time since onset (s)")
        ax.set_title(name)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False, handlelength=1.2)
    axes[0, 0].set_ylabel("peak facial displacement (px)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_duration_amplitude(corpora: Mapping[str, pd.DataFrame], *, fps: float = 30.0,
                            title: str = "Every movement of a corpus: duration against size") -> plt.Figure:
    """Duration against apex amplitude of every labelled and unlabelled facial movement, one panel per corpus.

    Parameters
    ----------
    corpora : name -> table with ``kind, onset, offset, amplitude_px`` (exact frames at ``fps``): the truth events
        and the distractors of a corpus, concatenated. Head motion (nods, head jerks) moves no facial feature and is
        left out (:func:`motion_group`).
    """
    fig, axes = new_figure(1, len(corpora), height=3.2, sharex=True, sharey=True, squeeze=False)
    for ax, (name, table) in zip(axes[0], corpora.items(), strict=True):
        groups = table["kind"].map(motion_group)
        for group, colour in GROUP_COLOURS.items():
            rows = table[groups == group]
            if len(rows):
                ax.scatter((rows["offset"] - rows["onset"] + 1) / fps, rows["amplitude_px"], s=9, alpha=0.6,
                           color=colour, label=group, linewidths=0, zorder=3 if group == "ME" else 2)
        _log_axis(ax, "x", (0.1, 0.3, 1, 3))
        _log_axis(ax, "y", (0.2, 0.5, 1, 2, 5))
        ax.set_xlabel("duration (s)")
        ax.set_title(name)
    axes[0, 0].set_ylabel("apex amplitude (px)")
    handles, labels = axes[0, -1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, markerscale=2)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig
