"""Two ``bench train`` runs at once on this machine's cores: training images/s of each against
the rate of one alone.

Usage: BENCH_DATA_ROOT=/path/to/mnist python benchmarks/contention.py [--images 20000]
       [--epochs 2] [--env NAME=VALUE ...]

Each run trains ablation-k45 with the default recipe on the first IMAGES training images into a
temporary folder; the rate is the images of its epochs over its checkpoint's training seconds
(data loading and start-up left out). ``--env`` sets variables of both runs (e.g.
OMP_NUM_THREADS=2, to see the old collapse without bench's thread policy). Nothing else may run
on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _train(models: Path, images: int, epochs: int, env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bench", "train", "--defense", "ablation-k45", "--models",
           str(models), "--train-limit", str(images), "--epochs", str(epochs), "--device", "cpu"]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _rate(models: Path, images: int, epochs: int) -> float:
    checkpoint = torch.load(models / "mnist" / "ablation-k45.pt", map_location="cpu",
                            weights_only=True)
    return images * epochs / float(checkpoint["metrics"]["train_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    env = dict(os.environ, **dict(item.split("=", 1) for item in args.env))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        solo = _train(root / "solo", args.images, args.epochs, env)
        if solo.wait() != 0:
            sys.exit(solo.stderr.read() if solo.stderr else "training failed")
        alone = _rate(root / "solo", args.images, args.epochs)
        pair = [_train(root / f"pair{i}", args.images, args.epochs, env) for i in (0, 1)]
        if any(p.wait() != 0 for p in pair):
            sys.exit("a concurrent training failed")
        rates = [_rate(root / f"pair{i}", args.images, args.epochs) for i in (0, 1)]
    print(f"alone: {alone:,.0f} images/s; two at once: "
          + ", ".join(f"{r:,.0f} images/s ({100 * r / alone:.0f}%)" for r in rates)
          + f"; env {' '.join(args.env) or '(none)'}; cores {os.cpu_count()}; torch "
          f"{torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")


if __name__ == "__main__":
    main()
