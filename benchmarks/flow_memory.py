"""Peak memory of ``melab flow`` and ``melab spot`` on a long 720p video: they stream, holding one flow window.

A 10-minute 1280x720 30-fps face video is generated on the fly into a temporary folder (deleted after): the 60-s
realistic synthetic face video of ``spot_throughput.py`` (128-px face upscaled 4x), played 10 times, written frame
by frame. Each command runs in a fresh process; its peak memory is the proportional set size (PSS) summed over its
process tree (spot's flow workers included), sampled every 0.1 s from ``/proc`` (Linux). A run whose tree exceeds
``--limit-mb`` is killed and recorded as such: a command that holds the whole video must not take the shared
machine down. ``--melab PATH`` runs another checkout's commands (e.g. a worktree of main, before streaming).

Writes ``benchmarks/results/flow_memory.json`` (under ``--label``, beside the runs of other labels).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from spot_throughput import FRAME, REPO, face_video, melab_env, run_measured, write_results

OUT = Path(__file__).parent / "results" / "flow_memory.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the video (default 10)")
    parser.add_argument("--limit-mb", type=float, default=6000.0, help="kill a run above this PSS (default 6000)")
    parser.add_argument("--melab", type=Path, default=None, help="run this checkout's melab (e.g. main's)")
    parser.add_argument("--label", default="this checkout", help="name of this run in the results")
    parser.add_argument("--commands", default="flow,spot", help="which commands to run (default flow,spot)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    loops = max(1, round(args.minutes))
    seconds = args.minutes * 60 / loops
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="flow_memory_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        video = face_video(tmp / "long.mp4", seconds=seconds, loops=loops)
        size_mb = video.stat().st_size / 1e6
        print(f"generated a {args.minutes:g}-min {FRAME[0]}x{FRAME[1]} face video ({size_mb:.0f} MB) in "
              f"{time.perf_counter() - t:.0f} s")
        commands = {"flow": ["flow", str(video), "--out", str(tmp / "flow")],
                    "spot": ["spot", str(video), "--out", str(tmp / "spots.csv")]}
        runs = {}
        for name in args.commands.split(","):
            run = run_measured([sys.executable, "-m", "melab", *commands[name]], env=melab_env(args.melab),
                               limit_mb=args.limit_mb)
            runs[name] = {k: run[k] for k in ("wall_s", "cpu_s", "peak_pss_mb", "returncode", "killed")}
            if run["returncode"] != 0 and not run["killed"]:
                runs[name]["stderr"] = run["stderr"][-500:]
            state = "killed at the limit" if run["killed"] else f"exit {run['returncode']}"
            print(f"melab {name}: peak {run['peak_pss_mb']:.0f} MB, {run['wall_s']:.0f} s wall ({state})")
    result = {"video": {"minutes": args.minutes, "fps": 30.0, "size": list(FRAME),
                        "source": f"{seconds:g}-s realistic synthetic face video (seed 3), face upscaled 4x, "
                                  f"played {loops} times, mp4v"},
              "melab": str(args.melab or REPO), "limit_mb": args.limit_mb, "runs": runs,
              "load_before": [round(x, 2) for x in load_before],
              "load_after": [round(x, 2) for x in os.getloadavg()]}
    write_results(args.out, args.label, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
