"""Leave-one-subject-out: one driver for every model; folds run in this process or on a Ray cluster.

A LOSO run is a list of held-out subjects and a *fold function* that trains a fresh model without one
subject and predicts that subject's samples. :func:`run_folds` calls it once per subject through an
executor and returns the results in subject order, whatever order they finish in. It knows folds,
checkpoints and executors, not models: :func:`melab.train.spotting.loso` and
:func:`melab.train.recognition.loso_merba` are two callers.

Executors:

- ``"local"`` (:class:`LocalExecutor`, the default): one fold after another in this process.
- ``"ray"`` (:class:`RayExecutor`): one Ray task per fold with declared CPUs and GPUs, on a running
  cluster (``address`` or ``RAY_ADDRESS``) or on a Ray instance started here.

With either, a fold that fails raises its own error here, with the fold named (``fold S01: ...``); on Ray the
folds still running are cancelled. When the worker running a
  fold dies, Ray runs the task again (``max_retries``) and the fold resumes from its own checkpoint,
  bit-identically (:func:`melab.train.loop.fit`). So the checkpoint folder must be one that every node
  sees; :class:`RayExecutor` checks that before it submits anything.

Devices: every fold trains on the same ``device`` (:func:`fold_device`); on Ray, a fold that declares GPUs
(``gpus_per_fold``) sees only the GPU Ray assigned it, and trains there.

Determinism: a fold seeds itself from its training settings, runs with a fixed number of torch threads
(the same for every executor), and shares nothing with the other folds. Its scores therefore do not
depend on the executor, the number of workers or the order in which folds finish.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd
import torch

from melab.atomic import write_text
from melab.device import check_device, resolve_device
from melab.inference import read_checkpoint
from melab.train.loop import progress_bar
from melab.workers import with_context

RAY_INSTALL = "pip install 'melab[cluster]'  (or: pip install 'ray==2.60.0')"


def loso_subjects(table: pd.DataFrame, folds: str | int | Sequence[str] = "all") -> list[str]:
    """Held-out subjects of a LOSO run: ``"all"``, the first ``N`` (sorted), or an explicit list.

    ``table`` is any table with a ``subject`` column (videos, samples).
    """
    subjects = sorted(table["subject"].astype(str).unique())
    if isinstance(folds, str) and folds == "all":
        return subjects
    if isinstance(folds, int | np.integer):
        if not 1 <= folds <= len(subjects):
            raise ValueError(f"--folds {folds}, but the data has {len(subjects)} subjects; pass 1..{len(subjects)}")
        return subjects[:folds]
    unknown = sorted(set(map(str, folds)) - set(subjects))
    if unknown:
        raise ValueError(f"unknown subjects {unknown}; the data has {subjects}")
    return [str(s) for s in folds]


def validation_subjects(subjects: Sequence[str], n: int = 1, *, after: str | None = None) -> list[str]:
    """Subjects to hold out of a training set for validation (early stopping, held-out curves): a fixed rule.

    In sorted order, the ``n`` subjects that follow ``after`` (cyclically; the held-out subject of a LOSO fold,
    so that each fold validates on another subject), or the first ``n`` without ``after``. No seed is involved:
    the same training set always gives the same validation subjects.

    Parameters
    ----------
    subjects : the candidates (e.g. the training subjects that hold at least one ME); ``after`` need not be one.
    n : how many (1 <= n < len(subjects): something must be left to train on).
    after : the subject to start after.

    Examples
    --------
    >>> validation_subjects(["s3", "s1", "s2", "s4"], 1, after="s2")
    ['s3']
    >>> validation_subjects(["s1", "s2", "s4"], 2, after="s3")
    ['s4', 's1']
    """
    ordered = sorted(map(str, subjects))
    if not 1 <= n < len(ordered):
        raise ValueError(f"cannot hold out {n} of {len(ordered)} training subjects for validation; pass 1.."
                         f"{len(ordered) - 1} (or train without validation)")
    start = 0 if after is None else sum(s <= str(after) for s in ordered)
    return [ordered[(start + i) % len(ordered)] for i in range(n)]


def fold_checkpoint(checkpoint_dir: str | os.PathLike | None, subject: str) -> Path | None:
    """``<checkpoint_dir>/fold_<subject>.pt``, the per-epoch checkpoint of one fold (None without a folder)."""
    return Path(checkpoint_dir) / f"fold_{subject}.pt" if checkpoint_dir is not None else None


class FoldRun(NamedTuple):
    """One finished fold.

    Attributes
    ----------
    value : object
        What the fold function returned.
    seconds : float
        Wall time of the fold where it ran (training + prediction), seconds.
    resumed_from : int
        Epoch its checkpoint held when this (last) attempt started: 0 for a fresh fold, more after an
        interruption (``resume=True``, or a Ray retry after the worker died).
    """

    value: object
    seconds: float
    resumed_from: int


def run_fold(fold: Callable, subject: str, shared: Mapping, *, checkpoint: Path | None, threads: int | None,
             progress: bool) -> FoldRun:
    """Run ``fold(subject, checkpoint=..., progress=..., **shared)`` with ``threads`` torch threads.

    The fold always resumes from ``checkpoint`` when it exists: that is what makes a retried fold
    continue where its dead worker stopped (the driver removes stale checkpoints when not resuming).
    """
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        start = int(read_checkpoint(checkpoint)["epoch"]) if checkpoint is not None and checkpoint.exists() else 0
        value = fold(subject, checkpoint=checkpoint, progress=progress, **shared)
        return FoldRun(value, time.perf_counter() - t0, start)
    finally:
        torch.set_num_threads(previous)


class Executor(Protocol):
    """Runs folds and yields ``(subject, FoldRun)`` as each one finishes, in any order."""

    name: str

    def map(self, fold: Callable, subjects: Sequence[str], shared: Mapping, *,
            checkpoint_dir: Path | None, progress: bool) -> Iterator[tuple[str, FoldRun]]: ...


class LocalExecutor:
    """Folds one after another in this process, with their epoch and batch bars.

    Parameters
    ----------
    threads : int, optional
        Torch threads per fold; None keeps the process' setting. Pass the Ray run's ``cpus_per_fold``
        to compare the two bit for bit (thread counts change the order of float sums).
    """

    name = "local"

    def __init__(self, *, threads: int | None = None):
        self.threads = threads

    def map(self, fold, subjects, shared, *, checkpoint_dir, progress):
        for subject in subjects:
            try:
                run = run_fold(fold, subject, shared, checkpoint=fold_checkpoint(checkpoint_dir, subject),
                               threads=self.threads, progress=progress)
            except Exception as err:
                raise with_context(err, f"fold {subject}") from err
            yield subject, run


class RayNotInstalled(ImportError):
    """``--executor ray`` without Ray in this environment."""


def import_ray():
    """``import ray``, or :class:`RayNotInstalled` with how to install it."""
    try:
        import ray
    except ImportError as err:
        raise RayNotInstalled(f"--executor ray needs Ray, which is not installed here; install it with {RAY_INSTALL} "
                          "in the same environment on every node, or use --executor local") from err
    return ray


def _read_probe(path: str) -> str | None:
    """The text of ``path`` as this node sees it, or None when it cannot (the shared-folder check)."""
    try:
        return Path(path).read_text()
    except OSError:
        return None


class RayExecutor:
    """One Ray task per fold, with declared resources, retries and results streamed back.

    Parameters
    ----------
    address : str, optional
        Address of a running cluster (``host:6379``, or ``auto`` on one of its nodes); default
        ``RAY_ADDRESS``, and when that is unset too, a Ray instance started on this machine (and stopped
        after the run).
    cpus_per_fold : int
        CPUs each fold task declares; also its torch threads (unless ``threads`` is given).
    gpus_per_fold : float
        GPUs each fold task declares (fractions share a GPU): Ray then runs no more folds on a node than
        its GPUs allow and sets ``CUDA_VISIBLE_DEVICES`` per task, and a fold whose device is ``"cuda"``
        (:func:`fold_device`) trains on that GPU.
    max_retries : int
        Times Ray re-runs a fold whose worker died (the fold then resumes from its checkpoint).
    threads : int, optional
        Torch threads per fold (default ``cpus_per_fold``).
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, cpus_per_fold: int = 1, gpus_per_fold: float = 0,
                 max_retries: int = 3, threads: int | None = None):
        if cpus_per_fold < 1:
            raise ValueError(f"--cpus-per-fold must be at least 1, got {cpus_per_fold}")
        if gpus_per_fold < 0:
            raise ValueError(f"--gpus-per-fold must be 0 or more, got {gpus_per_fold}")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.cpus_per_fold, self.gpus_per_fold = cpus_per_fold, gpus_per_fold
        self.max_retries = max_retries
        self.threads = threads or cpus_per_fold

    def map(self, fold, subjects, shared, *, checkpoint_dir, progress):
        ray = import_ray()
        started = not ray.is_initialized()
        if started:
            if self.address is None:  # a private instance on this machine: no dashboard, no usage report
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(include_dashboard=False, logging_level="WARNING")
            else:
                ray.init(address=self.address, logging_level="WARNING")
        try:
            if checkpoint_dir is not None:
                check_shared_folder(ray, Path(checkpoint_dir))
            task = ray.remote(num_cpus=self.cpus_per_fold, num_gpus=self.gpus_per_fold, max_retries=self.max_retries,
                              retry_exceptions=False)(run_fold)
            shared_ref = ray.put(dict(shared))  # sent to the object store once, not once per fold
            pending = {task.options(name=f"melab fold {subject}").remote(
                fold, subject, shared_ref, checkpoint=fold_checkpoint(checkpoint_dir, subject),
                threads=self.threads, progress=False): subject for subject in subjects}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                subject = pending.pop(done[0])
                try:
                    run = ray.get(done[0])
                except Exception as err:  # the fold's own error, not Ray's wrapper with its remote traceback
                    for ref in pending:
                        ray.cancel(ref, force=True)
                    cause = getattr(err, "cause", None)
                    raise with_context(cause if isinstance(cause, Exception) else err, f"fold {subject}") from err
                yield subject, run
        finally:
            if started:
                ray.shutdown()


def check_shared_folder(ray, folder: Path) -> None:
    """Check that every alive node of the cluster reads ``folder`` as this driver writes it.

    Each fold writes its checkpoint there every epoch, and the task that Ray re-runs after a worker died
    (perhaps on another node) resumes from it; a folder private to one machine would silently restart
    such folds from scratch, or fail them.
    """
    token = uuid.uuid4().hex
    probe = write_text(folder / f".melab-shared-check-{token}", token)
    try:
        reader = ray.remote(num_cpus=0)(_read_probe)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [reader.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(probe)) for n in nodes]
        seen = ray.get(refs, timeout=300)
    finally:
        probe.unlink(missing_ok=True)
    blind = sorted({n["NodeManagerAddress"] for n, text in zip(nodes, seen, strict=True) if text != token})
    if blind:
        raise ValueError(
            f"--out {folder} is not visible from the Ray node(s) {', '.join(blind)}. Every fold writes its "
            "checkpoint there after each epoch, and a fold whose worker dies is resumed from that checkpoint by a "
            "worker that may run on another node. Put --out on a file system that every node mounts at the same "
            "path (NFS, Lustre, a cluster scratch folder), or run with --executor local.")


def fold_device(device: str, executor: Executor) -> str:
    """The ``device`` every fold resolves where it runs, checked against the executor before any fold starts.

    - Local folds run in this process: ``device`` is resolved here (``"auto"`` becomes ``"cuda:0"`` or
      ``"cpu"``; ``"cuda"`` without a GPU fails now, not after the data are built).
    - Ray folds that declare GPUs (``gpus_per_fold > 0``) get ``"cuda"``: Ray sets each task's
      ``CUDA_VISIBLE_DEVICES`` to the GPU(s) it assigned, which torch numbers from 0, so ``"cuda"`` is that
      GPU. ``"auto"`` and ``"cuda"`` select it; ``"cpu"`` (GPUs reserved, never used) and ``"cuda:N"`` (a
      GPU the fold does not own) are refused.
    - Ray folds that declare no GPU train on the CPU: ``"auto"`` becomes ``"cpu"``, and ``"cuda"`` is
      refused, since Ray would not keep such folds from piling onto one GPU.
    """
    name = check_device(device)
    if not isinstance(executor, RayExecutor):
        return str(resolve_device(name))
    if executor.gpus_per_fold > 0:
        if name == "cpu":
            raise ValueError(f"--gpus-per-fold {executor.gpus_per_fold:g} reserves GPUs for every fold, but --device "
                             "cpu trains on the CPU; pass --device auto or cuda, or drop --gpus-per-fold")
        if name.startswith("cuda:"):
            raise ValueError(f"--device {name}: under --executor ray each fold trains on the GPU Ray assigned it "
                             "(CUDA_VISIBLE_DEVICES), which torch calls cuda; pass --device cuda or auto")
        return "cuda"
    if name.startswith("cuda"):
        raise ValueError(f"--device {name} with --executor ray needs --gpus-per-fold (1, or 0.5 to share a GPU "
                         "between two folds), so that Ray gives each fold a GPU of its own; or pass --device cpu")
    return "cpu"


def make_executor(executor: str | Executor = "local", **options) -> Executor:
    """An executor from its name (``"local"`` or ``"ray"``) and its keyword options, or ``executor`` itself.

    ``options`` are those of :class:`RayExecutor` (``address, cpus_per_fold, gpus_per_fold, max_retries,
    threads``); the local executor takes ``threads`` and uses ``cpus_per_fold`` as its thread count.
    """
    if not isinstance(executor, str):
        return executor
    if executor == "local":
        threads = options.get("threads") or options.get("cpus_per_fold")
        return LocalExecutor(threads=threads)
    if executor == "ray":
        import_ray()
        return RayExecutor(**options)
    raise ValueError(f"unknown --executor {executor!r}; choose local or ray")


def run_folds(
    fold: Callable,
    subjects: Sequence[str],
    *,
    shared: Mapping,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    executor: str | Executor = "local",
    progress: bool = True,
) -> dict[str, FoldRun]:
    """Run one fold per held-out subject through ``executor``; results in the order of ``subjects``.

    Parameters
    ----------
    fold : callable
        ``fold(subject, *, checkpoint, progress, **shared) -> value``, a module-level function (Ray sends it
        to workers by reference). It trains without ``subject`` from ``checkpoint`` onwards if that file
        exists and predicts the held-out samples; it must depend on nothing but its arguments.
    subjects : sequence of str
        Held-out subjects (:func:`loso_subjects`).
    shared : mapping
        Keyword arguments that every fold gets (data and settings).
    checkpoint_dir : path-like, optional
        Folder of the per-fold checkpoints (:func:`fold_checkpoint`). Without ``resume`` the checkpoints
        of these subjects are removed first, so every fold starts afresh (they would be overwritten anyway).
    resume : bool
        Continue interrupted folds and reload finished ones from their checkpoints.
    executor : "local", "ray" or an executor
        Where folds run (see the module docstring).
    progress : bool
        A bar over folds, advanced as each one finishes (local folds show their epoch bars too).

    Returns
    -------
    dict
        Subject -> :class:`FoldRun`, in the order of ``subjects``.
    """
    executor = make_executor(executor)
    folder = Path(checkpoint_dir).resolve() if checkpoint_dir is not None else None  # the same path on every node
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        if not resume:
            for subject in subjects:
                fold_checkpoint(folder, subject).unlink(missing_ok=True)
    runs: dict[str, FoldRun] = {}
    folds = executor.map(fold, list(subjects), shared, checkpoint_dir=folder, progress=progress)
    for subject, run in progress_bar(folds, progress, total=len(subjects), desc=f"LOSO ({executor.name})",
                                     unit="fold"):
        runs[subject] = run
    return {subject: runs[subject] for subject in subjects}
