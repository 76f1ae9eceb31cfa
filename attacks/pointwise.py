"""The Pointwise attack (Schott et al. 2019) through foolbox 3, with restarts (ALGORITHMS.md §5.3).

Each restart seeds numpy and torch (foolbox draws its shuffles and salt-and-pepper noise from the
global generators), finds a salt-and-pepper start that the oracle calls adversarial (foolbox's
``SaltAndPepperNoiseAttack`` search without the queries whose answer it never uses, by default,
or a bisection over the noise level; ``attacks.start``),
runs ``fb.attacks.PointwiseAttack`` from it, and re-checks the final point with an independent
check.

When the oracle offers a cheaper stand-in for the start search (``Oracle.start``: a fixed-mask
smoothed classifier on fewer of its own draws), the search runs against the stand-in, and its
points, smallest first, are put to the full oracle until one is adversarial there; that one is the
start. If none is, the search runs again against the full oracle. Each full-noise start query
costs about half of N forward passes or more (exact early stopping cannot settle it sooner), so
this is most of what a restart with fixed masks saves.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

import eagerpy as ep
import foolbox as fb
import torch

from attacks.base import AttackResult, RestartResult
from attacks.foolbox_adapter import MisclassifiedOrAbstained, foolbox_model
from attacks.l0 import pixel_l0
from attacks.oracles import Oracle
from attacks.start import (
    bisection_candidates,
    bisection_start,
    salt_and_pepper_candidates,
    salt_and_pepper_start,
)
from bench.configs import AttackConfig
from bench.seeding import seed_everything

__all__ = ["pointwise_attack"]

log = logging.getLogger(__name__)


def _query(model: fb.PyTorchModel,
           criterion: MisclassifiedOrAbstained) -> Callable[[torch.Tensor], bool]:
    """One query of ``model``: is (1, C, H, W) adversarial under ``criterion``?"""

    def is_adversarial(q: torch.Tensor) -> bool:
        return bool(criterion(q, model(q)).all())
    return is_adversarial


def _start(model: fb.PyTorchModel, start_model: fb.PyTorchModel | None, x: torch.Tensor,
           criterion: MisclassifiedOrAbstained, config: AttackConfig,
           generator: torch.Generator) -> torch.Tensor | None:
    """A salt-and-pepper starting point the oracle called adversarial, or None (or the clean
    image when the salt-and-pepper search found none, as foolbox's does; the caller's re-query
    rejects it, and keeping that query keeps a stochastic oracle's draws as they always were).

    With a stand-in (``start_model``), the smallest of its points that ``model`` also calls
    adversarial; when none is, the search against ``model`` itself."""
    salt_and_pepper = config.start_point == "salt-and-pepper"
    query = _query(model, criterion)
    if start_model is not None:
        stand_in = _query(start_model, criterion)
        found = (salt_and_pepper_candidates(stand_in, x, config.init_steps) if salt_and_pepper
                 else bisection_candidates(stand_in, x, generator, config.start_draws))
        for candidate in reversed(found):
            if query(candidate):
                return candidate
        log.debug("no point of the start stand-in is adversarial: searching the full oracle")
    if salt_and_pepper:
        return salt_and_pepper_start(query, x, config.init_steps)
    return bisection_start(query, x, generator, config.start_draws)


def _attempt(model: fb.PyTorchModel, start_model: fb.PyTorchModel | None, x: torch.Tensor,
             criterion: MisclassifiedOrAbstained, config: AttackConfig,
             generator: torch.Generator) -> torch.Tensor | None:
    """One salt-and-pepper start and Pointwise from it, or None when there is no start or the
    oracle rejects it (a second query, or Pointwise's own re-query, no longer calls it
    adversarial)."""
    start = _start(model, start_model, x, criterion, config, generator)
    if start is None or not bool(criterion(start, model(start)).all()):
        return None
    attack = fb.attacks.PointwiseAttack(l2_binary_search=config.l2_binary_search)
    try:
        return attack.run(model, x, criterion, starting_points=ep.astensor(start))
    except AssertionError:  # foolbox re-queries the start; a stochastic oracle may say no
        log.debug("start rejected by Pointwise's re-query")
        return None


def _restart(x: torch.Tensor, label: int, config: AttackConfig, oracle: Oracle,
             recheck: Callable[[torch.Tensor], bool], seed: int) -> RestartResult:
    began = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    model = foolbox_model(oracle)
    start_model = None if oracle.start is None else foolbox_model(oracle.start)
    criterion = MisclassifiedOrAbstained(torch.tensor([label]), config.alpha
                                         if oracle.abstains else None)

    def queries() -> int:
        return oracle.queries + (0 if oracle.start is None else oracle.start.queries)

    x_adv = None
    for _ in range(config.start_tries):
        x_adv = _attempt(model, start_model, x, criterion, config, generator)
        if x_adv is not None:
            break
    if x_adv is None:
        return RestartResult(math.inf, None, queries(), time.perf_counter() - began)
    l0 = float(pixel_l0(x, x_adv)[0])
    confirmed = recheck(x_adv)
    return RestartResult(l0, confirmed, queries(), time.perf_counter() - began,
                         x_adv.detach().clone())


def pointwise_attack(
    x: torch.Tensor,
    label: int,
    config: AttackConfig,
    oracle_for: Callable[[int], Oracle],
    recheck_for: Callable[[int], Callable[[torch.Tensor], bool]],
    restart_seeds: Sequence[int],
    on_restart: Callable[[RestartResult], None] | None = None,
) -> AttackResult:
    """Pointwise with restarts on one image whose clean answer is correct.

    Args:
        x: the image (1, C, H, W) in [0, 1].
        label: its true class.
        config: restarts, start steps, alpha, binary search.
        oracle_for: restart index -> the oracle attacked in that restart (a fresh or fixed
            ablation stream per restart).
        recheck_for: restart index -> a function telling whether an adversarial is still
            adversarial under an independent fresh draw.
        restart_seeds: one seed per restart for numpy's and torch's global generators and
            the start search's own generator.
        on_restart: called after each restart (progress).

    Returns:
        An AttackResult with one RestartResult per restart.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"attack one image (1, C, H, W) at a time, got {tuple(x.shape)}")
    if len(restart_seeds) != config.restarts:
        raise ValueError(f"need {config.restarts} restart seeds, got {len(restart_seeds)}")
    results = []
    for r, seed in enumerate(restart_seeds):
        seed_everything(seed)
        results.append(_restart(x, label, config, oracle_for(r), recheck_for(r), seed))
        if on_restart is not None:
            on_restart(results[-1])
    return AttackResult(tuple(results))
