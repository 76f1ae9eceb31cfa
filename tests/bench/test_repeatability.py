"""Resumable, repeatable runs: SIGKILL mid-attack then rerun, batch sizes and worker counts,
and several writer processes on one results database."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.store import ResultStore
from tests.conftest import train_tiny

CERT = ["--n0", "20", "--n", "150"]
ATTACK = ["--restarts", "1", "--init-steps", "20"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repeat") / "models"
    train_tiny(root, "cnn", 3000)
    train_tiny(root, "ablation-k45", 300)
    return root


def _bench(*argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bench", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    """Every stored record without its timing (the only field allowed to differ)."""
    with ResultStore(path) as store:
        records: list[Any] = store.records() if table == "certify" else store.attack_records()
    return sorted(dataclasses.astuple(dataclasses.replace(r, seconds=0.0)) for r in records)


def test_attack_killed_with_sigkill_then_rerun_equals_uninterrupted(models: Path,
                                                                    tmp_path: Path) -> None:
    argv = ["attack", "--defense", "cnn", "--models", str(models), "--limit", "6", *ATTACK]
    killed = tmp_path / "killed.sqlite"
    proc = _bench(*argv, "--results", str(killed))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if killed.exists():
            with ResultStore(killed) as store:
                if len(store.attack_records()) >= 2:
                    break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(_rows(killed, "attack"))
    assert 2 <= partial < 6, "the kill should land mid-run"
    assert main([*argv, "--results", str(killed)]) == 0
    assert main([*argv, "--results", str(tmp_path / "clean.sqlite")]) == 0
    assert _rows(killed, "attack") == _rows(tmp_path / "clean.sqlite", "attack")
    assert len(_rows(killed, "attack")) == 6


def test_batch_size_and_worker_count_do_not_change_results(models: Path, tmp_path: Path) -> None:
    base = ["certify", "--defense", "ablation-k45", "--models", str(models), *CERT]
    serial = tmp_path / "serial.sqlite"
    assert main([*base, "--limit", "6", "--forward-batch", "256", "--results",
                 str(serial)]) == 0
    assert main([*base, "--limit", "6", "--forward-batch", "7", "--results",
                 str(tmp_path / "batch7.sqlite")]) == 0
    # two worker processes writing to one database at the same time, three images each
    shared = tmp_path / "workers.sqlite"
    workers = [_bench(*base, "--first", str(start), "--limit", "3", "--results", str(shared))
               for start in (0, 3)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    assert _rows(tmp_path / "batch7.sqlite", "certify") == _rows(serial, "certify")
    assert _rows(shared, "certify") == _rows(serial, "certify")
    assert len(_rows(serial, "certify")) == 6


def test_same_seed_same_attack_records_across_processes(models: Path, tmp_path: Path) -> None:
    argv = ["attack", "--defense", "ablation-k45", "--models", str(models), "--limit", "2",
            "--n", "40", "--restarts", "1", "--init-steps", "10", "--mask-policy", "fixed"]
    assert main([*argv, "--results", str(tmp_path / "a.sqlite")]) == 0
    proc = _bench(*argv, "--results", str(tmp_path / "b.sqlite"))
    assert proc.wait(timeout=300) == 0
    first, second = _rows(tmp_path / "a.sqlite", "attack"), _rows(tmp_path / "b.sqlite", "attack")
    assert len(first) == 2
    # forward passes and queries included: the same work, not just the same answer
    assert first == second
