"""Plots of the synthetic corpus: subjects, action-unit fields, event timelines."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from melab.data import synthetic as S
from melab.viz._style import DPI, FIG_WIDTH, new_figure

__all__ = ["subject_gallery", "contact_sheet", "plot_au_field", "plot_event_timeline", "plot_displacement_over_time",
           "plot_frames"]

KIND_COLOURS = {"micro": "tab:red", "macro": "tab:blue", "blink": "tab:gray", "head_jerk": "tab:olive"}


def subject_gallery(seed: int = 0, n: int = 8, *, size: int = 128) -> plt.Figure:
    """Neutral faces of the first ``n`` subjects drawn with master ``seed``, with their 68 landmarks."""
    cols = 4
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(FIG_WIDTH, 1.6 * rows + 0.3), dpi=DPI, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, ax in zip(range(n), axes.ravel(), strict=False):
        subject = S.make_subject(seed, i, size=size)
        ax.imshow(S.render_neutral(subject).astype(np.uint8))
        ax.plot(*subject.landmarks.T, ".", ms=1.5, color="cyan")
        ax.set_title(f"{subject.subject_id}, noise σ={subject.noise_sigma:.1f}", fontsize=7)
    fig.suptitle(f"Synthetic subjects (seed {seed}) with iBUG-68 landmarks", fontsize=9)
    fig.tight_layout()
    return fig


def contact_sheet(corpus: str | Path, *, n_subjects: int = 8, kind: str = "micro") -> plt.Figure:
    """One apex frame per subject (its first event of ``kind``), labelled with the emotion and amplitude."""
    corpus = Path(corpus)
    events = pd.read_csv(corpus / "events.csv")
    picks = events[events["kind"] == kind].groupby("subject").head(1).head(n_subjects)
    cols = 4
    rows = int(np.ceil(len(picks) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(FIG_WIDTH, 1.95 * rows), dpi=DPI, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, ev in zip(axes.ravel(), picks.itertuples(), strict=False):
        img = plt.imread(corpus / ev.subject / ev.video / f"img_{ev.apex:05d}.jpg")
        ax.imshow(img)
        ax.set_title(f"{ev.subject}: {ev.emotion}\n{ev.amplitude_px:.2f} px at apex", fontsize=7)
    fig.suptitle(f"Synthetic subjects at the apex of a {kind}-expression", fontsize=9)
    fig.tight_layout()
    return fig


def plot_au_field(subject: S.SubjectStyle, codes, *, step: int = 6, scale_px: float = 3.0) -> plt.Figure:
    """Each AU's displacement field as arrows on the subject's neutral face.

    Arrows show the displacement at ``scale_px`` pixels of intensity, drawn to scale (1 px arrow = 1 px motion).
    """
    codes = list(codes)
    cols = min(4, len(codes))
    rows = int(np.ceil(len(codes) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(FIG_WIDTH, 1.6 * rows + 0.2), dpi=DPI, squeeze=False)
    neutral = S.render_neutral(subject) / 255.0
    basis = S.au_basis(subject)
    n = subject.size
    yy, xx = np.mgrid[step // 2:n:step, step // 2:n:step]
    for ax in axes.ravel():
        ax.axis("off")
    for ax, code in zip(axes.ravel(), codes, strict=False):
        f = basis[S.AU_CODES.index(code)][yy, xx] * scale_px
        keep = np.linalg.norm(f, axis=-1) > 0.05 * scale_px
        ax.imshow(neutral)
        ax.quiver(xx[keep], yy[keep], f[keep, 0], f[keep, 1], color="yellow", angles="xy", scale_units="xy",
                  scale=1 / 2.0, width=0.012)
        ax.set_title(f"{code}: {S.AU_TABLE[code].name}", fontsize=7)
    fig.suptitle(f"AU displacement fields (arrows ×2, {scale_px:g} px peak)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_event_timeline(events: pd.DataFrame, n_frames: int, fps: float, *,
                        distractors: pd.DataFrame | None = None, title: str = "") -> plt.Figure:
    """Expressions and distractors of one video as coloured spans on a time axis (seconds)."""
    fig, ax = new_figure(height=1.9)
    lanes = [("micro", events[events["kind"] == "micro"]), ("macro", events[events["kind"] == "macro"])]
    if distractors is not None and len(distractors):
        lanes += [(k, distractors[distractors["kind"] == k]) for k in ("blink", "head_jerk")]
    for lane, (kind, rows) in enumerate(lanes):
        for ev in rows.itertuples():
            ax.barh(lane, (ev.offset - ev.onset + 1) / fps, left=ev.onset / fps, color=KIND_COLOURS[kind],
                    height=0.7)
            if kind in ("micro", "macro"):
                ax.text((ev.onset + ev.offset) / 2 / fps, lane + 0.45, ev.emotion[:4], fontsize=5, ha="center")
    ax.set_yticks(range(len(lanes)), [k for k, _ in lanes], fontsize=7)
    ax.set_xlim(0, n_frames / fps)
    ax.set_ylim(-0.6, len(lanes) - 0.1)
    ax.set_xlabel("time (s)")
    ax.set_title(title or "Events of one video", fontsize=9)
    fig.tight_layout()
    return fig


def plot_displacement_over_time(curves: dict[str, np.ndarray], fps: float, *,
                                title: str = "Peak displacement over time") -> plt.Figure:
    """Peak true displacement (px) relative to the onset frame, one curve per labelled clip."""
    fig, ax = new_figure(height=2.4)
    for label, curve in curves.items():
        ax.plot(np.arange(len(curve)) / fps, curve, label=label)
    ax.set_xlabel("time since onset (s)")
    ax.set_ylabel("peak displacement (px)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_frames(frames: np.ndarray, indices, *, labels=None, title: str = "") -> plt.Figure:
    """A row of frames ``(T, H, W, 3)`` at ``indices``."""
    indices = list(indices)
    fig, axes = plt.subplots(1, len(indices), figsize=(FIG_WIDTH, FIG_WIDTH / len(indices) + 0.4), dpi=DPI,
                             squeeze=False)
    for ax, i, lab in zip(axes[0], indices, labels or [f"frame {i}" for i in indices], strict=False):
        ax.imshow(frames[i])
        ax.set_title(lab, fontsize=7)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
