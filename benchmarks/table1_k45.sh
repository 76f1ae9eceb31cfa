#!/usr/bin/env bash
# The issue's acceptance run: train ablation-k45 (timed) and certify the first 1,000 MNIST test
# images with the paper's parameters (N0 = 1,000, N = 10,000, alpha = 0.05), printing the Table 1
# row and the certified accuracy per rho. About 17-20 + 14-38 minutes on a 2-core CPU (README).
# Usage: BENCH_DATA_ROOT=/path/to/mnist bash benchmarks/table1_k45.sh [extra certify flags]
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/env time -p bench train --defense ablation-k45 --models models
/usr/bin/env time -p bench certify --defense ablation-k45 --limit 1000 --n0 1000 --n 10000 \
    --alpha 0.05 --seed 0 --models models --results results/paper.sqlite "$@"
