#!/usr/bin/env bash
# Table 2's ablation row at the paper's N = 10,000 samples per query, on the same images with
# both mask policies: fixed (one set of ablations per image and restart, evaluated
# incrementally; its start search runs on 1,000 of the N masks, --start-n) and fresh (new
# ablations on every query, the paper's protocol). Every final adversarial is re-checked with an
# independent fresh draw of N.
# Usage: BENCH_DATA_ROOT=/path/to/mnist bash benchmarks/table2_k45.sh [LIMIT [RESTARTS [RESULTS]]]
# The fresh policy alone takes about half an hour per image and restart on a 2-core CPU, so 10
# restarts are days of CPU time (docs/reproduction.md). Reruns resume: images already in
# RESULTS are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${1:-20}"
restarts="${2:-10}"
results="${3:-results/table2.sqlite}"
bench train --defense ablation-k45 --models models
for policy in fixed fresh; do
    /usr/bin/env time -p bench attack --defense ablation-k45 --attack pointwise --limit "$limit" \
        --n 10000 --restarts "$restarts" --mask-policy "$policy" --seed 0 --models models \
        --results "$results"
done
