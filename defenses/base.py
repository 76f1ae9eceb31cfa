"""The one defense interface: ABSTAIN, Prediction, Certificate, and the protocols every defense,
noise model and certificate rule follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
from torch import nn

if TYPE_CHECKING:
    from defenses.oracles import Oracle, Queries

__all__ = ["ABSTAIN", "L0_PIXELS", "L2", "THREAT_MODELS", "Certificate", "CertificateRule",
           "Defense", "NoiseModel", "Prediction"]

ABSTAIN: int = -1
"""The only abstention sentinel: the label a smoothed classifier returns when it declines."""

L0_PIXELS = "l0-pixels"
"""The threat model of the sparse certificates and attacks: L0, counted in pixel positions (a
position changed in any of its channels counts once; d = H * W)."""

L2 = "l2"
"""The threat model of Gaussian smoothing's certificate and the L2 attacks: the Euclidean norm of
the perturbation over all coordinates (channel values in [0, 1])."""

THREAT_MODELS = (L0_PIXELS, L2)
"""What a radius or an attack's size can count. Results of different threat models are never
joined or compared."""


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
        radius: certified radius in the defense's threat model (L0: pixel positions, a whole
            number; L2: a Euclidean distance); 0 when nothing beyond x is certified.
            It is never negative here: "misclassified" (-1) is decided by the caller, who knows y.
        p_lower: one-sided lower confidence bound on the selected class's probability.
        selection_counts: votes per class over the N0 selection samples.
        counts: votes per class over the N estimation samples.
        certificate: which certificate produced ``radius`` (for example ``"levine-feizi"``).
    """

    label: int
    radius: float
    p_lower: float
    selection_counts: tuple[int, ...] = ()
    counts: tuple[int, ...] = ()
    certificate: str = ""

    @property
    def abstained(self) -> bool:
        return self.label == ABSTAIN


class NoiseModel(Protocol):
    """How a smoothed defense noises an image: the one place its noise is drawn, used alike by
    training, certification, attacks and figures.

    A noise tensor's first dimension indexes draws; ``shape`` is one image's (C, H, W).
    """

    def sample(self, num: int, shape: tuple[int, int, int],
               generator: torch.Generator) -> torch.Tensor:
        """``num`` independent draws for one image, from ``generator`` only, on its device (the
        CPU, or the defense's device when certification draws there)."""

    def apply(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The base classifier's inputs: images x (M, C, H, W) in [0, 1] under draws (M, ...)."""

    def reads(self, noise: torch.Tensor) -> torch.Tensor:
        """Bool (M, H * W): the pixel positions each draw's noised input depends on."""

    def input_channels(self, channels: int) -> int:
        """Channels of the base classifier's input for images with ``channels`` channels."""

    def display(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What a person should see of each draw: images (M, C, H, W), NaN where a pixel carries
        no value (an ablated pixel of the multichannel encoding)."""


class CertificateRule(Protocol):
    """Turns the N estimation votes of a smoothed classifier into a bound and a radius."""

    @property
    def name(self) -> str:
        """The name records give the certificate (e.g. "levine-feizi")."""

    def bound_and_radius(self, counts: list[int], label: int, n: int, alpha: float,
                         shape: tuple[int, int, int]) -> tuple[float, float]:
        """(p_lower, radius) for the selected ``label`` from ``counts`` (summing to n) at
        failure probability ``alpha``; radius -1 when nothing is certified. ``shape`` is the
        image's (C, H, W)."""


@runtime_checkable
class Defense(Protocol):
    """What every defense offers: PREDICT, CERTIFY and an attack's view of it.

    ``x`` is a float tensor of shape (B, C, H, W) with values in [0, 1]. ``generators`` is one
    ``torch.Generator`` per image (so an image's result does not depend on the batch it sits in),
    or None for the defense's own stream. Hyperparameters (k, N0, N, alpha, ...) are fixed when the
    defense is built.

    Attributes:
        name: the registry name.
        num_classes: number of classes.
        samples: N, the votes of PREDICT and of each attack query; 0 for a deterministic defense
            (it never abstains).
        alpha: PREDICT's two-sided level (unused when ``samples`` is 0).
        threat_model: what its radius counts (``L0_PIXELS`` or ``L2``).
        forward_passes: base-classifier forward passes so far (a counter for measurements).
    """

    @property
    def name(self) -> str: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def samples(self) -> int: ...

    @property
    def alpha(self) -> float: ...

    @property
    def threat_model(self) -> str: ...

    @property
    def forward_passes(self) -> int: ...

    def predict(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Prediction]: ...

    def certify(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Certificate]: ...

    def oracle(self, shape: tuple[int, int, int], label: int, generator: torch.Generator,
               queries: Queries) -> Oracle:
        """What an attack on one image of ``shape`` (C, H, W) with true ``label`` queries:
        scores per query (``defenses.oracles``), noise drawn from ``generator``."""

    def surrogate(self, shape: tuple[int, int, int], generator: torch.Generator,
                  draws: int) -> nn.Module:
        """What a gradient attack differentiates: (B, C, H, W) in [0, 1] -> (B, classes) scores
        whose argmax stands in for the answer (logits; for a smoothed defense the log mean
        softmax over ``draws`` fixed noise draws from ``generator``, ``defenses.surrogate``)."""
