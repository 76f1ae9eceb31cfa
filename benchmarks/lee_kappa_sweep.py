"""Choose Lee et al.'s kappa for MNIST: short trainings, then an estimate of the median certificate.

For each kappa this trains ``lee-kappa{kappa}`` for a few epochs into its own models folder
(``bench.train``, resumable), estimates each of the first IMAGES test images' top-class probability
from SAMPLES noise draws, and turns it into the radius a 10,000-sample certificate at alpha = 0.05
would give if that estimate were exact (misclassified images count as -inf). The kappa with the
largest estimated median is then trained with the full recipe and certified
(docs/reproduction.md, Table 7).

    python benchmarks/lee_kappa_sweep.py --kappas 0.05,0.1,0.2 --epochs 3 --models models/lee-sweep
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import bench
from bench.seeding import image_generator
from bench.training import to_float
from defenses.lee_math import lee_l0_radius
from defenses.smoothing import SmoothedClassifier
from defenses.stats import clopper_pearson_lower, top_two


def estimated_radius(p: float, kappa: float, n: int = 10000, alpha: float = 0.05) -> float:
    """Lee radius of the Clopper-Pearson bound of round(p * n) votes out of n; -inf if p = 0."""
    if p <= 0.0:
        return float("-inf")
    return lee_l0_radius(clopper_pearson_lower(round(p * n), n, alpha), kappa, max_radius=784)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kappas", default="0.05,0.1,0.2", help="comma-separated kappa values")
    p.add_argument("--epochs", type=int, default=3, help="training epochs per kappa (default 3)")
    p.add_argument("--models", type=Path, default=Path("models/lee-sweep"),
                   help="checkpoint folder of the sweep (default models/lee-sweep)")
    p.add_argument("--images", type=int, default=200, help="first N test images (default 200)")
    p.add_argument("--samples", type=int, default=500, help="noise draws per image (default 500)")
    p.add_argument("--data-root", default=None, help="MNIST folder (default: BENCH_DATA_ROOT)")
    args = p.parse_args()
    data = bench.load_dataset("mnist", args.data_root)
    test = data.test.head(args.images)
    x, labels = to_float(test.images), test.labels.tolist()
    rows = []
    for kappa_text in args.kappas.split(","):
        name = f"lee-kappa{kappa_text.strip()}"
        recipe = dataclasses.replace(bench.recipe_for(name), epochs=args.epochs)
        trained = bench.train(name, data, models=args.models, recipe=recipe)
        defense = bench.load_defense(name, models=args.models, batch_size=500).defense
        assert isinstance(defense, SmoothedClassifier)
        started = time.perf_counter()
        probs = []
        for start in range(0, len(labels), 20):
            stop = min(start + 20, len(labels))
            gens = [image_generator(1, i, "lee-sweep") for i in range(start, stop)]
            counts = defense.vote_counts(x[start:stop], args.samples, gens).tolist()
            for row, label in zip(counts, labels[start:stop], strict=True):
                top, _, _ = top_two(row)
                probs.append(row[label] / args.samples if top == label else 0.0)
        kappa = float(kappa_text)
        radii = sorted(estimated_radius(v, kappa) for v in probs)
        n = len(radii)
        rows.append((name, trained.metrics["test_sample_accuracy"],
                     sum(v > 0 for v in probs) / n, sorted(probs)[(n - 1) // 2],
                     radii[(n - 1) // 2], trained.metrics["train_seconds"],
                     time.perf_counter() - started))
    print(f"\n{args.epochs} epochs per kappa; {args.images} test images x {args.samples} draws; "
          "radius estimated for N = 10,000, alpha = 0.05\n")
    print("| defense | single-noise acc. | smoothed acc. | median p | est. median radius "
          "| train min | eval s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, acc, smoothed, med_p, med_r, train_s, eval_s in rows:
        print(f"| {name} | {100 * acc:.2f}% | {100 * smoothed:.1f}% | {med_p:.3f} | {med_r} "
              f"| {train_s / 60:.1f} | {eval_s:.0f} |")


if __name__ == "__main__":
    main()
