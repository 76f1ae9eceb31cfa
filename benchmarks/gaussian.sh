#!/usr/bin/env bash
# Cohen et al.'s Gaussian smoothing on MNIST (docs/gaussian.md): train gaussian-sigma0.25 with
# the default recipe, certify the first LIMIT test images as Cohen et al. do (N0 = 100,
# N = 10,000, alpha = 0.001, abstaining below p_lower = 1/2), attack the first COMPARED of them
# with each registered L2 attack (FMN-L2, DDN, L2 Brendel-Bethge) to find the strongest, attack
# all LIMIT with that one (STRONGEST, default fmn-l2), two worker processes each, every
# adversarial confirmed by a fresh PREDICT with N = 10,000, and write the report.
# Usage: BENCH_DATA_ROOT=/path/to/mnist bash benchmarks/gaussian.sh [LIMIT [COMPARED [STRONGEST [RESULTS]]]]
# Each step prints its wall-clock time (time -p); reruns resume from RESULTS and the models.
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${1:-500}"
compared="${2:-50}"
strongest="${3:-fmn-l2}"
results="${4:-results/gaussian.sqlite}"
cohen=(--n0 100 --n 10000 --alpha 0.001)
/usr/bin/env time -p bench train --defense gaussian-sigma0.25 --models models
/usr/bin/env time -p bench certify --defense gaussian-sigma0.25 "${cohen[@]}" --abstain \
    --limit "$limit" --models models --results "$results"
for attack in fmn-l2 ddn bb-l2; do
    /usr/bin/env time -p bench attack --defense gaussian-sigma0.25 --n 10000 --alpha 0.001 \
        --attack "$attack" --limit "$compared" --jobs 2 --models models --results "$results"
done
/usr/bin/env time -p bench attack --defense gaussian-sigma0.25 --n 10000 --alpha 0.001 \
    --attack "$strongest" --limit "$limit" --jobs 2 --models models --results "$results"
bench report --results "$results" --out results/report-gaussian
