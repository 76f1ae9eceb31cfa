"""L0 size of a perturbation counted per pixel location (all channels of a position together)."""

from __future__ import annotations

import torch

__all__ = ["pixel_l0"]


def pixel_l0(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Number of pixel positions where any channel of ``x_adv`` differs from ``x``.

    This is the L0 of the ablation certificate (d = H * W positions): a colour pixel changed in
    one, two or three channels counts once. foolbox's ``l0`` counts array elements instead, which
    agrees only for one-channel images.

    Args:
        x: clean images (B, C, H, W).
        x_adv: perturbed images, same shape.

    Returns:
        int64 tensor (B,).
    """
    if x.shape != x_adv.shape or x.dim() != 4:
        raise ValueError(f"need two (B, C, H, W) tensors of one shape, got {tuple(x.shape)} and "
                         f"{tuple(x_adv.shape)}")
    return (x != x_adv).any(dim=1).flatten(1).sum(dim=1)
