"""Tables 7 and 8 and the pairwise gain, run for real on the first 1,000 test images (slow: up to
three 12-25 min trainings and three ~25-60 min certifications on 2 cores).

    python -m pytest -m slow tests/test_baselines_slow.py

Checkpoints go to ./models-24ep and records to ./results/baselines.sqlite (both git-ignored), so
a rerun reuses the trained models and resumes certification. The figures in docs/reproduction.md
were measured with the 24-epoch fp32 recipe for all three defenses, which this test keeps
(RECIPE) so that it checks them. The assertions are the paper's comparative claims: ablation
certifies more than Lee et al.'s smoothing (Table 7), the multichannel NULL encoding is at least
as good as the mean fill (Table 8), and the pairwise certificate does not lose to the paper's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bench
from bench.cli import main
from reports.baselines import lee_convention_median, summarize_pairwise_gain
from reports.records import CertifyRecord
from reports.tables import summarize_certify

ROOT = Path(__file__).resolve().parents[1]
MODELS, RESULTS = ROOT / "models-24ep", ROOT / "results" / "baselines.sqlite"
RECIPE = ["--epochs", "24", "--train-precision", "fp32"]


def _records(name: str) -> list[CertifyRecord]:
    """The records ``_compare`` stored (``certify`` finds them and computes nothing)."""
    defense = bench.load_defense(name, models=MODELS, n0=1000, n=10000, alpha=0.05)
    records = bench.certify(defense, bench.load_dataset("mnist").test, range(1000),
                            store=RESULTS)
    assert len(records) == 1000
    return records


def _compare(table: str) -> None:
    assert main(["compare", table, "--profile", "paper", "--limit", "1000", "--models",
                 str(MODELS), "--results", str(RESULTS), *RECIPE]) == 0


@pytest.fixture(autouse=True)
def _full_mnist() -> None:
    if not os.environ.get("BENCH_DATA_ROOT"):
        pytest.skip("needs full MNIST: set BENCH_DATA_ROOT")


@pytest.mark.slow
def test_table7_ablation_certifies_more_than_lee() -> None:
    _compare("table7")
    lee, ablation = _records("lee-kappa0.3"), _records("ablation-k45")
    lee_median = summarize_certify(lee).median_radius
    ablation_median = summarize_certify(ablation).median_radius
    assert ablation_median is not None
    assert lee_median is None or ablation_median > lee_median
    assert ablation_median > lee_convention_median(lee)


@pytest.mark.slow
def test_table8_multichannel_at_least_as_good_as_mean() -> None:
    _compare("table8")
    multi = summarize_certify(_records("ablation-k45"))
    mean = summarize_certify(_records("ablation-mean-k45"))
    assert multi.median_radius is not None and mean.median_radius is not None
    assert multi.median_radius >= mean.median_radius
    assert multi.accuracy >= mean.accuracy - 0.01  # the paper: 96.72% vs 96.27%


@pytest.mark.slow
def test_pairwise_median_at_least_the_papers() -> None:
    _compare("pairwise")
    gain = summarize_pairwise_gain(_records("ablation-k45"))
    assert gain.median_pairwise >= gain.median_paper
    assert gain.larger > gain.smaller
