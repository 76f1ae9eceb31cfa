"""Re-verify every stored adversarial of a results database with a separate evaluation.

For each attack record with a stored adversarial: its L0 is counted again against the clean test
image, and the defense (rebuilt from its checkpoint) is asked again: one forward pass for a
deterministic defense; a PREDICT on N fresh draws from a new seed for a smoothed one (an
abstention counts as adversarial). Prints, per attack run, how many adversarials were checked,
how many the new evaluation calls adversarial, and how that compares with the record's own
re-check.

Usage: BENCH_DATA_ROOT=/path/to/mnist python benchmarks/reverify.py RESULTS [--models models]
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict

import numpy as np
import torch

import bench
from attacks.l0 import pixel_l0
from bench.seeding import image_generator
from bench.store import ResultStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results")
    parser.add_argument("--models", default="models")
    parser.add_argument("--seed", type=int, default=12345,
                        help="seed of the new PREDICT draws (smoothed defenses)")
    args = parser.parse_args()
    data = bench.load_dataset("mnist").test
    with ResultStore(args.results) as store:
        records = store.attack_records()
    defenses: dict[tuple[str, str, int, str], bench.BuiltDefense] = {}
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in records:
        if not r.adversarial_shape or r.clean_adversarial:
            continue
        key = (r.defense, json.loads(r.config)["defense"].get("precision", "fp32"), r.n,
               r.model_id)
        if key not in defenses:
            kwargs = {"n": r.n, "n0": 100, "alpha": r.alpha} if r.n else {}
            defenses[key] = bench.load_defense(r.defense, models=args.models,
                                               precision=key[1], **kwargs)
        built = defenses[key]
        if built.model_id != r.model_id:
            raise SystemExit(f"{r.defense}: the checkpoint is {built.model_id}, the records "
                             f"were made with {r.model_id}")
        x_adv = torch.from_numpy(np.frombuffer(r.adversarial, dtype=np.float32).copy()
                                 ).view(r.adversarial_shape)
        clean = np.array(data.images[r.image : r.image + 1], dtype=np.float32) / 255.0
        x = torch.from_numpy(clean).view(x_adv.shape)
        l0 = int(pixel_l0(x, x_adv)[0])
        gen = image_generator(args.seed, r.image, "reverify")
        label = built.defense.predict(x_adv, [gen])[0].label
        row = tally[f"{r.defense} {r.attack} {r.mask_policy} ({r.run_hash[:8]})"]
        row[0] += 1
        row[1] += label != r.label
        row[2] += l0 == r.best_l0 or (math.isinf(r.best_l0) and l0 == 0)
        row[3] += bool(r.confirmed)
    print("| run | adversarials | adversarial now | L0 as recorded | confirmed in the record |")
    print("|---|---:|---:|---:|---:|")
    for run, (n, adversarial, same_l0, confirmed) in sorted(tally.items()):
        print(f"| {run} | {n} | {adversarial} | {same_l0} | {confirmed} |")


if __name__ == "__main__":
    main()
