#!/usr/bin/env bash
# Wall time of the same certify job (ablation-k45, first LIMIT test images, N0 = 1,000,
# N = 10,000) three ways: one process using all cores, one process on one core, and --jobs 2
# (two worker processes, one core each). Needs a trained models/mnist/ablation-k45.pt and an
# idle machine. Measured figures: docs/performance.md.   usage: BENCH_DATA_ROOT=... bash benchmarks/parallel_scaling.sh [LIMIT]
set -euo pipefail
LIMIT=${1:-40}
OUT=$(mktemp -d)
run() {  # label, then the environment and flags
  local label=$1; shift
  local start=$(date +%s.%N)
  env "$@" --limit "$LIMIT" --results "$OUT/$label.sqlite" > /dev/null 2>&1
  local end=$(date +%s.%N)
  printf '%-28s %6.1f s  %5.2f s/image\n' "$label" "$(echo "$end - $start" | bc)" \
    "$(echo "($end - $start) / $LIMIT" | bc -l)"
}
CMD=(bench certify --defense ablation-k45 --profile paper)
run "1 process, all cores" "${CMD[@]}"
run "1 process, 1 core" OMP_NUM_THREADS=1 "${CMD[@]}"
run "--jobs 2 (1 core each)" "${CMD[@]}" --jobs 2
python - "$OUT" <<'PY'
import sqlite3, sys
rows = {}
for name in ("1 process, all cores", "1 process, 1 core", "--jobs 2 (1 core each)"):
    con = sqlite3.connect(f"{sys.argv[1]}/{name}.sqlite")
    rows[name] = con.execute("SELECT image, radius, counts FROM certify ORDER BY image").fetchall()
print("identical records:", len({tuple(v) for v in rows.values()}) == 1)
PY
rm -rf "$OUT"
