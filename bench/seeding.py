"""Per-image random streams derived from (seed, image index, purpose).

Results then depend on neither batch size, image order, worker count nor resume point.
"""

from __future__ import annotations

import hashlib

import torch

__all__ = ["derive_seed", "image_generator"]


def derive_seed(seed: int, index: int, purpose: str) -> int:
    """A 63-bit seed from (seed, index, purpose), stable across runs and platforms."""
    digest = hashlib.sha256(f"{seed}:{index}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def image_generator(seed: int, index: int, purpose: str,
                    device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator for one image and one purpose (e.g. "certify"), on ``device`` (the CPU
    by default: the same draws on every machine)."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, index, purpose))
