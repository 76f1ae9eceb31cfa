"""defenses.lee_math against Lee et al.'s published thresholds (docs/protocol.md §3)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from defenses.lee_math import lee_l0_radius, lee_threshold, to_fraction
from defenses.stats import clopper_pearson_lower

P_GRID = (0.6, 0.8, 0.9, 0.99, 0.999)

THRESHOLDS = [  # (num_values, kappa, theta_1, theta_2, theta_3)
    (256, 0.1, 0.596471, 0.682954, 0.760551),
    (256, 0.2, 0.696863, 0.853735, 0.978988),
    (256, 0.3, 0.797255, 0.996241, 0.997379),
    (2, 0.72, 0.805556, 0.924383, 0.928756),
    (2, 0.8, 0.875, 0.96875, 0.9921875),
    (2, 0.9, 0.944444, 0.993827, 0.999314),
]

RADII = [  # (num_values, kappa, radius at each p of P_GRID)
    (256, 0.1, (1, 3, 5, 9, 16)),
    (256, 0.2, (0, 1, 2, 3, 7)),
    (256, 0.3, (0, 1, 1, 1, 4)),
    (2, 0.72, (0, 0, 1, 7, 11)),
    (2, 0.8, (0, 0, 1, 2, 5)),
    (2, 0.9, (0, 0, 0, 1, 2)),
]


@pytest.mark.parametrize(("num_values", "kappa", "t1", "t2", "t3"), THRESHOLDS)
def test_thresholds(num_values: int, kappa: float, t1: float, t2: float, t3: float) -> None:
    got = [float(lee_threshold(r, kappa, num_values)) for r in (1, 2, 3)]
    assert got == pytest.approx([t1, t2, t3], abs=1e-6)


def test_more_kappa_01_thresholds() -> None:
    expected = [0.830237, 0.892873, 0.949221, 0.987398, 0.988643, 0.989923, 0.991217, 0.992510]
    got = [float(lee_threshold(r, 0.1)) for r in range(4, 12)]
    assert got == pytest.approx(expected, abs=1e-6)


def test_closed_forms() -> None:
    # theta_0 = 1/2; K = 255, r = 1: theta_1 = 0.6 - beta (docs/protocol.md §3); K = 1, kappa 0.8:
    # theta_1 = 7/8 and theta_3 = 127/128 exactly
    assert lee_threshold(0, 0.1) == Fraction(1, 2)
    assert lee_threshold(1, 0.1) == Fraction(6, 10) - Fraction(9, 10) / 255
    assert lee_threshold(1, 0.8, 2) == Fraction(7, 8)
    assert lee_threshold(3, 0.8, 2) == Fraction(127, 128)


@pytest.mark.parametrize(("num_values", "kappa", "radii"), RADII)
def test_radius_table(num_values: int, kappa: float, radii: tuple[int, ...]) -> None:
    assert tuple(lee_l0_radius(p, kappa, num_values) for p in P_GRID) == radii


@pytest.mark.parametrize(("successes", "radii"), [
    (9900, (7, 3, 1, 2)), (9000, (5, 2, 1, 1)), (10000, (18, 7, 5, 6)),
])
def test_end_to_end_with_our_counts(successes: int, radii: tuple[int, ...]) -> None:
    p = clopper_pearson_lower(successes, 10000, 0.05)
    got = (lee_l0_radius(p, 0.1), lee_l0_radius(p, 0.2), lee_l0_radius(p, 0.3),
           lee_l0_radius(p, 0.8, 2))
    assert got == radii


@pytest.mark.parametrize(("kappa", "cap"), [(0.72, 17), (0.8, 9), (0.88, 4), (0.96, 2)])
def test_lee_protocol_caps(kappa: float, cap: int) -> None:
    assert lee_l0_radius(0.99993092, kappa, 2) == cap


def test_the_inequality_is_strict() -> None:
    theta = float(lee_threshold(1, 0.8, 2))  # 0.875, exact in binary
    assert lee_l0_radius(theta, 0.8, 2) == 0
    assert lee_l0_radius(theta + 1e-12, 0.8, 2) == 1
    assert lee_l0_radius(0.5, 0.1) == -1
    assert lee_l0_radius(0.5 + 1e-12, 0.1) == 0


def test_thresholds_increase() -> None:
    values = [lee_threshold(r, 0.15) for r in range(0, 15)]
    assert all(a < b for a, b in itertools.pairwise(values))


def test_p_one_needs_a_cap() -> None:
    with pytest.raises(ValueError, match="max_radius"):
        lee_l0_radius(1.0, 0.1)
    assert lee_l0_radius(1.0, 0.1, max_radius=5) == 5
    assert lee_l0_radius(0.999, 0.1, max_radius=3) == 3


@pytest.mark.parametrize(("kappa", "num_values"), [(1 / 256, 256), (0.5, 2), (0.0, 256),
                                                   (1.2, 256), (0.3, 1)])
def test_impossible_parameters(kappa: float, num_values: int) -> None:
    with pytest.raises(ValueError):
        lee_threshold(1, kappa, num_values)


def test_kappa_is_read_as_its_decimal() -> None:
    assert to_fraction(0.1) == Fraction(1, 10)
    assert to_fraction(Fraction(1, 3)) == Fraction(1, 3)
