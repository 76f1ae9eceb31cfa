"""Checkpoints of trained base classifiers: written atomically, read without executing code.

A checkpoint holds the state dict and plain-data metadata: what it was trained for (the defense
config without inference-only fields, ``bench.identity.checkpoint_identity``), the training
recipe, a fingerprint of the training data, the metrics, the identity schema, and a ``model_id``
(a hash of the weights) that results record. ``torch.load(..., weights_only=True)`` reads it, so a
tampered file cannot run code.

A defense's checkpoint lives at ``MODELS/<dataset>/<defense>.pt``. Checkpoints of the first
release (identity schema 1, MNIST only) lie at ``MODELS/<defense>.pt`` and are read from there
when the first path holds none.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.configs import DefenseConfig
from bench.errors import InputError
from bench.identity import (
    SCHEMA,
    checkpoint_identity,
    checkpoint_identity_v1,
    upgrade_train_v1,
)

__all__ = ["FORMAT", "Checkpoint", "atomic_torch_save", "checkpoint_path", "find_checkpoint",
           "load_checkpoint", "model_id_of", "partial_path", "save_checkpoint"]

FORMAT = "bench-checkpoint-v1"


def checkpoint_path(models: Path, config: DefenseConfig) -> Path:
    """Where a defense's checkpoint is written: ``MODELS/<dataset>/<defense>.pt``."""
    return Path(models) / config.dataset / f"{config.name}.pt"


def partial_path(models: Path, config: DefenseConfig) -> Path:
    """The per-epoch resume point of an unfinished training run."""
    return Path(models) / config.dataset / f"{config.name}.partial.pt"


def find_checkpoint(models: Path, config: DefenseConfig) -> Path:
    """The checkpoint to read: ``checkpoint_path``, or a first-release checkpoint at
    ``MODELS/<defense>.pt`` when only that exists."""
    path = checkpoint_path(models, config)
    legacy = Path(models) / f"{config.name}.pt"
    if not path.exists() and checkpoint_identity_v1(config) is not None and legacy.is_file():
        return legacy
    return path


def _train_command(config: DefenseConfig) -> str:
    dataset = "" if config.dataset == "mnist" else f" --dataset {config.dataset}"
    return f"bench train --defense {config.name}{dataset}"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as read: ``defense`` and ``train`` in the current schema."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    defense: dict[str, Any]
    train: dict[str, Any]
    train_data: dict[str, Any]
    metrics: dict[str, Any]
    model_id: str


def model_id_of(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 (16 hex digits) of the weights, in key order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        h.update(name.encode())
        h.update(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_checkpoint(
    path: Path,
    model: nn.Module,
    defense: dict[str, Any],
    train: dict[str, Any],
    train_data: dict[str, Any],
    metrics: dict[str, Any],
) -> str:
    """Write a checkpoint atomically; returns its model_id."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    mid = model_id_of(state)
    atomic_torch_save(
        {
            "format": FORMAT,
            "identity_schema": SCHEMA,
            "state_dict": state,
            "defense": defense,
            "train": train,
            "train_data": train_data,
            "metrics": metrics,
            "model_id": mid,
        },
        path,
    )
    return mid


def load_checkpoint(path: Path, config: DefenseConfig) -> Checkpoint:
    """Read a checkpoint (weights only) and check it was trained for ``config``.

    Raises:
        InputError: missing, unreadable or truncated file, wrong format, or another config.
    """
    train = _train_command(config)
    if not path.is_file():
        raise InputError(
            f"no checkpoint at {path}. Train it first: {train} (with the same --models), or use "
            "bench run, which trains what is missing."
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise InputError(
            f"checkpoint {path} cannot be read safely ({type(e).__name__}: {str(e)[:200]}). "
            f"It is truncated, corrupt or not a bench checkpoint: delete it and retrain with "
            f"{train}."
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} checkpoint. Delete it and retrain with "
                         f"{train}.")
    first_release = raw.get("identity_schema") is None
    expected = checkpoint_identity_v1(config) if first_release else checkpoint_identity(config)
    if raw["defense"] != expected:
        expected = expected or {}
        diff = sorted(k for k in set(raw["defense"]) | set(expected)
                      if raw["defense"].get(k) != expected.get(k))
        raise InputError(
            f"checkpoint {path} was trained for another config (differs in {', '.join(diff)}: "
            f"{ {k: raw['defense'].get(k) for k in diff} } vs "
            f"{ {k: expected.get(k) for k in diff} }). Retrain with {train} --force, or use "
            "another --models."
        )
    state = raw["state_dict"]
    if model_id_of(state) != raw["model_id"]:
        raise InputError(f"checkpoint {path} fails its weight checksum: corrupt. Retrain it.")
    recipe = upgrade_train_v1(raw["train"]) if first_release else raw["train"]
    return Checkpoint(path, state, checkpoint_identity(config), recipe, raw["train_data"],
                      raw["metrics"], raw["model_id"])


def load_weights(model: nn.Module, checkpoint: Checkpoint) -> nn.Module:
    """Load the state dict; InputError when the architecture does not match."""
    try:
        model.load_state_dict(checkpoint.state_dict)
    except RuntimeError as e:
        raise InputError(
            f"checkpoint {checkpoint.path} does not fit the architecture "
            f"{checkpoint.defense.get('architecture')}: {str(e)[:300]}. Retrain it."
        ) from None
    return model
