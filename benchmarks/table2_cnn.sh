#!/usr/bin/env bash
# Table 2's first row: train the undefended CNN (timed) and attack the first 200 MNIST test images
# with Pointwise, best of 10 restarts (salt-and-pepper start of 100 steps), printing clean
# accuracy and the median L0 (Schott et al. report 9.0). Measured: docs/reproduction.md.
# Usage: BENCH_DATA_ROOT=/path/to/mnist bash benchmarks/table2_cnn.sh [extra attack flags]
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/env time -p bench train --defense cnn --models models
/usr/bin/env time -p bench attack --defense cnn --attack pointwise --limit 200 --restarts 10 \
    --seed 0 --models models --results results/table2.sqlite "$@"
