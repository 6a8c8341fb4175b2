"""Throughput of the ROI-series pipeline against the raw cost of its Farneback calls.

On synthetic 30 fps videos with 128 x 128 face crops (k = 50, stride 25, the paper's Farneback
parameters), measures in the same run:

- **pipeline**: frames per second of :func:`melab.flow.extract_roi_series` (crop, flow, head-motion
  compensation, ROI statistics, stitching, cache write) on fresh cache folders, with 1 and 2 processes;
- **raw bound**: frames per second if the same number of ``cv2.calcOpticalFlowFarneback`` calls on the same
  crops were all that happened (crops prepared beforehand), with 1 and 2 processes.

Their ratio is the share of time the pipeline spends in Farneback itself; goal >= 0.8. Every process runs
OpenCV single-threaded, and the 2-process figures include starting the worker processes.

The 2 cores are shared with other jobs, so wall-clock times are noisy. Rounds are interleaved (pipeline,
raw, pipeline, raw, ...); frames/s are the best round, and the ratios are medians over rounds of
(raw time / pipeline time) measured back to back, both in wall-clock time and in CPU time (this process
plus its worker processes, which other jobs' load does not inflate).

Writes ``benchmarks/results/flow_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from melab.atomic import write_text
from melab.data.synthetic import generate_video
from melab.face import apply_crop, crop_affine
from melab.flow import FARNEBACK_PARAMS, extract_roi_series, roi_flow_series, window_starts
from melab.workers import die_with_parent

OUT = Path(__file__).parent / "results" / "flow_throughput.json"
K, SIZE = 50, 128


def crop_pairs(frames: np.ndarray, landmarks: np.ndarray, n_calls: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (reference, target) grey crops the pipeline compares, cycled to ``n_calls`` pairs."""
    pairs = []
    for s in window_starts(len(frames), K):
        affine = crop_affine(landmarks[s], size=SIZE)
        gray = [cv2.cvtColor(apply_crop(affine, size=SIZE, frames=frames[t]), cv2.COLOR_RGB2GRAY)
                for t in range(s, s + K)]
        pairs += [(gray[0], gray[j]) for j in range(1, K)]
    return [pairs[i % len(pairs)] for i in range(n_calls)]


def raw_farneback(pairs: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """Run Farneback on every pair (nothing else); returns the number of calls."""
    cv2.setNumThreads(1)
    p = FARNEBACK_PARAMS
    for a, b in pairs:
        cv2.calcOpticalFlowFarneback(a, b, None, p["pyr_scale"], p["levels"], p["winsize"], p["iterations"],
                                     p["poly_n"], p["poly_sigma"], p["flags"])
    return len(pairs)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (user + system)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(run) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``run()``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    run()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def run_pipeline(videos, processes: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        extract_roi_series(videos, cache_dir=cache, k=K, size=SIZE, processes=processes, progress=False)


def run_raw(pair_lists, processes: int) -> None:
    if processes == 1:
        for pairs in pair_lists:
            raw_farneback(pairs)
    else:
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn"), initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
            list(pool.map(raw_farneback, pair_lists))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=4, help="number of videos (default 4)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each video (default 15 s)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per figure (default 2)")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    videos = []
    for i in range(args.videos):
        v = generate_video(0, i, 0, duration_s=args.seconds, fps=30.0, size=SIZE, n_me=2, n_mae=1)
        videos.append((v.frames, v.landmarks))
    n_frames = sum(len(f) for f, _ in videos)
    calls = [roi_flow_series(f, lm, k=K, size=SIZE).n_flow_calls for f, lm in videos]
    pair_lists = [crop_pairs(f, lm, c) for (f, lm), c in zip(videos, calls, strict=True)]
    base_pairs = sum(len(window_starts(len(f), K)) * (K - 1) for f, _ in videos)

    rounds = {p: [] for p in (1, 2)}  # per round: (pipeline wall, pipeline cpu, raw wall, raw cpu)
    for _ in range(args.rounds):
        for p in (1, 2):
            rounds[p].append(timed(lambda p=p: run_pipeline(videos, p)) + timed(lambda p=p: run_raw(pair_lists, p)))

    result = {
        "setup": dict(videos=args.videos, seconds_per_video=args.seconds, fps=30.0, crop=SIZE, k=K, stride=K // 2,
                      frames=n_frames, flow_calls=int(sum(calls)), window_pairs=int(base_pairs),
                      recentre_extra_calls=int(sum(calls) - base_pairs), farneback=FARNEBACK_PARAMS,
                      rounds=args.rounds),
        "machine": dict(cpus=os.cpu_count(), platform=platform.platform(), opencv=cv2.__version__,
                        load_average_at_end=[round(x, 2) for x in os.getloadavg()],
                        note="2 cores shared with other jobs; OpenCV single-threaded in every process"),
    }
    for p in (1, 2):
        pipe_wall, pipe_cpu, raw_wall, raw_cpu = (np.array(x) for x in zip(*rounds[p], strict=True))
        result[f"processes_{p}"] = dict(
            pipeline_fps=round(n_frames / pipe_wall.min(), 1), raw_farneback_fps=round(n_frames / raw_wall.min(), 1),
            ratio=round(statistics.median(raw_wall / pipe_wall), 3),
            ratio_cpu=round(statistics.median(raw_cpu / pipe_cpu), 3),
            ratio_per_round=[round(x, 3) for x in raw_wall / pipe_wall],
            farneback_ms_per_call=round(1000 * raw_wall.min() * p / sum(calls), 3))
    result["goal"] = "ratio >= 0.8 (pipeline overhead around Farneback at most 25 %)"
    write_text(OUT, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
