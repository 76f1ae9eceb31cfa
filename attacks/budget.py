"""Fixed-budget L0 attacks made minimal: the budget search, and the projection onto an L0 ball.

A fixed-budget attack (Sparse-RS, PGD0) looks for an adversarial that changes at most k pixel
positions. ``smallest_budget`` turns it into a minimum-norm attack: it doubles k until an attempt
succeeds, then bisects between the largest failed and the smallest successful budget, and
returns the adversarial with the fewest changed positions it saw. The attacks are randomized, so
success is not monotone in k; the search is a heuristic, and what it returns is always an
adversarial the attempt found.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from attacks.l0 import pixel_l0

__all__ = ["project_l0_box", "smallest_budget"]


def smallest_budget(attempt: Callable[[int], torch.Tensor | None], x: torch.Tensor,
                    first: int, below: float = math.inf) -> torch.Tensor | None:
    """The adversarial with the fewest changed positions over a budget search, or None.

    Args:
        attempt: one run of the fixed-budget attack with budget k (positions), returning an
            adversarial (1, C, H, W) changing at most k positions, or None.
        x: the clean image (1, C, H, W); d = H * W positions.
        first: the first budget tried (clipped to 1..d).
        below: only budgets below this are tried (an ensemble's best so far).
    """
    d = x.shape[-2] * x.shape[-1]
    cap = d if math.isinf(below) else min(d, math.ceil(below) - 1)
    if cap < 1:
        return None
    best: torch.Tensor | None = None
    best_l0 = cap + 1
    low, k = 0, min(max(1, first), cap)  # low: the largest budget known to fail
    while best is None:  # doubling until one attempt succeeds
        found = attempt(k)
        if found is not None:
            best, best_l0 = found, int(pixel_l0(x, found)[0])
            break
        if k == cap:
            return None
        low, k = k, min(2 * k, cap)
    while best_l0 - low > 1:  # bisection below the best
        mid = (low + best_l0) // 2
        found = attempt(mid)
        if found is None:
            low = mid
            continue
        l0 = int(pixel_l0(x, found)[0])
        if l0 < best_l0:
            best, best_l0 = found, l0
        else:  # an adversarial no smaller than the best: nothing below mid is known to fail
            low = mid
    return best


def project_l0_box(delta: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """The closest perturbation (in L2) to ``delta`` that changes at most ``k`` pixel positions
    and keeps x + delta in [0, 1] (Croce & Hein 2019's projection, a position's channels
    together).

    Each position is clipped to the box; the k positions that lose most by being zeroed rather
    than clipped are kept, the rest zeroed.

    Args:
        delta: perturbations (B, C, H, W).
        x: the clean images (B, C, H, W) in [0, 1].
        k: positions allowed, 0..H * W.
    """
    if delta.shape != x.shape or delta.dim() != 4:
        raise ValueError(f"need two (B, C, H, W) tensors of one shape, got {tuple(delta.shape)} "
                         f"and {tuple(x.shape)}")
    d = x.shape[-2] * x.shape[-1]
    if not 0 <= k <= d:
        raise ValueError(f"k must be in 0..{d}, got {k}")
    clipped = torch.minimum(torch.maximum(delta, -x), 1.0 - x)
    # zeroing a position costs |delta|^2, clipping it |delta - clipped|^2: keep the largest gain
    gain = (delta.square() - (delta - clipped).square()).sum(dim=1).flatten(1)  # (B, d)
    keep = torch.zeros_like(gain, dtype=torch.bool)
    if k:
        top = torch.topk(gain, k, dim=1, sorted=False).indices
        keep.scatter_(1, top, True)
    return clipped * keep.view(x.shape[0], 1, *x.shape[-2:]).to(delta.dtype)
