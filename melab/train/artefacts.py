"""What the command line and ``make artefacts`` run: ``melab train`` (:func:`run`) and the shipped artefacts.

- :func:`resolve_data` turns a ``--data`` spec into a dataset kind, a folder and its options.
- :func:`run` is ``melab train spotter|merba``: LOSO (on this machine or a Ray cluster) or one model on
  all data, with its checkpoints, history and scores in one output folder; :func:`prepare_run` checks its
  options first (``--init`` included, before the corpus step), and :func:`check_run_paths` that the output
  folder touches no input. ``run.json`` in the output folder records what the run trained on (a content
  digest of its data, of ``--init`` and its settings); ``--resume`` refuses checkpoints of another run,
  naming the difference. MERba's protocols on licensed data (``--data dfme:...|composite:...``) are
  :func:`melab.reproduce.run_real_merba`, which sits above this package and runs through the same check.
- :func:`build_artefacts` trains and writes the checkpoints, ROI series and LOSO scores in ``data/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from melab.atomic import LOCK_NAME, Output, atomic_path, check_paths, write_text
from melab.data.splits import DfmeSplit
from melab.device import resolve_device
from melab.features import dataset_roi_corpus, merba_corpus, roi_corpus, save_roi_corpus
from melab.flow import default_k
from melab.inference import MODELS, SpotScores
from melab.models.merba import MERbaConfig
from melab.models.spotter import OFFICIAL_FAMILIES, SpotterConfig, init_config, official_family, read_state_dict
from melab.train.loop import save_model
from melab.train.loso import Executor, fold_device, make_executor
from melab.train.recognition import VALIDATION_SHARE, MERbaTrainConfig, loso_merba, split_merba, train_merba
from melab.train.spotting import SpotterTrainConfig, loso, save_scores, split_validation, train_spotter


class DataSpec(NamedTuple):
    """A ``--data`` spec, parsed: the dataset kind, its root, and the licensed-data options."""

    kind: str
    root: Path
    labels: str | None = None
    frames: str | None = None


def resolve_data(data: str, *, progress: bool = True) -> DataSpec:
    """``--data`` spec -> :class:`DataSpec`: ``synthetic:<preset>`` (made if needed), ``corpus:<dir>`` (a folder
    in the synthetic layout) or ``<kind>:<path>[,labels=FILE][,frames=DIR]`` for a licensed dataset (casme3,
    samm_lv, casme2, samm, smic, dfme; ``labels`` and ``frames`` as :class:`melab.data.dataset.Dataset`'s)."""
    from melab.data.dataset import KINDS

    kind, _, arg = data.partition(":")
    path, *rest = arg.split(",") if arg else [""]
    options: dict[str, str] = {}
    for part in rest:
        key, eq, value = part.partition("=")
        if kind not in KINDS[1:] or not eq or key not in ("labels", "frames") or not value:
            where = "a licensed dataset's spec takes labels=FILE and frames=DIR" if kind in KINDS[1:] else \
                f"{kind}: takes no options"
            raise ValueError(f"--data {data!r}: {part!r} is not an option here; {where} (e.g. --data "
                             "casme2:PATH,labels=CASME2_label_Ver_2.xls,frames=PATH/Cropped)")
        if key in options:
            raise ValueError(f"--data {data!r}: {key} is given twice")
        options[key] = value
    if kind == "synthetic" and not rest:
        from melab.data.synthetic import make_corpus

        return DataSpec("synthetic", make_corpus(path or "lab", progress=progress))
    if kind == "corpus" and path and not rest:
        return DataSpec("synthetic", Path(path))
    if kind in KINDS[1:] and path:
        return DataSpec(kind, Path(path), **options)
    raise ValueError(f"unknown --data {data!r}: use synthetic:tiny|lab|bench|large, corpus:<dir> (the layout "
                     f"make_corpus writes) or <kind>:<path>[,labels=FILE][,frames=DIR] with kind in "
                     f"{', '.join(KINDS[1:])}")


# Every file a run may write or delete in its output folder (melab.reproduce's too): an input among them is refused.
RUN_FILES = ("model.pt", "checkpoint.pt", "history.csv", "scores.npz", "scores.csv", "predictions.csv", "counts.csv",
             "published_counts.csv", "run.json", "fold_*.pt", ".*.tmp-*", ".melab-shared-check-*", LOCK_NAME)


def data_paths(data: str) -> list[Path]:
    """The files and folders a ``--data`` spec reads: the synthetic corpus' folder, or every path it names
    (``kind:PATH``, ``composite:casme2=PATH,...``, ``labels=FILE``), for :func:`check_run_paths`."""
    kind, _, arg = data.partition(":")
    if kind == "synthetic":
        from melab.data.synthetic import corpus_dir

        return [corpus_dir(arg or "lab")]
    values = [part.partition("=")[2] if "=" in part else part for part in arg.split(",")]
    return [Path(value) for value in values if value.strip()]


def check_run_paths(data: str, init: str | os.PathLike | None, out: str | os.PathLike) -> None:
    """Refuse, before any work, a ``melab train`` whose output folder is, or lies inside, its data, or would
    overwrite or delete ``--init`` or a data file (:func:`melab.atomic.check_paths`)."""
    check_paths({"--init": init, "--data": data_paths(data)}, [Output("--out", out, RUN_FILES)])


def prepare_run(model: str, data: str, *, folds: str | int, epochs: int | None, preset: str,
                init: str | os.PathLike | None, executor: str, address: str | None, cpus_per_fold: int,
                gpus_per_fold: float, max_retries: int, device: str) -> tuple[Executor, str]:
    """Check the options of ``melab train`` before any data are built; the executor and device the run uses.

    The arguments are those of :func:`run` (and of :func:`melab.reproduce.run_real_merba`, which runs MERba's
    real-data protocols through the same check). The device is resolved here when this process trains (``folds``
    "none", or DFME's one training set); otherwise each fold resolves its own where it runs
    (:func:`melab.train.loso.fold_device`).

    Returns
    -------
    (executor, device)
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose spotter or merba")
    if preset not in ("tiny", "paper"):
        raise ValueError(f"unknown --config {preset!r}; choose tiny or paper")
    if epochs is not None and epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {epochs}")
    if init is not None and model != "spotter":
        raise ValueError(f"--init {init} is for the spotter; MERba has no published weights to start from")
    if init is not None:  # read and checked now, not after the corpus step
        read_state_dict(init)
        init_config(init, SpotterConfig.tiny())
    if executor == "local" and (address or gpus_per_fold):
        raise ValueError("--address and --gpus-per-fold are options of --executor ray; add --executor ray")
    runner = make_executor(executor, address=address, cpus_per_fold=cpus_per_fold, gpus_per_fold=gpus_per_fold,
                           max_retries=max_retries)
    local = data.partition(":")[0] == "dfme" and model == "merba"  # DFME's one training set trains here
    return runner, str(resolve_device(device)) if folds == "none" or local else fold_device(device, runner)


def run(
    model: str,
    data: str = "synthetic:lab",
    *,
    folds: str | int = "all",
    epochs: int | None = None,
    out: str | os.PathLike = "runs/train",
    resume: bool = False,
    preset: str = "tiny",
    progress: bool = True,
    executor: str = "local",
    address: str | None = None,
    cpus_per_fold: int = 1,
    gpus_per_fold: float = 0,
    max_retries: int = 3,
    init: str | os.PathLike | None = None,
    device: str = "cpu",
    drop_malformed: bool = False,
) -> dict:
    """What ``melab train spotter|merba`` does: LOSO (or one model on all data) with outputs in ``out``.

    Parameters
    ----------
    model : {"spotter", "merba"}
        Which model to train.
    data : str
        ``synthetic:<preset>``, ``corpus:<dir>`` or ``<kind>:<path>`` (see :func:`resolve_data`;
        real datasets: spotter only, landmarks by MediaPipe).
    folds : "all", int or "none"
        LOSO over all subjects, over the first N, or no LOSO: one model trained on every subject. MERba on
        a clips corpus (``synthetic:clips``) with "all" follows its fixed split instead, as DFME's: one model
        trained on the training subjects, scored on test sets A and B (``scores.csv``).
    epochs : int, optional
        Overrides the preset's epochs.
    out : path-like
        Output folder: ``fold_<subject>.pt`` checkpoints (per epoch, resumable), ``history.csv`` and
        ``scores.npz`` (spotter: per-frame LOSO scores) or ``predictions.csv`` (MERba), or ``model.pt``
        with ``folds="none"``.
    resume : bool
        Continue interrupted folds from their checkpoints.
    preset : {"tiny", "paper"}
        Model and training presets (``paper`` needs a GPU-sized budget).
    progress : bool
        Progress bars.
    executor : {"local", "ray"}
        Where LOSO folds run: one after another here, or one Ray task per fold
        (:mod:`melab.train.loso`). The output files are the same, and so are their numbers.
    address : str, optional
        Ray cluster address (default ``RAY_ADDRESS``, else a Ray instance started here). With a
        cluster of several machines, ``out`` must be a folder that every node sees.
    cpus_per_fold : int
        CPUs each Ray fold task declares, and the torch threads of every fold with either executor
        (thread counts change float sums, so keep it equal to compare runs bit for bit).
    gpus_per_fold : float
        GPUs each Ray fold task declares; with ``device`` "auto" or "cuda" every fold trains on the GPU
        Ray assigned it (:func:`melab.train.loso.fold_device`).
    max_retries : int
        Ray re-runs of a fold whose worker died; the fold resumes from its checkpoint.
    init : path-like, optional
        Spotter only: every fold starts from these weights, an official ``METST_SF`` file (which selects
        ``SpotterConfig.reference()``) or a melab checkpoint (its config).
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where models train and predict (:mod:`melab.device`). The command line's ``--device``
        defaults to "auto"; this function, like the rest of the Python API, to "cpu".
    drop_malformed : bool
        Licensed data: leave malformed label rows out (``--drop-malformed``) instead of stopping at the first;
        the result's ``data`` entry says how many and which.

    Returns
    -------
    dict
        Paths written and the wall time in seconds.
    """
    runner, device = prepare_run(model, data, folds=folds, epochs=epochs, preset=preset, init=init,
                                 executor=executor, address=address, cpus_per_fold=cpus_per_fold,
                                 gpus_per_fold=gpus_per_fold, max_retries=max_retries, device=device)
    if model == "merba" and data.partition(":")[0] in ("dfme", "composite"):
        raise ValueError(f"--data {data}: MERba's protocols on licensed data run through "
                         "melab.reproduce.run_real_merba (which `melab train merba --data ...` calls), with the "
                         "same options")
    t0 = time.perf_counter()
    out = Path(out)
    check_run_paths(data, init, out)
    init_digest = None if init is None else _digest(Path(init).read_bytes())
    spec = resolve_data(data, progress=progress)
    kind, corpus = spec.kind, spec.root
    if model == "merba" and kind != "synthetic":
        raise ValueError("`melab train merba` reads synthetic corpora, dfme:PATH and composite:casme2=PATH,"
                         "samm=PATH,smic=PATH (melab.reproduce.run_real_merba); for other real data compute "
                         "onset-apex flow with melab.flow.onset_apex_flow(frames, onset, apex, landmarks=...) and "
                         "call melab.train.train_merba or loso_merba")
    dataset = None
    if kind == "synthetic":  # its tables, and --folds against its subjects, before the features are computed
        from melab.data.synthetic import check_corpus

        subjects = check_corpus(corpus, "--data")
    else:  # read (and check) the labels before anything is written
        from melab.data.dataset import Dataset

        dataset = Dataset(corpus, kind=kind, labels=spec.labels, frames=spec.frames, drop_malformed=drop_malformed)
        subjects = dataset.videos
    if folds not in ("all", "none"):
        from melab.train.loso import loso_subjects

        loso_subjects(subjects, folds)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {} if dataset is None else {"data": dataset.summary()}
    record = dict(model=model, data=data, folds=folds, preset=preset, init=None if init is None else str(init),
                  init_digest=init_digest)
    if model == "spotter":
        config = getattr(SpotterConfig, preset)()
        if init is not None:
            config = init_config(init, config)
            family = official_family(read_state_dict(init))
            written["init"] = f"{init}: " + (OFFICIAL_FAMILIES[family] if family else "a melab checkpoint")
        train = SpotterTrainConfig.paper() if preset == "paper" else SpotterTrainConfig()
        train = SpotterTrainConfig(**{**asdict(train), "dataset": kind, **({"epochs": epochs} if epochs else {}),
                                      "init": None if init is None else str(init)})
        roi = roi_corpus(corpus, progress=progress) if dataset is None else dataset_roi_corpus(dataset,
                                                                                                progress=progress)
        record_run(out, {**record, "data_digest": _data_digest(roi.series, roi.events, roi.videos),
                         "train": train.to_dict()}, resume=resume)
        if folds == "none":
            fps = float(roi.videos["fps"].median())
            fit_on, val, _ = split_validation(roi.videos, roi.events, train.validation, kinds=train.kinds)
            net, history = train_spotter({v: roi.series[v] for v in fit_on}, roi.events, fps=fps, config=config,
                                         train=train, checkpoint=out / "checkpoint.pt", resume=resume,
                                         progress=progress, device=device,
                                         validation={v: roi.series[v] for v in val})
            # spot() reads the training rate and window from here (a 200 fps corpus is not 30 fps)
            written["model"] = str(save_model(out / "model.pt", net, train={
                **train.to_dict(), "fps": fps, "k": train.k or default_k(fps)}))
        else:
            result = loso(roi.series, roi.events, roi.videos, folds=folds, config=config, train=train,
                          checkpoint_dir=out, resume=resume, progress=progress, executor=runner, device=device)
            written["scores"] = str(save_scores(out / "scores.npz", result))
            history = result.history
    else:
        config = getattr(MERbaConfig, preset)()
        train = MERbaTrainConfig.paper() if preset == "paper" else MERbaTrainConfig()
        train = MERbaTrainConfig(**{**asdict(train), **({"epochs": epochs} if epochs else {})})
        flows, samples = merba_corpus(corpus, size=config.img_size, progress=progress)
        record_run(out, {**record, "data_digest": _data_digest({"flows": flows}, samples),
                         "train": train.to_dict()}, resume=resume)
        if folds == "all" and (corpus / "split.csv").exists():  # a clips corpus: its fixed DFME-style split
            from melab.data.synthetic import read_split

            model_, history, predictions, scores = split_merba(
                flows, samples, DfmeSplit(**read_split(corpus)), config=config, train=train,
                checkpoint=out / "checkpoint.pt", resume=resume, progress=progress, device=device)
            written["model"] = str(save_model(out / "model.pt", model_, train=train.to_dict()))
            for name, table in (("predictions", predictions), ("scores", scores)):
                with atomic_path(out / f"{name}.csv") as tmp:
                    table.to_csv(tmp, index=name == "scores")
                written[name] = str(out / f"{name}.csv")
        elif folds == "none":
            net, history = train_merba(flows, samples["label"].to_numpy(), config=config, train=train,
                                       checkpoint=out / "checkpoint.pt", resume=resume, progress=progress,
                                       device=device)
            written["model"] = str(save_model(out / "model.pt", net, train=train.to_dict()))
        else:
            predictions, history = loso_merba(flows, samples, folds=folds, config=config, train=train,
                                              checkpoint_dir=out, resume=resume, progress=progress,
                                              executor=runner, device=device)
            with atomic_path(out / "predictions.csv") as tmp:
                predictions.to_csv(tmp, index=False)
            written["predictions"] = str(out / "predictions.csv")
    with atomic_path(out / "history.csv") as tmp:
        history.to_csv(tmp, index=False)
    written["history"] = str(out / "history.csv")
    return {**written, "seconds": round(time.perf_counter() - t0, 1)}


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _data_digest(arrays: Mapping[str, np.ndarray], *tables: pd.DataFrame) -> str:
    """A content digest of a run's training data: every array (by name) and table, byte for byte."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{array.dtype.str}{array.shape};".encode())
        h.update(memoryview(array).cast("B"))
    for table in tables:
        buffer = io.StringIO()
        table.to_csv(buffer, index=False)
        h.update(buffer.getvalue().encode())
    return h.hexdigest()


def record_run(out: Path, record: dict, *, resume: bool) -> None:
    """Write ``out/run.json`` (what this run trains on and how); with ``resume``, first check that the
    checkpoints in ``out`` are of the same run.

    Raises
    ------
    ValueError
        ``resume`` and ``run.json`` records other data (content digest), another ``--init`` or other settings,
        each difference named; or ``out`` holds checkpoints but no ``run.json``, so their origin is unknown.
    """
    path = out / "run.json"
    record = json.loads(json.dumps(record))  # the form it takes on disk (tuples as lists)
    if resume:
        checkpoints = sorted(p.name for p in out.glob("*.pt") if p.name == "checkpoint.pt" or
                             p.name.startswith("fold_"))
        if path.exists():
            try:
                before = json.loads(path.read_text())
            except ValueError as err:
                raise ValueError(f"--resume: {path} is not readable JSON ({err}); rerun without --resume") from None
            parts = []
            for key in ("model", "preset", "data_digest", "init_digest", "train"):  # not --folds: a fold is a fold
                old, new = before.get(key), record.get(key)
                if old == new:
                    continue
                if key == "train":
                    old, new = old or {}, new or {}
                    parts += [f"train.{k}: {old.get(k)!r} then, {new.get(k)!r} now"
                              for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
                elif key == "data_digest":
                    parts.append(f"data: {before.get('data')} then (content {old}), {record['data']} now "
                                 f"(content {new})")
                elif key == "init_digest":
                    parts.append(f"--init: {before.get('init')} then (content {old}), {record['init']} now "
                                 f"(content {new})")
                else:
                    parts.append(f"{key}: {old!r} then, {new!r} now")
            if parts:
                raise ValueError(f"--resume: the checkpoints in {out} were made by another run: {'; '.join(parts)}. "
                                 "Resume with the same --data, --init and settings, or rerun without --resume "
                                 "(or with another --out)")
            return
        if checkpoints:
            raise ValueError(f"--resume: {out} holds {', '.join(checkpoints[:3])} but no run.json, so what data and "
                             "settings they were trained with is unknown; rerun without --resume (or with another "
                             "--out)")
    else:  # a fresh run: checkpoints of an earlier run here must not be resumed later as if they were this one's
        stale = sorted(p for p in out.glob("*.pt") if p.name == "checkpoint.pt" or p.name.startswith("fold_"))
        for checkpoint in stale:
            checkpoint.unlink()
        if stale:
            names = ", ".join(p.name for p in stale[:3]) + (", ..." if len(stale) > 3 else "")
            warnings.warn(f"removed {len(stale)} checkpoint(s) of an earlier run in {out} ({names}): this run starts "
                          "afresh, and a later --resume must not take them for its own", stacklevel=3)
    write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


ARTEFACT_PARTS = ("spotter", "merba")
# SISS settings searched for ``melab spot`` (absolute scores: a confident spotter stays silent on a video
# without MEs; the peak must clear ``high``)
SPOT_GRID = [{"smooth": w, "low": lo, "high": hi} for w in (1, 3, 5, 7, 9, 11) for lo in (0.05, 0.1, 0.2, 0.3)
             for hi in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8) if lo <= hi]


def spot_decoding(scores: Mapping[str, SpotScores], events: pd.DataFrame, videos: pd.DataFrame, fps: float, *,
                  source: str = "LOSO scores") -> dict:
    """``melab spot``'s SISS defaults, chosen by the nested rule on LOSO scores: never in-sample.

    The LOSO scores are held-out scores of every training video of the shipped model. For each subject,
    :func:`melab.tuning.nested_select` picks the :data:`SPOT_GRID` point with the best micro F1 on the *other*
    subjects' videos and decodes this subject's videos with it; the F1 of those held-out decodings is what the
    chosen settings are worth on a new face (``nested_f1``). The setting shipped is the one the folds chose most
    often (ties: the first in grid order), so no single video's score decides it. ``k_decode`` is the one
    ``melab spot`` uses, ``round(fps / 6)``.

    Parameters
    ----------
    scores : video -> LOSO :class:`SpotScores` (``.spot``, (T,) per frame), as in ``LosoResult.scores`` or
        :func:`load_scores`.
    events : the corpus' events (``video, onset, offset, kind``); micro-expressions are the truth.
    videos : ``subject, video`` of the corpus (the folds).
    fps : frame rate of the scores.
    source : where the scores come from, recorded in the output.

    Returns
    -------
    dict : ``settings`` (smooth, low, high, k_decode), the nested F1 and counts, how often each fold chose the
    settings, the grid and the source.
    """
    from melab.decode import siss
    from melab.tuning import nested_select

    k = max(1, round(fps / 6))
    micro = events[events["kind"] == "micro"]
    truth = {v: [tuple(iv) for iv in g[["onset", "offset"]].to_numpy()] for v, g in micro.groupby("video")}
    subject_of = {v: str(s) for v, s in zip(videos["video"], videos["subject"], strict=True) if v in scores}
    sel = nested_select(lambda v, smooth, low, high: siss(scores[v].spot, k, low, high, smooth=smooth,
                                                          scale="absolute"),
                        SPOT_GRID, truth, dict(sorted(subject_of.items())))
    votes = np.bincount(list(sel.choice.values()), minlength=len(SPOT_GRID))
    chosen = int(np.argmax(votes))  # the first of the most chosen
    tp, fp, fn = (int(x) for x in sel.counts.sum(axis=0))
    return {"settings": {**SPOT_GRID[chosen], "k_decode": k}, "nested_f1": round(sel.f1, 4), "tp": tp, "fp": fp,
            "fn": fn, "folds_choosing_it": int(votes[chosen]), "folds": len(sel.subjects), "chosen_on": source,
            "rule": "nested: each subject's videos decoded with the grid point of best micro F1 (IoU >= 0.5) on the "
                    "other subjects' LOSO scores (nested_f1 and counts are those held-out decodings); shipped: the "
                    "point the folds chose most often, ties to the first in grid order",
            "grid": {"smooth": [1, 3, 5, 7, 9, 11], "low": [0.05, 0.1, 0.2, 0.3],
                     "high": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}}


def build_artefacts(out_dir: str | os.PathLike = "data", *, preset: str = "lab",
                    parts: Sequence[str] = ARTEFACT_PARTS, threads: int | None = 1, progress: bool = True) -> dict:
    """Train and write the shipped artefacts (what ``make artefacts`` runs).

    Files (plain state dicts + JSON-able config, loadable with ``weights_only=True``):

    - part ``spotter``: ``roi_series_<preset>.npz``, the corpus' ROI series and tables
      (:func:`load_roi_corpus`), so notebooks need neither the corpus nor the flow extraction;
      ``spotter_<preset>.pt``, a tiny spotter trained on every subject of the corpus but its validation subject
      (:func:`melab.train.spotting.split_validation`; its history holds the per-epoch training and validation
      AUC); and ``spotter_<preset>_loso.npz``, its LOSO per-frame scores (:func:`load_scores`) with the folds'
      histories (:func:`melab.train.spotting.load_history`);
    - part ``merba``: ``merba_single_clips.pt`` and ``merba_dgcm_clips.pt``, tiny MERba with either head
      trained to convergence (:meth:`MERbaTrainConfig.converge`, early stopping on validation subjects of the
      training split) on the realistic recognition clips (``make_corpus("clips")``, its fixed split);
      ``merba_clips_test.csv``, their predictions on test sets A and B (columns ``part``, ``head``);
    - part ``spotter`` also writes ``spot_decoding.json``: ``melab spot``'s SISS defaults, chosen by the nested
      rule on the LOSO scores (:func:`spot_decoding`);
    - ``artefacts.json``: sizes in bytes, build seconds and the settings used. Entries of parts not
      rebuilt are kept from the existing manifest.

    Parameters
    ----------
    out_dir : path-like
        Output folder (the repository's ``data/``).
    preset : str
        Synthetic corpus preset of the spotter part (MERba always trains on the ``clips`` corpus).
    parts : sequence of str
        Which of :data:`ARTEFACT_PARTS` to rebuild (the two are independent).
    threads : int, optional
        Torch threads while building (restored after). One thread trains these tiny models as fast
        as two and is far faster on a busy machine; the results do not depend on it.
    progress : bool
        Progress bars.

    Returns
    -------
    dict
        The manifest written to ``artefacts.json``.
    """
    unknown = set(parts) - set(ARTEFACT_PARTS)
    if unknown or not parts:
        raise ValueError(f"parts must be a non-empty subset of {ARTEFACT_PARTS}, got {tuple(parts)}")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _build_artefacts(Path(out_dir), preset=preset, parts=tuple(parts), progress=progress)
    finally:
        torch.set_num_threads(previous)


def _build_artefacts(out: Path, *, preset: str, parts: tuple[str, ...], progress: bool) -> dict:
    from melab.data.synthetic import make_corpus, read_split

    t0 = time.perf_counter()
    files: dict[str, dict] = {}

    def done(path: Path, started: float, **info):
        files[path.name] = {"bytes": path.stat().st_size, "seconds": round(time.perf_counter() - started, 1),
                            **info}

    if "spotter" in parts:
        roi = roi_corpus(make_corpus(preset, progress=progress), progress=progress)
        fps = float(roi.videos["fps"].median())
        t = time.perf_counter()
        done(save_roi_corpus(out / f"roi_series_{preset}.npz", roi), t)

        t = time.perf_counter()
        spot_train = SpotterTrainConfig()
        fit_on, val, held = split_validation(roi.videos, roi.events, spot_train.validation, kinds=spot_train.kinds)
        model, history = train_spotter({v: roi.series[v] for v in fit_on}, roi.events, fps=fps, train=spot_train,
                                       progress=progress, validation={v: roi.series[v] for v in val})
        path = save_model(out / f"spotter_{preset}.pt", model,
                          train={**spot_train.to_dict(), "fps": fps, "k": spot_train.k or default_k(fps),
                                 "validation_subjects": held},
                          history=history.to_dict("list"))
        done(path, t, train=spot_train.to_dict(), input=model.config.input, validation_subjects=held)

        t = time.perf_counter()
        result = loso(roi.series, roi.events, roi.videos, train=spot_train, progress=progress)
        done(save_scores(out / f"spotter_{preset}_loso.npz", result), t, train=spot_train.to_dict(), k=result.k)

        t = time.perf_counter()
        decoding = spot_decoding(result.scores, roi.events, roi.videos, fps, source=f"spotter_{preset}_loso.npz")
        done(write_text(out / "spot_decoding.json", json.dumps(decoding, indent=1) + "\n"), t)

    if "merba" in parts:
        clips = make_corpus("clips", progress=progress)
        flows, samples = merba_corpus(clips, size=MERbaConfig.tiny().img_size, progress=progress)
        split = DfmeSplit(**read_split(clips))
        merba_train = MERbaTrainConfig.converge()
        predictions = []
        for head in ("single", "dgcm"):
            t = time.perf_counter()
            model, history, pred, score = split_merba(flows, samples, split, config=MERbaConfig.tiny(head=head),
                                                      train=merba_train, progress=progress,
                                                      validation_share=VALIDATION_SHARE)
            path = save_model(out / f"merba_{head}_clips.pt", model, train=merba_train.to_dict(),
                              history=history.to_dict("list"))
            done(path, t, train=merba_train.to_dict(),
                 scores={part: {m: round(float(v), 4) for m, v in row.items()} for part, row in
                         score[["uf1", "uar", "acc"]].iterrows()})
            predictions.append(pred.assign(head=head))
        t = time.perf_counter()
        csv = out / "merba_clips_test.csv"
        with atomic_path(csv) as tmp:
            pd.concat(predictions, ignore_index=True).to_csv(tmp, index=False)
        done(csv, t)

    manifest_path = out / "artefacts.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    kept = old.get("files", {}) if old.get("preset") == preset else {}
    manifest = {"preset": preset, "files": {**kept, **files},
                "seconds": {**old.get("seconds", {}), **{p: round(time.perf_counter() - t0, 1) for p in parts}},
                "torch": torch.__version__}
    write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return manifest
