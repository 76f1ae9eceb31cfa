"""Bench processes share the cores: who counts as one, and each one's share."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.cores import CoreShare, _is_bench, bench_processes, fair_threads
from bench.errors import InputError


def _proc(root: Path, pid: int, *argv: str) -> None:
    (root / str(pid)).mkdir()
    (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_bench_processes_are_counted_from_their_command_lines(tmp_path: Path) -> None:
    _proc(tmp_path, 10, "/usr/bin/python3", "-m", "bench", "train", "--defense", "x")
    _proc(tmp_path, 11, "/venv/bin/bench", "certify")
    _proc(tmp_path, 12, "/usr/bin/python3", "/venv/bin/bench", "attack")
    _proc(tmp_path, 13, "/usr/bin/python3", "-m", "pytest", "tests/bench")
    _proc(tmp_path, 14, "vim", "bench/cli.py")
    (tmp_path / "self").mkdir()  # not a process
    assert bench_processes(tmp_path) == 3
    assert bench_processes(tmp_path / "missing") == 1
    assert not _is_bench([])


def test_each_process_gets_an_equal_share_of_at_least_one_thread() -> None:
    assert fair_threads(cores=2, processes=1) == 2
    assert fair_threads(cores=2, processes=2) == 1
    assert fair_threads(cores=16, processes=3) == 5
    assert fair_threads(cores=2, processes=5) == 1


def test_explicit_threads_are_obeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("BENCH_THREADS", "1")
        share = CoreShare()
        assert torch.get_num_threads() == 1 and not share.enabled
        monkeypatch.setenv("BENCH_THREADS", "two")
        with pytest.raises(InputError, match="BENCH_THREADS"):
            CoreShare()
        monkeypatch.delenv("BENCH_THREADS")
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert not CoreShare().enabled
    finally:
        torch.set_num_threads(before)
