"""melab.ssm against mamba-ssm 2.3.2.post1's pure-PyTorch reference (``selective_scan_ref``, ``Mamba``).

mamba-ssm is installed without its CUDA extension. Its ``selective_scan_interface`` imports the
extension ``selective_scan_cuda`` and a Triton layer norm at module level, and the package
``__init__`` imports every Triton kernel. The fixture below therefore loads the two modules it needs
without running the package ``__init__``, with stand-ins for ``selective_scan_cuda`` and the Triton
layer-norm module only (``causal_conv1d`` is not stubbed: mamba-ssm falls back to ``nn.Conv1d``
itself), and restores ``sys.modules`` afterwards.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

import pytest
import torch

import melab.ssm as ssm
from melab.ssm import Mamba, MambaVisionMixer, selective_scan


@pytest.fixture(scope="module")
def upstream():
    """(selective_scan_interface, mamba_simple) modules of the installed mamba-ssm."""
    spec = importlib.util.find_spec("mamba_ssm")
    if spec is None:
        pytest.skip("mamba-ssm is not installed (see the Makefile: it is a test dependency)")
    touched = ("mamba_ssm", "selective_scan_cuda")
    saved = {k: v for k, v in sys.modules.items() if k.startswith(touched)}
    package = importlib.util.module_from_spec(
        importlib.machinery.ModuleSpec("mamba_ssm", None, is_package=True)
    )
    package.__path__ = list(spec.submodule_search_locations)  # the real package, minus its __init__
    layer_norm = types.ModuleType("mamba_ssm.ops.triton.layer_norm")
    layer_norm._layer_norm_fwd = None  # only used by the fused CUDA path
    sys.modules.update(
        {
            "mamba_ssm": package,
            "selective_scan_cuda": types.ModuleType("selective_scan_cuda"),
            "mamba_ssm.ops.triton.layer_norm": layer_norm,
        }
    )
    try:
        interface = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
        simple = importlib.import_module("mamba_ssm.modules.mamba_simple")
        yield interface, simple
    finally:
        for k in [k for k in sys.modules if k.startswith(touched)]:
            del sys.modules[k]
        sys.modules.update(saved)


def make_inputs(b=2, d=8, n=4, l=37, *, groups_b=0, groups_c=0, dtype=torch.float32, seed=0, options=()):
    """Random scan inputs; groups_* = 0 means (b, n, l), otherwise (b, g, n, l)."""
    g = torch.Generator().manual_seed(seed)
    kw = {
        "u": torch.randn(b, d, l, generator=g),
        "delta": torch.randn(b, d, l, generator=g) * 0.5,
        "A": -torch.exp(0.5 * torch.randn(d, n, generator=g)),  # decay rates about 0.2 .. 5
        "B": torch.randn(b, groups_b, n, l, generator=g) if groups_b else torch.randn(b, n, l, generator=g),
        "C": torch.randn(b, groups_c, n, l, generator=g) if groups_c else torch.randn(b, n, l, generator=g),
    }
    # Keep y = C·h of order 1 whatever n is, so an absolute fp32 tolerance means the same at every size.
    kw["B"], kw["C"] = kw["B"] * n**-0.5, kw["C"] * n**-0.5
    if "softplus" not in options:
        kw["delta"] = kw["delta"].abs()  # a positive Δ, as the model would feed
    if "D" in options:
        kw["D"] = torch.randn(d, generator=g)
    if "z" in options:
        kw["z"] = torch.randn(b, d, l, generator=g)
    if "delta_bias" in options:
        kw["delta_bias"] = torch.randn(d, generator=g) - 1.0
    kw = {k: (v.to(dtype) if k in ("u", "delta", "B", "C", "z") else v) for k, v in kw.items()}
    return kw, {"delta_softplus": "softplus" in options, "return_last_state": "last_state" in options}


PARITY_CASES = {
    "plain": dict(),
    "D": dict(options=("D",)),
    "z+D": dict(options=("z", "D")),
    "delta_bias+softplus": dict(options=("delta_bias", "softplus")),
    "all": dict(options=("D", "z", "delta_bias", "softplus")),
    "all+last_state": dict(options=("D", "z", "delta_bias", "softplus", "last_state")),
    "grouped B,C (g=2)": dict(groups_b=2, groups_c=2, options=("D", "z", "delta_bias", "softplus")),
    "grouped B only (g=4)": dict(groups_b=4, options=("D", "delta_bias", "softplus", "last_state")),
    "l=1": dict(l=1, options=("D", "z", "softplus", "last_state")),
    "l=100 (3 chunks + 4)": dict(l=100, d=16, n=16, options=("D", "z", "delta_bias", "softplus", "last_state")),
}


@pytest.mark.parametrize("backend", ["fused", "ref"])
@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_scan_matches_mamba_ssm_reference(upstream, case, backend):
    interface, _ = upstream
    kw, flags = make_inputs(**PARITY_CASES[case])
    expected = interface.selective_scan_ref(**kw, **flags)
    got = selective_scan(**kw, **flags, backend=backend)
    if flags["return_last_state"]:
        assert got[1].shape == expected[1].shape == (kw["u"].shape[0], kw["u"].shape[1], kw["A"].shape[1])
        assert (got[1] - expected[1]).abs().max() <= 1e-5
        got, expected = got[0], expected[0]
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert (got - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("backend", ["fused", "ref"])
def test_bf16_inputs_match_reference_and_keep_their_dtype(upstream, backend):
    interface, _ = upstream
    kw, flags = make_inputs(l=45, dtype=torch.bfloat16, options=("D", "z", "delta_bias", "softplus"))
    expected = interface.selective_scan_ref(**kw, **flags)
    got = selective_scan(**kw, **flags, backend=backend)
    assert got.dtype == torch.bfloat16
    # Both compute in fp32 and round once to bf16: at most one bf16 step (2^-8 relative) apart.
    assert torch.allclose(got.float(), expected.float(), rtol=2**-7, atol=1e-5)


def test_fused_gradients_match_reference_autograd(upstream, monkeypatch):
    interface, _ = upstream
    monkeypatch.setattr(ssm, "FUSED_CHUNK", 8)
    kw, flags = make_inputs(l=30, groups_b=2, options=("D", "z", "delta_bias", "softplus"))
    grads = {}
    for name, fn in (("ours", lambda **a: selective_scan(**a, backend="fused")), ("ref", interface.selective_scan_ref)):
        leaves = {k: v.clone().requires_grad_() for k, v in kw.items()}
        out = fn(**leaves, **flags)
        (out * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
        grads[name] = {k: v.grad for k, v in leaves.items()}
    for k in kw:
        scale = grads["ref"][k].abs().max().item()
        assert (grads["ours"][k] - grads["ref"][k]).abs().max() <= 1e-5 * max(1.0, scale), k


@pytest.mark.parametrize("grouped", [False, True])
def test_fused_gradcheck_fp64(monkeypatch, grouped):
    monkeypatch.setattr(ssm, "FUSED_CHUNK", 4)  # 9 steps = chunks of 4, 4 and 1
    kw, _ = make_inputs(b=2, d=4, n=3, l=9, groups_b=2 if grouped else 0, groups_c=2 if grouped else 0,
                        options=("D", "z", "delta_bias", "softplus"))
    names = list(kw)
    leaves = [kw[k].double().requires_grad_() for k in names]

    def fn(*args):
        # Both outputs, so the gradient of the last state (ignored by mamba-ssm) is checked too.
        inputs = dict(zip(names, args, strict=True))
        return selective_scan(**inputs, delta_softplus=True, return_last_state=True, backend="fused")

    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_mamba_layer_matches_upstream_with_one_state_dict(upstream, monkeypatch):
    interface, simple = upstream
    # Route upstream's scan to its pure-PyTorch reference.
    monkeypatch.setattr(simple, "selective_scan_fn", interface.selective_scan_ref)
    torch.manual_seed(1)
    theirs = simple.Mamba(d_model=24, d_state=8, d_conv=4, expand=2, use_fast_path=False)
    ours = Mamba(d_model=24, d_state=8, d_conv=4, expand=2)
    # Perturb the weights so the check is not about the initialisation only.
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 45, 24, generator=torch.Generator().manual_seed(2))
    out = ours(x)
    assert out.shape == (3, 45, 24)
    assert (out - theirs(x)).abs().max() <= 1e-5


def test_mamba_initialisation_is_upstreams_for_the_same_seed(upstream):
    _, simple = upstream
    torch.manual_seed(0)
    theirs = simple.Mamba(d_model=20, use_fast_path=False).state_dict()
    torch.manual_seed(0)
    ours = Mamba(d_model=20).state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert torch.equal(ours[k], theirs[k]), k


def test_mamba_is_causal():
    torch.manual_seed(0)
    layer = Mamba(d_model=8, d_state=4)
    x = torch.randn(1, 20, 8)
    y = x.clone()
    y[:, 12] += 1.0
    diff = (layer(x) - layer(y)).abs().amax(-1)[0]
    assert diff[:12].max() == 0 and diff[12] > 0


UPSTREAM_MIXER_SHAPES = {  # NVlabs MambaVision, MambaVisionMixer(d_model=32, d_state=8, d_conv=3, expand=1)
    "in_proj.weight": (32, 32),
    "x_proj.weight": (2 + 16, 16),
    "dt_proj.weight": (16, 2),
    "dt_proj.bias": (16,),
    "A_log": (16, 8),
    "D": (16,),
    "out_proj.weight": (32, 32),
    "conv1d_x.weight": (16, 1, 3),
    "conv1d_z.weight": (16, 1, 3),
}


def upstream_mixer_forward(mixer: MambaVisionMixer, x: torch.Tensor, scan) -> torch.Tensor:
    """NVlabs' MambaVisionMixer.forward, transcribed step by step, on the mixer's own weights."""
    import torch.nn.functional as F
    from einops import rearrange

    seqlen, half = x.shape[1], mixer.d_inner // 2
    xz = rearrange(mixer.in_proj(x), "b l d -> b d l")
    xs, z = xz.chunk(2, dim=1)
    A = -torch.exp(mixer.A_log.float())
    xs = F.silu(F.conv1d(xs, mixer.conv1d_x.weight, mixer.conv1d_x.bias, padding="same", groups=half))
    z = F.silu(F.conv1d(z, mixer.conv1d_z.weight, mixer.conv1d_z.bias, padding="same", groups=half))
    x_dbl = mixer.x_proj(rearrange(xs, "b d l -> (b l) d"))
    dt, B, C = torch.split(x_dbl, [mixer.dt_rank, mixer.d_state, mixer.d_state], dim=-1)
    dt = rearrange(mixer.dt_proj(dt), "(b l) d -> b d l", l=seqlen)
    B = rearrange(B, "(b l) dstate -> b dstate l", l=seqlen)
    C = rearrange(C, "(b l) dstate -> b dstate l", l=seqlen)
    y = scan(xs, dt, A, B, C, mixer.D.float(), z=None, delta_bias=mixer.dt_proj.bias.float(), delta_softplus=True)
    return mixer.out_proj(rearrange(torch.cat([y, z], dim=1), "b d l -> b l d"))


def test_mixer_matches_upstream_forward_and_names(upstream):
    interface, _ = upstream
    torch.manual_seed(0)
    mixer = MambaVisionMixer(d_model=32)
    assert {k: tuple(v.shape) for k, v in mixer.state_dict().items()} == UPSTREAM_MIXER_SHAPES
    x = torch.randn(2, 49, 32, generator=torch.Generator().manual_seed(3))
    out = mixer(x)
    assert out.shape == (2, 49, 32)
    assert (out - upstream_mixer_forward(mixer, x, interface.selective_scan_ref)).abs().max() <= 1e-5


def test_mixer_double_dt_bias_is_a_single_bias_of_twice_the_value():
    torch.manual_seed(0)
    double = MambaVisionMixer(d_model=16, double_dt_bias=True)
    single = MambaVisionMixer(d_model=16, double_dt_bias=False)
    state = double.state_dict()
    state["dt_proj.bias"] = 2 * state["dt_proj.bias"]
    single.load_state_dict(state)
    x = torch.randn(2, 10, 16)
    assert torch.allclose(double(x), single(x), atol=1e-6)
    state["dt_proj.bias"] = state["dt_proj.bias"] / 2
    single.load_state_dict(state)
    assert not torch.allclose(double(x), single(x), atol=1e-4)


def test_mixer_looks_ahead_and_can_leave_out_proj_to_the_caller():
    torch.manual_seed(0)
    mixer = MambaVisionMixer(d_model=16, project_out=False)
    x = torch.randn(1, 12, 16)
    y = x.clone()
    y[:, 6] += 1.0
    out = mixer(x)
    assert out.shape == (1, 12, 16) and mixer.out_proj is None  # d_inner = expand * d_model = 16
    # The 'same' convs see one token ahead, so token 5 already changes; token 4 does not.
    diff = (out - mixer(y)).abs().amax(-1)[0]
    assert diff[:5].max() == 0 and diff[5] > 0


def test_env_var_replaces_auto_and_explicit_backend_wins(monkeypatch):
    kw, _ = make_inputs(l=6)
    leaves = {k: v.requires_grad_() for k, v in kw.items()}
    monkeypatch.delenv(ssm.ENV_BACKEND, raising=False)
    assert type(selective_scan(**leaves).grad_fn).__name__ == "_FusedSelectiveScanBackward"
    monkeypatch.setenv(ssm.ENV_BACKEND, "ref")
    assert type(selective_scan(**leaves).grad_fn).__name__ != "_FusedSelectiveScanBackward"
    assert type(selective_scan(**leaves, backend="fused").grad_fn).__name__ == "_FusedSelectiveScanBackward"
    monkeypatch.setenv(ssm.ENV_BACKEND, "gpu")
    with pytest.raises(ValueError, match="MELAB_SSM_BACKEND='gpu' is not a backend"):
        selective_scan(**kw)


def test_bad_arguments_are_named():
    kw, _ = make_inputs(l=6)
    with pytest.raises(ValueError, match="unknown backend"):
        selective_scan(**kw, backend="triton")
    with pytest.raises(ValueError, match="needs CUDA tensors"):
        selective_scan(**kw, backend="cuda")
    with pytest.raises(ValueError, match="B must be"):
        selective_scan(**{**kw, "B": kw["B"][:, :, :5]})
    with pytest.raises(ValueError, match="3 groups, which must divide the 8 channels"):
        selective_scan(**{**kw, "B": torch.randn(2, 3, 4, 6)})
    with pytest.raises(ValueError, match="A must be a real"):
        selective_scan(**{**kw, "A": kw["A"].to(torch.complex64)})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and mamba-ssm's CUDA kernel")
def test_cuda_kernel_matches_cpu_path():
    if ssm._cuda_kernel()[0] is None:
        pytest.skip(f"mamba-ssm's CUDA kernel does not import: {ssm._cuda_kernel()[1]}")
    kw, flags = make_inputs(l=100, d=16, n=16, groups_b=2, options=("D", "z", "delta_bias", "softplus"))
    cpu = selective_scan(**kw, **flags, backend="fused")
    gpu = selective_scan(**{k: v.cuda() for k, v in kw.items()}, **flags, backend="cuda").cpu()
    assert torch.allclose(gpu, cpu, rtol=6e-4, atol=2e-3)  # mamba-ssm's own fp32 tolerances
