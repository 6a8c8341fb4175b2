"""Training: windows and targets, a resumable training loop, LOSO, checkpoints.

The pieces, in the order a lesson meets them:

- :func:`spotter_windows` cuts an ROI series ``(T, C)`` into windows of ``k`` frames with stride
  ``k/2`` and builds the targets: a 0/1 box over every ME (spotting) and a class per frame with
  neutral outside MEs (recognition). :class:`SpotterData` samples negative windows at a ratio of
  the positives, freshly for every epoch.
- :func:`fit` is the loop: seeded, deterministic, one tqdm bar over epochs and one over batches,
  a history DataFrame, an atomic checkpoint after every epoch and ``resume=True`` that continues
  bit-identically from the last one.
- :func:`train_spotter` / :func:`train_merba` wire data, model, optimiser and schedule together:
  Adam + OneCycle and ``0.9 MSE + 0.1 CE`` for the spotter (BoostingVRME), AdamW + warm-up + cosine
  and the DGCM loss for MERba.
- :func:`predict_video` scores a whole video; :func:`loso` trains a fresh model per held-out subject
  and returns per-frame scores for every held-out video.
- :func:`save_model` / :func:`load_model` write and read plain state dicts with a JSON-able config,
  loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from melab.atomic import atomic_path, write_text
from melab.data.splits import SEVEN_CLASSES, class_weights, str3_classes, to_str3
from melab.data.synthetic import load_video, recognition_samples
from melab.data.video import read_frames
from melab.flow import extract_roi_series, onset_apex_flow, window_starts
from melab.models.merba import (
    MERba,
    MERbaConfig,
    dgcm_alpha,
    dgcm_loss,
    dgcm_predict,
)
from melab.models.spotter import Spotter, SpotterConfig, spotter_loss
from melab.weights import load_weights

CHECKPOINT_FORMAT = "melab-checkpoint-1"
ARTEFACTS = Path(__file__).resolve().parents[1] / "data"  # the repository's shipped artefacts
MODELS = {"spotter": (Spotter, SpotterConfig), "merba": (MERba, MERbaConfig)}


def _bar(iterable: Iterable, progress: bool, **kwargs) -> Iterable:
    """A tqdm bar when ``progress``; ``TQDM_DISABLE=1`` in the environment silences it (tqdm's
    notebook bars do not read that variable themselves)."""
    quiet = os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true")
    return tqdm(iterable, **kwargs) if progress and not quiet else iterable


# ---- checkpoints ----------------------------------------------------------------------------------

def _atomic_save(obj: dict, path: Path) -> None:
    """``torch.save`` through :func:`melab.atomic.atomic_path`: a crash never leaves half a file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _model_kind(model: nn.Module) -> str:
    for kind, (cls, _) in MODELS.items():
        if isinstance(model, cls):
            return kind
    raise TypeError(f"cannot checkpoint a {type(model).__name__}; melab checkpoints hold a Spotter or MERba")


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "checkpoint") -> nn.Module:
    """Load a state dict strictly, with an error that names every mismatched key.

    Parameters
    ----------
    model : nn.Module
        Model to fill.
    state : mapping
        State dict, e.g. ``torch.load(path, weights_only=True)["model"]``.
    source : str
        Where the state came from, for the message.

    Raises
    ------
    ValueError
        When keys are missing, unexpected, or have another shape.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        def listed(name, items):
            more = f" (+{len(items) - 8} more)" if len(items) > 8 else ""
            return f"{name}: {', '.join(items[:8])}{more}" if items else ""
        parts = [listed("missing keys", missing), listed("unexpected keys", unexpected),
                 listed("shape mismatches", shapes)]
        raise ValueError(
            f"{source} does not fit this {type(model).__name__} ({'; '.join(p for p in parts if p)}). "
            "Build the model from the checkpoint's own config with melab.train.load_model(path)."
        )
    model.load_state_dict(state)
    return model


def save_model(path: str | os.PathLike, model: nn.Module, **extra) -> Path:
    """Write a shareable checkpoint: the model's state dict and config only (atomically).

    Parameters
    ----------
    path : path-like
        Output file (``.pt``).
    model : Spotter or MERba
        The model; its ``config`` is stored as a JSON-able dict.
    **extra
        More JSON-able entries (e.g. ``train={...}``, ``history={...}``).
    """
    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    _atomic_save({"format": CHECKPOINT_FORMAT, "kind": _model_kind(model), "config": model.config.to_dict(),
                  "model": state, **extra}, path)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a melab checkpoint safely (``weights_only=True``) and check its format."""
    path = Path(path)
    ckpt = load_weights(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a melab checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return ckpt


def load_model(path: str | os.PathLike) -> nn.Module:
    """Rebuild a Spotter or MERba from a checkpoint's config and load its weights (eval mode).

    Parameters
    ----------
    path : path-like
        File written by :func:`save_model` or :func:`fit`.

    Returns
    -------
    Spotter or MERba
    """
    ckpt = read_checkpoint(path)
    model_cls, config_cls = MODELS[ckpt["kind"]]
    model = model_cls(config_cls(**ckpt["config"]))
    return load_state(model, ckpt["model"], source=str(path)).eval()


# ---- the training loop ----------------------------------------------------------------------------

def fit(
    model: nn.Module,
    batches: Callable[[int], Iterable],
    step: Callable[[nn.Module, object, int], tuple[torch.Tensor, dict[str, float]]],
    *,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    evaluate: Callable[[nn.Module, int], dict[str, float]] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    seed: int = 0,
    config: Mapping | None = None,
    progress: bool = True,
    desc: str = "fit",
) -> pd.DataFrame:
    """Train ``model`` for ``epochs``, checkpointing every epoch; resume bit-identically.

    Parameters
    ----------
    model : nn.Module
        Model with a ``config.to_dict()`` (Spotter or MERba); trained in place.
    batches : callable
        ``batches(epoch)`` yields the batches of that epoch. It must be a pure function of the
        epoch (seed any shuffling with the epoch), which is what makes resuming exact.
    step : callable
        ``step(model, batch, epoch) -> (loss, parts)``: the scalar loss and a dict of floats that are
        averaged into the history.
    optimizer : torch.optim.Optimizer
        Optimiser over the model's parameters.
    epochs : int
        Total epochs (also when resuming: training continues up to ``epochs``).
    scheduler : LRScheduler, optional
        Stepped after every batch.
    evaluate : callable, optional
        ``evaluate(model, epoch) -> dict`` after every epoch (model in eval mode), added to history.
    checkpoint : path-like, optional
        File rewritten atomically after every epoch with the model, optimiser, scheduler, RNG state,
        epoch, history and ``config``.
    resume : bool
        Continue from ``checkpoint`` if it exists (its RNG state and schedule included).
    seed : int
        Seeds torch's global generator (dropout) at the start of a fresh run.
    config : mapping, optional
        JSON-able training settings stored in the checkpoint.
    progress : bool
        Show tqdm bars (also off when the environment sets ``TQDM_DISABLE=1``).
    desc : str
        Label of the epoch bar.

    Returns
    -------
    pd.DataFrame
        One row per epoch: ``epoch``, ``loss``, the averaged ``parts``, ``lr`` and the ``evaluate``
        metrics.
    """
    path = Path(checkpoint) if checkpoint is not None else None
    history: list[dict] = []
    start = 0
    if resume and path is not None and path.exists():
        ckpt = read_checkpoint(path)
        changed = sorted(k for k in set(ckpt["train"]) | set(config or {})
                         if ckpt["train"].get(k) != dict(config or {}).get(k))
        if changed:
            raise ValueError(f"{path} was trained with other settings ({', '.join(changed)}); resume with the "
                             "same settings, or start afresh without resume=True (or in another folder)")
        load_state(model, ckpt["model"], source=str(path))
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"])
        history = pd.DataFrame(ckpt["history"]).to_dict("records")
        start = int(ckpt["epoch"])
    else:
        torch.manual_seed(seed)
    for epoch in _bar(range(start, epochs), progress, desc=desc, initial=start, total=epochs, leave=False):
        model.train()
        total, n, sums = 0.0, 0, {}
        for batch in _bar(batches(epoch), progress, desc=f"epoch {epoch + 1}", leave=False):
            loss, parts = step(model, batch, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total, n = total + loss.item(), n + 1
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value
        if n == 0:
            raise ValueError(f"epoch {epoch} produced no batches; check the training data")
        row = {"epoch": epoch + 1, "loss": total / n, **{k: v / n for k, v in sums.items()},
               "lr": optimizer.param_groups[0]["lr"]}
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                row.update(evaluate(model, epoch))
        history.append(row)
        if path is not None:
            _atomic_save({
                "format": CHECKPOINT_FORMAT, "kind": _model_kind(model), "config": model.config.to_dict(),
                "train": dict(config or {}), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else {},
                "rng": torch.get_rng_state(), "epoch": epoch + 1,
                "history": pd.DataFrame(history).to_dict("list"),
            }, path)
    model.eval()
    return pd.DataFrame(history)


# ---- data from a corpus ---------------------------------------------------------------------------

class RoiCorpus(NamedTuple):
    """ROI series of every video of a corpus, with its tables.

    Attributes
    ----------
    series : dict
        Video -> (T, C) float32 ROI series.
    events : pd.DataFrame
        Events table.
    videos : pd.DataFrame
        ``subject, video, n_frames, fps`` per video.
    """

    series: dict[str, np.ndarray]
    events: pd.DataFrame
    videos: pd.DataFrame


def default_cache(corpus: Path) -> Path:
    """Where derived arrays of a corpus are cached: ``<corpus parent>/cache`` (a content-keyed store)."""
    return Path(corpus).parent / "cache"


def roi_corpus(corpus: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None, processes: int = 2,
               progress: bool = True, **options) -> RoiCorpus:
    """ROI series of a corpus made by :func:`melab.data.synthetic.make_corpus` (cached on disk).

    The flow window is :func:`default_k` of each video's fps (50 frames at 30 fps), as in the
    reference. Series come from :func:`melab.flow.extract_roi_series` with its defaults, or
    ``options``; the first call on a corpus takes minutes, later calls read the cache.

    Parameters
    ----------
    corpus : path-like
        Corpus directory (``events.csv``, ``videos.csv``, ``<subject>/<video>/``).
    cache_dir : path-like, optional
        Cache folder, :func:`default_cache` by default.
    processes : int
        Worker processes for the extraction.
    progress : bool
        Show a progress bar.

    Returns
    -------
    RoiCorpus
    """
    corpus = Path(corpus)
    if not (corpus / "videos.csv").exists():
        raise FileNotFoundError(f"{corpus} is not a corpus (no videos.csv); make one with "
                                "melab.data.synthetic.make_corpus('lab')")
    videos = pd.read_csv(corpus / "videos.csv", dtype={"subject": str, "video": str})
    events = pd.read_csv(corpus / "events.csv", dtype={"subject": str, "video": str})
    cache = Path(cache_dir) if cache_dir is not None else default_cache(corpus)
    series = {}
    for fps, group in videos.groupby("fps"):
        loaded = [load_video(corpus, v) for v in group["video"]]
        arrays = extract_roi_series(loaded, cache_dir=cache, k=default_k(fps), processes=processes,
                                    progress=progress, **options)
        series.update(zip(group["video"], arrays, strict=True))
    return RoiCorpus(series, events, videos)


def save_roi_corpus(path: str | os.PathLike, roi: RoiCorpus) -> Path:
    """Write a :class:`RoiCorpus` as one npz (series as float16, tables as CSV text), atomically.

    float16 keeps about 3 significant digits of the flow (pixels), plenty for teaching, and halves
    the file; :func:`load_roi_corpus` returns float32.
    """
    path = Path(path)
    arrays = {f"series/{v}": np.asarray(x, np.float16) for v, x in roi.series.items()}
    arrays["events_csv"] = np.array(roi.events.to_csv(index=False))
    arrays["videos_csv"] = np.array(roi.videos.to_csv(index=False))
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def load_roi_corpus(path: str | os.PathLike | None = None) -> RoiCorpus:
    """Read :func:`save_roi_corpus` output; default: the shipped ``data/roi_series_lab.npz``."""
    path = Path(path) if path is not None else ARTEFACTS / "roi_series_lab.npz"
    if not path.exists():
        raise FileNotFoundError(f"no ROI series at {path}; run `make artefacts` (melab.train.build_artefacts)")
    with np.load(path, allow_pickle=False) as z:
        series = {name.removeprefix("series/"): z[name].astype(np.float32) for name in z.files
                  if name.startswith("series/")}
        tables = [pd.read_csv(io.StringIO(str(z[key])), dtype={"subject": str, "video": str})
                  for key in ("events_csv", "videos_csv")]
    return RoiCorpus(series, *tables)


def merba_corpus(corpus: str | os.PathLike, *, size: int = 96, method: str = "tvl1",
                 cache_dir: str | os.PathLike | None = None, progress: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Onset-apex flow images of every ME of a synthetic corpus with a 7-class label (cached).

    Parameters
    ----------
    corpus : path-like
        Corpus directory.
    size : int
        Side S of the flow images (``MERbaConfig.img_size``).
    method : str
        Flow method of :func:`melab.flow.onset_apex_flow` (TV-L1 as in the paper).
    cache_dir : path-like, optional
        Cache folder, :func:`default_cache` by default.

    Returns
    -------
    flows : np.ndarray
        (N, 3, S, S) float32: dx, dy and strain, cropped with the onset frame's landmarks.
    samples : pd.DataFrame
        The N events with an int ``label`` column (index into SEVEN_CLASSES).
    """
    corpus = Path(corpus)
    samples = recognition_samples(pd.read_csv(corpus / "events.csv", dtype={"subject": str, "video": str}))
    cache = Path(cache_dir) if cache_dir is not None else default_cache(corpus)
    path = cache / f"{corpus.name}-merba-{size}-{method}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            if len(z["flows"]) == len(samples):
                return z["flows"], samples
    flows = []
    for ev in _bar(samples.itertuples(), progress, total=len(samples), desc="onset-apex flow"):
        video = load_video(corpus, ev.video)
        frames, _ = read_frames(video.path, video.fps, start=ev.onset, stop=ev.apex + 1)
        flows.append(onset_apex_flow(frames, 0, ev.apex - ev.onset, size=size, method=method,
                                     landmarks=video.landmarks[ev.onset]))
    flows = np.stack(flows)
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, flows=flows)
    return flows, samples


# ---- spotter data: windows and targets ------------------------------------------------------------

def default_k(fps: float) -> int:
    """Window length: 50 frames at 30 fps (CAS(ME)^3 reference), scaled with fps, rounded to even."""
    return max(2, 2 * round(50 * fps / 30 / 2))


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

    ``k=None`` takes :func:`default_k` of the videos' fps. The CPU defaults train fewer epochs with a
    higher peak learning rate and one negative window per positive (the reference draws 4 for
    CAS(ME)^3, which on the synthetic corpus means nearly every negative window, at twice the cost).
    """

    epochs: int = 6
    batch_size: int = 32
    lr: float = 3e-3
    k: int | None = None
    negative_ratio: float = 1.0
    spot_weight: float = 0.9
    recog_weight: float = 0.1
    kinds: tuple[str, ...] = ("micro",)
    dataset: str = "synthetic"
    seed: int = 0

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

    Returns
    -------
    model : Spotter
        Trained, in eval mode.
    history : pd.DataFrame
        Per-epoch ``loss, mse, ce, lr``.
    """
    train = train or SpotterTrainConfig()
    channels = next(iter(series.values())).shape[1]
    config = SpotterConfig(**{**(config or SpotterConfig.tiny()).to_dict(), "in_channels": channels,
                              "n_classes": len(str3_classes(train.dataset))})
    k = train.k or default_k(fps)
    windows = spotter_windows(series, events, k=k, kinds=train.kinds, dataset=train.dataset)
    data = SpotterData(windows, negative_ratio=train.negative_ratio, batch_size=train.batch_size, seed=train.seed)
    weights = data.class_weights(config.n_classes + 1)
    torch.manual_seed(train.seed)  # the initial weights
    model = Spotter(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=train.lr,
                                                    total_steps=train.epochs * len(data))

    def step(model, batch, epoch):
        x, spot, label = batch
        return spotter_loss(model(x), spot, label, class_weights=weights,
                            spot_weight=train.spot_weight, recog_weight=train.recog_weight)

    history = fit(model, data, step, optimizer=optimizer, scheduler=scheduler, epochs=train.epochs,
                  checkpoint=checkpoint, resume=resume, seed=train.seed,
                  config={**train.to_dict(), "k": k}, progress=progress, desc=desc)
    return model, history


class SpotScores(NamedTuple):
    """Whole-video scores: ``spot`` (T,) in [0, 1] and ``probs`` (T, K + 1), neutral last."""

    spot: np.ndarray
    probs: np.ndarray


@torch.no_grad()
def predict_video(model: Spotter, series: np.ndarray, *, k: int, stride: int | None = None,
                  batch_size: int = 64) -> SpotScores:
    """Score every frame of a video by stitching overlapping windows.

    The windows of :func:`window_starts` (length ``k``, stride ``k/2``, the last one anchored at the
    end) cover every frame once or twice. A frame's score is the mean over the windows that cover
    it, so the stitched curve has no gap and no zeroed head or tail. Each window is scored on its own
    (the model has no batch statistics), so the result does not depend on ``batch_size``.

    Parameters
    ----------
    model : Spotter
        Trained model (put in eval mode here).
    series : np.ndarray
        (T, C) float32 ROI series of the whole video.
    k, stride : int
        Window length and step; use the training ``k``.
    batch_size : int
        Windows per forward pass (memory only).

    Returns
    -------
    SpotScores
        ``spot`` (T,) float32 and ``probs`` (T, K + 1) float32 softmax probabilities.
    """
    model.eval()
    series = np.asarray(series, np.float32)
    T = len(series)
    x = _pad_to(series, k)
    starts = window_starts(len(x), k, stride)
    windows = torch.from_numpy(x[starts[:, None] + np.arange(k)])  # (N, k, C)
    spot_sum = np.zeros(len(x), np.float64)
    prob_sum = np.zeros((len(x), model.config.n_classes + 1), np.float64)
    count = np.zeros(len(x), np.float64)
    for i in range(0, len(starts), batch_size):
        out = model(windows[i:i + batch_size])
        spot, probs = out.spot.numpy(), F.softmax(out.logits, dim=-1).numpy()
        for j, s in enumerate(starts[i:i + batch_size]):
            spot_sum[s:s + k] += spot[j]
            prob_sum[s:s + k] += probs[j]
            count[s:s + k] += 1
    return SpotScores((spot_sum / count)[:T].astype(np.float32),
                      (prob_sum / count[:, None])[:T].astype(np.float32))


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
    """

    scores: dict[str, SpotScores]
    history: pd.DataFrame
    k: int
    seconds: dict[str, float]


def loso_subjects(videos: pd.DataFrame, folds: str | int | Sequence[str] = "all") -> list[str]:
    """Held-out subjects of a LOSO run: ``"all"``, the first ``N`` (sorted), or an explicit list."""
    subjects = sorted(videos["subject"].astype(str).unique())
    if isinstance(folds, str) and folds == "all":
        return subjects
    if isinstance(folds, int | np.integer):
        if not 1 <= folds <= len(subjects):
            raise ValueError(f"folds={folds} but the data has {len(subjects)} subjects; pass 1..{len(subjects)}")
        return subjects[:folds]
    unknown = sorted(set(map(str, folds)) - set(subjects))
    if unknown:
        raise ValueError(f"unknown subjects {unknown}; the data has {subjects}")
    return [str(s) for s in folds]


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
        Which subjects to hold out (see :func:`loso_subjects`).
    config, train
        Model and training settings, the same for every fold (same seed).
    checkpoint_dir : path-like, optional
        ``<dir>/fold_<subject>.pt`` per fold, written every epoch; with ``resume=True`` finished folds
        are reloaded and an interrupted fold continues.
    progress : bool
        tqdm bars over folds, epochs and batches.

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
    scores, histories, seconds = {}, [], {}
    for subject in _bar(loso_subjects(videos, folds), progress, desc="LOSO"):
        t0 = time.perf_counter()
        held = videos["subject"] == subject
        train_series = {v: series[v] for v in videos.loc[~held, "video"]}
        ckpt = Path(checkpoint_dir) / f"fold_{subject}.pt" if checkpoint_dir is not None else None
        model, history = train_spotter(train_series, events, fps=fps, config=config, train=train,
                                       checkpoint=ckpt, resume=resume, progress=progress, desc=f"fold {subject}")
        for video in videos.loc[held, "video"]:
            scores[video] = predict_video(model, series[video], k=k)
        histories.append(history.assign(subject=subject))
        seconds[subject] = time.perf_counter() - t0
    return LosoResult(scores, pd.concat(histories, ignore_index=True), k, seconds)


def magnitude_scores(series: np.ndarray) -> np.ndarray:
    """Training-free baseline: ROI flow magnitude per frame, scaled to [0, 1] over the video.

    Parameters
    ----------
    series : np.ndarray
        (T, C) ROI series with C = 2 x ROIs, channels ``(dx, dy)`` per ROI, pixels.

    Returns
    -------
    np.ndarray
        (T,) float32: the mean over ROIs of ``sqrt(dx^2 + dy^2)``, min-max scaled (0 if flat).
    """
    x = np.asarray(series, np.float64)
    magnitude = np.hypot(x[:, 0::2], x[:, 1::2]).mean(axis=1)
    span = magnitude.max() - magnitude.min()
    return ((magnitude - magnitude.min()) / span if span > 0 else np.zeros_like(magnitude)).astype(np.float32)


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


# ---- MERba: onset-apex flow, AdamW + warm-up + cosine, single or DGCM head -------------------------

def hflip_flow(x: torch.Tensor) -> torch.Tensor:
    """Mirror flow images left-right: (B, C, S, S) with channel 0 = dx, which changes sign.

    Other channels (dy, magnitude or strain) are mirrored without a sign change.
    """
    x = x.flip(-1)
    return torch.cat([-x[:, :1], x[:, 1:]], dim=1)


class MERbaData:
    """Batches of onset-apex flow images with labels, shuffled and randomly mirrored per epoch.

    Parameters
    ----------
    flows : np.ndarray
        (N, C, S, S) float32 flow images, channel 0 = dx.
    labels : np.ndarray
        (N,) int64 indices into SEVEN_CLASSES.
    batch_size : int
        Samples per batch.
    flip : bool
        Mirror each sample with probability 1/2 (the paper's only augmentation).
    seed : int
        Order and flips of epoch ``e`` come from ``np.random.default_rng((seed, e))``.
    """

    def __init__(self, flows: np.ndarray, labels: np.ndarray, *, batch_size: int = 32, flip: bool = True,
                 seed: int = 0):
        if len(flows) != len(labels) or len(flows) == 0:
            raise ValueError(f"need as many labels as flow images (> 0), got {len(flows)} and {len(labels)}")
        self.flows = torch.tensor(np.asarray(flows, np.float32))
        self.labels = torch.tensor(np.asarray(labels, np.int64))
        self.batch_size, self.flip, self.seed = batch_size, flip, seed

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __call__(self, epoch: int):
        """Yield ``(x (B, C, S, S), labels (B,))`` of epoch ``epoch``."""
        rng = np.random.default_rng((self.seed, epoch))
        order = torch.from_numpy(rng.permutation(len(self.labels)))
        flips = torch.from_numpy(rng.random(len(self.labels)) < 0.5) & self.flip
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            x, f = self.flows[idx], flips[idx]
            yield torch.where(f[:, None, None, None], hflip_flow(x), x), self.labels[idx]


@dataclass
class MERbaTrainConfig:
    """Training settings of MERba (paper: AdamW, 5 warm-up epochs, cosine, 10 cool-down epochs, wd 0.05).

    ``alpha_start``/``alpha_end`` set the DGCM fine-loss weight (:func:`melab.models.merba.dgcm_alpha`).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    cooldown_epochs: int = 0
    alpha_start: float = 0.2
    alpha_end: float = 0.8
    balanced: bool = True
    seed: int = 0

    @classmethod
    def paper(cls, **overrides) -> MERbaTrainConfig:
        """Paper schedule for LOSO on 3DB-combined: 70 epochs, 5 warm-up, 10 cool-down."""
        return cls(**{"epochs": 70, "warmup_epochs": 5, "cooldown_epochs": 10, "batch_size": 128,
                      **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


def warmup_cosine(step: int, *, total: int, warmup: int, cooldown: int, floor: float) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, cosine down to ``floor``, then flat.

    Parameters
    ----------
    step : int
        Optimiser step (0-based).
    total, warmup, cooldown : int
        Steps in all, in the warm-up, and in the final flat cool-down.
    floor : float
        Multiplier reached at the end of the cosine (``min_lr / lr``).
    """
    if step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup - cooldown, 1)
    t = min((step - warmup) / span, 1.0)
    return floor + (1 - floor) * (1 + math.cos(math.pi * t)) / 2


def _balanced(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Balanced CE weights (:func:`melab.data.splits.class_weights`) of int labels 0..n_classes-1."""
    return torch.tensor(class_weights(labels.tolist(), list(range(n_classes))), dtype=torch.float32)


def train_merba(
    flows: np.ndarray,
    labels: np.ndarray,
    *,
    config: MERbaConfig | None = None,
    train: MERbaTrainConfig | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    desc: str = "merba",
) -> tuple[MERba, pd.DataFrame]:
    """Train a fresh MERba on onset-apex flow (AdamW, warm-up + cosine, CE or DGCM loss).

    Parameters
    ----------
    flows : np.ndarray
        (N, C, S, S) float32 flow images (``config.img_size`` = S and ``in_channels`` = C are set
        from them).
    labels : np.ndarray
        (N,) int64 indices into SEVEN_CLASSES.
    config : MERbaConfig, optional
        Model sizes and head (``MERbaConfig.tiny()`` by default).
    train : MERbaTrainConfig, optional
        Training settings.
    checkpoint, resume, progress
        See :func:`fit`.

    Returns
    -------
    model : MERba
        Trained, in eval mode, its BatchNorm statistics re-estimated on ``flows`` (:func:`recalibrate_batchnorm`).
    history : pd.DataFrame
        Per-epoch ``loss``, ``lr`` and ``coarse``/``fine``/``alpha`` (DGCM) or ``ce`` (single).
    """
    train = train or MERbaTrainConfig()
    flows, labels = np.asarray(flows, np.float32), np.asarray(labels, np.int64)
    config = MERbaConfig(**{**(config or MERbaConfig.tiny()).to_dict(), "in_channels": flows.shape[1],
                            "img_size": flows.shape[-1]})
    data = MERbaData(flows, labels, batch_size=train.batch_size, seed=train.seed)
    torch.manual_seed(train.seed)
    model = MERba(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    steps = len(data)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(
        s, total=train.epochs * steps, warmup=train.warmup_epochs * steps, cooldown=train.cooldown_epochs * steps,
        floor=train.min_lr / train.lr))
    weights = _balanced(labels, len(SEVEN_CLASSES)) if train.balanced else None
    if config.head == "single":
        def step(model, batch, epoch):
            x, y = batch
            loss = F.cross_entropy(model(x), y, weight=weights)
            return loss, {"ce": loss.item()}
    else:
        def step(model, batch, epoch):
            x, y = batch
            alpha = dgcm_alpha(epoch / max(train.epochs - 1, 1), start=train.alpha_start, end=train.alpha_end)
            coarse_logits, fine_logits = model(x)
            loss, parts = dgcm_loss(coarse_logits, fine_logits, y, alpha=alpha, class_weights=weights)
            return loss, {**parts, "alpha": alpha}

    history = fit(model, data, step, optimizer=optimizer, scheduler=scheduler, epochs=train.epochs,
                  checkpoint=checkpoint, resume=resume, seed=train.seed, config=train.to_dict(),
                  progress=progress, desc=desc)
    recalibrate_batchnorm(model, flows, batch_size=train.batch_size)
    return model, history


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, flows: np.ndarray, *, batch_size: int = 32) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on ``flows`` with the final weights.

    The running averages that training leaves behind mix statistics of weights from many steps ago;
    after a short run (a LOSO fold of the lab corpus is 40 steps) they no longer match what the final
    weights produce, and eval mode misclassifies even the training set. A pass of the (unaugmented)
    training images with a cumulative average fixes that (:func:`torch.optim.swa_utils.update_bn`).

    Parameters
    ----------
    model : nn.Module
        Trained model; left in eval mode.
    flows : np.ndarray
        (N, C, S, S) float32 training flow images.
    batch_size : int
        Images per forward pass.
    """
    x = torch.as_tensor(np.asarray(flows, np.float32))
    device = next(model.parameters()).device
    torch.optim.swa_utils.update_bn((x[i:i + batch_size] for i in range(0, len(x), batch_size)), model,
                                    device=device)
    return model.eval()


@torch.no_grad()
def predict_merba(model: MERba, flows: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """SEVEN_CLASSES indices (N,) int64 for flow images (N, C, S, S); DGCM decides coarse-to-fine."""
    model.eval()
    x = torch.as_tensor(np.asarray(flows, np.float32))
    preds = []
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size])
        preds.append(out.argmax(dim=1) if model.config.head == "single" else dgcm_predict(*out))
    return torch.cat(preds).numpy().astype(np.int64)


def loso_merba(
    flows: np.ndarray,
    samples: pd.DataFrame,
    *,
    folds: str | int | Sequence[str] = "all",
    config: MERbaConfig | None = None,
    train: MERbaTrainConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave-one-subject-out MERba: a fresh model per held-out subject.

    Parameters
    ----------
    flows : np.ndarray
        (N, C, S, S) onset-apex flow images.
    samples : pd.DataFrame
        N rows with ``subject`` and ``label`` (SEVEN_CLASSES index), e.g. from
        :func:`melab.data.synthetic.recognition_samples`.
    folds, config, train, checkpoint_dir, resume, progress
        As in :func:`loso`.

    Returns
    -------
    predictions : pd.DataFrame
        ``samples`` of the held-out subjects with ``pred`` (index) and ``true``/``predicted`` names.
    history : pd.DataFrame
        Training history of every fold with a ``subject`` column.
    """
    samples = samples.reset_index(drop=True).assign(subject=samples["subject"].astype(str).to_numpy())
    preds, histories = [], []
    for subject in _bar(loso_subjects(samples, folds), progress, desc="LOSO"):
        held = (samples["subject"] == subject).to_numpy()
        ckpt = Path(checkpoint_dir) / f"fold_{subject}.pt" if checkpoint_dir is not None else None
        model, history = train_merba(flows[~held], samples.loc[~held, "label"].to_numpy(), config=config,
                                     train=train, checkpoint=ckpt, resume=resume, progress=progress,
                                     desc=f"fold {subject}")
        pred = predict_merba(model, flows[held])
        preds.append(samples[held].assign(pred=pred))
        histories.append(history.assign(subject=subject))
    out = pd.concat(preds, ignore_index=True)
    out["true"] = [SEVEN_CLASSES[i] for i in out["label"]]
    out["predicted"] = [SEVEN_CLASSES[i] for i in out["pred"]]
    return out, pd.concat(histories, ignore_index=True)


# ---- command line and shipped artefacts ------------------------------------------------------------

def dataset_roi_corpus(dataset, *, landmarks: str = "mediapipe", cache_dir: str | os.PathLike | None = None,
                       processes: int = 2, progress: bool = True) -> RoiCorpus:
    """ROI series of a :class:`melab.data.dataset.Dataset` (real data: landmarks by MediaPipe), cached.

    Event frames are the positions inside each video (``VideoItem.events``); videos are keyed by name,
    or by ``subject/video`` when a dataset reuses names across subjects.
    """
    items = list(dataset)
    names = [it.video for it in items]
    if len(set(names)) < len(names):
        names = [f"{it.subject}/{it.video}" for it in items]
    events = pd.concat([it.events.assign(video=name) for it, name in zip(items, names, strict=True)],
                       ignore_index=True)
    videos = pd.DataFrame({"subject": [str(it.subject) for it in items], "video": names,
                           "n_frames": [it.n_frames for it in items], "fps": [it.fps for it in items]})
    cache = Path(cache_dir) if cache_dir is not None else Path(dataset.root) / "melab_cache"
    series = {}
    for fps, group in videos.groupby("fps"):
        arrays = extract_roi_series([(items[i].path, landmarks) for i in group.index], cache_dir=cache,
                                    k=default_k(fps), processes=processes, progress=progress)
        series.update(zip(group["video"], arrays, strict=True))
    return RoiCorpus(series, events, videos)


def resolve_data(data: str, *, progress: bool = True) -> tuple[str, Path]:
    """``--data`` spec -> (dataset kind, root): ``synthetic:<preset>`` (made if needed), ``corpus:<dir>``
    (a folder in the synthetic layout) or ``<kind>:<path>`` for a licensed dataset
    (casme3, samm_lv, casme2, samm, smic; see :class:`melab.data.dataset.Dataset`)."""
    from melab.data.dataset import KINDS

    kind, _, arg = data.partition(":")
    if kind == "synthetic":
        from melab.data.synthetic import make_corpus

        return "synthetic", make_corpus(arg or "lab", progress=progress)
    if kind == "corpus":
        return "synthetic", Path(arg)
    if kind in KINDS and arg:
        return kind, Path(arg)
    raise ValueError(f"unknown --data {data!r}: use synthetic:tiny|lab|bench, corpus:<dir> (the layout "
                     f"make_corpus writes) or <kind>:<path> with kind in {', '.join(KINDS[1:])}")


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
        LOSO over all subjects, over the first N, or no LOSO: one model trained on every subject.
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

    Returns
    -------
    dict
        Paths written and the wall time in seconds.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose spotter or merba")
    if preset not in ("tiny", "paper"):
        raise ValueError(f"unknown --config {preset!r}; choose tiny or paper")
    if epochs is not None and epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {epochs}")
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kind, corpus = resolve_data(data, progress=progress)
    written: dict[str, str] = {}
    if model == "spotter":
        config = getattr(SpotterConfig, preset)()
        train = SpotterTrainConfig.paper() if preset == "paper" else SpotterTrainConfig()
        train = SpotterTrainConfig(**{**asdict(train), "dataset": kind, **({"epochs": epochs} if epochs else {})})
        if kind == "synthetic":
            roi = roi_corpus(corpus, progress=progress)
        else:
            from melab.data.dataset import Dataset

            roi = dataset_roi_corpus(Dataset(corpus, kind=kind), progress=progress)
        if folds == "none":
            fps = float(roi.videos["fps"].median())
            net, history = train_spotter(roi.series, roi.events, fps=fps, config=config, train=train,
                                         checkpoint=out / "checkpoint.pt", resume=resume, progress=progress)
            # spot() reads the training rate and window from here (a 200 fps corpus is not 30 fps)
            written["model"] = str(save_model(out / "model.pt", net, train={
                **train.to_dict(), "fps": fps, "k": train.k or default_k(fps)}))
        else:
            result = loso(roi.series, roi.events, roi.videos, folds=folds, config=config, train=train,
                          checkpoint_dir=out, resume=resume, progress=progress)
            written["scores"] = str(save_scores(out / "scores.npz", result))
            history = result.history
    else:
        if kind != "synthetic":
            raise ValueError("`melab train merba` reads synthetic corpora; for real data compute onset-apex flow "
                             "with melab.flow.onset_apex_flow(frames, onset, apex, landmarks=...) and call "
                             "melab.train.train_merba or loso_merba")
        config = getattr(MERbaConfig, preset)()
        train = MERbaTrainConfig.paper() if preset == "paper" else MERbaTrainConfig()
        train = MERbaTrainConfig(**{**asdict(train), **({"epochs": epochs} if epochs else {})})
        flows, samples = merba_corpus(corpus, size=config.img_size, progress=progress)
        if folds == "none":
            net, history = train_merba(flows, samples["label"].to_numpy(), config=config, train=train,
                                       checkpoint=out / "checkpoint.pt", resume=resume, progress=progress)
            written["model"] = str(save_model(out / "model.pt", net, train=train.to_dict()))
        else:
            predictions, history = loso_merba(flows, samples, folds=folds, config=config, train=train,
                                              checkpoint_dir=out, resume=resume, progress=progress)
            with atomic_path(out / "predictions.csv") as tmp:
                predictions.to_csv(tmp, index=False)
            written["predictions"] = str(out / "predictions.csv")
    with atomic_path(out / "history.csv") as tmp:
        history.to_csv(tmp, index=False)
    written["history"] = str(out / "history.csv")
    return {**written, "seconds": round(time.perf_counter() - t0, 1)}


ARTEFACT_PARTS = ("spotter", "merba")


def build_artefacts(out_dir: str | os.PathLike = "data", *, preset: str = "lab",
                    parts: Sequence[str] = ARTEFACT_PARTS, threads: int | None = 1, progress: bool = True) -> dict:
    """Train and write the shipped artefacts (what ``make artefacts`` runs).

    Files (plain state dicts + JSON-able config, loadable with ``weights_only=True``):

    - part ``spotter``: ``roi_series_<preset>.npz``, the corpus' ROI series and tables
      (:func:`load_roi_corpus`), so notebooks need neither the corpus nor the flow extraction;
      ``spotter_<preset>.pt``, a tiny spotter trained on every video of the corpus; and
      ``spotter_<preset>_loso.npz``, its LOSO per-frame scores (:func:`load_scores`);
    - part ``merba``: ``merba_single_<preset>.pt`` and ``merba_dgcm_<preset>.pt``, tiny MERba with
      both heads on every ME; ``merba_<preset>_loso.csv``, LOSO predictions of both heads (column ``head``);
    - ``artefacts.json``: sizes in bytes, build seconds and the settings used. Entries of parts not
      rebuilt are kept from the existing manifest.

    Parameters
    ----------
    out_dir : path-like
        Output folder (the repository's ``data/``).
    preset : str
        Synthetic corpus preset.
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
    from melab.data.synthetic import make_corpus

    t0 = time.perf_counter()
    corpus = make_corpus(preset, progress=progress)
    files: dict[str, dict] = {}

    def done(path: Path, started: float, **info):
        files[path.name] = {"bytes": path.stat().st_size, "seconds": round(time.perf_counter() - started, 1),
                            **info}

    if "spotter" in parts:
        roi = roi_corpus(corpus, progress=progress)
        fps = float(roi.videos["fps"].median())
        t = time.perf_counter()
        done(save_roi_corpus(out / f"roi_series_{preset}.npz", roi), t)

        t = time.perf_counter()
        spot_train = SpotterTrainConfig(epochs=10)
        model, history = train_spotter(roi.series, roi.events, fps=fps, train=spot_train, progress=progress)
        path = save_model(out / f"spotter_{preset}.pt", model,
                          train={**spot_train.to_dict(), "fps": fps, "k": spot_train.k or default_k(fps)},
                          history=history.to_dict("list"))
        done(path, t, train=spot_train.to_dict())

        t = time.perf_counter()
        loso_train = SpotterTrainConfig()
        result = loso(roi.series, roi.events, roi.videos, train=loso_train, progress=progress)
        done(save_scores(out / f"spotter_{preset}_loso.npz", result), t, train=loso_train.to_dict(), k=result.k)

    if "merba" in parts:
        flows, samples = merba_corpus(corpus, size=MERbaConfig.tiny().img_size, progress=progress)
        merba_train = MERbaTrainConfig()
        predictions, loso_seconds = [], 0.0
        for head in ("single", "dgcm"):
            t = time.perf_counter()
            config = MERbaConfig.tiny(head=head)
            model, history = train_merba(flows, samples["label"].to_numpy(), config=config, train=merba_train,
                                         progress=progress)
            path = save_model(out / f"merba_{head}_{preset}.pt", model, train=merba_train.to_dict(),
                              history=history.to_dict("list"))
            done(path, t, train=merba_train.to_dict())
            t = time.perf_counter()
            pred, _ = loso_merba(flows, samples, config=config, train=merba_train, progress=progress)
            predictions.append(pred.assign(head=head))
            loso_seconds += time.perf_counter() - t
        csv = out / f"merba_{preset}_loso.csv"
        with atomic_path(csv) as tmp:
            pd.concat(predictions, ignore_index=True).to_csv(tmp, index=False)
        done(csv, time.perf_counter() - loso_seconds)

    manifest_path = out / "artefacts.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    kept = old.get("files", {}) if old.get("preset") == preset else {}
    manifest = {"preset": preset, "files": {**kept, **files},
                "seconds": {**old.get("seconds", {}), **{p: round(time.perf_counter() - t0, 1) for p in parts}},
                "torch": torch.__version__}
    write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return manifest
