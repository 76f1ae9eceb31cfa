"""Salt-and-pepper starting points for Pointwise.

``salt_and_pepper_start`` is foolbox 3's ``SaltAndPepperNoiseAttack`` for one image, drawing the
same noise from torch's global generator, except that it does not query a candidate that is not
closer (in L2) than the best adversarial so far: foolbox queries it but never uses the answer
(its "TODO: ignore those that are not closer anyway"). Against a deterministic oracle it returns
foolbox's point with fewer queries.

``bisection_start`` is cheaper still. foolbox's search spends most of its steps (1,000 by
default) on a full query of fresh noise. Here one random order of the pixel positions and one
random salt-or-pepper value per position (1 or 0, each with probability 1/2, as foolbox draws
them) are drawn, and the candidate with noise level m gives the first m positions of that order
their noise value. The candidates are nested, so a bisection over m finds a small adversarial
level in about log2(d) queries (11 on MNIST); further fresh draws, one query each, then search
below that level.

Both come with a ``*_candidates`` form: every point the search kept as its best, in the order
found. A search run against a cheaper stand-in for the attacked oracle is then checked against
the real one from its smallest point up (``attacks.pointwise``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["bisection_candidates", "bisection_start", "salt_and_pepper_at",
           "salt_and_pepper_candidates", "salt_and_pepper_start"]


def salt_and_pepper_start(is_adversarial: Callable[[torch.Tensor], bool], x: torch.Tensor,
                          steps: int) -> torch.Tensor:
    """foolbox's salt-and-pepper search (``SaltAndPepperNoiseAttack(steps)``, bounds (0, 1),
    noise shared across channels) on one image, skipping queries whose answer it cannot use:
    the last of ``salt_and_pepper_candidates``, or ``x`` itself when there is none (as foolbox
    does; the caller checks)."""
    found = salt_and_pepper_candidates(is_adversarial, x, steps)
    return found[-1] if found else x


def salt_and_pepper_candidates(is_adversarial: Callable[[torch.Tensor], bool],
                               x: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """Every point foolbox's salt-and-pepper search keeps as its best, in the order found (each
    closer in L2 than the one before); ``salt_and_pepper_start`` returns the last.

    Each step draws uniform noise u (1, 1, H, W) from torch's global generator, sets a pixel to
    1 where u >= 1 - p/2 and to 0 where u < p/2, and keeps the candidate when it is adversarial
    and closer in L2 than the best so far; the noise level p then restarts from half the best
    level and sweeps to 1.2 times it over the remaining steps. A clean image that is already
    adversarial is its own (only) candidate.

    Args:
        is_adversarial: one query of the attacked oracle and criterion for (1, C, H, W).
        x: the clean image (1, C, H, W) in [0, 1].
        steps: noise levels tried (foolbox's ``steps``).
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"need one image (1, C, H, W), got {tuple(x.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    shape = (1, 1, x.shape[2], x.shape[3])
    if is_adversarial(x):
        found = [x]
        best = torch.zeros(1)
    else:
        found, best = [], torch.full((1,), math.inf)
    # foolbox's arithmetic: per-image float tensors of x's dtype
    min_p, max_p = torch.zeros(1, dtype=x.dtype), torch.ones(1, dtype=x.dtype)
    stepsize = max_p / steps
    p = stepsize
    for step in range(steps):
        u = torch.rand(shape, dtype=x.dtype)
        salt = (u >= 1 - p / 2).to(x.dtype)
        pepper = -(u < p / 2).to(x.dtype)
        candidate = (x + salt + pepper).clamp(0.0, 1.0)
        norm = (candidate - x).flatten(1).square().sum(dim=1).sqrt()  # as foolbox (eagerpy)
        # a candidate that is not closer cannot be kept: its query is skipped
        if bool(norm < best) and is_adversarial(candidate):
            found.append(candidate)
            best = norm
            min_p, max_p = 0.5 * p, torch.minimum(p * 1.2, torch.ones(1, dtype=x.dtype))
            stepsize = (max_p - min_p) / (steps - step)
            p = min_p.clone()
        elif bool(p == max_p):
            p = min_p.clone()
        p = torch.minimum(p + stepsize, max_p)
    return found


def salt_and_pepper_at(x: torch.Tensor, order: torch.Tensor, salt: torch.Tensor,
                       level: int) -> torch.Tensor:
    """``x`` (1, C, H, W) with its first ``level`` positions in ``order`` (a permutation of the
    H * W positions) set, in every channel, to 1 where ``salt`` (bool, (H * W,)) else 0."""
    h, w = x.shape[-2:]
    if order.shape != (h * w,) or salt.shape != (h * w,):
        raise ValueError(f"order and salt must cover the {h * w} positions")
    if not 0 <= level <= h * w:
        raise ValueError(f"level must be in 0..{h * w}, got {level}")
    hit = torch.zeros(h * w, dtype=torch.bool)
    hit[order[:level]] = True
    return torch.where(hit.view(1, 1, h, w), salt.view(1, 1, h, w).to(x.dtype), x)


def bisection_start(
    is_adversarial: Callable[[torch.Tensor], bool],
    x: torch.Tensor,
    generator: torch.Generator,
    draws: int = 30,
) -> torch.Tensor | None:
    """A small adversarial salt-and-pepper point: the last of ``bisection_candidates``, or None
    when there is none."""
    found = bisection_candidates(is_adversarial, x, generator, draws)
    return found[-1] if found else None


def bisection_candidates(
    is_adversarial: Callable[[torch.Tensor], bool],
    x: torch.Tensor,
    generator: torch.Generator,
    draws: int = 30,
) -> list[torch.Tensor]:
    """Adversarial salt-and-pepper points of decreasing noise level, in the order found: a
    bisection over the noise level of a first random draw, then a random search below it; empty
    when no draw at full noise (every position) is adversarial.

    Args:
        is_adversarial: one query of the attacked oracle and criterion for (1, C, H, W).
        x: the clean image (1, C, H, W) in [0, 1].
        generator: the source of the pixel orders and salt-or-pepper values.
        draws: random draws. Until one is adversarial at full noise, each costs a query and,
            when it is, 1 + ceil(log2(H * W)) at most in all (the bisection); every later draw
            costs one query at a level 10% (at least 1) below the best so far and replaces the
            best when adversarial, as foolbox's search refines its noise level.

    Every returned point was answered adversarial by a query. A stochastic oracle may answer
    otherwise on a later query; the caller re-queries before using one.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"need one image (1, C, H, W), got {tuple(x.shape)}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    d = x.shape[-2] * x.shape[-1]
    found: list[torch.Tensor] = []
    level = d  # the best (smallest) adversarial level so far
    for _ in range(draws):
        order = torch.randperm(d, generator=generator)
        salt = torch.rand(d, generator=generator) < 0.5
        if found:  # a fresh draw, one query, a little below the best level
            trial = max(1, level - max(1, level // 10))
            candidate = salt_and_pepper_at(x, order, salt, trial)
            if is_adversarial(candidate):
                found.append(candidate)
                level = trial
            continue
        if not is_adversarial(salt_and_pepper_at(x, order, salt, d)):
            continue
        low = 0  # a level not adversarial (the clean image is not)
        while level - low > 1:
            mid = (low + level) // 2
            if is_adversarial(salt_and_pepper_at(x, order, salt, mid)):
                level = mid
            else:
                low = mid
        found.append(salt_and_pepper_at(x, order, salt, level))
    return found
