"""Where a model trains and predicts: the ``device`` option, and what CUDA can and cannot reproduce.

``device`` is one of

- ``"cpu"``: the default of every Python function, so notebooks, tests and the shipped artefacts give the
  same numbers on a laptop with a GPU as on one without;
- ``"cuda"`` or ``"cuda:N"``: the first (or N-th) GPU that torch sees; an error names the flag when there
  is none;
- ``"auto"``: CUDA when ``torch.cuda.is_available()``, else the CPU. ``melab train --device`` defaults to
  it, since paper-size training is what the command line is for.

Under Ray (:class:`melab.train.loso.RayExecutor`) a fold that declares GPUs (``--gpus-per-fold``) sees only
the GPU(s) Ray assigned it (``CUDA_VISIBLE_DEVICES``), so ``"cuda"`` there means *its* GPU
(:func:`melab.train.loso.fold_device`).

What stays the same on every device, for one seed: the data order, the negative windows drawn and the flips
(NumPy generators seeded by ``(seed, epoch)``), and the initial weights (drawn on the CPU before the model
moves). What does not: dropout and DropPath masks come from the device's own generator, and GPU kernels
(cuBLAS, cuDNN, mamba-ssm's scan) add floats in other orders. A CUDA run is therefore not bit-identical to a
CPU run, and resuming a checkpoint on another device continues the same training with other rounding.
On CUDA, :func:`deterministic` asks for deterministic kernels; ops that have none (some scatter/index
backward passes, mamba-ssm's fused kernels, which are outside torch's switch) may still differ from run to
run in the last bits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

DEVICES = ("auto", "cpu", "cuda", "cuda:N")
_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(device: str | torch.device) -> str:
    """``device`` as a string once its spelling is valid (``auto``, ``cpu``, ``cuda`` or ``cuda:N``).

    Only the spelling: whether a GPU is there is for :func:`resolve_device`, on the machine that trains.
    """
    name = str(device)
    if not _PATTERN.fullmatch(name):
        raise ValueError(f"--device {name}: unknown device; choose auto, cpu, cuda or cuda:N (N = a GPU index)")
    return name


def _why_no_cuda() -> str:
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is a CPU-only build"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and not visible.strip():
        return "CUDA_VISIBLE_DEVICES is empty"
    return "torch.cuda.is_available() is False: no GPU, or no working NVIDIA driver"


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """The torch device that ``device`` names here.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device
        ``auto``: CUDA when torch sees a GPU, else the CPU.

    Raises
    ------
    ValueError
        For another spelling, or a CUDA device that torch does not see here (the message names the
        ``--device`` flag, which the ``device=`` argument mirrors).

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    name = check_device(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA GPU is visible to torch ({_why_no_cuda()}); install the CUDA "
                         "build of torch (pytorch.org) on a GPU machine, or pass --device cpu or --device auto "
                         "(device='cpu' or 'auto' in Python)")
    index = int(name.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ValueError(f"--device {name}: torch sees {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    return torch.device("cuda", index)


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); the CPU for a model without either."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def to_device(tree, device: torch.device):
    """Tensors of a nested dict / list / tuple moved to ``device``; other leaves as they are.

    On the device a tensor already lives on, it is returned itself (no copy), so the CPU path of the
    training loop handles the very same tensors as before this option existed. Mappings keep their type
    (and a state dict its ``_metadata``).
    """
    if isinstance(tree, torch.Tensor):
        return tree.to(device)
    if isinstance(tree, dict):  # a state dict stays an OrderedDict with its modules' versions (_metadata)
        moved = type(tree)((key, to_device(value, device)) for key, value in tree.items())
        if hasattr(tree, "_metadata"):
            moved._metadata = tree._metadata
        return moved
    if isinstance(tree, list | tuple):
        values = [to_device(value, device) for value in tree]
        return type(tree)(*values) if hasattr(tree, "_fields") else type(tree)(values)
    return tree


@contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """On CUDA, the determinism switches torch offers, for the duration of a training run; on the CPU, nothing.

    Turns on ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an op without a deterministic
    kernel warns instead of failing), ``cudnn.deterministic`` and off ``cudnn.benchmark``, and sets
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless already set (cuBLAS reads it when it first starts, so it
    counts only if no matmul ran on the GPU before). The previous switches are restored afterwards.
    """
    if device.type != "cuda":
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` CPU threads of torch (``torch.set_num_threads``), restoring the number after.

    melab's models are small: on a busy machine one thread scores a whole video in a fraction of a second where
    two spin for seconds waiting for a core. The numbers do not depend on it (tests/test_streaming.py checks).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
