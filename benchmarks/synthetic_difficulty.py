"""How hard is the synthetic corpus? Its difficulty in numbers, realistic against easy (generator version 1).

Per corpus, :func:`melab.data.check.synthetic_difficulty` gives the ME and MaE amplitude distributions and their
overlap, MEs per minute and the share of ME-free videos, distractors per ME by kind, the ME duration histogram,
the oracle fixed-window coverage, AU-presence and label-noise rates, class shares and (clips) the emotion
similarity of the mean fields. This script adds the ME peak against the flow that noise alone induces.

Noise-induced flow is Farneback flow between frames of quiet stretches (no expression, unlabelled movement,
talking, blink or head jerk within half a second), measured inside the face (the landmark hull): per frame pair,
the median and the 99th percentile of the magnitude over face pixels (the latter is the fair match for an ME's
*peak* amplitude). It is reported between consecutive frames and at the median onset→apex lag of the MEs, the lag
over which an ME's motion builds up. Clips have no quiet stretch, so they get no noise figure.

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


def measure(preset: str, difficulty: str, n_pairs: int) -> dict:
    start = time.perf_counter()
    corpus = make_corpus(preset, 0, difficulty=difficulty, progress=False)
    generated = time.perf_counter() - start
    result = synthetic_difficulty(corpus)
    if preset != "clips":
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
