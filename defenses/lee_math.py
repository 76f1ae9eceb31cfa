"""Pure arithmetic of Lee et al.'s discrete L0 certificate (NeurIPS 2019, docs/protocol.md §3).

No torch, no randomness, no I/O. Exact rationals (``fractions.Fraction``) throughout.

Symbols: each coordinate takes one of ``num_values`` = K + 1 levels; the noise keeps a coordinate
with probability ``kappa`` (κ, Lee's "alpha") and otherwise moves it to one of the K other levels,
each with probability beta = (1 - kappa) / K. ``r`` is an L0 distance in coordinates (channel
values; the same as pixel positions for one-channel images), ``p_lower`` is p̲_A, and the threshold
theta_r is the smallest p̲_A that certifies at distance r (certified iff p̲_A > theta_r).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

__all__ = ["check_kappa", "lee_l0_radius", "lee_threshold", "to_fraction"]


def to_fraction(kappa: float | Fraction) -> Fraction:
    """kappa as an exact rational: a float is read as the decimal it prints as (0.1 -> 1/10)."""
    return kappa if isinstance(kappa, Fraction) else Fraction(repr(float(kappa)))


def check_kappa(kappa: Fraction, num_values: int) -> None:
    """ValueError unless num_values >= 2 and 1/num_values < kappa <= 1."""
    if num_values < 2:
        raise ValueError(f"num_values must be >= 2, got {num_values}")
    if not Fraction(1, num_values) < kappa <= 1:
        raise ValueError(
            f"kappa must be in (1/num_values, 1] = (1/{num_values}, 1], got {kappa}: at or below "
            "1/num_values a noised value says nothing about the input and nothing is certified"
        )


@lru_cache(maxsize=4096)
def _threshold(r: int, kappa: Fraction, num_values: int) -> Fraction:
    if r == 0:
        return Fraction(1, 2)
    levels = num_values - 1  # K: the other levels a coordinate can move to
    beta = (1 - kappa) / levels
    other = (levels - 1) * beta  # mass of "neither x_i nor x'_i": the same under both inputs
    p_x: dict[int, Fraction] = {}
    p_x2: dict[int, Fraction] = {}
    for u in range(r + 1):  # u coordinates equal x_i, v equal x'_i, w neither
        for v in range(r - u + 1):
            w = r - u - v
            if levels == 1 and w > 0:
                continue
            mult = math.factorial(r) // (math.factorial(u) * math.factorial(v) * math.factorial(w))
            o = other**w
            p_x[u - v] = p_x.get(u - v, Fraction(0)) + mult * kappa**u * beta**v * o
            p_x2[u - v] = p_x2.get(u - v, Fraction(0)) + mult * beta**u * kappa**v * o
    # Neyman-Pearson: fill regions in decreasing likelihood ratio (kappa/beta)^(u-v) until the
    # mass under x' is 1/2; theta_r is the mass under x of that set.
    need, mass = Fraction(1, 2), Fraction(0)
    for t in range(r, -r - 1, -1):
        q = p_x2.get(t, Fraction(0))
        if q < need:
            need -= q
            mass += p_x.get(t, Fraction(0))
        else:
            return mass + p_x.get(t, Fraction(0)) * need / q
    raise AssertionError("the regions' mass under x' sums to 1")  # pragma: no cover


def lee_threshold(r: int, kappa: float | Fraction, num_values: int = 256) -> Fraction:
    """theta_r: the certificate at L0 distance r holds iff p̲_A > theta_r (docs/protocol.md §3).

    Args:
        r: number of changed coordinates, r >= 0 (theta_0 = 1/2).
        kappa: probability that the noise keeps a coordinate, 1/num_values < kappa <= 1.
        num_values: levels per coordinate, K + 1 (256 for 8-bit images, 2 for binarised ones).

    Returns:
        theta_r as an exact Fraction; it does not depend on the dimension d, and increases with r.
    """
    if r < 0:
        raise ValueError(f"r must be >= 0, got {r}")
    kappa_q = to_fraction(kappa)
    check_kappa(kappa_q, num_values)
    return _threshold(r, kappa_q, num_values)


def lee_l0_radius(
    p_lower: float, kappa: float | Fraction, num_values: int = 256, max_radius: int | None = None
) -> int:
    """Certified L0 radius of Lee et al.: the largest r with p̲_A > theta_1, ..., theta_r.

    Args:
        p_lower: lower confidence bound p̲_A on the top class's probability under the noise.
        kappa: probability that the noise keeps a coordinate (1/num_values < kappa <= 1).
        num_values: levels per coordinate (K + 1).
        max_radius: the largest radius to report (the number of coordinates d); required when
            p_lower == 1, where every radius would be certified.

    Returns:
        The radius in coordinates; -1 when p_lower <= 1/2 (not even x itself is certified).
    """
    if not 0.0 <= p_lower <= 1.0:
        raise ValueError(f"p_lower must be in [0, 1], got {p_lower}")
    if max_radius is not None and max_radius < 0:
        raise ValueError(f"max_radius must be >= 0, got {max_radius}")
    kappa_q = to_fraction(kappa)
    check_kappa(kappa_q, num_values)
    if not p_lower > 0.5:
        return -1
    if p_lower == 1.0 and max_radius is None:
        raise ValueError("p_lower == 1 certifies every radius: pass max_radius (the dimension)")
    r = 0
    while (max_radius is None or r < max_radius) and p_lower > _threshold(r + 1, kappa_q,
                                                                          num_values):
        r += 1
    return r
