"""Where does the realistic corpus land? A reduced calibration of the issue's targets, with seeds and spread.

Targets (issue 12, section 4): tiny spotter F1 on ``bench`` 0.15-0.45; tiny MERba single-head UF1 on clips test
A+B 0.45-0.75; off-diagonal mass among the four negative classes (single head) >= 15%.

Reduced to fit a shared CPU (``OMP_NUM_THREADS=1``):

- spotter: :func:`melab.train.loso` with ``SpotterConfig.tiny()`` on the first ``--folds`` subjects of ``bench``
  (``--preset``, ``--difficulty``), one run per training budget (``--spotter-epochs``, one or more) and training
  seed, up to ``--processes`` runs at once. Each seed's LOSO scores are decoded with SISS and with the fixed window
  (half-width ``k``, default half the median annotated ME length), with smoothing, peak height and SISS's
  thresholds chosen on training folds only: for each held-out subject, the grid point with the best micro F1 on
  the other held-out subjects' videos, each scored by a model that never saw it (:func:`melab.tuning.nested_select`;
  grids, decoders and the per-seed decoding are those of ``benchmarks/claims.py``). The fixed window is reported
  at its own nested choice ("fixed_best") and at SISS's smoothing and peak height ("fixed_matched"). The
  training-free feature-difference baseline (:func:`melab.baselines.feature_difference_spot`, parameters nested
  the same way) is scored on the same held-out videos. Micro TP/FP/FN are summed over the held-out videos
  (one-to-one matching, IoU >= 0.5); F1 mean and spread are over seeds, per budget.
- MERba: ``MERbaConfig.tiny(head="single")`` trained on the clips corpus's training subjects, scored on test A+B
  (its ``split.csv``) against the annotated labels; the off-diagonal mass is the share of the true-negative,
  predicted-negative samples (anger, disgust, fear, sadness) that land off the diagonal, from the confusion
  matrix summed over seeds.

Writes ``benchmarks/results/synthetic_calibration.json`` (after every run; ``--out`` for another file, e.g. one
per ``--only`` part).

Usage (the committed ``synthetic_calibration_spotter_nested_bench_realistic*.json``)::

    OMP_NUM_THREADS=1 python benchmarks/synthetic_calibration.py --only spotter --folds 5 --processes 2 \
        --seeds 0 1 2 3 --spotter-epochs 6 20 30 --out OUT
    ... --seeds 4 5 --spotter-epochs 6 20 30 --out OUT --add   (more seeds into the same file)
    ... --seeds 0 1 2 3 4 5 --spotter-epochs 20 --negative-ratio 4 --out OUT_neg4

with OUT = ``benchmarks/results/synthetic_calibration_spotter_nested_bench_realistic.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from melab.atomic import write_text
from melab.baselines import feature_difference_spot
from melab.data.splits import SEVEN_CLASSES
from melab.data.synthetic import make_corpus, read_split
from melab.metrics import confusion
from melab.models.merba import MERbaConfig
from melab.models.spotter import SpotterConfig
from melab.recognition import DfmeSplit, evaluate_merba, scores_table
from melab.train import (
    MERbaTrainConfig,
    SpotterTrainConfig,
    loso,
    loso_subjects,
    merba_corpus,
    roi_corpus,
    train_merba,
)
from melab.tuning import micro_f1, nested_select
from melab.workers import die_with_parent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from claims import grids, spotting_arm, truth_tables  # noqa: E402  (the claims benchmark's nested decoding)

RESULTS = Path(__file__).resolve().parent / "results"
NEGATIVES = ["anger", "disgust", "fear", "sadness"]


def spread(values: list[float]) -> dict:
    v = np.asarray(values, float)
    return {"mean": round(float(v.mean()), 4), "std": round(float(v.std(ddof=1)), 4) if len(v) > 1 else None,
            "min": round(float(v.min()), 4), "max": round(float(v.max()), 4), "n": len(v)}


def counts(c: np.ndarray) -> dict:
    """TP/FP/FN summed over videos, and their micro F1, from (V, 3) counts."""
    tp, fp, fn = (int(x) for x in np.asarray(c).sum(axis=0))
    return {"tp": tp, "fp": fp, "fn": fn, "f1": round(float(micro_f1(c)), 4)}


def spotter_job(epochs: int, seed: int, negative_ratio: float | None, series: dict, events: pd.DataFrame,
                videos: pd.DataFrame, folds: int) -> dict:
    """One LOSO run (a worker process): held-out video -> (spot scores, class probabilities)."""
    torch.set_num_threads(1)
    started = time.perf_counter()
    extra = {"negative_ratio": negative_ratio} if negative_ratio is not None else {}
    result = loso(series, events, videos, folds=folds, config=SpotterConfig.tiny(),
                  train=SpotterTrainConfig(seed=seed, epochs=epochs, **extra), progress=False)
    return {"scores": {v: (s.spot, s.probs) for v, s in result.scores.items()},
            "seconds": round(time.perf_counter() - started, 1)}


def spotter_runs(args, out: dict) -> None:
    roi = roi_corpus(make_corpus(args.preset, difficulty=args.difficulty, progress=False), progress=False)
    held = set(loso_subjects(roi.videos, args.folds))
    subject_of = {v: str(s) for v, s in zip(roi.videos["video"], roi.videos["subject"], strict=True)
                  if str(s) in held}
    micro, truth, k = truth_tables(roi.events, list(subject_of))
    k = args.k or k
    if out["spotter"].get("k_decode", k) != k:
        raise ValueError(f"decoding half-width k={k} differs from the earlier runs' {out['spotter']['k_decode']}")
    grid = grids(quick=False)
    baseline = nested_select(lambda v, **p: feature_difference_spot(roi.series[v], half_width=k, **p),
                             grid["baseline"], truth, subject_of)
    out["spotter"] |= {"k_decode": k, "held_out_subjects": sorted(held), "held_out_videos": len(subject_of),
                       "held_out_mes": len(micro), "grid_sizes": {name: len(g) for name, g in grid.items()},
                       "baseline": {**counts(baseline.counts), "choices": baseline.params}}
    print(f"baseline (feature difference, nested): F1 {baseline.f1:.3f}", flush=True)
    with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn"), initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        jobs = {pool.submit(spotter_job, epochs, seed, args.negative_ratio, roi.series, roi.events, roi.videos,
                            args.folds): (epochs, seed) for epochs in args.spotter_epochs for seed in args.seeds}
        for job in as_completed(jobs):
            (epochs, seed), run = jobs[job], job.result()
            arm = spotting_arm([run["scores"]], k, truth, micro, subject_of, grid)
            decoded = {name: counts(arm[name][0]) for name in ("siss", "fixed_best", "fixed_matched")}
            out["spotter"]["runs"].append({"epochs": epochs, "seed": seed, "seconds": run["seconds"], **decoded,
                                           "choices": arm["choices"][0]})
            print(f"spotter {epochs} epochs seed {seed} ({run['seconds']:.0f} s): "
                  + ", ".join(f"{name} F1 {d['f1']:.3f}" for name, d in decoded.items()), flush=True)
            save(args, out)


def merba_runs(args, out: dict) -> None:
    corpus = make_corpus("clips", progress=False)
    flows, samples = merba_corpus(corpus, size=MERbaConfig.tiny().img_size, progress=False)
    masks = DfmeSplit(**read_split(corpus)).masks(samples["subject"])
    test = masks["test_a"] | masks["test_b"]
    labels = samples["label"].to_numpy()
    out["merba"]["samples"] = {"train": int(masks["train"].sum()), "test_a+b": int(test.sum())}
    for seed in args.seeds:
        started = time.perf_counter()
        model, _ = train_merba(flows[masks["train"]], labels[masks["train"]], config=MERbaConfig.tiny(head="single"),
                               train=MERbaTrainConfig(epochs=args.merba_epochs, seed=seed), progress=False)
        res = evaluate_merba(model, flows[test], labels[test])
        scores = scores_table({"test_a+b": res}).loc["test_a+b", ["uf1", "uar", "acc"]].astype(float).round(4)
        cm = confusion(res.y_true, res.y_pred, SEVEN_CLASSES)
        out["merba"]["runs"].append({"seed": seed, "scores": scores.to_dict(), "confusion": cm.to_numpy().tolist(),
                                     "seconds": round(time.perf_counter() - started, 1)})
        print(f"merba seed {seed}: UF1 {scores['uf1']:.3f}", flush=True)
        save(args, out)


def save(args, out: dict) -> None:
    sp, mb = out["spotter"]["runs"], out["merba"]["runs"]
    summary = {}
    for epochs in sorted({r["epochs"] for r in sp}):
        runs = sorted((r for r in sp if r["epochs"] == epochs), key=lambda r: r["seed"])
        summary[f"spotter_{epochs}_epochs"] = {
            "seeds": [r["seed"] for r in runs], "seconds_per_run": spread([r["seconds"] for r in runs]),
            **{name: {"f1": spread([r[name]["f1"] for r in runs]),
                      **{c: sum(r[name][c] for r in runs) for c in ("tp", "fp", "fn")}}
               for name in ("siss", "fixed_best", "fixed_matched")}}
    if "baseline" in out["spotter"]:
        summary["baseline_feature_difference"] = {c: out["spotter"]["baseline"][c] for c in ("f1", "tp", "fp", "fn")}
    if mb:
        summary["merba_single_uf1_test_ab"] = spread([r["scores"]["uf1"] for r in mb])
        cm = pd.DataFrame(np.sum([r["confusion"] for r in mb], axis=0), index=SEVEN_CLASSES, columns=SEVEN_CLASSES)
        neg = cm.loc[NEGATIVES, NEGATIVES].to_numpy()
        summary["negatives_off_diagonal_mass"] = round(float(1 - np.trace(neg) / max(neg.sum(), 1)), 4)
        summary["negatives_off_diagonal_per_seed"] = spread([
            1 - np.trace(n) / max(n.sum(), 1) for n in
            (pd.DataFrame(r["confusion"], index=SEVEN_CLASSES, columns=SEVEN_CLASSES).loc[NEGATIVES, NEGATIVES]
             .to_numpy() for r in mb)])
        out["merba"]["confusion_summed_over_seeds"] = cm.to_numpy().tolist()
    out["summary"] = summary
    out["load_avg_at_save"] = [round(x, 2) for x in os.getloadavg()]
    write_text(args.out, json.dumps(out, indent=1) + "\n")


def add_to_earlier(parser: argparse.ArgumentParser, args, out: dict) -> None:
    """Start from the spotter runs of ``args.out``, which must share the corpus, folds and training setup."""
    same = ("preset", "difficulty", "folds", "negative_ratio")
    earlier = json.loads(args.out.read_text()) if args.out.exists() else None
    if args.only != "spotter" or earlier is None or any(earlier[key] != out[key] for key in same):
        parser.error(f"--add needs --only spotter and an earlier {args.out} with the same {', '.join(same)}")
    done = {(r["epochs"], r["seed"]) for r in earlier["spotter"]["runs"]}
    again = sorted(done & {(e, s) for e in args.spotter_epochs for s in args.seeds})
    if again:
        parser.error(f"{args.out} already holds (epochs, seed) runs {again}")
    out |= {"commands": earlier["commands"] + out["commands"], "wall_s": earlier["wall_s"],
            "seeds": sorted({*earlier["seeds"], *args.seeds}),
            "spotter_epochs": sorted({*earlier["spotter_epochs"], *args.spotter_epochs}),
            "spotter": {"runs": earlier["spotter"]["runs"], "k_decode": earlier["spotter"]["k_decode"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--difficulty", default="realistic", choices=["realistic", "easy"])
    parser.add_argument("--preset", default="bench", choices=["bench", "lab", "tiny"], help="spotting corpus")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=6, help="held-out subjects of bench (the first N)")
    parser.add_argument("--spotter-epochs", type=int, nargs="+", default=[SpotterTrainConfig().epochs],
                        help="training budgets, one LOSO run per budget and seed (default: SpotterTrainConfig's)")
    parser.add_argument("--negative-ratio", type=float, default=None,
                        help="negative windows per positive (default: SpotterTrainConfig's; the reference uses 4)")
    parser.add_argument("--k", type=int, default=None,
                        help="decoding half-width in frames (default: half the median annotated ME length)")
    parser.add_argument("--processes", type=int, default=1, help="spotter LOSO runs at once (default 1)")
    parser.add_argument("--merba-epochs", type=int, default=10)
    parser.add_argument("--only", choices=["spotter", "merba"], default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "synthetic_calibration.json")
    parser.add_argument("--add", action="store_true",
                        help="add these spotter runs (more seeds or budgets) to the earlier --out of the same setup")
    args = parser.parse_args()
    torch.set_num_threads(1)
    command = "python benchmarks/synthetic_calibration.py " + " ".join(sys.argv[1:])
    out = {"benchmark": "synthetic_calibration", "commands": [command], "preset": args.preset,
           "difficulty": args.difficulty, "seeds": args.seeds, "folds": args.folds, "merba_epochs": args.merba_epochs,
           "spotter_epochs": args.spotter_epochs,
           "negative_ratio": args.negative_ratio or SpotterTrainConfig().negative_ratio,
           "targets": {"spotter_f1": [0.15, 0.45], "baseline_f1": "0.05-0.25, below the spotter",
                       "merba_single_uf1_test_ab": [0.45, 0.75], "negatives_off_diagonal_mass": ">= 0.15"},
           "spotter": {"runs": []}, "merba": {"runs": []}, "wall_s": []}
    if args.add:
        add_to_earlier(parser, args, out)
    started = time.perf_counter()
    if args.only in (None, "merba"):
        merba_runs(args, out)
    if args.only in (None, "spotter"):
        spotter_runs(args, out)
    out["wall_s"].append(round(time.perf_counter() - started, 1))
    save(args, out)
    print(json.dumps(out["summary"], indent=1))


if __name__ == "__main__":
    main()
