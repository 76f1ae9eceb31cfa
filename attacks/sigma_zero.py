"""σ-zero (Cinà et al. 2024): gradient descent on a smooth L0 surrogate, with adaptive
thresholding.

The perturbation delta minimizes ``max(margin, 0) + l0_sigma(delta) / d``, where the margin is
the true class's score minus the best other (``attacks.objectives.margin``) and
``l0_sigma(delta) = sum delta^2 / (delta^2 + sigma)`` is a smooth count of the changed
coordinates. Each step normalizes the gradient by its largest entry, takes an Adam step whose
learning rate anneals on a cosine from ``lr`` to ``lr / 10``, clips x + delta to [0, 1], and then
zeroes every pixel position whose largest change is below a threshold tau; tau rises by
``threshold_step * lr_t`` after a step that was adversarial and falls by as much after one that was
not, so the attack trades margin for sparsity as it goes. The adversarial with the fewest changed
positions seen is returned, after a greedy prune of the pixels it does not need (``prune``).

A smoothed defense is attacked through its expectation-over-transformation stand-in (the target's
``surrogate``, over ``eot_samples`` fixed draws). A point it calls adversarial is kept only when
another class also leads the votes of ``holdout_samples`` other fixed draws (the target's
``scores``): a few dozen draws are easy to overfit, and the smoothed classifier votes over many.
Every final point is confirmed on the defense.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from attacks.base import Attack, AttackResult, AttackTarget, RestartResult, run_restarts
from attacks.base import restart_result as finish
from attacks.l0 import pixel_l0
from attacks.objectives import GradientConfig, candidate_check, holdout_check, margin
from attacks.prune import prune

__all__ = ["SigmaZero", "SigmaZeroConfig", "sigma_zero"]


@dataclass(frozen=True, kw_only=True)
class SigmaZeroConfig(GradientConfig):
    """σ-zero's settings (the paper's defaults), with the surrogate settings of
    ``GradientConfig`` (eot_samples, confidence, holdout_samples, holdout_lead, prune).

    Attributes:
        steps: gradient steps.
        lr: Adam's initial learning rate (cosine-annealed to lr / 10).
        sigma: smoothness of the L0 approximation.
        threshold: the initial pixel threshold tau.
        threshold_step: tau moves by this times the current learning rate per step.
    """

    steps: int = 1000
    lr: float = 1.0
    sigma: float = 1e-3
    threshold: float = 0.3
    threshold_step: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.lr <= 0 or self.sigma <= 0:
            raise ValueError(f"lr and sigma must be > 0, got {self.lr} and {self.sigma}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")


def sigma_zero(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, label: int,
               config: SigmaZeroConfig,
               holdout: Callable[[torch.Tensor], bool] | None = None
               ) -> tuple[torch.Tensor | None, int]:
    """σ-zero against ``model`` (differentiable scores) on one image x (1, C, H, W) in [0, 1]:
    (the adversarial with the fewest changed positions, or None; the queries made). A point
    counts when the margin is below -``config.confidence`` and ``holdout``, if given, agrees."""
    d = x.shape[-2] * x.shape[-1]
    delta = torch.zeros_like(x, requires_grad=True)
    optimizer = torch.optim.Adam([delta], lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps,
                                                          eta_min=config.lr / 10)
    tau = config.threshold
    best: torch.Tensor | None = None
    best_l0 = math.inf
    for _ in range(config.steps):
        scores = model(x + delta)
        m = margin(scores, label)[0]
        adversarial = bool(m < -config.confidence)
        if adversarial:
            point = (x + delta).detach()
            l0 = int(pixel_l0(x, point)[0])
            if l0 < best_l0 and (holdout is None or holdout(point)):
                best, best_l0 = point.clone(), l0
        smooth_l0 = (delta.square() / (delta.square() + config.sigma)).sum() / d
        loss = (m + config.confidence).clamp_min(0) + smooth_l0
        (grad,) = torch.autograd.grad(loss, delta)
        delta.grad = grad / grad.abs().max().clamp_min(1e-12)
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            delta.copy_(torch.minimum(torch.maximum(delta, -x), 1.0 - x))
            step = config.threshold_step * float(schedule.get_last_lr()[0])
            tau = min(1.0, max(0.0, tau + step if adversarial else tau - step))
            small = delta.abs().amax(dim=1, keepdim=True) < tau
            delta.masked_fill_(small.expand_as(delta), 0.0)
    final = (x + delta).detach()  # the last step's point
    if int(pixel_l0(x, final)[0]) < best_l0 and candidate_check(
            model, label, config.confidence, holdout)(final):
        best = final.clone()
    return best, config.steps + 1


class SigmaZero(Attack):
    """σ-zero (Cinà et al. 2024), a minimum-L0 gradient attack; through the expectation-over-
    transformation surrogate for a smoothed defense, every final point confirmed on the defense.

    Shape: x is (1, C, H, W) with values in [0, 1]; L0 counts pixel positions.
    """

    name = "sigma-zero"
    config_type = SigmaZeroConfig
    description = ("σ-zero (Cinà et al. 2024): gradient descent on a smooth L0 with adaptive "
                   "thresholding; smoothed defenses through an expectation-over-transformation "
                   "surrogate, confirmed on the defense")
    config: SigmaZeroConfig

    def run(self, x: torch.Tensor, label: int, target: AttackTarget,
            on_restart: Callable[[RestartResult], None] | None = None) -> AttackResult:
        c = self.config

        def one(r: int) -> RestartResult:
            began = time.perf_counter()
            model = target.surrogate(r, c.eot_samples)
            holdout = holdout_check(target, r, label, c.holdout_samples, c.holdout_lead)
            x_adv, queries = sigma_zero(model, x, label, c, holdout)
            if x_adv is not None and c.prune:
                x_adv, more = prune(candidate_check(model, label, c.confidence, holdout), x,
                                    x_adv)
                queries += more
            return finish(target, r, x, x_adv, queries, began)

        return run_restarts(c.restarts, one, on_restart)
