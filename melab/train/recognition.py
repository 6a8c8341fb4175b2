"""Recognition: MERba on onset-apex flow images, trained with AdamW + warm-up + cosine, single or DGCM head.

- :class:`MERbaData` shuffles and randomly mirrors flow images (:func:`hflip_flow`) per epoch.
- :func:`train_merba` trains a fresh MERba through :func:`melab.train.loop.fit` and re-estimates its
  BatchNorm statistics with the final weights (:func:`recalibrate_batchnorm`).
- :func:`predict_merba` gives SEVEN_CLASSES indices (DGCM decides coarse-to-fine).
- :func:`loso_merba` holds out one subject at a time (:func:`merba_fold`, run by
  :func:`melab.train.loso.run_folds`); :func:`split_merba` trains on a fixed split's training subjects and
  predicts its test sets A and B (DFME, the synthetic clips).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from melab.data.splits import SEVEN_CLASSES, class_weights
from melab.device import model_device, resolve_device
from melab.models.merba import MERba, MERbaConfig, dgcm_alpha, dgcm_loss, dgcm_predict
from melab.train.loop import fit
from melab.train.loso import Executor, fold_device, loso_subjects, make_executor, run_folds


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
    device: str | torch.device = "cpu",
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
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where to train (:mod:`melab.device`). The initial weights, the order and the flips are
        the same on every device (drawn on the CPU); CUDA runs are not bit-identical to CPU runs.

    Returns
    -------
    model : MERba
        Trained, in eval mode, on ``device``, its BatchNorm statistics re-estimated on ``flows``
        (:func:`recalibrate_batchnorm`).
    history : pd.DataFrame
        Per-epoch ``loss``, ``lr`` and ``coarse``/``fine``/``alpha`` (DGCM) or ``ce`` (single).
    """
    train = train or MERbaTrainConfig()
    device = resolve_device(device)
    flows, labels = np.asarray(flows, np.float32), np.asarray(labels, np.int64)
    config = MERbaConfig(**{**(config or MERbaConfig.tiny()).to_dict(), "in_channels": flows.shape[1],
                            "img_size": flows.shape[-1]})
    data = MERbaData(flows, labels, batch_size=train.batch_size, seed=train.seed)
    torch.manual_seed(train.seed)
    model = MERba(config).to(device)  # initial weights drawn on the CPU whatever the device
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    steps = len(data)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(
        s, total=train.epochs * steps, warmup=train.warmup_epochs * steps, cooldown=train.cooldown_epochs * steps,
        floor=train.min_lr / train.lr))
    weights = _balanced(labels, len(SEVEN_CLASSES)).to(device) if train.balanced else None
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
                  progress=progress, desc=desc, device=device)
    recalibrate_batchnorm(model, flows, batch_size=train.batch_size)
    return model, history


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, flows: np.ndarray, *, batch_size: int = 32,
                          device: str | torch.device | None = None) -> nn.Module:
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
    device : {"cpu", "auto", "cuda", "cuda:N"}, optional
        Where to run the pass: the model moves there (``update_bn`` moves only the images). None runs
        where the model is.
    """
    x = torch.as_tensor(np.asarray(flows, np.float32))
    device = model_device(model) if device is None else resolve_device(device)
    model.to(device)
    torch.optim.swa_utils.update_bn((x[i:i + batch_size] for i in range(0, len(x), batch_size)), model,
                                    device=device)
    return model.eval()


@torch.no_grad()
def predict_merba(model: MERba, flows: np.ndarray, *, n_classes: int = len(SEVEN_CLASSES),
                  batch_size: int = 64, device: str | torch.device | None = None) -> np.ndarray:
    """Class indices (N,) int64 for flow images (N, C, S, S).

    With the seven classes a DGCM decides coarse-to-fine. A task with fewer classes (the 3-class MEGC 2019
    composite) is trained on a single head whose first ``n_classes`` outputs stand for them; the others
    see no sample and are not read. ``device`` ("cpu", "auto", "cuda", "cuda:N") moves the model there
    first (like ``model.to``); None predicts where the model is.
    """
    if n_classes != len(SEVEN_CLASSES) and model.config.head != "single":
        raise ValueError(f"{n_classes} classes need MERbaConfig(head='single'); the DGCM speaks the seven classes")
    device = model_device(model) if device is None else resolve_device(device)
    model.to(device).eval()
    x = torch.as_tensor(np.asarray(flows, np.float32))
    preds = []
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size].to(device))
        preds.append(out[:, :n_classes].argmax(dim=1).cpu() if model.config.head == "single"
                     else dgcm_predict(*out))
    return torch.cat(preds).numpy().astype(np.int64)


def merba_fold(subject: str, *, flows: np.ndarray, samples: pd.DataFrame, config: MERbaConfig | None,
               train: MERbaTrainConfig | None, classes: Sequence[str], checkpoint: Path | None,
               progress: bool, device: str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame]:
    """One LOSO fold of MERba: train without ``subject``, predict its samples.

    Returns the held-out rows of ``samples`` with a ``pred`` column, and the fold's history (arguments as
    in :func:`loso_merba`). Resumes from ``checkpoint`` when it exists. ``device`` is resolved where the
    fold runs (on a Ray worker, ``"cuda"`` is the GPU Ray assigned it).
    """
    held = (samples["subject"] == subject).to_numpy()
    model, history = train_merba(flows[~held], samples.loc[~held, "label"].to_numpy(), config=config, train=train,
                                 checkpoint=checkpoint, resume=True, progress=progress, desc=f"fold {subject}",
                                 device=device)
    pred = predict_merba(model, flows[held], n_classes=len(classes))
    return samples[held].assign(pred=pred), history.assign(subject=subject)


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
    executor: str | Executor = "local",
    classes: Sequence[str] = SEVEN_CLASSES,
    device: str = "cpu",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave-one-subject-out MERba: a fresh model per held-out subject.

    Parameters
    ----------
    flows : np.ndarray
        (N, C, S, S) onset-apex flow images.
    samples : pd.DataFrame
        N rows with ``subject`` and ``label`` (index into ``classes``), e.g. from
        :func:`melab.data.synthetic.recognition_samples`.
    folds, config, train, checkpoint_dir, resume, progress, executor, device
        As in :func:`melab.train.spotting.loso`.
    classes : sequence of str
        Class names; fewer than the seven need a single head (see :func:`predict_merba`).

    Returns
    -------
    predictions : pd.DataFrame
        ``samples`` of the held-out subjects with ``pred`` (index) and ``true``/``predicted`` names.
    history : pd.DataFrame
        Training history of every fold with a ``subject`` column.
    """
    samples = samples.reset_index(drop=True).assign(subject=samples["subject"].astype(str).to_numpy())
    executor = make_executor(executor)
    runs = run_folds(merba_fold, loso_subjects(samples, folds), checkpoint_dir=checkpoint_dir, resume=resume,
                     executor=executor, progress=progress,
                     shared=dict(flows=flows, samples=samples, config=config, train=train, classes=tuple(classes),
                                 device=fold_device(device, executor)))
    out = pd.concat([run.value[0] for run in runs.values()], ignore_index=True)
    out["true"] = [classes[i] for i in out["label"]]
    out["predicted"] = [classes[i] for i in out["pred"]]
    return out, pd.concat([run.value[1] for run in runs.values()], ignore_index=True)


def split_merba(
    flows: np.ndarray,
    samples: pd.DataFrame,
    split,
    *,
    config: MERbaConfig | None = None,
    train: MERbaTrainConfig | None = None,
    classes: Sequence[str] = SEVEN_CLASSES,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    desc: str = "MERba train",
    device: str = "cpu",
) -> tuple[MERba, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A fixed subject split, as DFME's: train on ``split.train``, predict test sets A and B.

    Parameters
    ----------
    flows : np.ndarray
        (N, C, S, S) onset-apex flow images.
    samples : pd.DataFrame
        N rows with ``subject`` and ``label`` (index into ``classes``).
    split : DfmeSplit
        Subjects of ``train``, ``test_a`` and ``test_b`` (:class:`melab.data.splits.DfmeSplit`).
    config, train, checkpoint, resume, progress, desc, device
        As in :func:`train_merba`.
    classes : sequence of str
        Class names of the labels.

    Returns
    -------
    model : MERba
        Trained on the training subjects.
    history : pd.DataFrame
        Its training history.
    predictions : pd.DataFrame
        The test samples with ``part`` (test_a, test_b), ``pred`` (index), ``true`` and ``predicted`` (names).
    scores : pd.DataFrame
        Index ``test_a``, ``test_b``, ``test_ab`` (both pooled); columns ``uf1, uar, acc, n``.
    """
    from melab.metrics import recognition_scores

    masks = split.masks(samples["subject"].astype(str))
    if not masks["train"].any():
        raise ValueError("no sample belongs to the split's training subjects; the protocol trains on them")
    labels = samples["label"].to_numpy()
    model, history = train_merba(flows[masks["train"]], labels[masks["train"]], config=config, train=train,
                                 checkpoint=checkpoint, resume=resume, progress=progress, desc=desc, device=device)
    parts = []
    for part in ("test_a", "test_b"):
        held = masks[part]
        pred = predict_merba(model, flows[held], n_classes=len(classes)) if held.any() else np.zeros(0, np.int64)
        parts.append(samples[held].assign(part=part, pred=pred))
    predictions = pd.concat(parts, ignore_index=True)
    predictions["true"] = [classes[i] for i in predictions["label"]]
    predictions["predicted"] = [classes[i] for i in predictions["pred"]]
    scores = {}
    for part, rows in (*predictions.groupby("part"), ("test_ab", predictions)):
        s = recognition_scores(list(rows["true"]), list(rows["predicted"]), classes)
        scores[part] = {"uf1": s.uf1, "uar": s.uar, "acc": s.acc, "n": s.n}
    return model, history, predictions, pd.DataFrame.from_dict(scores, orient="index").rename_axis("set")
