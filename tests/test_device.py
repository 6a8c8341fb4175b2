"""The ``device`` option: the CPU path is bit for bit what it was, "auto" finds the CPU here, and "cuda"
without a GPU fails with an error that names the flag. The CUDA runs themselves are in ``test_cuda.py``."""

from __future__ import annotations

import hashlib
import os
import platform
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import torch
from toys import toy_corpus

from melab import train as T
from melab.cli import main
from melab.data.splits import SEVEN_CLASSES
from melab.device import check_device, deterministic, resolve_device, to_device
from melab.models.merba import MERbaConfig
from melab.models.spotter import SpotterConfig
from melab.train.loso import LocalExecutor, RayExecutor, fold_device

pytestmark = pytest.mark.usefixtures("one_thread")

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour of a machine without a CUDA GPU")

# dropout on, so that the generator state and the masks take part in the fingerprint
SPOTTER = SpotterConfig.tiny(in_channels=4, d_fast=8, d_slow=16, n_stages=2, d_state=4, dropout=0.2,
                             input="track")
MERBA = MERbaConfig.tiny(img_size=32, window=2, dim=8, patch_dim=4, heads=(1, 1, 1), dropout=0.1)

# sha256 of training_fingerprint() computed on main at e49473e, before the device option existed, with one
# torch thread. The fingerprint trains the recipe of then (the stitched track, no validation subject), so later
# defaults leave the pin in force. Float results depend on the CPU's kernels, so the comparison runs where they
# were recorded.
RECORDED_ON = ("2.13.0+cpu", "AVX512", "x86_64")
BEFORE_DEVICE_OPTION = {
    "train_spotter": "20210843f52c38e5e75091feb36f608c09938f7a58303cf3303c1bcc1a562b38",
    "loso": "e1762d42230d0150b1f0375490780e8994c3c80ad50126d9014af5ea98da0aa2",
    "train_merba_single": "3bca8efb0ae6fc47f6a904d7c62fec6bcae5ab41fa4204fac82f5a88a0db56af",
    "train_merba_dgcm": "bf461c451c2f9a3211429de718a16d872522bf1159fdd8d1d0f50aff0ff1ba27",
    "loso_merba": "0a4bfac181ac5add80850f2948064cd49b659a4e541d8b790265f583e12ed14d",
}


def merba_samples(seed: int = 0):
    """24 flow images of 4 classes over 3 subjects, a label-dependent motion in the upper half."""
    rng = np.random.default_rng(seed)
    labels = np.array([SEVEN_CLASSES.index(e) for e in ["anger", "happiness", "surprise", "fear"] * 6])
    flows = rng.normal(0, 0.1, size=(len(labels), 3, 32, 32)).astype(np.float32)
    flows[:, 1, :16] += labels[:, None, None] / 3
    samples = pd.DataFrame(dict(subject=[f"p{i % 3}" for i in range(len(labels))], label=labels))
    return flows, labels, samples


def digest(*arrays) -> str:
    """sha256 over dtype, shape and bytes of each array: equal digests mean bit-identical numbers."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a))
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def training_fingerprint(**device) -> dict[str, str]:
    """Digests of two short training runs of each model (losses, final weights, scores, predictions) and of
    a 2-fold LOSO of each; ``device`` is passed to every training and prediction function."""
    out = {}
    series, events, videos = toy_corpus()
    train = T.SpotterTrainConfig(epochs=2, batch_size=8, k=20, validation=0)
    model, history = T.train_spotter(series, events, config=SPOTTER, train=train, progress=False, **device)
    scores = [T.predict_video(model, series[v], k=20, **device) for v in sorted(series)]
    out["train_spotter"] = digest(history["loss"].to_numpy(), *model.state_dict().values(),
                                  *[a for s in scores for a in s])
    result = T.loso(series, events, videos, folds=2, config=SPOTTER, train=train, progress=False, **device)
    out["loso"] = digest(*[a for v in sorted(result.scores) for a in result.scores[v]],
                         result.history["loss"].to_numpy())
    flows, labels, samples = merba_samples()
    merba_train = T.MERbaTrainConfig(epochs=2, batch_size=8, lr=3e-3, warmup_epochs=1)
    for head in ("single", "dgcm"):
        config = MERbaConfig(**{**MERBA.to_dict(), "head": head})
        model, history = T.train_merba(flows, labels, config=config, train=merba_train, progress=False, **device)
        pred = T.predict_merba(model, flows, **device)
        with torch.no_grad():
            logits = model(torch.tensor(flows))
        logits = logits if head == "single" else torch.cat(logits, 1)
        out[f"train_merba_{head}"] = digest(history["loss"].to_numpy(), *model.state_dict().values(), pred, logits)
    pred, history = T.loso_merba(flows, samples, folds=2, config=MERBA, train=merba_train, progress=False, **device)
    out["loso_merba"] = digest(pred["pred"].to_numpy(), history["loss"].to_numpy())
    return out


@pytest.fixture(scope="module")
def default_fingerprint(one_thread):
    return training_fingerprint()


def test_the_default_path_gives_the_numbers_it_gave_before_the_device_option(default_fingerprint):
    here = (torch.__version__, torch.backends.cpu.get_cpu_capability(), platform.machine())
    if here != RECORDED_ON:
        pytest.skip(f"the reference was recorded on {RECORDED_ON}, this is {here}")
    assert default_fingerprint == BEFORE_DEVICE_OPTION


def test_device_cpu_is_the_default_path_bit_for_bit(default_fingerprint):
    assert training_fingerprint(device="cpu") == default_fingerprint


@NO_GPU
def test_auto_is_the_cpu_here_and_trains_like_it(default_fingerprint):
    assert resolve_device("auto") == torch.device("cpu")
    assert training_fingerprint(device="auto") == default_fingerprint


def test_device_spellings():
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device(torch.device("cpu"))
    assert [check_device(d) for d in ("auto", "cpu", "cuda", "cuda:3")] == ["auto", "cpu", "cuda", "cuda:3"]
    for bad in ("gpu", "cuda:", "cuda:x", "CPU", "mps", ""):
        with pytest.raises(ValueError, match="unknown device; choose auto, cpu, cuda or cuda:N"):
            resolve_device(bad)


@NO_GPU
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_names_the_flag(device):
    with pytest.raises(ValueError, match=rf"^--device {device}: no CUDA GPU is visible to torch \(.+\); install"):
        resolve_device(device)
    series, events, _ = toy_corpus(n_subjects=1)
    with pytest.raises(ValueError, match=f"--device {device}: no CUDA GPU"):
        T.train_spotter(series, events, config=SPOTTER, train=T.SpotterTrainConfig(epochs=1, k=20), progress=False,
                        device=device)
    flows, labels, _ = merba_samples()
    with pytest.raises(ValueError, match=f"--device {device}: no CUDA GPU"):
        T.train_merba(flows, labels, config=MERBA, progress=False, device=device)


@NO_GPU
def test_melab_train_device_cuda_without_a_gpu_fails_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "spotter", "--data", f"corpus:{tmp_path / 'nothing'}", "--out", str(out),
                 "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "melab train: error: --device cuda: no CUDA GPU is visible to torch" in err
    assert not out.exists()  # refused before the corpus was read or a folder written
    assert main(["train", "merba", "--data", f"corpus:{tmp_path / 'nothing'}", "--out", str(out), "--device",
                 "tpu"]) == 2
    assert "--device tpu: unknown device" in capsys.readouterr().err


def test_folds_get_the_device_the_executor_can_give_them():
    assert fold_device("cpu", LocalExecutor()) == "cpu"
    if not torch.cuda.is_available():
        assert fold_device("auto", LocalExecutor()) == "cpu"
        with pytest.raises(ValueError, match="--device cuda: no CUDA GPU"):
            fold_device("cuda", LocalExecutor())
    gpu_folds = RayExecutor(gpus_per_fold=0.5)  # resolved on the worker: the GPU Ray assigned
    assert fold_device("auto", gpu_folds) == fold_device("cuda", gpu_folds) == "cuda"
    with pytest.raises(ValueError, match="--gpus-per-fold 0.5 reserves GPUs .* --device cpu"):
        fold_device("cpu", gpu_folds)
    with pytest.raises(ValueError, match="--device cuda:1: under --executor ray"):
        fold_device("cuda:1", gpu_folds)
    cpu_folds = RayExecutor()
    assert fold_device("auto", cpu_folds) == fold_device("cpu", cpu_folds) == "cpu"
    with pytest.raises(ValueError, match="--device cuda with --executor ray needs --gpus-per-fold"):
        fold_device("cuda", cpu_folds)


class Pair(NamedTuple):
    x: torch.Tensor
    label: str


def test_to_device_moves_nested_tensors_and_keeps_those_already_there():
    a, b = torch.ones(2), torch.zeros(3, dtype=torch.int64)
    tree = {"batch": (a, [b, 3]), "pair": Pair(a, "v"), "lr": 0.1}
    moved = to_device(tree, torch.device("cpu"))
    assert moved["batch"][0] is a and moved["batch"][1][0] is b and moved["pair"].x is a  # no copy: same bits
    assert isinstance(moved["pair"], Pair) and moved["pair"].label == "v" and moved["batch"][1][1] == 3
    meta = to_device(tree, torch.device("meta"))
    assert meta["batch"][0].is_meta and meta["pair"].x.is_meta and meta["batch"][1][0].dtype == torch.int64
    state = torch.nn.BatchNorm1d(3).state_dict()
    kept = to_device(state, torch.device("meta"))
    assert type(kept) is type(state) and kept._metadata == state._metadata and list(kept) == list(state)


def test_determinism_switches_are_set_on_cuda_only_and_restored(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    with deterministic(torch.device("cpu")):
        assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
                torch.backends.cudnn.benchmark) == before
    with deterministic(torch.device("cuda")):  # only flags: no GPU is touched
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark) == before
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # cuBLAS's deterministic workspace


def test_checkpoints_hold_cpu_tensors_and_resume_with_an_explicit_device(tmp_path, monkeypatch):
    series, events, _ = toy_corpus()
    train = T.SpotterTrainConfig(epochs=2, batch_size=8, k=20, validation=0)
    whole, _ = T.train_spotter(series, events, config=SPOTTER, train=train, progress=False)
    epoch_batches = T.SpotterData.__call__

    def crash_in_epoch_two(self, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return epoch_batches(self, epoch)

    monkeypatch.setattr(T.SpotterData, "__call__", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        T.train_spotter(series, events, config=SPOTTER, train=train, checkpoint=tmp_path / "a.pt", progress=False,
                        device="cpu")
    monkeypatch.undo()
    ckpt = T.read_checkpoint(tmp_path / "a.pt")
    tensors = [*ckpt["model"].values(), *(t for s in ckpt["optimizer"]["state"].values() for t in s.values())]
    assert ckpt["epoch"] == 1 and "cuda_rng" not in ckpt
    assert len(tensors) > 10 and all(t.device.type == "cpu" for t in tensors)
    resumed, history = T.train_spotter(series, events, config=SPOTTER, train=train, checkpoint=tmp_path / "a.pt",
                                       resume=True, progress=False, device="cpu")
    assert history["epoch"].tolist() == [1, 2]
    for (name, x), y in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(x, y), name
