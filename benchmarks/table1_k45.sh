#!/usr/bin/env bash
# Table 1's k = 45 row: train ablation-k45 (timed) and certify the first 1,000 MNIST test
# images with the paper's parameters (N0 = 1,000, N = 10,000, alpha = 0.05), printing the Table 1
# row and the certified accuracy per rho. About 17-20 + 14-38 minutes on a 2-core CPU
# (docs/reproduction.md).
# Usage: BENCH_DATA_ROOT=/path/to/mnist bash benchmarks/table1_k45.sh [extra certify flags]
# Environment: MODELS (checkpoint folder, default models), RESULTS (default results/paper.sqlite),
# EPOCHS (training epochs, default the recipe's; the 100-epoch row of docs/reproduction.md used
# EPOCHS=100 MODELS=models-e100 RESULTS=results/paper-avx2-e100.sqlite, 66 + 37 min on AVX2).
set -euo pipefail
cd "$(dirname "$0")/.."
models="${MODELS:-models}"
results="${RESULTS:-results/paper.sqlite}"
epochs=()
if [[ -n "${EPOCHS:-}" ]]; then epochs=(--epochs "$EPOCHS"); fi
/usr/bin/env time -p bench train --defense ablation-k45 --models "$models" "${epochs[@]}"
/usr/bin/env time -p bench certify --defense ablation-k45 --limit 1000 --n0 1000 --n 10000 \
    --alpha 0.05 --seed 0 --models "$models" --results "$results" "$@"
