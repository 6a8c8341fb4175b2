"""The training loop and its checkpoints: seeded, resumable bit-identically, written atomically.

- :func:`fit` is the loop: seeded, deterministic, one tqdm bar over epochs and one over batches,
  a history DataFrame, an atomic checkpoint after every epoch and ``resume=True`` that continues
  bit-identically from the last one. It runs on the model's device or on ``device``
  (:mod:`melab.device`); checkpoints hold CPU tensors whatever the device, so a run resumes on
  any device.
- :func:`save_model` writes a plain state dict with a JSON-able config; :mod:`melab.inference` reads it back
  (:func:`~melab.inference.load_model`, ``torch.load(weights_only=True)``; :func:`~melab.inference.load_state`
  names every mismatched key).
- :class:`EarlyStopping` makes :func:`fit` keep the weights of the epoch with the best validation metric and
  stop when that metric has not improved for ``patience`` epochs.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from melab.atomic import atomic_path
from melab.device import deterministic, model_device, resolve_device, to_device
from melab.inference import CHECKPOINT_FORMAT, MODELS, load_state, read_checkpoint


def progress_bar(iterable: Iterable, progress: bool, **kwargs) -> Iterable:
    """A tqdm bar when ``progress``; ``TQDM_DISABLE=1`` in the environment silences it (tqdm's
    notebook bars do not read that variable themselves)."""
    quiet = os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true")
    return tqdm(iterable, **kwargs) if progress and not quiet else iterable


# ---- checkpoints ----------------------------------------------------------------------------------

def _atomic_save(obj: dict, path: Path) -> None:
    """``torch.save`` through :func:`melab.atomic.atomic_path`: a crash never leaves half a file.

    The checkpoint is serialised in memory first, so a failing disk (full, read-only) raises the ``OSError`` of
    the write, naming the file, not torch's ``RuntimeError`` from inside its zip writer.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(buffer.getbuffer())


def _model_kind(model: nn.Module) -> str:
    for kind, (cls, _) in MODELS.items():
        if isinstance(model, cls):
            return kind
    raise TypeError(f"cannot checkpoint a {type(model).__name__}; melab checkpoints hold a Spotter or MERba")


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


# ---- the training loop ----------------------------------------------------------------------------

@dataclass(frozen=True)
class EarlyStopping:
    """Keep the best epoch by a validation metric; stop after ``patience`` epochs without improvement.

    Attributes
    ----------
    metric : str
        A key of the ``evaluate`` dict of :func:`fit` (e.g. ``"val_auc"``), measured on data the model does not
        train on.
    patience : int
        Epochs without a strict improvement after which training stops (>= 1).
    mode : {"max", "min"}
        Whether larger or smaller is better.
    min_epochs : int
        Never stop before this many epochs (a schedule's warm-up is not a plateau).
    """

    metric: str
    patience: int = 5
    mode: str = "max"
    min_epochs: int = 1

    def __post_init__(self):
        if self.mode not in ("max", "min"):
            raise ValueError(f"EarlyStopping mode must be 'max' or 'min', got {self.mode!r}")
        if self.patience < 1 or self.min_epochs < 1:
            raise ValueError(f"EarlyStopping needs patience >= 1 and min_epochs >= 1, got {self.patience}, "
                             f"{self.min_epochs}")

    def better(self, value: float, best: float | None) -> bool:
        """Whether ``value`` improves strictly on ``best`` (None: nothing yet; NaN never improves)."""
        if value != value:  # NaN: e.g. a validation subject without any ME
            return False
        return best is None or (value > best if self.mode == "max" else value < best)


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
    device: str | torch.device | None = None,
    early_stopping: EarlyStopping | None = None,
) -> pd.DataFrame:
    """Train ``model`` for ``epochs``, checkpointing every epoch; resume bit-identically.

    Parameters
    ----------
    model : nn.Module
        Model with a ``config.to_dict()`` (Spotter or MERba); trained in place.
    batches : callable
        ``batches(epoch)`` yields the batches of that epoch (tensors, or tuples / dicts of them, on
        the CPU). It must be a pure function of the epoch (seed any shuffling with the epoch), which
        is what makes resuming exact, and on every device the same.
    step : callable
        ``step(model, batch, epoch) -> (loss, parts)``: the scalar loss and a dict of floats that are
        averaged into the history. The batch's tensors arrive on the model's device.
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
    device : {"auto", "cpu", "cuda", "cuda:N"}, optional
        Where to train (:func:`melab.device.resolve_device`): the model moves there, and so does
        every batch. None trains where the model is. On CUDA the determinism switches of
        :func:`melab.device.deterministic` are on, and the checkpoint also keeps the GPU's
        generator state; CUDA runs are not bit-identical to CPU runs (see :mod:`melab.device`).
    early_stopping : EarlyStopping, optional
        Needs ``evaluate``. After every epoch the metric is compared with the best so far; the best epoch's
        weights are kept (in the checkpoint too, so a resumed run keeps them), training stops after
        ``patience`` epochs without improvement, and the model returned holds the best epoch's weights. Without
        a single finite value of the metric the last epoch's weights stay.

    Returns
    -------
    pd.DataFrame
        One row per epoch: ``epoch``, ``loss``, the averaged ``parts``, ``lr`` (the learning rate of the epoch's
        last step) and the ``evaluate`` metrics; with ``early_stopping`` also ``best`` (True on the epoch whose
        weights the model holds).
    """
    if early_stopping is not None and evaluate is None:
        raise ValueError("early_stopping needs an evaluate function that measures its metric "
                         f"{early_stopping.metric!r} on validation data")
    device = model_device(model) if device is None else resolve_device(device)
    model.to(device)
    path = Path(checkpoint) if checkpoint is not None else None
    history: list[dict] = []
    start = 0
    best: dict = {"epoch": 0, "value": None, "model": None}  # the early-stopping record
    stopped = False
    config = {**dict(config or {}), **({"early_stopping": asdict(early_stopping)} if early_stopping else {})}
    if resume and path is not None and path.exists():
        ckpt = read_checkpoint(path)
        changed = sorted(k for k in set(ckpt["train"]) | set(config)
                         if ckpt["train"].get(k) != config.get(k))
        if changed:
            raise ValueError(f"{path} was trained with other settings ({', '.join(changed)}); resume with the "
                             "same settings, or start afresh without resume=True (or in another folder)")
        load_state(model, ckpt["model"], source=str(path))
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"])
        if device.type == "cuda" and "cuda_rng" in ckpt:
            torch.cuda.set_rng_state(ckpt["cuda_rng"], device)
        history = pd.DataFrame(ckpt["history"]).to_dict("records")
        start = int(ckpt["epoch"])
        best = ckpt.get("best", best)
        stopped = bool(ckpt.get("stopped", False))
    else:
        torch.manual_seed(seed)  # every device's generator
    cpu = torch.device("cpu")
    with deterministic(device):
        for epoch in progress_bar(range(start, epochs if not stopped else start), progress, desc=desc,
                                  initial=start, total=epochs, leave=False):
            model.train()
            total, n, sums = 0.0, 0, {}
            for batch in progress_bar(batches(epoch), progress, desc=f"epoch {epoch + 1}", leave=False):
                loss, parts = step(model, to_device(batch, device), epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                lr = optimizer.param_groups[0]["lr"]  # the rate this step uses (the scheduler moves it after)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                total, n = total + loss.item(), n + 1
                for key, value in parts.items():
                    sums[key] = sums.get(key, 0.0) + value
            if n == 0:
                raise ValueError(f"epoch {epoch} produced no batches; check the training data")
            row = {"epoch": epoch + 1, "loss": total / n, **{k: v / n for k, v in sums.items()}, "lr": lr}
            if evaluate is not None:
                model.eval()
                with torch.no_grad():
                    row.update(evaluate(model, epoch))
            history.append(row)
            if early_stopping is not None:
                value = float(row.get(early_stopping.metric, float("nan")))
                if early_stopping.metric not in row:
                    raise ValueError(f"evaluate returned no {early_stopping.metric!r} (it returned "
                                     f"{sorted(k for k in row if k not in ('epoch', 'loss', 'lr'))})")
                if early_stopping.better(value, best["value"]):
                    best = {"epoch": epoch + 1, "value": value,  # a copy: the live weights keep training
                            "model": {k: v.detach().to(cpu, copy=True) for k, v in model.state_dict().items()}}
                stopped = (epoch + 1 >= early_stopping.min_epochs and best["value"] is not None
                           and epoch + 1 - best["epoch"] >= early_stopping.patience)
            if path is not None:  # CPU tensors: the checkpoint resumes on any device
                _atomic_save({
                    "format": CHECKPOINT_FORMAT, "kind": _model_kind(model), "config": model.config.to_dict(),
                    "train": dict(config or {}), "model": to_device(model.state_dict(), cpu),
                    "optimizer": to_device(optimizer.state_dict(), cpu),
                    "scheduler": scheduler.state_dict() if scheduler is not None else {},
                    "rng": torch.get_rng_state(), "epoch": epoch + 1,
                    "history": pd.DataFrame(history).to_dict("list"),
                    **({"best": best, "stopped": stopped} if early_stopping is not None else {}),
                    **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
                }, path)
            if stopped:
                break
    model.eval()
    history = pd.DataFrame(history)
    if early_stopping is not None:
        if best["model"] is not None:
            load_state(model, best["model"], source="the best epoch")
        history["best"] = history["epoch"] == (best["epoch"] if best["model"] is not None else len(history))
    return history
