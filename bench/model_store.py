"""The models folder: train a defense's base classifier into it (resumably, after any epoch) and
read trained ones back.

Library code: reports progress through callbacks; never prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from bench.training import (
    TrainState,
    build_base_classifier,
    evaluate_sample_accuracy,
    to_float,
    train_base_classifier,
)

__all__ = ["CALIBRATION_IMAGES", "calibration_images", "load_trained", "train_defense"]

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
) -> tuple[Path, bool]:
    """Train and save a defense's base classifier unless an identical one exists.

    Resumes from the per-epoch partial checkpoint when it has the same configs. Returns the
    checkpoint path and whether training ran. InputError when a checkpoint with another training
    recipe or data exists and ``force`` is not set.
    """
    final, partial = checkpoint_path(models, config), partial_path(models, config)
    defense_d, train_d = checkpoint_identity(config), train_identity(train)
    data_info = _data_info(splits.train)
    existing_path = find_checkpoint(models, config)
    if existing_path.exists() and not force:
        existing = load_checkpoint(existing_path, config)
        if existing.train == train_d and existing.train_data == data_info:
            return existing_path, False
        raise InputError(
            f"{existing_path} exists, trained with another recipe or data ({existing.train}, "
            f"{existing.train_data}). Pass --force to retrain it, or use another --models DIR."
        )
    resume = _read_partial(partial, {"defense": defense_d, "train": train_d,
                                     "train_data": data_info})

    def save_partial(state: TrainState) -> None:
        atomic_torch_save({"defense": defense_d, "train": train_d, "train_data": data_info,
                           "state": vars(state)}, partial)
        if on_epoch is not None:
            on_epoch(state)

    model, state = train_base_classifier(config, train, splits.train, device=device,
                                         resume=resume, on_step=on_step, on_epoch=save_partial)
    metrics: dict[str, Any] = {
        "train_seconds": state.seconds,
        "epochs": state.epoch,
        "history": state.history,
        "test_sample_accuracy": evaluate_sample_accuracy(model, config, splits.test,
                                                         train.seed, device=device),
        "test_fingerprint": splits.test.fingerprint,
    }
    save_checkpoint(final, model, defense_d, train_d, data_info, metrics)
    partial.unlink(missing_ok=True)
    return final, True


def load_trained(config: DefenseConfig, models: Path) -> tuple[nn.Module, Checkpoint]:
    """The trained base classifier of ``config`` from the models folder, on the CPU, with its
    checkpoint (InputError when missing or trained for another config)."""
    checkpoint = load_checkpoint(find_checkpoint(models, config), config)
    return load_weights(build_base_classifier(config), checkpoint), checkpoint


def calibration_images(train: Dataset) -> torch.Tensor:
    """The clean images that calibrate an int8 base classifier: the first CALIBRATION_IMAGES
    training images (float, [0, 1]); the defense noises one copy of each from a fixed seed."""
    return to_float(train.images[:CALIBRATION_IMAGES])
