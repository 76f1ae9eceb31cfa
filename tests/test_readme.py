"""The README's Python examples, run as written in a fresh folder (a quick model: 1 epoch)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_python_examples_run_as_written(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    namespace: dict[str, object] = {}
    for block in blocks:  # the second uses the first's names, as in one notebook
        exec(compile(block, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert re.search(r"image 0: certified radius -?\d+, attack L0 \S+", out)
    assert (tmp_path / "results" / "quick-report" / "index.md").is_file()
    assert (tmp_path / "models" / "quick" / "mnist" / "ablation-k45.pt").is_file()
    assert len(namespace["certified"]) == 50  # type: ignore[arg-type]
