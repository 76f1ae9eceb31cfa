"""Query oracles: what an attack sees of a defense, one attacked image at a time.

An oracle maps queries (B, C, H, W) in [0, 1] to scores (B, num_classes): logits for a
deterministic classifier, hard-vote counts for a smoothed one. For smoothed defenses the mask
policy decides where each query's ablations come from:

- ``FreshOracle``: N new ablations on every query (the paper's protocol; a stochastic oracle).
- ``FixedOracle``: one set of N noise draws reused for every query (a deterministic oracle). It
  re-evaluates only the draws that read a pixel that differs from a recently answered query (for
  ablation, a one-pixel Pointwise step touches about N * k / d of them: 574 of 10,000 for k = 45
  on MNIST).

A fixed-mask oracle can also offer a cheaper stand-in for the start search (``start``): the same
smoothed classifier on only the first ``start_samples`` of its draws. Pointwise runs its
salt-and-pepper search against it and keeps a starting point only once the full oracle calls it
adversarial (``attacks.pointwise``); every query Pointwise itself makes goes to the full oracle.

Both stop early, exactly, when given the attacked ``label`` and PREDICT's ``alpha``: votes are
evaluated in chunks, and once the votes still to come cannot change whether the attack succeeds
on the query (``defenses.decisions.settled_outcome``), the rest are skipped. The counts returned
then complete the evaluated ones by giving every skipped vote to ``label``; that completion has
the same decision as the full evaluation, which is all an attack's criterion reads. Without a
label, every vote is evaluated and the counts are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from defenses.decisions import settled_outcome

__all__ = ["MASK_POLICIES", "EarlyStop", "FixedOracle", "FreshOracle", "LogitOracle",
           "MaskPolicy", "Oracle", "Queries"]

MaskPolicy = Literal["fresh", "fixed"]
MASK_POLICIES: tuple[MaskPolicy, ...] = ("fresh", "fixed")


@dataclass(frozen=True)
class Queries:
    """How a stochastic defense answers an attack's queries.

    Attributes:
        policy: "fresh" draws N new noise samples on every query (the paper's protocol); "fixed"
            draws one set of N per restart and reuses it, evaluated incrementally.
        stand_in: with "fixed", a cheaper stand-in oracle on the first ``stand_in`` draws for
            start searches (0 or at least N: none).
        early_stop: evaluate votes in chunks and stop once the attack's decision is settled
            (exact: the decisions are the same either way).
        samples: draws per query; 0 for the defense's N. A score-based attack reads exact vote
            counts over fewer fixed draws than N (``early_stop=False``) and has its final point
            confirmed on N fresh ones.
    """

    policy: MaskPolicy = "fresh"
    stand_in: int = 0
    early_stop: bool = True
    samples: int = 0

    def __post_init__(self) -> None:
        if self.samples < 0:
            raise ValueError(f"samples must be >= 0, got {self.samples}")


class Voter(Protocol):
    """What the vote oracles need of a smoothed classifier (``defenses.smoothing``)."""

    @property
    def num_classes(self) -> int: ...

    @property
    def forward_passes(self) -> int: ...

    def sample_noise(self, num: int, shape: tuple[int, int, int],
                     generator: torch.Generator) -> torch.Tensor: ...

    def reads(self, noise: torch.Tensor) -> torch.Tensor: ...

    def noise_votes(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor: ...

    def vote_counts(self, x: torch.Tensor, num: int,
                    generators: Sequence[torch.Generator] | None = None) -> torch.Tensor: ...


class Scorer(Protocol):
    """A deterministic classifier's logits (``defenses.undefended``)."""

    def logits(self, x: torch.Tensor) -> torch.Tensor: ...


class Oracle(Protocol):
    """Scores for queries of one attacked image, with counters of the work done."""

    abstains: bool
    queries: int

    @property
    def start(self) -> Oracle | None:
        """A cheaper oracle for the start search (fewer samples of the same defense), or
        None."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class LogitOracle:
    """The logits of a deterministic classifier (never abstains)."""

    abstains = False
    start: Oracle | None = None

    def __init__(self, defense: Scorer) -> None:
        self.defense, self.queries = defense, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += x.shape[0]
        return self.defense.logits(x)


@dataclass(frozen=True)
class EarlyStop:
    """What exact early stopping needs: the attacked true ``label``, PREDICT's ``alpha``, and
    how many votes are evaluated between two checks (``chunk``)."""

    label: int
    alpha: float
    chunk: int = 512

    def __post_init__(self) -> None:
        if self.chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {self.chunk}")


_UNKNOWN = -1  # a vote that early stopping skipped


def _evaluate(defense: Voter, x1: torch.Tensor, noise: torch.Tensor,
              votes: torch.Tensor, pending: torch.Tensor, stop: EarlyStop | None) -> None:
    """Fill ``votes[pending]`` (indices) with the base classifier's votes under ``noise``, in
    order, stopping as soon as the outcome is settled (votes left at _UNKNOWN)."""
    if stop is None:
        if len(pending):
            votes[pending] = defense.noise_votes(x1, noise[pending])
        return
    known = votes[votes != _UNKNOWN]
    counts = torch.bincount(known, minlength=defense.num_classes).tolist()
    done = 0
    while done < len(pending):
        if settled_outcome(counts, len(pending) - done, stop.label, stop.alpha) is not None:
            return
        rows = pending[done : done + stop.chunk]
        new = defense.noise_votes(x1, noise[rows])
        votes[rows] = new
        for c, v in enumerate(torch.bincount(new, minlength=defense.num_classes).tolist()):
            counts[c] += v
        done += len(rows)


def _counts(votes: torch.Tensor, num_classes: int, stop: EarlyStop | None) -> torch.Tensor:
    """Vote counts (num_classes,), skipped votes given to the label (a same-decision completion)."""
    known = votes != _UNKNOWN
    counts = torch.bincount(votes[known], minlength=num_classes).float()
    if stop is not None:
        counts[stop.label] += float((~known).sum())
    return counts


class FreshOracle:
    """Vote counts over ``n`` fresh noise draws (ablations) per query, drawn from ``generator``.

    With ``stop``, each query's n draws are still all drawn (the generator advances exactly as
    without it), but evaluated chunk by chunk only until the decision is settled.
    """

    abstains = True
    start: Oracle | None = None

    def __init__(self, defense: Voter, n: int, generator: torch.Generator,
                 stop: EarlyStop | None = None) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.defense, self.n, self.generator, self.stop = defense, n, generator, stop
        self.queries = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += x.shape[0]
        if self.stop is None:
            return self.defense.vote_counts(x, self.n, [self.generator] * x.shape[0]).float()
        shape = (x.shape[1], x.shape[2], x.shape[3])
        counts = torch.zeros(x.shape[0], self.defense.num_classes)
        for i in range(x.shape[0]):
            noise = self.defense.sample_noise(self.n, shape, self.generator)
            votes = torch.full((self.n,), _UNKNOWN, dtype=torch.long)
            _evaluate(self.defense, x[i : i + 1], noise, votes, torch.arange(self.n), self.stop)
            counts[i] = _counts(votes, self.defense.num_classes, self.stop)
        return counts


class _VoteMemo:
    """Exact memo of votes: (draw, the values at the positions it reads) -> its vote.

    Only for noise whose draws all read the same number of positions, fewer than all of them
    (ablation: k of d); a draw's vote is a function of exactly those values (``defense.reads``;
    the base classifier's logits do not depend on the rest of the batch,
    ``defenses.precision``). Keys are the values' bytes, so a hit means bitwise-equal inputs.
    Holds at most ``capacity`` votes and starts over when full.
    """

    def __init__(self, reads: torch.Tensor, capacity: int) -> None:
        self.positions = reads.nonzero()[:, 1].view(len(reads), -1)
        self.capacity = capacity
        self.table: dict[tuple[int, bytes], int] = {}

    @staticmethod
    def usable(reads: torch.Tensor) -> bool:
        counts = reads.sum(dim=1)
        return bool(len(reads)) and bool((counts == counts[0]).all()) and \
            0 < int(counts[0]) < reads.shape[1]

    def keys(self, x1: torch.Tensor, draws: torch.Tensor) -> list[tuple[int, bytes]]:
        """The keys of ``draws`` (indices) on image x1 (1, C, H, W)."""
        values = x1[0].reshape(x1.shape[1], -1)[:, self.positions[draws]]  # (C, M, k)
        rows = values.permute(1, 0, 2).reshape(len(draws), -1).contiguous().numpy()
        return [(d, row.tobytes()) for d, row in zip(draws.tolist(), rows, strict=True)]

    def store(self, keys: list[tuple[int, bytes]], votes: list[int]) -> None:
        """Remember the evaluated votes (those early stopping skipped are left out)."""
        known = [(key, v) for key, v in zip(keys, votes, strict=True) if v != _UNKNOWN]
        if len(self.table) + len(known) > self.capacity:
            self.table.clear()
        self.table.update(known)


class FixedOracle:
    """Vote counts over one fixed set of noise draws (ablations), evaluated incrementally.

    Args:
        defense: the smoothed classifier (its base model votes).
        noise: the fixed draws (N, ...) from ``defense.sample_noise`` (keep masks for ablation).
        cache: how many recently answered queries are kept as references.
        stop: exact early stopping (module docstring), or None to evaluate every vote.
        memo: how many votes the exact per-draw memo holds (0: none); about 400 bytes each
            for k = 45 on MNIST.
        start_samples: when between 1 and N - 1, ``start`` is a FixedOracle on the first
            ``start_samples`` draws (same stop and cache; its own references and memo) for the
            start search; otherwise ``start`` is None.

    A draw's vote depends only on the pixel positions it reads (``defense.reads``). So a query
    reuses, draw by draw, the vote of the most recent reference that agrees with it on every
    position that draw reads. The draws no reference covers are looked up in a memo of every vote
    evaluated so far, keyed by the draw and its values at the positions it reads (for noise whose
    draws read the same number of positions, fewer than all: ablation; queries that leave more
    than a quarter of the draws uncovered, such as a start search's fresh noise, skip it). Only
    the rest are evaluated. Pointwise's one-pixel steps from its accepted point then cost at most
    the draws reading that pixel (574 of 10,000 for k = 45 on MNIST), and a step whose values a
    draw has seen before (Pointwise tries each pixel again, with the same binary-search values,
    on every pass) costs nothing for that draw.
    """

    abstains = True

    def __init__(self, defense: Voter, noise: torch.Tensor, cache: int = 4,
                 stop: EarlyStop | None = None, memo: int = 1_000_000,
                 start_samples: int = 0) -> None:
        self.defense, self.noise, self.cache_size = defense, noise, max(1, cache)
        self.stop = stop
        self.flat = defense.reads(noise)
        if self.flat.dim() != 2 or self.flat.dtype != torch.bool or len(self.flat) != len(noise):
            raise ValueError("defense.reads(noise) must be a bool tensor (N, H * W)")
        if memo < 0:
            raise ValueError(f"memo must be >= 0, got {memo}")
        self._memo = (_VoteMemo(self.flat, memo)
                      if memo and _VoteMemo.usable(self.flat) else None)
        self._refs: list[tuple[torch.Tensor, torch.Tensor]] = []  # oldest first
        self.queries = 0
        if start_samples < 0:
            raise ValueError(f"start_samples must be >= 0, got {start_samples}")
        self.start: Oracle | None = (
            FixedOracle(defense, noise[:start_samples], cache, stop, memo)
            if 0 < start_samples < len(noise) else None)

    def votes(self, x1: torch.Tensor) -> torch.Tensor:
        """Per-draw votes (N,) for one image (1, C, H, W); _UNKNOWN (-1) where early stopping
        skipped a vote."""
        votes = torch.full((len(self.noise),), _UNKNOWN, dtype=torch.long)
        pending = torch.arange(len(self.noise))  # draws no reference covers yet
        for ref, ref_votes in reversed(self._refs):  # the most recent first
            changed = (ref != x1[0]).any(dim=0).flatten()
            candidates = ref_votes[pending]
            usable = candidates != _UNKNOWN
            if bool(changed.any()):
                columns = changed.nonzero().flatten()
                # gather the smaller block first: a few columns of all rows, or all columns of
                # the few rows still pending
                if len(columns) * len(self.flat) < len(pending) * self.flat.shape[1]:
                    reads = self.flat[:, columns][pending]
                else:
                    reads = self.flat[pending][:, columns]
                usable &= ~reads.any(dim=1)
            votes[pending[usable]] = candidates[usable]
            pending = pending[~usable]
            if len(pending) == 0:
                break
        # a query that leaves most draws to evaluate is new noise (a start search), whose
        # values the memo has not seen: it is neither looked up nor stored
        memo = self._memo if 0 < len(pending) <= len(self.noise) // 4 else None
        if memo is not None:
            keys = memo.keys(x1, pending)
            known = torch.tensor([memo.table.get(key, _UNKNOWN) for key in keys],
                                 dtype=torch.long)
            hit = known != _UNKNOWN
            votes[pending[hit]] = known[hit]
            keys = [key for key, h in zip(keys, hit.tolist(), strict=True) if not h]
            pending = pending[~hit]
        _evaluate(self.defense, x1, self.noise, votes, pending, self.stop)
        if memo is not None:
            memo.store(keys, votes[pending].tolist())
        self._refs.append((x1[0].clone(), votes))
        if len(self._refs) > self.cache_size:
            self._refs.pop(0)
        return votes

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += x.shape[0]
        counts = torch.zeros(x.shape[0], self.defense.num_classes)
        for i in range(x.shape[0]):
            counts[i] = _counts(self.votes(x[i : i + 1]), self.defense.num_classes, self.stop)
        return counts
