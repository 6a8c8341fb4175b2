"""Wall time of synthetic corpus generation, against the budgets of issue 12 (tiny <= 10 s, lab <= 90 s with 2
processes, clips <= 60 s), and a check that the same preset and seed give byte-identical files with 1 and 2
processes.

Each corpus is generated from scratch into a temporary ``root`` (the cache is not touched), timed, hashed
file by file (``manifest.json`` aside: it records sizes only) and removed. The 1-minute load average before
each run is recorded, because wall times on a shared machine grow with its load.

Writes ``benchmarks/results/synthetic_generation.json``.

Usage: ``python benchmarks/synthetic_generation.py [--presets tiny lab clips] [--determinism tiny]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from melab.atomic import write_text
from melab.data.synthetic import DEFAULT_DIFFICULTY, GENERATOR_VERSION, make_corpus

OUT = Path(__file__).resolve().parent / "results" / "synthetic_generation.json"
BUDGET_S = {"tiny": 10.0, "lab": 90.0, "clips": 60.0}


def tree_digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and bytes, in sorted order (``manifest.json`` left out)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def generate(preset: str, processes: int) -> dict:
    """Generate ``preset`` (seed 0, default difficulty) in a fresh root: wall seconds and the tree digest."""
    root = Path(tempfile.mkdtemp(prefix="melab-gen-"))
    try:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        corpus = make_corpus(preset, 0, root, processes=processes, progress=False)
        seconds = time.perf_counter() - t0
        return {"preset": preset, "processes": processes, "seconds": round(seconds, 1),
                "load_1min_before": round(load, 2), "digest": tree_digest(corpus)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "lab", "clips"])
    parser.add_argument("--determinism", nargs="*", default=["tiny"],
                        help="presets also generated with 1 process, to compare digests (default tiny)")
    args = parser.parse_args()
    runs = [generate(preset, 2) for preset in args.presets]
    runs += [generate(preset, 1) for preset in args.determinism]
    by = {(r["preset"], r["processes"]): r for r in runs}
    report = {
        "benchmark": "synthetic_generation", "difficulty": DEFAULT_DIFFICULTY, "generator_version": GENERATOR_VERSION,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "budgets_s": BUDGET_S, "runs": runs,
        "within_budget": {p: by[(p, 2)]["seconds"] <= BUDGET_S[p] for p in args.presets if p in BUDGET_S},
        "identical_1_vs_2_processes": {p: by[(p, 1)]["digest"] == by[(p, 2)]["digest"]
                                       for p in args.determinism if (p, 2) in by},
    }
    write_text(OUT, json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("runs", "within_budget", "identical_1_vs_2_processes")}, indent=1))


if __name__ == "__main__":
    main()
