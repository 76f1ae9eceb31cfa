"""The issue's bar, run for real (slow: 12-17 min training + ~23 min certification on 2 cores).

    python -m pytest -m slow tests/test_paper_slow.py

Checkpoints go to ./models and records to ./results/paper.sqlite (both git-ignored), so a rerun
reuses the trained model and resumes certification.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.cli import main
from bench.configs import CertifyConfig
from bench.data import load_mnist
from bench.registry import resolve_defense
from bench.runner import CertifyJob, load_defense
from bench.store import ResultStore
from reports.tables import summarize_certify

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ablation_k45_reaches_the_paper_on_1000_images() -> None:
    if not os.environ.get("BENCH_DATA_ROOT"):
        pytest.skip("needs full MNIST: set BENCH_DATA_ROOT")
    models, results = ROOT / "models", ROOT / "results" / "paper.sqlite"
    assert main(["train", "--defense", "ablation-k45", "--models", str(models)]) == 0
    assert main(["certify", "--defense", "ablation-k45", "--limit", "1000",
                 "--models", str(models), "--results", str(results)]) == 0
    config = resolve_defense("ablation-k45")
    _, checkpoint = load_defense(config, CertifyConfig(), models)
    job = CertifyJob(config, CertifyConfig(), checkpoint.model_id, 0)
    test = load_mnist().test
    with ResultStore(results) as store:
        records = store.records(job.run_hash, test.fingerprint, 0, images=range(1000))
    summary = summarize_certify(records)
    assert summary.images == 1000
    assert summary.accuracy >= 0.96
    assert summary.median_radius is not None and summary.median_radius >= 8
    assert checkpoint.metrics["train_seconds"] <= 20 * 60
