"""Every attack, and the ensemble, against one trained defense on the same test images.

Each attack runs with the settings given below (the defaults unless overridden), stores one
record per image in RESULTS (reruns resume) and prints its Table 2 row; the report of RESULTS
(``bench report``) then compares them image by image and audits the smallest confirmed L0 of any
attack against the certificates stored there. The ensemble's members carry the same settings as
their standalone runs, so its per-image result is at most theirs on a deterministic defense.

The smoothed-defense settings (``--smoothed``) trade steps for time on a CPU: σ-zero 300 steps,
PGD0 50 steps per budget, Sparse-RS 500 queries per budget; FMN-L0 and L0 Brendel-Bethge are left
out there (they stop on the surrogate's boundary, which held-out votes refuse), and the
ensemble's members are σ-zero, PGD0 and Sparse-RS (Pointwise runs alone, 1 restart, fixed
masks: about 1.5 minutes per image for ablation-k45 at N = 10,000).

Usage:
    BENCH_DATA_ROOT=/path/to/mnist python benchmarks/attack_suite.py --defense cnn --limit 200 \\
        --results results/attacks-cnn.sqlite
    python benchmarks/attack_suite.py --defense ablation-k45 --limit 20 --n 10000 --smoothed \\
        --results results/attacks-k45.sqlite [--only pointwise,ensemble]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import bench
from reports.tables import render_table2, summarize_attack

CPU_SMOOTHED: dict[str, dict[str, Any]] = {
    "sigma-zero": {"steps": 300},
    "pgd0": {"steps": 50},
    "sparse-rs": {"queries": 500},
    "pointwise": {"restarts": 1},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--defense", required=True)
    parser.add_argument("--models", default="models")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--n", type=int, default=10_000, help="N of a smoothed defense")
    parser.add_argument("--results", required=True)
    parser.add_argument("--smoothed", action="store_true",
                        help="the CPU settings for smoothed defenses (module docstring)")
    parser.add_argument("--only", default="", help="comma-separated attacks to run (default: all)")
    args = parser.parse_args()

    data = bench.load_dataset("mnist")
    settings = {"n": args.n} if args.smoothed else {}
    defense = bench.load_defense(args.defense, models=args.models, **settings)
    images = range(args.first, args.first + args.limit)
    if args.smoothed:
        names = ["sigma-zero", "pgd0", "sparse-rs", "pointwise"]
        options = CPU_SMOOTHED
        members = ["sigma-zero", "pgd0", "sparse-rs"]
    else:
        names = ["pointwise", "sigma-zero", "fmn-l0", "bb-l0", "pgd0", "sparse-rs"]
        options = {}
        members = bench.EnsembleConfig().names
    attacks: dict[str, bench.Attack] = {
        name: bench.make_attack(name, **options.get(name, {})) for name in names}
    attacks["ensemble"] = bench.Ensemble(
        bench.EnsembleConfig(attacks=",".join(members)),
        [bench.make_attack(name, **options.get(name, {})) for name in members])
    wanted = args.only.split(",") if args.only else list(attacks)
    for name in wanted:
        began = time.perf_counter()
        records = bench.attack(defense, attacks[name], data.test, images, seed=0,
                               mask_policy="fixed", store=args.results)
        print(f"{name}: {len(records)} images in {time.perf_counter() - began:.0f} s "
              f"(median seconds per image {statistics.median(r.seconds for r in records):.1f})",
              flush=True)
        print(render_table2([summarize_attack(records)]), flush=True)


if __name__ == "__main__":
    main()
