"""LOSO scaling: folds per hour of the tiny spotter on the lab corpus, run locally and on Ray with 1 and 2 workers.

The same LOSO folds (the shipped ``data/roi_series_lab.npz``, tiny spotter, one torch thread per fold) run
three ways in one process: the local executor, then a private Ray instance with 1 CPU (one fold at a time)
and with 2 CPUs (two folds at once), ``cpus_per_fold=1``. Each Ray instance is started and its workers warmed
up (torch and melab imported) before the clock starts, so the figures compare running folds, not starting
Ray. The scores of the three runs are compared bit for bit. Writes ``benchmarks/results/loso_scaling.json``
with the machine's load average before and after, since other processes on the machine share its cores.

Usage (about 5 minutes here with the defaults)::

    OMP_NUM_THREADS=1 python benchmarks/loso_scaling.py [--folds 4] [--epochs 6]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from melab.atomic import write_text
from melab.features import load_roi_corpus
from melab.train import LocalExecutor, RayExecutor, SpotterTrainConfig, loso
from melab.train.loso import import_ray

RESULTS = Path(__file__).resolve().parent / "results" / "loso_scaling.json"


def _warm_up() -> None:
    """Import what a fold needs, in this worker."""
    import melab.train  # noqa: F401


def timed_loso(roi, executor, *, folds: int, epochs: int, checkpoint_dir: Path):
    t0 = time.perf_counter()
    result = loso(roi.series, roi.events, roi.videos, folds=folds, train=SpotterTrainConfig(epochs=epochs),
                  checkpoint_dir=checkpoint_dir, executor=executor, progress=False)
    return result, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=4, help="held-out subjects (the first N of 10)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per fold (6: the shipped LOSO scores)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = import_ray()
    roi = load_roi_corpus()
    load_before = os.getloadavg()
    runs, results = {}, {}
    with tempfile.TemporaryDirectory(prefix="loso-scaling-") as tmp:
        results["local"], seconds = timed_loso(roi, LocalExecutor(threads=1), folds=args.folds, epochs=args.epochs,
                                               checkpoint_dir=Path(tmp) / "local")
        runs["local"] = {"workers": 1, "seconds": seconds}
        for workers in (1, 2):
            name = f"ray_{workers}"
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR")
            try:
                warm = ray.remote(num_cpus=1)(_warm_up)
                ray.get([warm.remote() for _ in range(workers)])
                results[name], seconds = timed_loso(roi, RayExecutor(cpus_per_fold=1), folds=args.folds,
                                                    epochs=args.epochs, checkpoint_dir=Path(tmp) / name)
            finally:
                ray.shutdown()
            runs[name] = {"workers": workers, "seconds": seconds}
    for name, run in runs.items():
        run["folds_per_hour"] = round(args.folds / run["seconds"] * 3600, 1)
        run["median_fold_seconds"] = round(float(np.median(list(results[name].seconds.values()))), 2)
        run["seconds"] = round(run["seconds"], 2)
    identical = all(
        np.array_equal(results["local"].scores[v].spot, r.scores[v].spot)
        and np.array_equal(results["local"].scores[v].probs, r.scores[v].probs)
        for r in results.values() for v in results["local"].scores)
    report = {
        "what": "LOSO folds per hour, tiny spotter on the lab corpus (shipped ROI series), 1 torch thread per fold",
        "command": f"OMP_NUM_THREADS=1 python benchmarks/loso_scaling.py --folds {args.folds} --epochs {args.epochs}",
        "folds": args.folds, "epochs": args.epochs,
        "runs": runs,
        "speedup_ray_2_over_ray_1": round(runs["ray_1"]["seconds"] / runs["ray_2"]["seconds"], 2),
        "speedup_ray_2_over_local": round(runs["local"]["seconds"] / runs["ray_2"]["seconds"], 2),
        "scores_bit_identical": identical,
        "machine": {"cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform(),
                    "torch": torch.__version__, "ray": ray.__version__},
    }
    write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
