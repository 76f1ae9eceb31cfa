"""defenses.stats against ALGORITHMS.md §1.5-1.8 and hand-computed values."""

from __future__ import annotations

import pytest

from defenses.ablation_math import l0_radius
from defenses.stats import (
    clopper_pearson_lower,
    predict_from_counts,
    top_two,
    top_two_decides,
    top_two_pvalue,
)


def test_all_successes_is_alpha_root() -> None:
    # n_top = n: the bound is alpha ** (1/n); n=10, alpha=0.05: 0.05 ** 0.1 = 0.74113
    assert clopper_pearson_lower(10, 10, 0.05) == pytest.approx(0.7411344, abs=1e-6)
    assert clopper_pearson_lower(10000, 10000, 0.05) == pytest.approx(0.9997004716, abs=1e-10)


def test_zero_successes_is_zero() -> None:
    assert clopper_pearson_lower(0, 100, 0.05) == 0.0


@pytest.mark.parametrize(
    ("n_top", "p_lower", "radius"),
    [(9900, 0.9882027660, 11), (9000, 0.8949288834, 8), (5500, 0.5417569545, 0),
     (5000, 0.4917265044, -1)],
)
def test_clopper_pearson_vectors(n_top: int, p_lower: float, radius: int) -> None:
    bound = clopper_pearson_lower(n_top, 10000, 0.05)
    assert bound == pytest.approx(p_lower, abs=1e-9)
    assert l0_radius(bound, 784, 45) == radius


def test_one_sided_not_two_sided() -> None:
    # a two-sided 95% interval would use alpha/2 = 0.025 and give a smaller bound
    assert clopper_pearson_lower(90, 100, 0.05) > clopper_pearson_lower(90, 100, 0.025)


@pytest.mark.parametrize(
    ("n1", "n2", "pvalue", "decides"),
    [(60, 40, 0.0568879, False), (61, 39, 0.0352002, True), (59, 41, 0.0886261, False),
     (5100, 4900, 0.0465855, True), (5099, 4901, 0.0488329, True),
     (5098, 4902, 0.0511707, False), (5, 0, 0.0625, False), (6, 0, 0.03125, True),
     (3, 3, 1.0, False)],
)
def test_predict_vectors(n1: int, n2: int, pvalue: float, decides: bool) -> None:
    assert top_two_pvalue(n1, n2) == pytest.approx(pvalue, abs=1e-7)
    assert top_two_decides(n1, n2, 0.05) is decides


def test_top_two_breaks_ties_by_index() -> None:
    assert top_two([3, 5, 5, 1]) == (1, 5, 5)


def test_predict_from_counts() -> None:
    assert predict_from_counts([0, 61, 39], 0.05)[0] == 1
    assert predict_from_counts([0, 60, 40], 0.05)[0] == -1


@pytest.mark.parametrize(("args"), [(1, 0, 0.05), (5, 4, 0.05), (1, 4, 0.0), (1, 4, 1.0)])
def test_clopper_pearson_rejects_bad_input(args: tuple[int, int, float]) -> None:
    with pytest.raises(ValueError):
        clopper_pearson_lower(*args)
