"""7-class recognition quality of tiny MERba on the realistic recognition clips: single head vs DGCM, and the scan sets.

Data: onset-apex flow (TV-L1, 96 x 96, :func:`melab.features.merba_corpus`) of every clip of
``make_corpus("clips")`` (48 subjects, 10 clips each, realistic AU presence, subject gains, asymmetry and
label noise among the negatives), with its fixed DFME-style split (``split.csv``,
:func:`melab.data.synthetic.read_split`): a training set of 28 subjects and two test sets A and B of 10 subjects
each, disjoint. The models are scored against the annotated labels, as a real benchmark is.

Runs, each trained on the training set with the same epochs and schedule (:class:`melab.train.MERbaTrainConfig`,
10 epochs as the shipped models, :func:`melab.train.split_merba`), once per training seed (model init, batch
order, flips; 5 seeds):

- ``single``: one linear head over the seven classes, four asymmetric scans;
- the scan sets of :data:`melab.recognition.SCAN_VARIANTS` with the DGCM head (as the paper's Table VII);
  ``4 asymmetric`` is MERba itself, the ``dgcm`` run.

Reports UF1, UAR and ACC on test A, test B and both pooled (``test_ab``) as mean ± sample std (ddof 1) over
seeds, the off-diagonal mass among the four negatives (:func:`melab.recognition.negative_confusion`) per test set,
the confusion matrices of every variant summed over seeds, and the wall time of every run. This benchmark is
descriptive. Whether DGCM beats a single head, or four asymmetric scans beat the others, is decided by paired
effects with bootstrap confidence intervals in ``benchmarks/claims.py`` (``benchmarks/results/claims.json``);
read the verdicts there, not from differences of the means here.

Wall and CPU seconds of every run and the machine's 1-minute load average are recorded. On a shared machine both
inflate many-fold with the load (oversubscribed threads spin); the scores do not depend on it. Results are written
after every run, so an interrupted benchmark resumes with ``--resume``.

Usage (the committed result: 30 runs in 703 s wall on 2 shared cores at load 8-11, 23-70 s a run)::

    OMP_NUM_THREADS=1 python benchmarks/recognition_quality.py --processes 2

Writes ``benchmarks/results/recognition_quality.json`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from melab.atomic import write_text
from melab.data.splits import SEVEN_CLASSES
from melab.data.synthetic import make_corpus, read_split
from melab.features import merba_corpus
from melab.metrics import confusion
from melab.models.merba import ASYMMETRIC_SCANS, MERbaConfig
from melab.recognition import SCAN_VARIANTS, DfmeSplit, negative_confusion
from melab.train import MERbaTrainConfig, split_merba

RESULTS = Path(__file__).resolve().parent / "results"
TESTS = ("test_a", "test_b", "test_ab")
METRICS = ("uf1", "uar", "acc")


def variants() -> dict[str, dict]:
    """Run name -> model settings; the DGCM with the four asymmetric scans is shared by both studies."""
    runs = {"single": dict(head="single", scans=ASYMMETRIC_SCANS)}
    for name, scans in SCAN_VARIANTS.items():
        runs["dgcm" if scans == ASYMMETRIC_SCANS else name] = dict(head="dgcm", scans=scans)
    return runs


@cache
def clips_data(corpus_seed: int) -> tuple[np.ndarray, pd.DataFrame, DfmeSplit]:
    """Flow images (N, 3, 96, 96), samples and the fixed split of the clips corpus (cached per process)."""
    corpus = make_corpus("clips", seed=corpus_seed, progress=False)
    flows, samples = merba_corpus(corpus, size=MERbaConfig.tiny().img_size, progress=False)
    return flows, samples, DfmeSplit(**read_split(corpus))


def run(name: str, seed: int, epochs: int, corpus_seed: int, threads: int) -> dict:
    """Train one variant with one seed on the training subjects; scores and confusions on test A, B and A+B."""
    torch.set_num_threads(threads)
    flows, samples, split = clips_data(corpus_seed)
    spec = variants()[name]
    started, cpu, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    _, history, predictions, scores = split_merba(flows, samples, split, config=MERbaConfig.tiny(**spec),
                                                  train=MERbaTrainConfig(epochs=epochs, seed=seed), progress=False)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    parts = {"test_a": predictions[predictions["part"] == "test_a"],
             "test_b": predictions[predictions["part"] == "test_b"], "test_ab": predictions}
    confusions = {t: confusion(p["true"], p["predicted"], SEVEN_CLASSES) for t, p in parts.items()}
    return {"epochs": epochs, "variant": name, "seed": seed, "head": spec["head"], "scans": list(spec["scans"]),
            "scores": {t: scores.loc[t, list(METRICS)].astype(float).round(4).to_dict() for t in TESTS},
            "negatives_off_diagonal": {t: round(negative_confusion(cm).mass, 4) for t, cm in confusions.items()},
            "confusion": {t: cm.to_numpy().tolist() for t, cm in confusions.items()},
            "train_seconds": round(seconds, 1), "train_cpu_seconds": round(cpu, 1),
            "seconds_per_epoch": round(seconds / epochs, 2), "load_avg_1min": round(load, 2),
            "final_loss": round(float(history["loss"].iloc[-1]), 4)}


def summarise(runs: list[dict]) -> pd.DataFrame:
    """Mean and sample std over seeds of every metric, per budget, variant and test set (long format)."""
    keys = ["epochs", "variant", "test"]
    rows = pd.DataFrame([{"epochs": r["epochs"], "variant": r["variant"], "seed": r["seed"], "test": t,
                          **r["scores"][t], "neg_off_diag": r["negatives_off_diagonal"][t]}
                         for r in runs for t in TESTS])
    order = {**{name: i for i, name in enumerate(variants())}, **{t: i for i, t in enumerate(TESTS)}}
    rows = rows.sort_values(keys, key=lambda c: c if c.name == "epochs" else c.map(order))
    out = rows.groupby(keys, sort=False)[[*METRICS, "neg_off_diag"]].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    n = rows.groupby(keys, sort=False)["seed"].nunique().rename("seeds")
    return out.join(n).reset_index()


def save(args, settings: dict, done: list[dict], data_seconds: float) -> None:
    summary = summarise(done)
    cms = {t: {f"{e}:{v}": np.sum([r["confusion"][t] for r in done if (r["epochs"], r["variant"]) == (e, v)],
                                  axis=0).astype(int).tolist()
               for e, v in sorted({(r["epochs"], r["variant"]) for r in done})}
           for t in TESTS}
    result = {
        "benchmark": "recognition_quality", "complete": False, "settings": settings,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "data_seconds": round(data_seconds, 1),
        "std": "sample standard deviation over training seeds (ddof=1); the split is fixed",
        "verdicts": "paired effects with bootstrap CIs: benchmarks/results/claims.json (benchmarks/claims.py)",
        "summary": summary.round(4).to_dict("records"),
        "confusion_labels": list(SEVEN_CLASSES),
        "confusion_summed_over_seeds": cms,
        "runs": done,
    }
    write_text(args.out, json.dumps(result, indent=1) + "\n")
    write_text(args.out.with_suffix(".csv"), summary.round(4).to_csv(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus-seed", type=int, default=0, help="seed of make_corpus('clips')")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="training seeds")
    parser.add_argument("--epochs", type=int, nargs="+", default=[10], help="training budgets")
    parser.add_argument("--processes", type=int, default=1, help="runs trained at once (spawned workers)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--only", nargs="+", choices=list(variants()), help="run only these variants")
    parser.add_argument("--resume", action="store_true", help="keep finished runs of an earlier result file")
    parser.add_argument("--out", type=Path, default=RESULTS / "recognition_quality.json")
    args = parser.parse_args()

    wall = time.perf_counter()
    flows, samples, split = clips_data(args.corpus_seed)
    masks = split.masks(samples["subject"])
    masks["test_ab"] = masks["test_a"] | masks["test_b"]
    data_seconds = time.perf_counter() - wall
    settings = {"corpus": "clips", "corpus_seed": args.corpus_seed, "epochs": args.epochs, "seeds": args.seeds,
                "processes": args.processes, "threads": args.threads, "train": MERbaTrainConfig().to_dict(),
                "model": "MERbaConfig.tiny()", "split": split._asdict(),
                "samples": {t: int(m.sum()) for t, m in masks.items()},
                "class_counts": {t: samples.loc[m, "emotion"].value_counts().reindex(SEVEN_CLASSES, fill_value=0)
                                 .astype(int).to_dict() for t, m in masks.items()}}
    done: list[dict] = []
    if args.resume and args.out.exists():
        old = json.loads(args.out.read_text())
        if {k: old["settings"].get(k) for k in ("corpus", "corpus_seed", "split")} == \
                {k: json.loads(json.dumps(settings[k])) for k in ("corpus", "corpus_seed", "split")}:
            done = old["runs"]
    finished = {(r["epochs"], r["variant"], r["seed"]) for r in done}
    todo = [(name, seed, epochs) for epochs in args.epochs for seed in args.seeds for name in variants()
            if (args.only is None or name in args.only) and (epochs, name, seed) not in finished]
    with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(run, name, seed, epochs, args.corpus_seed, args.threads) for name, seed, epochs in todo]
        for job in as_completed(jobs):
            r = job.result()
            done.append(r)
            uf1 = "  ".join(f"{t} uf1 {r['scores'][t]['uf1']:.3f}" for t in TESTS)
            print(f"{r['epochs']:>2} epochs {r['variant']:>14} seed {r['seed']}: {uf1}  "
                  f"({r['train_seconds']:.0f} s, load {r['load_avg_1min']:.1f})", flush=True)
            save(args, settings, done, data_seconds)
    result = json.loads(args.out.read_text())
    finished = {(r["epochs"], r["variant"], r["seed"]) for r in result["runs"]}
    result["complete"] = all((e, n, s) in finished for e in args.epochs for n in variants() for s in args.seeds)
    result["total_train_seconds"] = round(sum(r["train_seconds"] for r in result["runs"]), 1)
    result["total_train_cpu_seconds"] = round(sum(r["train_cpu_seconds"] for r in result["runs"]), 1)
    result["wall_seconds_this_invocation"] = round(time.perf_counter() - wall, 1)
    write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(pd.read_csv(args.out.with_suffix(".csv")).to_string(index=False))


if __name__ == "__main__":
    main()
