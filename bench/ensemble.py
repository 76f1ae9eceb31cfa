"""The ensemble attack (AutoAttack-style): registered attacks run in a set order on each image,
keeping the smallest confirmed L0 and which attack found it.

Each member runs with its own default settings and the same per-restart seeds and oracles it has
when run alone, so on a deterministic defense the ensemble is at most every member on every
image. A member sees the ensemble's best confirmed L0 so far as its target's ``below``: a
fixed-budget attack (Sparse-RS, PGD0) then searches only budgets below it, and once one pixel is
enough nothing is left to try.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from attacks.base import Attack, AttackConfig, AttackResult, AttackTarget, RestartResult
from defenses.oracles import Oracle

__all__ = ["DEFAULT_MEMBERS", "Ensemble", "EnsembleConfig"]

DEFAULT_MEMBERS = "sigma-zero,fmn-l0,pointwise,pgd0,sparse-rs"


@dataclass(frozen=True, kw_only=True)
class EnsembleConfig(AttackConfig):
    """The ensemble's settings.

    Attributes:
        attacks: registered attack names, comma-separated, in the order they run; each runs with
            its config's defaults (its own restarts).
        restarts: must be 1 (the members have their own).
    """

    restarts: int = 1
    attacks: str = DEFAULT_MEMBERS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.restarts != 1:
            raise ValueError("the ensemble runs each attack with its own restarts: leave "
                             "restarts at 1")
        names = self.names
        if not names:
            raise ValueError("attacks names no attack")
        if "ensemble" in names:
            raise ValueError("an ensemble cannot contain an ensemble")
        if len(set(names)) != len(names):
            raise ValueError(f"attacks repeats a name: {self.attacks}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.attacks.split(",") if n.strip())


class _Bounded:
    """A target as one member sees it: the same oracles and seeds, and the best so far."""

    def __init__(self, target: AttackTarget, below: float) -> None:
        self.target, self._below = target, below

    @property
    def samples(self) -> int:
        return self.target.samples

    @property
    def policy(self) -> str:
        return self.target.policy

    @property
    def alpha(self) -> float | None:
        return self.target.alpha

    @property
    def below(self) -> float:
        return self._below

    def oracle(self, restart: int, stand_in: int = 0) -> Oracle:
        return self.target.oracle(restart, stand_in)

    def recheck(self, restart: int, x_adv: torch.Tensor) -> bool:
        return self.target.recheck(restart, x_adv)

    def seed(self, restart: int) -> int:
        return self.target.seed(restart)

    def surrogate(self, restart: int, draws: int) -> nn.Module:
        return self.target.surrogate(restart, draws)

    def scores(self, restart: int, draws: int, stream: int = 0) -> Oracle:
        return self.target.scores(restart, draws, stream)


class Ensemble(Attack):
    """Registered attacks in a set order, per image the smallest confirmed L0 and its finder.

    Args:
        config: the member names (``EnsembleConfig``).
        members: the member attacks themselves (default: each name's registered attack with its
            default config); they must carry the config's names, in order.
    """

    name = "ensemble"
    config_type = EnsembleConfig
    description = (f"runs attacks in order ({DEFAULT_MEMBERS} by default), keeps per image the "
                   "smallest confirmed L0 and which attack found it")
    config: EnsembleConfig

    def __init__(self, config: AttackConfig | None = None,
                 members: Sequence[Attack] | None = None) -> None:
        super().__init__(config)
        if members is None:
            from bench.registry import attack_class

            members = [attack_class(name)() for name in self.config.names]
        if tuple(m.name for m in members) != self.config.names:
            raise ValueError(f"members {[m.name for m in members]} do not match attacks "
                             f"{self.config.attacks!r}")
        other = [m.name for m in members if m.threat_model != self.threat_model]
        if other:
            raise ValueError(f"the ensemble keeps the smallest L0 of its members; "
                             f"{', '.join(other)} measure another threat model")
        self._members = tuple(members)

    @property
    def members(self) -> tuple[Attack, ...]:
        return self._members

    @property
    def planned_restarts(self) -> int:
        return sum(m.planned_restarts for m in self._members)

    def run(self, x: torch.Tensor, label: int, target: AttackTarget,
            on_restart: Callable[[RestartResult], None] | None = None) -> AttackResult:
        restarts: list[RestartResult] = []
        best = target.below
        for member in self._members:
            result = member.run(x, label, _Bounded(target, best), on_restart)
            restarts += [replace(r, attack=member.name) for r in result.restarts]
            best = min(best, result.best_confirmed_l0)
            if best <= 1:
                break
        return AttackResult(tuple(restarts))

