"""`bench perf` end to end on a tiny trained model, and the audited oracle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.perf import AuditedOracle
from defenses.ablation import RandomizedAblation
from defenses.masks import sample_keep_masks
from defenses.oracles import EarlyStop, FixedOracle
from tests.conftest import KeptBrightnessModel, auto_precision, train_tiny


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("perf") / "models"
    train_tiny(root, "ablation-k45", 600)
    return root


def test_perf_quick_writes_every_figure(models: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "perf"
    assert main(["perf", "--quick", "--models", str(models), "--n", "200", "--restarts", "1",
                 "--certify-images", "1", "--init-steps", "20", "--out", str(out)]) == 0
    result = json.loads((out / "perf.json").read_text())
    assert set(result["matmul_gflops"]) == {"fp32", "bf16"}
    assert set(result["forwards"]) == {"fp32", "bf16", "int8"}
    assert result["forwards"]["fp32"]["vote_agreement_with_fp32"] == 1.0
    assert all(row["forwards_per_s"] > 0 for row in result["forwards"].values())
    assert result["precision"] == auto_precision() and result["certify_s_per_image"] > 0
    # emulated bf16 (no AVX-512 BF16 or AMX) is measured on fewer inputs and says so
    native = result["machine"]["native_bf16"]
    assert native is (auto_precision() == "bf16")
    assert result["forwards"]["bf16"].get("emulated", False) is not native
    attack = result["attack"]
    assert attack["decisions_identical"] is True
    assert attack["attack_forwards_naive"] > attack["attack_forwards_incremental"] > 0
    assert attack["per_image"][0]["queries"] > 0
    assert attack["init_steps"] == 20  # the start search asked for, as bench attack takes it
    table = (out / "perf.md").read_text()
    assert "attack_forwards_incremental" in table and "salt-and-pepper (20 steps)" in table
    assert "forward reduction" in capsys.readouterr().out


def test_perf_refuses_an_undefended_model(models: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perf", "--quick", "--defense", "cnn", "--models", str(models),
                 "--out", str(tmp_path / "p")]) == 2
    assert "smoothed defenses" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_audited_oracle_counts_a_mismatch() -> None:
    defense = RandomizedAblation(KeptBrightnessModel(), k=8, n=200, batch_size=64)
    keeps = sample_keep_masks(200, 64, 8, torch.Generator().manual_seed(0)).view(200, 8, 8)
    x = torch.full((1, 1, 8, 8), 0.9)  # bright: class 0 with every mask

    class Lying(FixedOracle):
        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            counts = super().__call__(x)
            return counts.flip(1)  # the wrong decision

    honest = AuditedOracle(FixedOracle(defense, keeps, stop=EarlyStop(0, 0.05)), 0, 0.05, 1)
    lying = AuditedOracle(Lying(defense, keeps), 0, 0.05, 1)
    for _ in range(2):
        honest(x)
        lying(x)
    assert (honest.audited, honest.mismatches) == (2, 0)
    assert (lying.audited, lying.mismatches) == (2, 2)
    assert honest.queries == 2 and honest.audit_forwards == 400


def test_audited_oracle_audits_the_start_stand_in_and_counts_its_naive_cost() -> None:
    defense = RandomizedAblation(KeptBrightnessModel(), k=8, n=200, batch_size=64)
    keeps = sample_keep_masks(200, 64, 8, torch.Generator().manual_seed(1)).view(200, 8, 8)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    audited = AuditedOracle(FixedOracle(defense, keeps, stop=EarlyStop(0, 0.05),
                                        start_samples=50), 0, 0.05, 1)
    oracles = audited.audited_oracles()
    assert len(oracles) == 2 and oracles[1] is audited.start
    assert audited.start is not None
    audited(x)
    audited.start(x)
    audited.start(1.0 - x)
    assert (audited.queries, audited.start.queries) == (1, 2)
    assert (audited.naive_forwards, audited.start.naive_forwards) == (200, 100)
    assert audited.start.audited == 2 and audited.start.mismatches == 0
