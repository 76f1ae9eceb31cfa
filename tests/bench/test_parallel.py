"""Parallel certification: --jobs 2 and a Dask LocalCluster give the serial run's records; a
failing image is retried, then recorded as failed, and the others go on."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench import runner
from bench.cli import main
from bench.configs import CertifyConfig
from bench.jobs import CertifyJob, DataInfo
from bench.parallel import Failure, WorkerSpec, _chunk_task, threads_per_worker
from bench.registry import resolve_defense
from bench.store import ResultStore
from bench.training import build_base_classifier
from tests.conftest import train_tiny

CERT = ["--defense", "ablation-k45", "--limit", "8", "--n0", "20", "--n", "150"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("parallel") / "models"
    train_tiny(root, "ablation-k45", 300)
    return root


def _rows(path: Path) -> list[Any]:
    with ResultStore(path) as store:
        return [dataclasses.replace(r, seconds=0.0) for r in store.records()]


def _certify(models: Path, results: Path, *extra: str) -> int:
    return main(["certify", *CERT, "--models", str(models), "--results", str(results), *extra])


def test_two_local_workers_equal_the_serial_run(models: Path, tmp_path: Path) -> None:
    assert _certify(models, tmp_path / "serial.sqlite") == 0
    assert _certify(models, tmp_path / "jobs2.sqlite", "--jobs", "2") == 0
    serial = _rows(tmp_path / "serial.sqlite")
    assert len(serial) == 8 and _rows(tmp_path / "jobs2.sqlite") == serial


def test_dask_local_cluster_equals_the_serial_run(models: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    assert _certify(models, tmp_path / "serial.sqlite") == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert _certify(models, tmp_path / "dask.sqlite", "--backend", "dask", "--scheduler",
                        cluster.scheduler_address) == 0
        with pytest.raises(ValueError, match="No clients found"):
            distributed.default_client()  # the run closed the client it opened
    assert _rows(tmp_path / "dask.sqlite") == _rows(tmp_path / "serial.sqlite")


@pytest.mark.parametrize(("extra", "message"), [
    (["--backend", "dask"], "needs --scheduler"),
    (["--scheduler", "tcp://127.0.0.1:1"], "for --backend dask"),
    (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach"),
])
def test_impossible_parallel_settings(models: Path, tmp_path: Path, extra: list[str],
                                      message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _certify(models, tmp_path / "r.sqlite", *extra) == 2
    assert message in capsys.readouterr().err
    assert _rows(tmp_path / "r.sqlite") == []


def test_a_failing_image_is_retried_then_recorded_and_the_others_go_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config, certify = resolve_defense("ablation-k45"), CertifyConfig(n0=10, n=30)
    job = CertifyJob(config, certify, "m", 0)
    spec = WorkerSpec(config, certify, job, DataInfo("mnist", "test", "f"),
                      build_base_classifier(config), 1)
    images = np.zeros((3, 1, 28, 28), np.uint8)
    images[1, 0, 0, 0] = 77  # marks test image 11, which turns into NaN on every try

    def to_float(raw: Any) -> torch.Tensor:
        raw = np.asarray(raw)
        x = torch.tensor(raw, dtype=torch.float32) / 255
        x[torch.as_tensor(raw[:, 0, 0, 0] == 77)] = float("nan")
        return x

    monkeypatch.setattr(runner, "to_float", to_float)
    out = _chunk_task(spec, images, np.array([1, 2, 3]), [10, 11, 12])
    failures = [o for o in out if isinstance(o, Failure)]
    assert [f.image for f in failures] == [11] and "NaN" in failures[0].error
    assert sorted(o.image for o in out if not isinstance(o, Failure)) == [10, 12]
    assert threads_per_worker(2) >= 1


def test_attacks_on_two_local_workers_equal_the_serial_run(tmp_path: Path) -> None:
    models = tmp_path / "models"
    train_tiny(models, "cnn", 3000)
    argv = ["attack", "--defense", "cnn", "--models", str(models), "--limit", "3",
            "--restarts", "1", "--init-steps", "20"]
    assert main([*argv, "--results", str(tmp_path / "serial.sqlite")]) == 0
    assert main([*argv, "--results", str(tmp_path / "jobs2.sqlite"), "--jobs", "2"]) == 0

    def rows(path: Path) -> list[Any]:
        with ResultStore(path) as store:
            return [dataclasses.replace(r, seconds=0.0) for r in store.attack_records()]

    serial = rows(tmp_path / "serial.sqlite")
    assert len(serial) == 3 and rows(tmp_path / "jobs2.sqlite") == serial
