"""The prepared GPU script, run as its dry run (every phase, tiny sizes, on the CPU), so that it
cannot rot: the same commands, packing and limits as on the GPU."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_gpu_script_runs_every_phase_and_packs_its_output(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu" / "reproduce.sh"), str(out), "--dry-run",
         "--budget", "400", "--work", str(work)],
        capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["log.txt", "report-default.tar.gz", "report-paper.tar.gz",
                     "results.tar.gz", "tables.md"]
    assert all((out / f).stat().st_size < 16 * 2**20 for f in files)
    log = (out / "log.txt").read_text()
    for phase in "abcpd":
        assert f"== phase {phase}" in log
    assert "skipped (no time left)" not in log and "Traceback" not in log
    tables = (out / "tables.md").read_text()
    assert "ablation-k45" in tables and "ablation-k20" in tables
    assert "The pairwise certificate from the same votes" in tables
    with tarfile.open(out / "results.tar.gz") as tar:
        names = tar.getnames()
        summary = tar.extractfile("checkpoints.txt").read().decode()  # type: ignore[union-attr]
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert {"results-default.sqlite", "results-paper-recipe.sqlite"} <= set(names)
    paper = [line for line in summary.splitlines() if "models-paper" in line]
    assert len(paper) == 1 and "'schedule': 'constant'" in paper[0]
    assert "'mask_sharing': 'per-batch'" in paper[0]
    with sqlite3.connect(tmp_path / "unpacked" / "results-default.sqlite") as db:
        runs = {row[0]: json.loads(row[1]) for row in db.execute(
            "SELECT defense, config FROM certify GROUP BY run_hash")}
        attacked = db.execute("SELECT COUNT(*) FROM attack").fetchone()[0]
    assert set(runs) == {"ablation-k20", "ablation-k30", "ablation-k45"}
    assert all(run["certify"]["rng"] == "device" for run in runs.values())
    assert attacked == 1


def test_the_gpu_script_explains_itself() -> None:
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu" / "reproduce.sh")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "Usage: bash benchmarks/gpu/reproduce.sh OUT" in proc.stdout
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu" / "reproduce.py"),
                           str(REPO / "unused"), "--phases", "xyz"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "--phases takes letters of abcpd" in proc.stderr
