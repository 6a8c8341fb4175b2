"""MERba: multi-receptive-field MambaVision for ME recognition, with the DGCM head.

After "MERba: Multi-Receptive Field MambaVision for Micro-Expression Recognition" (no public code).
The input is an onset-apex flow image ``(B, in_channels, S, S)``; the output is class logits.

Reading order, one class per box of the paper's Figure 1::

    flow (B, C_in, S, S)
      -> PatchEmbed: two stride-2 convs                                (B, dim, S/4, S/4)
      -> FFE stage 1: ConvBlocks, Downsample                           (B, 2 dim, S/8, S/8)
      -> LGFI stages 2, 3, 4, each:
           LocalExtractor x local_depth   windows of window x window tokens; every scan in
                                          ``scans`` through a MambaVision mixer, back to 2-D,
                                          summed, then Linear (the mixer's moved out_proj) + MLP
           GlobalBlock x 2                MHSA + MLP over all tokens of the map
           Downsample (stages 2, 3)       half the resolution, twice the channels
           BatchNorm + average pool (4)   (B, 8 dim)
      -> head: ``single`` Linear -> 7 classes, or ``dgcm``: coarse Linear -> 4, fine Linear -> 4

The table of sizes (paper's Table I) is lost in our copy. ``MERbaConfig.paper()`` takes the
MambaVision-B widths the paper builds on (dim 128, patch-embed width 64, heads 2/4/8/16 over the
stages), a 224 x 224 input and a fixed 7 x 7 window: stage 2 (28 x 28) then has 16 windows,
stage 3 (14 x 14) has 4 and stage 4 (7 x 7) is a single window, "encompassing the entire feature
map" as the text says. The local-extractor depth per stage (2) is our choice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from melab.data.splits import COARSE_CLASSES, FINE_CLASSES, SEVEN_CLASSES, dgcm_to_seven, to_coarse, to_fine
from melab.scan import apply_scan, scan_order, undo_scan, window_merge, window_partition
from melab.ssm import MambaVisionMixer

ASYMMETRIC_SCANS = ("h_raster", "v_raster", "h_zigzag", "v_zigzag")


@dataclass
class MERbaConfig:
    """Sizes of MERba. The defaults are the CPU-sized ``tiny`` preset.

    Attributes
    ----------
    img_size, in_channels : int
        Input flow image size S (square) and channels.
    dim, patch_dim : int
        Width of stage 1 and of the first patch-embedding conv; stage i has ``dim * 2**(i-1)``.
    stage1_depth : int
        ConvBlocks of the fast feature extraction (FFE) stage 1.
    local_depths : tuple of int
        Local extractors (each followed by its MLP) in LGFI stages 2, 3, 4.
    global_depth : int
        Global MHSA + MLP blocks after the local extractors of every LGFI stage (2 in the paper).
    heads : tuple of int
        Attention heads in stages 2, 3, 4.
    window : int
        Fixed local window size (tokens per side) in every LGFI stage.
    scans : tuple of str
        Scan orders of :func:`melab.scan.scan_order` used in every window.
    d_state, d_conv, expand : int
        MambaVision mixer sizes.
    mlp_ratio : float
        Hidden width of every MLP relative to its input.
    dropout : float
        Dropout before the head (0.1 in the paper).
    head : str
        ``"single"`` (one linear head over SEVEN_CLASSES) or ``"dgcm"`` (coarse + fine heads).
    """

    img_size: int = 96
    in_channels: int = 3
    dim: int = 16
    patch_dim: int = 8
    stage1_depth: int = 1
    local_depths: tuple[int, ...] = (1, 1, 1)
    global_depth: int = 2
    heads: tuple[int, ...] = (1, 2, 4)
    window: int = 3
    scans: tuple[str, ...] = field(default_factory=lambda: ASYMMETRIC_SCANS)
    d_state: int = 8
    d_conv: int = 3
    expand: int = 1
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    head: str = "dgcm"

    def __post_init__(self):
        self.local_depths, self.heads, self.scans = tuple(self.local_depths), tuple(self.heads), tuple(self.scans)
        if self.head not in ("single", "dgcm"):
            raise ValueError(f"MERbaConfig.head must be 'single' or 'dgcm', got {self.head!r}")
        if self.img_size % 32:
            raise ValueError(f"MERbaConfig.img_size must be a multiple of 32 (the map is halved 5 times), "
                             f"got {self.img_size}")

    @classmethod
    def tiny(cls, **overrides) -> MERbaConfig:
        """CPU preset: 96 x 96 flow, window 3: stages 2, 3, 4 at 12, 6, 3 hold 16, 4, 1 windows."""
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides) -> MERbaConfig:
        """MambaVision-B widths at 224 x 224 with a fixed 7 x 7 window (see the module docstring)."""
        sizes = dict(img_size=224, dim=128, patch_dim=64, stage1_depth=3, local_depths=(2, 2, 2),
                     heads=(4, 8, 16), window=7, d_state=8, d_conv=3, expand=1, mlp_ratio=4.0)
        return cls(**{**sizes, **overrides})

    def to_dict(self) -> dict:
        """JSON-able dict; ``MERbaConfig(**d)`` rebuilds it."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class PatchEmbed(nn.Module):
    """Two stride-2 conv-BN-ReLU layers: (B, C_in, S, S) -> (B, dim, S/4, S/4)."""

    def __init__(self, in_channels: int, patch_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, patch_dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(patch_dim),
            nn.ReLU(),
            nn.Conv2d(patch_dim, dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class ConvBlock(nn.Module):
    """FFE residual block (as in MambaVision): x + BN(conv(GELU(BN(conv(x))))), shape kept."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(dim)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm2(self.conv2(F.gelu(self.norm1(self.conv1(x)))))


class Downsample(nn.Module):
    """Half the resolution, twice the channels: (B, C, H, W) -> (B, 2C, H/2, W/2)."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, 2 * dim, 3, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class MLP(nn.Module):
    """Linear -> GELU -> Linear on the last axis."""

    def __init__(self, dim: int, ratio: float):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LocalExtractor(nn.Module):
    """MERba local extractor on windows (paper eqs. 2-4), (B', C, win, win) -> (B', C, win, win).

    Every scan order reads the window into a sequence (eq. 2), the MambaVision mixer (without its
    out projection) runs on it, the sequence is put back on the 2-D grid and the scans are summed
    (eq. 3). The mixer's out projection, moved here as in the paper, is the Linear of eq. 4; an MLP
    block follows. One mixer is shared by all scans: they run as one batch of ``S * B'`` sequences.
    """

    def __init__(self, dim: int, window: int, scans: tuple[str, ...], *, d_state: int, d_conv: int,
                 expand: int, mlp_ratio: float):
        super().__init__()
        self.window = window
        self.orders = [scan_order(window, window, kind) for kind in scans]
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = MambaVisionMixer(dim, d_state=d_state, d_conv=d_conv, expand=expand, project_out=False)
        self.proj = nn.Linear(self.mixer.d_inner, dim)  # the mixer's out_proj, moved after the fusion
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        win = self.window
        x = rearrange(x, "b c h w -> b h w c")
        normed = rearrange(self.norm1(x), "b h w c -> b c h w")
        seqs = torch.cat([apply_scan(normed, order) for order in self.orders])  # (S B', C, N)
        y = self.mixer(seqs.transpose(1, 2)).transpose(1, 2)  # eq. 2: (S B', d_inner, N)
        maps = [undo_scan(part, order, win, win) for part, order in zip(y.chunk(len(self.orders)), self.orders,
                                                                        strict=True)]
        fused = rearrange(torch.stack(maps).sum(dim=0), "b c h w -> b h w c")  # eq. 3: sum over scans
        x = x + self.proj(fused)  # the Linear of eq. 4
        x = x + self.mlp(self.norm2(x))  # the MLP of eq. 4
        return rearrange(x, "b h w c -> b c h w")


class Attention(nn.Module):
    """Multi-head self-attention over all tokens, (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads; change MERbaConfig.heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d)
        return self.proj(rearrange(y, "b h n d -> b n (h d)"))


class GlobalBlock(nn.Module):
    """Global dependency modelling (eq. 5): x + MHSA(LN(x)), then x + MLP(LN(x)), (B, N, C)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class LGFIStage(nn.Module):
    """Local-global feature integration stage: (B, C, H, W) -> (B, 2C, H/2, W/2), or (B, C) if last.

    The window is ``min(window, H)``: when the map has shrunk to the window size or below, the
    single window is the whole map.
    """

    def __init__(self, dim: int, local_depth: int, global_depth: int, heads: int, window: int,
                 scans: tuple[str, ...], *, last: bool, **mixer):
        super().__init__()
        self.window = window
        self.local = nn.ModuleList(LocalExtractor(dim, window, scans, **mixer) for _ in range(local_depth))
        self.glob = nn.ModuleList(GlobalBlock(dim, heads, mixer["mlp_ratio"]) for _ in range(global_depth))
        # stage 4 ends with BatchNorm + average pooling instead of a downsample
        self.end = nn.BatchNorm2d(dim) if last else Downsample(dim)
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        windows = window_partition(x, self.window)  # (B nW, C, win, win)
        for block in self.local:
            windows = block(windows)
        x = window_merge(windows, self.window, H, W)  # (B, C, H, W)
        t = rearrange(x, "b c h w -> b (h w) c")  # all H W tokens attend to each other
        for block in self.glob:
            t = block(t)
        x = self.end(rearrange(t, "b (h w) c -> b c h w", h=H))
        return x.mean(dim=(2, 3)) if self.last else x


class MERba(nn.Module):
    """MERba backbone and head.

    Parameters
    ----------
    config : MERbaConfig
        Sizes and head; ``MERbaConfig.tiny()`` for the CPU, ``MERbaConfig.paper()`` for the reference.

    Notes
    -----
    ``forward(x)`` takes onset-apex flow ``x`` (B, in_channels, S, S) float32 and returns logits
    (B, 7) over SEVEN_CLASSES for ``head="single"``, or the pair ``(coarse (B, 4), fine (B, 4))``
    over COARSE_CLASSES and FINE_CLASSES for ``head="dgcm"`` (see :func:`dgcm_predict`).
    ``features(x)`` returns the pooled (B, 8 dim) features.
    """

    def __init__(self, config: MERbaConfig | None = None):
        super().__init__()
        self.config = c = config or MERbaConfig.tiny()
        if len(c.local_depths) != 3 or len(c.heads) != 3:
            raise ValueError("MERbaConfig.local_depths and .heads need one entry per LGFI stage (3)")
        mixer = dict(d_state=c.d_state, d_conv=c.d_conv, expand=c.expand, mlp_ratio=c.mlp_ratio)
        self.patch_embed = PatchEmbed(c.in_channels, c.patch_dim, c.dim)
        self.stage1 = nn.Sequential(*(ConvBlock(c.dim) for _ in range(c.stage1_depth)), Downsample(c.dim))
        self.stages = nn.ModuleList(
            LGFIStage(c.dim * 2 ** (i + 1), c.local_depths[i], c.global_depth, c.heads[i],
                      min(c.window, c.img_size // 2 ** (i + 3)), c.scans, last=i == 2, **mixer)
            for i in range(3)
        )
        width = c.dim * 8
        self.dropout = nn.Dropout(c.dropout)
        if c.head == "single":
            self.head = nn.Linear(width, len(SEVEN_CLASSES))
        else:
            self.coarse_head = nn.Linear(width, len(COARSE_CLASSES))
            self.fine_head = nn.Linear(width, len(FINE_CLASSES))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.ndim != 4 or x.shape[1:] != (c.in_channels, c.img_size, c.img_size):
            raise ValueError(f"MERba expects flow of shape (B, {c.in_channels}, {c.img_size}, {c.img_size}), "
                             f"got {tuple(x.shape)}; resize with melab.flow.onset_apex_flow(size=...)")
        x = self.stage1(self.patch_embed(x))  # (B, 2 dim, S/8, S/8)
        for stage in self.stages:
            x = stage(x)  # stages 2, 3: halve; stage 4: pooled (B, 8 dim)
        return x

    def forward(self, x: torch.Tensor):
        f = self.dropout(self.features(x))
        if self.config.head == "single":
            return self.head(f)  # (B, 7)
        return self.coarse_head(f), self.fine_head(f)  # (B, 4), (B, 4)

    def stage_shapes(self, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
        """Output shape of every box for input ``x``, in reading order (for teaching tables).

        Runs in eval mode (BatchNorm on running statistics), so a single sample works.
        """
        shapes = [("input", tuple(x.shape))]
        was_training = self.training
        self.eval()
        with torch.no_grad():
            x = self.patch_embed(x)
            shapes.append(("patch embed", tuple(x.shape)))
            x = self.stage1(x)
            shapes.append(("FFE stage 1 + downsample", tuple(x.shape)))
            for i, stage in enumerate(self.stages):
                x = stage(x)
                shapes.append((f"LGFI stage {i + 2}" + (" + BN + pool" if stage.last else " + downsample"),
                               tuple(x.shape)))
        self.train(was_training)
        return shapes


# ---- DGCM: labels, loss and the coarse-to-fine decision -------------------------------------------

# index tables of melab.data.splits' DGCM protocol: seven -> coarse, seven -> fine (-1: not negative)
SEVEN_TO_COARSE = torch.tensor([COARSE_CLASSES.index(to_coarse(e)) for e in SEVEN_CLASSES])
SEVEN_TO_FINE = torch.tensor([FINE_CLASSES.index(to_fine(e)) if to_fine(e) else -1 for e in SEVEN_CLASSES])
# coarse -> seven for the non-negative coarse classes (a coarse negative defers to the fine head)
COARSE_TO_SEVEN = torch.tensor([-1 if c == "negative" else SEVEN_CLASSES.index(dgcm_to_seven(c))
                                for c in COARSE_CLASSES])
FINE_TO_SEVEN = torch.tensor([SEVEN_CLASSES.index(dgcm_to_seven("negative", f)) for f in FINE_CLASSES])


def dgcm_predict(coarse_logits: torch.Tensor, fine_logits: torch.Tensor) -> torch.Tensor:
    """Coarse-to-fine decision of the DGCM.

    Parameters
    ----------
    coarse_logits : Tensor
        (B, 4) over COARSE_CLASSES (negative, positive, surprise, others).
    fine_logits : Tensor
        (B, 4) over FINE_CLASSES (anger, disgust, fear, sadness).

    Returns
    -------
    Tensor
        (B,) int64 indices into SEVEN_CLASSES: positive -> happiness, surprise -> surprise,
        others -> contempt, negative -> the fine head's argmax.
    """
    coarse = coarse_logits.argmax(dim=1).cpu()
    fine = FINE_TO_SEVEN[fine_logits.argmax(dim=1).cpu()]
    return torch.where(coarse == COARSE_CLASSES.index("negative"), fine, COARSE_TO_SEVEN[coarse])


def dgcm_alpha(progress: float, *, start: float = 0.2, end: float = 0.8) -> float:
    """Weight of the fine loss at a point of training (our schedule; the paper's eq. 7 is lost).

    ``alpha = start + (end - start) * (1 - cos(pi * progress)) / 2``: a half-cosine ramp that
    starts on the coarse polarity and shifts toward the fine negative classes, flat at both ends.

    Parameters
    ----------
    progress : float
        Fraction of training done, in [0, 1] (epoch / (epochs - 1)).
    start, end : float
        Alpha at the first and the last epoch.
    """
    progress = min(max(progress, 0.0), 1.0)
    return start + (end - start) * (1 - math.cos(math.pi * progress)) / 2


def _weighted_ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean CE with one weight per sample, normalised like ``F.cross_entropy(..., weight=...)``."""
    ce = F.cross_entropy(logits, target, reduction="none")
    return ce.mean() if weight is None else (weight * ce).sum() / weight.sum()


def dgcm_loss(
    coarse_logits: torch.Tensor,
    fine_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: float,
    class_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """DGCM loss ``(1 - alpha) * CE(coarse) + alpha * CE(fine)``, the fine term over negatives only.

    Parameters
    ----------
    coarse_logits, fine_logits : Tensor
        (B, 4) head outputs.
    labels : Tensor
        (B,) int64 indices into SEVEN_CLASSES.
    alpha : float
        Fine-loss weight, from :func:`dgcm_alpha`.
    class_weights : Tensor, optional
        (7,) weights over SEVEN_CLASSES; a sample weighs its seven-class weight in both terms.
        Weighting the seven classes, not the four coarse ones, keeps the coarse head's prior on
        "negative" at four classes' worth: balancing the coarse classes instead would weigh one
        contempt sample like four negatives and push negatives into "others".

    Returns
    -------
    loss : Tensor
        Scalar. A batch without negative samples has a fine term of 0.
    parts : dict
        ``{"coarse": ..., "fine": ...}`` as floats.
    """
    labels = labels.to(coarse_logits.device)
    coarse_target = SEVEN_TO_COARSE.to(labels.device)[labels]
    fine_target = SEVEN_TO_FINE.to(labels.device)[labels]
    weight = None if class_weights is None else class_weights.to(coarse_logits.device)[labels]
    coarse = _weighted_ce(coarse_logits, coarse_target, weight)
    negative = fine_target >= 0
    if negative.any():
        fine = _weighted_ce(fine_logits[negative], fine_target[negative], None if weight is None else weight[negative])
    else:
        fine = fine_logits.sum() * 0.0  # keeps the graph; no negative sample, no fine signal
    loss = (1 - alpha) * coarse + alpha * fine
    return loss, {"coarse": coarse.item(), "fine": fine.item()}
