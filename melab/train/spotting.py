"""Spotting: windows and targets, training a spotter, scoring whole videos, LOSO over subjects.

The pieces, in the order a lesson meets them:

- :func:`spotter_windows` cuts an ROI series ``(T, C)`` into windows of ``k`` frames with stride
  ``k/2`` and builds the targets: a 0/1 box over every ME (spotting) and a class per frame with
  neutral outside MEs (recognition). :class:`SpotterData` samples negative windows at a ratio of
  the positives, freshly for every epoch.
- :func:`train_spotter` wires data, model, optimiser and schedule together: Adam + OneCycle and
  ``0.9 MSE + 0.1 CE`` (BoostingVRME), through :func:`melab.train.loop.fit`.
- :func:`melab.inference.predict_video` scores a whole video by stitching overlapping windows (re-exported
  by :mod:`melab.train`).
- :func:`loso` trains a fresh spotter per held-out subject (:func:`spotter_fold`, run by
  :func:`melab.train.loso.run_folds`) and returns per-frame scores for every held-out video.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from melab.atomic import atomic_path
from melab.data.splits import str3_classes, to_str3
from melab.device import resolve_device
from melab.flow import default_k, window_starts
from melab.inference import SpotScores, predict_video
from melab.models.spotter import Spotter, SpotterConfig, init_from, spotter_loss
from melab.train.loop import fit
from melab.train.loso import Executor, fold_device, loso_subjects, make_executor, run_folds

# ---- spotter data: windows and targets ------------------------------------------------------------

IGNORE = -100  # F.cross_entropy's ignore_index


def frame_targets(
    n_frames: int,
    events: pd.DataFrame,
    *,
    dataset: str = "synthetic",
    kinds: Sequence[str] = ("micro",),
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame targets of one video: a 0/1 box over every ME and its class, neutral elsewhere.

    Classes are MEGC's :func:`melab.data.splits.str3_classes` of the dataset (negative, positive,
    surprise, and others where the dataset keeps it), the spotter's recognition head.

    Parameters
    ----------
    n_frames : int
        Length T of the video.
    events : pd.DataFrame
        Events of this video (``onset, offset, emotion, kind``; 0-based inclusive).
    dataset : str
        Dataset name for :func:`melab.data.splits.to_str3` ("synthetic", "casme3", "samm_lv", ...).
    kinds : sequence of str
        Event kinds that are targets (MEs only by default: macro-expressions stay 0 / neutral,
        so the spotter learns to tell them apart).

    Returns
    -------
    spot : np.ndarray
        float32 (T,), 1 inside a target event.
    label : np.ndarray
        int64 (T,): class index in 0..K-1 inside an event, K (neutral) elsewhere, and
        ``IGNORE = -100`` inside an ME whose emotion the protocol leaves out (no CE signal there).
    """
    classes = str3_classes(dataset)
    spot = np.zeros(n_frames, np.float32)
    label = np.full(n_frames, len(classes), np.int64)
    for ev in events[events["kind"].isin(kinds)].itertuples():
        name = to_str3(ev.emotion, dataset=dataset)
        spot[ev.onset:ev.offset + 1] = 1.0
        label[ev.onset:ev.offset + 1] = IGNORE if name is None else classes.index(name)
    return spot, label


class SpotterWindows(NamedTuple):
    """Windows of ROI series with their targets (N windows of k frames, C channels)."""

    x: np.ndarray  # (N, k, C) float32
    spot: np.ndarray  # (N, k) float32 0/1
    label: np.ndarray  # (N, k) int64, K = neutral, IGNORE = no class
    video: np.ndarray  # (N,) str
    start: np.ndarray  # (N,) int64 first frame

    @property
    def positive(self) -> np.ndarray:
        """(N,) bool: the window holds at least one ME frame."""
        return self.spot.max(axis=1) > 0


def _pad_to(a: np.ndarray, k: int, value=0) -> np.ndarray:
    """Pad axis 0 up to length k (videos shorter than one window)."""
    if len(a) >= k:
        return a
    pad = [(0, k - len(a))] + [(0, 0)] * (a.ndim - 1)
    return np.pad(a, pad, constant_values=value)


def spotter_windows(
    series: Mapping[str, np.ndarray],
    events: pd.DataFrame,
    *,
    k: int,
    stride: int | None = None,
    dataset: str = "synthetic",
    kinds: Sequence[str] = ("micro",),
) -> SpotterWindows:
    """Cut ROI series into windows of ``k`` frames (stride ``k/2``) with spotting and class targets.

    Parameters
    ----------
    series : mapping
        Video name -> ROI series (T, C) float32.
    events : pd.DataFrame
        Events table (rows of other videos are ignored).
    k, stride : int
        Window length and step in frames (stride ``k // 2`` by default).
    dataset, kinds
        See :func:`frame_targets`.

    Returns
    -------
    SpotterWindows
    """
    parts = []
    for video, x in series.items():
        x = np.asarray(x, np.float32)
        spot, label = frame_targets(len(x), events[events["video"] == video], dataset=dataset, kinds=kinds)
        x, spot, label = _pad_to(x, k), _pad_to(spot, k), _pad_to(label, k, len(str3_classes(dataset)))
        starts = window_starts(len(x), k, stride)
        idx = starts[:, None] + np.arange(k)  # (N, k) frame indices
        parts.append(SpotterWindows(x[idx], spot[idx], label[idx], np.full(len(starts), video, dtype=object),
                                    starts))
    if not parts:
        raise ValueError("no ROI series given; pass a mapping video -> (T, C) array")
    return SpotterWindows(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))


class SpotterData:
    """Training batches of a spotter: every positive window plus freshly sampled negatives.

    Parameters
    ----------
    windows : SpotterWindows
        All training windows.
    negative_ratio : float
        Negative windows per positive window drawn each epoch (4 for CAS(ME)^3, 0.5 for SAMM-LV
        in the reference), capped by how many there are.
    batch_size : int
        Windows per batch (the last batch of an epoch may be smaller).
    seed : int
        The draw and the order of epoch ``e`` come from ``np.random.default_rng((seed, e))``.
    """

    def __init__(self, windows: SpotterWindows, *, negative_ratio: float = 4.0, batch_size: int = 32,
                 seed: int = 0):
        self.windows = windows
        self.positives = np.flatnonzero(windows.positive)
        self.negatives = np.flatnonzero(~windows.positive)
        if len(self.positives) == 0:
            raise ValueError("no training window holds an ME; check the events table and the `kinds` option")
        self.n_negative = min(len(self.negatives), round(negative_ratio * len(self.positives)))
        self.batch_size, self.seed = batch_size, seed

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """(n,) window indices of one epoch, in training order: a pure function of (seed, epoch)."""
        rng = np.random.default_rng((self.seed, epoch))
        negatives = rng.choice(self.negatives, self.n_negative, replace=False)
        return rng.permutation(np.concatenate([self.positives, negatives]))

    def __len__(self) -> int:
        return math.ceil((len(self.positives) + self.n_negative) / self.batch_size)

    def __call__(self, epoch: int):
        """Yield ``(x (B, k, C), spot (B, k), label (B, k))`` tensors of epoch ``epoch``."""
        w = self.windows
        order = self.epoch_indices(epoch)
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            yield torch.from_numpy(w.x[idx]), torch.from_numpy(w.spot[idx]), torch.from_numpy(w.label[idx])

    def class_weights(self, n_classes: int) -> torch.Tensor:
        """Balanced CE weights ``n / (K' * count_c)`` over the frames of an epoch (expected counts).

        Negative windows count with weight ``n_negative / len(negatives)``, their expected share of
        an epoch; classes absent from training get weight 1.
        """
        label = self.windows.label
        share = np.where(self.windows.positive, 1.0, self.n_negative / max(len(self.negatives), 1))
        counts = np.array([(share[:, None] * (label == c)).sum() for c in range(n_classes)])
        present = counts > 0
        weights = np.ones(n_classes)
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return torch.tensor(weights, dtype=torch.float32)


# ---- spotter training, prediction and LOSO ---------------------------------------------------------

@dataclass
class SpotterTrainConfig:
    """Training settings of the spotter (reference: Adam 3e-4 with OneCycle, 50 epochs).

    ``k=None`` takes :func:`default_k` of the videos' fps. The CPU defaults train 20 epochs with a
    higher peak learning rate and, as the reference does for CAS(ME)^3, 4 negative windows per positive.
    On the realistic synthetic corpus that is the smallest budget that learns: with 6 epochs or one
    negative per positive, the tiny spotter's LOSO F1 on ``bench`` stays near 0.01-0.15, below the
    training-free baseline (``benchmarks/results/synthetic_calibration_spotter_*.json``).
    """

    epochs: int = 20
    batch_size: int = 32
    lr: float = 3e-3
    k: int | None = None
    negative_ratio: float = 4.0
    spot_weight: float = 0.9
    recog_weight: float = 0.1
    kinds: tuple[str, ...] = ("micro",)
    dataset: str = "synthetic"
    seed: int = 0
    init: str | None = None  # start from these weights (melab.models.spotter.init_from), not at random

    @classmethod
    def paper(cls, **overrides) -> SpotterTrainConfig:
        """Reference schedule: 50 epochs, peak learning rate 3e-4, 4 negatives per positive."""
        return cls(**{"epochs": 50, "lr": 3e-4, "negative_ratio": 4.0, **overrides})

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def train_spotter(
    series: Mapping[str, np.ndarray],
    events: pd.DataFrame,
    *,
    fps: float = 30.0,
    config: SpotterConfig | None = None,
    train: SpotterTrainConfig | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    desc: str = "spotter",
    device: str | torch.device = "cpu",
) -> tuple[Spotter, pd.DataFrame]:
    """Train a fresh spotter on ROI series (Adam + OneCycle, weighted MSE + balanced CE).

    Parameters
    ----------
    series : mapping
        Training videos: name -> ROI series (T, C) float32.
    events : pd.DataFrame
        Events table covering those videos.
    fps : float
        Frame rate, for the default window length.
    config : SpotterConfig, optional
        Model sizes (``SpotterConfig.tiny()`` by default; ``in_channels`` is set from the series and
        ``n_classes`` from the dataset's classes).
    train : SpotterTrainConfig, optional
        Training settings.
    checkpoint, resume, progress
        See :func:`fit`.
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where to train (:mod:`melab.device`). The initial weights, the windows drawn and their
        order are the same on every device; CUDA runs are not bit-identical to CPU runs.

    Returns
    -------
    model : Spotter
        Trained, in eval mode, on ``device``.
    history : pd.DataFrame
        Per-epoch ``loss, mse, ce, lr``.
    """
    train = train or SpotterTrainConfig()
    device = resolve_device(device)
    channels = next(iter(series.values())).shape[1]
    config = SpotterConfig(**{**(config or SpotterConfig.tiny()).to_dict(), "in_channels": channels,
                              "n_classes": len(str3_classes(train.dataset))})
    k = train.k or default_k(fps)
    windows = spotter_windows(series, events, k=k, kinds=train.kinds, dataset=train.dataset)
    data = SpotterData(windows, negative_ratio=train.negative_ratio, batch_size=train.batch_size, seed=train.seed)
    weights = data.class_weights(config.n_classes + 1).to(device)
    torch.manual_seed(train.seed)  # the initial weights, drawn on the CPU whatever the device
    model = Spotter(config) if train.init is None else init_from(Spotter(config), train.init)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=train.lr,
                                                    total_steps=train.epochs * len(data))

    def step(model, batch, epoch):
        x, spot, label = batch
        return spotter_loss(model(x), spot, label, class_weights=weights,
                            spot_weight=train.spot_weight, recog_weight=train.recog_weight)

    history = fit(model, data, step, optimizer=optimizer, scheduler=scheduler, epochs=train.epochs,
                  checkpoint=checkpoint, resume=resume, seed=train.seed,
                  config={**train.to_dict(), "k": k}, progress=progress, desc=desc, device=device)
    return model, history


class LosoResult(NamedTuple):
    """Leave-one-subject-out output.

    Attributes
    ----------
    scores : dict
        Held-out video -> :class:`SpotScores` over the whole video.
    history : pd.DataFrame
        Training history of every fold, with a ``subject`` column (the held-out subject).
    k : int
        Window length used (decoders take ``k`` too).
    seconds : dict
        Held-out subject -> wall time of its fold (training + prediction), seconds.
    resumed_from : dict
        Held-out subject -> epoch its fold resumed from (0: trained from scratch; see
        :class:`melab.train.loso.FoldRun`).
    """

    scores: dict[str, SpotScores]
    history: pd.DataFrame
    k: int
    seconds: dict[str, float]
    resumed_from: dict[str, int]


def spotter_fold(subject: str, *, series: Mapping[str, np.ndarray], events: pd.DataFrame, videos: pd.DataFrame,
                 fps: float, config: SpotterConfig | None, train: SpotterTrainConfig,
                 checkpoint: Path | None, progress: bool,
                 device: str = "cpu") -> tuple[dict[str, SpotScores], pd.DataFrame]:
    """One LOSO fold of the spotter: train without ``subject``, score each of its videos.

    Returns the held-out videos' :class:`SpotScores` and the fold's history (the arguments are those of
    :func:`loso`; ``train.k`` is set). Resumes from ``checkpoint`` when it exists. ``device`` is resolved
    where the fold runs (on a Ray worker, ``"cuda"`` is the GPU Ray assigned it).
    """
    held = videos["subject"] == subject
    train_series = {v: series[v] for v in videos.loc[~held, "video"]}
    model, history = train_spotter(train_series, events, fps=fps, config=config, train=train, checkpoint=checkpoint,
                                   resume=True, progress=progress, desc=f"fold {subject}", device=device)
    scores = {video: predict_video(model, series[video], k=train.k) for video in videos.loc[held, "video"]}
    return scores, history.assign(subject=subject)


def loso(
    series: Mapping[str, np.ndarray],
    events: pd.DataFrame,
    videos: pd.DataFrame,
    *,
    folds: str | int | Sequence[str] = "all",
    config: SpotterConfig | None = None,
    train: SpotterTrainConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    executor: str | Executor = "local",
    device: str = "cpu",
) -> LosoResult:
    """Leave-one-subject-out: a fresh spotter per held-out subject, scores for its every video.

    Parameters
    ----------
    series : mapping
        Video -> ROI series (T, C) for every video of ``videos``.
    events : pd.DataFrame
        Events table.
    videos : pd.DataFrame
        One row per video with ``subject, video, fps`` (``videos.csv`` of a corpus). Videos without
        any ME are trained on (as negatives) and scored like the others.
    folds : "all", int or sequence of str
        Which subjects to hold out (see :func:`melab.train.loso.loso_subjects`).
    config, train
        Model and training settings, the same for every fold (same seed).
    checkpoint_dir : path-like, optional
        ``<dir>/fold_<subject>.pt`` per fold, written every epoch; with ``resume=True`` finished folds
        are reloaded and an interrupted fold continues.
    progress : bool
        tqdm bars over folds (and, run locally, over epochs and batches).
    executor : "local", "ray" or an executor
        Where the folds run (:func:`melab.train.loso.make_executor`); the scores are bit-identical.
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where each fold trains and predicts (:func:`melab.train.loso.fold_device`: on Ray, a fold that
        declares GPUs trains on the one Ray assigned it).

    Returns
    -------
    LosoResult
    """
    train = train or SpotterTrainConfig()
    videos = videos.assign(subject=videos["subject"].astype(str))
    fps = float(videos["fps"].median())
    k = train.k or default_k(fps)
    train = SpotterTrainConfig(**{**asdict(train), "k": k})
    missing = sorted(set(videos["video"]) - set(series))
    if missing:
        raise ValueError(f"no ROI series for videos {missing[:5]}; extract them with melab.flow first")
    executor = make_executor(executor)
    runs = run_folds(spotter_fold, loso_subjects(videos, folds), checkpoint_dir=checkpoint_dir, resume=resume,
                     executor=executor, progress=progress,
                     shared=dict(series=dict(series), events=events, videos=videos, fps=fps, config=config,
                                 train=train, device=fold_device(device, executor)))
    return LosoResult({video: s for run in runs.values() for video, s in run.value[0].items()},
                      pd.concat([run.value[1] for run in runs.values()], ignore_index=True), k,
                      {subject: run.seconds for subject, run in runs.items()},
                      {subject: run.resumed_from for subject, run in runs.items()})


def save_scores(path: str | os.PathLike, result: LosoResult) -> Path:
    """Write LOSO scores as npz (``spot/<video>``, ``probs/<video>`` and ``k``), atomically."""
    path = Path(path)
    arrays = {"k": np.int64(result.k)}
    for video, s in result.scores.items():
        arrays[f"spot/{video}"], arrays[f"probs/{video}"] = s.spot, s.probs
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def load_scores(path: str | os.PathLike) -> tuple[dict[str, SpotScores], int]:
    """Read :func:`save_scores` output: (video -> SpotScores, k)."""
    with np.load(path, allow_pickle=False) as z:
        videos = [name.removeprefix("spot/") for name in z.files if name.startswith("spot/")]
        return {v: SpotScores(z[f"spot/{v}"], z[f"probs/{v}"]) for v in videos}, int(z["k"])
