"""The choices that depend on the machine, made once at the API/CLI edge and then recorded:
the device, the inference precision "auto" and the default training recipe.

Nothing below this edge probes the hardware, so the same command has the same identity wherever
it runs, and a record says which precision and recipe it used.
"""

from __future__ import annotations

from typing import Literal

import torch

from bench.configs import RECIPES, TrainConfig
from bench.errors import InputError
from defenses.precision import PRECISIONS, Precision, fast_precision, native_bf16

__all__ = ["PRECISION_CHOICES", "default_recipe", "resolve_device", "resolve_precision"]

PRECISION_CHOICES: tuple[str, ...] = ("auto", *PRECISIONS)
"""What a user may ask for: a precision, or "auto" (``resolve_precision``)."""


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """"auto" (CUDA when present, else the CPU), "cpu" or "cuda"; InputError for "cuda" without a
    CUDA device."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but no CUDA device is available. Use --device cpu.")
    if name not in ("cpu", "cuda"):
        raise InputError(f"unknown device {name!r}: auto, cpu or cuda")
    if name == "cuda":
        # the fastest cuDNN kernels for the few fixed shapes of training and voting
        torch.backends.cudnn.benchmark = True
    return torch.device(name)


def resolve_precision(requested: str, device: torch.device, *, fast: bool) -> Precision:
    """The inference precision to record. "auto": bf16 where ``device`` runs it natively (CUDA
    with bf16, a CPU with AVX-512 BF16 or AMX: 2.9x fp32's forwards/s there) for a defense whose
    family asks for ``fast`` inference (the smoothed ones), else fp32; any other value as given."""
    if requested == "auto":
        return fast_precision(device) if fast else "fp32"
    if requested not in PRECISIONS:
        raise InputError(f"unknown precision {requested!r}; one of {', '.join(PRECISION_CHOICES)}")
    return requested


def default_recipe(own: TrainConfig | None, device: torch.device) -> TrainConfig:
    """A defense family's own recipe, or the default for smoothed defenses on ``device``: 64 bf16
    epochs where bf16 is native, else 24 fp32 epochs (emulated bf16 steps ran 12x slower than
    fp32 on a 2-core AVX2 CPU). Both take about 20 minutes on 2 CPU cores."""
    if own is not None:
        return own
    fast: Literal["bf16", "fp32"] = "bf16" if native_bf16(device) else "fp32"
    return RECIPES[fast]
