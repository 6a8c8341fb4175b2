"""MERba's two evaluation protocols on licensed data: DFME-public and the 3DB composite.

MERba's paper evaluates on

- **DFME-public** (7 classes): one model trained on the fixed training set, tested on test set A and
  on test set B; UF1, UAR and ACC (:func:`train_dfme`);
- **3DB-Combined** (SMIC-HS + CASME II + SAMM, 3 classes, MEGC 2019): leave-one-subject-out over the
  68 subjects; UF1 and UAR over all held-out predictions together (:func:`loso_composite`).

:func:`load_real_data` turns a ``--data`` spec into what :func:`melab.train.merba_corpus` gives for a
synthetic corpus (flow images, one row per sample with ``subject`` and ``label``), and
:func:`run_real_merba` is what ``melab train merba --data dfme:PATH`` or ``--data composite:...`` runs.

The composite's three classes are trained on MERba's single head: its first three outputs stand for
negative, positive and surprise (:data:`melab.data.splits.STR3_CLASSES`), and a prediction is the
largest of those three. The other four outputs see no sample (balanced class weights give them weight 0)
and are never read.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from melab.atomic import atomic_path
from melab.clips import APEX_MODES, LANDMARK_MODES, clip_flows
from melab.data.splits import (
    COMPOSITE_DATASETS,
    DFME_PUBLIC_COUNTS,
    SEVEN_CLASSES,
    STR3_CLASSES,
    composite_3db,
    composite_counts,
    dfme_counts,
    dfme_public_split,
)
from melab.metrics import recognition_scores
from melab.models.merba import MERba, MERbaConfig
from melab.train.artefacts import prepare_run
from melab.train.loop import save_model
from melab.train.recognition import MERbaTrainConfig, loso_merba, predict_merba, split_merba, train_merba

__all__ = ["REAL_KINDS", "RealData", "parse_spec", "load_real_data", "train_dfme",
           "loso_composite", "composite_scores", "run_real_merba"]

REAL_KINDS = ("dfme", "composite")
# The paper: 200 epochs on DFME-public, 70 per LOSO fold on 3DB-Combined.
PAPER_EPOCHS = {"dfme": 200, "composite": 70}
_KEYS = {"dfme": ("path", "labels", "frames", "landmarks"),
         "composite": ("casme2", "samm", "smic", "landmarks",
                       *(f"{d}_{key}" for d in COMPOSITE_DATASETS for key in ("apex", "labels", "frames")))}


@dataclass(frozen=True)
class RealData:
    """Flow images and samples of a real benchmark.

    Attributes
    ----------
    kind : ``"dfme"`` or ``"composite"``.
    flows : ``(N, 3, S, S)`` float32 onset-apex flow images.
    samples : N rows with ``subject``, ``label`` (index into ``classes``), ``emotion``, ``apex`` (the one
        used), and ``set`` (DFME) or ``dataset`` (composite).
    classes : the class names, SEVEN_CLASSES (DFME) or STR3_CLASSES (composite).
    counts : samples per class as counted beside the published numbers
        (:func:`~melab.data.splits.dfme_counts` / :func:`~melab.data.splits.composite_counts`).
    """

    kind: str
    flows: np.ndarray
    samples: pd.DataFrame
    classes: tuple[str, ...]
    counts: pd.DataFrame


def parse_spec(data: str) -> tuple[str, dict[str, str]]:
    """``--data`` of a real benchmark -> (kind, options).

    ``dfme:PATH[,labels=FILE][,frames=DIR][,landmarks=center]`` (``path=PATH`` works too);
    ``composite:casme2=PATH,samm=PATH,smic=PATH[,landmarks=center][,smic_apex=label]`` and, per dataset,
    ``casme2_labels=FILE``, ``casme2_frames=DIR`` (likewise ``samm_``, ``smic_``; ``smic_labels=folders`` reads
    the SMIC-HS class folders). Any of the three datasets may be left out. A sample's apex is its label's, or
    is detected from optical flow where the label has none (SMIC); ``<dataset>_apex=label|detect`` sets it for
    a whole dataset.
    """
    kind, _, arg = data.partition(":")
    if kind not in REAL_KINDS:
        raise ValueError(f"{data!r} is not a real benchmark spec; use dfme:PATH or "
                         "composite:casme2=PATH,samm=PATH,smic=PATH")
    options: dict[str, str] = {}
    for position, part in enumerate(p for p in arg.split(",") if p):
        key, eq, value = part.partition("=")
        if not eq and kind == "dfme" and position == 0:
            key, value = "path", part
        elif not eq or key not in _KEYS[kind]:
            allowed = ", ".join(f"{k}=..." for k in _KEYS[kind])
            raise ValueError(f"--data {data!r}: {part!r} is not one of {allowed}"
                             + (" (or the DFME folder first: dfme:PATH,...)" if kind == "dfme" else ""))
        if key in options:
            raise ValueError(f"--data {data!r}: {key} is given twice")
        options[key] = value
    if kind == "dfme" and not options.get("path"):
        raise ValueError(f"--data {data!r}: give the DFME folder, dfme:PATH")
    if kind == "composite" and not any(options.get(d) for d in COMPOSITE_DATASETS):
        raise ValueError(f"--data {data!r}: give at least one of casme2=PATH, samm=PATH, smic=PATH")
    for d in COMPOSITE_DATASETS:
        if kind == "composite" and not options.get(d) and any(options.get(f"{d}_{k}") for k in ("labels", "frames")):
            raise ValueError(f"--data {data!r}: {d}_labels / {d}_frames need {d}=PATH")
    if options.get("landmarks", "mediapipe") not in LANDMARK_MODES:
        raise ValueError(f"--data {data!r}: landmarks must be one of {', '.join(LANDMARK_MODES)}")
    for key in ("casme2_apex", "samm_apex", "smic_apex"):
        if options.get(key, "label") not in APEX_MODES:
            raise ValueError(f"--data {data!r}: {key} must be one of {', '.join(APEX_MODES)}")
    return kind, options


def load_real_data(data: str, *, size: int = 96, cache_dir: str | os.PathLike | None = None,
                   progress: bool = True, drop_malformed: bool = False) -> RealData:
    """Read a real benchmark and compute (or load from the cache) its onset-apex flow images.

    Parameters
    ----------
    data : a spec of :func:`parse_spec`.
    size : side S of the flow images (``MERbaConfig.img_size``).
    cache_dir : cache of :func:`melab.clips.clip_flows`; default ``<first dataset root>/melab_cache/merba``.
    progress : progress bars.
    drop_malformed : leave malformed label rows out (``--drop-malformed``) instead of stopping at the first.

    Returns
    -------
    RealData. Samples whose apex is not labelled (SMIC; a row whose apex lay outside its interval) get it from
    :func:`melab.clips.detect_apex`, unless the spec says ``<dataset>_apex=label``. DFME clips listed without
    labels (the test sets as handed out) come last, with ``label`` -1, ``emotion`` "", onset and offset their
    first and last image and a detected apex: they are predicted, not scored.
    """
    from melab.data.dataset import Dataset

    kind, options = parse_spec(data)
    landmarks = options.get("landmarks", "mediapipe")
    if kind == "composite":
        roots = {d: options[d] for d in COMPOSITE_DATASETS if options.get(d)}
        samples = composite_3db(**roots, drop_malformed=drop_malformed,
                                labels={d: options[f"{d}_labels"] for d in roots if options.get(f"{d}_labels")},
                                frames={d: options[f"{d}_frames"] for d in roots if options.get(f"{d}_frames")})
        samples["apex_mode"] = [options.get(f"{d}_apex") or ("label" if known else "detect")
                                for d, known in zip(samples["dataset"], samples["apex_labelled"], strict=True)]
        classes, counts = STR3_CLASSES, composite_counts(samples)
        first_root = Path(next(iter(roots.values())))
    else:
        dataset = Dataset(options["path"], kind="dfme", labels=options.get("labels"), frames=options.get("frames"),
                          drop_malformed=drop_malformed)
        rows = []
        for item in dataset:
            for ev in item.events.itertuples(index=False):
                rows.append(dict(subject=str(item.subject), video=str(item.video), onset=int(ev.onset),
                                 apex=int(ev.apex), offset=int(ev.offset), emotion=ev.emotion, set=ev.set,
                                 fps=float(item.fps), n_frames=int(item.n_frames), path=str(item.path),
                                 apex_mode="label" if ev.apex_labelled else "detect"))
        for clip in dataset.unlabelled.itertuples(index=False):
            last = int(clip.n_frames) - 1
            rows.append(dict(subject=str(clip.subject), video=str(clip.video), onset=0, apex=last // 2, offset=last,
                             emotion="", set=clip.set, fps=float(clip.fps), n_frames=int(clip.n_frames),
                             path=str(clip.path), apex_mode="detect"))
        samples = pd.DataFrame(rows)
        if samples.empty:
            raise ValueError(f"no DFME sample with frames on disk under {options['path']}; run "
                             f"`melab data check --kind dfme {options['path']}`")
        classes, counts = SEVEN_CLASSES, dfme_counts(samples[samples["emotion"] != ""])
        first_root = Path(options["path"])
    cache = Path(cache_dir) if cache_dir is not None else first_root / "melab_cache" / "merba"
    flows, samples = clip_flows(samples, cache_dir=cache, size=size, landmarks=landmarks, progress=progress)
    names = samples["label"] if kind == "composite" else samples["emotion"]
    samples["label"] = [classes.index(n) if n else -1 for n in names]
    samples["class_name"] = list(names)
    return RealData(kind, flows, samples, tuple(classes), counts)


def _scores_row(y_true, y_pred, classes) -> dict:
    s = recognition_scores(list(y_true), list(y_pred), classes)
    return {"uf1": s.uf1, "uar": s.uar, "acc": s.acc, "n": s.n}


def train_dfme(real: RealData, *, config: MERbaConfig | None = None, train=None,
               checkpoint: str | os.PathLike | None = None, resume: bool = False,
               progress: bool = True, device: str = "cpu") -> tuple[MERba, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """DFME-public's protocol: train on the training set, predict test sets A and B.

    Parameters
    ----------
    real : :func:`load_real_data` of a ``dfme:`` spec.
    config, train : MERba sizes (``MERbaConfig.tiny()``) and training settings
        (:class:`melab.train.MERbaTrainConfig`).
    checkpoint, resume, progress : see :func:`melab.train.fit`.
    device : where to train and predict (:func:`melab.train.train_merba`).

    Returns
    -------
    model, history, predictions (the test samples with ``part``, ``pred``, ``true``, ``predicted``), and scores
    (index ``test_a``, ``test_b``, ``test_ab``; columns ``uf1, uar, acc, n``): :func:`melab.train.split_merba`.
    Unlabelled samples (``label`` -1: a test set handed out without labels) are predicted after training
    (``part`` their set, ``true`` "") and scored nowhere; with no labelled test sample, ``scores`` is empty.
    """
    labelled = real.samples["label"].to_numpy() >= 0
    known = real.samples[labelled].reset_index(drop=True)
    split = dfme_public_split(known)
    options = dict(config=config, train=train, checkpoint=checkpoint, resume=resume, progress=progress,
                   desc="DFME train", device=device)
    if len(split.test_a) or len(split.test_b):
        model, history, predictions, scores = split_merba(real.flows[labelled], known, split, classes=real.classes,
                                                          **options)
    else:
        train_mask = split.masks(known["subject"])["train"]
        model, history = train_merba(real.flows[labelled][train_mask], known["label"].to_numpy()[train_mask],
                                     **options)
        predictions = known.iloc[:0].assign(part=pd.Series(dtype=str), pred=pd.Series(dtype="int64"),
                                            true=pd.Series(dtype=str), predicted=pd.Series(dtype=str))
        scores = pd.DataFrame(columns=["uf1", "uar", "acc", "n"]).rename_axis("set")
    if not labelled.all():
        unknown = real.samples[~labelled].reset_index(drop=True)
        pred = predict_merba(model, real.flows[~labelled], n_classes=len(real.classes), device=device)
        guessed = unknown.assign(part=unknown["set"].replace("", "unlabelled"), pred=pred, true="",
                                 predicted=[real.classes[i] for i in pred])
        predictions = pd.concat([predictions, guessed], ignore_index=True)
    return model, history, predictions, scores


def loso_composite(real: RealData, *, folds: str | int = "all", config: MERbaConfig | None = None, train=None,
                   checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
                   progress: bool = True, executor="local", device: str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame]:
    """3DB-Combined's protocol: a fresh single-head MERba per held-out subject (LOSO).

    Parameters
    ----------
    real : :func:`load_real_data` of a ``composite:`` spec.
    folds : ``"all"`` subjects (68 on the full composite), or the first N (sorted).
    config : MERba sizes; the head is set to ``"single"`` (three classes have no DGCM fine level).
    train, checkpoint_dir, resume, progress, executor, device : as in :func:`melab.train.loso_merba`, whose
        LOSO driver (local or Ray) runs the folds.

    Returns
    -------
    predictions : every held-out sample with ``pred``, ``true``, ``predicted`` (class names).
    history : training history of every fold, with ``subject``.
    """
    config = MERbaConfig(**{**(config or MERbaConfig.tiny()).to_dict(), "head": "single"})
    return loso_merba(real.flows, real.samples, folds=folds, config=config, train=train,
                      checkpoint_dir=checkpoint_dir, resume=resume, progress=progress, executor=executor,
                      classes=real.classes, device=device)


def composite_scores(predictions: pd.DataFrame) -> pd.DataFrame:
    """UF1 and UAR (MEGC 2019: over all held-out predictions together), overall and per source dataset.

    Returns
    -------
    DataFrame indexed ``all``, then each dataset present; columns ``uf1, uar, acc, n``.
    """
    rows = {"all": _scores_row(predictions["true"], predictions["predicted"], STR3_CLASSES)}
    for name in COMPOSITE_DATASETS:
        part = predictions[predictions["dataset"] == name]
        if len(part):
            rows[name] = _scores_row(part["true"], part["predicted"], STR3_CLASSES)
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("dataset")


def _write_csv(table: pd.DataFrame, path: Path, index: bool = False) -> str:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=index)
    return str(path)


def run_real_merba(data: str, *, folds: str | int = "all", epochs: int | None = None,
                   out: str | os.PathLike = "runs/train", resume: bool = False, preset: str = "tiny",
                   progress: bool = True, executor: str = "local", address: str | None = None,
                   cpus_per_fold: int = 1, gpus_per_fold: float = 0, max_retries: int = 3,
                   init: str | os.PathLike | None = None, device: str = "cpu", drop_malformed: bool = False) -> dict:
    """What ``melab train merba --data dfme:...|composite:...`` runs: the paper's protocol, outputs in ``out``.

    Writes ``counts.csv`` (samples per class beside the published counts), ``predictions.csv``,
    ``scores.csv`` (DFME: test A and B, UF1/UAR/ACC; composite: all and per dataset, UF1/UAR),
    ``history.csv``, and ``model.pt`` (DFME) or ``fold_<subject>.pt`` checkpoints (composite).

    Parameters
    ----------
    data : spec of :func:`parse_spec`.
    folds : composite only: ``"all"`` or the first N subjects; DFME has one fixed split.
    epochs : overrides the preset's epochs.
    out, resume, progress : as in :func:`melab.train.run`.
    executor, address, cpus_per_fold, gpus_per_fold, max_retries : composite only: where the LOSO folds run
        (:func:`melab.train.loso.make_executor`), as in :func:`melab.train.run`.
    init : refused: MERba has no published weights to start from (the command line passes ``--init`` on).
    device : where models train and predict (:func:`melab.train.run`).
    preset : ``"tiny"`` (CPU) or ``"paper"`` (the paper's sizes and schedule: 200 epochs on DFME, 70 per
        fold on the composite).
    drop_malformed : leave malformed label rows out (``--drop-malformed``), as :func:`load_real_data`.

    The options are checked, and the executor and device set up, by :func:`melab.train.artefacts.prepare_run`,
    as for :func:`melab.train.run`.

    Returns
    -------
    dict : paths written, the scores, and the wall time in seconds.
    """
    kind, _ = parse_spec(data)
    if kind == "dfme" and folds != "all":
        raise ValueError("DFME-public has one fixed split (train -> test A, test B); --folds does not apply")
    executor, device = prepare_run("merba", data, folds=folds, epochs=epochs, preset=preset, init=init,
                                   executor=executor, address=address, cpus_per_fold=cpus_per_fold,
                                   gpus_per_fold=gpus_per_fold, max_retries=max_retries, device=device)
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = getattr(MERbaConfig, preset)()
    train = MERbaTrainConfig.paper(epochs=PAPER_EPOCHS[kind]) if preset == "paper" else MERbaTrainConfig()
    train = MERbaTrainConfig(**{**asdict(train), **({"epochs": epochs} if epochs else {})})
    real = load_real_data(data, size=config.img_size, progress=progress, drop_malformed=drop_malformed)
    written = {"counts": _write_csv(real.counts, out / "counts.csv", index=True)}
    if kind == "dfme":
        model, history, predictions, scores = train_dfme(real, config=config, train=train,
                                                         checkpoint=out / "checkpoint.pt", resume=resume,
                                                         progress=progress, device=device)
        written["model"] = str(save_model(out / "model.pt", model, train=train.to_dict()))
        figures = {f"{part}_{m}": round(float(scores.loc[part, m]), 4)
                   for part in scores.index for m in ("uf1", "uar", "acc")}
        written["published_counts"] = _write_csv(DFME_PUBLIC_COUNTS, out / "published_counts.csv", index=True)
    else:
        predictions, history = loso_composite(real, folds=folds, config=config, train=train, checkpoint_dir=out,
                                              resume=resume, progress=progress, executor=executor,
                                              device=device)
        scores = composite_scores(predictions)
        figures = {f"{name}_{m}": round(float(scores.loc[name, m]), 4) for name in scores.index
                   for m in ("uf1", "uar")}
    written["predictions"] = _write_csv(predictions, out / "predictions.csv")
    written["scores"] = _write_csv(scores, out / "scores.csv", index=True)
    written["history"] = _write_csv(history, out / "history.csv")
    known = real.samples[real.samples["label"] >= 0]
    unlabelled = {"unlabelled_predicted": int((real.samples["label"] < 0).sum())} if len(known) < len(real.samples) \
        else {}
    return {**written, "samples": len(known), "subjects": int(known["subject"].nunique()), **unlabelled,
            **figures, "seconds": round(time.perf_counter() - t0, 1)}
