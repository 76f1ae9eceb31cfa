"""A last step for any L2 attack: the shortest adversarial on the ray from the clean image
through the attack's point.

A gradient attack on a smoothed defense's surrogate stops at the surrogate's boundary, where
held-out votes most often still answer the true class; one that overshoots leaves distance it
does not need. Both are settled on the ray x + t (x_adv - x), clipped to [0, 1]: walk outwards
(t = growth, growth^2, ... up to ``max_scale``) until the point is adversarial, then bisect t
between the last refused and the first accepted scale.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["shortest_on_ray"]


def _at(x: torch.Tensor, direction: torch.Tensor, t: float) -> torch.Tensor:
    return (x + t * direction).clamp(0.0, 1.0)


def shortest_on_ray(is_adversarial: Callable[[torch.Tensor], bool], x: torch.Tensor,
                    x_adv: torch.Tensor, *, steps: int = 10, growth: float = 1.25,
                    max_scale: float = 4.0) -> tuple[torch.Tensor | None, int]:
    """(the adversarial found closest to x on the ray through ``x_adv``, queries made); None
    when no scale up to ``max_scale`` is adversarial.

    Args:
        is_adversarial: one query for (1, C, H, W).
        x: the clean image (1, C, H, W) in [0, 1].
        x_adv: the attack's point, same shape.
        steps: bisection steps (the scale is then known to ``2^-steps`` of the bracket).
        growth: the factor of each outward step.
        max_scale: the largest scale tried outwards.
    """
    if x.shape != x_adv.shape or x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"need two (1, C, H, W) tensors of one shape, got {tuple(x.shape)} and "
                         f"{tuple(x_adv.shape)}")
    if steps < 0 or growth <= 1.0 or max_scale < 1.0:
        raise ValueError("need steps >= 0, growth > 1 and max_scale >= 1")
    direction = x_adv - x
    if not bool(direction.any()):
        return None, 0
    queries, low, high = 1, 0.0, 1.0
    if not is_adversarial(_at(x, direction, 1.0)):
        low, high = 1.0, growth
        while True:
            queries += 1
            if is_adversarial(_at(x, direction, high)):
                break
            if high >= max_scale:
                return None, queries
            low, high = high, min(high * growth, max_scale)
    for _ in range(steps):
        middle = (low + high) / 2
        queries += 1
        if is_adversarial(_at(x, direction, middle)):
            high = middle
        else:
            low = middle
    return _at(x, direction, high), queries
