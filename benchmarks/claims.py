"""The papers' five comparative claims as paired effects with 95% bootstrap confidence intervals.

Each claim is an effect ``B − A`` in the paper's metric, measured on the same units for both arms (videos for
spotting, samples for recognition), over several training seeds with the corpus seed fixed, with a paired
bootstrap CI pooled over seeds (:mod:`melab.effects`) and a verdict that follows from the CI: "supported" (CI
above 0), "reversed" (below) or "not separated". The paper's own figure stands beside it.

1. **SISS vs the fixed window** (BoostingVRME Table 5). Both decode the same held-out scores of the shared-trunk
   spotter, with the same smoothing and the same peak rule (:func:`melab.decode.score_peaks`). Settings are chosen
   on training folds only (:func:`melab.tuning.nested_select`): *matched* gives the fixed window the smoothing and
   peak threshold chosen for SISS; *best vs best* lets each choose its own.
2. **Shared vs separate trunks** (Table 5, "synergistic optimization"): a spotter per arm; separate trunks share
   the stem, as in the paper's ablation. Both decoded by SISS with nested settings. Spotting F1, and STRS under
   both protocols (:data:`melab.metrics.PROTOCOLS`): "melab" counts ME-free videos and every STR class,
   "megc_official" drops ME-free videos and "others". Emotions come from the official class prior
   (:class:`melab.decode.ClassPrior`: −1 on the negative logit, frames onset+1..offset−2, the 20 % rule); the
   LOSO scores keep probabilities, not logits, so neutral is left out of the vote (as the official CAS(ME)^3 run
   does) instead of having its logit set to 0.
3. **DGCM vs a single head** (MERba Table II): tiny MERba on the realistic recognition clips
   (``make_corpus("clips")``) with their fixed DFME-style split (``split.csv``: training subjects, test A, test B),
   UF1 over the seven classes on test A + B, and UF1 over the four negative classes on the negative samples.
4. **Four asymmetric scans vs 2 directions, 2 + reversed, 2 + mirrored** (MERba Table VII): the same, UF1.
5. **Learned spotter vs training-free spotting** (BoostingVRME Table 1): the shared-trunk spotter (SISS) against
   the feature-difference baseline (:func:`melab.baselines.feature_difference_spot`), each with nested settings.
   Two more rows tell "the corpus is hard" from "the recipe is weak": the reference learner
   (:class:`melab.baselines.ContrastLogistic`, a logistic regression on multi-scale temporal contrast, trained on the
   same folds, decoded by SISS with nested settings) against the feature difference, and the spotter against it.

Every row carries two intervals: over units (videos, samples; BCa) and over subjects (``cluster_ci_*``: whole
subjects resampled with all their units, percentile), since a subject's videos share a face. The decoders' half
window ``k`` of each fold is half the median ME length of the *other* folds' MEs (the training folds), never of
the MEs it is judged on. The DGCM's fine-loss weight follows melab's own schedule (alpha 0.2 -> 0.8, half-cosine;
the paper's equation 7 is not legible in our copy), stated in the rows' ``note``. MERba is trained to convergence
as the paper trains it (:meth:`melab.train.MERbaTrainConfig.converge`: AdamW, 5 warm-up epochs then cosine decay,
weight decay 0.05, flips only, dropout 0.1), with early stopping on the validation UF1 of validation subjects of
the training split (:func:`melab.train.validation_subjects`), never on test subjects.

Auditable: ``claims.json`` keeps ``units``: per video, seed and arm the spotting TP/FP/FN (and the recognition
counts behind STRS), and per test sample and seed every MERba variant's prediction, with each unit's subject. Any
row can be recomputed from them without training (``recompute_row``; ``tests/test_claims.py`` does it).

Modes
-----
- default: spotting on the ``bench`` corpus (``--preset``, ``--difficulty`` passed through to ``make_corpus``;
  realistic by default), cross-validated over subjects with two subjects held out per fold (8 folds of the 16
  ``bench`` subjects, each spotter trained on the other 14; every video is held out once), 5 training seeds, the
  shipped spotter recipe (:class:`SpotterTrainConfig`'s defaults); recognition on the ``clips`` corpus, MERba to
  convergence; 2 worker processes. Strict LOSO (``--subjects-per-fold 1``, 16 folds of 15
  training subjects) asks the same questions but costs twice the training, about 1.5 h here; two subjects per fold
  keep the default within an hour. ``claims.json`` records the wall time (``wall_s``) and each job's seconds.
- ``--quick``: a CI-sized smoke run of the whole pipeline in under a minute: the shipped ``lab`` ROI series
  (LOSO, 3 held-out subjects), 2 seeds, 1 spotter epoch, fresh recognition clips of 6 faces, 2 MERba epochs (no
  early stopping) and a smaller decoder grid. Its numbers say nothing about the claims. Writes
  ``claims_quick.{json,md}``.
- ``--shipped``: no training; claims 1 and 5 and the reference learner's rows on the shipped ``lab`` LOSO scores
  (``data/spotter_lab_loso.npz``, one seed). Writes ``claims_shipped_lab.{json,md}``.

Resuming
--------
Every training job (one fold of one spotter arm and seed; one MERba run) checkpoints each epoch under
``$MELAB_DATA/claims/<mode>-<hash of the settings>/`` (default ``~/.cache/melab``; plain state dicts read with
``weights_only=True``). Run the same command again after an interruption: finished jobs are only re-scored, an
interrupted one continues from its last epoch, and the numbers are bit-identical to an uninterrupted run
(:func:`melab.train.loop.fit`). Other settings get another folder; ``--fresh`` discards the folder and retrains.

Writes ``benchmarks/results/claims.json`` and ``claims.md`` (or the mode's names): one row per comparison with
claim, metric, paper_value, effect, ci_low, ci_high, cluster_ci_low, cluster_ci_high, cluster_verdict, n_seeds,
n_units, n_subjects, verdict, note, command, and both arms' values; and ``units`` (above).

Usage: ``python benchmarks/claims.py [--quick | --shipped] [--preset bench] [--difficulty realistic]
[--seeds 0 1 2 3 4] [--subjects-per-fold 2] [--folds all] [--processes 2] [--fresh]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from itertools import product
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score
from tqdm.auto import tqdm

from melab.atomic import write_text
from melab.baselines import cross_val_scores, feature_difference_spot
from melab.data.splits import SEVEN_CLASSES, str3_classes, to_str3
from melab.data.synthetic import default_root
from melab.decode import ClassPrior, assign_emotions, fixed_window, siss
from melab.effects import f1_difference, strs_difference, strs_from_counts, uf1_difference
from melab.metrics import match_intervals
from melab.models.merba import MERbaConfig
from melab.models.spotter import SpotterConfig
from melab.recognition import SCAN_VARIANTS, DfmeSplit, clip_samples, dfme_split, evaluate_merba
from melab.train import (
    ARTEFACTS,
    MERbaTrainConfig,
    SpotterTrainConfig,
    load_roi_corpus,
    load_scores,
    loso,
    merba_corpus,
    read_checkpoint,
    roi_corpus,
    train_merba,
    validation_subjects,
)
from melab.train.recognition import VALIDATION_SHARE
from melab.tuning import count_table, micro_f1, nested_select
from melab.workers import die_with_parent

RESULTS = Path(__file__).resolve().parent / "results"
CLASSES = list(str3_classes("synthetic"))  # negative, positive, surprise, others
VOTE_LABELS = [*CLASSES, "neutral"]
PRIOR = ClassPrior.official(neutral_logit=-np.inf)  # probabilities, not logits: neutral does not vote
NEGATIVES = ["anger", "disgust", "fear", "sadness"]
VARIANTS = ("single", "dgcm", "2 directions", "2 + reversed", "2 + mirrored")
PAPER = {
    "siss": "0.0901 -> 0.0997 F1 (+0.0096), CAS(ME)^3; 0.2943 -> 0.2906 (-0.0037), SAMM-LV (Table 5)",
    "shared": "+0.0220 F1 SAMM-LV (0.2723 -> 0.2943); -0.0011 CAS(ME)^3 (0.0912 -> 0.0901) (Table 5)",
    "shared_strs": "+0.0141 STRS SAMM-LV (0.1848 -> 0.1989); -0.0007 CAS(ME)^3 (0.0487 -> 0.0480) (Table 5)",
    "dgcm": "+0.0231 / +0.0188 UF1, DFME test A / B (Table II)",
    "scans": "4 asymmetric best on UF1, UAR, ACC (Table VII)",
    "learned": "0.2906 learned vs 0.0364 MDMD F1, SAMM-LV; OF feature difference 0.0000 / 0.2162 (Table 1)",
    "reference": "- (melab's yardstick: a logistic regression on multi-scale temporal contrast)",
}
ALPHA_NOTE = "DGCM fine-loss weight: alpha 0.2 -> 0.8, half-cosine over the epochs, melab's own (eq. 7 not legible)"


# ---- decoder grids and per-video counts ---------------------------------------------------------------------

def grids(quick: bool) -> dict[str, list[dict]]:
    """Settings searched on the training folds: smoothing × peak height (both decoders), SISS low/high, baseline."""
    smooths, ps = ((1, 5, 9), (0.3, 0.55)) if quick else ((1, 3, 5, 7, 9, 11), (0.3, 0.45, 0.55, 0.7))
    lows, highs = ((0.2, 0.3), (0.6,)) if quick else ((0.0, 0.1, 0.2, 0.3), (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7))
    base = ((4,), (3,), (0.3, 0.55), (15.0,)) if quick else \
        ((2, 3, 4, 6), (1, 3, 5, 8), (0.2, 0.3, 0.45), (4.0, 6.0, 10.0, None))
    return {
        "fixed": [{"smooth": w, "p": p} for w, p in product(smooths, ps)],
        "siss": [{"smooth": w, "p": p, "low": lo, "high": hi} for w, p, lo, hi in product(smooths, ps, lows, highs)
                 if lo <= hi],
        "baseline": [{"k": k, "top_n": n, "p": p, "max_width": m} for k, n, p, m in product(*base)],
    }


def decode_fixed(spot: dict, k: dict):
    """Fixed-window decoding of ``spot[video]`` with its fold's half window ``k[video]``."""
    return lambda video, smooth, p: fixed_window(spot[video], k[video], p, smooth=smooth, edge_peaks=True)


def decode_siss(spot: dict, k: dict):
    """SISS decoding of ``spot[video]`` with its fold's half window ``k[video]``."""
    return lambda video, smooth, p, low, high: siss(spot[video], k[video], low, high, smooth=smooth, peak_height=p)


def recognition_counts(intervals: list, probs: np.ndarray, truth: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """(K, 3) one-vs-rest TP/FP/FN over ``labels`` of one video's spotted TPs (emotion by the official prior)."""
    voted = {(on, off): emo for on, off, emo, _ in assign_emotions(probs, intervals, labels=VOTE_LABELS, prior=PRIOR)}
    out = np.zeros((len(labels), 3), np.int64)
    true_iv = truth[["onset", "offset"]].to_numpy()
    for i, j, _ in match_intervals(intervals, true_iv) if len(intervals) and len(true_iv) else []:
        t, p = truth["emotion"].iloc[j], voted.get(tuple(intervals[i]), "neutral")
        if t not in labels:
            continue
        for c, name in enumerate(labels):
            out[c] += [t == name and p == name, t != name and p == name, t == name and p != name]
    return out


# ---- training jobs (run in worker processes) ----------------------------------------------------------------

def spotter_job(shared: bool, seed: int, fold: str, series: dict, events: pd.DataFrame, videos: pd.DataFrame,
                epochs: int | None, cache: Path) -> dict:
    """One fold of one spotter arm and seed: its held-out videos' (spot, probs). The fold checkpoints every
    epoch under ``cache`` and resumes from there, so a finished fold is only re-scored and a killed one continues
    bit-identically."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    train = SpotterTrainConfig(seed=seed, **({"epochs": epochs} if epochs else {}))
    result = loso(series, events, videos, folds=[fold], config=SpotterConfig.tiny(shared=shared), train=train,
                  checkpoint_dir=cache / f"spotter-{'shared' if shared else 'separate'}-seed{seed}", resume=True,
                  progress=False)
    return {"scores": {v: (s.spot, s.probs) for v, s in result.scores.items()}, "k": result.k,
            "seconds": time.perf_counter() - t0, "resumed_from": result.resumed_from[fold]}


def merba_job(variant: str, seed: int, flows: np.ndarray, labels: np.ndarray, masks: dict, train: MERbaTrainConfig,
              cache: Path) -> dict:
    """One MERba run on the training subjects (early stopping on the validation subjects), its test predictions;
    checkpointed and resumed like a fold."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    scans = SCAN_VARIANTS["4 asymmetric" if variant in ("single", "dgcm") else variant]
    head = "single" if variant == "single" else "dgcm"
    checkpoint = cache / f"merba-{variant.replace(' ', '').replace('+', 'plus')}-seed{seed}.pt"
    resumed = int(read_checkpoint(checkpoint)["epoch"]) if checkpoint.exists() else 0
    fit_on, val, test = masks["train"], masks["validation"], masks["test"]
    model, history = train_merba(flows[fit_on], labels[fit_on], config=MERbaConfig.tiny(head=head, scans=scans),
                                 train=MERbaTrainConfig(**{**train.to_dict(), "seed": seed}), checkpoint=checkpoint,
                                 resume=True, progress=False, validation=(flows[val], labels[val]))
    out = evaluate_merba(model, flows[test], labels[test])
    best = history.loc[history["best"], "epoch"] if "best" in history else history["epoch"].tail(1)
    return {"y_pred": list(out.y_pred), "seconds": time.perf_counter() - t0, "resumed_from": resumed,
            "epochs_run": len(history), "best_epoch": int(best.iloc[0]),
            "val_uf1": round(float(history["val_uf1"].max()), 4)}


def fold_groups(videos: pd.DataFrame, per_fold: int) -> dict[str, str]:
    """Subject -> its fold: the sorted subjects in consecutive groups of ``per_fold`` (1 is LOSO), each fold
    named by its subjects joined with "+"."""
    subjects = sorted(videos["subject"].astype(str).unique())
    if not 1 <= per_fold <= len(subjects) // 2:
        raise ValueError(f"--subjects-per-fold {per_fold}: the spotting data has {len(subjects)} subjects, so pass "
                         f"1..{len(subjects) // 2} (at least two folds)")
    groups = [subjects[i:i + per_fold] for i in range(0, len(subjects), per_fold)]
    return {s: "+".join(g) for g in groups for s in g}


def job_cache(mode: str, settings: dict, *, fresh: bool = False) -> Path:
    """``<melab cache>/claims/<mode>-<hash of settings>``: per-job checkpoints, reused whenever the same settings
    run again (an interrupted run resumes, whatever its ``--out``), never by a run with other settings; ``fresh``
    empties it first."""
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    folder = default_root() / "claims" / f"{mode}-{key}"
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "settings.json", json.dumps(settings, indent=1, sort_keys=True) + "\n")
    return folder


# ---- the claims ---------------------------------------------------------------------------------------------

def row(claim: str, metric: str, paper: str, effect_of, clusters: np.ndarray, n_seeds: int, arms: tuple[str, str],
        values, command: str, recompute: dict, note: str = "") -> dict:
    """One comparison: ``effect_of(**kwargs)`` gives the paired Effect; it runs over units and over subjects."""
    unit, cluster = effect_of(), effect_of(clusters=clusters)
    return {"claim": claim, "metric": metric, "paper_value": paper, "effect": round(unit.effect, 4),
            "ci_low": round(unit.ci_low, 4), "ci_high": round(unit.ci_high, 4), "n_seeds": n_seeds,
            "n_units": unit.n_units, "n_subjects": int(len(np.unique(clusters))), "verdict": unit.verdict,
            "cluster_ci_low": round(cluster.ci_low, 4), "cluster_ci_high": round(cluster.ci_high, 4),
            "cluster_verdict": cluster.verdict, "note": note, "command": command,
            "arm_a": arms[0], "arm_b": arms[1], "value_a": round(float(values[0]), 4),
            "value_b": round(float(values[1]), 4), "ci_method": unit.method, "recompute": recompute}


def spotting_arm(scores: list[dict], k: dict, truth: dict, truth_df: pd.DataFrame, subject_of: dict,
                 grid: dict) -> dict:
    """Nested SISS and fixed-window decoding of each seed's held-out scores: counts (S, V, 3), recognition counts.

    ``k`` maps each video to its fold's decoding half window (from the training folds' MEs)."""
    out = {"siss": [], "fixed_matched": [], "fixed_best": [], "strs_melab": [], "strs_official": [], "choices": []}
    for seed_scores in scores:
        spot = {v: s[0] for v, s in seed_scores.items()}
        sel = nested_select(decode_siss(spot, k), grid["siss"], truth, subject_of)
        fixed_table = count_table(decode_fixed(spot, k), grid["fixed"], truth, sel.videos)
        best = nested_select(decode_fixed(spot, k), grid["fixed"], truth, subject_of, table=fixed_table)
        index = {(g["smooth"], g["p"]): i for i, g in enumerate(grid["fixed"])}
        matched = np.stack([fixed_table[index[(sel.params[subject_of[v]]["smooth"], sel.params[subject_of[v]]["p"])], i]
                            for i, v in enumerate(sel.videos)])
        recog_all, recog_official = [], []
        for v in sel.videos:
            params = sel.params[subject_of[v]]
            intervals = siss(spot[v], k[v], params["low"], params["high"], smooth=params["smooth"],
                             peak_height=params["p"])
            video_truth = truth_df[truth_df["video"] == v]
            recog_all.append(recognition_counts(intervals, seed_scores[v][1], video_truth, CLASSES))
            recog_official.append(recognition_counts(intervals, seed_scores[v][1], video_truth, CLASSES[:3]))
        out["siss"].append(sel.counts)
        out["fixed_best"].append(best.counts)
        out["fixed_matched"].append(matched)
        out["strs_melab"].append(np.stack(recog_all))
        out["strs_official"].append(np.stack(recog_official))
        out["choices"].append({"siss": sel.params, "fixed_best": best.params})
    out["videos"] = sel.videos
    return {key: np.stack(value) if key not in ("choices", "videos") else value for key, value in out.items()}


def strs_of(spot: np.ndarray, recog: np.ndarray) -> float:
    """STRS pooled over seeds and videos from (S, V, 3) and (S, V, K, 3) counts."""
    return float(strs_from_counts(spot.sum(axis=0), recog.sum(axis=0)))


def spotting_units(shared: dict, separate: dict | None, baseline: np.ndarray, reference: np.ndarray,
                   person_of: dict, fold_of: dict, k: dict, has_me: np.ndarray) -> dict:
    """``units["spotting"]`` of the report: per video (and seed) every arm's counts, with its subject and fold."""
    videos = shared["videos"]
    counts = {"shared_siss": shared["siss"], "shared_fixed_matched": shared["fixed_matched"],
              "shared_fixed_best": shared["fixed_best"], "baseline": baseline, "reference": reference}
    recognition = {"shared_melab": shared["strs_melab"], "shared_megc_official": shared["strs_official"]}
    if separate is not None:
        counts["separate_siss"] = separate["siss"]
        recognition |= {"separate_melab": separate["strs_melab"], "separate_megc_official": separate["strs_official"]}
    return {"videos": list(videos), "subject": [person_of[v] for v in videos], "fold": [fold_of[v] for v in videos],
            "k_decode": [int(k[v]) for v in videos], "has_me": has_me.tolist(),
            "counts": {name: np.asarray(c).tolist() for name, c in counts.items()},
            "recognition": {name: np.asarray(c).tolist() for name, c in recognition.items()},
            "recognition_classes": CLASSES}


def spotting_rows(units: dict, n_seeds: int, command: str) -> list[dict]:
    """Claims 1, 2 and 5 (and the reference learner's two rows) from the per-video counts of :func:`spotting_units`."""
    f1 = lambda c: float(micro_f1(c.sum(axis=0) if c.ndim == 3 else c))  # noqa: E731 - pooled micro F1
    counts = {name: np.asarray(c) for name, c in units["counts"].items()}
    people = np.asarray(units["subject"])
    has_me = np.asarray(units["has_me"])
    shared = counts["shared_siss"]
    rows = []

    def f1_row(claim, paper, a, b, arms):
        ca, cb = counts[a], counts[b]
        ca = np.broadcast_to(ca, cb.shape) if ca.ndim < cb.ndim else ca
        cb = np.broadcast_to(cb, ca.shape) if cb.ndim < ca.ndim else cb
        rows.append(row(claim, "spotting F1", paper, lambda **kw: f1_difference(ca, cb, **kw), people, n_seeds,
                        arms, (f1(counts[a]), f1(counts[b])), command, {"kind": "f1", "a": a, "b": b}))

    for name, a in (("matched settings", "shared_fixed_matched"), ("best vs best", "shared_fixed_best")):
        f1_row(f"SISS beats the fixed window ({name}, settings chosen on training folds)", PAPER["siss"], a,
               "shared_siss", ("fixed window", "SISS"))
    if "separate_siss" in counts:
        f1_row("Shared trunk beats separate trunks (stem shared)", PAPER["shared"], "separate_siss", "shared_siss",
               ("separate", "shared"))
        for protocol in ("melab", "megc_official"):
            keep = has_me if protocol == "megc_official" else np.ones(len(has_me), bool)
            sa, sb = counts["separate_siss"][:, keep], shared[:, keep]
            ra, rb = (np.asarray(units["recognition"][f"{arm}_{protocol}"])[:, keep] for arm in ("separate", "shared"))
            rows.append(row("Shared trunk beats separate trunks (stem shared)", f"STRS ({protocol})",
                            PAPER["shared_strs"], lambda sa=sa, ra=ra, sb=sb, rb=rb, **kw: strs_difference(
                                sa, ra, sb, rb, **kw), people[keep], n_seeds, ("separate", "shared"),
                            (strs_of(sa, ra), strs_of(sb, rb)), command,
                            {"kind": "strs", "a": "separate_siss", "b": "shared_siss", "a_recognition": "separate",
                             "b_recognition": "shared", "protocol": protocol}))
    f1_row("A learned spotter beats training-free spotting (feature difference, tuned on training folds)",
           PAPER["learned"], "baseline", "shared_siss", ("feature difference", "spotter + SISS"))
    f1_row("A reference learner beats training-free spotting (is the corpus hard?)", PAPER["reference"], "baseline",
           "reference", ("feature difference", "reference learner + SISS"))
    f1_row("A learned spotter beats the reference learner (is the recipe weak?)", PAPER["reference"], "reference",
           "shared_siss", ("reference learner + SISS", "spotter + SISS"))
    return rows


RECOGNITION_COMPARISONS = [
    # claim, arm A, arm B, metric, labels, samples
    ("DGCM beats a single head", "single", "dgcm", "UF1, 7 classes, test A + B", SEVEN_CLASSES, "all"),
    ("DGCM beats a single head (on the negatives)", "single", "dgcm",
     "UF1, 4 negative classes, negative samples of test A + B", NEGATIVES, "labelled"),
    *((f"Four asymmetric scans beat {other}", other, "dgcm", "UF1, 7 classes, test A + B", SEVEN_CLASSES, "all")
      for other in ("2 directions", "2 + reversed", "2 + mirrored")),
]


def recognition_rows(units: dict, n_seeds: int, command: str) -> list:
    """Claims 3 and 4 from the per-sample predictions of ``units["recognition"]``."""
    y_true = np.asarray(units["y_true"])
    people = np.asarray(units["subject"])
    preds = {name: np.asarray(p) for name, p in units["predictions"].items()}

    def pooled_uf1(pred, labels, mask):
        return f1_score(np.tile(y_true[mask], len(pred)), pred[:, mask].ravel(), labels=labels, average="macro",
                        zero_division=0)

    rows = []
    for claim, a, b, metric, labels, samples in RECOGNITION_COMPARISONS:
        mask = np.isin(y_true, labels) if samples == "labelled" else np.ones(len(y_true), bool)
        if a not in preds or b not in preds or mask.sum() < 2:
            continue
        pa, pb = preds[a][:, mask], preds[b][:, mask]
        paper = PAPER["dgcm" if claim.startswith("DGCM") else "scans"]
        rows.append(row(claim, metric, paper, lambda pa=pa, pb=pb, m=mask, lab=labels, **kw: uf1_difference(
            y_true[m], pa, pb, lab, **kw), people[mask], n_seeds, (a, b),
            (pooled_uf1(preds[a], labels, mask), pooled_uf1(preds[b], labels, mask)), command,
            {"kind": "uf1", "a": a, "b": b, "labels": list(labels), "samples": samples}, note=ALPHA_NOTE))
    return rows


def per_seed(units: dict, recognition: dict | None, seeds: list) -> dict:
    """Each seed's figures (the spread behind the pooled effects): spotting F1 per decoder and arm, the
    yardsticks' F1, MERba UF1 on test A + B per variant and its training (epochs run, best epoch, validation UF1),
    and the single head's off-diagonal mass among the four negatives (share of negative samples predicted as
    another negative)."""
    counts = {name: np.asarray(c) for name, c in units["counts"].items()}
    out = {"seeds": seeds, "baseline_f1": round(float(micro_f1(counts["baseline"])), 4),
           "reference_f1": round(float(micro_f1(counts["reference"])), 4)}
    for name in ("shared_siss", "shared_fixed_best", "shared_fixed_matched", "separate_siss"):
        if name in counts:
            out[f"{name}_f1"] = [round(float(f), 4) for f in micro_f1(counts[name])]
    if recognition is not None:
        y_true = np.asarray(recognition["y_true"])
        for variant, runs in recognition["predictions"].items():
            out[f"merba_{variant}_uf1"] = [round(float(f1_score(y_true, p, labels=SEVEN_CLASSES, average="macro",
                                                                 zero_division=0)), 4) for p in runs]
        for variant, runs in recognition["training"].items():
            out[f"merba_{variant}_training"] = runs
        neg = np.isin(y_true, NEGATIVES)
        out["merba_single_negatives_off_diagonal"] = [
            round(float(np.mean(np.isin(np.asarray(p)[neg], NEGATIVES) & (np.asarray(p)[neg] != y_true[neg]))), 4)
            for p in recognition["predictions"]["single"]]
    return out


# ---- data ---------------------------------------------------------------------------------------------------

def spotting_data(args):
    if args.quick or args.shipped or args.preset == "shipped":
        roi = load_roi_corpus()
        return roi.series, roi.events, roi.videos, "shipped lab ROI series (data/roi_series_lab.npz)"
    from melab.data.synthetic import make_corpus

    extra = {"difficulty": args.difficulty} if args.difficulty else {}
    corpus = make_corpus(args.preset, args.corpus_seed, progress=False, **extra)
    roi = roi_corpus(corpus, progress=False)
    return roi.series, roi.events, roi.videos, str(corpus)


def recognition_data(args):
    """Flow images, labels, the train / validation / test masks, true names and subjects, and their source.

    Validation subjects (MERba's early stopping) come out of the training subjects by a fixed rule
    (:func:`melab.train.validation_subjects`): the first ``VALIDATION_SHARE`` of them, at least one."""
    if args.quick:
        flows, samples = clip_samples(range(6), per_class=1, seed=0, size=MERbaConfig.tiny().img_size)
        source = "6 fresh faces x 7 emotions (melab.recognition.clip_samples)"
        split = dfme_split(samples["subject"].astype(str), seed=0)
    else:
        from melab.data.synthetic import make_corpus, read_split

        corpus = make_corpus("clips", args.corpus_seed, progress=False)
        flows, samples = merba_corpus(corpus, size=MERbaConfig.tiny().img_size, progress=False)
        split, source = DfmeSplit(**read_split(corpus)), f"{corpus} (its fixed split.csv)"
    subjects = samples["subject"].astype(str)
    parts = split.masks(subjects)
    held = validation_subjects(split.train, max(1, round(VALIDATION_SHARE * len(split.train))))
    validation = subjects.isin(held).to_numpy()
    masks = {"train": parts["train"] & ~validation, "validation": validation, "test": parts["test_a"] | parts["test_b"]}
    names = np.array([SEVEN_CLASSES[i] for i in samples["label"]])
    return flows, samples["label"].to_numpy(), masks, names, subjects.to_numpy(), source, held


# ---- main ---------------------------------------------------------------------------------------------------

def truth_tables(events: pd.DataFrame, videos: list[str]):
    micro = events[(events["kind"] == "micro") & events["video"].isin(videos)]
    micro = micro.assign(emotion=[to_str3(e, dataset="synthetic") for e in micro["emotion"]]).reset_index(drop=True)
    truth = {v: [tuple(iv) for iv in g[["onset", "offset"]].to_numpy()] for v, g in micro.groupby("video")}
    return micro, truth


def fold_k(events: pd.DataFrame, fold_of: dict[str, str]) -> dict[str, int]:
    """Video -> the decoders' half window of its fold: half the median length of the MEs of every *other* fold
    (the training folds), so the MEs a fold is judged on never set it."""
    micro = events[events["kind"] == "micro"]
    micro = micro[micro["video"].isin(list(fold_of))]
    fold = micro["video"].map(fold_of)
    length = micro["offset"] - micro["onset"] + 1
    k = {f: max(1, int(np.median(length[fold != f])) // 2) for f in set(fold_of.values())}
    return {v: k[f] for v, f in fold_of.items()}


def write(rows: list[dict], report: dict, stem: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text(RESULTS / f"{stem}.json", json.dumps({**report, "rows": rows}, indent=1) + "\n")
    cols = ["claim", "metric", "paper_value", "effect", "ci_low", "ci_high", "cluster_ci_low", "cluster_ci_high",
            "n_seeds", "n_units", "n_subjects", "verdict", "cluster_verdict"]
    table = pd.DataFrame(rows)
    lines = [f"# Claims as paired effects ({report['mode']})", "",
             f"Command: `{report['command']}`  ", f"Wall time: {report['wall_s']:.0f} s  ",
             f"Spotting data: {report['spotting_data']}  ", f"Recognition data: {report.get('recognition_data', '-')}",
             "", "Effect = B − A (arms in claims.json), 95% paired bootstrap CI over videos (spotting) or samples "
             "(recognition), seeds pooled inside each unit; the cluster CI resamples whole subjects. "
             f"{ALPHA_NOTE}.", "",
             "| " + " | ".join(cols + ["A", "B"]) + " |", "|" + "---|" * (len(cols) + 2)]
    for r in table.to_dict("records"):
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + f" | {r['arm_a']} {r['value_a']} | "
                     f"{r['arm_b']} {r['value_b']} |")
    write_text(RESULTS / f"{stem}.md", "\n".join(lines) + "\n")


def train_all(args, seeds: list[int], folds: list[str], videos: pd.DataFrame, series: dict, events: pd.DataFrame,
              epochs: int | None, merba_train: MERbaTrainConfig, cache: Path) -> tuple[dict, dict, str]:
    """Every training job of the run, two worker processes by default: a job per (arm, seed, fold) and per
    (MERba variant, seed), the longest first, with a bar over jobs.

    Returns job key -> result, the recognition test units (true names, subjects, validation subjects), and where
    the recognition data came from.
    """
    with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn"), initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        jobs = {}
        flows, labels, masks, names, subjects, source, held = recognition_data(args)
        for variant, seed in product(VARIANTS, seeds):
            jobs[pool.submit(merba_job, variant, seed, flows, labels, masks, merba_train, cache)] = \
                ("merba", variant, seed)
        for shared, seed, fold in product((False, True), seeds, folds):
            job = pool.submit(spotter_job, shared, seed, fold, series, events, videos, epochs, cache)
            jobs[job] = ("spotter", shared, seed, fold)
        results = {jobs[job]: job.result() for job in tqdm(as_completed(jobs), total=len(jobs), desc="claims jobs")}
    test = masks["test"]
    return results, {"y_true": names[test].tolist(), "subject": subjects[test].tolist(),
                     "validation_subjects": held}, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized smoke run (see the module docstring)")
    parser.add_argument("--shipped", action="store_true",
                        help="claims 1 and 5 (and the reference learner) on the shipped lab LOSO scores only")
    parser.add_argument("--preset", default="bench", help="synthetic corpus preset (default bench)")
    parser.add_argument("--difficulty", default=None,
                        help="passed to make_corpus(difficulty=...), e.g. realistic or easy (default: its default)")
    parser.add_argument("--corpus-seed", type=int, default=0, help="corpus seed, fixed for every run (default 0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds (default 0-4; quick 0 1)")
    parser.add_argument("--subjects-per-fold", type=int, default=None,
                        help="subjects held out together per fold (default 2; quick 1; 1 is strict LOSO)")
    parser.add_argument("--folds", default=None, help="folds run: all or the first N (default all; quick 3)")
    parser.add_argument("--epochs", type=int, default=None, help="spotter epochs (default: SpotterTrainConfig's)")
    parser.add_argument("--merba-epochs", type=int, default=None,
                        help="MERba's most epochs (default: MERbaTrainConfig.converge's, with early stopping; quick 2)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes for training (default 2)")
    parser.add_argument("--fresh", action="store_true",
                        help="discard this run's finished jobs in the cache and train everything again")
    parser.add_argument("--out", default=None, help="result file stem under benchmarks/results")
    args = parser.parse_args()
    t0 = time.perf_counter()
    command = " ".join(["python benchmarks/claims.py", *sys.argv[1:]])
    mode = "quick" if args.quick else "shipped" if args.shipped else "full"
    stem = args.out or {"quick": "claims_quick", "shipped": "claims_shipped_lab", "full": "claims"}[mode]
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2, 3, 4])
    per_fold = args.subjects_per_fold or (1 if args.quick else 2)
    epochs = args.epochs or (1 if args.quick else None)
    merba_train = MERbaTrainConfig(epochs=args.merba_epochs or 2) if args.quick else \
        MERbaTrainConfig.converge(**({"epochs": args.merba_epochs} if args.merba_epochs else {}))
    grid = grids(args.quick)
    series, events, videos, spot_source = spotting_data(args)
    videos = videos.assign(subject=videos["subject"].astype(str))
    report = {"mode": mode, "command": command, "spotting_data": spot_source, "seeds": seeds,
              "spotter_epochs": epochs or SpotterTrainConfig().epochs, "merba_train": merba_train.to_dict(),
              "difficulty": args.difficulty, "corpus_seed": args.corpus_seed,
              "grid_sizes": {k: len(v) for k, v in grid.items()}, "machine_cpus": os.cpu_count(),
              "alpha_schedule": ALPHA_NOTE}

    recognition = None
    if args.shipped:
        loso_scores, _ = load_scores(ARTEFACTS / "spotter_lab_loso.npz")
        shared_scores = [{v: (s.spot, s.probs) for v, s in loso_scores.items()}]
        separate_scores, fold_of, n_seeds = None, {s: s for s in videos["subject"]}, 1
        report["folds"] = "the shipped LOSO (one subject per fold)"
    else:
        fold_of = fold_groups(videos, per_fold)
        folds = list(dict.fromkeys(fold_of.values()))
        n_folds = args.folds or ("3" if args.quick else "all")
        if n_folds != "all":
            if not n_folds.isdigit() or not 1 <= int(n_folds) <= len(folds):
                raise ValueError(f"--folds {n_folds}: pass all or 1..{len(folds)}")
            folds = folds[:int(n_folds)]
        settings = {"spotting_data": spot_source, "seeds": seeds, "subjects_per_fold": per_fold, "folds": folds,
                    "spotter_epochs": report["spotter_epochs"], "merba_train": report["merba_train"],
                    "spotter_train": SpotterTrainConfig().to_dict(), "spotter_config": SpotterConfig.tiny().to_dict(),
                    "quick": args.quick}
        cache = job_cache(mode, settings, fresh=args.fresh)
        report |= {"subjects_per_fold": per_fold, "folds": folds, "job_cache": str(cache)}
        results, recognition, report["recognition_data"] = train_all(
            args, seeds, folds, videos.assign(subject=videos["subject"].map(fold_of)), series, events, epochs,
            merba_train, cache)
        report["job_seconds"] = {" ".join(map(str, key)): round(r["seconds"], 1) for key, r in results.items()}
        report["jobs_resumed"] = sum(r["resumed_from"] > 0 for r in results.values())
        scores = {arm: [{v: s for key, r in results.items() if key[:3] == ("spotter", arm, seed)
                         for v, s in r["scores"].items()} for seed in seeds] for arm in (True, False)}
        shared_scores, separate_scores, n_seeds = scores[True], scores[False], len(seeds)
        recognition["predictions"] = {variant: [results[("merba", variant, s)]["y_pred"] for s in seeds]
                                      for variant in VARIANTS}
        recognition["training"] = {variant: [{key: results[("merba", variant, s)][key] for key in
                                              ("epochs_run", "best_epoch", "val_uf1")} for s in seeds]
                                   for variant in VARIANTS}

    held = sorted(shared_scores[0])
    person_of = dict(zip(videos["video"], videos["subject"], strict=True))
    subject_of = {v: fold_of[person_of[v]] for v in held}  # settings for a fold are chosen on the other folds' videos
    micro, truth = truth_tables(events, held)
    k = fold_k(events, subject_of)
    shared = spotting_arm(shared_scores, k, truth, micro, subject_of, grid)
    separate = spotting_arm(separate_scores, k, truth, micro, subject_of, grid) if separate_scores else None
    baseline = nested_select(lambda v, **p: feature_difference_spot(series[v], half_width=k[v], **p),
                             grid["baseline"], truth, subject_of)
    reference_scores = cross_val_scores(series, events, subject_of)
    reference = nested_select(decode_siss(reference_scores, k), grid["siss"], truth, subject_of)
    has_me = np.array([v in truth for v in shared["videos"]])
    units = {"spotting": spotting_units(shared, separate, baseline.counts, reference.counts, person_of, subject_of, k,
                                        has_me)}
    rows = spotting_rows(units["spotting"], n_seeds, command)
    if recognition is not None:
        units["recognition"] = {key: recognition[key] for key in ("y_true", "subject", "predictions")}
        rows += recognition_rows(units["recognition"], n_seeds, command)
    report["per_seed"] = per_seed(units["spotting"], recognition, seeds if not args.shipped else [None])
    report |= {"held_out_videos": len(held), "wall_s": round(time.perf_counter() - t0, 1),
               "k_decode_by_fold": {f: k[v] for v, f in subject_of.items()},
               "baseline_choices": baseline.params, "reference_choices": reference.params,
               "decoder_choices": shared["choices"],
               "validation_subjects": recognition["validation_subjects"] if recognition else None,
               "units": units}
    write(rows, report, stem)
    print(pd.DataFrame(rows)[["claim", "metric", "effect", "ci_low", "ci_high", "cluster_ci_low", "cluster_ci_high",
                              "verdict", "value_a", "value_b"]].to_string(index=False))


if __name__ == "__main__":
    main()
