#!/usr/bin/env bash
# Pointwise's salt-and-pepper start on the undefended CNN: foolbox's default 1,000 steps, bench's
# default 100 steps, 30 steps and the bisection start, each on the first LIMIT test images
# (default 40) with 10 restarts, seed 0; prints each run's Table 2 row (median L0, queries and
# seconds per image).
# Measured figures: docs/performance.md. Needs a trained cnn (bench train --defense cnn).
# Usage: BENCH_DATA_ROOT=/path/to/mnist bash benchmarks/start_comparison.sh [LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${1:-40}"
for start in "salt-and-pepper --init-steps 1000" "salt-and-pepper --init-steps 100" \
        "salt-and-pepper --init-steps 30" "bisection"; do
    # shellcheck disable=SC2086
    bench attack --defense cnn --attack pointwise --limit "$limit" --restarts 10 --seed 0 \
        --start-point $start --models models --results results/start_comparison.sqlite
done
