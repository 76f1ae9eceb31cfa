import math
from collections.abc import Callable

import pytest
import torch

from attacks.base import AttackResult, RestartResult
from attacks.l0 import pixel_l0
from attacks.pointwise import Pointwise, PointwiseConfig
from defenses.oracles import LogitOracle, Oracle
from defenses.undefended import Undefended
from tests.conftest import MeanBrightnessModel

CONFIG = PointwiseConfig(restarts=3, init_steps=50)


class _Target:
    """An attack target of a deterministic classifier with a given oracle per restart, a fixed
    re-check answer and the restart index as seed."""

    samples, policy = 0, "none"
    alpha: float | None = None

    def __init__(self, oracle_for: Callable[[int], Oracle], recheck: bool = True) -> None:
        self.oracle_for, self.answer = oracle_for, recheck

    def oracle(self, restart: int, stand_in: int = 0) -> Oracle:
        return self.oracle_for(restart)

    def recheck(self, restart: int, x_adv: torch.Tensor) -> bool:
        return self.answer

    def seed(self, restart: int) -> int:
        return restart

    below = math.inf

    def surrogate(self, restart: int, draws: int) -> torch.nn.Module:
        raise AssertionError("Pointwise differentiates nothing")

    def scores(self, restart: int, draws: int, stream: int = 0) -> Oracle:
        return self.oracle_for(restart)


def _image() -> torch.Tensor:
    x = torch.full((1, 1, 8, 8), 0.8)
    x[0, 0, ::2, ::2] = 0.6
    return x  # mean 0.75 > 0.5: class 0 under MeanBrightnessModel


def _run(recheck: bool = True, config: PointwiseConfig = CONFIG) -> AttackResult:
    defense = Undefended(MeanBrightnessModel())
    return Pointwise(config).run(_image(), 0, _Target(lambda r: LogitOracle(defense), recheck))


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
    result = Pointwise(PointwiseConfig(restarts=2, init_steps=5)).run(
        _image(), 0, _Target(lambda r: LogitOracle(defense)))
    assert [r.l0 for r in result.restarts] == [math.inf, math.inf]
    assert result.best is None and result.best_l0 == math.inf


class _WithStandIn:
    """A deterministic oracle whose start search goes to ``start`` (another classifier)."""

    abstains = False

    def __init__(self, full: LogitOracle, stand_in: LogitOracle) -> None:
        self.full, self.start = full, stand_in
        self.queries = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += x.shape[0]
        return self.full(x)


def _stand_in_run(stand_in_threshold: float, config: PointwiseConfig = CONFIG
                  ) -> tuple[AttackResult, list[_WithStandIn]]:
    made: list[_WithStandIn] = []

    def oracle_for(restart: int) -> Oracle:
        made.append(_WithStandIn(LogitOracle(Undefended(MeanBrightnessModel())),
                                 LogitOracle(Undefended(MeanBrightnessModel(stand_in_threshold)))))
        return made[-1]

    result = Pointwise(config).run(_image(), 0, _Target(oracle_for))
    return result, made


def test_start_search_goes_to_the_stand_in_and_the_start_passes_the_full_oracle() -> None:
    # the stand-in calls a mean up to 0.6 adversarial, the full oracle only up to 0.5: its
    # closest points fail the full oracle, so a farther one (or a full search) is the start
    result, made = _stand_in_run(0.6)
    assert all(math.isfinite(r.l0) for r in result.restarts)
    for r, oracle in zip(result.restarts, made, strict=True):
        assert oracle.start is not None and oracle.start.queries > 0
        assert r.queries == oracle.queries + oracle.start.queries
        assert r.x_adv is not None and float(r.x_adv.mean()) <= 0.5


def test_stand_in_start_costs_the_full_oracle_few_queries() -> None:
    config = PointwiseConfig(restarts=2, init_steps=50, l2_binary_search=False)
    with_stand_in, made = _stand_in_run(0.5, config)  # the same classifier: the same decisions
    plain = _run(config=config)
    assert [r.l0 for r in with_stand_in.restarts] == [r.l0 for r in plain.restarts]
    # the start search's queries went to the stand-in; the full oracle checked one point
    # (and Pointwise re-queried it) before Pointwise's own steps
    assert all(o.start is not None and o.start.queries > 1 for o in made)
    assert [o.queries for o in made] < [r.queries for r in plain.restarts]


def test_stand_in_that_finds_nothing_adversarial_falls_back_to_the_full_search() -> None:
    result, made = _stand_in_run(-1.0)  # the stand-in never answers class 1
    assert all(math.isfinite(r.l0) for r in result.restarts)
    assert all(o.start is not None and o.start.queries > 0 for o in made)


def test_config_is_checked_and_only_its_type_is_taken() -> None:
    with pytest.raises(ValueError, match="restarts"):
        PointwiseConfig(restarts=0)
    with pytest.raises(ValueError, match="start_point"):
        PointwiseConfig(start_point="anywhere")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PointwiseConfig"):
        Pointwise(object())  # type: ignore[arg-type]


def test_stand_in_size_follows_the_target() -> None:
    config = PointwiseConfig(start_n=1000)

    class Fixed:
        samples, policy, alpha = 10000, "fixed", 0.05

    class Fresh:
        samples, policy, alpha = 10000, "fresh", 0.05

    assert config.stand_in(Fixed()) == 1000  # type: ignore[arg-type]
    assert config.stand_in(Fresh()) == 0  # type: ignore[arg-type]
    assert PointwiseConfig(start_n=10000).stand_in(Fixed()) == 0  # type: ignore[arg-type]
