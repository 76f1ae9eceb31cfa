"""PGD0 (Croce & Hein 2019): projected gradient descent onto an L0 ball, made minimal by a
budget search.

For a budget of k pixel positions, each attempt starts from a random k-sparse point (uniform
noise in the box, projected), then repeats: a gradient step on the true class's margin, normalized
by the gradient's L1 norm and scaled by ``step_size * d``, and the projection onto "at most k
positions changed, x + delta in [0, 1]" (``attacks.budget.project_l0_box``). It stops at the first
point the (surrogate) model calls adversarial (for a smoothed defense, one that held-out votes
agree on: ``attacks.objectives.GradientConfig``). ``attacks.budget.smallest_budget`` searches k per
image, below the caller's best (``AttackTarget.below``), and the result is pruned greedily
(``attacks.prune``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from attacks.base import Attack, AttackResult, AttackTarget, RestartResult, run_restarts
from attacks.base import restart_result as finish
from attacks.budget import project_l0_box, smallest_budget
from attacks.objectives import GradientConfig, candidate_check, holdout_check, margin
from attacks.prune import prune

__all__ = ["PGD0", "PGD0Config", "pgd0"]


@dataclass(frozen=True, kw_only=True)
class PGD0Config(GradientConfig):
    """PGD0's settings, with the surrogate settings of ``GradientConfig`` (eot_samples,
    confidence, holdout_samples, holdout_lead, prune).

    Attributes:
        steps: gradient steps per attempt (one budget).
        step_size: the mean change per position of a step (the L1-normalized gradient times
            ``step_size * d``).
        first_budget: the first budget of the search (doubled until an attempt succeeds).
    """

    steps: int = 100
    step_size: float = 0.6
    first_budget: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("steps", "first_budget"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.step_size <= 0:
            raise ValueError(f"step_size must be > 0, got {self.step_size}")


def pgd0(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, label: int, k: int,
         config: PGD0Config, generator: torch.Generator,
         holdout: Callable[[torch.Tensor], bool] | None = None
         ) -> tuple[torch.Tensor | None, int]:
    """One PGD0 attempt with budget k on x (1, C, H, W): (the first point whose margin under
    ``model`` is below -``config.confidence`` and that ``holdout``, if given, accepts, or None;
    queries made)."""
    d = x.shape[-2] * x.shape[-1]
    noise = torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1
    delta = project_l0_box(noise, x, k)
    for step in range(config.steps):
        delta.requires_grad_(True)
        m = margin(model(x + delta), label)[0]
        point = (x + delta).detach()
        if bool(m < -config.confidence) and (holdout is None or holdout(point)):
            return point, step + 1
        (grad,) = torch.autograd.grad(-m, delta)
        with torch.no_grad():
            grad = grad / grad.abs().sum().clamp_min(1e-12)
            delta = project_l0_box(delta + config.step_size * d * grad, x, k)
    point = (x + delta).detach()
    if candidate_check(model, label, config.confidence, holdout)(point):
        return point, config.steps + 1
    return None, config.steps + 1


def _search(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, label: int,
            config: PGD0Config, generator: torch.Generator, below: float,
            holdout: Callable[[torch.Tensor], bool] | None
            ) -> tuple[torch.Tensor | None, int]:
    """PGD0 under the budget search: (the smallest adversarial found, or None; queries)."""
    queries = 0

    def attempt(k: int) -> torch.Tensor | None:
        nonlocal queries
        found, used = pgd0(model, x, label, k, config, generator, holdout)
        queries += used
        return found

    found = smallest_budget(attempt, x, config.first_budget, below)
    if found is not None and config.prune:
        found, more = prune(candidate_check(model, label, config.confidence, holdout), x, found)
        queries += more
    return found, queries


class PGD0(Attack):
    """PGD0 (Croce & Hein 2019) with a per-image budget search for the smallest L0; smoothed
    defenses through the expectation-over-transformation surrogate, confirmed on the defense.

    Shape: x is (1, C, H, W) with values in [0, 1]; L0 counts pixel positions.
    """

    name = "pgd0"
    config_type = PGD0Config
    description = ("PGD0 (Croce & Hein 2019): projected gradient descent on an L0 ball, budget "
                   "searched per image; smoothed defenses through an expectation-over-"
                   "transformation surrogate, confirmed on the defense")
    config: PGD0Config

    def run(self, x: torch.Tensor, label: int, target: AttackTarget,
            on_restart: Callable[[RestartResult], None] | None = None) -> AttackResult:
        c = self.config

        def one(r: int) -> RestartResult:
            began = time.perf_counter()
            model = target.surrogate(r, c.eot_samples)
            generator = torch.Generator().manual_seed(target.seed(r))
            x_adv, queries = _search(model, x, label, c, generator, target.below,
                                     holdout_check(target, r, label, c.holdout_samples,
                                                   c.holdout_lead))
            return finish(target, r, x, x_adv, queries, began)

        return run_restarts(c.restarts, one, on_restart)
