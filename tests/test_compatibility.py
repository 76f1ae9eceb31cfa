"""Results written by the first release stay readable, are found again instead of recomputed,
and the same runs give bit-identical records today.

``tests/fixtures/results-v1.sqlite`` was written by the first release (identity schema 1) with
the exact toy models of ``tests/exact_models.py`` on its synthetic images (how:
``tests/fixtures/README.md``). Their votes are sums of float32 inputs in float64, so every CPU
computes the same bits. ``RUNS`` repeats each of its runs with the current API.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from torch import nn

import bench
from bench.store import ResultStore
from defenses.precision import Precision
from reports.records import AttackRecord, CertifyRecord
from tests.exact_models import KeptMeanVote, MeanVote, synthetic_images

FIXTURE = Path(__file__).parent / "fixtures" / "results-v1.sqlite"
# what the current schema writes differently: the identity (hash and document), and timing
IDENTITY_AND_TIME = ("run_hash", "config", "seconds")


@dataclass(frozen=True)
class Run:
    """One run of the fixture: the defense, its model, settings, and what was done."""

    defense: str
    model: Callable[[], nn.Module]
    images: tuple[int, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    precision: Precision = "fp32"
    seed: int = 0
    attack: dict[str, Any] | None = None  # the attack's options, with "mask_policy"

    def build(self) -> bench.BuiltDefense:
        config = dataclasses.replace(bench.resolve_defense(self.defense),
                                     precision=self.precision)
        return bench.build_defense(config, self.model(), device="cpu", **self.settings)

    def execute(self, data: bench.Dataset,
                store: ResultStore | None) -> list[CertifyRecord] | list[AttackRecord]:
        if self.attack is None:
            return bench.certify(self.build(), data, self.images, seed=self.seed, store=store)
        options = dict(self.attack)
        policy = options.pop("mask_policy", "fresh")
        return bench.attack(self.build(), "pointwise", data, self.images, seed=self.seed,
                            mask_policy=policy, store=store, **options)


RUNS = {
    "d26b693a1771ba04": Run("ablation-k45", KeptMeanVote, tuple(range(8)),
                            {"n0": 100, "n": 1000}),
    "602f9384cf0d9316": Run("ablation-k45", KeptMeanVote, tuple(range(8)),
                            {"n0": 100, "n": 1000, "certificate": "pairwise"}),
    "59f49446b0cd4189": Run("ablation-k45", KeptMeanVote, tuple(range(8)),
                            {"n0": 100, "n": 500, "abstain": True}, seed=1),
    "7baefb36327e9de9": Run("ablation-k45", KeptMeanVote, tuple(range(4)),
                            {"n0": 100, "n": 500}, precision="bf16"),
    "9a9c2d0ad64766f3": Run("ablation-mean-k45", MeanVote, tuple(range(8)),
                            {"n0": 100, "n": 500}),
    "4549cf66080e1b21": Run("lee-kappa0.3", MeanVote, tuple(range(8)), {"n0": 100, "n": 500}),
    "5f4b47ae9162de76": Run("cnn", MeanVote, tuple(range(8))),
    "b8d3c84b3c672e61": Run("cnn", MeanVote, tuple(range(4)), attack={"restarts": 2}),
    "05043bb3d3328a57": Run("ablation-k45", KeptMeanVote, (1, 2), {"n": 200},
                            attack={"restarts": 2, "mask_policy": "fixed"}),
    "3e8ba694fefd9a31": Run("ablation-k45", KeptMeanVote, (2,), {"n": 200},
                            attack={"restarts": 1, "mask_policy": "fixed", "start_n": 50,
                                    "start_point": "bisection"}),
    "e9f97553b390f9c9": Run("ablation-k45", KeptMeanVote, (2,), {"n": 100},
                            attack={"restarts": 1, "mask_policy": "fresh",
                                    "l2_binary_search": False}),
    "95b2e2cb6ac9db61": Run("lee-kappa0.3", MeanVote, (0,), {"n": 100},
                            attack={"restarts": 1, "mask_policy": "fixed",
                                    "l2_binary_search": False}),
}


def _data() -> bench.Dataset:
    images, labels = synthetic_images()
    return bench.Dataset("mnist", "test", images, labels, "synthetic", "fixture")


def _stored(path: Path) -> dict[str, list[Any]]:
    with ResultStore(path) as store:
        records: list[Any] = [*store.records(), *store.attack_records()]
    runs: dict[str, list[Any]] = {}
    for record in records:
        runs.setdefault(record.run_hash, []).append(record)
    return runs


def _results(records: list[Any]) -> list[Any]:
    return [dataclasses.replace(r, **{name: type(getattr(r, name))()
                                      for name in IDENTITY_AND_TIME}) for r in records]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    copy = tmp_path / "results-v1.sqlite"
    shutil.copy(FIXTURE, copy)
    return copy


def test_the_fixture_reads_with_the_columns_added_since(database: Path) -> None:
    runs = _stored(database)
    assert sorted(runs) == sorted(RUNS)
    assert sum(len(r) for r in runs.values()) == 61
    assert {r.threat_model for records in runs.values() for r in records} == {"l0-pixels"}


def test_the_runs_are_found_again_and_nothing_is_recomputed(database: Path) -> None:
    before = _stored(database)
    with ResultStore(database) as store:
        for run_hash, run in RUNS.items():
            records = run.execute(_data(), store)
            # the run continues under its schema-1 identity: the stored records come back
            assert records == before[run_hash], run_hash
    assert _stored(database) == before  # nothing added, nothing changed


def test_the_same_runs_give_bit_identical_records(database: Path) -> None:
    before = _stored(database)
    data = _data()
    for run_hash, run in RUNS.items():
        fresh = run.execute(data, None)
        assert _results(fresh) == _results(before[run_hash]), run_hash
        # the current schema identifies the run anew, with dataset and threat model
        assert all(r.run_hash != run_hash and '"schema": 2' in r.config for r in fresh)
