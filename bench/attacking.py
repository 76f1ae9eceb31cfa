"""For each (defense, attack, image), an attack record: the clean check, the attack's restarts
and their re-checks.

Any registered attack runs against any defense through the ``Defense`` protocol: the attack sees
the defense through an ``AttackTarget`` whose oracles, re-checks and seeds all derive from
(seed, image, purpose), so a result depends on neither the order of images, the worker nor a
resume. Library code: yields records and reports progress through a callback; never prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from attacks.base import Attack, AttackResult, RestartResult
from bench.data import Dataset
from bench.jobs import AttackJob, DataInfo
from bench.seeding import derive_seed, image_generator
from bench.train_images import to_float
from defenses.base import Defense
from defenses.oracles import Oracle, Queries
from reports.records import AttackRecord

__all__ = ["Target", "attack_arrays", "attack_images", "attack_one"]


class Target:
    """An ``attacks.base.AttackTarget``: one image of one defense, with the run's seed.

    Args:
        defense: the attacked defense.
        policy: "fresh" or "fixed" for a stochastic defense (ignored for a deterministic one).
        seed: the run's seed; image ``image``'s streams derive from (seed, image, purpose).
        image: the test image's index.
        label: its true class.
        shape: its (C, H, W).
        early_stop: exact early stopping of vote evaluation (same decisions either way).
        wrap: wraps each restart's oracle (measurement: ``bench.perf``).
    """

    def __init__(self, defense: Defense, policy: str, seed: int, image: int, label: int,
                 shape: tuple[int, int, int], early_stop: bool = True,
                 wrap: Callable[[Oracle], Oracle] | None = None) -> None:
        self.defense, self.image, self.label, self.shape = defense, image, label, shape
        self._seed = seed
        self.samples = defense.samples
        self.policy = policy if self.samples else "none"
        self.alpha: float | None = defense.alpha if self.samples else None
        self.early_stop, self.wrap = early_stop, wrap

    def oracle(self, restart: int, stand_in: int = 0) -> Oracle:
        purpose = (f"attack-fresh-{restart}" if self.policy == "fresh"
                   else f"attack-fixed-masks-{restart}")
        queries = Queries("fresh" if self.policy == "fresh" else "fixed", stand_in,
                          self.early_stop)
        oracle = self.defense.oracle(self.shape, self.label,
                                     image_generator(self._seed, self.image, purpose), queries)
        return oracle if self.wrap is None else self.wrap(oracle)

    def recheck(self, restart: int, x_adv: torch.Tensor) -> bool:
        gen = image_generator(self._seed, self.image, f"attack-recheck-{restart}")
        return self.defense.predict(x_adv, [gen])[0].label != self.label

    def seed(self, restart: int) -> int:
        return derive_seed(self._seed, self.image, f"attack-restart-{restart}")

    def surrogate(self, restart: int, draws: int) -> nn.Module:
        gen = image_generator(self._seed, self.image, f"attack-surrogate-{restart}")
        return self.defense.surrogate(self.shape, gen, draws)

    def scores(self, restart: int, draws: int, stream: int = 0) -> Oracle:
        suffix = f"-{stream}" if stream else ""
        gen = image_generator(self._seed, self.image, f"attack-scores-{restart}{suffix}")
        queries = Queries("fixed", early_stop=False, samples=draws)
        oracle = self.defense.oracle(self.shape, self.label, gen, queries)
        return oracle if self.wrap is None else self.wrap(oracle)

    @property
    def below(self) -> float:
        return math.inf


def attack_one(defense: Defense, attack: Attack, policy: str, seed: int, image: int,
               x: torch.Tensor, label: int,
               on_restart: Callable[[RestartResult], None] | None = None,
               early_stop: bool = True,
               wrap_oracle: Callable[[Oracle], Oracle] | None = None
               ) -> tuple[int, AttackResult | None]:
    """The clean PREDICT (fresh draw) of one image and, when it is correct, the attack.

    Returns (clean prediction, AttackResult or None when the clean answer is already wrong or
    abstained). ``early_stop`` (exact: ``defenses.oracles``) saves forward passes and changes no
    decision, so results are the same either way.
    """
    clean = defense.predict(x, [image_generator(seed, image, "attack-clean")])[0].label
    if clean != label:
        return clean, None
    shape = (x.shape[1], x.shape[2], x.shape[3])
    target = Target(defense, policy, seed, image, label, shape, early_stop, wrap_oracle)
    return clean, attack.run(x, label, target, on_restart)


def attack_images(
    defense: Defense,
    job: AttackJob,
    data: Dataset,
    indices: Sequence[int],
    on_restart: Callable[[RestartResult], None] | None = None,
) -> Iterator[AttackRecord]:
    """Attack each test image ``indices`` of ``data``; yields one record per image."""
    rows = list(indices)
    yield from attack_arrays(defense, job, DataInfo.of(data), data.images[rows],
                             data.labels[rows], rows, on_restart)


def _record(job: AttackJob, run: tuple[str, str], info: DataInfo, image: int, label: int,
            clean: int, result: AttackResult | None, forward_passes: int, seconds: float,
            smoothed: bool) -> AttackRecord:
    restarts = result.restarts if result is not None else ()
    best = result.best if result is not None else None
    x_adv = restarts[best].x_adv if best is not None else None
    winner = result.best_confirmed if result is not None else None
    found_by = "" if winner is None else restarts[winner].attack  # an ensemble's member
    adversarial = (x_adv.numpy().astype(np.float32) if x_adv is not None
                   else np.zeros(0, np.float32))
    return AttackRecord(
        run_hash=run[0], defense=job.config.name, attack=job.attack.name,
        model_id=job.model_id, dataset=info.name, data_source=info.source,
        data_fingerprint=info.fingerprint, image=image, label=label, clean_prediction=clean,
        clean_adversarial=result is None, restarts=job.attack.planned_restarts,
        best_l0=0.0 if result is None else result.best_l0,
        confirmed=None if best is None else restarts[best].confirmed,
        best_confirmed_l0=0.0 if result is None else result.best_confirmed_l0,
        restart_l0=tuple(r.l0 for r in restarts),
        restart_confirmed=tuple(r.confirmed for r in restarts),
        queries=0 if result is None else result.queries,
        forward_passes=forward_passes, seconds=seconds, seed=job.seed,
        n=job.certify.n if smoothed else 0,
        alpha=job.certify.alpha if smoothed else 0.0,
        mask_policy=job.mask_policy if smoothed else "none",
        config=run[1], adversarial=adversarial.tobytes(),
        adversarial_shape=tuple(adversarial.shape), threat_model=job.attack.threat_model,
        found_by=found_by,
    )


def attack_arrays(
    defense: Defense,
    job: AttackJob,
    info: DataInfo,
    images: Any,
    labels: Any,
    indices: Sequence[int],
    on_restart: Callable[[RestartResult], None] | None = None,
) -> Iterator[AttackRecord]:
    """Attack each image (one at a time: foolbox re-queries every image of a batch on every step)
    and yield one record per image; ``images[j]``, ``labels[j]`` are test image ``indices[j]``."""
    smoothed = defense.samples > 0
    run = (job.run_hash, job.config_json)
    for j, i in enumerate(indices):
        x, label = to_float(images[j : j + 1]), int(labels[j])
        passes, began = defense.forward_passes, time.perf_counter()
        clean, result = attack_one(defense, job.attack, job.mask_policy, job.seed, i, x, label,
                                   on_restart)
        yield _record(job, run, info, i, label, clean, result, defense.forward_passes - passes,
                      time.perf_counter() - began, smoothed)
