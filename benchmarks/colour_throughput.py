"""Base-classifier throughput of the colour presets on this machine: images/s of one forward pass
(inference, as CERTIFY runs it) and of one training step, for each built-in architecture at its
dataset's input size, in fp32 and bf16, and what that makes one certified image cost at the
paper's N0 = 1,000 + N = 10,000.

Usage: python benchmarks/colour_throughput.py [--batch 256] [--seconds 5]

Nothing else may run on the machine meanwhile (docs/performance.md).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from bench.registry import build_architecture
from defenses.precision import InferenceModel

CASES = (  # architecture, input channels (the multichannel encoding), image shape, classes
    ("mnist-cnn", 2, (1, 28, 28), 10),
    ("resnet18-cifar", 6, (3, 32, 32), 10),
    ("resnet50", 6, (3, 224, 224), 1000),
)


@torch.inference_mode()
def forward_rate(model: nn.Module, precision: str, x: torch.Tensor, seconds: float) -> float:
    """Images/s of inference in ``precision`` on batches like ``x``."""
    infer = InferenceModel(model, precision)  # type: ignore[arg-type]
    infer(x)  # warm-up
    began, done = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        infer(x)
        done += len(x)
    return done / (time.perf_counter() - began)


def train_rate(model: nn.Module, precision: str, x: torch.Tensor, classes: int,
               seconds: float) -> float:
    """Images/s of SGD steps (bf16 autocast or fp32) on batches like ``x``."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    labels = torch.randint(0, classes, (len(x),))
    began, done, steps = time.perf_counter(), 0, 0
    while steps < 2 or time.perf_counter() - began < seconds:
        if steps == 1:  # the first step warms up
            began, done = time.perf_counter(), 0
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = nn.functional.cross_entropy(model(x).float(), labels)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        done, steps = done + len(x), steps + 1
    return done / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads\n")
    print("| architecture | input | precision | forward images/s | train images/s | "
          "s per certified image (11,000 forwards) |")
    print("|---|---|---|---:|---:|---:|")
    for name, channels, shape, classes in CASES:
        batch = args.batch if shape[1] <= 32 else max(8, args.batch // 16)
        x = torch.rand(batch, channels, shape[1], shape[2])
        for precision in ("fp32", "bf16"):
            torch.manual_seed(0)
            model = build_architecture(name, channels, classes, shape).eval()
            forward = forward_rate(model, precision, x, args.seconds)
            train = train_rate(model, precision, x, classes, args.seconds)
            print(f"| {name} | {channels}x{shape[1]}x{shape[2]} | {precision} | {forward:,.0f} "
                  f"| {train:,.0f} | {11000 / forward:,.2f} |")


if __name__ == "__main__":
    main()
