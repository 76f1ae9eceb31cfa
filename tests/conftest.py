"""Shared fixtures: toy base classifiers on CPU, deterministic."""

from __future__ import annotations

import torch
from torch import nn


class ConstantModel(nn.Module):
    """Always votes for ``label`` (logits one-hot)."""

    def __init__(self, label: int, num_classes: int = 10) -> None:
        super().__init__()
        self.label, self.num_classes = label, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], self.num_classes)
        out[:, self.label] = 1.0
        return out


class PixelModel(nn.Module):
    """Votes 1 if the multichannel encoding keeps pixel (row, col), else 0."""

    def __init__(self, row: int, col: int, num_classes: int = 10) -> None:
        super().__init__()
        self.row, self.col, self.num_classes = row, col, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = (x[:, 0, self.row, self.col] + x[:, 1, self.row, self.col]) > 0
        out = torch.zeros(x.shape[0], self.num_classes)
        out[kept, 1] = 1.0
        out[~kept, 0] = 1.0
        return out
