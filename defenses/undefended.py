"""The undefended classifier behind the Defense protocol: never abstains, certified radius 0."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from defenses.base import L0_PIXELS, Certificate, Prediction
from defenses.oracles import LogitOracle, Oracle, Queries
from defenses.precision import InferenceModel, Precision
from defenses.surrogate import Logits

__all__ = ["Undefended"]


class Undefended:
    """A plain classifier on the unmodified image (the paper's "CNN" row of Table 2).

    Args:
        model: (B, C, H, W) images in [0, 1] -> (B, num_classes) logits.
        num_classes: number of classes.
        batch_size: forward batch (speed only).
        precision: the classifier's arithmetic, "fp32", "bf16" or "int8"
            (``defenses.precision``).
        calibration: training images (B, C, H, W) that calibrate int8; ignored otherwise.
        device: where the model runs.
        name: the registry name.

    ``predict`` returns the argmax class, never ABSTAIN; ``certify`` certifies nothing beyond the
    image itself (radius 0, p_lower 1.0 because the answer is deterministic). ``generators`` are
    accepted for the protocol and ignored. An attack queries its logits (``oracle``).
    """

    samples = 0
    alpha = 0.0
    threat_model = L0_PIXELS

    def __init__(self, model: nn.Module, *, num_classes: int = 10, batch_size: int = 1024,
                 precision: Precision = "fp32",
                 calibration: torch.Tensor | None = None, device: torch.device | str = "cpu",
                 name: str = "cnn") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model.eval()
        self.calibration = calibration
        # an attack queries one image at a time: no padding to batch-invariant sizes
        self.infer = InferenceModel(model, precision, device=device, batch_invariant=False,
                                    calibration=calibration)
        self.precision = precision
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.name = name
        self.forward_passes = 0

    @torch.inference_mode()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) on the CPU for images (B, C, H, W) in [0, 1]."""
        if x.dim() != 4:
            raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
        out = [self.infer(x[s : s + self.batch_size].float()).cpu()
               for s in range(0, x.shape[0], self.batch_size)]
        self.forward_passes += x.shape[0]
        return torch.cat(out)

    def predict(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Prediction]:
        """The argmax class of each image (never ABSTAIN)."""
        return [Prediction(int(c)) for c in self.logits(x).argmax(1).tolist()]

    def certify(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Certificate]:
        """The argmax class with radius 0: an undefended classifier certifies only x itself."""
        return [Certificate(p.label, 0, 1.0, certificate="none") for p in self.predict(x)]

    def oracle(self, shape: tuple[int, int, int], label: int, generator: torch.Generator,
               queries: Queries) -> Oracle:
        """The logits of every query (no noise: ``generator`` and ``queries`` are unused)."""
        return LogitOracle(self)

    def surrogate(self, shape: tuple[int, int, int], generator: torch.Generator,
                  draws: int) -> nn.Module:
        """The classifier's own logits in fp32, differentiable (no noise: the arguments are
        unused)."""
        return Logits(self.model, self.device, self)
