"""Checkpoints of trained base classifiers: written atomically, read without executing code.

A checkpoint holds the state dict and plain-data metadata: the defense config, the training
config, a fingerprint of the training data, the metrics, and a ``model_id`` (a hash of the
weights) that results record. ``torch.load(..., weights_only=True)`` reads it, so a tampered file
cannot run code.
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

from bench.errors import InputError

__all__ = ["FORMAT", "Checkpoint", "atomic_torch_save", "load_checkpoint", "save_checkpoint"]

FORMAT = "bench-checkpoint-v1"


@dataclass(frozen=True)
class Checkpoint:
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


def load_checkpoint(path: Path, defense: dict[str, Any]) -> Checkpoint:
    """Read a checkpoint (weights only) and check it was trained for ``defense``.

    Raises:
        InputError: missing, unreadable or truncated file, wrong format, or another config.
    """
    if not path.is_file():
        raise InputError(
            f"no checkpoint at {path}. Train it first: bench train --defense {defense['name']} "
            "(with the same --models), or use bench run, which trains what is missing."
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise InputError(
            f"checkpoint {path} cannot be read safely ({type(e).__name__}: {str(e)[:200]}). "
            f"It is truncated, corrupt or not a bench checkpoint: delete it and retrain with "
            f"bench train --defense {defense['name']}."
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError(
            f"{path} is not a {FORMAT} checkpoint. Delete it and retrain with "
            f"bench train --defense {defense['name']}."
        )
    if raw["defense"] != defense:
        diff = sorted(k for k in set(raw["defense"]) | set(defense)
                      if raw["defense"].get(k) != defense.get(k))
        raise InputError(
            f"checkpoint {path} was trained for another config (differs in {', '.join(diff)}: "
            f"{ {k: raw['defense'].get(k) for k in diff} } vs "
            f"{ {k: defense.get(k) for k in diff} }). Retrain with "
            f"bench train --defense {defense['name']} --force, or use another --models."
        )
    state = raw["state_dict"]
    if model_id_of(state) != raw["model_id"]:
        raise InputError(f"checkpoint {path} fails its weight checksum: corrupt. Retrain it.")
    return Checkpoint(
        path, state, raw["defense"], raw["train"], raw["train_data"], raw["metrics"],
        raw["model_id"],
    )


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
