"""Peak memory of ``melab flow`` and ``melab spot`` on a long 720p video: they stream, holding one flow window.

A 10-minute 1280x720 30-fps face video is generated on the fly into a temporary folder (deleted after): the 60-s
realistic synthetic face video of ``spot_throughput.py`` (128-px face upscaled 4x), played 10 times, written frame
by frame. Each command runs in a fresh process; its peak memory is the proportional set size (PSS) summed over its
process tree (spot's flow workers included), sampled every 0.1 s from ``/proc`` (Linux). A run whose tree exceeds
``--limit-mb`` is killed and recorded as such: a command that holds the whole video must not take the shared
machine down. ``--checkout LABEL=PATH`` (repeatable) runs other checkouts' commands on the same file (e.g. a worktree
of main, before streaming).

Writes ``benchmarks/results/flow_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from spot_throughput import FRAME, checkouts, face_video, melab_env, run_measured

from melab.atomic import write_text

OUT = Path(__file__).parent / "results" / "flow_memory.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the video (default 10)")
    parser.add_argument("--limit-mb", type=float, default=6000.0, help="kill a run above this PSS (default 6000)")
    parser.add_argument("--checkout", action="append", metavar="LABEL=PATH",
                        help="run this checkout's melab (repeat it to compare, e.g. main's); default: this checkout")
    parser.add_argument("--commands", default="flow,spot", help="which commands to run (default flow,spot)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    compared = checkouts(args.checkout)

    loops = max(1, round(args.minutes))
    seconds = args.minutes * 60 / loops
    load_before = os.getloadavg()
    runs: dict[str, dict] = {label: {} for label in compared}
    with tempfile.TemporaryDirectory(prefix="flow_memory_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        video = face_video(tmp / "long.mp4", seconds=seconds, loops=loops)
        size_mb = video.stat().st_size / 1e6
        print(f"generated a {args.minutes:g}-min {FRAME[0]}x{FRAME[1]} face video ({size_mb:.0f} MB) in "
              f"{time.perf_counter() - t:.0f} s")
        for label, checkout in compared.items():
            commands = {"flow": ["flow", str(video), "--out", str(tmp / label.replace("/", "_") / "flow")],
                        "spot": ["spot", str(video), "--out", str(tmp / f"{label.replace('/', '_')}.csv")]}
            for name in args.commands.split(","):
                run = run_measured([sys.executable, "-m", "melab", *commands[name]], env=melab_env(), cwd=checkout,
                                   limit_mb=args.limit_mb)
                runs[label][name] = {k: run[k] for k in ("wall_s", "cpu_s", "peak_pss_mb", "returncode", "killed")}
                if run["returncode"] != 0 and not run["killed"]:
                    runs[label][name]["stderr"] = run["stderr"][-500:]
                state = "killed at the limit" if run["killed"] else f"exit {run['returncode']}"
                print(f"{label}: melab {name}: peak {run['peak_pss_mb']:.0f} MB, {run['wall_s']:.0f} s wall ({state})")
    result = {"video": {"minutes": args.minutes, "fps": 30.0, "size": list(FRAME),
                        "source": f"{seconds:g}-s realistic synthetic face video (seed 2), face upscaled 4x, "
                                  f"played {loops} times, mp4v"},
              "limit_mb": args.limit_mb, "runs": {label: {"melab": str(compared[label]), **runs[label]}
                                                  for label in compared},
              "load_before": [round(x, 2) for x in load_before],
              "load_after": [round(x, 2) for x in os.getloadavg()]}
    write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
