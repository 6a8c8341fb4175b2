"""Where does the realistic corpus land? A reduced calibration of the issue's targets, with seeds and spread.

Targets (issue 12, section 4): tiny spotter F1 on ``bench`` 0.15-0.45; tiny MERba single-head UF1 on clips test
A+B 0.45-0.75; off-diagonal mass among the four negative classes (single head) >= 15%.

Reduced to fit a shared CPU (``OMP_NUM_THREADS=1``):

- spotter: :func:`melab.train.loso` with ``SpotterConfig.tiny()`` and the default ``SpotterTrainConfig`` on the
  first ``--folds`` subjects of ``bench`` (``--difficulty``), one run per training seed; decoded with SISS and the
  fixed window (``k`` = half the median annotated ME length) and scored by :func:`melab.metrics.evaluate`, micro
  TP/FP/FN summed over the held-out videos, as ``benchmarks/spotting_quality.py`` does. The training-free ROI
  flow magnitude baseline is scored on the same videos.
- MERba: ``MERbaConfig.tiny(head="single")`` trained on the clips corpus's training subjects, scored on test A+B
  (its ``split.csv``) against the annotated labels; the off-diagonal mass is the share of the true-negative,
  predicted-negative samples (anger, disgust, fear, sadness) that land off the diagonal, from the confusion
  matrix summed over seeds.

Writes ``benchmarks/results/synthetic_calibration.json`` (after every run; ``--out`` for another file, e.g. one
per ``--only`` part).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from melab.atomic import write_text
from melab.data.splits import SEVEN_CLASSES, to_str3
from melab.data.synthetic import make_corpus, read_split
from melab.metrics import confusion
from melab.models.merba import MERbaConfig
from melab.models.spotter import SpotterConfig
from melab.recognition import DfmeSplit, evaluate_merba, scores_table
from melab.train import (
    MERbaTrainConfig,
    SpotterTrainConfig,
    loso,
    magnitude_scores,
    merba_corpus,
    roi_corpus,
    train_merba,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spotting_quality import score  # noqa: E402  (the spotting benchmark's decoder + scorer)

RESULTS = Path(__file__).resolve().parent / "results"
NEGATIVES = ["anger", "disgust", "fear", "sadness"]


def spread(values: list[float]) -> dict:
    v = np.asarray(values, float)
    return {"mean": round(float(v.mean()), 4), "std": round(float(v.std(ddof=1)), 4) if len(v) > 1 else None,
            "min": round(float(v.min()), 4), "max": round(float(v.max()), 4), "n": len(v)}


def spotter_runs(args, out: dict) -> None:
    roi = roi_corpus(make_corpus("bench", difficulty=args.difficulty, progress=False), progress=False)
    micro = roi.events[roi.events["kind"] == "micro"]
    truth = micro.assign(emotion=[to_str3(e, dataset="synthetic") for e in micro["emotion"]])
    k = max(1, int(np.median(micro["offset"] - micro["onset"] + 1)) // 2)
    for seed in args.seeds:
        started = time.perf_counter()
        result = loso(roi.series, roi.events, roi.videos, folds=args.folds, config=SpotterConfig.tiny(),
                      train=SpotterTrainConfig(seed=seed, **({"epochs": args.spotter_epochs} if args.spotter_epochs
                                                             else {})), progress=False)
        spot = {v: s.spot for v, s in result.scores.items()}
        probs = {v: s.probs for v, s in result.scores.items()}
        rows = [score("spotter", spot, probs, truth, decoder=d, k=k) for d in ("siss", "fixed_window")]
        if seed == args.seeds[0]:
            baseline = {v: magnitude_scores(roi.series[v]) for v in spot}
            out["spotter"]["baseline"] = [score("baseline (ROI flow magnitude)", baseline, None, truth, decoder=d,
                                                k=k) for d in ("siss", "fixed_window")]
        out["spotter"]["runs"].append({"seed": seed, "held_out": sorted(result.seconds), "k_decode": k,
                                       "results": rows, "seconds": round(time.perf_counter() - started, 1)})
        print(f"spotter seed {seed}: " + ", ".join(f"{r['decoder']} F1 {r['f1']:.3f}" for r in rows), flush=True)
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
    for decoder in ("siss", "fixed_window"):
        f1 = [r["f1"] for run in sp for r in run["results"] if r["decoder"] == decoder]
        if f1:
            summary[f"spotter_f1_{decoder}"] = spread(f1)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--difficulty", default="realistic", choices=["realistic", "easy"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=6, help="held-out subjects of bench (the first N)")
    parser.add_argument("--spotter-epochs", type=int, default=None, help="default: SpotterTrainConfig's")
    parser.add_argument("--merba-epochs", type=int, default=10)
    parser.add_argument("--only", choices=["spotter", "merba"], default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "synthetic_calibration.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = {"benchmark": "synthetic_calibration", "difficulty": args.difficulty, "seeds": args.seeds,
           "folds": args.folds, "merba_epochs": args.merba_epochs,
           "spotter_epochs": args.spotter_epochs or SpotterTrainConfig().epochs,
           "targets": {"spotter_f1": [0.15, 0.45], "merba_single_uf1_test_ab": [0.45, 0.75],
                       "negatives_off_diagonal_mass": ">= 0.15"},
           "spotter": {"runs": []}, "merba": {"runs": []}}
    started = time.perf_counter()
    if args.only in (None, "merba"):
        merba_runs(args, out)
    if args.only in (None, "spotter"):
        spotter_runs(args, out)
    out["wall_s"] = round(time.perf_counter() - started, 1)
    save(args, out)
    print(json.dumps(out["summary"], indent=1))


if __name__ == "__main__":
    main()
