"""The GPU path: melab against mamba-ssm's CUDA kernels, and paper-size models trained with ``device="cuda"``.

Run on a CUDA machine with ``make gpu-check`` (or ``pytest -m cuda``). Everywhere else every test here
skips and says why. mamba-ssm must be built with its kernels (``pip install -e .[cuda]``); the Makefile
installs it without them on CPU machines.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from melab import ssm
from melab.models.spotter import Spotter, SpotterConfig
from melab.ssm import Mamba, selective_scan
from melab.train import predict_video

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run `make gpu-check` on one)"),
]

# mamba-ssm's own fp32 tolerances for its kernel against its reference (tests/ops/test_selective_scan.py)
RTOL, ATOL = 6e-4, 2e-3


def upstream(module: str):
    """A module of an installed mamba-ssm built with its CUDA kernels, or a skip that says what is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.skip(f"{module} does not import ({exc}); build mamba-ssm with its CUDA kernels (make gpu-check)")


def scan_inputs(b=2, d=32, n=16, l=200, groups=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    bc = (b, groups, n, l) if groups else (b, n, l)
    return dict(
        u=torch.randn(b, d, l, generator=g), delta=0.5 * torch.rand(b, d, l, generator=g),
        A=-0.5 - torch.rand(d, n, generator=g), B=torch.randn(*bc, generator=g), C=torch.randn(*bc, generator=g),
        D=torch.randn(d, generator=g), z=torch.randn(b, d, l, generator=g),
        delta_bias=0.1 * torch.randn(d, generator=g),
    )


@pytest.mark.parametrize("groups", [0, 2])
def test_scan_matches_mamba_ssm_kernel_forward_and_backward(groups):
    interface = upstream("mamba_ssm.ops.selective_scan_interface")
    cpu = {k: v.clone().requires_grad_() for k, v in scan_inputs(groups=groups).items()}
    gpu = {k: v.detach().cuda().requires_grad_() for k, v in cpu.items()}
    ours = selective_scan(**cpu, delta_softplus=True, backend="fused")
    theirs = interface.selective_scan_fn(**gpu, delta_softplus=True)
    torch.testing.assert_close(theirs.detach().cpu(), ours.detach(), rtol=RTOL, atol=ATOL)
    grad = torch.randn_like(ours)
    ours.backward(grad)
    theirs.backward(grad.cuda())
    for name in cpu:
        torch.testing.assert_close(gpu[name].grad.cpu(), cpu[name].grad, rtol=RTOL, atol=ATOL, msg=name)
    ours_cuda = selective_scan(**{k: v.detach() for k, v in gpu.items()}, delta_softplus=True, backend="cuda")
    torch.testing.assert_close(ours_cuda, theirs.detach())  # melab's "cuda" backend is that kernel


def test_mamba_layer_with_one_state_dict_matches_mamba_ssm():
    simple = upstream("mamba_ssm.modules.mamba_simple")
    torch.manual_seed(0)
    theirs = simple.Mamba(d_model=64, d_state=16, d_conv=4, expand=2).cuda().eval()  # fused fast path
    ours = Mamba(64, d_state=16, d_conv=4, expand=2)
    ours.load_state_dict(theirs.state_dict())  # same names and shapes, no mapping
    x = torch.randn(2, 120, 64)
    with torch.no_grad():
        want = theirs(x.cuda()).cpu()
        torch.testing.assert_close(ours(x), want, rtol=RTOL, atol=ATOL)  # CPU, fused scan
        torch.testing.assert_close(ours.cuda()(x.cuda()).cpu(), want, rtol=RTOL, atol=ATOL)  # CUDA kernel


def test_reference_spotter_gives_the_same_outputs_on_cuda_and_cpu():
    upstream("selective_scan_cuda")
    torch.manual_seed(0)
    model = Spotter(SpotterConfig.reference()).eval()
    x = torch.randn(2, 50, 36)
    with torch.no_grad():
        cpu = model(x)
        gpu = model.cuda()(x.cuda())
    assert ssm._resolve_backend("auto", x.cuda().device) == "cuda"
    torch.testing.assert_close(gpu.spot.cpu(), cpu.spot, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(gpu.logits.cpu(), cpu.logits, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("preset", ["paper", "reference"])
def test_one_epoch_of_a_paper_size_spotter_on_cuda(preset, tiny_corpus, tmp_path):
    """One epoch of the paper schedule at paper size on the tiny corpus, through ``train_spotter(device="cuda")``;
    its checkpoint holds CPU tensors and resumes onto the CPU, which scores like the GPU."""
    upstream("selective_scan_cuda")
    from melab.train import SpotterTrainConfig, default_k, read_checkpoint, roi_corpus, train_spotter

    roi = roi_corpus(tiny_corpus, progress=False)
    fps = float(roi.videos["fps"].median())
    k = default_k(fps)
    train = SpotterTrainConfig.paper(epochs=1)
    config = getattr(SpotterConfig, preset)()
    model, history = train_spotter(roi.series, roi.events, fps=fps, config=config, train=train,
                                   checkpoint=tmp_path / "spotter.pt", progress=False, device="cuda")
    assert len(history) == 1 and torch.isfinite(torch.tensor(history["loss"].to_numpy())).all()
    assert all(p.is_cuda for p in model.parameters())
    ckpt = read_checkpoint(tmp_path / "spotter.pt")
    assert all(t.device.type == "cpu" for t in ckpt["model"].values()) and "cuda_rng" in ckpt
    video = next(iter(roi.series))
    gpu = predict_video(model, roi.series[video], k=k)
    assert gpu.spot.shape == (len(roi.series[video]),) and np.isfinite(gpu.spot).all()
    # the finished run reloaded onto the CPU (nothing left to train): the same model, CPU kernels
    on_cpu, _ = train_spotter(roi.series, roi.events, fps=fps, config=config, train=train,
                              checkpoint=tmp_path / "spotter.pt", resume=True, progress=False, device="cpu")
    assert all(p.device.type == "cpu" for p in on_cpu.parameters())
    cpu = predict_video(on_cpu, roi.series[video], k=k)
    np.testing.assert_allclose(cpu.spot, gpu.spot, rtol=RTOL, atol=ATOL)


def test_one_epoch_of_a_paper_size_merba_on_cuda(tiny_corpus):
    """One epoch of MERba's paper schedule at paper size (224-px flow) through ``train_merba(device="cuda")``."""
    upstream("selective_scan_cuda")
    from melab.models.merba import MERbaConfig
    from melab.train import MERbaTrainConfig, merba_corpus, predict_merba, train_merba

    config = MERbaConfig.paper()
    flows, samples = merba_corpus(tiny_corpus, size=config.img_size, progress=False)
    labels = samples["label"].to_numpy()
    model, history = train_merba(flows, labels, config=config, train=MERbaTrainConfig.paper(epochs=1),
                                 progress=False, device="cuda")
    assert len(history) == 1 and np.isfinite(history["loss"].to_numpy()).all()
    assert all(p.is_cuda for p in model.parameters()) and all(b.is_cuda for b in model.buffers())
    pred = predict_merba(model, flows)
    assert pred.shape == (len(labels),) and pred.dtype == np.int64
