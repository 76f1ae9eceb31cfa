"""Cohen et al. (2019) Gaussian smoothing with its L2 certificate.

The base classifier sees the image plus isotropic Gaussian noise N(0, sigma^2 I) on every
coordinate (channel value), unclipped; the smoothed classifier returns the class most often voted
over such copies. CERTIFY bounds that class's probability with a one-sided Clopper-Pearson bound
and certifies the L2 radius sigma * PhiInverse(p_lower) (``defenses.gaussian_math``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from defenses.base import L2
from defenses.gaussian_math import check_sigma, l2_radius
from defenses.smoothing import SmoothedClassifier
from defenses.stats import clopper_pearson_lower

__all__ = ["GaussianNoise", "GaussianSmoothing", "L2Rule"]


@dataclass(frozen=True)
class GaussianNoise:
    """Isotropic Gaussian noise of standard deviation ``sigma`` on every coordinate.

    A draw is a float32 tensor (C, H, W); the noised input is ``x + noise`` (not clipped to
    [0, 1], as Cohen et al. train and certify).
    """

    sigma: float

    def __post_init__(self) -> None:
        check_sigma(self.sigma)

    def sample(self, num: int, shape: tuple[int, int, int],
               generator: torch.Generator) -> torch.Tensor:
        """(num, C, H, W) float32 draws of N(0, sigma^2), on the generator's device."""
        if num < 0:
            raise ValueError(f"num must be >= 0, got {num}")
        noise = torch.randn((num, *shape), generator=generator, device=generator.device)
        return noise.mul_(self.sigma)

    def apply(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + noise.to(x.device, x.dtype)

    def reads(self, noise: torch.Tensor) -> torch.Tensor:
        """Every noised copy depends on every pixel position."""
        return torch.ones(len(noise), noise.shape[-2] * noise.shape[-1], dtype=torch.bool,
                          device=noise.device)

    def input_channels(self, channels: int) -> int:
        return channels

    def display(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The noised copies, clipped to [0, 1] for display only."""
        return self.apply(x.expand(len(noise), -1, -1, -1), noise).clamp(0.0, 1.0)


@dataclass(frozen=True)
class L2Rule:
    """Cohen et al.'s certificate: p_lower a one-sided Clopper-Pearson bound at alpha on the
    selected class's votes, radius sigma * PhiInverse(p_lower) in L2 (-1 when p_lower <= 1/2)."""

    sigma: float
    name: str = "cohen-l2"

    def bound_and_radius(self, counts: list[int], label: int, n: int, alpha: float,
                         shape: tuple[int, int, int]) -> tuple[float, float]:
        p_lower = clopper_pearson_lower(counts[label], n, alpha)
        return p_lower, l2_radius(p_lower, self.sigma)


class GaussianSmoothing(SmoothedClassifier):
    """Cohen et al.'s Gaussian-smoothed classifier behind the Defense protocol; its radius is an
    L2 distance on [0, 1] pixel values (``threat_model`` L2).

    Args:
        model: base classifier, noised images (B, C, H, W) -> (B, num_classes) logits.
        sigma: the noise's standard deviation.
        **kwargs: n0, n, alpha, abstain, num_classes, batch_size, precision, calibration, device,
            generator, name (``SmoothedClassifier``).
    """

    threat_model = L2

    def __init__(self, model: nn.Module, sigma: float, **kwargs: Any) -> None:
        kwargs.setdefault("name", f"gaussian-sigma{sigma}")
        super().__init__(model, GaussianNoise(sigma), L2Rule(sigma), **kwargs)
        self.sigma = sigma
