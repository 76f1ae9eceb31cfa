from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from bench.errors import InputError
from bench.store import ResultStore
from reports.records import AttackRecord, CertifyRecord


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


def attack_record(image: int, **changes: object) -> AttackRecord:
    base = AttackRecord(
        run_hash="a", defense="ablation-k45", attack="pointwise", model_id="m", dataset="mnist",
        data_source="mnist", data_fingerprint="f", image=image, label=7, clean_prediction=7,
        clean_adversarial=False, restarts=3, best_l0=12.0, confirmed=False,
        best_confirmed_l0=math.inf, restart_l0=(12.0, math.inf, 30.0),
        restart_confirmed=(False, None, True), queries=1500, forward_passes=10**6,
        seconds=3.5, seed=0, n=100, alpha=0.05, mask_policy="fixed", config="{}",
        adversarial=np.arange(4, dtype=np.float32).tobytes(), adversarial_shape=(1, 1, 2, 2),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_attack_records_roundtrip_inf_none_and_bytes(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.sqlite") as store:
        assert store.add(attack_record(1))
        assert store.add(attack_record(2, best_l0=math.inf, confirmed=None, restart_l0=(),
                                       restart_confirmed=(), adversarial=b"",
                                       adversarial_shape=(0,)))
        assert not store.add(attack_record(1, best_l0=3.0))
        assert store.attack_records() == [attack_record(1), attack_record(
            2, best_l0=math.inf, confirmed=None, restart_l0=(), restart_confirmed=(),
            adversarial=b"", adversarial_shape=(0,))]
        assert store.done_images("a", "f", 0, table="attack") == {1, 2}
        assert store.done_images("a", "f", 0) == set()  # certify table: separate
