"""The training images as optimizer steps see them: held on the training device, or decoded
batch by batch from a streamed split (``bench.image_folder``), and augmented when the recipe asks
(``TrainConfig.augment``).

Augmentations draw from their own generator per epoch, seeded by (train.seed, epoch), so a run
resumed after an epoch continues exactly as an uninterrupted one, and a recipe without
augmentation draws nothing (its noise streams are those it always had).
"""

from __future__ import annotations

import numpy as np
import torch

from bench.configs import TrainConfig
from bench.data import Dataset
from bench.seeding import derive_seed

__all__ = ["CROP_PADDING", "TrainingImages", "augment", "augment_generator", "to_float"]

CROP_PADDING = 4
"""Zero padding of "crop-flip" (CIFAR-10's RandomCrop(32, padding=4))."""


def to_float(images: object) -> torch.Tensor:
    """uint8 images (n, C, H, W), in memory or streamed -> float32 in [0, 1]."""
    return torch.tensor(np.asarray(images), dtype=torch.float32).div_(255.0)


class TrainingImages:
    """A training split's images and labels for optimizer steps.

    Args:
        data: the training split.
        where: the training device. An in-memory split is moved there once; a streamed one is
            decoded on the host batch by batch and each batch moved there.
    """

    def __init__(self, data: Dataset, where: torch.device) -> None:
        self.where = where
        self.source = data.images
        self.x_all = (to_float(data.images).to(where) if isinstance(data.images, np.ndarray)
                      else None)
        self.y_all = torch.as_tensor(data.labels).to(where)

    @property
    def streamed(self) -> bool:
        """Whether batches are decoded on demand (a streamed split) rather than held."""
        return self.x_all is None

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, H, W) float32 in [0, 1] and labels (B,) of the rows ``idx``, on the
        training device."""
        if self.x_all is not None:
            return self.x_all[idx], self.y_all[idx]
        rows = idx.cpu().numpy()
        return to_float(self.source[rows]).to(self.where), self.y_all[idx]


def augment_generator(train: TrainConfig, epoch: int, where: torch.device) -> torch.Generator:
    """The generator of epoch ``epoch``'s augmentations, on the training device."""
    return torch.Generator(device=where).manual_seed(
        derive_seed(train.seed, epoch, "train-augment"))


def augment(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """Images x (B, C, H, W) augmented independently: "none", "flip" (horizontal, probability
    1/2) or "crop-flip" (a random H x W crop of the image zero-padded by ``CROP_PADDING``, then
    the flip), drawing from ``gen`` (on x's device)."""
    if kind == "none":
        return x
    if kind not in ("flip", "crop-flip"):
        raise ValueError(f"unknown augmentation {kind!r}")
    b, _, h, w = x.shape
    if kind == "crop-flip":
        p = CROP_PADDING
        padded = torch.nn.functional.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (b,), generator=gen, device=x.device)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=gen, device=x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
        batch = torch.arange(b, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    flip = torch.rand(b, generator=gen, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)
