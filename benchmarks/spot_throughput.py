"""Throughput of ``melab spot`` against the bound of its own stages, start-up included.

A 60-s 30-fps face video is generated on the fly (:func:`face_video`: a realistic synthetic video, its
128-px face upscaled 4x into a 1280x720 frame, written as MP4) into a temporary folder. Then, in one run:

- **melab spot**: ``python -m melab spot VIDEO --out CSV`` in a fresh process, start-up, model loading and
  writing included; wall time, CPU time and peak memory of the process tree (its flow worker processes
  included), repeated ``--repeats`` times;
- **stages alone**, each in its own fresh process on the same frames (:func:`stage`): start-up (importing
  ``melab.cli`` and ``melab.spot``, loading the spotter), frame decode (what spot decodes: every frame, the
  picked ones shrunk to 640 px), MediaPipe face mesh on the picked frames, the ROI flow (Farneback windows,
  head-motion compensation, stitching) on their grey frames and landmarks, and the spotter with the decoding.

It prints, and writes to ``benchmarks/results/spot_throughput.json``, video seconds per wall second of
``melab spot`` and of two bounds: one core (every stage after the other) and two cores (decode and MediaPipe
in one process, the flow split over the other core and what the first leaves, as melab spot runs them);
each stage's share of the stages' sum; and the peak memory.

Wall-clock figures depend on what else runs on the machine: the load average is recorded before and after,
and ``--checkout LABEL=PATH`` (repeatable) times other checkouts' ``melab spot`` (e.g. a worktree of main) on the
same video, their runs alternating, so that they share the machine's state.
Peak memory is sampled every 0.1 s from ``/proc`` (Linux): the proportional set size (PSS, shared pages
split between the processes that share them) summed over the process tree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from melab.atomic import write_text

OUT = Path(__file__).parent / "results" / "spot_throughput.json"
REPO = Path(__file__).resolve().parents[1]
FRAME = (1280, 720)  # width, height of the generated video
FACE = 512  # side of the upscaled face in it


def face_video(path: Path, *, seconds: float, fps: float = 30.0, loops: int = 1, seed: int = 2) -> Path:
    """Write a face video: a realistic synthetic video (``seconds`` long) played ``loops`` times, its 128-px face
    upscaled to 512 px (bicubic) in the middle of a 1280x720 frame (edges replicated), as MP4 (``mp4v``).

    Frames are written one at a time, so a long file never sits in memory.
    """
    from melab.data.synthetic import generate_video

    clip = generate_video(seed, 0, 0, duration_s=seconds, fps=fps, n_me=max(1, round(seconds / 20)),
                          n_mae=max(1, round(seconds / 8)))
    x0, y0 = (FRAME[0] - FACE) // 2, (FRAME[1] - FACE) // 2
    pad = ((y0, FRAME[1] - FACE - y0), (x0, FRAME[0] - FACE - x0), (0, 0))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, FRAME)
    try:
        for _ in range(loops):
            for frame in clip.frames:
                face = cv2.resize(frame, (FACE, FACE), interpolation=cv2.INTER_CUBIC)
                writer.write(np.ascontiguousarray(np.pad(face, pad, mode="edge")[..., ::-1]))
    finally:
        writer.release()
    return path


# ---- memory of a process tree ------------------------------------------------------------------------

def _tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def run_measured(command: list[str], *, env: dict | None = None, limit_mb: float | None = None,
                 cwd: Path = REPO) -> dict:
    """Run ``command``: its wall time, CPU time and peak PSS (MB) over its process tree, and its exit code.

    With ``limit_mb``, a tree whose PSS exceeds it is killed (``killed`` True): a run that holds a whole long
    video in memory must not take the shared machine down.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, killed, done = 0.0, False, threading.Event()

    def watch() -> None:
        nonlocal peak, killed
        while not done.is_set():
            pids = _tree(process.pid)
            pss = _pss_mb(pids)
            peak = max(peak, pss)
            if limit_mb is not None and pss > limit_mb and not killed:
                killed = True
                for pid in reversed(pids):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            done.wait(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_pss_mb": round(peak, 1),
            "returncode": process.returncode, "killed": killed, "stderr": stderr[-3000:], "stdout": stdout[-3000:]}


def melab_env() -> dict:
    """The environment of a child process: no progress bars. ``python -m melab`` imports melab from its working
    folder, so a run of another checkout's melab runs there (``cwd``)."""
    return {**os.environ, "TQDM_DISABLE": "1"}


def checkouts(specs: list[str] | None) -> dict[str, Path]:
    """``--checkout LABEL=PATH`` options -> {label: checkout}; none: this checkout."""
    if not specs:
        return {"this checkout": REPO}
    out = {}
    for spec in specs:
        label, eq, path = spec.partition("=")
        if not eq or not (Path(path) / "melab" / "__init__.py").exists():
            raise SystemExit(f"--checkout {spec!r}: give LABEL=PATH, PATH a checkout of melab")
        out[label] = Path(path).resolve()
    return out


# ---- the stages alone ----------------------------------------------------------------------------------

def stage(name: str, video: str, work: str) -> dict:
    """One stage of melab spot alone on ``video``, in this (fresh) process; its seconds (the input prepared
    beforehand is not counted) and what the next stage needs, saved in ``work``."""
    work = Path(work)
    t0 = time.perf_counter()
    if name == "startup":  # what melab spot does before its first frame: imports and the spotter
        import melab.cli
        import melab.spot

        melab.cli.build_parser()
        spotter = melab.spot.load_spotter()
        return {"seconds": time.perf_counter() - t0, "k": spotter.k}

    from melab.data.video import VideoReader
    from melab.spot import resample_frames

    def picked():
        with VideoReader(video, max_side=640) as reader:
            yield from (frame for _, frame in resample_frames(reader.frames(), reader.fps, 30.0))

    if name == "decode":
        n = sum(1 for _ in picked())
        return {"seconds": time.perf_counter() - t0, "frames": n}
    if name == "mediapipe":
        from melab.face import FaceMeshTracker

        frames = list(picked())
        t0 = time.perf_counter()
        with FaceMeshTracker() as track:
            landmarks = np.stack([track(frame) for frame in frames])
        seconds = time.perf_counter() - t0
        np.save(work / "landmarks.npy", landmarks)
        missing = int((~np.isfinite(landmarks)).any(axis=(1, 2)).sum())
        return {"seconds": seconds, "frames": len(frames), "missing": missing}
    if name == "flow":
        from melab.flow import RoiFlowStream

        grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in picked()]
        landmarks = np.load(work / "landmarks.npy")
        t0 = time.perf_counter()
        stream = RoiFlowStream(k=50, name="video")
        for frame, points in zip(grey, landmarks, strict=True):
            stream.push(frame, points)
        result = stream.finish(check=False)
        seconds = time.perf_counter() - t0
        np.save(work / "series.npy", result.series)
        return {"seconds": seconds, "frames": len(grey), "flow_calls": result.n_flow_calls}
    if name == "spotter":
        from melab.decode import siss
        from melab.device import torch_threads
        from melab.inference import spotter_scores
        from melab.spot import default_decoding, load_spotter

        spotter, series = load_spotter(), np.load(work / "series.npy")
        t0 = time.perf_counter()
        with torch_threads(1):  # as melab spot scores
            scores = spotter_scores(spotter, series)
        chosen = default_decoding()
        siss(scores.spot, 5, chosen["low"], chosen["high"], smooth=chosen["smooth"], scale="absolute")
        return {"seconds": time.perf_counter() - t0}
    raise ValueError(f"unknown stage {name!r}")


STAGES = ("startup", "decode", "mediapipe", "flow", "spotter")


def stage_alone(name: str, video: Path, work: Path) -> dict:
    """:func:`stage` in a fresh process (one OpenCV thread, as each of spot's processes), with its peak memory."""
    code = (f"import json, cv2, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); cv2.setNumThreads(1); "
            f"from spot_throughput import stage; print(json.dumps(stage({name!r}, {str(video)!r}, {str(work)!r})))")
    run = run_measured([sys.executable, "-c", code], env=melab_env())
    if run["returncode"] != 0:
        raise RuntimeError(f"stage {name} failed:\n{run['stderr']}")
    return {**json.loads(run["stdout"].strip().splitlines()[-1]), "peak_pss_mb": run["peak_pss_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated video (default 60)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of melab spot per checkout (default 3)")
    parser.add_argument("--checkout", action="append", metavar="LABEL=PATH",
                        help="time this checkout's melab spot (repeat it to compare, e.g. main's before this one's; "
                        "runs alternate between them); default: this checkout")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    compared = checkouts(args.checkout)

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="spot_throughput_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        video = face_video(tmp / "face.mp4", seconds=args.seconds)
        print(f"generated a {args.seconds:g}-s {FRAME[0]}x{FRAME[1]} face video in {time.perf_counter() - t:.0f} s")
        stages = {name: stage_alone(name, video, tmp) for name in STAGES}
        runs: dict[str, list[dict]] = {label: [] for label in compared}
        for r in range(args.repeats):
            for label, checkout in compared.items():
                out = tmp / f"{len(runs[label])}-{label}.csv".replace("/", "_")
                run = run_measured([sys.executable, "-m", "melab", "spot", str(video), "--out", str(out)],
                                   env=melab_env(), cwd=checkout)
                if run["returncode"] != 0:
                    raise RuntimeError(f"melab spot of {label} failed:\n{run['stderr']}")
                runs[label].append({k: run[k] for k in ("wall_s", "cpu_s", "peak_pss_mb")}
                                   | {"csv": out.read_text(), "load": round(os.getloadavg()[0], 2)})
                print(f"{label}, run {r + 1}: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU, "
                      f"{run['peak_pss_mb']:.0f} MB (load {os.getloadavg()[0]:.1f})")
    load_after = os.getloadavg()

    seconds = {name: round(s["seconds"], 2) for name, s in stages.items()}
    work = sum(seconds.values())
    front = seconds["decode"] + seconds["mediapipe"]  # one process: decode and track the face, in order
    two_cores = seconds["startup"] + max(front, (front + seconds["flow"]) / 2) + seconds["spotter"]
    outputs = {run["csv"] for label_runs in runs.values() for run in label_runs}
    spot = {}
    for label, label_runs in runs.items():
        wall = statistics.median(run["wall_s"] for run in label_runs)
        spot[label] = {"melab": str(compared[label]), "median_wall_s": wall,
                       "video_s_per_wall_s": round(args.seconds / wall, 2),
                       "best_video_s_per_wall_s": round(args.seconds / min(run["wall_s"] for run in label_runs), 2),
                       "peak_pss_mb": max(run["peak_pss_mb"] for run in label_runs),
                       "runs": [{k: v for k, v in run.items() if k != "csv"} for run in label_runs]}
    result = {
        "video": {"seconds": args.seconds, "fps": 30.0, "size": list(FRAME), "face_px": FACE,
                  "source": "realistic synthetic video (seed 2), face upscaled 4x (bicubic), mp4v"},
        "spot": spot,
        "identical_csv_across_runs_and_checkouts": len(outputs) == 1,
        "stages": {name: {**{k: v for k, v in s.items() if k != "seconds"}, "seconds": seconds[name],
                          "share": round(seconds[name] / work, 3)} for name, s in stages.items()},
        "bound": {"one_core_s": round(work, 2), "one_core_video_s_per_wall_s": round(args.seconds / work, 2),
                  "two_cores_s": round(two_cores, 2),
                  "two_cores_video_s_per_wall_s": round(args.seconds / two_cores, 2)},
        "machine": {"cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in load_after], "python": platform.python_version(),
                    "opencv": cv2.__version__},
    }
    write_text(args.out, json.dumps(result, indent=1) + "\n")
    for label, entry in spot.items():
        print(f"{label}: {entry['video_s_per_wall_s']:.2f} video s per wall s (median of {len(entry['runs'])}, best "
              f"{entry['best_video_s_per_wall_s']:.2f}), peak {entry['peak_pss_mb']:.0f} MB")
    print(f"bound of the stages alone: one core {result['bound']['one_core_video_s_per_wall_s']:.2f}, two cores "
          f"{result['bound']['two_cores_video_s_per_wall_s']:.2f} video s per wall s; identical CSVs: "
          f"{result['identical_csv_across_runs_and_checkouts']}")
    print("stages alone: " + ", ".join(f"{name} {s['seconds']:.1f} s ({s['share']:.0%})"
                                      for name, s in result["stages"].items()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
