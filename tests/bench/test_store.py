from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench.errors import InputError
from bench.store import CertifyRecord, ResultStore


def record(image: int, **changes: object) -> CertifyRecord:
    base = CertifyRecord(
        run_hash="r", defense="ablation-k45", model_id="m", dataset="mnist",
        data_source="mnist", data_fingerprint="f", image=image, label=7, certified_label=7,
        radius=8, p_lower=0.9, selection_counts=(0,) * 7 + (10, 0, 0), counts=(1, 2, 3),
        prediction=7, abstained=False, pvalue=0.001, n0=10, n=6, alpha=0.05,
        certificate="levine-feizi", seconds=1.5, seed=0, config="{}",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_roundtrip_and_no_duplicates(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.sqlite") as store:
        assert store.add(record(3))
        assert not store.add(record(3, radius=1))  # same key: ignored, first one kept
        assert store.add(record(4, seed=1))
        assert store.records(seed=0) == [record(3)]
        assert store.done_images("r", "f", 0) == {3}
        assert store.done_images("r", "f", 1) == {4}


def test_unwritable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="writable --results"):
        ResultStore(blocker / "r.sqlite")
