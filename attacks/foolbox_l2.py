"""foolbox 3's minimum-L2 gradient attacks: FMN-L2 (Pintor et al. 2021), DDN (Rony et al. 2019)
and L2 Brendel-Bethge (Brendel et al. 2019), on the target's differentiable stand-in.

They are the L2 threat model's attacks (``defenses.base.L2``): their sizes are Euclidean norms
over all coordinates, reported apart from every L0 result and beside the L2 certificate of
Gaussian smoothing (``gaussian-sigma{S}``). foolbox's point is settled on the ray from the clean
image (``attacks.line_search``) against the stand-in and, for a smoothed defense, held-out votes
(``attacks.objectives.GradientConfig``), then confirmed on the defense with fresh noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from attacks.foolbox_minimum import FoolboxMinimum, require_numba
from attacks.line_search import shortest_on_ray
from attacks.objectives import GradientConfig
from defenses.base import L2

__all__ = ["DDN", "FMNL2", "BrendelBethgeL2", "L2Config"]


@dataclass(frozen=True, kw_only=True)
class L2Config(GradientConfig):
    """An L2 attack's settings, with the surrogate settings of ``GradientConfig`` (eot_samples,
    confidence, holdout_samples, holdout_lead; ``prune`` here means the line search that
    settles foolbox's point on its ray, ``attacks.line_search``).

    Attributes:
        steps: the attack's steps.
        search_steps: bisection steps of the line search.
    """

    steps: int = 200
    search_steps: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1 or self.search_steps < 0:
            raise ValueError(f"need steps >= 1 and search_steps >= 0, got {self.steps} and "
                             f"{self.search_steps}")


@dataclass(frozen=True, kw_only=True)
class BrendelBethgeL2Config(L2Config):
    """L2 Brendel-Bethge's settings: foolbox's 1,000 steps (its small trust-region steps move
    little in fewer: 100 left 2.6 times the nearest distance on a linear classifier)."""

    steps: int = 1000


class _FoolboxL2(FoolboxMinimum):
    config: L2Config
    config_type = L2Config
    threat_model = L2

    def settle(self, says: Callable[[torch.Tensor], bool], x: torch.Tensor,
               x_adv: torch.Tensor) -> torch.Tensor | None:
        if not self.config.prune:
            return x_adv if says(x_adv) else None
        return shortest_on_ray(says, x, x_adv, steps=self.config.search_steps)[0]


class FMNL2(_FoolboxL2):
    """FMN-L2 (Pintor et al. 2021) through foolbox 3: fast minimum-norm L2 attack.

    Shape: x is (1, C, H, W) with values in [0, 1]; the size is the L2 norm.
    """

    name = "fmn-l2"
    description = ("FMN-L2 (Pintor et al. 2021) through foolbox 3, L2 threat model; smoothed "
                   "defenses through an expectation-over-transformation surrogate, confirmed "
                   "on the defense with fresh noise")

    def foolbox_attack(self) -> Any:
        import foolbox as fb

        return fb.attacks.L2FMNAttack(steps=self.config.steps)


class DDN(_FoolboxL2):
    """Decoupled direction and norm (Rony et al. 2019) through foolbox 3.

    Shape: x is (1, C, H, W) with values in [0, 1]; the size is the L2 norm.
    """

    name = "ddn"
    description = ("DDN (Rony et al. 2019) through foolbox 3, L2 threat model; smoothed "
                   "defenses through an expectation-over-transformation surrogate, confirmed "
                   "on the defense with fresh noise")

    def foolbox_attack(self) -> Any:
        import foolbox as fb

        return fb.attacks.DDNAttack(steps=self.config.steps)


class BrendelBethgeL2(_FoolboxL2):
    """L2 Brendel-Bethge (Brendel et al. 2019) through foolbox 3 (needs numba), started from
    foolbox's blended-uniform-noise search.

    Shape: x is (1, C, H, W) with values in [0, 1]; the size is the L2 norm.
    """

    name = "bb-l2"
    config_type = BrendelBethgeL2Config
    description = ("L2 Brendel-Bethge (Brendel et al. 2019) through foolbox 3 (needs numba), "
                   "L2 threat model; smoothed defenses through an expectation-over-"
                   "transformation surrogate, confirmed on the defense with fresh noise")

    def foolbox_attack(self) -> Any:
        import foolbox as fb

        require_numba(self.name)
        return fb.attacks.L2BrendelBethgeAttack(steps=self.config.steps)
