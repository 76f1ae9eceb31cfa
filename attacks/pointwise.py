"""The Pointwise attack (Schott et al. 2019) through foolbox 3, with restarts (docs/protocol.md).

Each restart seeds numpy and torch (foolbox draws its shuffles and salt-and-pepper noise from the
global generators), finds a salt-and-pepper start that the oracle calls adversarial (foolbox's
``SaltAndPepperNoiseAttack`` search without the queries whose answer it never uses, by default,
or a bisection over the noise level; ``attacks.start``),
runs ``fb.attacks.PointwiseAttack`` from it, and re-checks the final point with an independent
check.

When the oracle offers a cheaper stand-in for the start search (``Oracle.start``: a fixed-mask
smoothed classifier on fewer of its own draws), the search runs against the stand-in, and its
points, smallest first, are put to the full oracle until one is adversarial there; that one is the
start. If none is, the search runs again against the full oracle. Each full-noise start query
costs about half of N forward passes or more (exact early stopping cannot settle it sooner), so
this is most of what a restart with fixed masks saves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from attacks.base import (
    Attack,
    AttackConfig,
    AttackResult,
    AttackTarget,
    RestartResult,
    run_restarts,
)
from attacks.base import restart_result as finish
from attacks.start import (
    bisection_candidates,
    bisection_start,
    salt_and_pepper_candidates,
    salt_and_pepper_start,
)
from defenses.oracles import Oracle

if TYPE_CHECKING:
    import foolbox as fb

    from attacks.foolbox_adapter import MisclassifiedOrAbstained

# foolbox is imported when an attack runs, not with the registry: commands that never attack
# (train, certify, report) need neither foolbox nor eagerpy

__all__ = ["Pointwise", "PointwiseConfig", "StartPoint"]

log = logging.getLogger(__name__)

StartPoint = Literal["salt-and-pepper", "bisection"]


@dataclass(frozen=True, kw_only=True)
class PointwiseConfig(AttackConfig):
    """Foolbox 3's Pointwise attack with restarts (docs/protocol.md).

    Attributes:
        restarts: independent runs per image; the smallest L0 is kept.
        start_point: how Pointwise's starting point is found: "salt-and-pepper" (default;
            foolbox's ``SaltAndPepperNoiseAttack`` search, at most one query per step: a step
            whose candidate is not closer than the best start is not queried,
            ``attacks.start.salt_and_pepper_start``) or "bisection" (a bisection over the
            salt-and-pepper noise level, then a random search below it, ``attacks.start``: about
            40 queries). On the undefended CNN (40 images, 10 restarts) 100 salt-and-pepper steps
            gave the median L0 of foolbox's 1,000 (9) and the bisection a median of 10
            (docs/performance.md).
        start_draws: random draws of the bisection start (the first is bisected, each later
            one is a single query below the best level so far).
        init_steps: steps of the salt-and-pepper start (``SaltAndPepperNoiseAttack(steps)``);
            foolbox's own default is 1,000, the reference protocol uses 100.
        start_n: fixed masks only: the start search queries the smoothed classifier on the
            first ``start_n`` of the restart's N masks, and a point it finds is the start only
            once all N call it adversarial; at least N: every start query uses all N.
            Pointwise's own queries always use all N.
        l2_binary_search: Pointwise's per-pixel binary search after the reset phase.
        start_tries: starts tried per restart before giving up (a stochastic defense can reject
            a start that looked adversarial once).
    """

    start_point: StartPoint = "salt-and-pepper"
    start_draws: int = 30
    init_steps: int = 100
    start_n: int = 1000
    l2_binary_search: bool = True
    start_tries: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.start_point not in ("salt-and-pepper", "bisection"):
            raise ValueError(f"start_point must be salt-and-pepper or bisection, got "
                             f"{self.start_point!r}")
        for name in ("start_draws", "init_steps", "start_n", "start_tries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def stand_in(self, target: AttackTarget) -> int:
        """Masks per start-search query when the start search uses fewer than N (fixed masks,
        start_n < N), else 0."""
        if target.policy == "fixed" and self.start_n < target.samples:
            return self.start_n
        return 0


def _query(model: fb.PyTorchModel,
           criterion: MisclassifiedOrAbstained) -> Callable[[torch.Tensor], bool]:
    """One query of ``model``: is (1, C, H, W) adversarial under ``criterion``?"""

    def is_adversarial(q: torch.Tensor) -> bool:
        return bool(criterion(q, model(q)).all())
    return is_adversarial


def _start(model: fb.PyTorchModel, start_model: fb.PyTorchModel | None, x: torch.Tensor,
           criterion: MisclassifiedOrAbstained, config: PointwiseConfig,
           generator: torch.Generator) -> torch.Tensor | None:
    """A salt-and-pepper starting point the oracle called adversarial, or None (or the clean
    image when the salt-and-pepper search found none, as foolbox's does; the caller's re-query
    rejects it, and keeping that query keeps a stochastic oracle's draws as they always were).

    With a stand-in (``start_model``), the smallest of its points that ``model`` also calls
    adversarial; when none is, the search against ``model`` itself."""
    salt_and_pepper = config.start_point == "salt-and-pepper"
    query = _query(model, criterion)
    if start_model is not None:
        stand_in = _query(start_model, criterion)
        found = (salt_and_pepper_candidates(stand_in, x, config.init_steps) if salt_and_pepper
                 else bisection_candidates(stand_in, x, generator, config.start_draws))
        for candidate in reversed(found):
            if query(candidate):
                return candidate
        log.debug("no point of the start stand-in is adversarial: searching the full oracle")
    if salt_and_pepper:
        return salt_and_pepper_start(query, x, config.init_steps)
    return bisection_start(query, x, generator, config.start_draws)


def _attempt(model: fb.PyTorchModel, start_model: fb.PyTorchModel | None, x: torch.Tensor,
             criterion: MisclassifiedOrAbstained, config: PointwiseConfig,
             generator: torch.Generator) -> torch.Tensor | None:
    """One salt-and-pepper start and Pointwise from it, or None when there is no start or the
    oracle rejects it (a second query, or Pointwise's own re-query, no longer calls it
    adversarial)."""
    import eagerpy as ep
    import foolbox as fb

    start = _start(model, start_model, x, criterion, config, generator)
    if start is None or not bool(criterion(start, model(start)).all()):
        return None
    attack = fb.attacks.PointwiseAttack(l2_binary_search=config.l2_binary_search)
    try:
        return attack.run(model, x, criterion, starting_points=ep.astensor(start))
    except AssertionError:  # foolbox re-queries the start; a stochastic oracle may say no
        log.debug("start rejected by Pointwise's re-query")
        return None


def _restart(x: torch.Tensor, label: int, config: PointwiseConfig, target: AttackTarget,
             restart: int) -> RestartResult:
    from attacks.foolbox_adapter import MisclassifiedOrAbstained, foolbox_model, seed_foolbox

    began = time.perf_counter()
    seed = target.seed(restart)
    seed_foolbox(seed)
    generator = torch.Generator().manual_seed(seed)
    oracle: Oracle = target.oracle(restart, config.stand_in(target))
    model = foolbox_model(oracle)
    start_model = None if oracle.start is None else foolbox_model(oracle.start)
    criterion = MisclassifiedOrAbstained(torch.tensor([label]), target.alpha)

    x_adv = None
    for _ in range(config.start_tries):
        x_adv = _attempt(model, start_model, x, criterion, config, generator)
        if x_adv is not None:
            break
    queries = oracle.queries + (0 if oracle.start is None else oracle.start.queries)
    return finish(target, restart, x, x_adv, queries, began)


class Pointwise(Attack):
    """Pointwise (Schott et al. 2019) through foolbox 3 from a salt-and-pepper start, best L0 of
    ``config.restarts`` runs; an abstention counts as a successful attack.

    Each restart seeds numpy's and torch's global generators (foolbox draws from them) and the
    start search's own generator from the target's restart seed, so results repeat exactly.

    Shape: x is (1, C, H, W) with values in [0, 1]; L0 counts pixel positions.

    Example:
        >>> result = Pointwise(PointwiseConfig(restarts=10)).run(x, label, target)
        >>> result.best_l0
    """

    name = "pointwise"
    config_type = PointwiseConfig
    description = ("Foolbox 3 Pointwise attack (Schott et al. 2019) from a salt-and-pepper "
                   "start, best L0 of the restarts; an abstention counts as a successful attack")
    config: PointwiseConfig

    def run(self, x: torch.Tensor, label: int, target: AttackTarget,
            on_restart: Callable[[RestartResult], None] | None = None) -> AttackResult:
        if x.dim() != 4 or x.shape[0] != 1:
            raise ValueError(f"attack one image (1, C, H, W) at a time, got {tuple(x.shape)}")
        return run_restarts(self.config.restarts,
                            lambda r: _restart(x, label, self.config, target, r), on_restart)
