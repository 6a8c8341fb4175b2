"""Inference: load a trained model (melab's checkpoint or official weights) and score whole videos.

This is what ``melab spot`` and the lessons need from a model once it is trained, and nothing more: it imports
nothing from :mod:`melab.train` (which uses it, and re-exports its names).

- :func:`read_checkpoint` / :func:`load_model` read melab checkpoints safely (``weights_only=True``) and rebuild
  the Spotter or MERba from its config; :func:`load_state` names every mismatched key.
- :func:`predict_video` scores every frame of a video by stitching overlapping spotter windows of the input the
  model was trained on (``model.config.input``, :mod:`melab.inputs`): official weights read each window relative
  to its first frame, melab's default model multi-scale temporal contrast and velocity.
- :func:`load_spotter` loads a spotter with what decoding needs to know about it (:class:`SpotterModel`: frame
  rate, window, class names, layout), from a melab checkpoint or an official ``METST_SF`` weight file;
  :func:`spotter_scores` gives its whole-video scores from an ROI series.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from melab import ARTEFACTS
from melab.data.labels import str3_classes
from melab.device import model_device, resolve_device
from melab.flow import default_k
from melab.inputs import input_windows, spotter_input
from melab.models.merba import MERba, MERbaConfig
from melab.models.spotter import Spotter, SpotterConfig, load_official, official_family, read_state_dict
from melab.weights import config_from, load_weights

__all__ = [
    "CHECKPOINT_FORMAT", "MODELS", "load_state", "read_checkpoint", "load_model",
    "SpotScores", "predict_video",
    "DEFAULT_CHECKPOINT", "DEFAULT_FPS", "OFFICIAL_DATASETS", "SpotterModel", "load_spotter", "spotter_scores",
]

CHECKPOINT_FORMAT = "melab-checkpoint-1"
MODELS = {"spotter": (Spotter, SpotterConfig), "merba": (MERba, MERbaConfig)}

DEFAULT_CHECKPOINT = ARTEFACTS / "spotter_lab.pt"
DEFAULT_FPS = 30.0  # the rate of every corpus melab trains on by default (synthetic, CAS(ME)^3)
# Dataset -> (frame rate, window k) of the official weights (main.py of BoostingVRME: frame_skip, k).
OFFICIAL_DATASETS: dict[str, tuple[float, int]] = {"casme3": (30.0, 50), "samm_lv": (200.0 / 7, 30)}


# ---- checkpoints ----------------------------------------------------------------------------------

def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "checkpoint",
               check_only: bool = False) -> nn.Module:
    """Load a state dict strictly, with an error that names every mismatched key.

    Parameters
    ----------
    model : nn.Module
        Model to fill.
    state : mapping
        State dict, e.g. ``torch.load(path, weights_only=True)["model"]``.
    source : str
        Where the state came from, for the message.
    check_only : bool
        Compare names and shapes only (e.g. for a model built on the ``meta`` device).

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
    if not check_only:
        model.load_state_dict(state)
    return model


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a melab checkpoint safely (``weights_only=True``) and check its format and the entries every reader
    uses: ``kind`` (a key of :data:`MODELS`), ``config`` (a mapping), ``model`` (names to tensors) and, where
    present, ``epoch`` (a whole number), ``train`` and ``history`` (mappings). Anything else is a ValueError
    naming the file and the entry."""
    path = Path(path)
    ckpt = load_weights(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a melab checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    kind = ckpt.get("kind")
    problem = (
        f"its kind {kind!r} is not one of {', '.join(MODELS)}" if not isinstance(kind, str) or kind not in MODELS
        else "its config is not a mapping" if not isinstance(ckpt.get("config"), Mapping)
        else "its model entry is not a mapping of names to tensors"
        if not isinstance(ckpt.get("model"), Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                                 for k, v in ckpt["model"].items())
        else f"its epoch {ckpt['epoch']!r} is not a whole number" if "epoch" in ckpt and (
            not isinstance(ckpt["epoch"], int) or isinstance(ckpt["epoch"], bool) or ckpt["epoch"] < 0)
        else next((f"its {key} entry is not a mapping" for key in ("train", "history")
                   if key in ckpt and not isinstance(ckpt[key], Mapping)), None)
    )
    if problem:
        raise ValueError(f"checkpoint {path} is damaged or was not written by melab: {problem}. Delete it, or copy "
                         "it again")
    return ckpt


def load_model(path: str | os.PathLike) -> nn.Module:
    """Rebuild a Spotter or MERba from a checkpoint's config and load its weights (eval mode).

    The config is checked (:func:`melab.weights.config_from`) and the model is first built without memory (on
    torch's ``meta`` device) to compare its tensor names and shapes with the checkpoint's, so a damaged config
    is a ValueError naming the file, never a model of absurd size.

    Parameters
    ----------
    path : path-like
        File written by :func:`melab.train.save_model` or :func:`melab.train.fit`.

    Returns
    -------
    Spotter or MERba
    """
    ckpt = read_checkpoint(path)
    model_cls, config_cls = MODELS[ckpt["kind"]]
    config = config_from(config_cls, ckpt["config"], source=f"checkpoint {path}")
    try:
        with torch.device("meta"):
            shell = model_cls(config)
    except (RuntimeError, ValueError, TypeError) as err:
        raise ValueError(f"checkpoint {path}: its config does not build a {model_cls.__name__} ({err})") from None
    load_state(shell, ckpt["model"], source=str(path), check_only=True)
    return load_state(model_cls(config), ckpt["model"], source=str(path)).eval()


# ---- whole-video scores ---------------------------------------------------------------------------

class SpotScores(NamedTuple):
    """Whole-video scores: ``spot`` (T,) in [0, 1] and ``probs`` (T, K + 1), neutral last."""

    spot: np.ndarray
    probs: np.ndarray


@torch.no_grad()
def predict_video(model: Spotter, series: np.ndarray, *, k: int, stride: int | None = None,
                  batch_size: int = 64, device: str | torch.device | None = None) -> SpotScores:
    """Score every frame of a video by stitching overlapping windows of the model's input.

    The ROI series becomes the input the model was trained on (:func:`melab.inputs.spotter_input` of
    ``model.config.input``, computed on the whole video), cut into the windows of :func:`melab.inputs.input_windows`
    (length ``k``, stride ``k/2``, the last one anchored at the end; relative to their first frame for the
    official ``"window"`` input). They cover every frame once or twice; a frame's score is the mean over the
    windows that cover it, so the stitched curve has no gap and no zeroed head or tail. Each window is scored on
    its own (melab's layout has no batch statistics), so the result does not depend on ``batch_size``. This is the
    one place where scores are made, for LOSO folds, ``melab spot`` and official weights alike.

    Parameters
    ----------
    model : Spotter
        Trained model (put in eval mode here).
    series : np.ndarray
        (T, C) float32 ROI series of the whole video (:func:`melab.flow.roi_series` of the model's layout).
    k, stride : int
        Window length and step; use the training ``k``.
    batch_size : int
        Windows per forward pass (memory only).
    device : {"cpu", "auto", "cuda", "cuda:N"}, optional
        Where to score: the model moves there (like ``model.to``). None scores where the model is.

    Returns
    -------
    SpotScores
        ``spot`` (T,) float32 and ``probs`` (T, K + 1) float32 softmax probabilities.

    Raises
    ------
    ValueError
        When the series does not give the model's input width (another ROI set, or a series of another model).
    """
    device = model_device(model) if device is None else resolve_device(device)
    model.to(device).eval()
    kind = model.config.input
    x = spotter_input(series, kind)
    if x.shape[1] != model.config.in_channels:
        raise ValueError(f"an ROI series of {np.shape(series)[1]} channels gives {x.shape[1]} {kind!r} input channels,"
                         f" but this spotter reads {model.config.in_channels}; extract the series with the ROIs and "
                         "layout it was trained on")
    T = len(x)
    windows, starts = input_windows(x, k, kind, stride=stride)
    windows = torch.from_numpy(windows)  # (N, k, C')
    n = max(T, k)
    spot_sum = np.zeros(n, np.float64)
    prob_sum = np.zeros((n, model.config.n_classes + 1), np.float64)
    count = np.zeros(n, np.float64)
    for i in range(0, len(starts), batch_size):
        out = model(windows[i:i + batch_size].to(device))
        spot, probs = out.spot.cpu().numpy(), F.softmax(out.logits, dim=-1).cpu().numpy()
        for j, s in enumerate(starts[i:i + batch_size]):
            spot_sum[s:s + k] += spot[j]
            prob_sum[s:s + k] += probs[j]
            count[s:s + k] += 1
    return SpotScores((spot_sum / count)[:T].astype(np.float32),
                      (prob_sum / count[:, None])[:T].astype(np.float32))


# ---- a spotter for `melab spot` -------------------------------------------------------------------

@dataclass(frozen=True)
class SpotterModel:
    """A trained spotter with what decoding needs to know about it.

    Attributes
    ----------
    model : Spotter in eval mode.
    fps : frame rate of its training data (frames per second).
    k : its window length in frames at ``fps`` (flow windows and spotter windows alike).
    labels : names of its recognition outputs, neutral last.
    path : the checkpoint file.
    layout : ``"melab"``, or ``"reference"`` for official weights (reference ROI series, relative windows).
    """

    model: Spotter
    fps: float
    k: int
    labels: tuple[str, ...]
    path: Path
    layout: str = "melab"


def load_spotter(checkpoint: str | os.PathLike | None = None, *, official: str = "casme3") -> SpotterModel:
    """Load a spotter checkpoint (default: the shipped ``data/spotter_lab.pt``).

    The training frame rate is the checkpoint's ``train["fps"]``; a checkpoint that does not record it was
    trained on a 30 fps corpus (melab's synthetic presets, CAS(ME)^3). The window is ``train["k"]``, or
    :func:`melab.flow.default_k` of that rate. An official ``METST_SF`` weight file is recognised by its
    tensor names; ``official`` (a key of :data:`OFFICIAL_DATASETS`) says which dataset it was trained on.
    """
    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    if checkpoint is None and not path.exists():
        raise FileNotFoundError(f"the shipped spotter {path} is missing; run `make artefacts` or pass "
                                "--checkpoint PATH (a model.pt from `melab train spotter --folds none`)")
    if official not in OFFICIAL_DATASETS:
        raise ValueError(f"unknown official dataset {official!r}; choose one of {', '.join(OFFICIAL_DATASETS)}")
    if official_family(read_state_dict(path)) is not None:  # BoostingVRME's, ME-TST+'s (or Net_Mamba: refused)
        fps, k = OFFICIAL_DATASETS[official]
        return SpotterModel(load_official(path), fps, k, str3_classes(official) + ("neutral",), path, "reference")
    ckpt = read_checkpoint(path)
    if ckpt["kind"] != "spotter":
        raise ValueError(f"{path} holds a {ckpt['kind']} model; melab spot needs a spotter checkpoint")
    train = ckpt.get("train") or {}
    fps, k, dataset = train.get("fps") or DEFAULT_FPS, train.get("k"), train.get("dataset", "synthetic")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 1 <= fps <= 10_000:
        raise ValueError(f"checkpoint {path}: its training frame rate train.fps={fps!r} is not a rate in frames per "
                         "second (1 to 10000)")
    fps = float(fps)
    k = default_k(fps) if k is None else k
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 100_000:
        raise ValueError(f"checkpoint {path}: its window train.k={k!r} is not a whole number of frames from 2")
    try:
        labels = str3_classes(dataset) + ("neutral",)
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path}: its train.dataset {dataset!r} is not a dataset melab knows "
                         f"({err})") from None
    model = load_model(path)
    if len(labels) != model.config.n_classes + 1:
        raise ValueError(f"{path} has {model.config.n_classes + 1} recognition outputs but its dataset "
                         f"{train.get('dataset')!r} names {len(labels)} ({', '.join(labels)})")
    return SpotterModel(model, fps, k, labels, path)


def spotter_scores(spotter: SpotterModel, series: np.ndarray) -> SpotScores:
    """Whole-video scores of a loaded spotter from the ROI series of its layout (:func:`melab.flow.roi_series`
    with ``layout=spotter.layout``): :func:`predict_video` at the spotter's window, in the input its checkpoint
    records (official weights: each window relative to its first frame)."""
    return predict_video(spotter.model, series, k=spotter.k)
