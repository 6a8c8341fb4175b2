"""Spotter and MERba: shapes, parameter counts, DGCM decision and loss."""

from __future__ import annotations

import pytest
import torch

from melab.data.splits import COARSE_CLASSES, FINE_CLASSES, SEVEN_CLASSES
from melab.models.merba import MERba, MERbaConfig, dgcm_alpha, dgcm_loss, dgcm_predict
from melab.models.spotter import Spotter, SpotterConfig, spotter_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- spotter ----------------------------------------------------------------------------------------

SMALL = SpotterConfig.tiny(in_channels=6, d_fast=8, d_slow=16, n_stages=2, d_state=4)


@pytest.mark.parametrize("length", [20, 21])  # odd lengths: the slow path is ceil(L/2) long
def test_spotter_shapes(length):
    torch.manual_seed(0)
    out = Spotter(SMALL)(torch.randn(3, length, 6))
    assert out.spot.shape == (3, length)
    assert out.logits.shape == (3, length, SMALL.n_classes + 1)
    assert ((out.spot > 0) & (out.spot < 1)).all()


def test_spotter_rejects_wrong_channels():
    with pytest.raises(ValueError, match=r"\(B, L, 6\)"):
        Spotter(SMALL)(torch.randn(2, 10, 5))


def test_spotter_windows_are_independent_of_their_batch():
    torch.manual_seed(0)
    model = Spotter(SMALL).eval()
    x = torch.randn(4, 20, 6)
    with torch.no_grad():
        together = model(x).spot
        alone = torch.cat([model(x[i:i + 1]).spot for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=0)


def test_spotter_param_counts():
    # tiny runs on a laptop; paper is the reference size (8.3 M, built on the meta device: no memory)
    assert n_params(Spotter(SpotterConfig.tiny())) == 80_390
    with torch.device("meta"):
        paper = Spotter(SpotterConfig.paper())
    assert n_params(paper) == 8_299_910
    assert paper.recog_head.out_features == 5  # negative, positive, surprise, others, neutral
    assert paper.trunk.norm.normalized_shape == (384,)  # 128 fast + 256 slow


def test_separate_trunks_share_the_stem_and_double_the_rest():
    shared, separate = Spotter(SMALL), Spotter(SpotterConfig(**{**SMALL.to_dict(), "shared": False}))
    trunk, stem = n_params(shared.trunk), n_params(shared.trunk.stem)
    # the paper's ablation: one preliminary feature extractor (stem), two sets of fast/slow paths
    assert separate.recog_trunk.stem is separate.trunk.stem
    assert n_params(separate) == n_params(shared) + trunk - stem
    # the spot output does not depend on the recognition paths, but the logits do
    x = torch.randn(2, 12, 6)
    with torch.no_grad():
        before = separate(x)
        separate.recog_trunk.fast_stages[0].blocks[0].norm.bias.add_(1.0)
        after = separate(x)
    torch.testing.assert_close(after.spot, before.spot, rtol=0, atol=0)
    assert not torch.allclose(after.logits, before.logits)
    # a checkpoint round trip keeps the stem tied
    again = Spotter(separate.config)
    again.load_state_dict(separate.state_dict())
    assert again.recog_trunk.stem is again.trunk.stem


def test_spotter_loss_weights():
    out = Spotter(SMALL)(torch.randn(2, 10, 6))
    spot, label = torch.zeros(2, 10), torch.full((2, 10), 4)
    loss, parts = spotter_loss(out, spot, label, spot_weight=0.9, recog_weight=0.1)
    assert loss.item() == pytest.approx(0.9 * parts["mse"] + 0.1 * parts["ce"], rel=1e-6)
    only_mse, _ = spotter_loss(out, spot, label, spot_weight=1.0, recog_weight=0.0)
    assert only_mse.item() == pytest.approx(parts["mse"], rel=1e-6)


# ---- MERba ------------------------------------------------------------------------------------------

MINI = MERbaConfig.tiny(img_size=32, window=2, dim=8, patch_dim=4, heads=(1, 1, 1), local_depths=(1, 1, 1))


@pytest.mark.parametrize("head", ["single", "dgcm"])
def test_merba_shapes(head):
    torch.manual_seed(0)
    model = MERba(MERbaConfig(**{**MINI.to_dict(), "head": head})).eval()
    out = model(torch.randn(2, 3, 32, 32))
    if head == "single":
        assert out.shape == (2, len(SEVEN_CLASSES))
    else:
        assert [o.shape for o in out] == [(2, len(COARSE_CLASSES)), (2, len(FINE_CLASSES))]


def test_merba_stage_shapes_follow_the_paper():
    # patch embed /4, stage 1 downsample /8, LGFI 2 and 3 halve and double, stage 4 pools to 8 dim
    shapes = dict(MERba(MINI).stage_shapes(torch.randn(1, 3, 32, 32)))
    assert list(shapes.values()) == [(1, 3, 32, 32), (1, 8, 8, 8), (1, 16, 4, 4), (1, 32, 2, 2), (1, 64, 1, 1),
                                     (1, 64)]


def test_merba_scans_matter_and_are_configurable():
    x = torch.randn(2, 3, 32, 32)
    outs = []
    for scans in [("h_raster",), ("h_raster", "v_raster", "h_zigzag", "v_zigzag")]:
        torch.manual_seed(0)
        model = MERba(MERbaConfig(**{**MINI.to_dict(), "scans": scans, "head": "single"})).eval()
        assert [len(block.orders) for stage in model.stages for block in stage.local] == [len(scans)] * 3
        outs.append(model(x))
    # same weights (the mixer is shared by the scans), different scan sets -> different outputs
    assert not torch.allclose(outs[0], outs[1])


def test_merba_param_counts():
    assert n_params(MERba(MERbaConfig.tiny())) == 588_912
    with torch.device("meta"):
        paper = MERba(MERbaConfig.paper())
    assert n_params(paper) == 68_033_352
    assert paper.coarse_head.in_features == 1024  # 128 * 8 after stage 4


def test_merba_rejects_wrong_size():
    with pytest.raises(ValueError, match="onset_apex_flow"):
        MERba(MINI)(torch.randn(1, 3, 64, 64))


# ---- DGCM -------------------------------------------------------------------------------------------

def one_hot_logits(index: int, n: int = 4) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor([index]), n).float()


@pytest.mark.parametrize("coarse, fine, expected", [
    ("positive", "anger", "happiness"),
    ("surprise", "fear", "surprise"),
    ("others", "sadness", "contempt"),
    ("negative", "anger", "anger"),
    ("negative", "disgust", "disgust"),
    ("negative", "fear", "fear"),
    ("negative", "sadness", "sadness"),
])
def test_dgcm_predict_mapping(coarse, fine, expected):
    pred = dgcm_predict(one_hot_logits(COARSE_CLASSES.index(coarse)), one_hot_logits(FINE_CLASSES.index(fine)))
    assert SEVEN_CLASSES[pred.item()] == expected


def test_dgcm_fine_loss_ignores_non_negative_samples():
    torch.manual_seed(0)
    coarse, fine = torch.randn(4, 4), torch.randn(4, 4, requires_grad=True)
    labels = torch.tensor([SEVEN_CLASSES.index(e) for e in ("happiness", "anger", "surprise", "contempt")])
    loss, parts = dgcm_loss(coarse, fine, labels, alpha=0.5)
    loss.backward()
    assert fine.grad[[0, 2, 3]].abs().sum() == 0  # only the anger row gets a fine gradient
    assert fine.grad[1].abs().sum() > 0
    expected_fine = torch.nn.functional.cross_entropy(fine[1:2], torch.tensor([FINE_CLASSES.index("anger")]))
    assert parts["fine"] == pytest.approx(expected_fine.item(), rel=1e-6)
    no_negative, parts = dgcm_loss(coarse, fine, labels[[0, 2, 3]].repeat(2)[:4], alpha=0.5)
    assert parts["fine"] == 0.0


def test_dgcm_loss_weighs_each_sample_by_its_seven_class_weight():
    torch.manual_seed(1)
    names = ("anger", "sadness", "contempt", "happiness", "fear")
    labels = torch.tensor([SEVEN_CLASSES.index(e) for e in names])
    coarse, fine = torch.randn(5, 4), torch.randn(5, 4)
    weights = torch.arange(1.0, 8.0)  # (7,) one distinct weight per seven-class index
    w = weights[labels]
    coarse_t = torch.tensor([COARSE_CLASSES.index(c) for c in ("negative", "negative", "others", "positive",
                                                               "negative")])
    ce_c = torch.nn.functional.cross_entropy(coarse, coarse_t, reduction="none")
    neg = torch.tensor([0, 1, 4])
    fine_t = torch.tensor([FINE_CLASSES.index(e) for e in ("anger", "sadness", "fear")])
    ce_f = torch.nn.functional.cross_entropy(fine[neg], fine_t, reduction="none")
    loss, parts = dgcm_loss(coarse, fine, labels, alpha=0.3, class_weights=weights)
    assert parts["coarse"] == pytest.approx(((w * ce_c).sum() / w.sum()).item(), rel=1e-6)
    assert parts["fine"] == pytest.approx(((w[neg] * ce_f).sum() / w[neg].sum()).item(), rel=1e-6)
    assert loss.item() == pytest.approx(0.7 * parts["coarse"] + 0.3 * parts["fine"], rel=1e-6)
    # uniform weights are the unweighted loss
    plain, _ = dgcm_loss(coarse, fine, labels, alpha=0.3)
    assert dgcm_loss(coarse, fine, labels, alpha=0.3, class_weights=torch.full((7,), 2.5))[0].item() == \
        pytest.approx(plain.item(), rel=1e-6)


def test_dgcm_alpha_rises_from_start_to_end():
    alphas = [dgcm_alpha(p / 10) for p in range(11)]
    assert alphas[0] == pytest.approx(0.2) and alphas[-1] == pytest.approx(0.8)
    assert all(b > a for a, b in zip(alphas, alphas[1:], strict=False))
