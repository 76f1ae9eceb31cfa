"""What an attack returns: one result per restart and the best over restarts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["AttackResult", "RestartResult"]


@dataclass(frozen=True)
class RestartResult:
    """One restart of an attack on one image.

    Attributes:
        l0: pixel positions changed in the final adversarial; +inf when none was found.
        confirmed: whether an independent fresh re-check found the final adversarial adversarial
            (None when there was none to check).
        queries: images the attacked oracle (and its start stand-in, if any) was asked about.
        seconds: wall-clock time of the restart, re-check included.
        x_adv: the final adversarial (1, C, H, W), or None.
    """

    l0: float
    confirmed: bool | None
    queries: int
    seconds: float
    x_adv: torch.Tensor | None = None


@dataclass(frozen=True)
class AttackResult:
    """All restarts of an attack on one image.

    ``best`` is the restart with the smallest L0 found (the first on ties), or None when no restart
    found an adversarial. ``best_confirmed_l0`` is the smallest L0 among restarts whose re-check
    confirmed it (+inf if none).
    """

    restarts: tuple[RestartResult, ...]

    @property
    def best(self) -> int | None:
        found = [i for i, r in enumerate(self.restarts) if math.isfinite(r.l0)]
        return min(found, key=lambda i: self.restarts[i].l0) if found else None

    @property
    def best_l0(self) -> float:
        best = self.best
        return math.inf if best is None else self.restarts[best].l0

    @property
    def best_confirmed_l0(self) -> float:
        return min((r.l0 for r in self.restarts if r.confirmed), default=math.inf)

    @property
    def queries(self) -> int:
        return sum(r.queries for r in self.restarts)
