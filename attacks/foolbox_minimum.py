"""foolbox 3's minimum-norm attacks on a target's differentiable stand-in, in any threat model.

foolbox attacks the stand-in (a deterministic defense's logits; a smoothed defense's
expectation-over-transformation surrogate) under plain misclassification. Each attack then
settles the point it returns against the stand-in and, for a smoothed defense, held-out votes
(``attacks.objectives``): an L0 attack keeps it when they agree and prunes it, an L2 attack
searches along the line from the clean image (``attacks.line_search``). What is left is confirmed
on the defense, and its size is measured in the attack's threat model.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import torch

from attacks.base import Attack, AttackResult, AttackTarget, RestartResult, run_restarts
from attacks.base import restart_result as finish
from attacks.objectives import GradientConfig, candidate_check, holdout_check

__all__ = ["Counted", "FoolboxMinimum", "require_numba"]

log = logging.getLogger(__name__)


class FoolboxMinimum(Attack):
    """A foolbox minimum-norm attack on the target's differentiable stand-in.

    A subclass gives the foolbox attack (``foolbox_attack``) and how a returned point is settled
    (``settle``); its config is a ``GradientConfig``.
    """

    config: GradientConfig

    @abstractmethod
    def foolbox_attack(self) -> Any:
        """The foolbox 3 attack object (a ``MinimizationAttack``)."""

    @abstractmethod
    def settle(self, says: Callable[[torch.Tensor], bool], x: torch.Tensor,
               x_adv: torch.Tensor) -> torch.Tensor | None:
        """The point to confirm, from foolbox's ``x_adv`` (clipped to [0, 1]), given ``says``,
        the stand-in's and held-out votes' verdict; None to give it up."""

    def run(self, x: torch.Tensor, label: int, target: AttackTarget,
            on_restart: Callable[[RestartResult], None] | None = None) -> AttackResult:
        import foolbox as fb

        from attacks.foolbox_adapter import seed_foolbox

        attack = self.foolbox_attack()

        def one(r: int) -> RestartResult:
            began = time.perf_counter()
            seed_foolbox(target.seed(r))
            surrogate = Counted(target.surrogate(r, self.config.eot_samples))
            model = fb.PyTorchModel(surrogate.eval(), bounds=(0.0, 1.0), device="cpu")
            criterion = fb.criteria.Misclassification(torch.tensor([label]))
            x_adv: torch.Tensor | None
            try:
                x_adv = attack.run(model, x, criterion)
            except (AssertionError, ValueError, RuntimeError) as e:  # e.g. no start found
                log.debug("%s found nothing: %s", self.name, e)
                x_adv = None
            says = candidate_check(surrogate, label, self.config.confidence,
                                   holdout_check(target, r, label, self.config.holdout_samples,
                                                 self.config.holdout_lead))
            if x_adv is not None:
                x_adv = self.settle(says, x, x_adv.detach().clamp(0.0, 1.0))
            return finish(target, r, x, x_adv, surrogate.calls, began, self.threat_model)

        return run_restarts(self.config.restarts, one, on_restart)


def require_numba(attack: str) -> None:
    """RuntimeError naming ``attack`` unless numba, which foolbox's Brendel-Bethge attacks
    compile their optimizer with, can be imported."""
    try:
        import numba  # noqa: F401
    except ImportError:
        raise RuntimeError(f"{attack} needs numba: pip install numba") from None


class Counted(torch.nn.Module):
    """A module that counts the images it is called on."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module, self.calls = module, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += x.shape[0]
        out: torch.Tensor = self.module(x)
        return out
