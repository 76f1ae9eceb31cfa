"""Toy base classifiers whose votes are exact (float64 sums of float32 inputs), so their records
are the same bits on every CPU: the fixture of results written by an earlier release."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class KeptMeanVote(nn.Module):
    """Multichannel ablation inputs (B, 2, H, W): class 0 when the kept pixels' mean value exceeds
    ``threshold``, else class 1 (one-hot logits over ``num_classes``)."""

    def __init__(self, threshold: float = 0.5, num_classes: int = 10) -> None:
        super().__init__()
        self.threshold, self.num_classes = threshold, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        value, inverse = x[:, 0].flatten(1), x[:, 1].flatten(1)
        kept = ((value + inverse) > 0).sum(1).double()
        first = value.sum(1) > self.threshold * kept
        out = torch.zeros(x.shape[0], self.num_classes)
        out[first, 0] = 1.0
        out[~first, 1] = 1.0
        return out


class MeanVote(nn.Module):
    """One-channel inputs (B, 1, H, W): class 0 when the mean value exceeds ``threshold``, else
    class 1 (one-hot logits over ``num_classes``)."""

    def __init__(self, threshold: float = 0.5, num_classes: int = 10) -> None:
        super().__init__()
        self.threshold, self.num_classes = threshold, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double()[:, 0].flatten(1)
        first = x.sum(1) > self.threshold * x.shape[1]
        out = torch.zeros(x.shape[0], self.num_classes)
        out[first, 0] = 1.0
        out[~first, 1] = 1.0
        return out


def synthetic_images(count: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uint8 images (count, 1, 28, 28): a share of bright pixels that grows from image
    to image, and labels 0 (mostly bright) or 1; image 3's label is flipped."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 1, 28, 28), dtype=np.uint8)
    labels = np.zeros(count, dtype=np.int64)
    for i in range(count):
        share = 0.3 + 0.4 * i / max(1, count - 1)
        bright = rng.random((28, 28)) < share
        images[i, 0] = np.where(bright, rng.integers(200, 256, (28, 28)),
                                rng.integers(0, 31, (28, 28)))
        labels[i] = 0 if images[i].mean() > 127.5 else 1
    labels[3] = 1 - labels[3]
    return images, labels
