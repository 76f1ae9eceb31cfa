"""End-to-end: `bench attack` and `bench run` on tiny configs (few images, small N, 1 epoch)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.store import ResultStore
from tests.conftest import shown

TINY_CNN = ["--epochs", "1", "--train-limit", "3000"]
TINY_ABLATION = ["--epochs", "1", "--train-limit", "600"]
QUICK_ATTACK = ["--restarts", "2", "--init-steps", "20"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with tiny trained cnn and ablation-k45 checkpoints."""
    root = tmp_path_factory.mktemp("attack")
    os.environ.setdefault("BENCH_OFFLINE", "1")
    for defense, recipe in (("cnn", TINY_CNN), ("ablation-k45", TINY_ABLATION)):
        assert main(["train", "--defense", defense, "--models", str(root / "models"),
                     *recipe]) == 0
    return root


def _args(root: Path, *extra: str) -> list[str]:
    return ["--models", str(root / "models"), "--results", str(root / "r.sqlite"), *extra]


def test_attack_cnn_records_and_resumes(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attack", "--defense", "cnn", *_args(workdir), "--limit", "3",
                 *QUICK_ATTACK]) == 0
    out = capsys.readouterr().out
    assert "| cnn (fp32) | pointwise | 3 |" in out and "paper: median L0" in out
    with ResultStore(workdir / "r.sqlite") as store:
        first = store.attack_records()
    assert [r.image for r in first] == [0, 1, 2]
    for r in first:
        assert r.restarts == 2 and r.mask_policy == "none" and r.n == 0
        if r.clean_adversarial:
            assert r.best_l0 == 0 and r.restart_l0 == ()
        else:
            assert len(r.restart_l0) == 2 and r.best_l0 == min(r.restart_l0)
            assert r.queries > 0 and r.forward_passes >= r.queries
            if math.isfinite(r.best_l0):
                adv = np.frombuffer(r.adversarial, np.float32).reshape(r.adversarial_shape)
                assert adv.shape == (1, 1, 28, 28)
    # more images: the first three are kept as they are; a deterministic defense and the same
    # seed give identical results on a fresh database
    assert main(["attack", "--defense", "cnn", *_args(workdir), "--limit", "4",
                 *QUICK_ATTACK]) == 0
    with ResultStore(workdir / "r.sqlite") as store:
        second = store.attack_records()
    assert len(second) == 4 and second[:3] == first
    fresh_db = ["--models", str(workdir / "models"), "--results", str(workdir / "again.sqlite")]
    assert main(["attack", "--defense", "cnn", *fresh_db, "--limit", "3", *QUICK_ATTACK]) == 0
    with ResultStore(workdir / "again.sqlite") as store:
        again = store.attack_records()
    assert [(r.best_l0, r.restart_l0, r.adversarial) for r in again] == [
        (r.best_l0, r.restart_l0, r.adversarial) for r in first]


@pytest.mark.parametrize("policy", ["fixed", "fresh"])
def test_attack_smoothed_defense(workdir: Path, policy: str) -> None:
    results = workdir / f"{policy}.sqlite"
    assert main(["attack", "--defense", "ablation-k45", "--models", str(workdir / "models"),
                 "--results", str(results), "--limit", "1", "--n", "60", "--restarts", "1",
                 "--init-steps", "10", "--mask-policy", policy]) == 0
    with ResultStore(results) as store:
        (record,) = store.attack_records()
    assert record.mask_policy == policy and record.n == 60
    assert record.best_l0 == 0 or len(record.restart_l0) == 1
    # every query of a smoothed defense costs base-classifier forward passes
    assert record.forward_passes >= 60


def test_run_trains_certifies_and_attacks(workdir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--defense", "ablation-k45", *_args(workdir, "--limit", "2", "--n", "60",
                 "--n0", "20", "--restarts", "1", "--init-steps", "10"), *TINY_ABLATION]) == 0
    out = capsys.readouterr().out
    assert f"| {shown('ablation-k45')} | 2 | 20 | 60 |" in out  # Table 1 row of the same images
    assert f"| {shown('ablation-k45')} | pointwise | 2 |" in out
    assert "--profile paper" in out  # how to run the paper's protocol


def test_bad_attack_input_is_refused(workdir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attack", "--defense", "cnn", *_args(workdir), "--attack", "pointwse"]) == 2
    assert "Did you mean pointwise" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["attack", "--defense", "cnn", "--restarts", "0"])
    assert exit_info.value.code == 2
    results = tmp_path / "none.sqlite"
    assert main(["attack", "--defense", "cnn", "--models", str(tmp_path / "empty"),
                 "--results", str(results)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert not results.exists()


def test_the_ensemble_names_finders_and_other_attacks_keep_their_restarts(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = workdir / "ensemble.sqlite"
    common = ["--defense", "cnn", "--models", str(workdir / "models"), "--results",
              str(results), "--limit", "2"]
    assert main(["attack", *common, "--attack", "ensemble",
                 "--attack-option", "attacks=pgd0,sparse-rs"]) == 0
    with ResultStore(results) as store:
        records = store.attack_records()
    assert len(records) == 2
    for r in records:
        assert r.attack == "ensemble" and r.restarts == 2  # one restart of each member
        if r.clean_adversarial:
            continue
        assert len(r.restart_l0) == 2 and r.confirmed
        assert r.found_by in ("pgd0", "sparse-rs")
        # Sparse-RS ran second, only below PGD0's L0: it cannot end above it
        assert r.restart_l0[1] == math.inf or r.restart_l0[1] < r.restart_l0[0]
    # another attack keeps its own restarts (1), not the profile's Pointwise restarts
    assert main(["attack", *common, "--attack", "sigma-zero", "--attack-option", "steps=30"]) == 0
    with ResultStore(results) as store:
        sigma = [r for r in store.attack_records() if r.attack == "sigma-zero"]
    assert len(sigma) == 2 and all(r.restarts == 1 for r in sigma)
    capsys.readouterr()
    assert main(["attack", *common, "--attack", "ensemble", "--restarts", "3"]) == 2
    assert "restarts at 1" in capsys.readouterr().err
