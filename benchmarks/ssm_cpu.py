"""Selective scan on the CPU: melab's ``fused`` and ``ref`` backends against mambapy's parallel scan.

Times the forward pass (no autograd) and forward + backward (gradients for u, Δ, A, B, C, D) at
(b, d, n, l) = (8, 128, 16, 256) and (4, 256, 16, 1024), all methods in the same run and interleaved
round by round, so that load from other processes hits them alike; once per thread count given.
Reports the minimum over rounds (the least disturbed run) and the median. mambapy is timed through its
own ``MambaBlock.selective_scan`` (``pscan``) on inputs already in its (B, L, D) layout.
Goal: fused forward + backward <= 1.0x mambapy, aim 0.7x.

Writes ``benchmarks/results/ssm_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from einops import rearrange
from mambapy.mamba import MambaBlock

from melab.atomic import write_text
from melab.ssm import FUSED_CHUNK, selective_scan

OUT = Path(__file__).parent / "results" / "ssm_cpu.json"
SHAPES = [(8, 128, 16, 256), (4, 256, 16, 1024)]


def make_inputs(b: int, d: int, n: int, l: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Mamba-like inputs: Δ = softplus(...) in about [0.001, 0.1], A = -(1..n) per channel."""
    g = torch.Generator().manual_seed(seed)
    return {
        "u": torch.randn(b, d, l, generator=g),
        "delta": torch.nn.functional.softplus(torch.randn(b, d, l, generator=g) - 4.0),
        "A": -torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1),
        "B": torch.randn(b, n, l, generator=g),
        "C": torch.randn(b, n, l, generator=g),
        "D": torch.ones(d),
    }


def melab_runner(inputs: dict[str, torch.Tensor], backend: str, backward: bool) -> Callable[[], None]:
    leaves = {k: v.clone().requires_grad_(backward) for k, v in inputs.items()}

    def run() -> None:
        for t in leaves.values():
            t.grad = None
        with torch.set_grad_enabled(backward):
            y = selective_scan(**leaves, backend=backend)
            if backward:
                y.sum().backward()

    return run


def mambapy_runner(inputs: dict[str, torch.Tensor], backward: bool) -> Callable[[], None]:
    # mambapy works in (B, L, D) / (B, L, N); the layout change is done once, outside the timing.
    leaves = {
        "x": rearrange(inputs["u"], "b d l -> b l d").contiguous(),
        "delta": rearrange(inputs["delta"], "b d l -> b l d").contiguous(),
        "A": inputs["A"].clone(),
        "B": rearrange(inputs["B"], "b n l -> b l n").contiguous(),
        "C": rearrange(inputs["C"], "b n l -> b l n").contiguous(),
        "D": inputs["D"].clone(),
    }
    for t in leaves.values():
        t.requires_grad_(backward)

    def run() -> None:
        for t in leaves.values():
            t.grad = None
        with torch.set_grad_enabled(backward):
            y = MambaBlock.selective_scan(None, **leaves)  # the method does not use self
            if backward:
                y.sum().backward()

    return run


def check_agreement(inputs: dict[str, torch.Tensor]) -> float:
    """Max |fused - mambapy| of the outputs: both must compute the same scan."""
    ours = selective_scan(**inputs, backend="fused")
    theirs = MambaBlock.selective_scan(
        None,
        rearrange(inputs["u"], "b d l -> b l d"),
        rearrange(inputs["delta"], "b d l -> b l d"),
        inputs["A"],
        rearrange(inputs["B"], "b n l -> b l n"),
        rearrange(inputs["C"], "b n l -> b l n"),
        inputs["D"],
    )
    return float((ours - rearrange(theirs, "b l d -> b d l")).abs().max())


def time_interleaved(runners: dict[str, Callable[[], None]], rounds: dict[str, int]) -> dict[str, dict]:
    """Run every method once per round (after one warm-up each); times in ms."""
    for run in runners.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(max(rounds.values())):
        for name, run in runners.items():
            if r < rounds[name]:
                start = time.perf_counter()
                run()
                times[name].append(1e3 * (time.perf_counter() - start))
    return {k: {"min_ms": min(v), "median_ms": statistics.median(v), "rounds": len(v)} for k, v in times.items()}


def run_shapes(rounds: int, ref_rounds_large: int) -> list[dict]:
    results = []
    for b, d, n, l in SHAPES:
        inputs = make_inputs(b, d, n, l)
        large = l >= 1024
        entry = {"b": b, "d": d, "n": n, "l": l, "max_abs_diff_fused_vs_mambapy": check_agreement(inputs)}
        for mode, backward in (("fwd", False), ("fwd_bwd", True)):
            runners = {
                "fused": melab_runner(inputs, "fused", backward),
                "mambapy": mambapy_runner(inputs, backward),
                "ref": melab_runner(inputs, "ref", backward),
            }
            counts = {"fused": rounds, "mambapy": rounds, "ref": ref_rounds_large if large else rounds}
            timed = time_interleaved(runners, counts)
            entry[mode] = timed
            entry[f"{mode}_ratio_fused_vs_mambapy"] = timed["fused"]["min_ms"] / timed["mambapy"]["min_ms"]
            entry[f"{mode}_ratio_fused_vs_ref"] = timed["fused"]["min_ms"] / timed["ref"]["min_ms"]
            print(
                f"threads {torch.get_num_threads()} (b,d,n,l)=({b},{d},{n},{l}) {mode:8s} "
                + "  ".join(f"{k} {v['min_ms']:.1f} ms" for k, v in timed.items())
                + f"  fused/mambapy {entry[f'{mode}_ratio_fused_vs_mambapy']:.2f}",
                flush=True,
            )
        results.append(entry)
    return results


def main(rounds: int, ref_rounds_large: int, threads: list[int]) -> dict:
    runs = []
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        runs.append({"threads": n_threads, "shapes": run_shapes(rounds, ref_rounds_large)})
    return {
        "benchmark": "selective scan on CPU: melab fused / ref vs mambapy pscan",
        "goal": "fused fwd_bwd <= 1.0x mambapy (aim 0.7x)",
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "fused_chunk": FUSED_CHUNK,
        "note": "min over interleaved rounds; the machine is shared with other jobs, so medians are noisier "
        "than minima, and multi-threaded runs suffer most from the load",
        "runs": runs,
    }


def write_json(data: dict, path: Path) -> None:
    write_text(path, json.dumps(data, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per method")
    parser.add_argument("--ref-rounds-large", type=int, default=2, help="rounds of the slow ref loop at l=1024")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch intra-op thread counts to run with")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    write_json(main(args.rounds, args.ref_rounds_large, args.threads), args.out)
    print(f"wrote {args.out}")
