"""Pure arithmetic of the partition-vote certificate (feature partition aggregation, Hammoudeh &
Lowd 2024; docs/deterministic.md).

No torch, no randomness, no I/O: plain ints in, ints out.

The d pixel positions are split into T disjoint groups and each group casts one vote. The answer is
the class with the most votes, ties going to the smaller label. A changed pixel lies in exactly one
group, so changing r pixels changes at most r votes, and each changed vote can take one from the
answer and give one to another class. Symbols: ``counts`` are the votes per class (c_y for class
y), ``top`` the answer y*, ``runner_up`` the smallest label with the largest count among the other
classes.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["partition_radius", "plurality", "runner_up"]


def _check(counts: Sequence[int]) -> None:
    if len(counts) < 2:
        raise ValueError(f"need votes for at least 2 classes, got {len(counts)}")
    if any(c < 0 for c in counts):
        raise ValueError(f"vote counts must be >= 0, got {list(counts)}")


def plurality(counts: Sequence[int]) -> int:
    """The class with the most votes, the smallest label among ties."""
    _check(counts)
    return max(range(len(counts)), key=lambda c: (counts[c], -c))


def runner_up(counts: Sequence[int]) -> int:
    """The smallest label with the most votes among the classes other than ``plurality``."""
    top = plurality(counts)
    return max((c for c in range(len(counts)) if c != top), key=lambda c: (counts[c], -c))


def partition_radius(counts: Sequence[int]) -> int:
    """The exact certified L0 radius of the plurality vote: (c_top - c_second - [runner-up wins
    ties]) // 2.

    No change of this many pixel positions changes the answer, and, when every group's vote can be
    set to any class by changing one of its pixels, some change of one more does. The runner-up
    wins ties when its label is smaller than the answer's.

    Args:
        counts: votes per class (non-negative, at least two classes).

    Returns:
        The radius, >= 0 (0: only the image itself is certified).

    Example:
        >>> partition_radius([1, 9, 4])  # 9 - 4 - 0 = 5: two changed votes leave 7 against 6
        2
    """
    top, second = plurality(counts), runner_up(counts)
    gap = counts[top] - counts[second] - (1 if second < top else 0)
    return gap // 2
