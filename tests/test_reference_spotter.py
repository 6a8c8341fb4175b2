"""The reference spotter layouts against an independent reading of the two official ``METST_SF`` models.

The oracle here is written from the layer lists of ``METST_SF`` (BoostingVRME ``network.py``: one shared
trunk) and of ME-TST+'s ``METST_SF`` (a shared stem, then two SlowFast pathways ``spot_pathway`` /
``recog_pathway`` and plain Linear heads), not from melab's modules: ``official_shapes`` and
``metst_plus_shapes`` list every state-dict name and shape each official model saves, and
``official_forward`` / ``metst_plus_forward`` run those state dicts functionally, on the official (B, 36, L)
input, with a plain selective-scan loop of their own.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from melab.face import roi_boxes
from melab.flow import (
    REFERENCE_NOSE_ROI,
    REFERENCE_SERIES_OPTIONS,
    REFERENCE_TOP_P,
    channel_names,
    reference_windows,
    roi_series,
)
from melab.models.spotter import (
    OFFICIAL_FAMILIES,
    DropPath,
    Spotter,
    SpotterConfig,
    from_official,
    init_config,
    init_from,
    load_official,
    melab_key,
    official_family,
    official_key,
    reference_drop_rates,
    to_official,
)

# The official sizes: 36 ROI channels, width 128 (slow 256), 3 stages x 4 blocks, Mamba(d_state 64,
# d_conv 4, expand 2), 4 emotion classes + neutral.
C, D, STAGES, DEPTH, N, DCONV, EXPAND, OUT = 36, 128, 3, 4, 64, 4, 2, 5


def official_shapes(d: int = D) -> dict[str, tuple[int, ...]]:
    """Every tensor ``METST_SF(out_channels=5).state_dict()`` holds, name -> shape."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(prefix, c_in, c_out):
        shapes.update({f"{prefix}.weight": (c_out, c_in, 3), f"{prefix}.bias": (c_out,)})

    def bn(prefix, c):
        shapes.update({f"{prefix}.{k}": (c,) for k in ("weight", "bias", "running_mean", "running_var")})
        shapes[f"{prefix}.num_batches_tracked"] = ()

    def ln(prefix, c):
        shapes.update({f"{prefix}.weight": (c,), f"{prefix}.bias": (c,)})

    def mamba(prefix, dm):
        di, rank = EXPAND * dm, math.ceil(dm / 16)
        shapes.update({
            f"{prefix}.in_proj.weight": (2 * di, dm), f"{prefix}.conv1d.weight": (di, 1, DCONV),
            f"{prefix}.conv1d.bias": (di,), f"{prefix}.x_proj.weight": (rank + 2 * N, di),
            f"{prefix}.dt_proj.weight": (di, rank), f"{prefix}.dt_proj.bias": (di,), f"{prefix}.A_log": (di, N),
            f"{prefix}.D": (di,), f"{prefix}.out_proj.weight": (dm, di),
        })

    conv("Stem.0", C, d), bn("Stem.1", d), conv("Stem.3", d, d), bn("Stem.4", d)
    conv("Stem_slow.0", d, 2 * d), bn("Stem_slow.1", 2 * d)
    for s in range(1, STAGES + 1):
        for suffix, dm in (("", 2 * d), ("_fast", d)):
            for j in range(DEPTH):
                block = f"block{s}{suffix}.{j}"
                ln(f"{block}.norm1", dm), ln(f"{block}.norm2", dm), ln(f"{block}.attn.norm", dm)
                mamba(f"{block}.attn.mamba", dm)
    for i in (1, 2):
        conv(f"fuse_{i}.conv.0", d, 2 * d), bn(f"fuse_{i}.conv.1", 2 * d)
    shapes.update({"fc_spot.0.weight": (1, 3 * d), "fc_spot.0.bias": (1,),
                   "fc_recog.0.weight": (OUT, 3 * d), "fc_recog.0.bias": (OUT,)})
    return shapes


def metst_plus_shapes(d: int = D) -> dict[str, tuple[int, ...]]:
    """Every tensor ME-TST+'s ``METST_SF(out_channels=5).state_dict()`` holds: the stem at the top level, then
    the same SlowFast trunk twice, under ``spot_pathway.`` and ``recog_pathway.``, and plain Linear heads."""
    shared = official_shapes(d)
    shapes = {k: v for k, v in shared.items() if k.startswith("Stem.")}
    for pathway in ("spot_pathway", "recog_pathway"):
        shapes |= {f"{pathway}.{k}": v for k, v in shared.items() if not k.startswith(("Stem.", "fc_"))}
    shapes |= {"fc_spot.weight": (1, 3 * d), "fc_spot.bias": (1,), "fc_recog.weight": (OUT, 3 * d),
               "fc_recog.bias": (OUT,)}
    return shapes


def official_state(seed: int = 0, d: int = D, shapes=official_shapes) -> dict[str, torch.Tensor]:
    """Random but well-scaled values for every official tensor (BN statistics included)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes(d).items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(7)
        elif name.endswith("running_var"):
            state[name] = 0.5 + torch.rand(shape, generator=g)
        elif name.endswith("A_log"):
            state[name] = torch.log(1 + 15 * torch.rand(shape, generator=g))
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            state[name] = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        else:
            state[name] = 0.1 * torch.randn(shape, generator=g) + (1.0 if name.endswith((".weight", ".D")) else 0.0)
    return state


def _conv_bn_relu(p, h, prefix_conv, prefix_bn, stride):  # (B, c, L) -> (B, c', L')
    h = F.conv1d(h, p[f"{prefix_conv}.weight"], p[f"{prefix_conv}.bias"], stride=stride, padding=1)
    h = F.batch_norm(h, p[f"{prefix_bn}.running_mean"], p[f"{prefix_bn}.running_var"],
                     p[f"{prefix_bn}.weight"], p[f"{prefix_bn}.bias"], training=False, eps=1e-5)
    return F.relu(h)


def _layer_norm(p, h, prefix):
    return F.layer_norm(h, h.shape[-1:], p[f"{prefix}.weight"], p[f"{prefix}.bias"], eps=1e-5)


def _mamba(p, h, prefix):  # (B, L, dm) -> (B, L, dm), with a scan written step by step
    length = h.shape[1]
    xz = h @ p[f"{prefix}.in_proj.weight"].T
    u, z = xz.chunk(2, dim=-1)  # (B, L, di)
    di = u.shape[-1]
    u = F.conv1d(u.transpose(1, 2), p[f"{prefix}.conv1d.weight"], p[f"{prefix}.conv1d.bias"],
                 padding=DCONV - 1, groups=di)[..., :length]
    u = F.silu(u).transpose(1, 2)  # (B, L, di)
    rank = p[f"{prefix}.dt_proj.weight"].shape[1]
    dt, Bm, Cm = torch.split(u @ p[f"{prefix}.x_proj.weight"].T, [rank, N, N], dim=-1)
    # mamba-ssm takes A_log, D and the dt bias in fp32 whatever the model's dtype
    dt = F.softplus(dt @ p[f"{prefix}.dt_proj.weight"].T + p[f"{prefix}.dt_proj.bias"].float())  # (B, L, di)
    A = -torch.exp(p[f"{prefix}.A_log"].float())  # (di, N)
    state_h = h.new_zeros(h.shape[0], di, N)
    ys = []
    for t in range(length):
        state_h = torch.exp(dt[:, t, :, None] * A) * state_h + (dt[:, t] * u[:, t])[..., None] * Bm[:, t, None, :]
        ys.append((state_h * Cm[:, t, None, :]).sum(-1) + p[f"{prefix}.D"].float() * u[:, t])
    y = torch.stack(ys, dim=1) * F.silu(z)
    return y @ p[f"{prefix}.out_proj.weight"].T


def _official_stem(p, x):  # (B, 36, L) -> (B, d, L)
    return _conv_bn_relu(p, _conv_bn_relu(p, x, "Stem.0", "Stem.1", 1), "Stem.3", "Stem.4", 1)


def _official_pathway(p, h, prefix=""):
    """One official SlowFast trunk after the stem, names under ``prefix``: (B, d, L) -> (B, L, 3d), [slow, fast]."""
    def blocks(x, name):
        for j in range(DEPTH):
            b = f"{prefix}{name}.{j}"
            x = x + _layer_norm(p, _mamba(p, _layer_norm(p, x, f"{b}.attn.norm"), f"{b}.attn.mamba"), f"{b}.norm1")
        return x

    slow = _conv_bn_relu(p, h, f"{prefix}Stem_slow.0", f"{prefix}Stem_slow.1", 2).transpose(1, 2)  # (B, L/2, 2d)
    fast = h.transpose(1, 2)
    for s in range(1, STAGES + 1):
        slow, fast = blocks(slow, f"block{s}"), blocks(fast, f"block{s}_fast")
        if s < STAGES:
            lateral = _conv_bn_relu(p, fast.transpose(1, 2), f"{prefix}fuse_{s}.conv.0", f"{prefix}fuse_{s}.conv.1", 2)
            slow = slow + lateral.transpose(1, 2)
    slow = F.interpolate(slow.transpose(1, 2), scale_factor=2, mode="nearest").transpose(1, 2)
    return torch.cat([slow, fast], dim=2)  # [slow, fast]


def official_forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BoostingVRME's ``METST_SF.forward`` in eval mode, functionally: x (B, 36, L) -> spot (B, L), logits
    (B, L, 5)."""
    p = state
    fused = _official_pathway(p, _official_stem(p, x))
    spot = torch.sigmoid(fused @ p["fc_spot.0.weight"].T + p["fc_spot.0.bias"]).squeeze(-1)
    return spot, fused @ p["fc_recog.0.weight"].T + p["fc_recog.0.bias"]


def metst_plus_forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ME-TST+'s ``METST_SF.forward`` in eval mode: one stem, then the spotting head reads ``spot_pathway``
    and the recognition head ``recog_pathway``. x (B, 36, L) -> spot (B, L), logits (B, L, 5)."""
    p = state
    h = _official_stem(p, x)
    spot = torch.sigmoid(_official_pathway(p, h, "spot_pathway.") @ p["fc_spot.weight"].T + p["fc_spot.bias"])
    logits = _official_pathway(p, h, "recog_pathway.") @ p["fc_recog.weight"].T + p["fc_recog.bias"]
    return spot.squeeze(-1), logits


def _learned(shapes: dict[str, tuple[int, ...]]) -> int:
    """Parameters of a state dict's shapes: everything but BatchNorm's running statistics."""
    return sum(math.prod(s) for k, s in shapes.items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> tuple[dict[str, torch.Tensor], object]:
    """Official-named weights, saved as DataParallel does (``module.`` prefix)."""
    state = official_state()
    path = tmp_path_factory.mktemp("official") / "subject_1.pkl"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    return state, path


def test_reference_has_the_official_parameter_count():
    model = Spotter(SpotterConfig.reference())
    assert sum(p.numel() for p in model.parameters()) == 8_368_902
    assert len(model.state_dict()) == len(official_shapes()) == 399
    assert _learned(official_shapes()) == 8_368_902
    assert sum(p.numel() for p in Spotter(SpotterConfig.paper()).parameters()) == 8_299_910  # melab's own


def test_official_file_loads_every_tensor(weights):
    state, path = weights
    model = load_official(path)
    assert not model.training and model.config.layout == "reference" and model.config.n_classes == 4
    own = model.state_dict()
    targets = [melab_key(k) for k in state]
    assert None not in targets and sorted(targets) == sorted(own)  # one place each, none left over
    for k, v in state.items():
        assert torch.equal(own[melab_key(k)], v), k


def test_round_trip_is_exact():
    torch.manual_seed(3)
    model = Spotter(SpotterConfig.reference())
    state = model.state_dict()
    official = to_official(state)
    assert set(official) == set(official_shapes())
    assert {k: tuple(v.shape) for k, v in official.items()} == official_shapes()
    back = from_official(official, model.config)
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    assert all(melab_key(official_key(k)) == k for k in state)


def test_load_official_matches_the_official_forward(weights):
    """Exact in float64 (the layout, names and order are right); float32 differs only by rounding."""
    state, path = weights
    x = torch.randn(2, C, 16, generator=torch.Generator().manual_seed(1))  # official layout (B, 36, L)
    model = load_official(path)
    with torch.no_grad():
        spot, logits = model(x.transpose(1, 2))
        want_spot, want_logits = official_forward(state, x)
        model64 = model.double()
        spot64, logits64 = model64(x.double().transpose(1, 2))
        want64 = official_forward({k: v.double() if v.is_floating_point() else v for k, v in state.items()},
                                  x.double())
    assert spot.shape == (2, 16) and logits.shape == (2, 16, OUT)
    assert (spot64 - want64[0]).abs().max() < 1e-9 and (logits64 - want64[1]).abs().max() < 1e-9
    # float32 through 24 blocks with post-LayerNorms: rounding alone, within mamba-ssm's fp32 tolerance
    assert torch.allclose(spot, want_spot, rtol=6e-4, atol=2e-3)
    assert torch.allclose(logits, want_logits, rtol=6e-4, atol=2e-3)
    assert want_spot.std() > 1e-2 and want_logits.std() > 1e-1  # not a saturated, trivial output


def test_fused_and_reference_scans_agree(weights, monkeypatch):
    model = load_official(weights[1])
    x = torch.randn(1, 12, C, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        fused, fused64 = model(x), model.double()(x.double())
        monkeypatch.setenv("MELAB_SSM_BACKEND", "ref")
        ref64, ref = model(x.double()), model.float()(x)
    for a, b in zip(fused64, ref64, strict=True):
        assert (a - b).abs().max() < 1e-9
    for a, b in zip(fused, ref, strict=True):
        assert torch.allclose(a, b, rtol=6e-4, atol=2e-3)


def test_unmatched_keys_are_listed_both_ways(tmp_path):
    state = official_state(d=16)  # small widths: the error, not the sizes, is under test
    path = tmp_path / "wrong.pkl"
    del state["block2_fast.3.norm2.bias"]
    state["head.extra.weight"] = torch.zeros(3)
    state["fc_spot.0.weight"] = torch.zeros(1, 7)
    torch.save(state, path)
    with pytest.raises(ValueError) as err:
        load_official(path)
    message = str(err.value)
    assert str(path) in message
    assert "1 keys in the file with no place in the reference model: head.extra.weight" in message
    assert "block2_fast.3.norm2.bias" in message  # given in the official spelling
    assert "1 shape mismatches: fc_spot.0.weight: file (1, 7) vs model (1, 48)" in message


def test_me_tst_single_path_model_is_named(tmp_path):
    path = tmp_path / "net_mamba.pkl"
    torch.save({"module.blocks_spot.0.norm1.weight": torch.ones(64), "module.fc_spot.0.bias": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="Net_Mamba"):
        load_official(path)
    with pytest.raises(ValueError, match="Net_Mamba"):
        init_config(path, SpotterConfig.tiny())


# ---- ME-TST+: a shared stem, two SlowFast pathways, plain Linear heads ---------------------------------


@pytest.fixture(scope="module")
def plus_weights(tmp_path_factory) -> tuple[dict[str, torch.Tensor], object]:
    """ME-TST+-named weights at the paper's sizes, saved with DataParallel's ``module.`` prefix."""
    state = official_state(seed=5, shapes=metst_plus_shapes)
    path = tmp_path_factory.mktemp("metst_plus") / "subject_1.pkl"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    return state, path


def test_two_trunk_reference_has_the_metst_plus_parameter_count():
    model = Spotter(SpotterConfig.reference(shared=False))
    assert len(metst_plus_shapes()) == 780
    assert sum(p.numel() for p in model.parameters()) == _learned(metst_plus_shapes()) == 16_671_750
    # the two trunks share the stem module: its 14 tensors appear under both names, once in the file
    assert model.recog_trunk.stem is model.trunk.stem and len(model.state_dict()) == 780 + 14


def test_official_families_are_told_apart_by_their_keys(weights, plus_weights):
    assert official_family(official_state(d=16)) == "boostingvrme"
    assert official_family(official_state(d=16, shapes=metst_plus_shapes)) == "me_tst_plus"
    assert official_family({"blocks_spot.0.norm1.weight": torch.ones(2)}) == "net_mamba"
    assert official_family(Spotter(SpotterConfig.tiny()).state_dict()) is None
    assert load_official(weights[1]).official_family == "boostingvrme"
    assert set(OFFICIAL_FAMILIES) == {"boostingvrme", "me_tst_plus", "net_mamba"}


def test_metst_plus_file_loads_every_tensor(plus_weights):
    state, path = plus_weights
    model = load_official(path)
    assert model.official_family == "me_tst_plus" and not model.training
    assert model.config == SpotterConfig.reference(shared=False)
    own = model.state_dict()
    for k, v in state.items():
        target = melab_key(k, "me_tst_plus")
        assert target is not None and torch.equal(own[target], v), k
    assert torch.equal(own["recog_trunk.stem.0.weight"], state["Stem.0.weight"])


def test_metst_plus_matches_its_official_forward(plus_weights):
    """Both heads, each on its own pathway: exact in float64, rounding only in float32."""
    state, path = plus_weights
    x = torch.randn(2, C, 16, generator=torch.Generator().manual_seed(6))
    model = load_official(path)
    with torch.no_grad():
        spot, logits = model(x.transpose(1, 2))
        want_spot, want_logits = metst_plus_forward(state, x)
        spot64, logits64 = model.double()(x.double().transpose(1, 2))
        want64 = metst_plus_forward({k: v.double() if v.is_floating_point() else v for k, v in state.items()},
                                    x.double())
        shared_reading = official_forward({**state, "fc_spot.0.weight": state["fc_spot.weight"],
                                           "fc_spot.0.bias": state["fc_spot.bias"],
                                           "fc_recog.0.weight": state["fc_recog.weight"],
                                           "fc_recog.0.bias": state["fc_recog.bias"],
                                           **{k.removeprefix("spot_pathway."): v for k, v in state.items()
                                              if k.startswith("spot_pathway.")}}, x)
    assert (spot64 - want64[0]).abs().max() < 1e-9 and (logits64 - want64[1]).abs().max() < 1e-9
    assert torch.allclose(spot, want_spot, rtol=6e-4, atol=2e-3)
    assert torch.allclose(logits, want_logits, rtol=6e-4, atol=2e-3)
    assert want_spot.std() > 1e-2 and want_logits.std() > 1e-1
    # the recognition head reads its own pathway: feeding it the spotting pathway gives other logits
    assert torch.allclose(shared_reading[0], want_spot, rtol=1e-5, atol=1e-6)
    assert (shared_reading[1] - want_logits).abs().max() > 1e-2


def test_metst_plus_round_trip_is_exact():
    torch.manual_seed(7)
    config = SpotterConfig.reference(d_fast=16, d_slow=32, shared=False)
    state = Spotter(config).state_dict()
    official = to_official(state)
    assert {k: tuple(v.shape) for k, v in official.items()} == metst_plus_shapes(16)
    back = from_official(official, config)
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    assert official_key("recog_trunk.stem.3.weight", "me_tst_plus") == "Stem.3.weight"


def test_metst_plus_missing_tensors_are_listed(tmp_path):
    state = official_state(d=16, shapes=metst_plus_shapes)
    del state["recog_pathway.fuse_2.conv.1.running_var"]
    path = tmp_path / "plus.pkl"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"not a complete ME-TST\+'s METST_SF .*recog_pathway\.fuse_2\.conv\.1\."
                                         r"running_var"):
        load_official(path)
    with pytest.raises(ValueError, match="none of the published spotter families"):
        torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "other.pkl")
        load_official(tmp_path / "other.pkl")


def test_metst_plus_weights_start_training(tmp_path):
    state = official_state(seed=8, d=16, shapes=metst_plus_shapes)
    path = tmp_path / "subject_1.pkl"
    torch.save(state, path)
    config = init_config(path, SpotterConfig.tiny())
    assert config == SpotterConfig.reference(d_fast=16, d_slow=32, shared=False)
    model = init_from(Spotter(config), path)
    assert torch.equal(model.recog_trunk.slow_stem[0].weight, state["recog_pathway.Stem_slow.0.weight"])
    with pytest.raises(ValueError, match=r"holds ME-TST\+.*two SlowFast pathways.*reference\(shared=False\)"):
        init_from(Spotter(SpotterConfig.reference(d_fast=16, d_slow=32)), path)  # the one-trunk layout


_UNPICKLED: list[str] = []


def _record(tag: str) -> str:
    _UNPICKLED.append(tag)
    return tag


class _Payload:
    def __reduce__(self):
        return _record, ("ran",)


def test_non_weights_pickle_is_refused(tmp_path):
    path = tmp_path / "payload.pkl"
    torch.save({"Stem.0.weight": _Payload()}, path)
    with pytest.raises(ValueError, match="refuses to unpickle arbitrary objects"):
        load_official(path)
    assert _UNPICKLED == []  # nothing in the file was executed
    torch.save([torch.zeros(2)], tmp_path / "list.pkl")
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_official(tmp_path / "list.pkl")


def test_drop_path_rates_and_behaviour():
    assert reference_drop_rates(4, 0.2) == pytest.approx([0.0, 0.0, 0.2 / 3, 0.4 / 3])
    drop = DropPath(0.5)
    x = torch.ones(4000, 3)
    torch.manual_seed(0)
    y = drop.train()(x)
    kept = y[:, 0] > 0
    assert torch.all((y == 0) | (y == 2.0)) and torch.all(y[kept] == 2.0)  # whole samples, rescaled
    assert 0.45 < kept.float().mean() < 0.55
    assert torch.equal(drop.eval()(x), x)


def test_reference_initialisation_follows_the_official_recipe():
    torch.manual_seed(0)
    model = Spotter(SpotterConfig.reference(d_fast=32, d_slow=64, depth=2))
    block = model.trunk.fast_stages[0].blocks[0]
    assert torch.all(block.mixer.dt_proj.bias == 0)  # the official init zeroes Mamba's dt bias too
    assert 0.015 < block.mixer.in_proj.weight.std() < 0.025
    bound = 1 / math.sqrt(block.mixer.d_inner) / 2  # Kaiming uniform (a = sqrt 5), halved
    assert block.mixer.out_proj.weight.abs().max() <= bound


def test_init_from_official_weights_for_training(weights):
    state, path = weights
    model = init_from(Spotter(SpotterConfig.reference()), path)
    assert torch.equal(model.trunk.stem[0].weight, state["Stem.0.weight"])
    with pytest.raises(ValueError, match="reference layout only"):
        init_from(Spotter(SpotterConfig.paper(n_classes=4)), path)


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="unknown spotter layout 'official'"):
        SpotterConfig(layout="official")


# ---- input compatibility: the reference ROI-series settings -----------------------------------------


def _textured_face(n: int, size: int = 128, seed: int = 1):
    """A smooth random texture as an RGB video of n still frames, with a synthetic subject's landmarks."""
    from melab.data.synthetic import make_subject

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 1.5)
    img = np.rint(40 + 175 * (img - img.min()) / (img.max() - img.min())).astype(np.uint8)
    lm = make_subject(0, 0, size=size).landmarks.astype(np.float32)
    return np.repeat(np.stack([img] * 3, axis=-1)[None], n, axis=0), np.repeat(lm[None], n, axis=0)


def test_reference_windows_are_relative_to_their_first_frame():
    track = np.cumsum(np.random.default_rng(0).normal(size=(40, 4)), axis=0).astype(np.float32)
    windows, starts = reference_windows(track, 10)
    assert starts.tolist() == [0, 5, 10, 15, 20, 25, 30]
    assert windows.shape == (7, 10, 4) and np.all(windows[:, 0] == 0)
    np.testing.assert_allclose(windows[3], track[15:25] - track[15], atol=1e-6)
    with pytest.raises(ValueError, match=r"must be \(T, C\)"):
        reference_windows(track[:, 0], 10)


def test_reference_nose_box_is_the_official_pixel_box():
    lm = np.zeros((68, 2))
    lm[39], lm[42] = (160 - 320 / 9, 100), (160 + 320 / 9, 100)  # inner eye corners 2 g apart: g = 35.6 px
    lm[29], lm[30] = (160, 150), (162, 175)
    x0, y0, x1, y1 = roi_boxes(lm, (REFERENCE_NOSE_ROI,))[0]
    assert (x0, y0, x1, y1) == (160 - 8, 150 + 2, 162 + 8, 175 + 3)  # official: 13 px out, then trimmed


def test_reference_top_p_applies_per_roi():
    n = 16
    frames, lm = _textured_face(n)
    x, y = np.rint(lm[0, 23]).astype(int)  # move half of the patch at brow point 23 (an official 0.3 patch)
    moved = np.roll(frames[0], 2, axis=0)
    frames[8:, y - 4:y + 1, x - 4:x + 5] = moved[y - 4:y + 1, x - 4:x + 5]
    common = dict(k=8, detrend=None, size=128)
    by_kind = roi_series(frames, lm, **common)
    per_roi = roi_series(frames, lm, top_p=REFERENCE_TOP_P, **common)
    names = channel_names()
    changed = {names[c] for c in np.flatnonzero(np.abs(per_roi - by_kind).max(axis=0) > 1e-6)}
    assert changed and changed <= {"brow_l_inner_dx", "brow_l_inner_dy", "brow_l_mid_dx", "brow_l_mid_dy",
                                   "brow_l_outer_dx", "brow_l_outer_dy"}
    with pytest.raises(ValueError, match="one fraction per ROI"):
        roi_series(frames, lm, top_p=(0.3, 0.2, 0.2), **common)


def test_reference_layout_settings_and_a_still_face():
    frames, lm = _textured_face(12)
    assert REFERENCE_SERIES_OPTIONS["size"] == 320 and REFERENCE_SERIES_OPTIONS["align"] is False
    assert len(REFERENCE_TOP_P) == len(channel_names()) // 2 == 18
    series = roi_series(frames, lm, k=6, layout="reference")
    assert series.shape == (12, 36) and np.abs(series).max() < 0.05  # nothing moves
    with pytest.raises(ValueError, match="unknown roi_series layout"):
        roi_series(frames, lm, k=6, layout="official")


# ---- the official weights in `melab spot` and `melab train --init` ------------------------------------


def test_cli_spot_runs_official_weights(weights, tmp_path):
    from melab.cli import main
    from melab.data.synthetic import generate_video
    from melab.data.video import write_video
    from melab.spot import OUTPUT_COLUMNS, load_spotter

    spotter = load_spotter(weights[1], official="samm_lv")
    assert (spotter.layout, spotter.k, spotter.labels) == ("reference", 30, (
        "negative", "positive", "surprise", "others", "neutral"))
    assert spotter.fps == pytest.approx(200 / 7)
    clip = generate_video(1, 0, 0, duration_s=2.0, n_me=0, n_mae=0)
    video = write_video(clip.frames, tmp_path / "clip.mp4", clip.fps)
    np.save(tmp_path / "lm.npy", clip.landmarks)
    out = tmp_path / "out.csv"
    assert main(["spot", str(video), "--checkpoint", str(weights[1]), "--landmarks", str(tmp_path / "lm.npy"),
                 "--out", str(out)]) == 0
    assert list(pd.read_csv(out).columns) == OUTPUT_COLUMNS


def test_train_init_starts_from_official_weights(tmp_path):
    from melab.train import SpotterTrainConfig, train_spotter

    small = dict(d_fast=16, d_slow=32)
    state = official_state(seed=4, d=16)
    path = tmp_path / "small.pkl"
    torch.save(state, path)
    assert init_config(path, SpotterConfig.tiny()) == SpotterConfig.reference(**small)
    rng = np.random.default_rng(0)
    series = {f"v{i}": rng.normal(size=(60, C)).astype(np.float32) for i in range(2)}
    events = pd.DataFrame(dict(subject=["s0", "s1"], video=["v0", "v1"], onset=[20, 30], apex=[24, 34],
                               offset=[28, 38], emotion=["happiness", "surprise"], kind="micro", fps=30.0))
    model, _ = train_spotter(series, events, config=SpotterConfig.reference(**small), progress=False,
                             train=SpotterTrainConfig(epochs=1, lr=0.0, k=16, batch_size=4, init=str(path)))
    params = dict(model.named_parameters())
    for k, v in state.items():  # lr 0: every parameter is still the file's (BatchNorm statistics move)
        if melab_key(k) in params:
            assert torch.equal(params[melab_key(k)], v), k
    with pytest.raises(ValueError, match="reference layout only"):
        train_spotter(series, events, config=SpotterConfig.tiny(), progress=False,
                      train=SpotterTrainConfig(epochs=1, k=16, init=str(path)))
