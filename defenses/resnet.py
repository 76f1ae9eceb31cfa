"""ResNets (He et al. 2016) for colour images, written here (torchvision's wheel does not import
with the CPU build of torch): ResNet-18 in the CIFAR-10 form (a 3x3 stride-1 stem, no max
pooling, for 32x32 images) and ResNet-50 in the ImageNet form (a 7x7 stride-2 stem and max
pooling, for 224x224 images). ``in_channels`` is the encoding's: 6 for the multichannel encoding
of colour images, 3 for mean-NULL or plain images. Logits out.

The layer layout, widths and strides are the standard ones (ResNet-18: basic blocks 2-2-2-2 with
64-128-256-512 channels; ResNet-50: bottleneck blocks 3-4-6-3 with expansion 4); weights start
from PyTorch's default initialisation of each layer (a training recipe may re-initialise them).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18_cifar", "resnet50_imagenet"]

Stem = Literal["cifar", "imagenet"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (1x1 convolution when the shape changes)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, with a shortcut."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A ResNet: stem, four stages (64, 128, 256, 512 planes; stride 1, 2, 2, 2), global average
    pooling, one linear layer.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: blocks per stage.
        in_channels: input channels.
        num_classes: logits out.
        stem: "cifar" (3x3 stride-1 convolution) or "imagenet" (7x7 stride-2 convolution, 3x3
            stride-2 max pooling).
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: tuple[int, int, int, int],
                 in_channels: int, num_classes: int, stem: Stem) -> None:
        super().__init__()
        if stem == "cifar":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(64), nn.ReLU())
        elif stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        else:
            raise ValueError(f"stem must be 'cifar' or 'imagenet', got {stem!r}")
        stages: list[nn.Module] = []
        in_planes = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2
            stage: list[nn.Module] = []
            for j in range(blocks):
                stage.append(block(in_planes, planes, stride if j == 0 else 1))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(self.stages(self.stem(x))).flatten(1)
        logits: torch.Tensor = self.fc(out)
        return logits


def resnet18_cifar(in_channels: int, num_classes: int = 10) -> ResNet:
    """ResNet-18 for 32x32 images (the CIFAR-10 form): about 0.56 GFLOP per image, 11.2 million
    weights."""
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, num_classes, "cifar")


def resnet50_imagenet(in_channels: int, num_classes: int = 1000) -> ResNet:
    """ResNet-50 for 224x224 images (the ImageNet form): about 4.1 GFLOP per image, 25.6 million
    weights."""
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels, num_classes, "imagenet")
