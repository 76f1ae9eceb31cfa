"""The one defense interface: ABSTAIN, Prediction, Certificate and the Defense protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

__all__ = ["ABSTAIN", "Certificate", "Defense", "Prediction"]

ABSTAIN: int = -1
"""The only abstention sentinel: the label a smoothed classifier returns when it declines."""


@dataclass(frozen=True)
class Prediction:
    """The outcome of PREDICT for one image.

    Attributes:
        label: predicted class, or ABSTAIN.
        counts: hard-vote counts per class over the samples used (empty for deterministic defenses).
        pvalue: two-sided binomial test p-value of the top two counts (0.0 for deterministic ones).
    """

    label: int
    counts: tuple[int, ...] = ()
    pvalue: float = 0.0

    @property
    def abstained(self) -> bool:
        return self.label == ABSTAIN


@dataclass(frozen=True)
class Certificate:
    """The outcome of CERTIFY for one image.

    Attributes:
        label: the certified class (the class selected from the N0 selection votes), or ABSTAIN.
        radius: certified L0 radius in pixel positions; 0 when nothing beyond x is certified.
            It is never negative here: "misclassified" (-1) is decided by the caller, who knows y.
        p_lower: one-sided lower confidence bound on the selected class's probability.
        selection_counts: votes per class over the N0 selection samples.
        counts: votes per class over the N estimation samples.
        certificate: which certificate produced ``radius`` (for example ``"levine-feizi"``).
    """

    label: int
    radius: int
    p_lower: float
    selection_counts: tuple[int, ...] = ()
    counts: tuple[int, ...] = ()
    certificate: str = ""

    @property
    def abstained(self) -> bool:
        return self.label == ABSTAIN


@runtime_checkable
class Defense(Protocol):
    """What every defense offers: PREDICT and CERTIFY on a batch of images.

    ``x`` is a float tensor of shape (B, C, H, W) with values in [0, 1]. ``generators`` is one
    ``torch.Generator`` per image (so an image's result does not depend on the batch it sits in),
    or None for the defense's own stream. Hyperparameters (k, N0, N, alpha, ...) are fixed when the
    defense is built.
    """

    name: str

    def predict(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Prediction]: ...

    def certify(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Certificate]: ...
