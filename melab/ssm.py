"""Selective scan (Mamba's S6 recurrence) on any device, and the Mamba and MambaVision mixer layers.

The selective scan maps an input sequence ``u`` of shape ``(b, d, l)`` to an output of the same shape
through a hidden state ``h`` of shape ``(b, d, n)`` per time step::

    h_t = exp(Δ_t A) * h_{t-1} + Δ_t B_t u_t          (elementwise over d, n)
    y_t = C_t · h_t  +  D u_t                          (sum over n)
    out = y * silu(z)                                  (optional gate)

``Δ`` (delta) is the per-channel, per-step time step: a large Δ forgets the past quickly and takes the
new input strongly, a small Δ keeps the state. :func:`selective_scan` has the signature, semantics
and shapes of mamba-ssm's ``selective_scan_fn`` (for real ``A`` and input-dependent ``B``, ``C``),
so checkpoints move between a GPU running mamba-ssm and a laptop running melab. Three backends:

- ``"ref"``: :func:`selective_scan_ref`, a plain loop over time that reads like the equation above
  (what notebook 02 teaches). Autograd differentiates it; it is slow.
- ``"fused"``: the CPU default. A ``torch.autograd.Function`` that runs the same recurrence chunk by
  chunk (:data:`FUSED_CHUNK` steps): per chunk it fills cache-sized, time-major buffers with
  ``exp(Δ A)`` and ``Δ B u``, scans them with one in-place multiply-add per step, and contracts with
  ``C`` in one batched matmul. Only the state at each chunk start is stored; the analytic backward
  recomputes a chunk's states from it and runs the gradient as a reverse scan. No ``(b, d, l, n)``
  tensor is ever materialised, so memory grows like ``b·d·l`` only. It accumulates in fp32 (fp64 for
  fp64 inputs) and is deterministic. (Parallel "doubling" scans and ``torch.compile`` were not used:
  on a CPU the sequential step is already work-optimal, and compilation needs a C++ toolchain and
  recompiles per shape.)
- ``"cuda"``: mamba-ssm's CUDA kernel, imported lazily; ``"auto"`` picks it for CUDA tensors when it
  imports and otherwise falls back to ``"fused"``.

The environment variable ``MELAB_SSM_BACKEND`` (``cuda``, ``fused`` or ``ref``) replaces ``"auto"``
everywhere, e.g. to run a whole model on the reference loop; an explicit ``backend=`` argument wins.

Unlike ``selective_scan_fn``, the fused backend also back-propagates into ``last_state`` (mamba-ssm
ignores that gradient), so a loss on the final state trains correctly.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

__all__ = ["BACKENDS", "FUSED_CHUNK", "Mamba", "MambaVisionMixer", "selective_scan", "selective_scan_ref"]

BACKENDS: tuple[str, ...] = ("auto", "cuda", "fused", "ref")
ENV_BACKEND = "MELAB_SSM_BACKEND"


# --------------------------------------------------------------------------------------------------
# Checks and small helpers
# --------------------------------------------------------------------------------------------------


def _check_inputs(u, delta, A, B, C, D, z, delta_bias) -> None:
    if u.dim() != 3 or delta.shape != u.shape:
        raise ValueError(f"u and delta must both be (b, d, l); got u {tuple(u.shape)}, delta {tuple(delta.shape)}")
    batch, dim, length = u.shape
    if A.is_complex() or A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be a real (d, n) = ({dim}, n) tensor; got {A.dtype} {tuple(A.shape)}")
    dstate = A.shape[1]
    for name, m in (("B", B), ("C", C)):
        groups = m.shape[1] if m.dim() == 4 else 1
        if m.dim() not in (3, 4) or tuple(m.shape) != (batch, *m.shape[1:-2], dstate, length):
            raise ValueError(
                f"{name} must be (b, n, l) = ({batch}, {dstate}, {length}) or grouped (b, g, n, l); "
                f"got {tuple(m.shape)}"
            )
        if dim % groups:
            raise ValueError(f"{name} has {groups} groups, which must divide the {dim} channels of u")
    for name, v in (("D", D), ("delta_bias", delta_bias)):
        if v is not None and tuple(v.shape) != (dim,):
            raise ValueError(f"{name} must have shape (d,) = ({dim},); got {tuple(v.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"z must have the shape of u {tuple(u.shape)}; got {tuple(z.shape)}")


def _compute_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """fp32, or fp64 if any input is fp64: the scan never accumulates in half precision."""
    return functools.reduce(torch.promote_types, [t.dtype for t in tensors if t is not None], torch.float32)


def _grouped(m: torch.Tensor) -> torch.Tensor:
    """(b, n, l) -> (b, 1, n, l); (b, g, n, l) unchanged."""
    return m[:, None] if m.dim() == 3 else m


# --------------------------------------------------------------------------------------------------
# "ref": the recurrence as written in the paper
# --------------------------------------------------------------------------------------------------


def selective_scan_ref(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
):
    """The selective scan as a readable loop over time (the ``"ref"`` backend).

    Same arguments, shapes and results as :func:`selective_scan`; differentiable by autograd.
    """
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    ct = _compute_dtype(u, delta, A, B, C)
    batch, dim, length = u.shape
    dtype_in = u.dtype
    u, delta, A = u.to(ct), delta.to(ct), A.to(ct)  # (b, d, l), (b, d, l), (d, n)
    if delta_bias is not None:
        delta = delta + delta_bias.to(ct)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)  # Δ > 0
    # Group g of B and C serves the channels g*d/G .. (g+1)*d/G - 1.
    B = repeat(_grouped(B).to(ct), "b g n l -> b (g h) n l", h=dim // _grouped(B).shape[1])  # (b, d, n, l)
    C = repeat(_grouped(C).to(ct), "b g n l -> b (g h) n l", h=dim // _grouped(C).shape[1])  # (b, d, n, l)

    h = u.new_zeros(batch, dim, A.shape[1])  # (b, d, n): the hidden state, empty before the first token
    ys = []
    for delta_t, u_t, B_t, C_t in zip(delta.unbind(-1), u.unbind(-1), B.unbind(-1), C.unbind(-1), strict=True):
        # delta_t, u_t: (b, d);  B_t, C_t: (b, d, n)
        decay = torch.exp(delta_t[..., None] * A)  # (b, d, n): exp(Δ_t A), the share of h_{t-1} kept
        drive = (delta_t * u_t)[..., None] * B_t  # (b, d, n): Δ_t B_t u_t, what the new token writes
        h = decay * h + drive  # (b, d, n): h_t
        ys.append((C_t * h).sum(-1))  # (b, d): y_t = C_t · h_t
    y = torch.stack(ys, dim=-1)  # (b, d, l)

    if D is not None:
        y = y + D.to(ct)[:, None] * u  # skip connection
    if z is not None:
        y = y * F.silu(z.to(ct))  # gate
    out = y.to(dtype_in)
    return (out, h) if return_last_state else out


# --------------------------------------------------------------------------------------------------
# "fused": chunk by chunk in cache-sized buffers, one in-place multiply-add per step, analytic backward
# --------------------------------------------------------------------------------------------------

FUSED_CHUNK = 32
"""Time steps per chunk of the fused scan. Its work buffers are ``(chunk, b, d, n)``, small enough to stay
in cache, so no ``(l, b, d, n)`` tensor is ever allocated or streamed through memory. Only the state at
each chunk's start is kept for the backward, which recomputes the chunk's states from it."""


def _scan_chunk(dt, dtu, A, B, h0, decay, state) -> None:
    """Run the recurrence over one chunk of ``T`` steps, in place.

    dt, dtu: (T, b, d) Δ and Δ·u; A: (d, n); B: (T, b, g, n); h0: (b, d, n) state before the chunk.
    Fills decay (T, b, d, n) with exp(Δ A) and state (T, b, d, n) with h_t.
    """
    steps, batch, groups, dstate = B.shape
    torch.mul(dt[..., None], A, out=decay).exp_()
    torch.mul(
        dtu.view(steps, batch, groups, -1, 1), B[:, :, :, None], out=state.view(steps, batch, groups, -1, dstate)
    )
    state[0].addcmul_(decay[0], h0)
    hs, decays = state.unbind(0), decay.unbind(0)
    for t in range(1, steps):
        hs[t].addcmul_(decays[t], hs[t - 1])  # h_t = Δ_t B_t u_t + exp(Δ_t A) h_{t-1}


def _sum_over_n(state, m, out) -> None:
    """out[t, b, d] = sum_n state[t, b, d, n] * m[t, b, g(d), n], as one batched matmul."""
    steps, batch, groups, dstate = m.shape
    rows = state.view(steps * batch * groups, -1, dstate)
    torch.bmm(rows, m.view(-1, dstate, 1), out=out.view(steps * batch * groups, -1, 1))


def _sum_over_group(state, w, out) -> None:
    """out[t, b, g, n] = sum_{d in group g} w[t, b, d] * state[t, b, d, n], as one batched matmul."""
    steps, batch, groups, dstate = out.shape
    rows = state.view(steps * batch * groups, -1, dstate)
    torch.bmm(w.view(steps * batch * groups, 1, -1), rows, out=out.view(-1, 1, dstate))


class _FusedSelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        ct = _compute_dtype(u, delta, A, B, C)
        batch, dim, length = u.shape
        dstate = A.shape[1]
        uf, Af = u.to(ct), A.to(ct)
        dt_raw = delta.to(ct) if delta_bias is None else delta.to(ct) + delta_bias.to(ct)[:, None]
        dt = F.softplus(dt_raw) if delta_softplus else dt_raw  # (b, d, l)

        # Time-major copies of the per-step inputs, so every chunk is a contiguous slice.
        dt_l = rearrange(dt, "b d l -> l b d").contiguous()
        dtu_l = dt_l * rearrange(uf, "b d l -> l b d")
        B_l = rearrange(_grouped(B).to(ct), "b g n l -> l b g n").contiguous()
        C_l = rearrange(_grouped(C).to(ct), "b g n l -> l b g n").contiguous()

        starts = range(0, length, FUSED_CHUNK)
        h0 = torch.zeros(len(starts) + 1, batch, dim, dstate, dtype=ct, device=u.device)  # state before chunk k
        decay = torch.empty(min(FUSED_CHUNK, length), batch, dim, dstate, dtype=ct, device=u.device)
        state = torch.empty_like(decay)
        y_l = torch.empty(length, batch, dim, dtype=ct, device=u.device)
        for k, t0 in enumerate(starts):
            t1 = min(t0 + FUSED_CHUNK, length)
            _scan_chunk(dt_l[t0:t1], dtu_l[t0:t1], Af, B_l[t0:t1], h0[k], decay[: t1 - t0], state[: t1 - t0])
            h0[k + 1].copy_(state[t1 - t0 - 1])
            _sum_over_n(state[: t1 - t0], C_l[t0:t1], y_l[t0:t1])  # y_t = C_t · h_t

        y = rearrange(y_l, "l b d -> b d l").contiguous()  # one transposing copy; the adds below stay dense
        if D is not None:
            y = y + D.to(ct)[:, None] * uf
        out = y if z is None else y * F.silu(z.to(ct))

        ctx.delta_softplus = delta_softplus
        ctx.grouped = (B.dim() == 4, C.dim() == 4)
        ctx.dtypes = [None if t is None else t.dtype for t in (u, delta, A, B, C, D, z, delta_bias)]
        ctx.save_for_backward(uf, dt_raw, dt, dt_l, dtu_l, Af, B_l, C_l, D, z, h0, y if z is not None else None)
        ctx.set_materialize_grads(False)
        return out.to(u.dtype), h0[-1].clone()

    @staticmethod
    def backward(ctx, dout, dlast):
        uf, dt_raw, dt, dt_l, dtu_l, Af, B_l, C_l, D, z, h0, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        ct = uf.dtype
        length, batch, dim = dt_l.shape
        dstate = Af.shape[1]

        g = torch.zeros_like(uf) if dout is None else dout.to(ct)  # dL/d out, (b, d, l)
        dz = None
        if z is not None:
            zf = z.to(ct)
            sig = torch.sigmoid(zf)
            dz = g * y * sig * (1 + zf * (1 - sig))  # silu'(z) = σ(z)(1 + z(1 - σ(z)))
            g = g * zf * sig  # dL/dy
        dD = None if D is None else (g * uf).sum((0, 2))
        g_l = rearrange(g, "b d l -> l b d").contiguous()
        dt_dl = rearrange(dt_l, "l b d -> d (l b)").contiguous()

        s_l = torch.empty_like(dt_l)  # sum_n dL/dh_t * B_t: the slope of L in the drive Δ_t u_t
        ddecay_l = torch.empty_like(dt_l)  # sum_n dL/d(Δ_t A) * A
        dB_l = torch.empty_like(B_l) if need[3] else None
        dC_l = torch.empty_like(C_l) if need[4] else None
        dA = torch.zeros_like(Af)
        carry = torch.zeros_like(h0[0]) if dlast is None else dlast.to(ct).clone()  # dL/dh at a chunk's end

        starts = range(0, length, FUSED_CHUNK)
        decay = torch.empty(min(FUSED_CHUNK, length), batch, dim, dstate, dtype=ct, device=uf.device)
        state, grad = torch.empty_like(decay), torch.empty_like(decay)
        for k in reversed(range(len(starts))):
            t0 = starts[k]
            t1 = min(t0 + FUSED_CHUNK, length)
            steps = t1 - t0
            dec, st, gh = decay[:steps], state[:steps], grad[:steps]
            _scan_chunk(dt_l[t0:t1], dtu_l[t0:t1], Af, B_l[t0:t1], h0[k], dec, st)  # recompute h

            # Reverse scan: dL/dh_t = C_t g_t + exp(Δ_{t+1} A) dL/dh_{t+1}.
            torch.mul(g_l[t0:t1].view(steps, batch, C_l.shape[2], -1, 1), C_l[t0:t1, :, :, None],
                      out=gh.view(steps, batch, C_l.shape[2], -1, dstate))
            gh[-1].add_(carry)
            ghs, decays = gh.unbind(0), dec.unbind(0)
            for t in range(steps - 2, -1, -1):
                ghs[t].addcmul_(decays[t + 1], ghs[t + 1])
            torch.mul(dec[0], gh[0], out=carry)

            if dC_l is not None:
                _sum_over_group(st, g_l[t0:t1], dC_l[t0:t1])
            _sum_over_n(gh, B_l[t0:t1], s_l[t0:t1])
            if dB_l is not None:
                _sum_over_group(gh, dtu_l[t0:t1], dB_l[t0:t1])
            # dL/d(Δ_t A) = dL/dh_t * exp(Δ_t A) * h_{t-1}, computed in place.
            gh.mul_(dec)
            gh[1:].mul_(st[:-1])
            gh[0].mul_(h0[k])
            per_channel = gh.view(steps * batch, dim, dstate).transpose(0, 1)  # (d, T·b, n) view, no copy
            if need[2]:  # dL/dA = sum_{t,b} dL/d(Δ_t A) * Δ_t
                dA += torch.bmm(dt_dl[:, None, t0 * batch : t1 * batch], per_channel)[:, 0]
            ddecay_l[t0:t1] = torch.einsum("tbdn,dn->tbd", gh, Af)

        s = rearrange(s_l, "l b d -> b d l").contiguous()
        du = dt * s if D is None else dt * s + g * D.to(ct)[:, None]
        ddt = uf * s + rearrange(ddecay_l, "l b d -> b d l").contiguous()
        if ctx.delta_softplus:
            ddt = ddt * torch.sigmoid(dt_raw)
        ddelta_bias = ddt.sum((0, 2)) if need[7] else None
        dB = None if dB_l is None else rearrange(dB_l, "l b g n -> b g n l")
        dC = None if dC_l is None else rearrange(dC_l, "l b g n -> b g n l")
        if dB is not None and not ctx.grouped[0]:
            dB = dB[:, 0]
        if dC is not None and not ctx.grouped[1]:
            dC = dC[:, 0]
        grads = (du, ddt, dA, dB, dC, dD, dz, ddelta_bias)
        return (
            *(None if gr is None or not need[i] else gr.to(ctx.dtypes[i]) for i, gr in enumerate(grads)),
            None,
        )


# --------------------------------------------------------------------------------------------------
# "cuda": mamba-ssm's kernel, when it is there
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _cuda_kernel() -> tuple[Callable | None, str]:
    """mamba-ssm's ``selective_scan_fn`` and ``""``, or ``None`` and the reason it did not import."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as err:  # a missing package, a CPU-only build or a broken .so all mean "not here"
        return None, f"{type(err).__name__}: {err}"
    return selective_scan_fn, ""


def _resolve_backend(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        forced = os.environ.get(ENV_BACKEND, "").strip()
        if forced:
            if forced not in BACKENDS[1:]:
                raise ValueError(f"{ENV_BACKEND}={forced!r} is not a backend; use one of {', '.join(BACKENDS[1:])}")
            backend = forced
        elif device.type == "cuda" and _cuda_kernel()[0] is not None:
            backend = "cuda"
        else:
            backend = "fused"
    if backend == "cuda":
        if device.type != "cuda":
            raise ValueError(f"backend 'cuda' needs CUDA tensors, got tensors on {device}; use 'fused' on the CPU")
        if _cuda_kernel()[0] is None:
            raise RuntimeError(
                f"mamba-ssm's CUDA kernel could not be imported ({_cuda_kernel()[1]}); install mamba-ssm "
                f"with its CUDA extension (`pip install mamba-ssm causal-conv1d`) or use backend='fused'"
            )
    return backend


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    backend: str = "auto",
):
    """Selective scan with the semantics of mamba-ssm's ``selective_scan_fn``.

    Parameters
    ----------
    u : torch.Tensor
        ``(b, d, l)`` input sequence (any float dtype).
    delta : torch.Tensor
        ``(b, d, l)`` time steps Δ before bias and softplus.
    A : torch.Tensor
        ``(d, n)`` real state matrix (diagonal per channel); negative for a decaying state.
    B, C : torch.Tensor
        ``(b, n, l)`` input and output projections, or ``(b, g, n, l)`` with ``g`` groups that each
        serve ``d // g`` consecutive channels.
    D : torch.Tensor, optional
        ``(d,)`` skip weight: adds ``D * u``.
    z : torch.Tensor, optional
        ``(b, d, l)`` gate: the output is multiplied by ``silu(z)``.
    delta_bias : torch.Tensor, optional
        ``(d,)`` added to ``delta`` before the softplus.
    delta_softplus : bool
        Apply softplus to ``delta + delta_bias`` (Mamba layers do).
    return_last_state : bool
        Also return the final hidden state.
    backend : {"auto", "cuda", "fused", "ref"}
        See the module docstring; ``MELAB_SSM_BACKEND`` replaces ``"auto"``.

    Returns
    -------
    out : torch.Tensor
        ``(b, d, l)`` in the dtype of ``u``; computed in fp32 (fp64 if an input is fp64).
    last_state : torch.Tensor
        ``(b, d, n)`` fp32 (or fp64) hidden state after the last step; only if ``return_last_state``.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> u, delta = torch.randn(2, 4, 10, generator=g), torch.rand(2, 4, 10, generator=g)
    >>> A = -torch.rand(4, 3, generator=g)
    >>> B, C = torch.randn(2, 3, 10, generator=g), torch.randn(2, 3, 10, generator=g)
    >>> fused = selective_scan(u, delta, A, B, C, backend="fused")
    >>> torch.allclose(fused, selective_scan(u, delta, A, B, C, backend="ref"), atol=1e-5)
    True
    """
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    backend = _resolve_backend(backend, u.device)
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if backend == "ref":
        return selective_scan_ref(*args, return_last_state=return_last_state)
    if backend == "cuda":
        return _cuda_kernel()[0](*args, return_last_state=return_last_state)
    out, last_state = _FusedSelectiveScan.apply(*args)
    return (out, last_state) if return_last_state else out


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------


def _init_dt_proj(dt_proj: nn.Linear, dt_rank: int, *, dt_min, dt_max, dt_init, dt_scale, dt_init_floor) -> None:
    """mamba-ssm's Δ initialisation: small random weights, and a bias with softplus(bias) log-uniform in
    [dt_min, dt_max]. The order of random draws matches mamba-ssm, so one seed gives the same weights."""
    dt_init_std = dt_rank**-0.5 * dt_scale
    if dt_init == "constant":
        nn.init.constant_(dt_proj.weight, dt_init_std)
    elif dt_init == "random":
        nn.init.uniform_(dt_proj.weight, -dt_init_std, dt_init_std)
    else:
        raise ValueError(f"dt_init must be 'random' or 'constant', got {dt_init!r}")
    factory = {"device": dt_proj.bias.device, "dtype": dt_proj.bias.dtype}
    dt = torch.exp(
        torch.rand(dt_proj.out_features, **factory) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    ).clamp(min=dt_init_floor)
    inv_dt = dt + torch.log(-torch.expm1(-dt))  # inverse of softplus
    with torch.no_grad():
        dt_proj.bias.copy_(inv_dt)
    dt_proj.bias._no_reinit = True


def _s4d_real(d_inner: int, d_state: int, device) -> tuple[nn.Parameter, nn.Parameter]:
    """A_log = log(1..n) per channel (S4D-real, A = -exp(A_log) = -(1..n)) and D = 1, both fp32."""
    A = repeat(torch.arange(1, d_state + 1, dtype=torch.float32, device=device), "n -> d n", d=d_inner)
    A_log = nn.Parameter(torch.log(A).contiguous())
    A_log._no_weight_decay = True
    D = nn.Parameter(torch.ones(d_inner, device=device))
    D._no_weight_decay = True
    return A_log, D


class Mamba(nn.Module):
    """Mamba block (mamba-ssm's ``Mamba``): same parameter names, shapes and initialisation.

    ``in_proj`` splits each token into a branch ``x`` (causal depthwise conv + SiLU, then the selective
    scan with input-dependent Δ, B, C) and a gate ``z``; ``out_proj`` maps back to ``d_model``. A
    state_dict saved from mamba-ssm's ``Mamba`` loads here and gives the same output.

    Parameters
    ----------
    d_model : int
        Token width.
    d_state : int
        State size ``n`` per channel.
    d_conv : int
        Width of the causal depthwise convolution.
    expand : int
        ``d_inner = expand * d_model``.
    dt_rank : int or "auto"
        Rank of the Δ projection; "auto" is ``ceil(d_model / 16)``.
    dt_min, dt_max, dt_init, dt_scale, dt_init_floor
        Δ initialisation (see mamba-ssm): softplus(dt_proj.bias) is log-uniform in [dt_min, dt_max].
    conv_bias, bias : bool
        Bias of the convolution, and of in_proj/out_proj.
    backend : str
        Selective-scan backend, see :func:`selective_scan`.
    device, dtype
        Factory arguments for the parameters (A_log and D stay fp32, as in mamba-ssm).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init: str = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        *,
        backend: str = "auto",
        device=None,
        dtype=None,
    ):
        factory = {"device": device, "dtype": dtype}
        super().__init__()
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.backend = backend

        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias, **factory)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner, padding=d_conv - 1,
            bias=conv_bias, **factory,
        )
        self.act = nn.SiLU()
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False, **factory)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **factory)
        _init_dt_proj(
            self.dt_proj, self.dt_rank, dt_min=dt_min, dt_max=dt_max, dt_init=dt_init, dt_scale=dt_scale,
            dt_init_floor=dt_init_floor,
        )
        self.A_log, self.D = _s4d_real(self.d_inner, d_state, device)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, L, d_model) -> (B, L, d_model)."""
        seqlen = hidden_states.shape[1]
        xz = rearrange(self.in_proj(hidden_states), "b l d -> b d l")
        x, z = xz.chunk(2, dim=1)  # (b, d_inner, l) each
        x = self.act(self.conv1d(x)[..., :seqlen])  # causal: drop the right padding
        x_dbl = self.x_proj(rearrange(x, "b d l -> b l d"))
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = rearrange(dt @ self.dt_proj.weight.T, "b l d -> b d l")  # its bias enters as delta_bias
        y = selective_scan(
            x, dt, -torch.exp(self.A_log.float()), rearrange(B, "b l n -> b n l"), rearrange(C, "b l n -> b n l"),
            self.D.float(), z=z, delta_bias=self.dt_proj.bias.float(), delta_softplus=True, backend=self.backend,
        )
        return self.out_proj(rearrange(y, "b d l -> b l d"))


class MambaVisionMixer(nn.Module):
    """MambaVision's token mixer (NVlabs MambaVision ``MambaVisionMixer``), as MERba uses it.

    ``in_proj`` maps ``d_model -> d_inner`` and splits it into halves ``x`` and ``z``. Each half goes
    through its own non-causal depthwise conv (``padding='same'``) and SiLU. ``x`` feeds the selective
    scan (Δ, B, C from ``x_proj``; Δ through ``dt_proj`` and softplus). ``z`` is *not* a gate: the
    output is ``out_proj(concat[y, z])``. Parameter names and shapes match upstream, so its
    checkpoints load here.

    Parameters
    ----------
    d_model : int
        Token width.
    d_state, d_conv, expand : int
        MambaVision uses 8, 3 and 1 (the defaults here). ``d_inner = expand * d_model`` must be even.
    dt_rank, dt_min, dt_max, dt_init, dt_scale, dt_init_floor
        As in :class:`Mamba` (``dt_rank="auto"`` is ``ceil(d_model / 16)``).
    conv_bias : bool
        Bias of the two convolutions. Default False, because upstream passes ``bias=conv_bias//2``,
        which is 0 for its default ``conv_bias=True``: MambaVision checkpoints have no conv biases.
    bias : bool
        Bias of in_proj/out_proj.
    double_dt_bias : bool
        Upstream computes ``dt = dt_proj(dt)`` (which adds ``dt_proj.bias``) *and* passes
        ``delta_bias=dt_proj.bias`` to the scan, so Δ = softplus(W dt + 2 b). Default True: this is
        what MambaVision (and MERba, which uses its mixer unchanged) trained with, so its checkpoints
        behave the same here. Note the effect at initialisation: with b = softplus⁻¹(Δ0), Δ starts near
        Δ0² for small Δ0 (about 1e-6 .. 1e-2 instead of 1e-3 .. 0.1), i.e. a long memory. False adds
        the bias once, as mamba-ssm's ``Mamba`` does.
    project_out : bool
        Keep ``out_proj``. MERba moves this Linear to the end of its local extractor (after fusing the
        four scans); with False the mixer returns ``concat[y, z]`` of width ``d_inner``.
    backend : str
        Selective-scan backend, see :func:`selective_scan`.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 8,
        d_conv: int = 3,
        expand: int = 1,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init: str = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = False,
        bias: bool = False,
        *,
        double_dt_bias: bool = True,
        project_out: bool = True,
        backend: str = "auto",
        device=None,
        dtype=None,
    ):
        factory = {"device": device, "dtype": dtype}
        super().__init__()
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = int(expand * d_model)
        if self.d_inner % 2:
            raise ValueError(f"d_inner = expand * d_model = {self.d_inner} must be even: it is split into x and z")
        half = self.d_inner // 2
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.double_dt_bias = double_dt_bias
        self.backend = backend

        # Creation order follows upstream, so one seed gives upstream's initial weights.
        self.in_proj = nn.Linear(d_model, self.d_inner, bias=bias, **factory)
        self.x_proj = nn.Linear(half, self.dt_rank + 2 * d_state, bias=False, **factory)
        self.dt_proj = nn.Linear(self.dt_rank, half, bias=True, **factory)
        _init_dt_proj(
            self.dt_proj, self.dt_rank, dt_min=dt_min, dt_max=dt_max, dt_init=dt_init, dt_scale=dt_scale,
            dt_init_floor=dt_init_floor,
        )
        self.A_log, self.D = _s4d_real(half, d_state, device)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory) if project_out else None
        self.conv1d_x = nn.Conv1d(half, half, kernel_size=d_conv, groups=half, bias=conv_bias, **factory)
        self.conv1d_z = nn.Conv1d(half, half, kernel_size=d_conv, groups=half, bias=conv_bias, **factory)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, L, d_model) -> (B, L, d_model), or (B, L, d_inner) without ``out_proj``."""
        half = self.d_inner // 2
        xz = rearrange(self.in_proj(hidden_states), "b l d -> b d l")
        x, z = xz.chunk(2, dim=1)  # (b, d_inner/2, l) each
        x = F.silu(F.conv1d(x, self.conv1d_x.weight, self.conv1d_x.bias, padding="same", groups=half))
        z = F.silu(F.conv1d(z, self.conv1d_z.weight, self.conv1d_z.bias, padding="same", groups=half))
        x_dbl = self.x_proj(rearrange(x, "b d l -> b l d"))
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = self.dt_proj(dt) if self.double_dt_bias else dt @ self.dt_proj.weight.T
        y = selective_scan(
            x, rearrange(dt, "b l d -> b d l"), -torch.exp(self.A_log.float()),
            rearrange(B, "b l n -> b n l"), rearrange(C, "b l n -> b n l"), self.D.float(),
            delta_bias=self.dt_proj.bias.float(), delta_softplus=True, backend=self.backend,
        )
        y = rearrange(torch.cat([y, z], dim=1), "b d l -> b l d")
        return y if self.out_proj is None else self.out_proj(y)
