import math

import torch

from attacks.base import AttackResult, RestartResult
from attacks.l0 import pixel_l0
from attacks.oracles import LogitOracle, Oracle
from attacks.pointwise import pointwise_attack
from bench.configs import AttackConfig
from defenses.undefended import Undefended
from tests.conftest import MeanBrightnessModel

CONFIG = AttackConfig(restarts=3, init_steps=50)


def _image() -> torch.Tensor:
    x = torch.full((1, 1, 8, 8), 0.8)
    x[0, 0, ::2, ::2] = 0.6
    return x  # mean 0.75 > 0.5: class 0 under MeanBrightnessModel


def _run(recheck: bool = True, config: AttackConfig = CONFIG) -> AttackResult:
    defense = Undefended(MeanBrightnessModel())

    def oracle_for(restart: int) -> Oracle:
        return LogitOracle(defense)

    return pointwise_attack(_image(), 0, config, oracle_for, lambda r: lambda x_adv: recheck,
                            list(range(config.restarts)))


def test_pointwise_finds_a_small_adversarial_and_keeps_the_best_restart() -> None:
    result = _run()
    l0s = [r.l0 for r in result.restarts]
    assert len(l0s) == 3 and all(math.isfinite(v) for v in l0s)
    assert result.best_l0 == min(l0s)
    best = result.restarts[result.best]  # type: ignore[index]
    assert best.x_adv is not None
    assert float(pixel_l0(_image(), best.x_adv)[0]) == best.l0
    # the adversarial really is one: mean brightness at most the threshold
    assert float(best.x_adv.mean()) <= 0.5
    # lowering the mean from 0.75 to 0.5 takes at least 16 of 64 pixels set to 0
    assert best.l0 >= 16
    assert all(r.confirmed for r in result.restarts)
    assert result.queries == sum(r.queries for r in result.restarts) > 0


def test_best_restart_is_the_smallest_l0_first_on_ties() -> None:
    restarts = tuple(RestartResult(v, c, 1, 0.0) for v, c in
                     ((5.0, True), (3.0, False), (math.inf, None), (3.0, True)))
    result = AttackResult(restarts)
    assert result.best == 1 and result.best_l0 == 3.0
    assert result.best_confirmed_l0 == 3.0
    assert AttackResult((RestartResult(math.inf, None, 1, 0.0),)).best is None


def test_same_seed_same_result_for_a_deterministic_defense() -> None:
    a, b = _run(), _run()
    assert [r.l0 for r in a.restarts] == [r.l0 for r in b.restarts]
    for ra, rb in zip(a.restarts, b.restarts, strict=True):
        assert ra.x_adv is not None and rb.x_adv is not None
        assert torch.equal(ra.x_adv, rb.x_adv)


def test_failed_recheck_is_recorded() -> None:
    result = _run(recheck=False)
    assert [r.confirmed for r in result.restarts] == [False, False, False]
    assert math.isfinite(result.best_l0)
    assert result.best_confirmed_l0 == math.inf


def test_no_adversarial_found_gives_inf() -> None:
    defense = Undefended(MeanBrightnessModel(threshold=-1.0))  # nothing is ever class 1
    result = pointwise_attack(_image(), 0, AttackConfig(restarts=2, init_steps=5),
                              lambda r: LogitOracle(defense), lambda r: lambda x_adv: True,
                              [0, 1])
    assert [r.l0 for r in result.restarts] == [math.inf, math.inf]
    assert result.best is None and result.best_l0 == math.inf
