"""Query oracles: what an attack sees of a defense, one attacked image at a time.

An oracle maps queries (B, C, H, W) in [0, 1] to scores (B, num_classes): logits for a
deterministic classifier, hard-vote counts for a smoothed one. For smoothed defenses the mask
policy decides where each query's ablations come from:

- ``FreshOracle``: N new ablations on every query (the paper's protocol; a stochastic oracle).
- ``FixedOracle``: one set of N noise draws reused for every query (a deterministic oracle). It
  answers exactly as a full evaluation would, but re-evaluates only the draws that read a pixel
  that differs from a recently answered query (for ablation, a one-pixel Pointwise step touches
  about N * k / d of them: 574 of 10,000 for k = 45 on MNIST).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import torch

from defenses.smoothing import SmoothedClassifier
from defenses.undefended import Undefended

__all__ = ["FixedOracle", "FreshOracle", "LogitOracle", "Oracle"]


class Oracle(Protocol):
    """Scores for queries of one attacked image, with counters of the work done."""

    abstains: bool
    queries: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class LogitOracle:
    """The logits of a deterministic classifier (never abstains)."""

    abstains = False

    def __init__(self, defense: Undefended) -> None:
        self.defense, self.queries = defense, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += x.shape[0]
        return self.defense.logits(x)


class FreshOracle:
    """Vote counts over ``n`` fresh noise draws (ablations) per query, drawn from ``generator``."""

    abstains = True

    def __init__(self, defense: SmoothedClassifier, n: int, generator: torch.Generator) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.defense, self.n, self.generator, self.queries = defense, n, generator, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += x.shape[0]
        return self.defense.vote_counts(x, self.n, [self.generator] * x.shape[0]).float()


class FixedOracle:
    """Vote counts over one fixed set of noise draws (ablations), evaluated incrementally.

    Args:
        defense: the smoothed classifier (its base model votes).
        noise: the fixed draws (N, ...) from ``defense.sample_noise`` (keep masks for ablation).
        cache: how many recently answered queries are kept as references. A query is evaluated
            from the reference with the fewest differing pixel positions; references are refreshed
            on use, so Pointwise's accepted point stays cached while rejected steps come and go.
    """

    abstains = True

    def __init__(self, defense: SmoothedClassifier, noise: torch.Tensor, cache: int = 4) -> None:
        self.defense, self.noise, self.cache_size = defense, noise, max(1, cache)
        self.flat = defense.reads(noise)
        if self.flat.dim() != 2 or self.flat.dtype != torch.bool or len(self.flat) != len(noise):
            raise ValueError("defense.reads(noise) must be a bool tensor (N, H * W)")
        self._cache: OrderedDict[int, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._next_id = 0
        self.queries = 0

    def votes(self, x1: torch.Tensor) -> torch.Tensor:
        """Per-ablation votes (N,) for one image (1, C, H, W)."""
        best: tuple[int, torch.Tensor, torch.Tensor] | None = None
        for key, (ref, ref_votes) in self._cache.items():
            changed = (ref != x1[0]).any(dim=0).flatten()
            if best is None or int(changed.sum()) < int(best[1].sum()):
                best = (key, changed, ref_votes)
        if best is None:
            votes = self.defense.noise_votes(x1, self.noise)
        else:
            key, changed, ref_votes = best
            self._cache.move_to_end(key)
            votes = ref_votes.clone()
            touched = self.flat[:, changed].any(dim=1)
            if bool(touched.any()):
                votes[touched] = self.defense.noise_votes(x1, self.noise[touched])
        self._cache[self._next_id] = (x1[0].clone(), votes)
        self._next_id += 1
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return votes

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += x.shape[0]
        counts = torch.zeros(x.shape[0], self.defense.num_classes)
        for i in range(x.shape[0]):
            counts[i] = torch.bincount(self.votes(x[i : i + 1]),
                                       minlength=self.defense.num_classes).float()
        return counts
