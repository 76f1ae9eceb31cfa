"""Randomized ablation (Levine & Feizi 2020): its noise model, its certificates and the smoothed
classifier built from them.

The base classifier sees an image with only k of its d pixel positions kept (all channels of a
position together) and the rest encoded as NULL; the smoothed classifier returns the class most
often voted over many independent ablations. Statistics and radii come from the pure modules
``defenses.stats`` and ``defenses.ablation_math``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from defenses.ablation_math import l0_radius, l0_radius_pairwise
from defenses.encodings import Encoding, Fill, encode, fill_tensor
from defenses.masks import sample_keep_masks
from defenses.smoothing import SmoothedClassifier
from defenses.stats import clopper_pearson_lower, simultaneous_bounds

__all__ = ["CERTIFICATES", "AblationNoise", "LevineFeizi", "Pairwise", "RandomizedAblation",
           "ablation_rule"]

AblationCertificate = Literal["levine-feizi", "pairwise"]
CERTIFICATES: tuple[AblationCertificate, ...] = ("levine-feizi", "pairwise")


@dataclass(frozen=True)
class AblationNoise:
    """Keep k of the d = H * W pixel positions, uniformly, and encode the rest as NULL.

    A draw is a keep mask (H, W), bool; the noised input is ``encode(x, mask, encoding, fill)``.
    """

    k: int
    encoding: Encoding = Encoding.MULTICHANNEL
    fill: Fill = 0.0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got k={self.k}")

    def sample(self, num: int, shape: tuple[int, int, int],
               generator: torch.Generator) -> torch.Tensor:
        """Keep masks (num, H, W), bool: each a uniform k-subset of the H * W positions."""
        _, h, w = shape
        return sample_keep_masks(num, h * w, self.k, generator).view(num, h, w)

    def apply(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The encoded ablations (M, C', H, W) of images x (M, C, H, W) under keep masks noise."""
        return encode(x, noise, self.encoding, self.fill)

    def reads(self, noise: torch.Tensor) -> torch.Tensor:
        """An ablation depends exactly on the positions it keeps."""
        return noise.flatten(1)

    def input_channels(self, channels: int) -> int:
        return self.encoding.channels(channels)

    def display(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The kept pixels; NaN (multichannel NULL) or the fill value elsewhere."""
        views = x.expand(len(noise), -1, -1, -1).clone()
        if self.encoding is Encoding.MULTICHANNEL:
            return views.masked_fill_(~noise.unsqueeze(1), math.nan)
        keep = noise.unsqueeze(1).to(views.dtype)
        return views * keep + fill_tensor(self.fill, views) * (1.0 - keep)


@dataclass(frozen=True)
class LevineFeizi:
    """The paper's certificate: the largest rho with p̲_A - Delta(rho) > 1/2, p̲_A a one-sided
    Clopper-Pearson bound at alpha (docs/protocol.md)."""

    k: int
    name: str = "levine-feizi"

    def bound_and_radius(self, counts: list[int], label: int, n: int, alpha: float,
                         shape: tuple[int, int, int]) -> tuple[float, int]:
        d = shape[1] * shape[2]
        p_lower = clopper_pearson_lower(counts[label], n, alpha)
        return p_lower, l0_radius(p_lower, d, self.k)


@dataclass(frozen=True)
class Pairwise:
    """Jia et al. style: the largest rho with 2 Delta(rho) < p̲_A - p̄_B, with bounds on every
    class that hold together at alpha (docs/protocol.md)."""

    k: int
    name: str = "pairwise"

    def bound_and_radius(self, counts: list[int], label: int, n: int, alpha: float,
                         shape: tuple[int, int, int]) -> tuple[float, int]:
        d = shape[1] * shape[2]
        p_lower, p_upper = simultaneous_bounds(counts, label, alpha)
        return p_lower, l0_radius_pairwise(p_lower, p_upper, d, self.k)


def ablation_rule(certificate: str, k: int) -> LevineFeizi | Pairwise:
    """The certificate rule named ``certificate`` ("levine-feizi" or "pairwise") for k."""
    if certificate == "pairwise":
        return Pairwise(k)
    if certificate == "levine-feizi":
        return LevineFeizi(k)
    raise ValueError(f"unknown certificate {certificate!r}; one of {CERTIFICATES}")


class RandomizedAblation(SmoothedClassifier):
    """The randomized-ablation smoothed classifier behind the Defense protocol.

    Args:
        model: base classifier, (B, C', H, W) encoded images -> (B, num_classes) logits.
        k: pixel positions kept per ablation.
        encoding: NULL encoding (MULTICHANNEL doubles the channels).
        fill: ablated value under MEAN_FILL.
        certificate: "levine-feizi" (the paper: p̲_A - Delta(rho) > 1/2 from a one-sided
            Clopper-Pearson bound at alpha) or "pairwise" (Jia et al. style: 2 Delta(rho) <
            p̲_A - p̄_B, with bounds on every class that hold together at alpha).
        **kwargs: n0, n, alpha, abstain, num_classes, batch_size, precision, calibration, device,
            generator, name (``SmoothedClassifier``).

    Shape: x is (B, C, H, W) with values in [0, 1]; d = H * W.

    Example:
        >>> defense = RandomizedAblation(model, k=45)
        >>> defense.certify(x)[0].radius
    """

    def __init__(
        self,
        model: nn.Module,
        k: int,
        *,
        encoding: Encoding = Encoding.MULTICHANNEL,
        fill: Fill = 0.0,
        certificate: AblationCertificate = "levine-feizi",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", f"ablation-k{k}")
        super().__init__(model, AblationNoise(k, encoding, fill), ablation_rule(certificate, k),
                         **kwargs)
        self.k, self.encoding, self.fill = k, encoding, fill

    def _check_input(self, x: torch.Tensor) -> None:
        super()._check_input(x)
        if self.k > x.shape[-2] * x.shape[-1]:
            raise ValueError(f"k={self.k} exceeds d={x.shape[-2] * x.shape[-1]}")

    def mask_votes(self, x: torch.Tensor, keeps: torch.Tensor) -> torch.Tensor:
        """Base-classifier votes (M,) under keep masks (M, H, W) of one image (1, C, H, W)."""
        if keeps.shape[1:] != x.shape[-2:]:
            raise ValueError(f"need (M, H, W) masks for {tuple(x.shape)}, got "
                             f"{tuple(keeps.shape)}")
        return self.noise_votes(x, keeps)
