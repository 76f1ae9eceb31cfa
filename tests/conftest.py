"""Shared fixtures: toy base classifiers on CPU, deterministic, and tiny trained checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from bench.cli import main
from bench.data import Splits, load_mnist


def train_tiny(models: Path, defense: str, images: int) -> None:
    """Train ``defense`` for one epoch on the first ``images`` training images into ``models``
    (offline: the bundled MNIST sample when the full set is not found)."""
    os.environ.setdefault("BENCH_OFFLINE", "1")
    assert main(["train", "--defense", defense, "--models", str(models), "--epochs", "1",
                 "--train-limit", str(images)]) == 0


def head_splits(train: int, test: int) -> Splits:
    """The first ``train`` training and ``test`` test images of MNIST (the full set when found,
    else the bundled sample)."""
    full = load_mnist()
    return Splits(full.train.head(train), full.test.head(test), full.notice)


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


class MeanBrightnessModel(nn.Module):
    """Logits (mean of the first channel, threshold): class 0 when the image is brighter than
    ``threshold`` on average, class 1 otherwise. Works on plain images (undefended)."""

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x[:, 0].flatten(1).mean(1)
        return torch.stack([mean, torch.full_like(mean, self.threshold)], dim=1)


class KeptBrightnessModel(nn.Module):
    """For multichannel-encoded ablations: class 0 when the kept pixels are brighter than
    ``threshold`` on average, class 1 otherwise (a base classifier whose votes depend on x)."""

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, inverse = x[:, 0].flatten(1), x[:, 1].flatten(1)
        kept = (value + inverse).sum(1).clamp(min=1.0)
        mean = value.sum(1) / kept
        return torch.stack([mean, torch.full_like(mean, self.threshold)], dim=1)


def auto_precision() -> str:
    """The precision "auto" gives a smoothed defense on this machine's CPU."""
    from defenses.precision import native_bf16

    return "bf16" if native_bf16("cpu") else "fp32"


def shown(name: str) -> str:
    """How tables label a smoothed defense run in this machine's default precision
    (``reports.tables.shown_defense``)."""
    return f"{name} ({auto_precision()})"
