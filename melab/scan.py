"""2-D scan orders and local windows: how MERba turns a feature map into 1-D token sequences.

A Mamba layer reads a sequence, so an image (or a window of a feature map) has to be flattened in
some order. MERba (Sec. III-B) uses four *asymmetric* scans, each starting at the top-left token:

- ``h_raster``: row by row, each row left to right;
- ``v_raster``: column by column, each column top to bottom;
- ``h_zigzag``: boustrophedon by rows (row 0 left to right, row 1 right to left, ...);
- ``v_zigzag``: boustrophedon by columns (column 0 down, column 1 up, ...).

Other vision Mambas add two kinds of twins, which MERba argues are redundant on aligned faces:

- ``<base>_rev``: the same path walked backwards (bi-directional scanning). It is exactly
  ``scan_order(h, w, base)[::-1]``, so it *ends* at the top-left token;
- ``<base>_mirror``: the base path reflected left-right (symmetric scanning): token ``(r, c)`` is
  replaced by ``(r, w - 1 - c)``, so it starts at the top-*right* token.

Tokens are numbered row-major: token ``(r, c)`` has index ``r * w + c``. The analysis functions
(:func:`adjacency`, :func:`redundancy`, :func:`scan_table`) make the redundancy claim measurable.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from einops import rearrange

from melab import checks

__all__ = [
    "BASE_KINDS",
    "SCAN_KINDS",
    "Adjacency",
    "adjacency",
    "apply_scan",
    "inverse",
    "redundancy",
    "redundancy_matrix",
    "scan_order",
    "scan_progress",
    "scan_table",
    "undo_scan",
    "window_merge",
    "window_partition",
]

BASE_KINDS: tuple[str, ...] = ("h_raster", "v_raster", "h_zigzag", "v_zigzag")
SCAN_KINDS: tuple[str, ...] = BASE_KINDS + tuple(
    f"{base}{suffix}" for suffix in ("_rev", "_mirror") for base in BASE_KINDS
)


MAX_SIDE = 4096  # tokens per side: far beyond any feature map, and a bound on what a grid can allocate


def _grid(h, w) -> tuple[int, int]:
    return checks.integer("h", h, 1, MAX_SIDE), checks.integer("w", w, 1, MAX_SIDE)


def _kind(kind, name: str = "kind") -> str:
    if not isinstance(kind, str) or kind not in SCAN_KINDS:
        raise ValueError(f"unknown scan {name} {kind!r}; valid kinds are: {', '.join(SCAN_KINDS)}")
    return kind


def _kinds(kinds) -> tuple[str, ...]:
    if isinstance(kinds, str) or not isinstance(kinds, (tuple, list)) or not kinds:
        raise TypeError(f"kinds must be a non-empty tuple or list of scan kinds, got {kinds!r}")
    return tuple(_kind(k, "kinds entry") for k in kinds)


def _permutation(order, n: int, name: str = "order", grid: str = "") -> np.ndarray:
    """``order`` as int64 ``(n,)``, refused unless it is a permutation of ``0 .. n-1`` (``grid`` says why n)."""
    order = checks.array(name, order, ndim=1, dtype="integer").astype(np.int64)
    if order.size != n or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"{name} must be a permutation of 0..{n - 1}{grid} (each token visited once), got "
                         f"{order.size} entries" + ("" if order.size != n else " with repeats or gaps"))
    return order


def _tensor(name: str, x, ndim: int, shape: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape}, got {type(x).__name__}")
    if x.dim() != ndim:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    return x


def _base_order(h: int, w: int, base: str) -> np.ndarray:
    grid = np.arange(h * w).reshape(h, w)
    if base.startswith("v_"):
        # A vertical scan is the horizontal scan of the transposed grid, read back in row-major indices.
        grid = grid.T
    if base.endswith("zigzag"):
        grid = grid.copy()
        grid[1::2] = grid[1::2, ::-1]
    return grid.reshape(-1)


def scan_order(h: int, w: int, kind: str) -> np.ndarray:
    """Row-major token indices of an ``h x w`` grid in the order a scan visits them.

    Parameters
    ----------
    h, w : int
        Grid height and width in tokens (both >= 1).
    kind : str
        One of :data:`SCAN_KINDS`: a base kind (``h_raster, v_raster, h_zigzag, v_zigzag``), or a base
        kind with ``_rev`` (the base path reversed) or ``_mirror`` (the base path mirrored left-right).

    Returns
    -------
    np.ndarray
        int64 array of shape ``(h * w,)``, a permutation of ``0 .. h*w-1``; entry ``i`` is the
        row-major index ``r * w + c`` of the ``i``-th visited token.

    Examples
    --------
    >>> scan_order(3, 4, "v_zigzag").tolist()
    [0, 4, 8, 9, 5, 1, 2, 6, 10, 11, 7, 3]
    """
    kind = _kind(kind)
    h, w = _grid(h, w)
    order = _base_order(h, w, kind.removesuffix("_rev").removesuffix("_mirror"))
    if kind.endswith("_rev"):
        order = order[::-1]
    elif kind.endswith("_mirror"):
        rows, cols = np.divmod(order, w)
        order = rows * w + (w - 1 - cols)
    return np.ascontiguousarray(order, dtype=np.int64)


def inverse(order: np.ndarray) -> np.ndarray:
    """Inverse permutation: ``inverse(order)[order] == arange(len(order))``.

    Parameters
    ----------
    order : np.ndarray
        int array ``(L,)``, a permutation of ``0 .. L-1``.

    Returns
    -------
    np.ndarray
        int64 array ``(L,)``: entry ``t`` is the position at which token ``t`` is visited.
    """
    order = checks.array("order", order, ndim=1, dtype="integer").astype(np.int64)
    order = _permutation(order, order.size)
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    return inv


def apply_scan(x: torch.Tensor, order: np.ndarray) -> torch.Tensor:
    """Flatten a feature map into the token sequence of a scan.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, H, W)`` feature map.
    order : np.ndarray
        ``(H * W,)`` visiting order from :func:`scan_order`.

    Returns
    -------
    torch.Tensor
        ``(B, C, L)`` with ``L = H * W``; ``out[..., i]`` is the token visited ``i``-th.
    """
    _, _, h, w = _tensor("x", x, 4, "(B, C, H, W)").shape
    order = checks.array("order", order, ndim=1, dtype="integer")
    if len(order) != h * w:
        raise ValueError(f"order has {len(order)} tokens but the map x has H*W = {h}*{w} = {h * w}")
    index = torch.as_tensor(_permutation(order, h * w), dtype=torch.long, device=x.device)
    return rearrange(x, "b c h w -> b c (h w)").index_select(-1, index)


def undo_scan(x: torch.Tensor, order: np.ndarray, h: int, w: int) -> torch.Tensor:
    """Put a scanned sequence back on its grid (the inverse of :func:`apply_scan`).

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, L)`` sequence in visiting order, ``L = h * w``.
    order : np.ndarray
        ``(L,)`` the order used by :func:`apply_scan`.
    h, w : int
        Grid height and width.

    Returns
    -------
    torch.Tensor
        ``(B, C, h, w)`` feature map.
    """
    _tensor("x", x, 3, "(B, C, L)")
    h, w = _grid(h, w)
    order = checks.array("order", order, ndim=1, dtype="integer")
    if x.shape[-1] != h * w or len(order) != h * w:
        raise ValueError(f"the sequence length of x ({x.shape[-1]}) and the order length ({len(order)}) must both be "
                         f"h*w = {h * w}")
    index = torch.as_tensor(inverse(order), dtype=torch.long, device=x.device)
    return rearrange(x.index_select(-1, index), "b c (h w) -> b c h w", h=h, w=w)


def window_partition(x: torch.Tensor, win: int) -> torch.Tensor:
    """Cut a feature map into non-overlapping ``win x win`` windows.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, H, W)`` with ``H`` and ``W`` divisible by ``win``.
    win : int
        Window side in tokens.

    Returns
    -------
    torch.Tensor
        ``(B * (H // win) * (W // win), C, win, win)``; windows are ordered by image, then window row,
        then window column.
    """
    _, _, h, w = _tensor("x", x, 4, "(B, C, H, W)").shape
    win = checks.integer("win", win, 1, MAX_SIDE)
    if not h or not w:
        raise ValueError(f"x is an empty map, shape {tuple(x.shape)}")
    if h % win or w % win:
        raise ValueError(
            f"feature map {h}x{w} cannot be cut into win={win} x {win} windows: H and W must be multiples of "
            f"the window size; pad the map (e.g. torch.nn.functional.pad) or choose a divisor of both"
        )
    return rearrange(x, "b c (nh wh) (nw ww) -> (b nh nw) c wh ww", wh=win, ww=win)


def window_merge(windows: torch.Tensor, win: int, h: int, w: int) -> torch.Tensor:
    """Reassemble windows from :func:`window_partition` into feature maps.

    Parameters
    ----------
    windows : torch.Tensor
        ``(B * (h // win) * (w // win), C, win, win)``.
    win : int
        Window side in tokens.
    h, w : int
        Height and width of the full map (multiples of ``win``).

    Returns
    -------
    torch.Tensor
        ``(B, C, h, w)``.
    """
    _tensor("windows", windows, 4, "(B·windows, C, win, win)")
    win = checks.integer("win", win, 1, MAX_SIDE)
    h, w = _grid(h, w)
    if h % win or w % win:
        raise ValueError(f"map h x w = {h}x{w} is not a whole number of win={win} x {win} windows; h and w must be "
                         "multiples")
    per_image = (h // win) * (w // win)
    if windows.shape[0] % per_image or windows.shape[0] == 0 or tuple(windows.shape[-2:]) != (win, win):
        raise ValueError(
            f"got windows of shape {tuple(windows.shape)}; expected (B*{per_image}, C, {win}, {win}) for an "
            f"h x w = {h}x{w} map"
        )
    return rearrange(windows, "(b nh nw) c wh ww -> b c (nh wh) (nw ww)", nh=h // win, nw=w // win)


class Adjacency(NamedTuple):
    """Spatial continuity of a scan: what happens between consecutive tokens."""

    neighbour: np.ndarray
    """bool ``(L-1,)``: step ``i -> i+1`` moves to a 4-neighbour (up, down, left or right)."""
    jump: np.ndarray
    """float64 ``(L-1,)``: Euclidean length of each step, in tokens."""
    neighbour_share: float
    """Fraction of steps that move to a 4-neighbour."""
    mean_jump: float
    """Mean step length in tokens (1.0 for a path that never jumps)."""


def adjacency(order: np.ndarray, h: int, w: int) -> Adjacency:
    """Which consecutive tokens of a scan are spatial 4-neighbours, and how far each step jumps.

    Parameters
    ----------
    order : np.ndarray
        ``(h * w,)`` visiting order.
    h, w : int
        Grid height and width.

    Returns
    -------
    Adjacency
        Per-step neighbour flags and jump lengths (tokens), plus their summaries.
    """
    h, w = _grid(h, w)
    rows, cols = np.divmod(_permutation(order, h * w, grid=f" for h*w = {h}*{w} tokens"), w)
    dr, dc = np.diff(rows), np.diff(cols)
    neighbour = np.abs(dr) + np.abs(dc) == 1
    jump = np.hypot(dr, dc)
    share = float(neighbour.mean()) if neighbour.size else 1.0
    mean_jump = float(jump.mean()) if jump.size else 0.0
    return Adjacency(neighbour, jump, share, mean_jump)


def _pairs_from(a: np.ndarray, b: np.ndarray) -> set[tuple[int, int]]:
    """Unordered pairs ``{a[i], b[i]}`` as (smaller, larger) index tuples."""
    return set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), strict=True))


def _pairs(order: np.ndarray) -> set[tuple[int, int]]:
    """Unordered consecutive-token pairs of a scan."""
    order = np.asarray(order, dtype=np.int64)
    return _pairs_from(order[:-1], order[1:])


def _neighbour_pairs(order: np.ndarray, w: int) -> set[tuple[int, int]]:
    """The consecutive pairs of a scan that are spatial 4-neighbours."""
    order = np.asarray(order, dtype=np.int64)
    rows, cols = np.divmod(order, w)
    keep = (np.abs(np.diff(rows)) + np.abs(np.diff(cols))) == 1
    return _pairs_from(order[:-1][keep], order[1:][keep])


def redundancy(order_a: np.ndarray, order_b: np.ndarray, h: int, w: int, *, directed: bool = False) -> float:
    """Share of consecutive-token pairs that two scans have in common.

    A Mamba layer mixes a token mostly with the tokens just before it, so the set of unordered
    consecutive pairs ``{t_i, t_{i+1}}`` is what a scan offers the model. Two scans with the same
    pair set show the model the same local contexts.

    Parameters
    ----------
    order_a, order_b : np.ndarray
        ``(h * w,)`` visiting orders of the same grid.
    h, w : int
        Grid height and width (checked against the orders).
    directed : bool
        Count ordered pairs ``(t_i -> t_{i+1})`` instead. A causal scan only lets a token see what came
        before it, so this is the measure under which a ``_rev`` twin is *not* redundant (0.0).

    Returns
    -------
    float
        ``|pairs(a) & pairs(b)| / (h*w - 1)`` in [0, 1]: 1.0 means no new pair at all (e.g. a scan and
        its ``_rev``). Both scans have ``h*w - 1`` pairs, so the measure is symmetric.
    """
    h, w = _grid(h, w)
    n = h * w
    grid = f" for h*w = {h}*{w} tokens"
    order_a, order_b = _permutation(order_a, n, "order_a", grid), _permutation(order_b, n, "order_b", grid)
    if n < 2:
        return 1.0
    if directed:
        steps_a = set(zip(order_a[:-1].tolist(), order_a[1:].tolist(), strict=True))
        steps_b = set(zip(order_b[:-1].tolist(), order_b[1:].tolist(), strict=True))
        return len(steps_a & steps_b) / (n - 1)
    return len(_pairs(order_a) & _pairs(order_b)) / (n - 1)


def redundancy_matrix(h: int, w: int, kinds: tuple[str, ...] = SCAN_KINDS) -> pd.DataFrame:
    """Pairwise :func:`redundancy` between scan kinds on an ``h x w`` grid.

    Returns
    -------
    pd.DataFrame
        ``(len(kinds), len(kinds))`` float table indexed and labelled by kind.
    """
    kinds = _kinds(kinds)
    orders = {k: scan_order(h, w, k) for k in kinds}
    values = [[redundancy(orders[a], orders[b], h, w) for b in kinds] for a in kinds]
    return pd.DataFrame(values, index=list(kinds), columns=list(kinds))


def scan_table(h: int, w: int, kinds: tuple[str, ...] = SCAN_KINDS) -> pd.DataFrame:
    """Adjacency and redundancy of each scan kind: MERba's redundancy argument as numbers.

    Parameters
    ----------
    h, w : int
        Grid (window) height and width in tokens.
    kinds : tuple of str
        Scan kinds to tabulate.

    Returns
    -------
    pd.DataFrame
        One row per kind (index ``kind``), columns:

        - ``neighbour_share``: fraction of steps that move to a 4-neighbour;
        - ``mean_jump``: mean step length in tokens;
        - ``redundancy_with_base``: :func:`redundancy` with its own base kind (1.0 for a base kind);
        - ``directed_with_base``: the same for ordered steps (``directed=True``): how much of the
          *causal* context is shared (0.0 for a ``_rev`` twin, which reads every pair the other way);
        - ``new_pairs_vs_base``: 4-neighbour pairs it visits that its base kind does not;
        - ``new_pairs_vs_4``: 4-neighbour pairs it visits that none of the four base kinds visits.
          For every ``_rev`` and ``_mirror`` twin this is 0: they add no new neighbour pair.
    """
    kinds, (h, w) = _kinds(kinds), _grid(h, w)
    union_base = set().union(*(_neighbour_pairs(scan_order(h, w, b), w) for b in BASE_KINDS))
    rows = []
    for kind in kinds:
        order = scan_order(h, w, kind)
        base = kind.removesuffix("_rev").removesuffix("_mirror")
        base_order = scan_order(h, w, base)
        adj = adjacency(order, h, w)
        pairs = _neighbour_pairs(order, w)
        rows.append(
            {
                "kind": kind,
                "neighbour_share": adj.neighbour_share,
                "mean_jump": adj.mean_jump,
                "redundancy_with_base": redundancy(order, base_order, h, w),
                "directed_with_base": redundancy(order, base_order, h, w, directed=True),
                "new_pairs_vs_base": len(pairs - _neighbour_pairs(base_order, w)),
                "new_pairs_vs_4": len(pairs - union_base),
            }
        )
    return pd.DataFrame(rows).set_index("kind")


def scan_progress(h: int, w: int, kind: str, step: int) -> np.ndarray:
    """Snapshot of a scan after ``step + 1`` tokens: the pure function behind notebook 02's slider.

    Parameters
    ----------
    h, w : int
        Grid height and width.
    kind : str
        Scan kind (see :func:`scan_order`).
    step : int
        0-based index of the latest visited token, ``0 <= step < h*w``.

    Returns
    -------
    np.ndarray
        int64 ``(h, w)``: the visit position of each token already visited, ``-1`` for tokens not yet
        reached.
    """
    h, w = _grid(h, w)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step < h * w:
        raise ValueError(f"step must be in 0..{h * w - 1} for an h x w = {h}x{w} grid, got {step!r}")
    visit = inverse(scan_order(h, w, kind)).reshape(h, w)
    return np.where(visit <= step, visit, -1)
