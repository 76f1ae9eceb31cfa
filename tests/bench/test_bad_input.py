"""Every bad input of the command line: one clear message, exit code 2, no traceback, nothing
written, and earlier results intact."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bench import runner
from bench.checkpoints import save_checkpoint
from bench.cli import main
from bench.identity import checkpoint_identity
from bench.registry import resolve_defense
from bench.store import ResultStore
from bench.training import build_base_classifier
from tests.bench.test_store import record
from tests.conftest import train_tiny

TINY_CERT = ["--limit", "2", "--n0", "10", "--n", "40"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input") / "models"
    train_tiny(root, "ablation-k45", 200)
    return root


@pytest.fixture
def results(tmp_path: Path) -> Iterator[Path]:
    """A results database that already holds one record; it must come through unchanged."""
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        store.add(record(0))
    before = path.read_bytes()
    yield path
    with ResultStore(path) as store:
        assert store.records() == [record(0)], "earlier results changed"
    assert path.read_bytes() == before


def _fails(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse rejects the value itself
        code = int(e.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def _certify(models: Path, results: Path, defense: str = "ablation-k45") -> list[str]:
    return ["certify", "--defense", defense, "--models", str(models), "--results", str(results),
            *TINY_CERT]


@pytest.mark.parametrize(("argv", "message"), [
    (["--defense", "ablaton-k45"], "Did you mean ablation-k45"),
    (["--defense", "ablation-k0"], "k must be in 1..784"),
    (["--defense", "ablation-k785"], "k must be in 1..784"),
    (["--defense", "lee-kappa0.001"], "must be in (1/256, 1]"),
    (["--defense", "ablation-k45", "--n0", "0"], "must be >= 1"),
    (["--defense", "ablation-k45", "--n", "0"], "must be >= 1"),
    (["--defense", "ablation-k45", "--alpha", "0"], "must be in (0, 1)"),
    (["--defense", "ablation-k45", "--alpha", "1"], "must be in (0, 1)"),
])
def test_bad_names_and_parameters(argv: list[str], message: str, models: Path, results: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["certify", *argv, "--models", str(models), "--results", str(results)], message,
           capsys)


def test_unknown_attack(models: Path, results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["attack", "--defense", "ablation-k45", "--attack", "pointwize", "--models",
            str(models), "--results", str(results)], "Did you mean pointwise", capsys)


def test_missing_checkpoint(tmp_path: Path, results: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    _fails(_certify(tmp_path, results), "no checkpoint", capsys)


def test_truncated_checkpoint(models: Path, tmp_path: Path, results: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    raw = (models / "mnist" / "ablation-k45.pt").read_bytes()
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "ablation-k45.pt").write_bytes(raw[: len(raw) // 3])
    _fails(_certify(tmp_path, results), "truncated, corrupt", capsys)


def test_checkpoint_of_another_config(models: Path, tmp_path: Path, results: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mnist").mkdir()
    shutil.copy(models / "mnist" / "ablation-k45.pt", tmp_path / "mnist" / "ablation-k20.pt")
    _fails(_certify(tmp_path, results, "ablation-k20"), "trained for another config", capsys)


def test_checkpoint_of_another_architecture(tmp_path: Path, results: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # the config says multichannel ablation-k45 (2 input channels), the weights take 1 channel
    one_channel = build_base_classifier(resolve_defense("ablation-mean-k45"))
    save_checkpoint(tmp_path / "mnist" / "ablation-k45.pt", one_channel,
                    checkpoint_identity(resolve_defense("ablation-k45")), {}, {}, {})
    _fails(_certify(tmp_path, results), "does not fit", capsys)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_checkpoint_that_would_execute_code(tmp_path: Path, results: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mnist").mkdir()
    torch.save({"format": "bench-checkpoint-v1", "payload": _Evil()},
               tmp_path / "mnist" / "ablation-k45.pt")
    _fails(_certify(tmp_path, results), "cannot be read safely", capsys)
    assert "pwned" not in capsys.readouterr().out


def test_missing_data_files(models: Path, tmp_path: Path, results: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    _fails([*_certify(models, results), "--data-root", str(tmp_path / "empty")],
           "train-images-idx3-ubyte.gz", capsys)


def test_corrupt_data_file(models: Path, tmp_path: Path, results: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (data / name).write_bytes(b"\x1f\x8b not really gzip")
    _fails([*_certify(models, results), "--data-root", str(data)], "md5", capsys)


@pytest.mark.parametrize("bad", [float("nan"), 1.5, -0.1])
def test_nan_or_out_of_range_pixels(bad: float, models: Path, results: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    def corrupt(images: object) -> torch.Tensor:
        x = torch.zeros(len(images), 1, 28, 28)  # type: ignore[arg-type]
        x[0, 0, 3, 3] = bad
        return x

    monkeypatch.setattr(runner, "to_float", corrupt)
    _fails(_certify(models, results), "NaN or out-of-range pixels", capsys)


def test_unwritable_results(models: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    _fails(_certify(models, tmp_path / "file" / "r.sqlite"), "writable", capsys)
