"""How many forward passes exact early stopping could save with other chunk sizes.

Runs Pointwise restarts on one test image against ablation-k45 with fixed masks at N = 10,000,
exactly as ``bench attack`` does, but evaluates every vote each query leaves to the base
classifier (no early stopping; the attack's path is the same, since early stopping changes no
decision). It records, per query, the counts of the votes it already knew (from references and the
vote memo) and the votes it evaluated, in order, and then replays the oracle's own early stopping
(``defenses.oracles._evaluate``: the outcome is checked before each chunk) on that record for
several chunk sizes. Queries that leave more than N/4 votes to evaluate are the start search's
fresh noise ("start"); the rest are Pointwise's one-pixel steps ("steps").

    python benchmarks/early_stop_chunks.py --models models [--image 0] [--restarts 2]

Forward-pass counts do not depend on the machine's load; the run takes about 2 minutes per
restart here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import cast

import torch

import bench
import defenses.oracles as oracles
from attacks.pointwise import Pointwise, PointwiseConfig
from bench.attacking import attack_one
from bench.training import to_float
from defenses.oracles import EarlyStop
from defenses.smoothing import SmoothedClassifier

CHUNKS = (16, 32, 64, 128, 256, 512, 1024)

Trace = list[tuple[list[int], torch.Tensor]]


def record_trace(defense: SmoothedClassifier, image: int, restarts: int,
                 data_root: str | None) -> tuple[Trace, int, float]:
    """(known counts, evaluated votes) per query, the image's label, and the best L0 found."""
    test = bench.load_dataset("mnist", data_root).test
    x, label = to_float(test.images[image : image + 1]), int(test.labels[image])
    trace: Trace = []

    def evaluate_all(model: SmoothedClassifier, x1: torch.Tensor, noise: torch.Tensor,
                     votes: torch.Tensor, pending: torch.Tensor, stop: object) -> None:
        known = votes[votes != oracles._UNKNOWN]
        counts = torch.bincount(known, minlength=model.num_classes).tolist()
        if len(pending):
            votes[pending] = model.noise_votes(x1, noise[pending])
        trace.append((counts, votes[pending].clone()))

    original = oracles._evaluate
    oracles._evaluate = evaluate_all  # type: ignore[assignment]
    try:
        attack = Pointwise(PointwiseConfig(restarts=restarts))
        _, result = attack_one(defense, attack, "fixed", 0, image, x, label)
    finally:
        oracles._evaluate = original
    if result is None:
        raise SystemExit(f"image {image} is misclassified or abstained: nothing to attack")
    return trace, label, result.best_l0


class _Recorded:
    """Stands in for the defense in ``defenses.oracles._evaluate``: "noise" rows are indices into
    recorded votes, and every vote it hands out counts as a forward pass."""

    def __init__(self, votes: torch.Tensor, classes: int) -> None:
        self.votes, self.num_classes, self.forward_passes = votes, classes, 0

    def noise_votes(self, x1: object, rows: torch.Tensor) -> torch.Tensor:
        self.forward_passes += len(rows)
        return self.votes[rows]


def replay(counts: list[int], votes: torch.Tensor, label: int, alpha: float,
           chunk: int, classes: int) -> int:
    """Forward passes the oracle's own early stopping (``defenses.oracles._evaluate``) with
    ``chunk`` would have spent on one query: the known votes are given as their counts, the
    recorded ``votes`` are the pending ones, in order."""
    known = torch.repeat_interleave(torch.arange(classes), torch.tensor(counts))
    source = _Recorded(torch.cat([known, votes]), classes)
    filled = torch.cat([known, torch.full((len(votes),), oracles._UNKNOWN)])
    pending = torch.arange(len(known), len(filled))
    oracles._evaluate(cast(SmoothedClassifier, source), torch.empty(0),
                      torch.arange(len(filled)), filled, pending, EarlyStop(label, alpha, chunk))
    return source.forward_passes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=Path("models"), help="checkpoint folder")
    p.add_argument("--image", type=int, default=0, help="test image index (default 0)")
    p.add_argument("--restarts", type=int, default=2, help="Pointwise restarts (default 2)")
    p.add_argument("--data-root", default=None, help="MNIST folder (default: BENCH_DATA_ROOT)")
    args = p.parse_args()
    built = bench.load_defense("ablation-k45", models=args.models, n=10000)
    defense = built.defense
    assert isinstance(defense, SmoothedClassifier)
    began = time.perf_counter()
    trace, label, best = record_trace(defense, args.image, args.restarts, args.data_root)
    start = [(c, v) for c, v in trace if len(v) > defense.n // 4]
    steps = [(c, v) for c, v in trace if len(v) <= defense.n // 4]
    print(f"model {built.model_id}, image {args.image}, {args.restarts} restarts, best L0 "
          f"{best:g}, {len(trace)} evaluating queries ({time.perf_counter() - began:.0f} s)")
    print(f"start: {len(start)} queries, {sum(len(v) for _, v in start):,} votes left to "
          f"evaluate; steps: {len(steps)} queries, {sum(len(v) for _, v in steps):,}")
    print("\n| chunk | start forwards | step forwards | total |\n|---:|---:|---:|---:|")
    for chunk in CHUNKS:
        a = sum(replay(c, v, label, defense.alpha, chunk, defense.num_classes) for c, v in start)
        b = sum(replay(c, v, label, defense.alpha, chunk, defense.num_classes) for c, v in steps)
        print(f"| {chunk} | {a:,} | {b:,} | {a + b:,} |")


if __name__ == "__main__":
    main()
