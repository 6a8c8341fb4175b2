"""Training throughput on the CPU: windows (spotter) and flow images (MERba) per second.

One training step = forward, loss, backward and optimiser step, on random inputs of the real shapes
(spotter: k = 50 frames x 36 channels; MERba: 3 x S x S onset-apex flow). Writes
``benchmarks/results/train_throughput.json``.

Usage: ``python benchmarks/train_throughput.py [--steps N] [--threads T]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from melab.models.merba import MERba, MERbaConfig, dgcm_loss
from melab.models.spotter import Spotter, SpotterConfig, spotter_loss

RESULTS = Path(__file__).resolve().parent / "results" / "train_throughput.json"


def spotter_step(config: SpotterConfig, batch: int, k: int = 50):
    model = Spotter(config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, k, config.in_channels)
    spot, label = torch.rand(batch, k).round(), torch.randint(0, config.n_classes + 1, (batch, k))

    def step():
        loss, _ = spotter_loss(model(x), spot, label)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return model, step


def merba_step(config: MERbaConfig, batch: int):
    model = MERba(config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, config.in_channels, config.img_size, config.img_size)
    labels = torch.randint(0, 7, (batch,))

    def step():
        loss, _ = dgcm_loss(*model(x), labels, alpha=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return model, step


def measure(make, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    model, step = make()
    step()  # warm-up (allocations, first-call overheads)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - t0) / steps
    return {"params": sum(p.numel() for p in model.parameters()), "batch": batch,
            "seconds_per_step": round(seconds, 4), "samples_per_s": round(batch / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for tiny models)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = {
        "spotter_tiny": (lambda: spotter_step(SpotterConfig.tiny(), 32), 32, args.steps),
        "spotter_tiny_separate": (lambda: spotter_step(SpotterConfig.tiny(shared=False), 32), 32, args.steps),
        "spotter_paper": (lambda: spotter_step(SpotterConfig.paper(), 8), 8, 2),
        "merba_tiny": (lambda: merba_step(MERbaConfig.tiny(), 32), 32, args.steps),
        "merba_paper": (lambda: merba_step(MERbaConfig.paper(), 2), 2, 1),
    }
    results = {}
    for name, (make, batch, steps) in cases.items():
        results[name] = measure(make, batch, steps)
        print(name, results[name], flush=True)
    report = {"unit": "training samples (windows or flow images) per second, forward + backward + step",
              "threads": args.threads, "load_average_1min": round(os.getloadavg()[0], 2),
              "cpu": platform.processor() or platform.machine(), "torch": torch.__version__, "results": results}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
