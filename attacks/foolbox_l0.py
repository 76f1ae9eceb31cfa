"""foolbox 3's minimum-L0 gradient attacks: FMN-L0 (Pintor et al. 2021) and L0 Brendel-Bethge
(Brendel et al. 2019), on the target's differentiable stand-in.

foolbox attacks the stand-in (a deterministic defense's logits; a smoothed defense's
expectation-over-transformation surrogate) under plain misclassification; the point it returns is
kept when the stand-in calls it adversarial (for a smoothed defense, when held-out votes agree:
``attacks.objectives.GradientConfig``; foolbox stops at the stand-in's boundary, so such points
are often refused), pruned greedily (``attacks.prune``) and confirmed on
the defense. foolbox counts L0 in
array elements, which is the pixel count on one-channel images; the L0 recorded here always
counts pixel positions. L0 Brendel-Bethge needs numba.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from attacks.foolbox_minimum import FoolboxMinimum, require_numba
from attacks.objectives import GradientConfig
from attacks.prune import prune

__all__ = ["FMNL0", "BrendelBethgeL0", "BrendelBethgeL0Config", "FMNL0Config"]


@dataclass(frozen=True, kw_only=True)
class FMNL0Config(GradientConfig):
    """FMN-L0's settings (foolbox's ``L0FMNAttack``), with the surrogate settings of
    ``GradientConfig`` (eot_samples, confidence, holdout_samples, holdout_lead, prune).

    Attributes:
        steps: FMN's steps.
    """

    steps: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


@dataclass(frozen=True, kw_only=True)
class BrendelBethgeL0Config(FMNL0Config):
    """L0 Brendel-Bethge's settings (foolbox's ``L0BrendelBethgeAttack``, started from foolbox's
    salt-and-pepper search: from its default blended-uniform-noise start, which changes every
    pixel, 1,000 steps left 156 to 221 pixels changed on the undefended CNN where this start gave
    4 to 20).

    Attributes:
        restarts: runs per image (each draws its own start).
        steps: the attack's steps.
        eot_samples: noise draws of a stochastic defense's surrogate (ignored otherwise).
    """

    steps: int = 1000


class _FoolboxL0(FoolboxMinimum):
    """A foolbox minimum-L0 attack: the point it returns is kept when the stand-in (and the
    held-out votes) call it adversarial, then pruned."""

    config: FMNL0Config

    def settle(self, says: Callable[[torch.Tensor], bool], x: torch.Tensor,
               x_adv: torch.Tensor) -> torch.Tensor | None:
        if not says(x_adv):
            return None
        return prune(says, x, x_adv)[0] if self.config.prune else x_adv


class FMNL0(_FoolboxL0):
    """FMN-L0 (Pintor et al. 2021) through foolbox 3: fast minimum-norm L0 attack.

    Shape: x is (1, C, H, W) with values in [0, 1]; L0 counts pixel positions.
    """

    name = "fmn-l0"
    config_type = FMNL0Config
    description = ("FMN-L0 (Pintor et al. 2021) through foolbox 3; smoothed defenses through an "
                   "expectation-over-transformation surrogate, confirmed on the defense")

    def foolbox_attack(self) -> Any:
        import foolbox as fb

        return fb.attacks.L0FMNAttack(steps=self.config.steps)


class BrendelBethgeL0(_FoolboxL0):
    """L0 Brendel-Bethge (Brendel et al. 2019) through foolbox 3 (needs numba).

    Shape: x is (1, C, H, W) with values in [0, 1]; L0 counts pixel positions.
    """

    name = "bb-l0"
    config_type = BrendelBethgeL0Config
    description = ("L0 Brendel-Bethge (Brendel et al. 2019) through foolbox 3 (needs numba); "
                   "smoothed defenses through an expectation-over-transformation surrogate, "
                   "confirmed on the defense")

    def foolbox_attack(self) -> Any:
        import foolbox as fb

        require_numba(self.name)
        return fb.attacks.L0BrendelBethgeAttack(init_attack=fb.attacks.SaltAndPepperNoiseAttack(),
                                                steps=self.config.steps)
