"""Cohen et al. (2019)'s L2 certificate of Gaussian smoothing: pure math, no torch.

A base classifier smoothed by isotropic Gaussian noise N(0, sigma^2 I) is certified at x with
radius sigma * PhiInverse(p_A) in L2, where p_A is a lower bound on the probability of its top
class (Cohen et al. 2019, Theorem 1 with p_B = 1 - p_A; docs/protocol.md §7).
"""

from __future__ import annotations

import math

from scipy.stats import norm

__all__ = ["check_sigma", "l2_radius"]


def check_sigma(sigma: float) -> None:
    """ValueError unless sigma is a finite positive noise level."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be finite and > 0, got {sigma}")


def l2_radius(p_lower: float, sigma: float) -> float:
    """The certified L2 radius sigma * PhiInverse(p_lower), or -1.0 when p_lower <= 1/2 (nothing is
    certified).

    Args:
        p_lower: a lower confidence bound on the top class's probability under the noise, in
            [0, 1].
        sigma: the noise's standard deviation (per coordinate, on [0, 1] pixel values).
    """
    check_sigma(sigma)
    if not 0.0 <= p_lower <= 1.0:
        raise ValueError(f"p_lower must be in [0, 1], got {p_lower}")
    if p_lower <= 0.5:
        return -1.0
    return float(sigma * norm.ppf(p_lower))
