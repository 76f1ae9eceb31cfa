"""Table 2's CNN row, run for real (slow: about 4 min training + 15-30 min of attacks on 2 cores).

    python -m pytest -m slow tests/test_table2_slow.py

Same folders as benchmarks/table2_cnn.sh (./models, ./results/table2.sqlite, git-ignored), so a
rerun reuses the checkpoint and the attack records already stored.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bench
from reports.tables import summarize_attack

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_undefended_cnn_pointwise_median_l0_on_200_images() -> None:
    if not os.environ.get("BENCH_DATA_ROOT"):
        pytest.skip("needs full MNIST: set BENCH_DATA_ROOT")
    models, results = ROOT / "models", ROOT / "results" / "table2.sqlite"
    data = bench.load_dataset("mnist")
    trained = bench.train("cnn", data, models=models)
    defense = bench.load_defense("cnn", models=models)
    records = bench.attack(defense, "pointwise", data.test, range(200), restarts=10,
                           store=results)
    summary = summarize_attack(records)
    assert summary.images == 200
    assert trained.metrics["test_sample_accuracy"] >= 0.99
    assert 7 <= summary.median_l0 <= 11  # Schott et al.: 9.0
