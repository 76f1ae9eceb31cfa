#!/usr/bin/env bash
# The partition defenses (docs/deterministic.md) beside ablation-k45 on the same images: train
# fpa-t25, fpa-t50 and fpa-strided-t25, certify the first LIMIT test images with them, with the
# derandomized ablation-k45 (T = 17) and with ablation-k45 itself at the paper's N0 = 1,000,
# N = 10,000, alpha = 0.05 (its certificate and the pairwise one); then attack the first ATTACKED
# images of each deterministic defense with Pointwise (10 restarts) and the ensemble of the three
# strongest single attacks (σ-zero, PGD0, Sparse-RS), two worker processes each, and write the
# report.
# Usage: BENCH_DATA_ROOT=/path/to/mnist bash benchmarks/deterministic.sh [LIMIT [ATTACKED [RESULTS]]]
# Each step prints its wall-clock time (time -p); reruns resume from RESULTS and the models.
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${1:-1000}"
attacked="${2:-200}"
results="${3:-results/deterministic.sqlite}"
deterministic=(fpa-t25 fpa-t50 fpa-strided-t25 derand-ablation-k45-t17)
for defense in "${deterministic[@]}"; do
    /usr/bin/env time -p bench train --defense "$defense" --models models
done
for defense in "${deterministic[@]}"; do
    /usr/bin/env time -p bench certify --defense "$defense" --limit "$limit" --models models \
        --results "$results"
done
for certificate in levine-feizi pairwise; do
    /usr/bin/env time -p bench certify --defense ablation-k45 --profile paper --limit "$limit" \
        --certificate "$certificate" --models models --results "$results"
done
for defense in "${deterministic[@]}"; do
    /usr/bin/env time -p bench attack --defense "$defense" --attack pointwise --restarts 10 \
        --limit "$attacked" --jobs 2 --models models --results "$results"
    /usr/bin/env time -p bench attack --defense "$defense" --attack ensemble \
        --attack-option attacks=sigma-zero,pgd0,sparse-rs --limit "$attacked" --jobs 2 \
        --models models --results "$results"
done
bench report --results "$results" --out results/report-deterministic
