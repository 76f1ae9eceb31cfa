"""Lee et al. (NeurIPS 2019) random-value smoothing with its discrete L0 certificate.

Each coordinate (channel value) of the image keeps its value with probability kappa; otherwise it
takes one of the other ``num_values - 1`` levels, uniformly (docs/protocol.md §3). The smoothed
classifier votes over such noised copies; the radius comes from ``defenses.lee_math``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from defenses.lee_math import check_kappa, lee_l0_radius, to_fraction
from defenses.smoothing import SmoothedClassifier
from defenses.stats import clopper_pearson_lower

__all__ = ["KEEP", "LeeNoise", "LeeRule", "LeeSmoothing", "apply_lee_noise", "sample_lee_noise"]

KEEP = -1
"""The noise entry of a coordinate that keeps its value; other entries are level indices."""


def _keep_probability(kappa: float, num_values: int) -> float:
    """kappa' = kappa - beta: keep outright with kappa', else draw from all levels (Lee's trick)."""
    q = to_fraction(kappa)
    check_kappa(q, num_values)
    return float(q - (1 - q) / (num_values - 1))


def sample_lee_noise(num: int, shape: tuple[int, int, int], kappa: float, num_values: int,
                     generator: torch.Generator) -> torch.Tensor:
    """``num`` draws of Lee et al.'s noise for an image of shape (C, H, W).

    A coordinate is kept outright with probability kappa' = kappa - beta, beta = (1 - kappa) / K,
    and otherwise set to a level drawn uniformly from all K + 1 = ``num_values`` levels (which may
    be its own). So it keeps its value with probability exactly kappa and moves to each other level
    with probability beta.

    Returns:
        int16 tensor (num, C, H, W) on the generator's device: KEEP (-1), or the index
        0..num_values-1 of the level the coordinate takes (level j is the value
        j / (num_values - 1)).
    """
    if num < 0:
        raise ValueError(f"num must be >= 0, got {num}")
    device = generator.device
    keep = torch.rand((num, *shape), generator=generator, device=device) < \
        _keep_probability(kappa, num_values)
    levels = torch.randint(0, num_values, (num, *shape), generator=generator, dtype=torch.int16,
                           device=device)
    return levels.masked_fill_(keep, KEEP)


def apply_lee_noise(x: torch.Tensor, noise: torch.Tensor, num_values: int) -> torch.Tensor:
    """Images x (M, C, H, W) in [0, 1] with the coordinates noise moves replaced by their level."""
    noise = noise.to(x.device)
    values = noise.to(x.dtype) / (num_values - 1)
    return torch.where(noise == KEEP, x, values)


@dataclass(frozen=True)
class LeeNoise:
    """Lee et al.'s noise: each coordinate keeps its value with probability kappa, else moves to
    one of the other ``num_values - 1`` levels, uniformly (``sample_lee_noise``)."""

    kappa: float
    num_values: int = 256

    def __post_init__(self) -> None:
        _keep_probability(self.kappa, self.num_values)

    def sample(self, num: int, shape: tuple[int, int, int],
               generator: torch.Generator) -> torch.Tensor:
        return sample_lee_noise(num, shape, self.kappa, self.num_values, generator)

    def apply(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return apply_lee_noise(x, noise, self.num_values)

    def reads(self, noise: torch.Tensor) -> torch.Tensor:
        """A draw depends on the positions where it keeps at least one channel value."""
        return (noise == KEEP).any(dim=1).flatten(1)

    def input_channels(self, channels: int) -> int:
        return channels

    def display(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.apply(x.expand(len(noise), -1, -1, -1), noise)


@dataclass(frozen=True)
class LeeRule:
    """Lee et al.'s certificate: the largest r with p̲_A > theta_1..theta_r (their
    Neyman-Pearson thresholds), p̲_A a one-sided Clopper-Pearson bound at alpha. Lee counts r in
    coordinates (channel values); a change at one pixel position of a C-channel image can change
    C of them, so the radius given here, in pixel positions, is r // C (the same on MNIST)."""

    kappa: float
    num_values: int = 256
    name: str = "lee"

    def bound_and_radius(self, counts: list[int], label: int, n: int, alpha: float,
                         shape: tuple[int, int, int]) -> tuple[float, int]:
        channels = shape[0]
        coordinates = channels * shape[1] * shape[2]
        p_lower = clopper_pearson_lower(counts[label], n, alpha)
        radius = lee_l0_radius(p_lower, self.kappa, self.num_values, max_radius=coordinates)
        return p_lower, radius if radius < 0 else radius // channels


class LeeSmoothing(SmoothedClassifier):
    """Lee et al.'s random-value smoothed classifier behind the Defense protocol.

    Args:
        model: base classifier, noised images (B, C, H, W) -> (B, num_classes) logits.
        kappa: probability that a coordinate keeps its value, 1/num_values < kappa <= 1.
        num_values: levels per coordinate (256 for 8-bit images).
        **kwargs: n0, n, alpha, abstain, num_classes, batch_size, precision, calibration, device,
            generator, name (``SmoothedClassifier``).

    CERTIFY bounds the top class with a one-sided Clopper-Pearson bound at alpha and certifies
    with ``LeeRule``, in pixel positions.
    """

    def __init__(self, model: nn.Module, kappa: float, *, num_values: int = 256,
                 **kwargs: Any) -> None:
        kwargs.setdefault("name", f"lee-kappa{kappa}")
        super().__init__(model, LeeNoise(kappa, num_values), LeeRule(kappa, num_values),
                         **kwargs)
        self.kappa, self.num_values = kappa, num_values
