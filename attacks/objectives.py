"""What the sparse attacks optimize and when they keep a point: the true class's margin on a
surrogate, and held-out votes of a stochastic defense."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from attacks.base import AttackConfig
from defenses.oracles import Oracle

__all__ = ["GradientConfig", "candidate_check", "holdout_check", "leads_by", "leads_other",
           "margin", "surrogate_says"]


def margin(scores: torch.Tensor, label: int) -> torch.Tensor:
    """scores[:, label] minus the largest other score, (B,): negative once another class leads.

    Args:
        scores: (B, classes) logits, log-probabilities or vote counts.
        label: the true class.
    """
    if scores.dim() != 2 or not 0 <= label < scores.shape[1] or scores.shape[1] < 2:
        raise ValueError(f"need (B, classes >= 2) scores and a class among them, got "
                         f"{tuple(scores.shape)} and {label}")
    others = scores.clone()
    others[:, label] = -torch.inf
    return scores[:, label] - others.max(dim=1).values


def surrogate_says(model: Callable[[torch.Tensor], torch.Tensor], label: int,
                   confidence: float = 0.0) -> Callable[[torch.Tensor], bool]:
    """One query of a differentiable stand-in: does another class lead ``label`` by more than
    ``confidence`` for the image (1, C, H, W)?"""

    def is_adversarial(x: torch.Tensor) -> bool:
        with torch.no_grad():
            return bool(margin(model(x), label)[0] < -confidence)
    return is_adversarial


def leads_other(scores: Callable[[torch.Tensor], torch.Tensor], label: int,
                lead: float = 0.0) -> Callable[[torch.Tensor], bool]:
    """One query of a score oracle (logits or vote counts): does another class than ``label``
    lead for the image (1, C, H, W), by more than a ``lead`` share of all votes (vote counts
    only; 0 for logits)? Ties go to the lower class index."""

    return lambda x: leads_by(scores(x)[0].tolist(), label, lead)


def leads_by(row: list[float], label: int, lead: float = 0.0) -> bool:
    """Whether another class than ``label`` tops ``row`` (ties to the lower index) and beats
    ``label`` by more than a ``lead`` share of the row's sum (votes; 0 for logits)."""
    top = max(range(len(row)), key=lambda c: (row[c], -c))
    return top != label and row[top] - row[label] > lead * sum(row)


def candidate_check(model: Callable[[torch.Tensor], torch.Tensor], label: int,
                    confidence: float,
                    holdout: Callable[[torch.Tensor], bool] | None
                    ) -> Callable[[torch.Tensor], bool]:
    """Whether a gradient attack keeps a point: its surrogate's margin is below -``confidence``
    and, for a stochastic defense, another class also leads the votes of held-out draws
    (``holdout``, from ``leads_other``), which the surrogate was not fitted to."""
    says = surrogate_says(model, label, confidence)
    if holdout is None:
        return says
    return lambda x: says(x) and holdout(x)


@dataclass(frozen=True, kw_only=True)
class GradientConfig(AttackConfig):
    """What every gradient attack here shares: how it sees a stochastic defense and when it keeps
    a point.

    Attributes:
        restarts: runs per image; they differ only through a stochastic defense's draws.
        eot_samples: noise draws of a stochastic defense's surrogate (ignored otherwise).
        confidence: the surrogate's margin must fall below -confidence for a point to count.
        holdout_samples: for a stochastic defense, a point also needs another class to lead the
            exact votes of this many other fixed draws, which the surrogate was not fitted to
            (0: no such check); a deterministic defense's own answer must be wrong too (any
            value but 0).
        holdout_lead: the share of those votes by which that class must lead: a search that
            stops where its own draws barely flip stops where N fresh ones most often do not.
        prune: give back every changed pixel the final point does not need
            (``attacks.prune``; at most one query per changed pixel).
    """

    restarts: int = 1
    eot_samples: int = 32
    confidence: float = 0.0
    holdout_samples: int = 500
    holdout_lead: float = 0.1
    prune: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eot_samples < 1:
            raise ValueError(f"eot_samples must be >= 1, got {self.eot_samples}")
        if self.holdout_samples < 0 or self.confidence < 0:
            raise ValueError("holdout_samples and confidence must be >= 0")
        if not 0 <= self.holdout_lead < 1:
            raise ValueError(f"holdout_lead must be in [0, 1), got {self.holdout_lead}")


class _Target(Protocol):
    @property
    def samples(self) -> int: ...

    def scores(self, restart: int, draws: int, stream: int = 0) -> Oracle: ...


def holdout_check(target: _Target, restart: int, label: int, samples: int,
                  lead: float) -> Callable[[torch.Tensor], bool] | None:
    """The held-out vote check of an attack's points in ``restart``: another class leads the
    exact votes of ``samples`` fixed draws by more than a ``lead`` share; None with ``samples``
    0. Its draws are the restart's second ``scores`` stream, so a score-based attack (on the
    first) searches on other draws than it is checked on. Against a deterministic defense it is
    the defense's own answer (its scores' argmax), which a surrogate need not match: a partition
    defense's surrogate averages its groups' softmax, while it answers by their votes."""
    if samples == 0:
        return None
    if target.samples == 0:
        return leads_other(target.scores(restart, 0), label)
    return leads_other(target.scores(restart, samples, stream=1), label, lead)
