"""bench.attacking.AttackJob: what identifies an attack run (its hash)."""

from __future__ import annotations

import json

import pytest

from bench.attacking import AttackJob
from bench.configs import AttackConfig
from bench.registry import resolve_defense


def _job(defense: str, **attack: object) -> AttackJob:
    return AttackJob(resolve_defense(defense), AttackConfig(**attack), "m", 0)  # type: ignore[arg-type]


def test_start_n_is_part_of_the_run_only_where_it_changes_the_attack() -> None:
    # fixed masks with fewer start samples than N: the start search differs, so does the run
    used = _job("ablation-k45", mask_policy="fixed", n=10000)
    assert used.attack.start_samples == 1000
    assert json.loads(used.config_json)["attack"]["start_n"] == 1000
    assert used.run_hash != _job("ablation-k45", mask_policy="fixed", n=10000,
                                 start_n=2000).run_hash
    # fresh masks, start_n >= N, or an undefended model: no stand-in, and the run (and its
    # hash) is the one recorded before the field existed
    for job in (_job("ablation-k45", mask_policy="fresh", n=10000),
                _job("ablation-k45", mask_policy="fixed", n=1000),
                _job("cnn", mask_policy="fixed", n=10000)):
        assert job.attack.start_samples == 0 or not job.smoothed
        assert "start_n" not in json.loads(job.config_json)["attack"]
    assert (_job("ablation-k45", mask_policy="fixed", n=1000).run_hash
            == _job("ablation-k45", mask_policy="fixed", n=1000, start_n=5000).run_hash)


def test_start_n_must_be_positive() -> None:
    with pytest.raises(ValueError, match="start_n"):
        AttackConfig(start_n=0)
