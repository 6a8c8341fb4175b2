"""SlowFast Mamba spotter: video-level regression of ME probability and emotion per frame.

After BoostingVRME (Guo et al., prior-guided video-level regression) and ME-TST. The input is a
window of an ROI flow series, ``(B, L, C)``; the output is, for every frame, a spotting probability
and recognition logits over K emotion classes plus neutral (last).

Reading order, one class per box of the reference figure::

    ROI series (B, L, C)
      -> stem: Conv1d C -> d_fast                       fast path, full rate   (B, L, d_fast)
      -> slow stem: Conv1d stride 2 d_fast -> d_slow    slow path, half rate   (B, L/2, d_slow)
      -> n_stages x (fast stage | slow stage), each stage = depth x MambaBlock (pre-LN residual)
         after every stage but the last: slow += LateralConnection(fast)   (stride-2 conv)
      -> slow upsampled x2, concatenated with fast      (B, L, d_fast + d_slow)
      -> spot head: Linear -> 1 -> sigmoid             (B, L)
      -> recognition head: Linear -> K + 1             (B, L, K + 1), neutral last

With ``shared=True`` (the paper's "synergistic optimization") one trunk feeds both heads; with
``shared=False`` each head gets its own fast and slow paths, the ablation of that idea. As in the paper's
ablation, the two trunks still share the stem (the preliminary feature extractor).

Two layouts
-----------
``layout="melab"`` (the default, above) is melab's own reading of the method. ``layout="reference"``
(:meth:`SpotterConfig.reference`) is the official ``METST_SF`` (``network.py`` of zizheng-guo/BoostingVRME)
layer for layer, so that the published weights load (:func:`load_official`) and give the official outputs:

=====================  ======================================  ==============================================
part                   melab (default)                         reference (official ``METST_SF``)
=====================  ======================================  ==============================================
stem                   Conv1d C -> d_fast                      Conv1d C -> d_fast, BN, ReLU,
                                                               Conv1d d_fast -> d_fast, BN, ReLU
slow stem              stride-2 Conv1d                         stride-2 Conv1d, BN, ReLU
lateral (fast->slow)   stride-2 Conv1d, added to slow          stride-2 Conv1d, BN, ReLU, added to slow
block                  x + Mamba(LN(x))                        x + DropPath(LN(Mamba(LN(x)))), plus a third
                                                               LayerNorm that is built but never applied
DropPath               none                                    rate 0 for block 1, then linspace(0, 0.2,
                                                               depth)[:-1]: 0, 0, 0.067, 0.133 per stage
fusion                 concat [fast, slow], final LayerNorm    concat [slow, fast], no final norm
initialisation         PyTorch / mamba-ssm defaults            Linear: trunc-normal(0.02), bias 0 (also
                                                               Mamba's dt_proj); out_proj: Kaiming / 2
batch dependence       none (LayerNorm only)                   BatchNorm: batch statistics in train mode
parameters (paper)     8,299,910                               8,368,902 (K = 4 + neutral)
=====================  ======================================  ==============================================

Both nearest-upsample the slow path x2; the official ``nn.Upsample`` fails on odd window lengths, where
both melab layouts trim the upsampled path to L. Official state dicts use other names; :func:`official_key`
and :func:`melab_key` translate one name, :func:`from_official` and :func:`to_official` a whole state dict
(the table is in :data:`OFFICIAL_RULES`).

The current ME-TST code (ME-TST+) publishes a second model under the same class name ``METST_SF``: the same
stem, then **two** SlowFast trunks, ``spot_pathway`` for the spotting head and ``recog_pathway`` for the
recognition head (each with its own slow stem, blocks and laterals), and plain ``nn.Linear`` heads. That is
``SpotterConfig.reference(shared=False)``, whose two trunks share the stem module: 16,671,750 parameters,
780 tensors in the official file (:data:`METST_PLUS_RULES`). :func:`official_family` tells the published
files apart by their keys (:data:`OFFICIAL_FAMILIES`, with ME-TST's older ``Net_Mamba``, which melab refuses
by name), and :func:`load_official` builds the layout the file needs. The Mamba layer inside a block is mamba-ssm's
``mamba_simple.Mamba(d_model, d_state=64, d_conv=4, expand=2)``; :class:`melab.ssm.Mamba` has the same
parameter names (``in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj``) and the same forward.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from melab.inputs import DEFAULT_INPUT, LEGACY_INPUT, check_input
from melab.ssm import Mamba
from melab.weights import config_from, load_weights

LAYOUTS = ("melab", "reference")


@dataclass
class SpotterConfig:
    """Sizes of the spotter. The defaults are the CPU-sized ``tiny`` preset.

    Attributes
    ----------
    in_channels : int
        Channels of the model input: :func:`melab.inputs.input_channels` of the ROI series' channels (36 = 18 ROIs
        x (dx, dy) in the reference; 72 for ``input="contrast_velocity"`` of them). ``train_spotter`` sets it.
    n_classes : int
        Emotion classes K; the recognition head has K + 1 outputs (neutral last).
    d_fast, d_slow : int
        Widths of the fast (full rate) and slow (half rate) paths.
    n_stages, depth : int
        Stages per path and Mamba blocks per stage.
    d_state, d_conv, expand : int
        Mamba block sizes (state size, causal conv width, inner expansion).
    shared : bool
        One trunk for both heads (True, the paper) or one trunk per head after a shared stem (False, the
        paper's ablation).
    dropout : float
        Dropout on the trunk features before the heads.
    layout : {"melab", "reference"}
        melab's own layers, or the official ``METST_SF`` layer for layer (see the module docstring).
    drop_path : float
        Reference layout only: the largest stochastic-depth rate (the official 0.2; see :class:`DropPath`).
    input : str
        What the model reads (:mod:`melab.inputs`): ``"contrast_velocity"`` by default, ``"window"`` (the
        official window-relative displacement) for the reference layout. Whole-video scores apply it
        (:func:`melab.inference.predict_video`), and so do the training windows, so a checkpoint carries it.
    """

    in_channels: int = 36
    n_classes: int = 4
    d_fast: int = 32
    d_slow: int = 64
    n_stages: int = 3
    depth: int = 1
    d_state: int = 8
    d_conv: int = 4
    expand: int = 1
    shared: bool = True
    dropout: float = 0.0
    layout: str = "melab"
    drop_path: float = 0.0
    input: str = DEFAULT_INPUT

    def __post_init__(self):
        check_input(self.input)
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown spotter layout {self.layout!r}; choose one of {', '.join(LAYOUTS)}")
        if self.layout == "melab" and self.drop_path:
            raise ValueError("drop_path belongs to layout='reference'; melab's layout has no stochastic depth")

    @classmethod
    def tiny(cls, **overrides) -> SpotterConfig:
        """CPU preset: 32/64 channels, 3 stages x 1 block, d_state 8, expand 1.

        The state size and expansion are what the CPU scan pays for most; halving both makes a
        training step about 2.4x faster than d_state 16, expand 2 at the same widths.
        """
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides) -> SpotterConfig:
        """Reference sizes: 128/256 channels, 3 stages x 4 blocks, d_state 64 (see DESIGN.md)."""
        sizes = dict(d_fast=128, d_slow=256, n_stages=3, depth=4, d_state=64, d_conv=4, expand=2)
        return cls(**{**sizes, **overrides})

    @classmethod
    def reference(cls, **overrides) -> SpotterConfig:
        """The official ``METST_SF``: paper sizes in the reference layout, 4 classes + neutral, DropPath 0.2.

        8,368,902 parameters; :func:`load_official` fills it from a published weight file.
        """
        sizes = dict(n_classes=4, layout="reference", drop_path=0.2, input="window")
        return cls.paper(**{**sizes, **overrides})

    def to_dict(self) -> dict:
        """JSON-able dict; :meth:`from_dict` rebuilds it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, config: Mapping) -> SpotterConfig:
        """Rebuild a config from :meth:`to_dict` output, e.g. a checkpoint's. A config saved before melab
        recorded the input has none: its model was trained on the stitched track (:data:`melab.inputs.LEGACY_INPUT`),
        and keeps reading it."""
        return cls(**{"input": LEGACY_INPUT, **config})


class SpotterOutput(NamedTuple):
    """Per-frame outputs: ``spot`` (B, L) in [0, 1] and ``logits`` (B, L, K + 1), neutral last."""

    spot: torch.Tensor
    logits: torch.Tensor


class MambaBlock(nn.Module):
    """Pre-LN residual Mamba block: x + Mamba(LayerNorm(x)), (B, L, D) -> (B, L, D)."""

    def __init__(self, d_model: int, *, d_state: int, d_conv: int, expand: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = Mamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mixer(self.norm(x))


class Stage(nn.Module):
    """``depth`` residual Mamba blocks at one temporal rate, applied in order, (B, L, D) -> (B, L, D)."""

    def __init__(self, blocks: Iterable[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class LateralConnection(nn.Module):
    """Fast -> slow: a stride-2 conv brings (B, L, d_fast) to the slow rate (B, ceil(L/2), d_slow)."""

    def __init__(self, d_fast: int, d_slow: int):
        super().__init__()
        self.conv = nn.Conv1d(d_fast, d_slow, kernel_size=3, stride=2, padding=1)

    def forward(self, fast: torch.Tensor) -> torch.Tensor:
        return self.conv(fast.transpose(1, 2)).transpose(1, 2)


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a sample's whole residual branch with probability ``rate`` and
    scale the kept ones by 1 / (1 - rate); the identity in eval mode. (B, ...) -> (B, ...)."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class ReferenceBlock(nn.Module):
    """The official block: x + DropPath(LayerNorm(Mamba(LayerNorm(x)))), (B, L, D) -> (B, L, D).

    ``unused_norm`` is the official block's second LayerNorm (``norm2``): built, saved in every weight
    file, never applied. It is kept so that the state dict and the parameter count match.
    """

    def __init__(self, d_model: int, *, drop_path: float, d_state: int, d_conv: int, expand: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = Mamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand)
        self.post_norm = nn.LayerNorm(d_model)
        self.unused_norm = nn.LayerNorm(d_model)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.post_norm(self.mixer(self.norm(x))))


def reference_drop_rates(depth: int, rate: float) -> list[float]:
    """Per-block DropPath rates of one official stage: 0, then ``linspace(0, rate, depth)`` without its
    last value (depth 4, rate 0.2: 0, 0, 0.067, 0.133). Every stage restarts at 0."""
    return ([0.0] + torch.linspace(0, rate, depth).tolist())[:depth]


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv1d(c_in, c_out, kernel_size=3, stride=stride, padding=1), nn.BatchNorm1d(c_out), nn.ReLU()]


class ReferenceTrunk(nn.Module):
    """The official trunk: (B, L, C) -> (B, L, d_slow + d_fast), concatenated [slow, fast], no final norm.

    The stem, the slow stem and each lateral are ``nn.Sequential`` (conv, BN, ReLU[, conv, BN, ReLU]) so
    that their indices are the official ones.
    """

    def __init__(self, config: SpotterConfig):
        super().__init__()
        c = config
        mamba = dict(d_state=c.d_state, d_conv=c.d_conv, expand=c.expand)
        rates = reference_drop_rates(c.depth, c.drop_path)

        def stage(d_model: int) -> Stage:
            return Stage(ReferenceBlock(d_model, drop_path=r, **mamba) for r in rates)

        self.stem = nn.Sequential(*_conv_bn_relu(c.in_channels, c.d_fast, 1), *_conv_bn_relu(c.d_fast, c.d_fast, 1))
        self.slow_stem = nn.Sequential(*_conv_bn_relu(c.d_fast, c.d_slow, 2))
        self.fast_stages = nn.ModuleList(stage(c.d_fast) for _ in range(c.n_stages))
        self.slow_stages = nn.ModuleList(stage(c.d_slow) for _ in range(c.n_stages))
        self.laterals = nn.ModuleList(ReferenceLateral(c.d_fast, c.d_slow) for _ in range(c.n_stages - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fast, slow = slow_fast_paths(self, x, slow_first=True)
        return torch.cat([slow, fast], dim=-1)  # (B, L, d_slow + d_fast): the official order


class ReferenceLateral(nn.Module):
    """Official fast -> slow lateral: stride-2 conv, BN, ReLU; (B, L, d_fast) -> (B, ceil(L/2), d_slow)."""

    def __init__(self, d_fast: int, d_slow: int):
        super().__init__()
        self.conv = nn.Sequential(*_conv_bn_relu(d_fast, d_slow, 2))

    def forward(self, fast: torch.Tensor) -> torch.Tensor:
        return self.conv(fast.transpose(1, 2)).transpose(1, 2)


def reference_init(model: nn.Module) -> None:
    """The official initialisation, in place: every Linear (Mamba's projections, dt_proj included, and the
    heads) trunc-normal(std 0.02) with zero bias, LayerNorms 1 / 0, then each Mamba's ``out_proj`` Kaiming
    uniform divided by sqrt(4) = 2. Convolutions, BatchNorm, ``A_log`` and ``D`` keep their defaults."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in model.modules():
        if isinstance(m, Mamba):
            nn.init.kaiming_uniform_(m.out_proj.weight, a=math.sqrt(5))
            with torch.no_grad():
                m.out_proj.weight /= 2.0


def slow_fast_paths(trunk: nn.Module, x: torch.Tensor, *,
                    slow_first: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The two paths of a SlowFast trunk (either layout), before they are fused.

    ``x`` (B, L, C) goes through ``trunk.stem`` to the fast path (B, L, d_fast) and ``trunk.slow_stem`` to the
    slow path at half rate; the stages run side by side, each lateral adds fast into slow, and the slow path is
    upsampled back to L by nearest neighbour (``nn.Upsample(scale_factor=2)``; trimmed to L when L is odd).
    ``slow_first`` runs each slow stage before its fast twin, as the official code does, so that DropPath's
    random draws come in the official order. Returns ``(fast (B, L, d_fast), slow (B, L, d_slow))``.
    """
    L = x.shape[1]
    fast = trunk.stem(x.transpose(1, 2))  # (B, d_fast, L)
    slow = trunk.slow_stem(fast).transpose(1, 2)  # (B, ceil(L/2), d_slow)
    fast = fast.transpose(1, 2)  # (B, L, d_fast)
    for i, (fast_stage, slow_stage) in enumerate(zip(trunk.fast_stages, trunk.slow_stages, strict=True)):
        if slow_first:
            slow, fast = slow_stage(slow), fast_stage(fast)
        else:
            fast, slow = fast_stage(fast), slow_stage(slow)
        if i < len(trunk.laterals):
            slow = slow + trunk.laterals[i](fast)
    return fast, slow.repeat_interleave(2, dim=1)[:, :L]


class SlowFastTrunk(nn.Module):
    """Stem, fast and slow paths with lateral connections, fused: (B, L, C) -> (B, L, d_fast + d_slow)."""

    def __init__(self, config: SpotterConfig):
        super().__init__()
        c = config
        mamba = dict(d_state=c.d_state, d_conv=c.d_conv, expand=c.expand)
        self.stem = nn.Conv1d(c.in_channels, c.d_fast, kernel_size=3, padding=1)
        self.slow_stem = nn.Conv1d(c.d_fast, c.d_slow, kernel_size=3, stride=2, padding=1)
        def stage(d_model: int) -> Stage:
            return Stage(MambaBlock(d_model, **mamba) for _ in range(c.depth))

        self.fast_stages = nn.ModuleList(stage(c.d_fast) for _ in range(c.n_stages))
        self.slow_stages = nn.ModuleList(stage(c.d_slow) for _ in range(c.n_stages))
        # laterals after every stage but the last (after stages 1 and 2 in the 3-stage reference)
        self.laterals = nn.ModuleList(LateralConnection(c.d_fast, c.d_slow) for _ in range(c.n_stages - 1))
        self.norm = nn.LayerNorm(c.d_fast + c.d_slow)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fast, slow = slow_fast_paths(self, x)
        return self.norm(torch.cat([fast, slow], dim=-1))  # (B, L, d_fast + d_slow)


class Spotter(nn.Module):
    """SlowFast Mamba spotter with a spotting head and a recognition head.

    Parameters
    ----------
    config : SpotterConfig
        Sizes; ``SpotterConfig.tiny()`` for the CPU, ``SpotterConfig.paper()`` for the reference.

    Notes
    -----
    ``forward(x)`` takes an ROI series window ``x`` of shape (B, L, C) float32 and returns
    ``SpotterOutput(spot (B, L) in [0, 1], logits (B, L, K + 1))``. In melab's layout every layer works
    sample by sample (LayerNorm, no BatchNorm), so an output never depends on the other windows of its
    batch; the reference layout has BatchNorm, which does so in train mode (never in eval mode).
    """

    def __init__(self, config: SpotterConfig | None = None):
        super().__init__()
        self.config = config or SpotterConfig.tiny()
        c = self.config
        d = c.d_fast + c.d_slow
        trunk = ReferenceTrunk if c.layout == "reference" else SlowFastTrunk
        self.trunk = trunk(c)
        # the ablation of synergistic optimization: the recognition head gets paths of its own, fed by the same stem
        self.recog_trunk = None if c.shared else trunk(c)
        if self.recog_trunk is not None:
            self.recog_trunk.stem = self.trunk.stem
        self.dropout = nn.Dropout(c.dropout)
        self.spot_head = nn.Linear(d, 1)
        self.recog_head = nn.Linear(d, c.n_classes + 1)
        if c.layout == "reference":
            reference_init(self)

    def forward(self, x: torch.Tensor) -> SpotterOutput:
        if x.ndim != 3 or x.shape[-1] != self.config.in_channels:
            raise ValueError(
                f"Spotter expects an ROI series of shape (B, L, {self.config.in_channels}), got "
                f"{tuple(x.shape)}; build windows with melab.train.spotter_windows"
            )
        features = self.dropout(self.trunk(x))  # (B, L, d)
        recog_features = features if self.recog_trunk is None else self.dropout(self.recog_trunk(x))
        spot = torch.sigmoid(self.spot_head(features)).squeeze(-1)  # (B, L)
        return SpotterOutput(spot, self.recog_head(recog_features))  # logits (B, L, K + 1)


def spotter_loss(
    output: SpotterOutput,
    spot_target: torch.Tensor,
    class_target: torch.Tensor,
    *,
    class_weights: torch.Tensor | None = None,
    spot_weight: float = 0.9,
    recog_weight: float = 0.1,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Reference loss ``spot_weight * MSE(spot) + recog_weight * CE(recognition)``.

    Parameters
    ----------
    output : SpotterOutput
        Model output for a batch, spot (B, L) and logits (B, L, K + 1).
    spot_target : Tensor
        (B, L) float32, 1 inside an ME and 0 elsewhere.
    class_target : Tensor
        (B, L) int64 class per frame in 0..K, neutral = K outside MEs.
    class_weights : Tensor, optional
        (K + 1,) CE weights (balanced weights in :func:`melab.train.fit_spotter`).
    spot_weight, recog_weight : float
        Loss weights; the reference uses 0.9 and 0.1.

    Returns
    -------
    loss : Tensor
        Scalar loss to back-propagate.
    parts : dict
        ``{"mse": ..., "ce": ...}`` as floats, for the history table.
    """
    mse = F.mse_loss(output.spot, spot_target)
    ce = F.cross_entropy(output.logits.flatten(0, 1), class_target.flatten(), weight=class_weights)
    loss = spot_weight * mse + recog_weight * ce
    return loss, {"mse": mse.item(), "ce": ce.item()}


# --------------------------------------------------------------------------------------------------
# Official weights: three published families of state dicts
# --------------------------------------------------------------------------------------------------

# What each published family is, for messages. The official files carry no model name, so the family is
# told apart by its keys (:func:`official_family`).
OFFICIAL_FAMILIES: dict[str, str] = {
    "boostingvrme": "BoostingVRME's METST_SF (one shared SlowFast trunk; heads fc_spot.0 / fc_recog.0)",
    "me_tst_plus": "ME-TST+'s METST_SF (a shared stem, then two SlowFast pathways spot_pathway / recog_pathway; "
                   "plain Linear heads fc_spot / fc_recog)",
    "net_mamba": "ME-TST's Net_Mamba (10 input channels, 12 single-rate blocks of width 64: blocks_spot / "
                 "blocks_recog)",
}
# Block tensors: official name inside a block -> melab's name inside a ReferenceBlock.
_BLOCK_NAMES = (("attn.norm", "norm"), ("attn.mamba", "mixer"), ("norm1", "post_norm"), ("norm2", "unused_norm"))


def _trunk_rules(official: str, ours: str) -> tuple[tuple[str, str], ...]:
    """Rules of one official SlowFast trunk whose names start with ``official`` (melab prefix ``ours``)."""
    return (
        (f"{official}Stem_slow.{{rest}}", f"{ours}.slow_stem.{{rest}}"),
        (f"{official}fuse_{{i+1}}.conv.{{rest}}", f"{ours}.laterals.{{i}}.conv.{{rest}}"),
        *(
            (f"{official}block{{s+1}}{suffix}.{{j}}.{theirs}.{{rest}}",
             f"{ours}.{path}_stages.{{s}}.blocks.{{j}}.{mine}.{{rest}}")
            for suffix, path in (("_fast", "fast"), ("", "slow"))
            for theirs, mine in _BLOCK_NAMES
        ),
    )


# Official name -> melab name of the reference layout. ``{s+1}``, ``{i+1}``: the official stage and lateral
# numbers count from 1, melab's from 0; ``{j}`` is the block within a stage; ``{rest}`` the tensor inside.
# BoostingVRME's METST_SF: one trunk at the top level, heads wrapped in nn.Sequential (".0").
OFFICIAL_RULES: tuple[tuple[str, str], ...] = (
    ("Stem.{rest}", "trunk.stem.{rest}"),
    *_trunk_rules("", "trunk"),
    ("fc_spot.0.{rest}", "spot_head.{rest}"),
    ("fc_recog.0.{rest}", "recog_head.{rest}"),
)
# ME-TST+'s METST_SF: the stem at the top level (melab's two trunks share it), one trunk per head under
# spot_pathway. / recog_pathway., plain Linear heads. melab's ``recog_trunk.stem`` is ``trunk.stem`` itself.
METST_PLUS_RULES: tuple[tuple[str, str], ...] = (
    ("Stem.{rest}", "trunk.stem.{rest}"),
    *_trunk_rules("spot_pathway.", "trunk"),
    *_trunk_rules("recog_pathway.", "recog_trunk"),
    ("fc_spot.{rest}", "spot_head.{rest}"),
    ("fc_recog.{rest}", "recog_head.{rest}"),
)
_RULES = {"boostingvrme": OFFICIAL_RULES, "me_tst_plus": METST_PLUS_RULES}

_FIELD = re.compile(r"\{(\w+)(\+1)?\}")


def _compile(pattern: str) -> re.Pattern:
    parts, last = [], 0
    for m in _FIELD.finditer(pattern):
        parts.append(re.escape(pattern[last:m.start()]))
        parts.append(f"(?P<{m[1]}>.+)" if m[1] == "rest" else f"(?P<{m[1]}>\\d+)")
        last = m.end()
    return re.compile("".join(parts) + re.escape(pattern[last:]))


def _translate(name: str, source: str, target: str) -> str | None:
    """``name`` matched against the ``source`` pattern and written with the ``target`` pattern."""
    m = _compile(source).fullmatch(name)
    if m is None:
        return None
    values = {}
    for field in _FIELD.finditer(source):
        raw = m[field[1]]
        values[field[1]] = raw if field[1] == "rest" else int(raw) - (1 if field[2] else 0)
        if field[1] != "rest" and values[field[1]] < 0:
            return None
    return _FIELD.sub(lambda f: str(values[f[1]] + (1 if f[2] else 0)) if f[1] != "rest" else values["rest"], target)


def _check_family(family: str) -> tuple[tuple[str, str], ...]:
    if family not in _RULES:
        raise ValueError(f"family must be one of {', '.join(_RULES)} (the families melab loads), got {family!r}")
    return _RULES[family]


def melab_key(official: str, family: str = "boostingvrme") -> str | None:
    """The reference-layout name of an official state-dict name of ``family`` (None: no such place)."""
    for source, target in _check_family(family):
        if (name := _translate(official, source, target)) is not None:
            return name
    return None


def official_key(name: str, family: str = "boostingvrme") -> str | None:
    """The official name (of ``family``) of a reference-layout state-dict name (None: the official has none).

    In the two-trunk layout, ``recog_trunk.stem.*`` is ``trunk.stem.*`` itself and is saved once, as ``Stem.*``.
    """
    if family == "me_tst_plus" and name.startswith("recog_trunk.stem."):
        return official_key("trunk.stem." + name.removeprefix("recog_trunk.stem."), family)
    for target, source in _check_family(family):
        if (official := _translate(name, source, target)) is not None:
            return official
    return None


def official_family(state: Mapping[str, torch.Tensor]) -> str | None:
    """Which published model an official state dict belongs to, from its keys (``module.`` already stripped).

    Returns
    -------
    ``"me_tst_plus"`` (keys under ``spot_pathway.`` / ``recog_pathway.``), ``"net_mamba"`` (``blocks_spot.`` /
    ``blocks_recog.``), ``"boostingvrme"`` (``Stem_slow.``, ``fuse_<i>.``, ``block<s>[_fast].<j>.`` at the top
    level), or None for anything else (a melab checkpoint, another model). :data:`OFFICIAL_FAMILIES` describes each.
    """
    keys = list(state)
    if any(k.startswith(("spot_pathway.", "recog_pathway.")) for k in keys):
        return "me_tst_plus"
    if any(k.startswith(("blocks_spot.", "blocks_recog.")) for k in keys):
        return "net_mamba"
    if any(k.startswith(("Stem_slow.", "fuse_")) or re.match(r"block\d+(_fast)?\.\d+\.", k) for k in keys):
        return "boostingvrme"
    return None


def to_official(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A reference-layout state dict under the official names: BoostingVRME's for the shared trunk, ME-TST+'s
    for two trunks (what the official ``METST_SF.load_state_dict`` of that family takes)."""
    family = "me_tst_plus" if any(k.startswith("recog_trunk.") for k in state) else "boostingvrme"
    out = {}
    for name, tensor in state.items():
        if family == "me_tst_plus" and name.startswith("recog_trunk.stem."):
            continue  # the shared stem, saved once
        official = official_key(name, family)
        if official is None:
            raise ValueError(f"{name!r} has no official counterpart; only layout='reference' state dicts "
                             "(SpotterConfig.reference(), shared=True or False) translate")
        out[official] = tensor
    return out


def _hint(keys: list[str]) -> str:
    if any(k.startswith(("trunk.", "spot_head.")) for k in keys):
        return " These are melab names: load a melab checkpoint with melab.train.load_model."
    return ""


def from_official(state: Mapping[str, torch.Tensor], config: SpotterConfig, *,
                  source: str = "the state dict") -> dict[str, torch.Tensor]:
    """Official names -> the reference model's names, checked against ``Spotter(config)``.

    ``config.shared`` picks the family: True reads BoostingVRME's names, False ME-TST+'s (whose stem both
    melab trunks share). Every official tensor must find a place of the same shape and every tensor of the
    model must be given; otherwise a ValueError lists the official keys with no place, the model tensors that
    were not given, and the shape mismatches.
    """
    if config.layout != "reference":
        raise ValueError("official weights load into the reference layout only: use SpotterConfig.reference() "
                         "(BoostingVRME) or SpotterConfig.reference(shared=False) (ME-TST+)")
    family = "boostingvrme" if config.shared else "me_tst_plus"
    found = official_family(state)
    if found in _RULES and found != family:
        wanted = "SpotterConfig.reference()" if found == "boostingvrme" else "SpotterConfig.reference(shared=False)"
        raise ValueError(f"{source} holds {OFFICIAL_FAMILIES[found]}, but the model has "
                         f"{'one shared trunk' if config.shared else 'two trunks'}; build it with {wanted}, or "
                         "let melab.models.spotter.load_official / official_config pick the layout")
    own = Spotter(config).state_dict()
    mapped = {official: melab_key(official, family) for official in state}
    homeless = sorted(k for k, name in mapped.items() if name not in own)
    given = {name for name in mapped.values() if name is not None}
    if family == "me_tst_plus":  # the shared stem fills both trunks
        given |= {"recog_trunk.stem." + n.removeprefix("trunk.stem.") for n in given if n.startswith("trunk.stem.")}
    absent = sorted({official_key(k, family) or k for k in own if k not in given})
    shapes = sorted(f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[name].shape)}"
                    for k, name in mapped.items() if name in own and tuple(state[k].shape) != tuple(own[name].shape))
    if homeless or absent or shapes:
        def listed(title: str, items: list[str]) -> str:
            more = f" (+{len(items) - 12} more)" if len(items) > 12 else ""
            return f"{len(items)} {title}: {', '.join(items[:12])}{more}" if items else ""

        parts = [listed("keys in the file with no place in the reference model", homeless),
                 listed("reference-model tensors missing from the file (official names)", absent),
                 listed("shape mismatches", shapes)]
        raise ValueError(f"{source} is not a complete {OFFICIAL_FAMILIES[family]} state dict "
                         f"({'; '.join(p for p in parts if p)})." + _hint(homeless))
    out = {mapped[k]: v for k, v in state.items()}
    if family == "me_tst_plus":
        out |= {"recog_trunk.stem." + k.removeprefix("trunk.stem."): v for k, v in out.items()
                if k.startswith("trunk.stem.")}
    return out


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state-dict file (``torch.save(model.state_dict())``) read with ``weights_only=True``.

    DataParallel's ``module.`` prefix is stripped. A melab checkpoint gives its ``"model"`` entry. Files
    that need arbitrary unpickling are refused (never run code from a downloaded file), with the errors of
    :func:`melab.weights.load_weights`.
    """
    raw = load_weights(path)
    if isinstance(raw, Mapping) and "format" in raw and isinstance(raw.get("model"), Mapping):
        raw = raw["model"]
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in raw.items()}


def official_config(state: Mapping[str, torch.Tensor], family: str | None = None) -> SpotterConfig:
    """The reference config whose sizes an official state dict has (official sizes where a tensor is absent):
    channels and widths from the stem convs, classes from the recognition head, stages and depth from the
    block names, and the Mamba sizes from the first fast block. ``family`` (default: :func:`official_family`)
    decides the trunks: one shared (BoostingVRME) or two after a shared stem (ME-TST+, ``shared=False``)."""
    family = family or official_family(state) or "boostingvrme"
    _check_family(family)
    trunk = "spot_pathway." if family == "me_tst_plus" else ""
    head = "fc_recog.weight" if family == "me_tst_plus" else "fc_recog.0.weight"
    sizes: dict = {"shared": family == "boostingvrme"}
    if (stem := state.get("Stem.0.weight")) is not None and stem.ndim == 3:
        sizes.update(d_fast=stem.shape[0], in_channels=stem.shape[1])
    if (slow := state.get(f"{trunk}Stem_slow.0.weight")) is not None and slow.ndim == 3:
        sizes["d_slow"] = slow.shape[0]
    if (recog := state.get(head)) is not None and recog.ndim == 2:
        sizes["n_classes"] = recog.shape[0] - 1
    blocks = [re.fullmatch(rf"{re.escape(trunk)}block(\d+)_fast\.(\d+)\..+", k) for k in state]
    blocks = [(int(m[1]), int(m[2])) for m in blocks if m]
    if blocks:
        sizes.update(n_stages=max(s for s, _ in blocks), depth=max(j for _, j in blocks) + 1)
    mamba = f"{trunk}block1_fast.0.attn.mamba."
    if {f"{mamba}A_log", f"{mamba}in_proj.weight", f"{mamba}conv1d.weight"} <= set(state):
        d_inner, d_model = state[f"{mamba}in_proj.weight"].shape[0] // 2, state[f"{mamba}in_proj.weight"].shape[1]
        sizes.update(d_state=state[f"{mamba}A_log"].shape[1], d_conv=state[f"{mamba}conv1d.weight"].shape[-1],
                     expand=max(1, d_inner // max(1, d_model)))
    return SpotterConfig.reference(**sizes)


def _loadable_family(state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> str:
    """The family of an official state dict, or a ValueError that names what the file is."""
    family = official_family(state)
    if family == "net_mamba":
        raise ValueError(f"{path} holds {OFFICIAL_FAMILIES['net_mamba']}, the model of the first ME-TST release. "
                         "melab implements the SlowFast METST_SF only: use BoostingVRME's or ME-TST+'s METST_SF "
                         "weights")
    if family is None:
        first = ", ".join(list(state)[:6])
        raise ValueError(f"{path} is none of the published spotter families ({'; '.join(OFFICIAL_FAMILIES.values())})"
                         f": its keys begin {first}." + _hint(list(state)))
    return family


def load_official(path: str | os.PathLike, *, n_classes: int | None = None) -> Spotter:
    """The reference spotter with an official ``METST_SF`` weight file (BoostingVRME or ME-TST+), in eval mode.

    Parameters
    ----------
    path : path-like
        A ``.pkl`` written by ``torch.save(model.state_dict())`` (per-subject LOSO weights). Read with
        ``torch.load(weights_only=True)``; a ``module.`` prefix (DataParallel) is stripped.
    n_classes : int, optional
        Emotion classes K; default from the file's recognition head (the published weights: 4 +
        neutral, in the order negative, positive, surprise, others, neutral).

    Returns
    -------
    Spotter
        The reference layout with the file's sizes (:func:`official_config`): ``SpotterConfig.reference()``
        for BoostingVRME's one shared trunk, ``SpotterConfig.reference(shared=False)`` for ME-TST+'s two
        pathways. ``model.official_family`` names the family found (a key of :data:`OFFICIAL_FAMILIES`).
        Its ``forward`` takes (B, L, 36) where the official takes (B, 36, L) (or (B, 1, 36, L)): pass
        ``x.transpose(1, 2)``. Inputs must be the official ROI series, window by window (see
        :func:`melab.flow.roi_series` with ``layout="reference"`` and :func:`melab.flow.reference_windows`).

    Raises
    ------
    ValueError
        The file is not a plain state dict; it is ME-TST's Net_Mamba (named as such); it is none of the
        families; or it is one of them with tensors missing or misshapen (the message lists the keys).
    """
    state = read_state_dict(path)
    family = _loadable_family(state, path)
    config = official_config(state, family)
    if n_classes is not None:
        config = SpotterConfig(**{**config.to_dict(), "n_classes": n_classes})
    model = Spotter(config)
    model.load_state_dict(from_official(state, config, source=str(path)))
    model.official_family = family
    return model.eval()


def init_from(model: Spotter, path: str | os.PathLike) -> Spotter:
    """Fill ``model`` in place from a weight file: an official ``METST_SF`` state dict (the model must have the
    reference shape of its family, :func:`official_config`) or a melab checkpoint of the same config. For
    ``--init``."""
    state = read_state_dict(path)
    if official_family(state) is not None:
        _loadable_family(state, path)
        state = from_official(state, model.config, source=str(path))
    own = model.state_dict()
    problems = sorted(set(own) ^ set(state)) + sorted(k for k in set(own) & set(state)
                                                      if own[k].shape != state[k].shape)
    if problems:
        raise ValueError(f"{path} does not fit this spotter ({len(problems)} keys differ: "
                         f"{', '.join(problems[:12])}); train with the config the weights were made with")
    model.load_state_dict(state)
    return model


def init_config(path: str | os.PathLike, default: SpotterConfig) -> SpotterConfig:
    """The config a model must have to start from the weights in ``path`` (for ``--init``): the reference
    layout of an official file's family (:func:`official_config`), the stored config of a melab checkpoint,
    else ``default``."""
    state = read_state_dict(path)  # checks the file and refuses anything but tensors and plain containers
    raw = load_weights(path)
    if isinstance(raw, Mapping) and raw.get("kind") == "spotter" and isinstance(raw.get("config"), Mapping):
        return config_from(SpotterConfig, raw["config"], source=f"--init {path}")
    if official_family(state) is not None:
        return official_config(state, _loadable_family(state, path))
    return default
