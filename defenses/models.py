"""Base-classifier architectures (registered by name in ``bench.registry``)."""

from __future__ import annotations

from torch import nn

__all__ = ["group_mlp", "mnist_cnn"]


def mnist_cnn(in_channels: int, num_classes: int = 10,
              image_size: tuple[int, int] = (28, 28)) -> nn.Module:
    """The paper's MNIST CNN (docs/protocol.md), logits out.

    Conv(in->64, 4x4, s2, p1) -> ReLU -> Conv(64->128, 4x4, s2, p1) -> ReLU -> Flatten
    -> FC 500 -> ReLU -> FC 100 -> ReLU -> FC num_classes. The flattened size is
    128 * (H / 4) * (W / 4): 6,272 for 28x28 images. About 20 MFLOP per MNIST image.

    Args:
        in_channels: input channels (2 for MNIST under the multichannel NULL encoding).
        num_classes: number of classes.
        image_size: (H, W), each a multiple of 4.
    """
    h, w = image_size
    if h % 4 or w % 4:
        raise ValueError(f"mnist-cnn needs H and W divisible by 4, got {h}x{w}")
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 128, kernel_size=4, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * (h // 4) * (w // 4), 500),
        nn.ReLU(),
        nn.Linear(500, 100),
        nn.ReLU(),
        nn.Linear(100, num_classes),
    )


def group_mlp(in_channels: int, num_classes: int = 10, image_size: tuple[int, int] = (28, 28),
              hidden: int = 256) -> nn.Module:
    """A 3-layer fully connected network on any input size, logits out: a partition defense's
    submodel (``defenses.partition``), which gets its group's pixels as a (2C, g, 1) input.

    Flatten -> FC hidden -> ReLU -> FC hidden -> ReLU -> FC num_classes: about
    (in_channels * H * W + hidden + num_classes) * hidden multiply-adds per input (84 thousand
    for a group of 32 MNIST pixels).
    """
    h, w = image_size
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_channels * h * w, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )
