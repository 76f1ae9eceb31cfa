"""A greedy last step for any L0 attack: give back each changed pixel the adversarial does not
need.

The changed pixel positions are tried one at a time, smallest change first; a position goes back
to its clean value when the point stays adversarial without it. What is left is locally minimal:
restoring any one position more ends the attack. A gradient attack stops where its smooth
objective settles, which can leave pixels that do nothing; this costs at most one query per
changed position.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["prune"]


def prune(is_adversarial: Callable[[torch.Tensor], bool], x: torch.Tensor,
          x_adv: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(x_adv with every unneeded changed position restored, queries made).

    Args:
        is_adversarial: one query for (1, C, H, W).
        x: the clean image (1, C, H, W).
        x_adv: an adversarial of it, same shape.
    """
    if x.shape != x_adv.shape or x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"need two (1, C, H, W) tensors of one shape, got {tuple(x.shape)} and "
                         f"{tuple(x_adv.shape)}")
    change = (x_adv - x).abs().amax(dim=1).flatten()  # (H * W,)
    changed = change.nonzero().flatten()
    order = changed[torch.argsort(change[changed], stable=True)]
    current = x_adv.clone()
    w = x.shape[-1]
    for position in order.tolist():
        row, col = divmod(position, w)
        trial = current.clone()
        trial[..., row, col] = x[..., row, col]
        if is_adversarial(trial):
            current = trial
    return current, len(order)
