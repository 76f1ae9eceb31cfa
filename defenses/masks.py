"""Exact uniform k-subset sampling of kept pixel positions, vectorised over samples."""

from __future__ import annotations

import torch

__all__ = ["sample_keep_masks"]


def sample_keep_masks(n: int, d: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """Draw n independent keep masks, each a uniform k-subset of d positions (without replacement).

    Robert Floyd's algorithm run on all rows at once: for j = d-k .. d-1 draw t uniform in
    0..j and keep t, or j if t is already kept. Every k-subset has probability 1 / C(d, k).

    Args:
        n: number of masks (rows).
        d: number of positions.
        k: positions kept per mask, 1 <= k <= d.
        generator: CPU random generator; the only source of randomness.

    Returns:
        Bool tensor of shape (n, d) on the CPU, exactly k True values per row.
    """
    if not 1 <= k <= d:
        raise ValueError(f"k must be in 1..d={d}, got {k}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    mask = torch.zeros(n, d, dtype=torch.bool)
    rows = torch.arange(n)
    for j in range(d - k, d):
        t = torch.randint(0, j + 1, (n,), generator=generator)
        pick = torch.where(mask[rows, t], torch.full_like(t, j), t)
        mask[rows, pick] = True
    return mask
