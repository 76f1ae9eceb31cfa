"""The models folder: train a defense's base classifier into it (resumably, after any epoch) and
read trained ones back.

Library code: reports progress through callbacks; never prints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.checkpoints import (
    Checkpoint,
    atomic_torch_save,
    checkpoint_path,
    find_checkpoint,
    load_checkpoint,
    load_weights,
    partial_path,
    save_checkpoint,
)
from bench.configs import DefenseConfig, TrainConfig
from bench.data import Dataset, Splits
from bench.errors import InputError
from bench.identity import checkpoint_identity, train_identity
from bench.stacked_training import stack_key, train_stacked
from bench.train_images import to_float
from bench.training import (
    TrainState,
    build_base_classifier,
    evaluate_sample_accuracy,
    train_base_classifier,
)

__all__ = ["CALIBRATION_IMAGES", "calibration_images", "load_trained", "train_defense",
           "train_defenses"]

log = logging.getLogger(__name__)

# training images whose noised copies calibrate an int8 base classifier
CALIBRATION_IMAGES = 1024


def _data_info(data: Dataset) -> dict[str, Any]:
    return {"fingerprint": data.fingerprint, "source": data.source, "images": len(data)}


def _read_partial(partial: Path, expected: dict[str, Any]) -> TrainState | None:
    """The resume point of an interrupted run with the same configs, or None (start over)."""
    if not partial.exists():
        return None
    try:
        raw = torch.load(partial, map_location="cpu", weights_only=True)
        if all(raw.get(key) == value for key, value in expected.items()):
            state = TrainState(**raw["state"])
            log.warning("resuming %s after epoch %d", partial, state.epoch)
            return state
        log.warning("ignoring %s: it belongs to another recipe or data set", partial)
    except Exception as e:  # truncated or foreign file: training starts over and replaces it
        log.warning("ignoring unreadable resume point %s (%s)", partial, type(e).__name__)
    return None


@dataclass(frozen=True)
class _Target:
    """One defense to train: its configs as checkpoints record them, and where it goes."""

    config: DefenseConfig
    final: Path
    partial: Path
    defense: dict[str, Any]
    train: dict[str, Any]
    data: dict[str, Any]

    @classmethod
    def of(cls, config: DefenseConfig, train: TrainConfig, splits: Splits,
           models: Path) -> _Target:
        return cls(config, checkpoint_path(models, config), partial_path(models, config),
                   checkpoint_identity(config), train_identity(train), _data_info(splits.train))

    def expected(self) -> dict[str, Any]:
        return {"defense": self.defense, "train": self.train, "train_data": self.data}


def _trained_already(target: _Target, train: TrainConfig, models: Path,
                     force: bool) -> Path | None:
    """The complete checkpoint of the same recipe and data, if one exists (and not ``force``).
    InputError when one of another recipe or data is in the way."""
    existing_path = find_checkpoint(models, target.config)
    if not existing_path.exists() or force:
        return None
    existing = load_checkpoint(existing_path, target.config)
    if existing.train != target.train or existing.train_data != target.data:
        raise InputError(
            f"{existing_path} exists, trained with another recipe or data "
            f"({existing.train}, {existing.train_data}). Pass --force to retrain it, or use "
            "another --models DIR.")
    if existing.metrics.get("complete", True):
        return existing_path
    log.warning("%s stopped after %s of %d epochs: training goes on", existing_path,
                existing.metrics.get("epochs"), train.epochs)
    return None


def _save_partial(target: _Target, state: TrainState) -> None:
    atomic_torch_save({**target.expected(), "state": vars(state)}, target.partial)


def _save_final(target: _Target, train: TrainConfig, model: nn.Module, state: TrainState,
                splits: Splits, device: torch.device | str,
                extra: dict[str, Any] | None = None) -> None:
    complete = state.epoch >= train.epochs
    metrics: dict[str, Any] = {
        "train_seconds": state.seconds,
        "epochs": state.epoch,
        "complete": complete,
        "device": torch.device(device).type,
        "history": state.history,
        "test_sample_accuracy": evaluate_sample_accuracy(model, target.config, splits.test,
                                                         train.seed, device=device),
        "test_fingerprint": splits.test.fingerprint,
        **(extra or {}),
    }
    save_checkpoint(target.final, model, target.defense, target.train, target.data, metrics)
    if complete:
        target.partial.unlink(missing_ok=True)


def _deadline(time_limit: float | None) -> Callable[[], bool]:
    began = time.monotonic()

    def out_of_time() -> bool:
        return time_limit is not None and time.monotonic() - began >= time_limit
    return out_of_time


def train_defense(
    config: DefenseConfig,
    train: TrainConfig,
    splits: Splits,
    models: Path,
    *,
    device: torch.device | str = "cpu",
    force: bool = False,
    on_step: Callable[[int], None] | None = None,
    on_epoch: Callable[[TrainState], None] | None = None,
    time_limit: float | None = None,
) -> tuple[Path, bool]:
    """Train and save a defense's base classifier unless an identical one exists.

    Resumes from the per-epoch partial checkpoint when it has the same configs. With
    ``time_limit`` (seconds of this call), training ends after the first epoch that ends past
    it: the checkpoint is saved with the epochs reached (``metrics["complete"]`` False) and the
    partial one is kept, so a later call with the same recipe goes on from there. Returns the
    checkpoint path and whether training ran. InputError when a checkpoint with another training
    recipe or data exists and ``force`` is not set.
    """
    target = _Target.of(config, train, splits, models)
    found = _trained_already(target, train, models, force)
    if found is not None:
        return found, False
    resume = _read_partial(target.partial, target.expected())

    def save_partial(state: TrainState) -> None:
        _save_partial(target, state)
        if on_epoch is not None:
            on_epoch(state)

    model, state = train_base_classifier(config, train, splits.train, device=device,
                                         resume=resume, on_step=on_step, on_epoch=save_partial,
                                         stop=_deadline(time_limit))
    _save_final(target, train, model, state, splits, device)
    return target.final, True


def train_defenses(
    configs: Sequence[DefenseConfig],
    train: TrainConfig,
    splits: Splits,
    models: Path,
    *,
    device: torch.device | str = "cpu",
    force: bool = False,
    on_step: Callable[[int], None] | None = None,
    on_epoch: Callable[[list[TrainState]], None] | None = None,
    time_limit: float | None = None,
) -> list[tuple[Path, bool]]:
    """``train_defense`` for several defenses with one recipe, those still to train trained
    together as one stacked network (``bench.stacked_training``; they must share dataset and
    architecture). Each gets its own checkpoint and per-epoch resume point, as if trained
    alone; they resume together when all resume points are after the same epoch."""
    targets = [_Target.of(c, train, splits, models) for c in configs]
    if len({stack_key(c) for c in configs}) > 1:
        raise InputError("defenses trained together need the same dataset and architecture: "
                         + ", ".join(c.name for c in configs))
    done = {t.config.name: _trained_already(t, train, models, force) for t in targets}
    todo = [t for t in targets if done[t.config.name] is None]
    if todo:
        partials = [_read_partial(t.partial, t.expected()) for t in todo]
        ready = [p for p in partials if p is not None]
        together = len(ready) == len(todo) and len({p.epoch for p in ready}) == 1
        if ready and not together:
            log.warning("resume points of %s are after different epochs: training starts over",
                        ", ".join(t.config.name for t in todo))

        def save_partials(states: list[TrainState]) -> None:
            for target, state in zip(todo, states, strict=True):
                _save_partial(target, state)
            if on_epoch is not None:
                on_epoch(states)

        trained = train_stacked([t.config for t in todo], train, splits.train, device=device,
                                resume=ready if together else None, on_step=on_step,
                                on_epoch=save_partials, stop=_deadline(time_limit))
        names = [t.config.name for t in todo]
        for target, (model, state) in zip(todo, trained, strict=True):
            _save_final(target, train, model, state, splits, device,
                        {"trained_together": names})
    return [(done[t.config.name] or t.final, done[t.config.name] is None) for t in targets]


def load_trained(config: DefenseConfig, models: Path) -> tuple[nn.Module, Checkpoint]:
    """The trained base classifier of ``config`` from the models folder (the checkpoint of
    ``config.trained_as()``), on the CPU, with its checkpoint (InputError when missing or
    trained for another config)."""
    trained = config.trained_as()
    checkpoint = load_checkpoint(find_checkpoint(models, trained), trained)
    return load_weights(build_base_classifier(trained), checkpoint), checkpoint


def calibration_images(train: Dataset) -> torch.Tensor:
    """The clean images that calibrate an int8 base classifier: the first CALIBRATION_IMAGES
    training images (float, [0, 1]); the defense noises one copy of each from a fixed seed."""
    return to_float(train.images[:CALIBRATION_IMAGES])
