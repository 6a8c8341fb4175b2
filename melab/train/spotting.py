"""Spotting: windows and targets, training a spotter, scoring whole videos, LOSO over subjects.

The pieces, in the order a lesson meets them:

- :func:`spotter_windows` turns an ROI series ``(T, C)`` into the model's input (:mod:`melab.inputs`), cuts it
  into windows of ``k`` frames with stride ``k/2`` and builds the targets: a 0/1 box over every ME (spotting) and
  a class per frame with neutral outside MEs (recognition). :class:`SpotterData` samples negative windows at a
  ratio of the positives, freshly for every epoch, and augments them (:data:`AUGMENTATIONS`).
- :func:`train_spotter` wires data, model, optimiser and schedule together: Adam + OneCycle and
  ``0.9 MSE + 0.1 CE`` (BoostingVRME), through :func:`melab.train.loop.fit`. Every epoch it records the
  per-frame AUC (:func:`melab.metrics.frame_auc`) on the training videos and on a validation subject that it
  does not train on (:func:`split_validation`), so overfitting shows as two curves that part.
- :func:`melab.inference.predict_video` scores a whole video by stitching overlapping windows (re-exported
  by :mod:`melab.train`).
- :func:`loso` trains a fresh spotter per held-out subject (:func:`spotter_fold`, run by
  :func:`melab.train.loso.run_folds`) and returns per-frame scores for every held-out video.
"""

from __future__ import annotations

import io
import math
import os
import warnings
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
from melab.flow import default_k
from melab.inference import SpotScores, predict_video
from melab.inputs import input_channels, input_windows, mirror_input, spotter_input
from melab.metrics import frame_auc
from melab.models.spotter import Spotter, SpotterConfig, init_from, spotter_loss
from melab.train.loop import EarlyStopping, fit
from melab.train.loso import Executor, fold_device, loso_subjects, make_executor, run_folds, validation_subjects

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
    input: str = "track",
) -> SpotterWindows:
    """Cut ROI series into windows of ``k`` frames (stride ``k/2``) of a model input, with spotting and class targets.

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
    input : str
        The model input (:data:`melab.inputs.INPUTS`), made from each whole video before it is cut
        (:func:`melab.inputs.spotter_input`, :func:`melab.inputs.input_windows`, as whole-video scores make it);
        ``"track"`` (the default here) cuts the series itself.

    Returns
    -------
    SpotterWindows
    """
    parts = []
    for video, series_v in series.items():
        x, starts = input_windows(spotter_input(series_v, input), k, input, stride=stride)
        spot, label = frame_targets(len(series_v), events[events["video"] == video], dataset=dataset, kinds=kinds)
        spot, label = _pad_to(spot, k), _pad_to(label, k, len(str3_classes(dataset)))
        idx = starts[:, None] + np.arange(k)  # (N, k) frame indices
        parts.append(SpotterWindows(x, spot[idx], label[idx], np.full(len(starts), video, dtype=object), starts))
    if not parts:
        raise ValueError("no ROI series given; pass a mapping video -> (T, C) array")
    return SpotterWindows(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))


# Augmentations with a physical meaning, in the order they apply (benchmarks/spotter_inputs.py measures each):
# "intensity": every annotated expression performed more or less intensely (scale_expressions: an ME up to 4x,
# a macro-expression down to a quarter, each with probability 1/2, applied to the ROI series before the input is
# made, so an ME's size relative to the rest of its video stops telling it from a macro-expression); "mirror" the
# face left-right (ROI channels swapped with their partners, dx negated; melab.inputs.mirror_input),
# "warp" time by a factor in [0.8, 1.25] about the window's centre (an expression 20 % faster or slower, its
# targets warped with it), "scale" the input by U(0.9, 1.1) per window (the reference's), add Gaussian "noise"
# (0.1 of a standardised channel's spread).
AUGMENTATIONS = ("intensity", "mirror", "warp", "scale", "noise")
INTENSITY_RANGE = {"micro": (1.0, 4.0), "macro": (0.25, 1.0)}  # log-uniform factors
WARP_RANGE = (0.8, 1.25)
# Training videos scored for the per-epoch training AUC: at most this many, evenly spaced in sorted order (scoring
# every one of a large corpus would cost more than the epoch itself)
MONITOR_VIDEOS = 8
SCALE_RANGE = (0.9, 1.1)
NOISE_SD = 0.1


def scale_expressions(series: np.ndarray, events: pd.DataFrame, rng: np.random.Generator, *,
                      ranges: Mapping[str, tuple[float, float]] = INTENSITY_RANGE, p: float = 0.5,
                      margin: int = 2) -> np.ndarray:
    """An ROI series with its annotated expressions performed more or less intensely.

    Each event of a kind in ``ranges`` is, with probability ``p``, scaled by a factor drawn log-uniformly from its
    range: its departure from the straight line between the frames ``margin`` before its onset and after its offset
    is multiplied by the factor, with raised-cosine tapers over the margins so that the series stays continuous.

    Parameters
    ----------
    series : ``(T, C)`` ROI series (pixels).
    events : the video's events (``onset, offset, kind``).
    rng : the random draws.
    ranges, p, margin : factor ranges per kind, the probability to scale an event, the taper in frames.

    Returns
    -------
    ``(T, C)`` float32, a new array.
    """
    x = np.array(series, np.float32, copy=True)
    T = len(x)
    for ev in events.itertuples():
        if ev.kind not in ranges:
            continue
        draw, factor = rng.random(), np.exp(rng.uniform(*np.log(ranges[ev.kind])))
        a, b = max(0, int(ev.onset) - margin), min(T - 1, int(ev.offset) + margin)
        if draw >= p or b - a < 2:
            continue
        t = np.arange(a, b + 1)
        base = x[a] + (x[b] - x[a]) * ((t - a) / (b - a))[:, None]
        ramp = np.ones(len(t))
        taper = 0.5 * (1 - np.cos(np.pi * np.arange(1, margin + 1) / (margin + 1)))
        ramp[:margin], ramp[len(t) - margin:] = taper, taper[::-1]
        x[a:b + 1] += ((factor - 1) * ramp)[:, None].astype(np.float32) * (x[a:b + 1] - base)
    return x


def _warp(x: np.ndarray, spot: np.ndarray, label: np.ndarray, rate: np.ndarray):
    """Resample windows (B, k, ...) in time by ``rate`` (B,) about their centres: linear for the input, nearest
    for the targets; frames beyond the window's ends repeat its end frames."""
    k = x.shape[1]
    centre = (k - 1) / 2
    t = np.clip((np.arange(k) - centre)[None, :] * rate[:, None] + centre, 0, k - 1)  # (B, k) source times
    lo = np.minimum(np.floor(t).astype(np.int64), k - 2)
    w = (t - lo)[..., None].astype(np.float32)
    rows = np.arange(len(x))[:, None]
    near = np.rint(t).astype(np.int64)
    return (x[rows, lo] * (1 - w) + x[rows, lo + 1] * w, spot[rows, near], label[rows, near])


class SpotterData:
    """Training batches of a spotter: every positive window plus freshly sampled negatives, augmented.

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
        The draw and the order of epoch ``e`` come from ``np.random.default_rng((seed, e))``, its
        augmentations from ``np.random.default_rng((seed, e, 1))``.
    augment : sequence of str
        Any of :data:`AUGMENTATIONS` (none by default).
    input : str
        The windows' input (:data:`melab.inputs.INPUTS`), for the mirror.
    rebuild : callable, optional
        ``rebuild(rng) -> (N, k, C')`` new input windows in the order of ``windows`` (same positions and
        targets), made each epoch from augmented ROI series (``"intensity"``, see :func:`train_spotter`); drawn
        from ``np.random.default_rng((seed, e, 2))``.
    """

    def __init__(self, windows: SpotterWindows, *, negative_ratio: float = 4.0, batch_size: int = 32,
                 seed: int = 0, augment: Sequence[str] = (), input: str = "track", rebuild=None):
        self.windows = windows
        self.positives = np.flatnonzero(windows.positive)
        self.negatives = np.flatnonzero(~windows.positive)
        if len(self.positives) == 0:
            raise ValueError("no training window holds an ME; check the events table and the `kinds` option")
        unknown = sorted(set(augment) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; choose from {', '.join(AUGMENTATIONS)}")
        if "intensity" in augment and rebuild is None:
            raise ValueError("the intensity augmentation scales expressions in the ROI series: pass rebuild= "
                             "(train_spotter does)")
        self.n_negative = min(len(self.negatives), round(negative_ratio * len(self.positives)))
        self.batch_size, self.seed, self.augment, self.input = batch_size, seed, tuple(augment), input
        self.rebuild = rebuild

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
        rng = np.random.default_rng((self.seed, epoch, 1))
        inputs = self.rebuild(np.random.default_rng((self.seed, epoch, 2))) if self.rebuild is not None else w.x
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            x, spot, label = inputs[idx], w.spot[idx], w.label[idx]
            if self.augment:
                x, spot, label = self._augmented(x, spot, label, rng)
            yield torch.from_numpy(x), torch.from_numpy(spot), torch.from_numpy(label)

    def _augmented(self, x: np.ndarray, spot: np.ndarray, label: np.ndarray, rng: np.random.Generator):
        x = x.copy()
        if "mirror" in self.augment:
            flip = rng.random(len(x)) < 0.5
            x[flip] = mirror_input(x[flip], self.input)
        if "warp" in self.augment:
            x, spot, label = _warp(x, spot, label, np.exp(rng.uniform(*np.log(WARP_RANGE), len(x))))
        if "scale" in self.augment:
            x = x * rng.uniform(*SCALE_RANGE, (len(x), 1, 1)).astype(np.float32)
        if "noise" in self.augment:
            x = x + rng.normal(0, NOISE_SD, x.shape).astype(np.float32)
        return np.ascontiguousarray(x, np.float32), np.ascontiguousarray(spot), np.ascontiguousarray(label)

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

    ``k=None`` takes :func:`default_k` of the videos' fps. The CPU defaults train 10 epochs at a higher peak
    learning rate with, as the reference does for CAS(ME)^3, 4 negative windows per positive. On the realistic
    corpora the tiny spotter's held-out AUC peaks at 8-10 epochs and falls after while its training AUC climbs to
    1 (``benchmarks/results/spotter_inputs.json``), so 10 is the budget.

    ``validation`` subjects (with at least one ME) are held out of every training set by a fixed rule
    (:func:`split_validation`) and scored every epoch (``val_auc``, ``val_auc_mae``); ``monitor`` also scores up to
    :data:`MONITOR_VIDEOS` training videos (``train_auc``, ``train_auc_mae``), and ``patience`` stops training on
    ``val_auc`` (keeping the best epoch). ``augment`` is any of :data:`AUGMENTATIONS`.
    """

    epochs: int = 10
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
    augment: tuple[str, ...] = ()
    validation: int = 1
    monitor: bool = True
    patience: int | None = None

    @classmethod
    def paper(cls, **overrides) -> SpotterTrainConfig:
        """Reference schedule: 50 epochs, peak learning rate 3e-4, 4 negatives per positive."""
        return cls(**{"epochs": 50, "lr": 3e-4, "negative_ratio": 4.0, **overrides})

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def auc_summary(history: pd.DataFrame) -> pd.DataFrame | None:
    """The per-epoch AUC records of a history, averaged over LOSO folds: one row per epoch, columns ``train_auc``,
    ``val_auc``, ``train_auc_mae``, ``val_auc_mae`` (those present), 3 decimals; None without any. This is what
    ``melab train`` prints: two columns that part are a model memorising its training faces."""
    columns = [c for c in ("train_auc", "val_auc", "train_auc_mae", "val_auc_mae") if c in history]
    if not columns:
        return None
    return history.groupby("epoch")[columns].mean().round(3)


def split_validation(videos: pd.DataFrame, events: pd.DataFrame, n: int, *, after: str | None = None,
                     kinds: Sequence[str] = ("micro",)) -> tuple[list[str], list[str], list[str]]:
    """Hold ``n`` validation subjects out of a training set: the fixed rule of :func:`validation_subjects` over the
    subjects that have at least one target event (an AUC needs an ME), after the held-out subject ``after``.

    Parameters
    ----------
    videos : ``subject, video`` of the training videos.
    events : events table.
    n : validation subjects (0: none).
    after : the fold's held-out subject (each fold then validates on another subject); None for a model trained
        on every subject.
    kinds : event kinds that count as targets.

    Returns
    -------
    train_videos, validation_videos, validation_subjects : lists of names (no validation, with a warning, when
    no more than ``n`` training subjects hold an ME).
    """
    subjects = videos["subject"].astype(str)
    if n == 0:
        return list(videos["video"]), [], []
    has_target = set(events.loc[events["kind"].isin(kinds), "video"])
    candidates = sorted({s for s, v in zip(subjects, videos["video"], strict=True) if v in has_target})
    if len(candidates) <= n:
        warnings.warn(f"only {len(candidates)} training subject(s) hold an ME, too few to hold {n} out for "
                      "validation: training on all of them, without validation AUC (SpotterTrainConfig(validation=0) "
                      "says so explicitly)", stacklevel=2)
        return list(videos["video"]), [], []
    held = validation_subjects(candidates, n, after=after)
    chosen = subjects.isin(held).to_numpy()
    return list(videos.loc[~chosen, "video"]), list(videos.loc[chosen, "video"]), held


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
    validation: Mapping[str, np.ndarray] | None = None,
) -> tuple[Spotter, pd.DataFrame]:
    """Train a fresh spotter on ROI series (Adam + OneCycle, weighted MSE + balanced CE).

    Parameters
    ----------
    series : mapping
        Training videos: name -> ROI series (T, C) float32.
    events : pd.DataFrame
        Events table covering those videos (and the validation videos).
    fps : float
        Frame rate, for the default window length.
    config : SpotterConfig, optional
        Model sizes and input (``SpotterConfig.tiny()`` by default; ``in_channels`` is set from the series and
        the input, ``n_classes`` from the dataset's classes).
    train : SpotterTrainConfig, optional
        Training settings.
    checkpoint, resume, progress
        See :func:`fit`.
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where to train (:mod:`melab.device`). The initial weights, the windows drawn and their
        order are the same on every device; CUDA runs are not bit-identical to CPU runs.
    validation : mapping, optional
        Videos of subjects it does not train on (video -> ROI series), scored every epoch (``val_auc``,
        ``val_auc_mae``) and, with ``train.patience``, the early-stopping criterion.

    Returns
    -------
    model : Spotter
        Trained, in eval mode, on ``device``.
    history : pd.DataFrame
        Per-epoch ``loss, mse, ce, lr``; with ``train.monitor``, ``train_auc, train_auc_mae`` (on up to
        :data:`MONITOR_VIDEOS` training videos, evenly spaced in sorted order); with validation videos,
        ``val_auc, val_auc_mae``; ``best`` with early stopping.
    """
    train = train or SpotterTrainConfig()
    device = resolve_device(device)
    config = config or SpotterConfig.tiny()
    channels = next(iter(series.values())).shape[1]
    config = SpotterConfig(**{**config.to_dict(), "in_channels": input_channels(config.input, channels),
                              "n_classes": len(str3_classes(train.dataset))})
    k = train.k or default_k(fps)
    windows = spotter_windows(series, events, k=k, kinds=train.kinds, dataset=train.dataset, input=config.input)
    rebuild = None
    if "intensity" in train.augment:
        def rebuild(rng):
            scaled = {v: scale_expressions(x, events[events["video"] == v], rng) for v, x in series.items()}
            return spotter_windows(scaled, events, k=k, kinds=train.kinds, dataset=train.dataset, input=config.input).x

    data = SpotterData(windows, negative_ratio=train.negative_ratio, batch_size=train.batch_size, seed=train.seed,
                       augment=train.augment, input=config.input, rebuild=rebuild)
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

    if train.patience is not None and not validation:
        raise ValueError("SpotterTrainConfig.patience stops on the validation AUC: pass validation videos "
                         "(SpotterTrainConfig.validation > 0 in loso)")
    names = sorted(series)
    watched = [names[i] for i in np.unique(np.linspace(0, len(names) - 1, min(MONITOR_VIDEOS, len(names))).round()
                                            .astype(int))]
    sets = {"train": {v: series[v] for v in watched} if train.monitor else {}, "val": validation or {}}
    targets = events[events["kind"].isin((*train.kinds, "macro"))]
    evaluate = None
    if any(sets.values()):
        def evaluate(model, epoch):
            row = {}
            for name, videos in sets.items():
                if videos:
                    auc = frame_auc({v: predict_video(model, x, k=k).spot for v, x in videos.items()}, targets)
                    row |= {f"{name}_auc": auc.auc, f"{name}_auc_mae": auc.auc_mae}
            return row

    stopping = EarlyStopping("val_auc", patience=train.patience) if train.patience is not None else None
    history = fit(model, data, step, optimizer=optimizer, scheduler=scheduler, epochs=train.epochs,
                  checkpoint=checkpoint, resume=resume, seed=train.seed, evaluate=evaluate, early_stopping=stopping,
                  config={**train.to_dict(), "k": k, "validation_videos": sorted(validation or {})},
                  progress=progress, desc=desc, device=device)
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
    """One LOSO fold of the spotter: train without ``subject`` (and without its validation subjects,
    :func:`split_validation`), score each of its videos.

    Returns the held-out videos' :class:`SpotScores` and the fold's history with ``subject`` and ``validation``
    (its validation subjects) columns (the arguments are those of :func:`loso`; ``train.k`` is set). Resumes
    from ``checkpoint`` when it exists. ``device`` is resolved where the fold runs (on a Ray worker, ``"cuda"`` is
    the GPU Ray assigned it).
    """
    held = videos["subject"] == subject
    fit_on, val, val_subjects = split_validation(videos[~held], events, train.validation, after=subject,
                                                 kinds=train.kinds)
    model, history = train_spotter({v: series[v] for v in fit_on}, events, fps=fps, config=config, train=train,
                                   checkpoint=checkpoint, resume=True, progress=progress, desc=f"fold {subject}",
                                   device=device, validation={v: series[v] for v in val})
    scores = {video: predict_video(model, series[video], k=train.k) for video in videos.loc[held, "video"]}
    return scores, history.assign(subject=subject, validation="+".join(val_subjects))


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
    """Write LOSO scores as npz (``spot/<video>``, ``probs/<video>``, ``k`` and the folds' training history as CSV
    text, ``history_csv``), atomically."""
    path = Path(path)
    arrays = {"k": np.int64(result.k), "history_csv": np.array(result.history.to_csv(index=False))}
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


def load_history(path: str | os.PathLike) -> pd.DataFrame:
    """The LOSO folds' training history stored by :func:`save_scores` (one row per fold and epoch, with
    ``subject``, ``validation`` and the per-epoch AUC columns), e.g. for :func:`melab.viz.plot_auc_history`."""
    with np.load(path, allow_pickle=False) as z:
        if "history_csv" not in z.files:
            raise ValueError(f"{path} keeps no training history (written before save_scores stored it); rebuild it "
                             "with `make artefacts`")
        return pd.read_csv(io.StringIO(str(z["history_csv"])), dtype={"subject": str, "validation": str})
