"""How the base classifier sees an ablated image: NULL-pixel encodings (docs/protocol.md §1)."""

from __future__ import annotations

from enum import StrEnum

import torch

__all__ = ["Encoding", "Fill", "encode", "fill_tensor"]

Fill = float | tuple[float, ...]
"""The mean-NULL value: one number for every channel, or one per channel."""


class Encoding(StrEnum):
    """NULL encodings. MULTICHANNEL: (x, 1-x) per channel, NULL = (0, 0). MEAN_FILL: mean."""

    MULTICHANNEL = "multichannel"
    MEAN_FILL = "mean"

    def channels(self, image_channels: int) -> int:
        """Input channels the base classifier needs for images with ``image_channels`` channels."""
        return 2 * image_channels if self is Encoding.MULTICHANNEL else image_channels


def fill_tensor(fill: Fill, like: torch.Tensor) -> torch.Tensor | float:
    """``fill`` ready to broadcast over images shaped like ``like`` (B, C, H, W): the number
    itself, or a (1, C, 1, 1) tensor of ``like``'s dtype and device."""
    if isinstance(fill, int | float):
        return float(fill)
    if len(fill) != like.shape[1]:
        raise ValueError(f"{len(fill)} fill values for {like.shape[1]}-channel images")
    return torch.tensor(fill, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)


def encode(
    x: torch.Tensor, keep: torch.Tensor, encoding: Encoding, fill: Fill = 0.0
) -> torch.Tensor:
    """Apply keep masks to images and encode the ablated pixels.

    Args:
        x: images, shape (B, C, H, W), values in [0, 1].
        keep: keep masks, bool, shape (B, H, W); a position keeps all its channels together.
        encoding: the NULL encoding.
        fill: the constant written into ablated pixels for MEAN_FILL (the training-set mean):
            one number, or one per channel.

    Returns:
        Shape (B, 2C, H, W) for MULTICHANNEL ([x*m, (1-x)*m]), (B, C, H, W) for MEAN_FILL
        (x*m + fill*(1-m)), in x's dtype.
    """
    m = keep.unsqueeze(1).to(x.dtype)
    if encoding is Encoding.MULTICHANNEL:
        return torch.cat((x * m, (1.0 - x) * m), dim=1)
    return x * m + fill_tensor(fill, x) * (1.0 - m)
