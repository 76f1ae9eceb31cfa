"""For each (defense, attack, image), an attack record: the clean check, restarts, re-checks.

Library code: yields records and reports progress through a callback; never prints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from attacks.base import AttackResult, RestartResult
from attacks.oracles import EarlyStop, FixedOracle, FreshOracle, LogitOracle, Oracle
from attacks.pointwise import pointwise_attack
from bench.configs import AttackConfig, DefenseConfig, config_dict, config_hash
from bench.data import Dataset
from bench.runner import DataInfo
from bench.seeding import derive_seed, image_generator
from bench.store import AttackRecord
from bench.training import to_float
from defenses.smoothing import SmoothedClassifier
from defenses.undefended import Undefended

__all__ = ["AttackJob", "attack_arrays", "attack_images", "attack_one"]

# fields of AttackConfig that mean nothing for a deterministic defense (no samples, no abstaining)
_SMOOTHING_ONLY = ("n", "alpha", "mask_policy")


@dataclass(frozen=True)
class AttackJob:
    """What identifies an attack run's records: defense config, attack config, model and seed."""

    config: DefenseConfig
    attack: AttackConfig
    model_id: str
    seed: int

    @property
    def smoothed(self) -> bool:
        return self.config.kind != "undefended"

    @property
    def config_json(self) -> str:
        exclude: tuple[str, ...] = () if self.smoothed else _SMOOTHING_ONLY
        if not (self.smoothed and self.attack.start_samples):
            # no start stand-in: the runs (and hashes) of before the field existed
            exclude += ("start_n",)
        return json.dumps(
            {"defense": config_dict(self.config),
             "attack": config_dict(self.attack, exclude=exclude),
             "model_id": self.model_id},
            sort_keys=True,
        )

    @property
    def run_hash(self) -> str:
        return config_hash(json.loads(self.config_json))


def _oracle_factory(defense: SmoothedClassifier | Undefended, attack: AttackConfig, seed: int,
                    image: int, label: int, shape: tuple[int, ...], early_stop: bool,
                    wrap: Callable[[Oracle], Oracle] | None) -> Callable[[int], Oracle]:
    """Restart index -> the oracle attacked in that restart (streams derived from seed, image)."""
    stop = EarlyStop(label, attack.alpha) if early_stop else None

    def oracle_for(restart: int) -> Oracle:
        oracle = make(restart)
        return oracle if wrap is None else wrap(oracle)

    def make(restart: int) -> Oracle:
        if isinstance(defense, Undefended):
            return LogitOracle(defense)
        if attack.mask_policy == "fresh":
            return FreshOracle(defense, attack.n,
                               image_generator(seed, image, f"attack-fresh-{restart}"), stop)
        gen = image_generator(seed, image, f"attack-fixed-masks-{restart}")
        c, h, w = shape[-3:]
        return FixedOracle(defense, defense.sample_noise(attack.n, (c, h, w), gen), stop=stop,
                           start_samples=attack.start_samples)
    return oracle_for


def attack_one(defense: SmoothedClassifier | Undefended, attack: AttackConfig, seed: int,
               image: int, x: torch.Tensor, label: int,
               on_restart: Callable[[RestartResult], None] | None = None,
               early_stop: bool = True,
               wrap_oracle: Callable[[Oracle], Oracle] | None = None
               ) -> tuple[int, AttackResult | None]:
    """The clean PREDICT (fresh draw) of one image and, when it is correct, the attack.

    Returns (clean prediction, AttackResult or None when the clean answer is already wrong or
    abstained). Every stream derives from (seed, image, purpose), so a result depends on neither
    the order of images nor a resume. ``early_stop`` (exact: ``attacks.oracles``) saves forward
    passes and changes no decision, so results are the same either way. ``wrap_oracle`` wraps
    each restart's oracle (measurement: ``bench.perf``).
    """
    clean = defense.predict(x, [image_generator(seed, image, "attack-clean")])[0].label
    if clean != label:
        return clean, None

    def recheck_for(restart: int) -> Callable[[torch.Tensor], bool]:
        def recheck(x_adv: torch.Tensor) -> bool:
            gen = image_generator(seed, image, f"attack-recheck-{restart}")
            return defense.predict(x_adv, [gen])[0].label != label
        return recheck

    seeds = [derive_seed(seed, image, f"attack-restart-{r}") for r in range(attack.restarts)]
    result = pointwise_attack(x, label, attack,
                              _oracle_factory(defense, attack, seed, image, label,
                                              tuple(x.shape), early_stop, wrap_oracle),
                              recheck_for, seeds, on_restart)
    return clean, result


def _check_defense(defense: SmoothedClassifier | Undefended, attack: AttackConfig) -> None:
    if isinstance(defense, SmoothedClassifier) and (defense.n, defense.alpha) != (attack.n,
                                                                               attack.alpha):
        raise ValueError(f"the defense uses N={defense.n}, alpha={defense.alpha} but the attack "
                         f"N={attack.n}, alpha={attack.alpha}")


def attack_images(
    defense: SmoothedClassifier | Undefended,
    job: AttackJob,
    data: Dataset,
    indices: Sequence[int],
    on_restart: Callable[[RestartResult], None] | None = None,
) -> Iterator[AttackRecord]:
    """Attack each test image ``indices`` of ``data``; yields one record per image."""
    rows = list(indices)
    yield from attack_arrays(defense, job, DataInfo.of(data), data.images[rows],
                             data.labels[rows], rows, on_restart)


def attack_arrays(
    defense: SmoothedClassifier | Undefended,
    job: AttackJob,
    info: DataInfo,
    images: Any,
    labels: Any,
    indices: Sequence[int],
    on_restart: Callable[[RestartResult], None] | None = None,
) -> Iterator[AttackRecord]:
    """Attack each image (one at a time: foolbox re-queries every image of a batch on every step)
    and yield one record per image; ``images[j]``, ``labels[j]`` are test image ``indices[j]``."""
    _check_defense(defense, job.attack)
    for j, i in enumerate(indices):
        x, label = to_float(images[j : j + 1]), int(labels[j])
        passes, began = defense.forward_passes, time.perf_counter()
        clean, result = attack_one(defense, job.attack, job.seed, i, x, label, on_restart)
        restarts = result.restarts if result is not None else ()
        best = result.best if result is not None else None
        x_adv = restarts[best].x_adv if best is not None else None
        adversarial = (x_adv.numpy().astype(np.float32) if x_adv is not None
                       else np.zeros(0, np.float32))
        yield AttackRecord(
            run_hash=job.run_hash, defense=job.config.name, attack=job.attack.attack,
            model_id=job.model_id, dataset=info.name, data_source=info.source,
            data_fingerprint=info.fingerprint, image=i, label=label, clean_prediction=clean,
            clean_adversarial=result is None, restarts=job.attack.restarts,
            best_l0=0.0 if result is None else result.best_l0,
            confirmed=None if best is None else restarts[best].confirmed,
            best_confirmed_l0=0.0 if result is None else result.best_confirmed_l0,
            restart_l0=tuple(r.l0 for r in restarts),
            restart_confirmed=tuple(r.confirmed for r in restarts),
            queries=0 if result is None else result.queries,
            forward_passes=defense.forward_passes - passes,
            seconds=time.perf_counter() - began, seed=job.seed,
            n=job.attack.n if job.smoothed else 0,
            alpha=job.attack.alpha if job.smoothed else 0.0,
            mask_policy=job.attack.mask_policy if job.smoothed else "none",
            config=job.config_json, adversarial=adversarial.tobytes(),
            adversarial_shape=tuple(adversarial.shape),
        )
