"""LOSO scaling: folds per hour of the tiny spotter on the lab corpus, run locally and on Ray with 1 and 2 workers.

The same LOSO folds (the shipped ``data/roi_series_lab.npz``, tiny spotter, one torch thread per fold) run
three ways in one process: the local executor, then a private Ray instance with 1 CPU (one fold at a time)
and with 2 CPUs (two folds at once), ``cpus_per_fold=1``. Each Ray instance is started and its workers warmed
up (torch and melab imported) before the clock starts, so the figures compare running folds, not starting
Ray. Each configuration runs ``--repeats`` times, in turn with the others, and its fastest run counts.
The scores of all runs are compared bit for bit. Writes ``benchmarks/results/loso_scaling.json``
with the machine's load average before and after, since other processes on the machine share its cores.

Usage (about 5 minutes here with the defaults)::

    OMP_NUM_THREADS=1 python benchmarks/loso_scaling.py [--folds 4] [--epochs 6] [--repeats 2]
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
    parser.add_argument("--repeats", type=int, default=2, help="runs of each configuration; the fastest counts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = import_ray()
    roi = load_roi_corpus()
    load_before = os.getloadavg()
    runs = {name: {"workers": w, "seconds_per_repeat": [], "load_1min_per_repeat": []}
            for name, w in (("local", 1), ("ray_1", 1), ("ray_2", 2))}
    results = {name: [] for name in runs}  # LosoResult of every repeat
    with tempfile.TemporaryDirectory(prefix="loso-scaling-") as tmp:
        for repeat in range(args.repeats):  # the three configurations in turn, so load drift hits all alike
            for name, run in runs.items():
                folder = Path(tmp) / f"{name}-{repeat}"
                if name == "local":
                    result, seconds = timed_loso(roi, LocalExecutor(threads=1), folds=args.folds,
                                                 epochs=args.epochs, checkpoint_dir=folder)
                else:
                    ray.init(num_cpus=run["workers"], include_dashboard=False, logging_level="ERROR")
                    try:
                        warm = ray.remote(num_cpus=1)(_warm_up)
                        ray.get([warm.remote() for _ in range(run["workers"])])
                        result, seconds = timed_loso(roi, RayExecutor(cpus_per_fold=1), folds=args.folds,
                                                     epochs=args.epochs, checkpoint_dir=folder)
                    finally:
                        ray.shutdown()
                results[name].append(result)
                run["seconds_per_repeat"].append(round(seconds, 2))
                run["load_1min_per_repeat"].append(round(os.getloadavg()[0], 2))
    for name, run in runs.items():
        best = int(np.argmin(run["seconds_per_repeat"]))  # the least disturbed repeat, as timeit does
        run["seconds"] = run["seconds_per_repeat"][best]
        run["folds_per_hour"] = round(args.folds / run["seconds"] * 3600, 1)
        run["median_fold_seconds"] = round(float(np.median(list(results[name][best].seconds.values()))), 2)
    reference = results["local"][0].scores
    identical = all(np.array_equal(reference[v].spot, r.scores[v].spot) and np.array_equal(reference[v].probs,
                                                                                           r.scores[v].probs)
                    for repeats in results.values() for r in repeats for v in reference)
    report = {
        "what": "LOSO folds per hour, tiny spotter on the lab corpus (shipped ROI series), 1 torch thread per fold",
        "command": f"OMP_NUM_THREADS=1 python benchmarks/loso_scaling.py --folds {args.folds} --epochs {args.epochs} "
                   f"--repeats {args.repeats}",
        "folds": args.folds, "epochs": args.epochs, "repeats": args.repeats,
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
