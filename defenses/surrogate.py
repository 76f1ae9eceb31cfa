"""Differentiable stand-ins of defenses for gradient attacks.

A deterministic classifier's stand-in is itself: its logits (``Logits``). A smoothed classifier's
hard vote has no useful gradient, so its stand-in is the log of the base classifier's softmax
averaged over a fixed set of noise draws (``ExpectedSoftmax``, expectation over transformation):
a smooth function whose argmax tends to the smoothed classifier's answer as the draws grow. Both
run in fp32 on a private copy of the model, whatever precision the defense answers in. What a
stand-in calls adversarial is only a candidate: the attack's final point is confirmed on the
defense itself (``bench.attacking``).
"""

from __future__ import annotations

import copy
from typing import Protocol

import torch
from torch import nn

from defenses.base import NoiseModel

__all__ = ["ExpectedSoftmax", "Logits", "MeanSoftmax", "PassCounter"]


class PassCounter(Protocol):
    """Whatever counts a defense's base-classifier forward passes."""

    forward_passes: int


def _frozen_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """An fp32 copy of ``model`` on ``device`` in eval mode whose weights need no gradient."""
    module = copy.deepcopy(model).eval().to(device=device, dtype=torch.float32)
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class Logits(nn.Module):
    """A classifier's logits (B, classes) for images (B, C, H, W) in [0, 1], differentiable in the
    images; outputs come back on the images' device.

    Args:
        model: the classifier.
        device: where it runs.
        counter: its forward passes are added to ``counter.forward_passes``.
    """

    def __init__(self, model: nn.Module, device: torch.device | str,
                 counter: PassCounter | None = None) -> None:
        super().__init__()
        self.device = torch.device(device)
        self.model = _frozen_copy(model, self.device)
        self.counter = counter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.counter is not None:
            self.counter.forward_passes += x.shape[0]
        out: torch.Tensor = self.model(x.to(self.device, torch.float32))
        return out.to(x.device)


class ExpectedSoftmax(nn.Module):
    """log E[softmax(base(noised x))] over fixed noise draws: (B, classes) log-probabilities.

    Args:
        model: the base classifier (noised inputs -> logits).
        noise: the defense's noise model (its ``apply`` must be differentiable in x: ablation
            and Lee et al.'s noise are).
        draws: the fixed draws (S, ...) from ``noise.sample``; every call uses all S.
        device: where the base classifier runs.
        counter: S forward passes per image are added to ``counter.forward_passes``.
        chunk: draws per forward batch.
    """

    def __init__(self, model: nn.Module, noise: NoiseModel, draws: torch.Tensor,
                 device: torch.device | str, counter: PassCounter | None = None,
                 chunk: int = 1024) -> None:
        super().__init__()
        if len(draws) < 1:
            raise ValueError("need at least one noise draw")
        self.device = torch.device(device)
        self.model = _frozen_copy(model, self.device)
        self.noise, self.draws = noise, draws.to(self.device)
        self.counter, self.chunk = counter, max(1, chunk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = []
        s = len(self.draws)
        for image in x.to(self.device, torch.float32):
            total: torch.Tensor | None = None
            for start in range(0, s, self.chunk):
                noise = self.draws[start : start + self.chunk]
                inputs = self.noise.apply(image.unsqueeze(0).expand(len(noise), -1, -1, -1),
                                          noise)
                part = torch.softmax(self.model(inputs), dim=1).sum(dim=0)
                total = part if total is None else total + part
            assert total is not None
            rows.append(torch.log((total / s).clamp_min(1e-12)))
        if self.counter is not None:
            self.counter.forward_passes += x.shape[0] * s
        return torch.stack(rows).to(x.device)


class MeanSoftmax(nn.Module):
    """log of the mean softmax of several votes per image: (B, V, classes) logits -> (B, classes)
    log-probabilities (a partition defense's groups, ``defenses.partition``).

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits (B, V, classes).
        device: where it runs.
        counter: ``votes`` forward passes per image are added to ``counter.forward_passes``.
        votes: V, the forward passes one image costs.
    """

    def __init__(self, model: nn.Module, device: torch.device | str,
                 counter: PassCounter | None = None, votes: int = 1) -> None:
        super().__init__()
        self.device = torch.device(device)
        self.model = _frozen_copy(model, self.device)
        self.counter, self.votes = counter, votes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.counter is not None:
            self.counter.forward_passes += x.shape[0] * self.votes
        logits = self.model(x.to(self.device, torch.float32))
        mean = torch.softmax(logits, dim=-1).mean(dim=1)
        return torch.log(mean.clamp_min(1e-12)).to(x.device)
