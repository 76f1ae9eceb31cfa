#!/usr/bin/env bash
# The colour presets end to end on synthetic data written in the real formats (docs/colour.md):
# CIFAR-10-format batches (5 x 16 training and 12 test images of 10 coloured patterns) and an
# ImageNet-style class-folder tree (3 classes of JPEGs, 2 training and 1 validation image each).
# Trains ablation-k75 (ResNet-18: 10 epochs of 10 steps, enough to learn the patterns) and
# ablation-k1000 (ResNet-50: one epoch), certifies, attacks the CIFAR-10 model with σ-zero and
# writes both reports.
# Usage: bash benchmarks/colour_synthetic.sh [WORKDIR]   (default: a new temporary folder)
# Each step prints its wall-clock time (time -p).
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
python - "$work" <<'PY'
import sys
from pathlib import Path

from tests.synthetic import write_cifar10, write_image_folder

work = Path(sys.argv[1])
write_cifar10(work / "cifar10", per_batch=16, test=12)
write_image_folder(work / "imagenet", classes=3, train=2, val=1, size=(240, 300), suffix=".jpg")
PY
cifar=(--dataset cifar10 --data-root "$work/cifar10" --models "$work/models")
imagenet=(--dataset imagenet --data-root "$work/imagenet" --models "$work/models")
/usr/bin/env time -p bench train --defense ablation-k75 "${cifar[@]}" --epochs 10 --batch-size 8
/usr/bin/env time -p bench certify --defense ablation-k75 "${cifar[@]}" --limit 12 --n0 100 \
    --n 1000 --results "$work/cifar10.sqlite"
/usr/bin/env time -p bench attack --defense ablation-k75 "${cifar[@]}" --limit 2 --n 1000 \
    --attack sigma-zero --attack-option steps=100 --attack-option holdout_samples=100 \
    --results "$work/cifar10.sqlite"
bench report --results "$work/cifar10.sqlite" --out "$work/report-cifar10" \
    --dataset cifar10 --data-root "$work/cifar10"
/usr/bin/env time -p bench train --defense ablation-k1000 "${imagenet[@]}" --epochs 1 \
    --batch-size 3
/usr/bin/env time -p bench certify --defense ablation-k1000 "${imagenet[@]}" --limit 3 \
    --n0 10 --n 100 --results "$work/imagenet.sqlite"
bench report --results "$work/imagenet.sqlite" --out "$work/report-imagenet" \
    --dataset imagenet --data-root "$work/imagenet"
echo "results and reports in $work"
