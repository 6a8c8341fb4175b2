"""How hard is the synthetic corpus? ME apex amplitude against the flow that noise alone induces.

Noise-induced flow is Farneback flow between frames of quiet stretches (no expression, blink or head jerk
within half a second), measured inside the face (the landmark hull): per frame pair, the median and the 99th
percentile of the magnitude over face pixels (the latter is the fair match for an ME's *peak* amplitude).
It is reported between consecutive frames and at the median onset→apex lag of the MEs, the lag over which an
ME's motion builds up.
Writes ``benchmarks/results/synthetic_difficulty.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

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


def main(preset: str, n_pairs: int) -> dict:
    start = time.perf_counter()
    corpus = make_corpus(preset, 0)
    events = pd.read_csv(corpus / "events.csv")
    videos = pd.read_csv(corpus / "videos.csv")
    mes = events[events["kind"] == "micro"]
    lag = int(np.median(mes["apex"] - mes["onset"]))
    rng = np.random.default_rng(0)
    noise = {1: [], lag: []}
    peak_noise = {1: [], lag: []}
    for row in videos[videos["fps"] == 30].itertuples():
        v = load_video(corpus, row.video)
        spans = pd.concat([v.events[["onset", "offset"]], v.distractors[["onset", "offset"]]])
        quiet = set(quiet_frames(v.n_frames, spans, margin=int(0.5 * v.fps)).tolist())
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in v.frames]
        for d in noise:
            starts = [t for t in quiet if all(t + i in quiet for i in range(d + 1))]
            for t in rng.choice(starts, min(n_pairs, len(starts)), replace=False):
                flow = cv2.calcOpticalFlowFarneback(gray[t], gray[t + d], None, **FARNEBACK)
                mag = np.linalg.norm(flow, axis=-1)[face_mask(v.landmarks[t], gray[t].shape)]
                noise[d].append(float(np.median(mag)))
                peak_noise[d].append(float(np.percentile(mag, 99)))
    result = {
        "preset": preset,
        "n_me": int(len(mes)),
        "me_amplitude_px": {"median": float(mes["amplitude_px"].median()),
                            "min": float(mes["amplitude_px"].min()), "max": float(mes["amplitude_px"].max())},
        "mae_amplitude_px_median": float(events.loc[events["kind"] == "macro", "amplitude_px"].median()),
        "median_onset_apex_lag_frames": lag,
        "noise_flow_px_median": {f"lag_{d}": float(np.median(v)) for d, v in noise.items()},
        "noise_flow_px_p99_of_face": {f"lag_{d}": float(np.median(v)) for d, v in peak_noise.items()},
        "wall_s": round(time.perf_counter() - start, 1),
    }
    result["me_peak_to_noise_peak_ratio"] = (result["me_amplitude_px"]["median"]
                                             / result["noise_flow_px_p99_of_face"][f"lag_{lag}"])
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lab")
    parser.add_argument("--pairs", type=int, default=20, help="frame pairs sampled per video and lag")
    args = parser.parse_args()
    res = main(args.preset, args.pairs)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
