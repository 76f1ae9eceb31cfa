"""PREDICT's decision against a true label, and when the votes still to come can no longer
change it.

An attack on a smoothed classifier succeeds on a query when PREDICT (Cohen et al.; the two-sided
binomial test of the top two vote counts at alpha) answers a wrong class or abstains. Votes are
evaluated in chunks; once every way the remaining votes could fall gives the same decision, the
rest need not be evaluated (exact early stopping). Pure: no torch, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from defenses.stats import top_two, top_two_decides

__all__ = ["attack_succeeds", "settled_outcome"]


def attack_succeeds(counts: Sequence[int], label: int, alpha: float) -> bool:
    """Whether PREDICT on these vote counts answers something other than ``label`` (a wrong class
    or ABSTAIN)."""
    top, n_first, n_second = top_two(list(counts))
    return top != label or not top_two_decides(n_first, n_second, alpha)


def settled_outcome(counts: Sequence[int], remaining: int, label: int,
                    alpha: float) -> bool | None:
    """``attack_succeeds`` for every completion of ``counts`` by ``remaining`` more votes, or None
    when different completions decide differently.

    Args:
        counts: votes per class so far.
        remaining: votes not yet evaluated, each for any class.
        label: the true class.
        alpha: PREDICT's two-sided level.

    Returns:
        True (the attack succeeds whatever the remaining votes are), False (it fails whatever
        they are) or None (not settled yet).

    The extremes suffice. PREDICT answers ``label`` iff ``label`` is the top class (ties go to the
    lower index) and the p-value of (its count, the runner-up's) is <= alpha; that p-value falls
    as the top count grows and rises as the runner-up's grows. So the best completion for
    ``label`` gives it every remaining vote, and the worst gives them all to its strongest rival
    (most votes, lower index first).
    """
    if remaining < 0:
        raise ValueError(f"remaining must be >= 0, got {remaining}")
    if not 0 <= label < len(counts):
        raise ValueError(f"label {label} is not a class of {len(counts)}")
    best = list(counts)
    best[label] += remaining
    if attack_succeeds(best, label, alpha):
        return True
    if remaining == 0:
        return False
    rival = min((c for c in range(len(counts)) if c != label), key=lambda c: (-counts[c], c))
    worst = list(counts)
    worst[rival] += remaining
    return False if not attack_succeeds(worst, label, alpha) else None
