"""Pure arithmetic of the randomized-ablation certificate (Levine & Feizi 2020; docs/protocol.md
§1).

No torch, no randomness, no I/O: plain ints and floats in, numbers out.

Symbols: ``d`` is the number of pixel positions (H*W, channels not counted), ``k`` the number of
positions each ablation keeps, ``rho`` an L0 distance in pixel positions, and ``p_lower`` the
one-sided lower confidence bound p̲_A on the top class's probability under ablation.
"""

from __future__ import annotations

import math

__all__ = ["ablation_delta", "l0_radius", "l0_radius_pairwise", "max_radius"]


def _check_dk(d: int, k: int) -> None:
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    if not 1 <= k <= d:
        raise ValueError(f"k must be in 1..d={d}, got {k}")


def ablation_delta(d: int, k: int, rho: int) -> float:
    """Delta(rho) = 1 - C(d - rho, k) / C(d, k): P(an ablation keeps one of rho changed pixels).

    Args:
        d: number of pixel positions (784 for MNIST).
        k: number of kept positions, 1 <= k <= d.
        rho: number of changed positions, rho >= 0.

    Returns:
        Delta(rho) in [0, 1]; 0 at rho = 0, k/d at rho = 1, and exactly 1 for rho > d - k.

    Computed as ``-expm1(sum_{i<k} log1p(-rho / (d - i)))``, which is stable for ImageNet sizes
    (absolute error below 1e-15 for d = 784 and d = 50176); no factorials.
    """
    _check_dk(d, k)
    if rho < 0:
        raise ValueError(f"rho must be >= 0, got {rho}")
    if rho == 0:
        return 0.0
    if rho > d - k:
        return 1.0
    log_ratio = math.fsum(math.log1p(-rho / (d - i)) for i in range(k))
    return -math.expm1(log_ratio)


def l0_radius(p_lower: float, d: int, k: int) -> int:
    """Certified L0 radius: the largest rho >= 0 with p_lower - Delta(rho) > 1/2 (strictly).

    Args:
        p_lower: lower confidence bound p̲_A on the top class's probability, in [0, 1].
        d: number of pixel positions.
        k: number of kept positions.

    Returns:
        The radius in pixel positions, at most d - k; -1 when no rho qualifies (p_lower <= 1/2).

    Delta increases with rho, so a binary search over [0, d - k] is exact.
    """
    _check_dk(d, k)
    if not 0.0 <= p_lower <= 1.0:
        raise ValueError(f"p_lower must be in [0, 1], got {p_lower}")
    if not p_lower > 0.5:
        return -1
    lo, hi = 0, d - k  # invariant: lo qualifies
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if p_lower - ablation_delta(d, k, mid) > 0.5:
            lo = mid
        else:
            hi = mid - 1
    return lo


def l0_radius_pairwise(p_lower_a: float, p_upper_b: float, d: int, k: int) -> int:
    """Pairwise certified L0 radius (Jia et al. style, docs/protocol.md §2).

    Under ablation, a change of rho pixels can move at most Delta(rho) of the probability mass, so
    p_A(x') >= p̲_A - Delta and p_B(x') <= p̄_B + Delta for every rival B: A stays the top class
    while 2 * Delta(rho) < p̲_A - p̄_B.

    Args:
        p_lower_a: lower bound p̲_A on the top class's probability, in [0, 1].
        p_upper_b: upper bound p̄_B on every rival's probability, in [0, 1].
        d: number of pixel positions.
        k: number of kept positions.

    Returns:
        The largest rho with 2 * Delta(rho) < p̲_A - p̄_B; -1 when p̲_A <= p̄_B. With
        p̄_B >= 1 - p̲_A (no information beyond p̲_A) this is exactly ``l0_radius(p_lower_a, d,
        k)``, and it is never smaller than that radius when p̄_B < 1 - p̲_A.
    """
    _check_dk(d, k)
    if not (0.0 <= p_lower_a <= 1.0 and 0.0 <= p_upper_b <= 1.0):
        raise ValueError(f"bounds must be in [0, 1], got {p_lower_a}, {p_upper_b}")
    paper = l0_radius(p_lower_a, d, k)
    if p_upper_b >= 1.0 - p_lower_a:  # p_B <= 1 - p_A holds anyway: the paper's certificate
        return paper
    if not p_lower_a > p_upper_b:
        return -1
    lo, hi = 0, d - k  # invariant: lo qualifies (Delta(0) = 0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if 2.0 * ablation_delta(d, k, mid) < p_lower_a - p_upper_b:
            lo = mid
        else:
            hi = mid - 1
    return max(lo, paper)  # equal in exact arithmetic; max() guards float rounding at the edge


def max_radius(n: int, alpha: float, d: int, k: int) -> int:
    """The largest radius CERTIFY can return with n estimation samples at level alpha.

    The best possible one-sided Clopper-Pearson bound is alpha ** (1 / n) (all n votes for the
    top class), so this is ``l0_radius(alpha ** (1 / n), d, k)``: 11 for N = 10,000,
    alpha = 0.05, d = 784, k = 45.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return l0_radius(alpha ** (1.0 / n), d, k)
