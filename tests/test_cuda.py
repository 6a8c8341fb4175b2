"""The GPU path: melab against mamba-ssm's CUDA kernels, and a paper-size spotter trained on CUDA.

Run on a CUDA machine with ``make gpu-check`` (or ``pytest -m cuda``). Everywhere else every test here
skips and says why. mamba-ssm must be built with its kernels (``pip install -e .[cuda]``); the Makefile
installs it without them on CPU machines.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from melab import ssm
from melab.models.spotter import Spotter, SpotterConfig, spotter_loss
from melab.ssm import Mamba, selective_scan

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
def test_one_epoch_of_a_paper_size_spotter_on_cuda(preset, tiny_corpus):
    """One epoch of the paper schedule at paper size on the tiny corpus, entirely on the GPU."""
    upstream("selective_scan_cuda")
    from melab.train import SpotterData, SpotterTrainConfig, default_k, fit, predict_video, roi_corpus, spotter_windows

    roi = roi_corpus(tiny_corpus, progress=False)
    train = SpotterTrainConfig.paper(epochs=1)
    k = default_k(float(roi.videos["fps"].median()))
    windows = spotter_windows(roi.series, roi.events, k=k)
    data = SpotterData(windows, negative_ratio=train.negative_ratio, batch_size=train.batch_size, seed=0)
    torch.manual_seed(0)
    model = Spotter(getattr(SpotterConfig, preset)(n_classes=4)).cuda()
    weights = data.class_weights(5).cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=train.lr, total_steps=len(data))

    def step(model, batch, epoch):
        x, spot, label = (t.cuda() for t in batch)
        return spotter_loss(model(x), spot, label, class_weights=weights)

    history = fit(model, data, step, optimizer=optimizer, scheduler=scheduler, epochs=1, progress=False)
    assert len(history) == 1 and torch.isfinite(torch.tensor(history["loss"].to_numpy())).all()
    assert all(p.is_cuda for p in model.parameters())
    video = next(iter(roi.series))
    scores = predict_video(model.cpu(), roi.series[video], k=k)
    assert scores.spot.shape == (len(roi.series[video]),)
