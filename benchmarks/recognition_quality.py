"""7-class recognition quality of tiny MERba on the synthetic corpus: single head vs DGCM, and the scan sets.

Data: onset-apex flow (TV-L1, 96 x 96, :func:`melab.features.merba_corpus`) of every 7-class ME of the
``bench`` corpus, split by subject the DFME way (:func:`melab.recognition.dfme_split`, split seed 0,
fixed for all runs as DFME-public's split is fixed): a training set and two test sets A and B of
disjoint subjects.

Runs, each trained on the training set with the same epochs and schedule
(:class:`melab.train.MERbaTrainConfig`), once per training budget (10 epochs as the shipped models, and 3, short
enough that not every model is at the ceiling) and training seed (model init, batch order, flips; 5 seeds):

- ``single``: one linear head over the seven classes, four asymmetric scans;
- the scan sets of :data:`melab.recognition.SCAN_VARIANTS` with the DGCM head (as the paper's Table VII);
  ``4 asymmetric`` is MERba itself, the ``dgcm`` run.

A fourth test set, ``faint``, holds fresh clips (:func:`melab.recognition.clip_samples`) of four faces the
``bench`` corpus does not have (subject indices 16-19), four per emotion, at 0.15-0.3 px: fainter than any
ME of the corpora (0.3-1.5 px), where 10-epoch models are no longer at the ceiling.

Reports UF1, UAR and ACC on test A, test B, A and B pooled, and faint, as mean ± sample std (ddof 1) over
seeds, the confusion matrices of ``single`` and ``dgcm`` summed over seeds (per test set), and the wall time
of every run.
Wall and CPU seconds of every run and the machine's 1-minute load average are recorded. On a shared machine
both inflate many-fold with the load (oversubscribed threads spin): a 10-epoch run takes about 8 s here when
the machine is quiet, and took up to 160 s at load 6. The scores do not depend on it.
Results are written after every run, so an interrupted benchmark resumes with ``--resume``.

Writes ``benchmarks/results/recognition_quality.json`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from melab.atomic import write_text
from melab.data.splits import SEVEN_CLASSES
from melab.data.synthetic import make_corpus
from melab.features import merba_corpus
from melab.metrics import confusion
from melab.models.merba import ASYMMETRIC_SCANS, MERbaConfig
from melab.recognition import SCAN_VARIANTS, clip_samples, dfme_split, evaluate_merba, scores_table
from melab.train import MERbaTrainConfig, train_merba

RESULTS = Path(__file__).parent / "results"
TESTS = ("test_a", "test_b", "pooled", "faint")
FAINT = {"subjects": [16, 17, 18, 19], "per_class": 4, "amplitude_px": [0.15, 0.3], "seed": 0}
METRICS = ("uf1", "uar", "acc")


def variants() -> dict[str, dict]:
    """Run name -> model settings; the DGCM with the four asymmetric scans is shared by both studies."""
    runs = {"single": dict(head="single", scans=ASYMMETRIC_SCANS)}
    for name, scans in SCAN_VARIANTS.items():
        runs["dgcm" if scans == ASYMMETRIC_SCANS else name] = dict(head="dgcm", scans=scans)
    return runs


def summarise(runs: list[dict]) -> pd.DataFrame:
    """Mean and sample std over seeds of every metric, per budget, variant and test set (long format)."""
    keys = ["epochs", "variant", "test"]
    rows = pd.DataFrame([{"epochs": r["epochs"], "variant": r["variant"], "seed": r["seed"], "test": t,
                          **r["scores"][t]} for r in runs for t in TESTS])
    out = rows.groupby(keys, sort=False)[list(METRICS)].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    n = rows.groupby(keys, sort=False)["seed"].nunique().rename("seeds")
    return out.join(n).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bench")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 10], help="training budgets to compare")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="+", help="run only these variants (names of variants())")
    parser.add_argument("--resume", action="store_true", help="keep finished runs of an earlier result file")
    parser.add_argument("--out", type=Path, default=RESULTS / "recognition_quality.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    flows, samples = merba_corpus(make_corpus(args.preset, progress=False), size=MERbaConfig.tiny().img_size,
                                  progress=False)
    labels = samples["label"].to_numpy()
    split = dfme_split(samples["subject"], seed=args.split_seed)
    masks = split.masks(samples["subject"])
    masks["pooled"] = masks["test_a"] | masks["test_b"]
    tests = {t: (flows[masks[t]], labels[masks[t]], samples.loc[masks[t], "emotion"]) for t in TESTS[:3]}
    faint_flows, faint = clip_samples(FAINT["subjects"], per_class=FAINT["per_class"], seed=FAINT["seed"],
                                      amplitude_px=tuple(FAINT["amplitude_px"]), size=flows.shape[-1])
    tests["faint"] = (faint_flows, faint["label"].to_numpy(), faint["emotion"])
    data_seconds = time.perf_counter() - t0
    settings = {"preset": args.preset, "epochs": args.epochs, "seeds": args.seeds, "split_seed": args.split_seed,
                "threads": args.threads, "train": MERbaTrainConfig().to_dict(), "model": "MERbaConfig.tiny()",
                "split": split._asdict(), "faint": FAINT,
                "samples": {"train": int(masks["train"].sum()), **{t: len(y) for t, (_, y, _) in tests.items()}},
                "class_counts": {t: e.value_counts().reindex(SEVEN_CLASSES, fill_value=0).astype(int).to_dict()
                                 for t, e in [("train", samples.loc[masks["train"], "emotion"]),
                                              *((t, e) for t, (_, _, e) in tests.items())]}}
    done: list[dict] = []
    if args.resume and args.out.exists():
        old = json.loads(args.out.read_text())
        if {k: old["settings"].get(k) for k in ("preset", "split_seed", "faint")} == \
                {k: settings[k] for k in ("preset", "split_seed", "faint")}:
            done = old["runs"]
    todo = [(epochs, name, seed) for epochs in args.epochs for seed in args.seeds for name in variants()
            if args.only is None or name in args.only]
    for epochs, name, seed in todo:
        if any((r["epochs"], r["variant"], r["seed"]) == (epochs, name, seed) for r in done):
            continue
        spec = variants()[name]
        started, cpu, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
        model, history = train_merba(flows[masks["train"]], labels[masks["train"]],
                                     config=MERbaConfig.tiny(**spec), train=MERbaTrainConfig(epochs=epochs, seed=seed),
                                     progress=False)
        train_seconds, train_cpu = time.perf_counter() - started, time.process_time() - cpu
        scores, confusions = {}, {}
        for test, (x, y, _) in tests.items():
            out = evaluate_merba(model, x, y)
            scores[test] = scores_table({test: out}).loc[test, list(METRICS)].astype(float).round(4).to_dict()
            confusions[test] = confusion(out.y_true, out.y_pred, SEVEN_CLASSES).to_numpy().tolist()
        done.append({"epochs": epochs, "variant": name, "seed": seed, "head": spec["head"],
                     "scans": list(spec["scans"]), "scores": scores, "confusion": confusions,
                     "train_seconds": round(train_seconds, 1),
                     "train_cpu_seconds": round(train_cpu, 1),
                     "seconds_per_epoch": round(train_seconds / epochs, 2), "load_avg_1min": round(load, 2),
                     "final_loss": round(float(history["loss"].iloc[-1]), 4)})
        uf1 = "  ".join(f"{t} uf1 {scores[t]['uf1']:.3f}" for t in TESTS)
        print(f"{epochs:>2} epochs {name:>14} seed {seed}: {uf1}  ({train_seconds:.0f} s, load {load:.1f})", flush=True)
        summary = summarise(done)
        cms = {t: {f"{e}:{v}": np.sum([r["confusion"][t] for r in done if (r["epochs"], r["variant"]) == (e, v)],
                                      axis=0).astype(int).tolist()
                   for e, v in sorted({(r["epochs"], r["variant"]) for r in done}) if v in ("single", "dgcm")}
               for t in TESTS}
        result = {
            "benchmark": "recognition_quality", "complete": False, "settings": settings,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]},
            "data_seconds": round(data_seconds, 1),
            "std": "sample standard deviation over training seeds (ddof=1); the split is fixed",
            "summary": summary.round(4).to_dict("records"),
            "confusion_labels": list(SEVEN_CLASSES),
            "confusion_summed_over_seeds": cms,
            "runs": done,
        }
        write_text(args.out, json.dumps(result, indent=1) + "\n")
        write_text(args.out.with_suffix(".csv"), summary.round(4).to_csv(index=False))
    result = json.loads(args.out.read_text())
    finished = {(r["epochs"], r["variant"], r["seed"]) for r in result["runs"]}
    result["complete"] = all((e, n, s) in finished for e in args.epochs for n in variants() for s in args.seeds)
    result["total_train_seconds"] = round(sum(r["train_seconds"] for r in result["runs"]), 1)
    result["total_train_cpu_seconds"] = round(sum(r["train_cpu_seconds"] for r in result["runs"]), 1)
    write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(pd.read_csv(args.out.with_suffix(".csv")).to_string(index=False))


if __name__ == "__main__":
    main()
