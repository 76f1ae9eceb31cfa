"""The attack interface: an attack's config, what it sees of a defense, what it returns.

An attack is a class with a registry ``name``, its own frozen ``config_type`` (only that config
enters a run's identity) and ``run``, which attacks one image through an ``AttackTarget``: the
defense's query oracles, an independent re-check and per-restart seeds. It never writes files.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch
from torch import nn

from attacks.l0 import perturbation_size
from defenses.base import L0_PIXELS
from defenses.decisions import attack_succeeds
from defenses.oracles import Oracle

__all__ = ["Attack", "AttackConfig", "AttackResult", "AttackTarget", "RestartResult",
           "restart_result", "run_restarts", "wrong_or_abstained"]


@dataclass(frozen=True, kw_only=True)
class AttackConfig:
    """What every attack's config holds; an attack subclasses it with its own fields.

    Attributes:
        restarts: independent runs per image; the smallest L0 is kept.
    """

    restarts: int = 10

    def __post_init__(self) -> None:
        if self.restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {self.restarts}")


def wrong_or_abstained(scores: list[float], label: int, alpha: float | None) -> bool:
    """Whether one query's answer is a successful attack on true class ``label``.

    Args:
        scores: the oracle's row: vote counts of a smoothed defense, logits otherwise.
        label: the true class.
        alpha: PREDICT's two-sided level for vote counts (abstain when the top-two binomial test
            does not reject p = 1/2), or None for a deterministic classifier (argmax only).
    """
    if alpha is None:
        predicted = max(range(len(scores)), key=lambda c: (scores[c], -c))
        return predicted != label
    return attack_succeeds([round(s) for s in scores], label, alpha)


class AttackTarget(Protocol):
    """What an attack sees of a defense while it attacks one image.

    Attributes:
        samples: N, the votes behind each query; 0 for a deterministic defense.
        policy: how a stochastic defense answers queries, "fresh" or "fixed" ("none" for a
            deterministic one).
        alpha: PREDICT's two-sided level, which decides abstentions (a successful attack), or
            None for a deterministic defense, whose answer is the argmax of its logits.
    """

    @property
    def samples(self) -> int: ...

    @property
    def policy(self) -> str: ...

    @property
    def alpha(self) -> float | None: ...

    def oracle(self, restart: int, stand_in: int = 0) -> Oracle:
        """The oracle attacked in ``restart``: scores (B, classes) per query, vote counts for a
        stochastic defense (with a stand-in on the first ``stand_in`` fixed draws, if asked and
        possible), logits otherwise. Its noise stream is the restart's own."""

    def recheck(self, restart: int, x_adv: torch.Tensor) -> bool:
        """Whether ``x_adv`` (1, C, H, W) is still adversarial under an independent fresh PREDICT
        (always the same answer for a deterministic defense)."""

    def seed(self, restart: int) -> int:
        """The restart's seed, for any randomness of the attack itself."""

    def surrogate(self, restart: int, draws: int) -> nn.Module:
        """What a gradient attack differentiates in ``restart``: (B, C, H, W) -> (B, classes)
        scores (a deterministic defense's logits; for a stochastic one the log mean softmax of
        its base classifier over ``draws`` fixed noise draws of the restart's own stream). Its
        argmax only proposes: the final point is confirmed by ``recheck``."""

    def scores(self, restart: int, draws: int, stream: int = 0) -> Oracle:
        """What a score-based attack queries in ``restart``: logits of a deterministic defense, or
        exact vote counts over ``draws`` fixed noise draws of the restart's stream number
        ``stream`` (streams are independent: one to search on, another to check on)."""

    @property
    def below(self) -> float:
        """Only adversarials with fewer changed pixels than this are wanted (+inf: any); an
        ensemble sets it to its best so far, and a fixed-budget attack searches below it."""


@dataclass(frozen=True)
class RestartResult:
    """One restart of an attack on one image.

    Attributes:
        l0: the final adversarial's size in the attack's threat model (pixel positions changed
            for L0, the Euclidean norm for L2); +inf when none was found.
        confirmed: whether an independent fresh re-check found the final adversarial adversarial
            (None when there was none to check).
        queries: images the attacked oracle (and its start stand-in, if any) was asked about.
        seconds: wall-clock time of the restart, re-check included.
        x_adv: the final adversarial (1, C, H, W), or None.
        attack: the attack that ran it (an ensemble's member; "" for the attack itself).
    """

    l0: float
    confirmed: bool | None
    queries: int
    seconds: float
    x_adv: torch.Tensor | None = None
    attack: str = ""


def restart_result(target: AttackTarget, restart: int, x: torch.Tensor,
                   x_adv: torch.Tensor | None, queries: int, began: float,
                   threat_model: str = L0_PIXELS) -> RestartResult:
    """The result of a restart that began at ``time.perf_counter()`` = ``began`` and ended with
    ``x_adv`` (None: nothing found): its size in ``threat_model`` (pixel L0 by default) and the
    target's re-check."""
    if x_adv is None:
        return RestartResult(math.inf, None, queries, time.perf_counter() - began)
    l0 = float(perturbation_size(threat_model, x, x_adv)[0])
    confirmed = target.recheck(restart, x_adv)
    return RestartResult(l0, confirmed, queries, time.perf_counter() - began,
                         x_adv.detach().clone())


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
    def best_confirmed(self) -> int | None:
        """The confirmed restart with the smallest L0 (the first on ties), or None."""
        found = [i for i, r in enumerate(self.restarts) if r.confirmed]
        return min(found, key=lambda i: self.restarts[i].l0) if found else None

    @property
    def queries(self) -> int:
        return sum(r.queries for r in self.restarts)


def run_restarts(restarts: int, one: Callable[[int], RestartResult],
                 on_restart: Callable[[RestartResult], None] | None = None) -> AttackResult:
    """``one(restart)`` for each of ``restarts`` restarts, ``on_restart`` after each."""
    results = []
    for r in range(restarts):
        results.append(one(r))
        if on_restart is not None:
            on_restart(results[-1])
    return AttackResult(tuple(results))


class Attack(ABC):
    """An attack on one image at a time, with restarts.

    A subclass sets ``name`` (its registry name), ``config_type`` (a frozen subclass of
    ``AttackConfig``), ``description`` (one line for ``bench list``) and implements ``run``.
    ``threat_model`` says what its sizes count: pixel positions (L0, the default) or the L2
    norm; a record's ``best_l0`` holds that size, and reports never join results of different
    threat models.

    Args:
        config: the attack's settings (default: ``config_type()``).
    """

    name: ClassVar[str]
    config_type: ClassVar[type[AttackConfig]] = AttackConfig
    description: ClassVar[str] = ""
    threat_model: ClassVar[str] = L0_PIXELS

    def __init__(self, config: AttackConfig | None = None) -> None:
        config = self.config_type() if config is None else config
        if not isinstance(config, self.config_type):
            raise TypeError(f"{self.name} takes a {self.config_type.__name__}, got "
                            f"{type(config).__name__}")
        self.config = config

    @property
    def planned_restarts(self) -> int:
        """Restarts ``run`` reports per image through ``on_restart`` (at most)."""
        return self.config.restarts

    @property
    def members(self) -> tuple[Attack, ...]:
        """The attacks this one runs (an ensemble's), which enter a run's identity; () for an
        attack of its own."""
        return ()

    @abstractmethod
    def run(self, x: torch.Tensor, label: int, target: AttackTarget,
            on_restart: Callable[[RestartResult], None] | None = None) -> AttackResult:
        """Attack image x (1, C, H, W) in [0, 1], whose clean answer is ``label``, with
        ``config.restarts`` restarts; ``on_restart`` after each (progress)."""
