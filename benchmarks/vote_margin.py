"""Quick estimate of the median certificate a trained checkpoint will get, for comparing recipes.

A full certification of 1,000 images costs 11M forward passes (~23 min on 2 cores). This estimates
each image's top-class probability p(x) from M ablations on the first N test images (M = 1,000,
N = 300: ~45 s) and reports which fraction of images clears the p_lower a radius r needs,
0.5 + Delta(r), with a margin for the Clopper-Pearson bound of a 10,000-sample certificate.
The median certificate is >= r when that fraction is >= 0.5. Misclassified images count as p = 0.

    python benchmarks/vote_margin.py --models models [--images 300] [--samples 1000]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import bench
from bench.checkpoints import find_checkpoint, load_checkpoint
from bench.seeding import image_generator
from bench.training import to_float
from defenses.ablation_math import ablation_delta
from defenses.smoothing import SmoothedClassifier
from defenses.stats import top_two


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=Path("models"), help="checkpoint folder")
    p.add_argument("--defense", default="ablation-k45", help="registered defense name")
    p.add_argument("--images", type=int, default=300, help="first N test images (default 300)")
    p.add_argument("--samples", type=int, default=1000, help="ablations per image (default 1000)")
    p.add_argument("--data-root", default=None, help="MNIST folder (default: BENCH_DATA_ROOT)")
    p.add_argument("--seed", type=int, default=1, help="seed of the ablations (default 1)")
    args = p.parse_args()
    built = bench.load_defense(args.defense, models=args.models, batch_size=1000)
    config, defense = built.config, built.defense
    if not isinstance(config, bench.AblationConfig) or not isinstance(defense,
                                                                      SmoothedClassifier):
        raise SystemExit(f"{args.defense} is not an ablation defense")
    checkpoint = load_checkpoint(find_checkpoint(args.models, config), config)
    test = bench.load_dataset("mnist", args.data_root).test.head(args.images)
    x, labels = to_float(test.images), test.labels.tolist()
    started = time.perf_counter()
    probs = []
    for start in range(0, len(labels), 50):
        stop = min(start + 50, len(labels))
        gens = [image_generator(args.seed, i, "vote-margin") for i in range(start, stop)]
        for counts, label in zip(defense.vote_counts(x[start:start + len(gens)], args.samples,
                                                     gens).tolist(),
                                 labels[start:start + len(gens)], strict=True):
            top, _, _ = top_two(counts)
            probs.append(counts[label] / args.samples if top == label else 0.0)
    n = len(probs)
    d = config.d
    metrics = checkpoint.metrics
    print(f"{checkpoint.path}: single-ablation test accuracy "
          f"{100 * metrics['test_sample_accuracy']:.2f}%, "
          f"{metrics['epochs']} epochs in {metrics['train_seconds'] / 60:.1f} min")
    print(f"{n} images x {args.samples} ablations ({time.perf_counter() - started:.0f} s): "
          f"mean p {sum(probs) / n:.4f}, median p {sorted(probs)[(n - 1) // 2]:.4f}")
    for r in range(5, 11):
        need = 0.5 + ablation_delta(d, config.k, r)
        margin = 1.645 * math.sqrt(need * (1 - need) / 10000)
        frac = sum(v > need + margin for v in probs) / n
        print(f"  radius >= {r:2d} needs p > {need:.3f} (+{margin:.3f}): "
              f"{100 * frac:5.1f}% of images")


if __name__ == "__main__":
    main()
