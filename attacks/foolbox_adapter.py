"""Everything that touches foolbox: a defense's oracle as a foolbox 3 model, and the criterion
"misclassified or abstained" under which an abstention is a successful attack (docs/protocol.md),
and the seeding of the global generators foolbox draws from.
"""

from __future__ import annotations

from typing import Any

import eagerpy as ep
import foolbox as fb
import numpy as np
import torch
from torch import nn

from attacks.base import wrong_or_abstained
from defenses.oracles import Oracle

__all__ = ["MisclassifiedOrAbstained", "OracleModule", "foolbox_model", "seed_foolbox"]


def seed_foolbox(seed: int) -> None:
    """Seed the global torch and numpy generators, which foolbox's attacks draw from."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


class MisclassifiedOrAbstained(fb.criteria.Criterion):
    """foolbox criterion: adversarial if the defense answers a wrong class or abstains.

    Args:
        labels: true classes (B,).
        alpha: see ``wrong_or_abstained``; None for a classifier that never abstains.
    """

    def __init__(self, labels: torch.Tensor, alpha: float | None) -> None:
        super().__init__()
        self.labels = [int(v) for v in labels.tolist()]
        self.alpha = alpha

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(labels={self.labels}, alpha={self.alpha})"

    def __call__(self, perturbed: Any, outputs: Any) -> Any:
        outputs_, restore_type = ep.astensor_(outputs)
        rows = outputs_.numpy().tolist()
        if len(rows) != len(self.labels):
            raise ValueError(f"{len(rows)} outputs for {len(self.labels)} labels")
        adversarial = np.array([wrong_or_abstained(row, y, self.alpha)
                                for row, y in zip(rows, self.labels, strict=True)])
        return restore_type(ep.from_numpy(outputs_, adversarial))


class OracleModule(nn.Module):
    """An oracle as an ``nn.Module``: forward(x (B, C, H, W) in [0, 1]) -> scores (B, classes)."""

    def __init__(self, oracle: Oracle) -> None:
        super().__init__()
        self.oracle = oracle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.oracle(x.detach())


def foolbox_model(oracle: Oracle) -> fb.PyTorchModel:
    """A foolbox 3 model (bounds (0, 1), CPU) that answers through ``oracle``."""
    return fb.PyTorchModel(OracleModule(oracle).eval(), bounds=(0.0, 1.0), device="cpu")
