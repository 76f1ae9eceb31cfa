"""Table 2 bars, run for real (slow: ~4 min training + ~15-30 min of attacks on 2 cores).

    python -m pytest -m slow tests/test_table2_slow.py

Same folders as benchmarks/table2_cnn.sh (./models, ./results/table2.sqlite, git-ignored), so a
rerun reuses the checkpoint and the attack records already stored.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.attacking import AttackJob
from bench.cli import main
from bench.configs import AttackConfig, CertifyConfig
from bench.data import load_mnist
from bench.registry import resolve_defense
from bench.runner import load_defense
from bench.store import ResultStore
from reports.tables import summarize_attack

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_undefended_cnn_pointwise_median_l0_on_200_images() -> None:
    if not os.environ.get("BENCH_DATA_ROOT"):
        pytest.skip("needs full MNIST: set BENCH_DATA_ROOT")
    models, results = ROOT / "models", ROOT / "results" / "table2.sqlite"
    assert main(["train", "--defense", "cnn", "--models", str(models)]) == 0
    assert main(["attack", "--defense", "cnn", "--attack", "pointwise", "--limit", "200",
                 "--restarts", "10", "--models", str(models), "--results", str(results)]) == 0
    config = resolve_defense("cnn")
    _, checkpoint = load_defense(config, CertifyConfig(), models)
    job = AttackJob(config, AttackConfig(restarts=10), checkpoint.model_id, 0)
    test = load_mnist().test
    with ResultStore(results) as store:
        records = store.attack_records(job.run_hash, test.fingerprint, 0, images=range(200))
    summary = summarize_attack(records)
    assert summary.images == 200
    assert checkpoint.metrics["test_sample_accuracy"] >= 0.99
    assert 7 <= summary.median_l0 <= 11  # Schott et al.: 9.0
