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
ablation, the two trunks still share the stem (the preliminary feature extractor, ``Conv1d C -> d_fast``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from melab.ssm import Mamba


@dataclass
class SpotterConfig:
    """Sizes of the spotter. The defaults are the CPU-sized ``tiny`` preset.

    Attributes
    ----------
    in_channels : int
        Channels C of the ROI series (18 ROIs x (dx, dy) = 36 in the reference).
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

    def to_dict(self) -> dict:
        """JSON-able dict; ``SpotterConfig(**d)`` rebuilds it."""
        return asdict(self)


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
    """``depth`` Mamba blocks at one temporal rate, (B, L, D) -> (B, L, D)."""

    def __init__(self, d_model: int, depth: int, **mamba):
        super().__init__()
        self.blocks = nn.ModuleList(MambaBlock(d_model, **mamba) for _ in range(depth))

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


class SlowFastTrunk(nn.Module):
    """Stem, fast and slow paths with lateral connections, fused: (B, L, C) -> (B, L, d_fast + d_slow)."""

    def __init__(self, config: SpotterConfig):
        super().__init__()
        c = config
        mamba = dict(d_state=c.d_state, d_conv=c.d_conv, expand=c.expand)
        self.stem = nn.Conv1d(c.in_channels, c.d_fast, kernel_size=3, padding=1)
        self.slow_stem = nn.Conv1d(c.d_fast, c.d_slow, kernel_size=3, stride=2, padding=1)
        self.fast_stages = nn.ModuleList(Stage(c.d_fast, c.depth, **mamba) for _ in range(c.n_stages))
        self.slow_stages = nn.ModuleList(Stage(c.d_slow, c.depth, **mamba) for _ in range(c.n_stages))
        # laterals after every stage but the last (after stages 1 and 2 in the 3-stage reference)
        self.laterals = nn.ModuleList(LateralConnection(c.d_fast, c.d_slow) for _ in range(c.n_stages - 1))
        self.norm = nn.LayerNorm(c.d_fast + c.d_slow)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        fast = self.stem(x.transpose(1, 2))  # (B, d_fast, L)
        slow = self.slow_stem(fast).transpose(1, 2)  # (B, ceil(L/2), d_slow)
        fast = fast.transpose(1, 2)  # (B, L, d_fast)
        for i, (fast_stage, slow_stage) in enumerate(zip(self.fast_stages, self.slow_stages, strict=True)):
            fast, slow = fast_stage(fast), slow_stage(slow)
            if i < len(self.laterals):
                slow = slow + self.laterals[i](fast)
        slow = slow.repeat_interleave(2, dim=1)[:, :L]  # nearest upsampling back to full rate
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
    ``SpotterOutput(spot (B, L) in [0, 1], logits (B, L, K + 1))``. Every layer works
    sample by sample (LayerNorm, no BatchNorm), so an output never depends
    on the other windows of its batch.
    """

    def __init__(self, config: SpotterConfig | None = None):
        super().__init__()
        self.config = config or SpotterConfig.tiny()
        c = self.config
        d = c.d_fast + c.d_slow
        self.trunk = SlowFastTrunk(c)
        # the ablation of synergistic optimization: the recognition head gets paths of its own, fed by the same stem
        self.recog_trunk = None if c.shared else SlowFastTrunk(c)
        if self.recog_trunk is not None:
            self.recog_trunk.stem = self.trunk.stem
        self.dropout = nn.Dropout(c.dropout)
        self.spot_head = nn.Linear(d, 1)
        self.recog_head = nn.Linear(d, c.n_classes + 1)

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
