#!/usr/bin/env bash
# Fill .gpu/ beside the repository with what benchmarks/gpu/reproduce.sh needs on a GPU machine
# that reaches no package index: the four MNIST .gz files and the pure-Python wheels its Python
# lacks (foolbox, eagerpy, GitPython, gitdb, smmap; for Python 3.12 by default).
#
# Usage: bash benchmarks/gpu/prepare.sh MNIST_DIR [PYTHON_VERSION]
#   MNIST_DIR: a folder holding train-images-idx3-ubyte.gz and the three others (directly, or
#   under raw/ or MNIST/raw/). Run it where pip reaches a package index.
#   Optional: MODELS=DIR copies DIR/mnist/*.pt into .gpu/models/mnist (checkpoints to certify
#   there, with reproduce.sh --models .gpu/models).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
if [[ $# -lt 1 ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
src="$1"
python="${2:-3.12}"
mkdir -p "$repo/.gpu/mnist" "$repo/.gpu/wheels"
found=0
for dir in "$src" "$src/raw" "$src/MNIST/raw"; do
    if [[ -f "$dir/train-images-idx3-ubyte.gz" ]]; then
        cp "$dir"/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz "$repo/.gpu/mnist/"
        found=1
        break
    fi
done
if [[ $found -eq 0 ]]; then
    echo "no MNIST .gz files in $src, $src/raw or $src/MNIST/raw" >&2
    exit 2
fi
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python" \
    --implementation cp -d "$repo/.gpu/wheels" \
    foolbox==3.3.4 eagerpy==0.30.0 GitPython gitdb smmap
if [[ -n "${MODELS:-}" ]]; then
    mkdir -p "$repo/.gpu/models/mnist"
    cp "$MODELS"/mnist/*.pt "$repo/.gpu/models/mnist/"
fi
du -sh "$repo/.gpu"
