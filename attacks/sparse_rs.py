"""Sparse-RS (Croce et al., AAAI 2022), its L0 attack: a score-based random search over which k
pixel positions to change, made minimal by a budget search.

An attempt with budget k changes k random positions to random corners of the colour cube (each
channel 0 or 1; a corner equal to the clean pixel has one channel flipped, so every chosen
position changes). Each step swaps m of the changed positions for m unchanged ones with fresh
corners, and keeps the swap when the true class's margin does not grow. m is a fraction of k
that starts at ``fraction`` and shrinks on the schedule of Sparse-RS (halved after 1% of the
queries, and so on down to a twentieth). The attempt stops at the first point the oracle calls
adversarial. ``attacks.budget.smallest_budget`` searches k per image, below the caller's best,
and the result is pruned greedily (``attacks.prune``).

Scores: a deterministic defense's logits; for a smoothed one, exact vote counts over
``score_samples`` fixed noise draws of the restart (the target's ``scores``). A point counts as
adversarial when another class leads those votes by a ``vote_lead`` share (a point where a few
hundred votes barely flip is, most often, not adversarial for N fresh ones), and the final one is
confirmed on N fresh draws, where an abstention counts as success.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from attacks.base import (
    Attack,
    AttackConfig,
    AttackResult,
    AttackTarget,
    RestartResult,
    run_restarts,
)
from attacks.base import restart_result as finish
from attacks.budget import smallest_budget
from attacks.objectives import holdout_check, leads_by, leads_other, margin
from attacks.prune import prune
from defenses.oracles import Oracle

__all__ = ["SparseRS", "SparseRSConfig", "sparse_rs", "swap_fraction"]

# Sparse-RS's schedule: after these shares of the queries, the swapped fraction is divided by
_SCHEDULE = ((0.001, 2), (0.005, 4), (0.02, 5), (0.05, 6), (0.1, 8), (0.2, 10), (0.4, 12),
             (0.6, 15), (0.8, 20))


def swap_fraction(step: int, queries: int, fraction: float) -> float:
    """The share of the budget swapped at ``step`` of ``queries`` (Sparse-RS's schedule)."""
    divisor = 1
    for share, div in _SCHEDULE:
        if step > share * queries:
            divisor = div
    return fraction / divisor


@dataclass(frozen=True, kw_only=True)
class SparseRSConfig(AttackConfig):
    """Sparse-RS's settings.

    Attributes:
        restarts: budget searches per image.
        queries: queries per attempt (one budget).
        fraction: the share of the budget swapped at first.
        first_budget: the first budget of the search (doubled until an attempt succeeds).
        score_samples: fixed noise draws whose votes score a stochastic defense (ignored
            otherwise).
        vote_lead: for a stochastic defense, the share of those votes by which another class
            must lead for a point to count: a search that stops where its own draws barely
            flip stops where N fresh ones most often do not.
        holdout_samples: for a stochastic defense, a point also needs another class to lead
            the votes of this many other fixed draws, by the same share (0: no such check): the
            search picks pixels its own draws happen to read, which others do not.
        prune: give back every changed pixel the final point does not need
            (``attacks.prune``; at most one query per changed pixel).
    """

    restarts: int = 1
    queries: int = 1000
    fraction: float = 0.3
    first_budget: int = 8
    score_samples: int = 500
    vote_lead: float = 0.1
    holdout_samples: int = 500
    prune: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.holdout_samples < 0:
            raise ValueError(f"holdout_samples must be >= 0, got {self.holdout_samples}")
        for name in ("queries", "first_budget", "score_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.vote_lead < 1:
            raise ValueError(f"vote_lead must be in [0, 1), got {self.vote_lead}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")


def _corners(x: torch.Tensor, positions: torch.Tensor,
             generator: torch.Generator) -> torch.Tensor:
    """Random colour-cube corners (C, len(positions)) for ``positions`` of x (1, C, H, W), each
    different from the clean pixel there."""
    c = x.shape[1]
    clean = x[0].flatten(1)[:, positions]
    values = (torch.rand((c, len(positions)), generator=generator) < 0.5).to(x.dtype)
    same = (values == clean).all(dim=0)
    if bool(same.any()):
        flip = torch.randint(c, (int(same.sum()),), generator=generator)
        cols = same.nonzero().flatten()
        values[flip, cols] = 1.0 - values[flip, cols]
    return values


def _place(x: torch.Tensor, positions: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[0].view(x.shape[1], -1)[:, positions] = values
    return out


def sparse_rs(oracle: Oracle, x: torch.Tensor, label: int, k: int, config: SparseRSConfig,
              generator: torch.Generator, lead: float = 0.0,
              holdout: Callable[[torch.Tensor], bool] | None = None) -> torch.Tensor | None:
    """One Sparse-RS attempt with budget k on x (1, C, H, W): the first point whose scores
    ``oracle`` leads with another class than ``label`` (by more than a ``lead`` share of the
    votes) and that ``holdout``, if given, accepts, or None."""
    d = x.shape[-2] * x.shape[-1]
    k = min(k, d)
    order = torch.randperm(d, generator=generator)
    changed, unchanged = order[:k], order[k:]
    values = _corners(x, changed, generator)
    current = _place(x, changed, values)
    scores = oracle(current)
    if leads_by(scores[0].tolist(), label, lead) and (holdout is None or holdout(current)):
        return current
    best = float(margin(scores, label)[0])
    for step in range(1, config.queries):
        if len(unchanged) == 0:
            return None
        m = max(1, min(int(swap_fraction(step, config.queries, config.fraction) * k), k,
                       len(unchanged)))
        out = torch.randperm(k, generator=generator)[:m]
        inn = torch.randperm(len(unchanged), generator=generator)[:m]
        trial_changed, trial_unchanged = changed.clone(), unchanged.clone()
        trial_values = values.clone()
        trial_changed[out], trial_unchanged[inn] = unchanged[inn], changed[out]
        trial_values[:, out] = _corners(x, unchanged[inn], generator)
        trial = _place(x, trial_changed, trial_values)
        scores = oracle(trial)
        if leads_by(scores[0].tolist(), label, lead) and (holdout is None or holdout(trial)):
            return trial
        score = float(margin(scores, label)[0])
        if score <= best:
            best, current = score, trial
            changed, unchanged, values = trial_changed, trial_unchanged, trial_values
    return None


def _both(first: Callable[[torch.Tensor], bool],
          second: Callable[[torch.Tensor], bool] | None) -> Callable[[torch.Tensor], bool]:
    return first if second is None else (lambda x: first(x) and second(x))


class SparseRS(Attack):
    """Sparse-RS (Croce et al. 2022), score-based L0 random search with a per-image budget search
    for the smallest L0; a smoothed defense is scored by vote counts over fixed draws and every
    final point confirmed on the defense.

    Shape: x is (1, C, H, W) with values in [0, 1]; L0 counts pixel positions.
    """

    name = "sparse-rs"
    config_type = SparseRSConfig
    description = ("Sparse-RS (Croce et al. 2022): score-based random search over k pixels, "
                   "budget searched per image; smoothed defenses scored by votes over fixed "
                   "draws, confirmed on the defense")
    config: SparseRSConfig

    def run(self, x: torch.Tensor, label: int, target: AttackTarget,
            on_restart: Callable[[RestartResult], None] | None = None) -> AttackResult:
        c = self.config
        lead = c.vote_lead if target.samples else 0.0

        def one(r: int) -> RestartResult:
            began = time.perf_counter()
            oracle = target.scores(r, c.score_samples)
            generator = torch.Generator().manual_seed(target.seed(r))
            holdout = holdout_check(target, r, label, c.holdout_samples, lead)

            def attempt(k: int) -> torch.Tensor | None:
                return sparse_rs(oracle, x, label, k, c, generator, lead, holdout)

            x_adv = smallest_budget(attempt, x, c.first_budget, target.below)
            if x_adv is not None and c.prune:
                x_adv, _ = prune(_both(leads_other(oracle, label, lead), holdout), x, x_adv)
            return finish(target, r, x, x_adv, oracle.queries, began)

        return run_restarts(c.restarts, one, on_restart)
