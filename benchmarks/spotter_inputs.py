"""Which input, which learner, which augmentation and budget let the spotter generalise to a new face?

Every run is a leave-one-subject-out pass over a corpus (default: the shipped ``lab`` ROI series, 10 subjects,
50 MEs) with one setting changed, judged on held-out subjects only:

- **held-out AUC**: the per-frame ROC AUC of the LOSO scores, ME frames against every other frame, and against
  macro-expression frames only (:func:`melab.metrics.frame_auc`, frames pooled over videos);
- **nested F1**: SISS with its settings chosen on the training folds only (:func:`melab.tuning.nested_select`, the
  claims' grid), half window ``k`` from the training folds' MEs;
- **curves**: the mean over folds of the per-epoch AUC on training videos and on the fold's validation subject
  (never trained on), which is how overfitting shows;
- **seconds per fold**, with the machine's load average at the start of the run (a shared 2-core machine: the
  figures are noisy).

Studies (``--study``):

- ``inputs``: the official window-relative displacement, melab's stitched track, per-video standardised velocity,
  multi-scale temporal contrast, and contrast + velocity (:mod:`melab.inputs`), same model, loss and budget
  (2 seeds); and the recipe shipped before (track, 20 epochs, no validation subject) for the "before" curves.
- ``learners``: on the same features, a logistic regression (the reference learner on contrast, and on the
  contrast + velocity frame features) and gradient-boosted trees, against the Mamba spotter.
- ``augment``: each augmentation of :data:`melab.train.spotting.AUGMENTATIONS` alone, 3 seeds, against none; kept
  only if it raises the held-out AUC.
- ``budget``: 10 against 20 epochs, early stopping on the validation subject, and no validation subject at all
  (one more training subject).

Every run's result is cached in ``$MELAB_DATA/spotter_inputs/<hash>.json`` (the settings are hashed), so an
interrupted study resumes and a finished one is only summarised. Writes ``benchmarks/results/spotter_inputs.json``
(every run, and a summary per study).

Usage: ``python benchmarks/spotter_inputs.py [--study inputs learners augment budget] [--corpus PATH.npz]
[--processes 2]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from claims import decode_siss, fold_k, grids, truth_tables
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from melab.atomic import write_text
from melab.baselines import cross_val_scores
from melab.data.synthetic import default_root
from melab.inputs import contrast_features, spotter_input
from melab.metrics import expression_masks, frame_auc
from melab.models.spotter import SpotterConfig
from melab.train import SpotterTrainConfig, load_roi_corpus, loso
from melab.train.spotting import AUGMENTATIONS
from melab.tuning import nested_select
from melab.workers import die_with_parent

OUT = Path(__file__).resolve().parent / "results" / "spotter_inputs.json"
INPUT_ORDER = ("window", "track", "velocity", "contrast", "contrast_velocity")


def specs(studies: list[str]) -> list[dict]:
    """The runs of the chosen studies. A spec is JSON-able; without ``study`` and ``label`` it is the cache key, so
    a setting shared by two studies (the default recipe) runs once.

    Seeds where a comparison decides something: 2 for the inputs that compete (contrast, contrast + velocity) and
    for every augmentation; 1 where the gap is far beyond seed noise (the displacement inputs, velocity alone)
    and for the budget variants (their gaps are reported as one seed's). Only the inputs study records the
    training-AUC curve (it costs about an epoch per epoch); every run records the validation subject's."""
    default = {"learner": "mamba", "input": "contrast_velocity"}
    out = []
    if "inputs" in studies:
        out += [{"study": "inputs", "learner": "mamba", "input": kind, "seed": seed} for kind in INPUT_ORDER
                for seed in ((0, 1) if kind.startswith("contrast") else (0,))]
        out += [{"study": "inputs", "learner": "mamba", "input": "track", "seed": 0, "epochs": 20, "validation": 1,
                 "label": "shipped before (track, 20 epochs)"}]
    if "learners" in studies:
        out += [{"study": "learners", "learner": name, "input": kind} for name, kind in
                (("logistic", "contrast"), ("logistic", "contrast_velocity"), ("boosting", "contrast"))]
    if "augment" in studies:
        out += [{"study": "augment", **default, "seed": seed, **({"augment": [aug], "monitor": False} if aug else {})}
                for aug in (None, *AUGMENTATIONS) for seed in (0, 1)]
    if "budget" in studies:
        out += [{"study": "budget", **default, "seed": 0, "monitor": False, **extra}
                for extra in ({"epochs": 20}, {"epochs": 20, "patience": 3}, {"validation": 0})]
    return out


def spec_key(spec: dict, corpus: str) -> str:
    setting = {k: v for k, v in spec.items() if k not in ("study", "label")}
    return hashlib.sha256(json.dumps({**setting, "corpus": corpus}, sort_keys=True).encode()).hexdigest()[:16]


def nested_f1(scores: dict[str, np.ndarray], events: pd.DataFrame, videos: pd.DataFrame) -> dict:
    """SISS F1 with settings chosen on the training folds (subjects), ``k`` from the training folds' MEs."""
    subject_of = {v: str(s) for v, s in zip(videos["video"], videos["subject"], strict=True) if v in scores}
    _, truth = truth_tables(events, list(subject_of))
    sel = nested_select(decode_siss(scores, fold_k(events, subject_of)), grids(False)["siss"], truth, subject_of)
    tp, fp, fn = (int(x) for x in sel.counts.sum(axis=0))
    return {"f1": round(sel.f1, 4), "tp": tp, "fp": fp, "fn": fn}


def frame_learner(name: str, kind: str, seed: int = 0):
    """A per-frame classifier on ``kind`` features: logistic regression (balanced) or gradient-boosted trees."""
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000))
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)


def run_frame_learner(spec: dict, roi) -> tuple[dict, dict]:
    """Held-out scores of a per-frame learner, fold by fold (one subject per fold, as the spotter's LOSO)."""
    group_of = {v: str(s) for v, s in zip(roi.videos["video"], roi.videos["subject"], strict=True)}
    t0 = time.perf_counter()
    if spec["learner"] == "logistic" and spec["input"] == "contrast":
        return cross_val_scores(roi.series, roi.events, group_of), {"seconds": time.perf_counter() - t0}
    feature = (lambda x: contrast_features(x)) if spec["input"] == "contrast" else \
        (lambda x: spotter_input(x, spec["input"]))
    x = {v: feature(s) for v, s in roi.series.items()}
    y = {v: expression_masks(len(s), roi.events[roi.events["video"] == v])[0] for v, s in roi.series.items()}
    scores = {}
    for g in sorted(set(group_of.values())):
        train = [v for v in group_of if group_of[v] != g]
        model = frame_learner(spec["learner"], spec["input"]).fit(np.concatenate([x[v] for v in train]),
                                                                  np.concatenate([y[v] for v in train]))
        scores |= {v: model.predict_proba(x[v])[:, 1] for v in group_of if group_of[v] == g}
    return scores, {"seconds": time.perf_counter() - t0}


def run_spotter(spec: dict, roi) -> tuple[dict, dict]:
    train = SpotterTrainConfig(seed=spec.get("seed", 0), augment=tuple(spec.get("augment", ())),
                               **{k: spec[k] for k in ("epochs", "validation", "patience", "monitor") if k in spec})
    result = loso(roi.series, roi.events, roi.videos, config=SpotterConfig.tiny(input=spec["input"]), train=train,
                  progress=False)
    history = result.history
    curves = history.groupby("epoch")[[c for c in history if c.endswith(("_auc", "_auc_mae"))]].mean()
    extra = {"seconds_per_fold": round(float(np.mean(list(result.seconds.values()))), 1),
             "curves": {col: [round(float(v), 4) for v in curves[col]] for col in curves},
             "epochs_run": history.groupby("subject")["epoch"].max().tolist()}
    return {v: s.spot for v, s in result.scores.items()}, extra


def run(spec: dict, corpus: str, cache: Path) -> dict:
    """One run, cached by its settings."""
    path = cache / f"{spec_key(spec, corpus)}.json"
    if path.exists():
        return json.loads(path.read_text())
    torch.set_num_threads(1)
    roi = load_roi_corpus(corpus if corpus != "shipped" else None)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    scores, extra = (run_spotter if spec["learner"] == "mamba" else run_frame_learner)(spec, roi)
    auc = frame_auc(scores, roi.events)
    out = {**spec, "auc": round(auc.auc, 4), "auc_mae": round(auc.auc_mae, 4),
           **nested_f1(scores, roi.events, roi.videos), "seconds": round(time.perf_counter() - t0, 1),
           "load_at_start": round(load, 2), **extra}
    write_text(path, json.dumps(out) + "\n")
    return out


def summarise(runs: list[dict]) -> dict:
    """Mean and per-seed figures per setting, study by study."""
    table = pd.DataFrame(runs)
    table["setting"] = [r.get("label") or " ".join(filter(None, [r["learner"], r["input"], "+".join(
        r.get("augment") or []) or None, *(f"{k}={r[k]}" for k in ("epochs", "patience", "validation") if k in r)]))
        for r in runs]
    summary = {}
    for study, rows in table.groupby("study", sort=False):
        out = []
        for setting, group in rows.groupby("setting", sort=False):
            entry = {"setting": setting, "n_seeds": len(group)}
            for col in ("auc", "auc_mae", "f1"):
                entry[col] = round(float(group[col].mean()), 4)
                entry[f"{col}_by_seed"] = group[col].tolist()
            if "seconds_per_fold" in group and group["seconds_per_fold"].notna().any():
                entry["seconds_per_fold"] = round(float(group["seconds_per_fold"].mean()), 1)
            else:
                entry["seconds"] = round(float(group["seconds"].mean()), 1)
            entry["load_at_start"] = round(float(group["load_at_start"].mean()), 2)
            out.append(entry)
        summary[study] = out
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", nargs="+", default=["inputs", "learners", "augment", "budget"],
                        choices=["inputs", "learners", "augment", "budget"])
    parser.add_argument("--corpus", default="shipped",
                        help="an ROI corpus npz (melab.train.save_roi_corpus); default the shipped lab series")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    cache = default_root() / "spotter_inputs"
    cache.mkdir(parents=True, exist_ok=True)
    todo = specs(args.study)
    unique = {spec_key(spec, args.corpus): spec for spec in reversed(todo)}  # the first study names a shared run
    with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn"), initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        jobs = {pool.submit(run, spec, args.corpus, cache): key for key, spec in unique.items()}
        done = {jobs[job]: job.result() for job in tqdm(as_completed(jobs), total=len(jobs), desc="spotter studies")}
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    runs = [r for r in old.get("runs", []) if r.get("corpus") == args.corpus and r["study"] not in args.study]
    runs += [{**done[spec_key(spec, args.corpus)], **spec, "corpus": args.corpus} for spec in todo]
    report = {"corpus": args.corpus, "machine_cpus": os.cpu_count(), "summary": summarise(runs), "runs": runs}
    write_text(OUT, json.dumps(report, indent=1) + "\n")
    for study, rows in report["summary"].items():
        print(f"\n{study}")
        print(pd.DataFrame(rows).drop(columns=[c for c in pd.DataFrame(rows) if c.endswith("_by_seed")])
              .to_string(index=False))


if __name__ == "__main__":
    main()
