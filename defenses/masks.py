"""Exact uniform k-subset sampling of kept pixel positions, vectorised over samples.

Two samplers, both exact: on a CPU generator, Robert Floyd's algorithm (the stream every CPU
result was made with); on a device generator (CUDA), the k smallest of d independent random keys
per row, drawn and selected on the device, so no mask crosses from the host.
"""

from __future__ import annotations

import torch

__all__ = ["sample_keep_masks", "sample_keep_masks_by_keys"]


def sample_keep_masks(n: int, d: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """Draw n independent keep masks, each a uniform k-subset of d positions (without replacement).

    Robert Floyd's algorithm run on all rows at once: for j = d-k .. d-1 draw t uniform in
    0..j and keep t, or j if t is already kept. Every k-subset has probability 1 / C(d, k).

    A generator on another device (CUDA) draws with ``sample_keep_masks_by_keys`` there.

    Args:
        n: number of masks (rows).
        d: number of positions.
        k: positions kept per mask, 1 <= k <= d.
        generator: random generator; the only source of randomness.

    Returns:
        Bool tensor of shape (n, d) on the generator's device, exactly k True values per row.
    """
    if not 1 <= k <= d:
        raise ValueError(f"k must be in 1..d={d}, got {k}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if generator.device.type != "cpu":
        return sample_keep_masks_by_keys(n, d, k, generator)
    mask = torch.zeros(n, d, dtype=torch.bool)
    rows = torch.arange(n)
    for j in range(d - k, d):
        t = torch.randint(0, j + 1, (n,), generator=generator)
        pick = torch.where(mask[rows, t], torch.full_like(t, j), t)
        mask[rows, pick] = True
    return mask


def sample_keep_masks_by_keys(n: int, d: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """Draw n uniform k-subsets of d positions as the k smallest of d random keys per row.

    The keys are independent uniform 63-bit integers: the order of d i.i.d. keys is a uniform
    permutation whenever they are distinct, so its first k positions are a uniform k-subset. Two
    equal keys in a row (probability below d**2 / 2**63, about 7e-14 for d = 784) would favour
    the lower position. Runs on the generator's device with a fixed number of kernels, whatever
    k is.

    Returns:
        Bool tensor (n, d) on the generator's device, exactly k True values per row.
    """
    if not 1 <= k <= d:
        raise ValueError(f"k must be in 1..d={d}, got {k}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    device = generator.device
    keys = torch.randint(0, 2**63 - 1, (n, d), generator=generator, device=device)
    kept = keys.topk(k, dim=1, largest=False, sorted=False).indices
    return torch.zeros(n, d, dtype=torch.bool, device=device).scatter_(1, kept, True)
