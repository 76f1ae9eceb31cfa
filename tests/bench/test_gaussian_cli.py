"""End-to-end: Gaussian smoothing through the CLI (a tiny training): train, certify in L2, attack
with an L2 attack confirmed with fresh noise, and the report's separate L2 tables and figure,
never joined with L0 results."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import ResultStore
from defenses.base import L0_PIXELS, L2


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gaussian")
    os.environ.setdefault("BENCH_OFFLINE", "1")
    common = ["--models", str(root / "models"), "--results", str(root / "r.sqlite")]
    assert main(["train", "--defense", "gaussian-sigma0.25", *common[:2], "--epochs", "1",
                 "--train-limit", "2000"]) == 0
    assert main(["certify", "--defense", "gaussian-sigma0.25", *common, "--limit", "6",
                 "--n0", "20", "--n", "200", "--alpha", "0.001", "--abstain"]) == 0
    assert main(["attack", "--defense", "gaussian-sigma0.25", *common, "--limit", "3",
                 "--n", "200", "--alpha", "0.001", "--attack", "fmn-l2", "--attack-option",
                 "steps=30", "--attack-option", "holdout_samples=100"]) == 0
    # an L0 run beside it: the report keeps the two threat models apart
    assert main(["train", "--defense", "cnn", *common[:2], "--epochs", "1", "--train-limit",
                 "600"]) == 0
    assert main(["certify", "--defense", "cnn", *common, "--limit", "6"]) == 0
    return root


def test_certificates_are_l2_radii(workdir: Path) -> None:
    with ResultStore(workdir / "r.sqlite") as store:
        records = [r for r in store.records() if r.defense == "gaussian-sigma0.25"]
    assert len(records) == 6
    for r in records:
        assert r.threat_model == L2 and r.certificate == "cohen-l2" and r.alpha == 0.001
        assert r.n0 == 20 and r.n == 200 and sum(r.counts) == 200
        if r.radius > 0:  # sigma * PhiInverse(p_lower), at most 0.25 * PhiInverse(0.001^(1/200))
            assert r.p_lower > 0.5 and r.radius <= 0.25 * 2.4 and r.prediction == r.label


def test_l2_attack_records_norms_confirmed_with_fresh_noise(workdir: Path) -> None:
    with ResultStore(workdir / "r.sqlite") as store:
        attacked = store.attack_records()
        radius = {r.image: r for r in store.records() if r.defense == "gaussian-sigma0.25"}
    assert len(attacked) == 3
    for a in attacked:
        assert a.threat_model == L2 and a.attack == "fmn-l2" and a.n == 200
        if a.clean_adversarial or not math.isfinite(a.best_confirmed_l0):
            continue
        assert 0 < a.best_confirmed_l0 < 28  # an L2 norm, not a pixel count
        cert = radius[a.image]
        if cert.radius > 0 and cert.prediction == cert.label:
            assert a.best_confirmed_l0 > cert.radius  # no certificate broken


def test_report_keeps_l2_apart(workdir: Path) -> None:
    out = workdir / "report"
    assert main(["report", "--results", str(workdir / "r.sqlite"), "--out", str(out)]) == 0
    l2 = (out / "l2_certified.md").read_text()
    assert "gaussian-sigma0.25" in l2 and "certified @ 0.5" in l2 and "fmn-l2" in l2
    assert "gaussian" not in (out / "table1.md").read_text()
    assert "cnn" in (out / "table1.md").read_text()
    assert "gaussian" not in (out / "joined.csv").read_text()
    assert "fmn-l2" in (out / "l2_attacks.md").read_text()
    assert (out / "l2.png").exists()
    with ResultStore(workdir / "r.sqlite") as store:
        assert {r.threat_model for r in store.records()} == {L0_PIXELS, L2}


def test_impossible_sigma_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", "--defense", "gaussian-sigma0", "--results",
                 str(tmp_path / "r.sqlite")]) == 2
    assert "sigma = 0.0 is impossible" in capsys.readouterr().err


def test_an_ensemble_refuses_an_l2_member(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attack", "--defense", "cnn", "--attack", "ensemble", "--attack-option",
                 "attacks=sigma-zero,ddn", "--results", str(tmp_path / "r.sqlite")]) == 2
    assert "ddn measure another threat model" in capsys.readouterr().err
    assert not (tmp_path / "r.sqlite").exists()
