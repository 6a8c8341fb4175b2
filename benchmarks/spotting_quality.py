"""Spotting quality under LOSO: SlowFast Mamba spotter vs a training-free baseline, shared vs separate trunks.

For every subject of the corpus a fresh spotter is trained on the others (:func:`melab.train.loso`) and
scores the held-out videos. The baseline scores a frame by its ROI flow magnitude
(:func:`melab.train.magnitude_scores`), with no training. Every method goes through the same decoders
(:func:`melab.decode.siss` and :func:`melab.decode.fixed_window`, ``k`` = half the median ME length)
and the same metrics (:func:`melab.metrics.evaluate`: spotting P/R/F1 at IoU 0.5, STRS). The spotter
labels its intervals from its recognition head; the baseline, which has none, labels every interval with
the most frequent class (negative).

Writes ``benchmarks/results/spotting_quality.{csv,json}`` (``spotting_quality_<preset>.*`` for another
preset than ``bench``).

Usage: ``python benchmarks/spotting_quality.py [--preset bench] [--folds all|N] [--epochs E] [--threads T]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from melab.data.splits import str3_classes, to_str3
from melab.data.synthetic import make_corpus
from melab.features import roi_corpus
from melab.metrics import decode_video, evaluate
from melab.models.spotter import SpotterConfig
from melab.train import SpotterTrainConfig, loso, magnitude_scores

RESULTS = Path(__file__).resolve().parent / "results"
CLASSES = list(str3_classes("synthetic"))


def score(method: str, spot: dict, probs: dict | None, truth: pd.DataFrame, *, decoder: str, k: int) -> dict:
    """Decode every held-out video and evaluate the lot (micro TP/FP/FN summed over videos)."""
    tables = []
    for video, s in spot.items():
        if probs is None:
            pred = decode_video(s, method=decoder, k=k).assign(emotion="negative")
        else:
            pred = decode_video(s, method=decoder, k=k, class_probs=probs[video], labels=[*CLASSES, "neutral"])
        tables.append(pred.assign(video=video))
    pred = pd.concat(tables, ignore_index=True)
    ev = evaluate(pred, truth[truth["video"].isin(list(spot))], labels=CLASSES)
    s = ev.spotting
    return {"method": method, "decoder": decoder, "tp": s.tp, "fp": s.fp, "fn": s.fn,
            "precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4),
            "recog_f1": round(ev.recognition.f1, 4), "strs": round(ev.strs, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bench")
    parser.add_argument("--folds", default="all", help="'all' or the number of held-out subjects")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for tiny models)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folds = args.folds if args.folds == "all" else int(args.folds)
    t0 = time.perf_counter()
    roi = roi_corpus(make_corpus(args.preset))
    t_data = time.perf_counter() - t0
    micro = roi.events[roi.events["kind"] == "micro"]
    truth = micro.assign(emotion=[to_str3(e, dataset="synthetic") for e in micro["emotion"]])
    k_decode = max(1, int(np.median(micro["offset"] - micro["onset"] + 1)) // 2)
    train = SpotterTrainConfig(**({"epochs": args.epochs} if args.epochs else {}))
    rows, timings = [], {"roi_series_s": round(t_data, 1)}
    for name, shared in (("spotter (shared trunk)", True), ("spotter (separate trunks)", False)):
        t1 = time.perf_counter()
        result = loso(roi.series, roi.events, roi.videos, folds=folds, config=SpotterConfig.tiny(shared=shared),
                      train=train)
        timings[name] = round(time.perf_counter() - t1, 1)
        spot = {v: s.spot for v, s in result.scores.items()}
        probs = {v: s.probs for v, s in result.scores.items()}
        for decoder in ("siss", "fixed_window"):
            rows.append(score(name, spot, probs, truth, decoder=decoder, k=k_decode))
        held_out = list(result.scores)
    baseline = {v: magnitude_scores(roi.series[v]) for v in held_out}
    for decoder in ("siss", "fixed_window"):
        rows.append(score("baseline (ROI flow magnitude)", baseline, None, truth, decoder=decoder, k=k_decode))
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "spotting_quality" if args.preset == "bench" else f"spotting_quality_{args.preset}"
    table.to_csv(RESULTS / f"{stem}.csv", index=False)
    report = {"preset": args.preset, "folds": args.folds, "threads": args.threads, "held_out_videos": len(held_out),
              "train": train.to_dict(), "k_decode": k_decode, "wall_s": round(time.perf_counter() - t0, 1),
              "timings_s": timings, "results": rows}
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
