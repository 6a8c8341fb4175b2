"""How hard is the synthetic corpus? Its difficulty in numbers, realistic against easy (generator version 1).

Per corpus, :func:`melab.data.check.synthetic_difficulty` gives the ME and MaE amplitude distributions and their
overlap, MEs per minute and the share of ME-free videos, distractors per ME by kind, the ME duration histogram,
the oracle fixed-window coverage, AU-presence and label-noise rates, class shares and (clips) the emotion
similarity of the mean fields. This script adds the ME signal against the noise, twice: in the ROI series the
spotter reads (the figure that matters for a spotter), and in face pixels.

**In the ROI series** (:func:`roi_signal`, the cached :func:`melab.features.roi_corpus` series): a frame's motion is
``m(t) = max over ROIs of |f(t) − f(t − d)|`` (pixels), the ROI displacement built up over ``d`` frames, the median
onset→apex lag of the MEs (one of the spotter's contrast features, :func:`melab.inputs.temporal_contrast`). An ME's
signal is the largest ``m`` over its frames. Noise is ``m`` on two kinds of frame: *quiet* frames (no expression,
unlabelled movement, talking, blink or head jerk within half a second), and *event-free* frames (no labelled ME
or MaE within half a second, but blinks, talking and the other unlabelled movements kept, as a spotter meets
them). Reported: the median ME signal against the 99th percentile of each, and the share of blinks, talking and
other unlabelled movements whose own peak ``m`` exceeds the median ME.

**In face pixels**: noise-induced flow is Farneback flow between frames of quiet stretches (no expression,
unlabelled movement, talking, blink or head jerk within half a second), measured inside the face (the landmark
hull): per frame pair, the median and the 99th percentile of the magnitude over face pixels (the latter is the fair
match for an ME's *peak* amplitude). It is reported between consecutive frames and at the median onset→apex lag of
the MEs, the lag over which an ME's motion builds up. Clips have no quiet stretch, so they get no noise figure.

Writes ``benchmarks/results/synthetic_difficulty.json``: ``{preset: {difficulty: figures}}``. Corpora are made
(or reused) under ``$MELAB_DATA``; wall times depend on the load of the (shared) machine.

Usage: ``python benchmarks/synthetic_difficulty.py [--corpora lab:realistic lab:easy bench:realistic clips]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from melab.atomic import write_text
from melab.data.check import synthetic_difficulty
from melab.data.synthetic import load_video, make_corpus
from melab.features import roi_corpus

OUT = Path(__file__).parent / "results" / "synthetic_difficulty.json"
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=5, poly_n=7, poly_sigma=1.5, flags=0)


def quiet_frames(n_frames: int, spans: pd.DataFrame, margin: int) -> np.ndarray:
    busy = np.zeros(n_frames, bool)
    for r in spans.itertuples():
        busy[max(0, r.onset - margin):r.offset + margin + 1] = True
    return np.flatnonzero(~busy)


def face_mask(landmarks: np.ndarray, shape) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1)
    return mask.astype(bool)


def noise_flow(corpus: Path, n_pairs: int) -> dict:
    """Noise-induced Farneback flow in quiet stretches, and the median ME amplitude against its 99th percentile."""
    events = pd.read_csv(corpus / "events.csv")
    videos = pd.read_csv(corpus / "videos.csv")
    mes = events[events["kind"] == "micro"]
    lag = int(np.median(mes["apex"] - mes["onset"]))
    rng = np.random.default_rng(0)
    noise = {1: [], lag: []}
    peak_noise = {1: [], lag: []}
    for row in videos[videos["fps"] == 30].itertuples():
        v = load_video(corpus, row.video)
        spans = [v.events[["onset", "offset"]], v.distractors[["onset", "offset"]]]
        if v.truth is not None:
            spans.append(v.truth[["onset", "offset"]])
        quiet = set(quiet_frames(v.n_frames, pd.concat(spans), margin=int(0.5 * v.fps)).tolist())
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in v.frames]
        for d in noise:
            starts = sorted(t for t in quiet if all(t + i in quiet for i in range(d + 1)))
            for t in rng.choice(starts, min(n_pairs, len(starts)), replace=False) if starts else []:
                flow = cv2.calcOpticalFlowFarneback(gray[t], gray[t + d], None, **FARNEBACK)
                mag = np.linalg.norm(flow, axis=-1)[face_mask(v.landmarks[t], gray[t].shape)]
                noise[d].append(float(np.median(mag)))
                peak_noise[d].append(float(np.percentile(mag, 99)))
    p99 = {f"lag_{d}": round(float(np.median(v)), 4) for d, v in peak_noise.items()}
    return {"median_onset_apex_lag_frames": lag,
            "noise_flow_px_median": {f"lag_{d}": round(float(np.median(v)), 4) for d, v in noise.items()},
            "noise_flow_px_p99_of_face": p99, "noise_pairs": {f"lag_{d}": len(v) for d, v in noise.items()},
            "me_peak_to_noise_peak_ratio": round(float(mes["amplitude_px"].median()) / p99[f"lag_{lag}"], 3)}


def onset_motion(series: np.ndarray, lag: int) -> np.ndarray:
    """``m(t) = max_r |f_r(t) − f_r(t − lag)|`` (T,), pixels; the first ``lag`` frames compare with frame 0."""
    x = np.asarray(series, np.float64)
    before = np.concatenate([np.repeat(x[:1], lag, axis=0), x[:-lag]])
    d = x - before
    return np.hypot(d[:, 0::2], d[:, 1::2]).max(axis=1)


def roi_signal(corpus: Path, *, margin_s: float = 0.5) -> dict:
    """The median ME against the quiet and the event-free noise of the ROI series (module docstring)."""
    roi = roi_corpus(corpus, progress=False)
    events = roi.events
    distractors = pd.read_csv(corpus / "distractors.csv") if (corpus / "distractors.csv").exists() else \
        pd.DataFrame(columns=["video", "kind", "onset", "offset"])
    truth = pd.read_csv(corpus / "truth_events.csv") if (corpus / "truth_events.csv").exists() else events
    mes = events[events["kind"] == "micro"]
    lag = max(1, int(np.median(mes["apex"] - mes["onset"])))
    me_peaks, quiet, event_free, movement = [], [], [], {}
    for row in roi.videos.itertuples():
        m = onset_motion(roi.series[row.video], lag)
        margin = int(margin_s * row.fps)
        labelled = pd.concat([events[events["video"] == row.video], truth[truth["video"] == row.video]])
        moving = distractors[distractors["video"] == row.video]
        free = quiet_frames(len(m), labelled[["onset", "offset"]], margin)
        calm = quiet_frames(len(m), pd.concat([labelled[["onset", "offset"]], moving[["onset", "offset"]]]), margin)
        event_free.append(m[free])
        quiet.append(m[calm])
        me_peaks += [m[r.onset:r.offset + 1].max() for r in mes[mes["video"] == row.video].itertuples()]
        for r in moving.itertuples():
            movement.setdefault(r.kind, []).append(m[r.onset:r.offset + 1].max())
    me = float(np.median(me_peaks))
    p99_quiet, p99_free = (float(np.percentile(np.concatenate(a), 99)) for a in (quiet, event_free))
    return {"lag_frames": lag, "statistic": "max over ROIs of |f(t) - f(t - lag)|, px",
            "me_median_px": round(me, 4), "quiet_p99_px": round(p99_quiet, 4), "event_free_p99_px": round(p99_free, 4),
            "me_to_quiet_p99": round(me / p99_quiet, 3), "me_to_event_free_p99": round(me / p99_free, 3),
            "n_me": len(me_peaks), "quiet_frames": int(sum(map(len, quiet))),
            "event_free_frames": int(sum(map(len, event_free))),
            "movements_above_median_me": {kind: {"share": round(float(np.mean(np.array(v) > me)), 3), "n": len(v)}
                                          for kind, v in sorted(movement.items())}}


def measure(preset: str, difficulty: str, n_pairs: int) -> dict:
    start = time.perf_counter()
    corpus = make_corpus(preset, 0, difficulty=difficulty, progress=False)
    generated = time.perf_counter() - start
    result = synthetic_difficulty(corpus)
    if preset != "clips":
        result["roi_signal"] = roi_signal(corpus)
        result["noise"] = noise_flow(corpus, n_pairs)
    result["seconds"] = {"corpus (made or reused)": round(generated, 1),
                         "measure": round(time.perf_counter() - start - generated, 1)}
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", default=["lab:realistic", "lab:easy", "bench:realistic", "clips"],
                        help="preset:difficulty pairs (clips is realistic only)")
    parser.add_argument("--pairs", type=int, default=20, help="frame pairs sampled per video and lag")
    args = parser.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results = {} if "preset" in results else results  # the version-1 file held one corpus's figures
    for spec in args.corpora:
        preset, _, difficulty = spec.partition(":")
        difficulty = difficulty or "realistic"
        results.setdefault(preset, {})[difficulty] = measure(preset, difficulty, args.pairs)
        write_text(OUT, json.dumps(results, indent=1) + "\n")
        print(f"{preset} {difficulty}: done", flush=True)
