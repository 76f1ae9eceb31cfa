"""The size of a perturbation in each threat model: L0 counted per pixel location (all channels of
a position together), and L2 over all coordinates."""

from __future__ import annotations

import torch

from defenses.base import L0_PIXELS, L2

__all__ = ["l2_norm", "perturbation_size", "pixel_l0"]


def _check_pair(x: torch.Tensor, x_adv: torch.Tensor) -> None:
    if x.shape != x_adv.shape or x.dim() != 4:
        raise ValueError(f"need two (B, C, H, W) tensors of one shape, got {tuple(x.shape)} and "
                         f"{tuple(x_adv.shape)}")


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
    _check_pair(x, x_adv)
    return (x != x_adv).any(dim=1).flatten(1).sum(dim=1)


def l2_norm(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of ``x_adv - x`` over all coordinates of each image, float64 (B,)."""
    _check_pair(x, x_adv)
    norms: torch.Tensor = (x_adv.double() - x.double()).flatten(1).norm(dim=1)
    return norms


def perturbation_size(threat_model: str, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """The size of ``x_adv - x`` per image in ``threat_model`` (``defenses.base.THREAT_MODELS``):
    pixel positions changed (L0) or the Euclidean norm (L2), float64 (B,)."""
    if threat_model == L0_PIXELS:
        return pixel_l0(x, x_adv).double()
    if threat_model == L2:
        return l2_norm(x, x_adv)
    raise ValueError(f"unknown threat model {threat_model!r}")
