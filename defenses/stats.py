"""Pure statistics of smoothed CERTIFY and PREDICT (Cohen et al. 2019; docs/protocol.md §1).

No torch, no randomness, no I/O.
"""

from __future__ import annotations

from functools import lru_cache

from scipy.special import bdtr
from scipy.stats import beta, binomtest

__all__ = [
    "clopper_pearson_lower",
    "clopper_pearson_upper",
    "predict_from_counts",
    "simultaneous_bounds",
    "top_two",
    "top_two_decides",
    "top_two_pvalue",
]


def clopper_pearson_lower(successes: int, n: int, alpha: float) -> float:
    """One-sided Clopper-Pearson lower confidence bound at level alpha.

    Args:
        successes: n_A, the number of votes for the selected class, 0 <= successes <= n.
        n: N, the number of samples, n >= 1.
        alpha: one-sided failure probability in (0, 1): P(p < bound) <= alpha.

    Returns:
        BetaInv(alpha; successes, n - successes + 1), and 0 when successes == 0. Equals
        ``alpha ** (1 / n)`` when successes == n. The same number as statsmodels'
        ``proportion_confint(successes, n, alpha=2 * alpha, method="beta")[0]``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in 0..n={n}, got {successes}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if successes == 0:
        return 0.0
    if successes == n:
        return float(alpha ** (1.0 / n))
    return float(beta.ppf(alpha, successes, n - successes + 1))


def clopper_pearson_upper(successes: int, n: int, alpha: float) -> float:
    """One-sided Clopper-Pearson upper confidence bound at level alpha: P(p > bound) <= alpha.

    Args:
        successes: votes for the class, 0 <= successes <= n.
        n: number of samples, n >= 1.
        alpha: one-sided failure probability in (0, 1).

    Returns:
        1 - clopper_pearson_lower(n - successes, n, alpha) (the lower bound of the complement):
        BetaInv(1 - alpha; successes + 1, n - successes), and 1.0 when successes == n.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in 0..n={n}, got {successes}")
    return 1.0 - clopper_pearson_lower(n - successes, n, alpha)


def simultaneous_bounds(
    counts: tuple[int, ...] | list[int], top: int, alpha: float
) -> tuple[float, float]:
    """(p̲_A, p̄_B): bounds on the top class and on every rival that hold together at level alpha.

    Jia et al.'s SimuEM with a Bonferroni split (docs/protocol.md §2): each class gets a one-sided
    Clopper-Pearson bound at alpha / c (c = number of classes), the lower one for ``top`` and the
    upper one for every other class; p̄_B is the largest rival upper bound, clipped at 1 - p̲_A
    (p_B <= 1 - p_A always holds).

    Args:
        counts: votes per class over n = sum(counts) samples, n >= 1.
        top: the selected class A.
        alpha: the joint failure probability in (0, 1).

    Returns:
        (p_lower_a, p_upper_b), both in [0, 1], with p_upper_b <= 1 - p_lower_a.
    """
    c, n = len(counts), sum(counts)
    if c < 2 or not 0 <= top < c:
        raise ValueError(f"need >= 2 classes and 0 <= top < {c}, got top={top}")
    level = alpha / c
    p_lower_a = clopper_pearson_lower(counts[top], n, level)
    rival = max(clopper_pearson_upper(v, n, level) for i, v in enumerate(counts) if i != top)
    return p_lower_a, min(rival, 1.0 - p_lower_a)


def _check_votes(n_first: int, n_second: int) -> None:
    if n_first < 0 or n_second < 0:
        raise ValueError(f"vote counts must be >= 0, got {n_first}, {n_second}")


def _bdtr_pvalue(n_first: int, n_second: int) -> float:
    """PREDICT's two-sided p-value as 2 P(X <= min(n_first, n_second)), capped at 1, for
    X ~ Binomial(n_first + n_second, 1/2): binomtest's, about 300 times faster."""
    _check_votes(n_first, n_second)
    return min(1.0, 2.0 * float(bdtr(min(n_first, n_second), n_first + n_second, 0.5)))


@lru_cache(maxsize=65536)
def top_two_pvalue(n_first: int, n_second: int) -> float:
    """Two-sided exact binomial p-value of PREDICT: n_first successes in n_first + n_second trials.

    Args:
        n_first: votes for the most-voted class (n1).
        n_second: votes for the runner-up (n2), n_second <= n_first is not required.

    Returns:
        The two-sided p-value against p = 1/2 (``scipy.stats.binomtest``); 1.0 when no votes.
        Memoised: an attack asks for the same few pairs near its decision boundary thousands of
        times, and scipy's test costs about 0.5 ms.
    """
    _check_votes(n_first, n_second)
    total = n_first + n_second
    if total == 0:
        return 1.0
    return float(binomtest(n_first, total, 0.5, alternative="two-sided").pvalue)


def top_two_decides(n_first: int, n_second: int, alpha: float) -> bool:
    """Whether PREDICT answers (True) or abstains (False): two-sided p-value <= alpha.

    The p-value is computed as 2 P(X <= min(n_first, n_second)), capped at 1, for
    X ~ Binomial(n_first + n_second, 1/2) (``scipy.special.bdtr``, about 2 microseconds; 1 when
    there are no votes). p = 1/2 is symmetric, so this is the p-value ``binomtest`` gives; the
    two agree to about 1e-10 relative (tested). Only a p-value within 1e-6 relative of alpha
    goes to ``binomtest`` itself (about 0.6 ms), so every decision is binomtest's.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    fast = _bdtr_pvalue(n_first, n_second)
    if abs(fast - alpha) > 1e-6 * alpha:
        return fast <= alpha
    return top_two_pvalue(n_first, n_second) <= alpha


def top_two(counts: tuple[int, ...] | list[int]) -> tuple[int, int, int]:
    """(top class, its votes, runner-up votes); ties go to the lower class index (topk order)."""
    if len(counts) < 2:
        raise ValueError("need at least two classes")
    order = sorted(range(len(counts)), key=lambda c: (-counts[c], c))
    return order[0], int(counts[order[0]]), int(counts[order[1]])


def predict_from_counts(counts: tuple[int, ...] | list[int], alpha: float) -> tuple[int, float]:
    """PREDICT's decision from hard-vote counts: (top class or -1 to abstain, two-sided p-value).

    Cohen et al.'s PREDICT: abstain unless the two-sided binomial test of the top count against
    the runner-up rejects p = 1/2 at level alpha.
    """
    label, n1, n2 = top_two(counts)
    pvalue = top_two_pvalue(n1, n2)
    return (label if pvalue <= alpha else -1), pvalue
