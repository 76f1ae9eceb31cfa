"""docs/extending.md, run as a new user would: its plugin files copied out of the page into a
folder outside the repository, then the command line (with --plugin and --jobs 2, with small
sizes added to the page's commands), the page's Python example verbatim, and the same files
installed as entry points."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "extending.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)


def _files() -> dict[str, str]:
    """The plugin files of the page: python blocks whose first line names the file."""
    files = {}
    for block in _blocks("python"):
        first = block.splitlines()[0]
        if re.fullmatch(r"# \w+\.py", first):
            files[first[2:]] = block
    return files


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the repository holding the page's plugin files."""
    root = tmp_path_factory.mktemp("user")
    for name, text in _files().items():
        (root / name).write_text(text)
    return root


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "BENCH_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


def _bench(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, text=True,
                          capture_output=True, env=env or _env())
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_page_has_one_file_per_extension() -> None:
    assert sorted(_files()) == ["npz_digits.py", "random_pixels.py", "tiny_ablation.py"]


def test_the_worked_examples_quote_the_code_as_it_is() -> None:
    """Each block that starts ``# from PATH`` quotes PATH: its lines appear there, in order."""
    quoted = [block for block in _blocks("python") if block.startswith("# from ")]
    assert len(quoted) == 4
    for block in quoted:
        first, *lines = block.splitlines()
        source = [line.strip() for line in (ROOT / first[len("# from "):]).read_text()
                  .splitlines()]
        at = 0
        for line in (line.strip() for line in lines if line.strip()):
            assert line in source[at:], f"{first}: not found in order: {line}"
            at = source.index(line, at) + 1


def test_a_plugin_defense_and_attack_through_the_command_line(folder: Path) -> None:
    plugins = ["--plugin", "tiny_ablation", "--plugin", "random_pixels"]
    assert "tiny-ablation-k{K}" in _bench(folder, "list", *plugins)
    _bench(folder, "train", "--plugin", "tiny_ablation", "--defense", "tiny-ablation-k45",
           "--epochs", "2", "--train-limit", "3000")
    assert (folder / "models" / "mnist" / "tiny-ablation-k45.pt").is_file()
    out = _bench(folder, "certify", "--plugin", "tiny_ablation", "--defense",
                 "tiny-ablation-k45", "--jobs", "2", "--limit", "8", "--n0", "50", "--n", "300")
    assert "tiny-ablation-k45" in out
    out = _bench(folder, "attack", *plugins, "--defense", "tiny-ablation-k45", "--attack",
                 "random-pixels", "--jobs", "2", "--limit", "3", "--n", "300", "--restarts", "2",
                 "--attack-option", "resets=30")
    assert "random-pixels" in out
    _bench(folder, "report", "--plugin", "tiny_ablation")
    index = (folder / "results" / "report" / "index.md").read_text()
    assert "random-pixels" in index and "noise.png" in index
    with sqlite3.connect(folder / "results" / "bench.sqlite") as db:
        attacks = db.execute("SELECT attack, restarts, config FROM attack").fetchall()
        certified = db.execute("SELECT COUNT(*) FROM certify").fetchone()[0]
    assert certified == 8 and len(attacks) == 3
    assert all(a == "random-pixels" and r == 2 and '"resets": 30' in c for a, r, c in attacks)


def test_the_python_example_runs_as_written(folder: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (example,) = [b for b in _blocks("python") if b.startswith("import dataclasses\n\nimport")]
    work = tmp_path / "notebook"
    work.mkdir()
    for name in _files():
        (work / name).write_text((folder / name).read_text())
    monkeypatch.chdir(work)
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    namespace: dict[str, object] = {}
    exec(compile(example, "extending.md", "exec"), namespace)
    certified, attacked = namespace["certified"], namespace["attacked"]
    assert len(certified) == 20 and len(attacked) == 5  # type: ignore[arg-type]
    assert (work / "results" / "tiny-report" / "index.md").is_file()


def _digits(folder: Path) -> Path:
    """Synthetic npz-digits: class c lights up row band c of a 16x16 image."""
    rng = np.random.default_rng(0)
    data = folder / "digits"
    data.mkdir()
    for split, n in (("train", 600), ("test", 30)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 1, 16, 16)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 0, c + 3] = 255
        np.savez(data / f"{split}.npz", images=images, labels=labels)
    return data


def test_a_plugin_dataset_of_another_shape(folder: Path) -> None:
    data = _digits(folder)
    where = ["--plugin", "npz_digits", "--dataset", "npz-digits", "--data-root", str(data)]
    _bench(folder, "train", *where, "--defense", "ablation-k20", "--epochs", "3")
    assert (folder / "models" / "npz-digits" / "ablation-k20.pt").is_file()
    out = _bench(folder, "certify", *where, "--defense", "ablation-k20", "--limit", "10",
                 "--n0", "50", "--n", "200", "--results", "digits.sqlite")
    assert "ablation-k20" in out
    with sqlite3.connect(folder / "digits.sqlite") as db:
        rows = db.execute("SELECT dataset, data_source, config FROM certify").fetchall()
    assert len(rows) == 10
    assert all(d == "npz-digits" and '"image_shape": [1, 16, 16]' in c for d, _, c in rows)
    missing = subprocess.run([sys.executable, "-m", "bench", "certify", "--plugin", "npz_digits",
                              "--dataset", "npz-digits", "--defense", "ablation-k20"],
                             cwd=folder, capture_output=True, text=True, env=_env())
    assert missing.returncode == 2 and "needs --data-root" in missing.stderr


def test_installed_as_entry_points_the_plugins_need_no_flag(folder: Path,
                                                             tmp_path: Path) -> None:
    (toml,) = _blocks("toml")
    site = tmp_path / "site"
    info = site / "bench_examples-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-examples\nVersion: 0.1\n")
    # pyproject's [project.entry-points."GROUP"] tables are entry_points.txt's [GROUP] sections
    (info / "entry_points.txt").write_text(
        re.sub(r'\[project\.entry-points\."([\w.]+)"\]', r"[\1]", toml).replace('"', ""))
    for name in _files():
        (site / name).write_text((folder / name).read_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _bench(elsewhere, "list", env=_env(PYTHONPATH=str(site)))
    assert "tiny-ablation-k{K}" in out and "random-pixels" in out and "npz-digits" in out
