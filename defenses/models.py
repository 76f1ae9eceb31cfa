"""Base-classifier architectures."""

from __future__ import annotations

from torch import nn

__all__ = ["ARCHITECTURES", "build_model", "mnist_cnn"]


def mnist_cnn(in_channels: int, num_classes: int = 10) -> nn.Module:
    """The paper's MNIST CNN (ALGORITHMS.md §1.3), 28x28 inputs, logits out.

    Conv(in->64, 4x4, s2, p1) -> ReLU -> Conv(64->128, 4x4, s2, p1) -> ReLU -> Flatten(6272)
    -> FC 500 -> ReLU -> FC 100 -> ReLU -> FC num_classes. About 20 MFLOP per image.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 128, kernel_size=4, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * 7 * 7, 500),
        nn.ReLU(),
        nn.Linear(500, 100),
        nn.ReLU(),
        nn.Linear(100, num_classes),
    )


ARCHITECTURES = {"mnist-cnn": mnist_cnn}


def build_model(architecture: str, in_channels: int, num_classes: int) -> nn.Module:
    """Build a registered architecture by name."""
    try:
        factory = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}") from None
    return factory(in_channels, num_classes)
