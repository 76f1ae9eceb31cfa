#!/usr/bin/env bash
# Reproduce the MNIST tables on one GPU in about 9 minutes, into OUT (at most 8 files).
#
# Usage: bash benchmarks/gpu/reproduce.sh OUT [--budget SECONDS] [--dry-run] [--work DIR]
#
# Needs, beside the repository (git-ignored; benchmarks/gpu/prepare.sh fills them on a machine
# with pip and the MNIST files):
#   .gpu/mnist/   the four MNIST .gz files (train/t10k images and labels)
#   .gpu/wheels/  pure-Python wheels of what the GPU machine's Python lacks: foolbox, eagerpy,
#                 GitPython, gitdb and smmap (torch, numpy, scipy, pandas, matplotlib, tqdm and
#                 joblib are expected there)
# The project is not installed: it runs from this folder through PYTHONPATH, with the wheels
# unpacked into a temporary folder (no package index is needed). docs/gpu.md has the details.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
if [[ $# -lt 1 || "$1" == -* ]]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
site="$(mktemp -d)"
if compgen -G "$repo/.gpu/wheels/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "$site" "$repo"/.gpu/wheels/*.whl
fi
export PYTHONPATH="$repo:$site${PYTHONPATH:+:$PYTHONPATH}"
# foolbox imports GitPython, which must not insist on a git executable
export GIT_PYTHON_REFRESH=quiet
if [[ -z "${BENCH_DATA_ROOT:-}" && -d "$repo/.gpu/mnist" ]]; then
    export BENCH_DATA_ROOT="$repo/.gpu/mnist"
fi
exec python3 "$repo/benchmarks/gpu/reproduce.py" "$@"
