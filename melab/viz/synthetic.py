"""Plots of the synthetic corpus: subjects, action-unit fields, event timelines."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from melab.data import synthetic as S
from melab.viz._style import DPI, FIG_WIDTH, MIN_FONT_PT, mark_photo, new_figure

__all__ = ["subject_gallery", "contact_sheet", "plot_au_field", "plot_event_timeline", "plot_displacement_over_time",
           "plot_frames"]

# Unlabelled movements in greys: the colours are the emotions' (EMOTION_COLOURS), and nothing else may look like one.
KIND_COLOURS = {"micro": "tab:red", "macro": "tab:blue", "blink": "0.55", "head_jerk": "0.3", "talking": "0.55",
                "subtle": "0.3"}
# Lanes of unlabelled movements in an event timeline: (lane name, kinds drawn in it).
DISTRACTOR_LANES = (("blink", ("blink",)), ("head_jerk", ("head_jerk",)), ("talking", ("talking",)),
                    ("subtle", S.SUBTLE_KINDS))


def subject_gallery(seed: int = 0, n: int = 8, *, size: int = 128) -> plt.Figure:
    """Neutral faces of the first ``n`` subjects drawn with master ``seed``, with their 68 landmarks."""
    cols = 4
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(FIG_WIDTH, 1.75 * rows + 0.3), dpi=DPI, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, ax in zip(range(n), axes.ravel(), strict=False):
        subject = S.make_subject(seed, i, size=size)
        ax.imshow(S.render_neutral(subject).astype(np.uint8))
        ax.plot(*subject.landmarks.T, ".", ms=1.5, color="cyan")
        ax.set_title(f"{subject.subject_id}, noise σ={subject.noise_sigma:.1f}", fontsize=MIN_FONT_PT)
    fig.suptitle(f"Synthetic subjects (seed {seed}) with iBUG-68 landmarks")
    fig.tight_layout()
    return mark_photo(fig)


def _grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    """(rows, cols) for ``n`` panels with at most ``max_cols`` per row and as few empty slots as possible."""
    rows = int(np.ceil(n / max_cols))
    return rows, int(np.ceil(n / rows))


def contact_sheet(corpus: str | Path, *, n_subjects: int = 8, kind: str = "micro") -> plt.Figure:
    """One apex frame per subject (its first event of ``kind``), labelled with the emotion and amplitude; as many
    columns as fill the rows (at most four), so no slot stays empty."""
    corpus = Path(corpus)
    events = pd.read_csv(corpus / "events.csv")
    picks = events[events["kind"] == kind].groupby("subject").head(1).head(n_subjects)
    if picks.empty:
        raise ValueError(f"{corpus / 'events.csv'} holds no event of kind {kind!r}")
    rows, cols = _grid_shape(len(picks))
    panel = FIG_WIDTH / max(cols, 3)  # three or more panels share the width; fewer keep a third each
    fig, axes = plt.subplots(rows, cols, figsize=(panel * cols, (panel + 0.45) * rows + 0.3), dpi=DPI,
                             squeeze=False)
    for ax, ev in zip(axes.ravel(), picks.itertuples(), strict=True):
        img = plt.imread(corpus / ev.subject / ev.video / f"img_{ev.apex:05d}.jpg")
        ax.imshow(img)
        ax.axis("off")
        ax.set_title(f"{ev.subject}: {ev.emotion}\n{ev.amplitude_px:.2f} px at apex", fontsize=MIN_FONT_PT)
    fig.suptitle(f"Synthetic subjects at the apex of a {kind}-expression")
    fig.tight_layout()
    return mark_photo(fig)


def _support_box(field: np.ndarray, *, pad: int, min_side: int) -> tuple[int, int, int, int]:
    """A square ``(x0, y0, x1, y1)`` around the pixels where ``field`` ``(H, W, 2)`` moves by > 15 % of its peak."""
    mag = np.linalg.norm(field, axis=-1)
    ys, xs = np.nonzero(mag > 0.15 * mag.max())
    n = field.shape[0]
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    side = min(n, max(min_side, int(max(np.ptp(xs), np.ptp(ys))) + 2 * pad))
    x0 = int(np.clip(round(cx - side / 2), 0, n - side))
    y0 = int(np.clip(round(cy - side / 2), 0, n - side))
    return x0, y0, x0 + side, y0 + side


def plot_au_field(subject: S.SubjectStyle, codes, *, step: int = 6, scale_px: float = 3.0) -> plt.Figure:
    """Each AU's displacement field as arrows, zoomed on the part of the face it moves.

    Each panel shows the square of the neutral face where the AU moves the skin (by more than 15 % of its
    peak); the full face is 128 px wide. About six arrows per row (never closer than ``step`` face pixels) show
    the displacement at an intensity of ``scale_px`` pixels (the field's peak), lengthened by the factor in the
    panel title so that their direction can be read. Three panels per row up to nine AUs, four beyond: pass a
    few AUs for large panels.
    """
    codes = list(codes)
    cols = min(3 if len(codes) <= 9 else 4, len(codes))
    rows = int(np.ceil(len(codes) / cols))
    panel = FIG_WIDTH / cols
    fig, axes = plt.subplots(rows, cols, figsize=(FIG_WIDTH, (panel + 0.35) * rows + 0.35), dpi=DPI, squeeze=False)
    neutral = S.render_neutral(subject) / 255.0
    basis = S.au_basis(subject)
    for ax in axes.ravel():
        ax.axis("off")
    gains = []
    for ax, code in zip(axes.ravel(), codes, strict=False):
        field = basis[S.AU_CODES.index(code)] * scale_px
        x0, y0, x1, y1 = _support_box(field, pad=step, min_side=6 * step)
        spacing = max(step, (x1 - x0) // 6)  # about six arrows across each panel
        gain = 0.9 * spacing / scale_px  # the longest arrow spans 0.9 spacings
        gains.append(gain)
        yy, xx = np.mgrid[y0 + spacing // 2:y1:spacing, x0 + spacing // 2:x1:spacing]
        f = field[yy, xx]
        keep = np.linalg.norm(f, axis=-1) > 0.2 * scale_px  # stubs would show only their heads
        ax.imshow(neutral, extent=(-0.5, subject.size - 0.5, subject.size - 0.5, -0.5))
        ax.quiver(xx[keep], yy[keep], gain * f[keep, 0], gain * f[keep, 1], color="yellow", edgecolor="black",
                  linewidth=0.5, angles="xy", scale_units="xy", scale=1, width=0.012, headwidth=3.5,
                  headlength=4, headaxislength=3.5)
        ax.set_xlim(x0 - 0.5, x1 - 0.5)
        ax.set_ylim(y1 - 0.5, y0 - 0.5)
        ax.set_title(f"{code} (arrows ×{gain:.0f})\n{S.AU_TABLE[code].name}", fontsize=MIN_FONT_PT)
    fig.suptitle(f"AU displacement fields at {scale_px:g} px peak (zoomed; arrows lengthened ×{min(gains):.0f}"
                 + (f"–{max(gains):.0f})" if max(gains) > min(gains) + 0.5 else ")"))
    fig.tight_layout()
    return mark_photo(fig)


EMOTION_COLOURS = {"anger": "tab:red", "contempt": "tab:brown", "disgust": "tab:olive", "fear": "tab:purple",
                   "happiness": "gold", "others": "tab:cyan", "sadness": "tab:blue", "surprise": "tab:orange"}


def plot_event_timeline(events: pd.DataFrame, n_frames: int, fps: float, *,
                        distractors: pd.DataFrame | None = None, title: str = "") -> plt.Figure:
    """Expressions and distractors of one video as spans on a time axis (seconds).

    One lane per kind (micro, macro, then the unlabelled movements that occur: blinks, head jerks and, in a
    realistic video, talking and the subtle movements of :data:`melab.data.synthetic.SUBTLE_KINDS` in one lane);
    expressions are coloured by emotion, with the full emotion names in the legend; unlabelled movements are grey,
    so that no colour of an emotion is reused for them.
    """
    lanes = [("micro", events[events["kind"] == "micro"]), ("macro", events[events["kind"] == "macro"])]
    if distractors is not None and len(distractors):
        lanes += [(lane, distractors[distractors["kind"].isin(kinds)]) for lane, kinds in DISTRACTOR_LANES
                  if distractors["kind"].isin(kinds).any()]
    fig, ax = new_figure(height=1.2 + 0.3 * len(lanes))
    seen = set()
    for lane, (kind, rows) in enumerate(lanes):
        for ev in rows.itertuples():
            emotion = getattr(ev, "emotion", None) if kind in ("micro", "macro") else None
            colour = EMOTION_COLOURS.get(emotion, "tab:gray") if emotion else KIND_COLOURS[kind]
            ax.barh(lane, (ev.offset - ev.onset + 1) / fps, left=ev.onset / fps, color=colour, height=0.7,
                    edgecolor=colour, linewidth=1.2)  # an outline keeps a 3-frame ME visible on a minute-long axis
            seen.add(emotion)
    ax.set_yticks(range(len(lanes)), [k.replace("_", " ").replace("subtle", "subtle, unlabelled") for k, _ in lanes])
    ax.set_xlim(0, n_frames / fps)
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    ax.set_xlabel("time (s)")
    ax.set_title(title or "Events of one video")
    handles = [Patch(color=EMOTION_COLOURS.get(e, "tab:gray"), label=e) for e in sorted(seen - {None})]
    if len(lanes) > 2:
        handles.append(Patch(color="0.45", label="unlabelled\n(grey, by row)"))
    if handles:
        ax.legend(handles=handles, title="colour", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
                  handlelength=1)
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
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_frames(frames: np.ndarray, indices, *, labels=None, title: str = "") -> plt.Figure:
    """A row of frames ``(T, H, W, 3)`` at ``indices``."""
    indices = list(indices)
    fig, axes = plt.subplots(1, len(indices), figsize=(FIG_WIDTH, FIG_WIDTH / len(indices) + 0.4), dpi=DPI,
                             squeeze=False)
    for ax, i, lab in zip(axes[0], indices, labels or [f"frame {i}" for i in indices], strict=False):
        ax.imshow(frames[i])
        ax.set_title(lab, fontsize=MIN_FONT_PT)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return mark_photo(fig)
