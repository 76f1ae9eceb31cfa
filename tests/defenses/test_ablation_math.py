"""defenses.ablation_math against docs/protocol.md §1 and hand-computed values."""

from __future__ import annotations

import random
from fractions import Fraction
from math import comb

import pytest

from defenses.ablation_math import ablation_delta, l0_radius, l0_radius_pairwise, max_radius

D, K = 784, 45

DELTA_VECTORS = [  # d=784, k=45, exact to 1e-15
    (1, 0.0573979592), (2, 0.1115704903), (3, 0.1626949505), (4, 0.2109391595),
    (5, 0.2564619003), (6, 0.2994133952), (7, 0.3399357566), (8, 0.3781634155),
    (9, 0.4142235267), (10, 0.4482363542), (11, 0.4803156359), (12, 0.5105689301),
]


@pytest.mark.parametrize(("rho", "expected"), DELTA_VECTORS)
def test_delta_matches_reference(rho: int, expected: float) -> None:
    assert ablation_delta(D, K, rho) == pytest.approx(expected, abs=1e-10)


def _exact_delta(d: int, k: int, rho: int) -> Fraction:
    return 1 - Fraction(comb(d - rho, k), comb(d, k))


@pytest.mark.parametrize(("d", "k"), [(784, 45), (1024, 75), (50176, 1000), (100, 3)])
@pytest.mark.parametrize("rho", [1, 2, 7, 33])
def test_delta_is_exact_to_1e15(d: int, k: int, rho: int) -> None:
    assert abs(ablation_delta(d, k, rho) - float(_exact_delta(d, k, rho))) < 1e-14


def test_delta_hand_values() -> None:
    # d=4, k=2: C(4,2)=6; rho=1: 1 - C(3,2)/6 = 1/2; rho=2: 1 - C(2,2)/6 = 5/6
    assert ablation_delta(4, 2, 0) == 0.0
    assert ablation_delta(4, 2, 1) == pytest.approx(0.5, abs=1e-15)
    assert ablation_delta(4, 2, 2) == pytest.approx(5 / 6, abs=1e-15)
    # rho > d - k: every ablation keeps a changed pixel
    assert ablation_delta(4, 2, 3) == 1.0
    assert ablation_delta(D, K, 1) == pytest.approx(45 / 784, abs=1e-15)


@pytest.mark.parametrize(
    ("p_lower", "radius"),
    [(0.55, 0), (0.60, 1), (0.70, 3), (0.80, 6), (0.90, 8), (0.95, 10), (0.99, 11), (0.999, 11)],
)
def test_radius_table(p_lower: float, radius: int) -> None:
    assert l0_radius(p_lower, D, K) == radius


def test_radius_none_at_or_below_half() -> None:
    assert l0_radius(0.5, D, K) == -1
    assert l0_radius(0.3, D, K) == -1
    assert l0_radius(0.0, D, K) == -1


def test_radius_boundary_is_strict() -> None:
    # d=8, k=1: Delta(rho) = rho/8; p_lower = 0.875: rho=3 lands exactly on 1/2, so 2.
    assert l0_radius(0.875, 8, 1) == 2
    # d=4, k=2, p_lower=1: Delta(1) = 1/2 leaves exactly 1/2, not more: radius 0.
    assert l0_radius(1.0, 4, 2) == 0
    # p = 1/2 + 45/784 sits exactly on the rho=1 boundary: margin 1e-9.
    boundary = 0.5 + 45 / 784
    assert l0_radius(boundary - 1e-9, D, K) == 0
    assert l0_radius(boundary + 1e-9, D, K) == 1


@pytest.mark.parametrize(
    ("k", "cap", "at_09"),
    [(5, 101, 75), (10, 52, 38), (20, 26, 19), (30, 17, 12), (45, 11, 8), (60, 8, 6),
     (75, 6, 5), (100, 5, 3)],
)
def test_radius_across_k(k: int, cap: int, at_09: int) -> None:
    assert l0_radius(0.99970, D, k) == cap
    assert l0_radius(0.9, D, k) == at_09


@pytest.mark.parametrize(
    ("d", "k", "radii"),
    [(1024, 75, [1, 2, 4, 6, 7, 8, 9]), (50176, 1000, [5, 11, 17, 25, 29, 33, 34])],
)
def test_radius_other_datasets(d: int, k: int, radii: list[int]) -> None:
    ps = [0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.99970]
    assert [l0_radius(p, d, k) for p in ps] == radii


def test_max_radius() -> None:
    assert max_radius(10000, 0.05, D, K) == 11


@pytest.mark.parametrize("bad", [(0, 1, 0), (10, 0, 1), (10, 11, 1), (10, 3, -1)])
def test_delta_rejects_impossible(bad: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        ablation_delta(*bad)


def test_radius_rejects_bad_probability() -> None:
    with pytest.raises(ValueError):
        l0_radius(1.5, D, K)


PAIRWISE = [  # (p_lower_a, p_upper_b, paper radius, pairwise radius)
    (0.8, 0.2, 6, 6), (0.8, 0.1, 6, 7), (0.9, 0.05, 8, 9), (0.7, 0.1, 3, 6),
    (0.6, 0.2, 1, 3), (0.55, 0.05, 0, 4), (0.99, 0.005, 11, 11),
]


@pytest.mark.parametrize(("p_a", "p_b", "paper", "pairwise"), PAIRWISE)
def test_pairwise_vectors(p_a: float, p_b: float, paper: int, pairwise: int) -> None:
    assert l0_radius(p_a, D, K) == paper
    assert l0_radius_pairwise(p_a, p_b, D, K) == pairwise


def test_pairwise_equals_paper_without_rival_information() -> None:
    for i in range(1, 2000):
        p = i / 2000
        assert l0_radius_pairwise(p, 1.0 - p, D, K) == l0_radius(p, D, K)
    edge = 0.5 + 45 / 784  # the paper's boundary: radius 0, radius 1 just above
    assert l0_radius_pairwise(edge, 1.0 - edge, D, K) == 0
    assert l0_radius_pairwise(edge + 1e-12, 1.0 - edge - 1e-12, D, K) == 1


def test_pairwise_never_below_paper() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        p_a = rng.random()
        p_b = rng.random() * (1.0 - p_a)
        assert l0_radius_pairwise(p_a, p_b, D, K) >= l0_radius(p_a, D, K)


def test_pairwise_rule_is_two_delta_below_gap() -> None:
    for p_a, p_b in [(0.8, 0.1), (0.7, 0.1), (0.55, 0.05), (0.4, 0.1)]:
        r = l0_radius_pairwise(p_a, p_b, D, K)
        assert 2 * ablation_delta(D, K, r) < p_a - p_b
        assert not 2 * ablation_delta(D, K, r + 1) < p_a - p_b
    assert l0_radius_pairwise(0.3, 0.3, D, K) == -1
    assert l0_radius_pairwise(0.3, 0.35, D, K) == -1


def test_pairwise_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError):
        l0_radius_pairwise(1.2, 0.1, D, K)
