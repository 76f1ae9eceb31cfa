"""defenses.stats against docs/protocol.md §1 and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from defenses.ablation_math import l0_radius, l0_radius_pairwise
from defenses.stats import (
    _bdtr_pvalue,
    clopper_pearson_lower,
    clopper_pearson_upper,
    predict_from_counts,
    simultaneous_bounds,
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


def _spread(n_a: int, n_b: int, n: int = 10000, classes: int = 10) -> list[int]:
    """Counts with n_a for class 0, n_b for class 1 and the rest spread below n_b."""
    counts = [n_a, n_b] + [0] * (classes - 2)
    rest = n - n_a - n_b
    for i in range(rest):
        counts[2 + i % (classes - 2)] += 1
    assert max(counts[2:]) <= n_b
    return counts


@pytest.mark.parametrize(("n_a", "n_b", "p_lower", "p_upper", "radius"), [
    # SimuEM at alpha / 10 from N = 10,000 votes (docs/protocol.md §2)
    (9000, 600, 0.892031, 0.066380, 8), (8000, 1500, 0.789504, 0.159414, 6),
    (7000, 500, 0.688052, 0.055882, 6), (6000, 3000, 0.587286, 0.311948, 2),
])
def test_simultaneous_bounds_vectors(n_a: int, n_b: int, p_lower: float, p_upper: float,
                                     radius: int) -> None:
    lower, upper = simultaneous_bounds(_spread(n_a, n_b), 0, 0.05)
    assert (lower, upper) == pytest.approx((p_lower, p_upper), abs=1e-6)
    assert l0_radius_pairwise(lower, upper, 784, 45) == radius


def test_simultaneous_bounds_clip_at_one_minus_lower() -> None:
    lower, upper = simultaneous_bounds([6000, 4000] + [0] * 8, 0, 0.05)
    assert upper == 1.0 - lower


def test_upper_bound_mirrors_lower() -> None:
    assert clopper_pearson_upper(10000, 10000, 0.05) == 1.0
    assert clopper_pearson_upper(0, 10000, 0.05) == pytest.approx(1 - 0.05 ** (1 / 10000))
    assert clopper_pearson_upper(600, 10000, 0.005) == pytest.approx(0.066380, abs=1e-6)
    with pytest.raises(ValueError):
        clopper_pearson_upper(11, 10, 0.05)


def test_top_two_decides_shortcut_agrees_with_the_exact_test() -> None:
    for alpha in (0.001, 0.05, 0.3):
        for total in (1, 2, 10, 57, 400, 3000, 10000):
            for n_first in range(total // 2, total + 1, max(1, total // 97)):
                n_second = total - n_first
                exact = top_two_pvalue(n_first, n_second) <= alpha
                assert top_two_decides(n_first, n_second, alpha) == exact, (n_first, n_second)


def test_top_two_decides_fast_pvalue_is_binomtests() -> None:
    """The bdtr p-value of the fast path equals scipy's two-sided binomtest (to 1e-9 relative),
    and decisions next to alpha, where it defers to binomtest, equal binomtest's."""
    from scipy.stats import binomtest

    rng = np.random.default_rng(0)
    pairs = [(a, b) for a in range(40) for b in range(40)]
    pairs += [(int(a), int(b)) for a, b in rng.integers(0, 10001, size=(300, 2))]
    pairs += [(t // 2 + d, t - t // 2 - d) for t in rng.integers(1, 10001, size=150).tolist()
              for d in (-40, -3, -1, 0, 1, 2, 25, 70) if t // 2 + d >= 0 and t - t // 2 - d >= 0]
    for a, b in pairs:
        if a + b == 0:
            continue
        exact = binomtest(a, a + b, 0.5).pvalue
        fast = _bdtr_pvalue(a, b)
        assert fast == pytest.approx(exact, rel=1e-9, abs=1e-300), (a, b)
    for total in (20, 500, 10000):  # the runner-up counts on both sides of alpha's threshold
        threshold = max(m for m in range(total // 2 + 1)
                        if top_two_pvalue(total - m, m) <= 0.05)
        for m in range(max(0, threshold - 3), threshold + 4):
            exact = top_two_pvalue(total - m, m) <= 0.05
            assert top_two_decides(total - m, m, 0.05) is exact
            assert top_two_decides(m, total - m, 0.05) is exact
    with pytest.raises(ValueError):
        top_two_decides(-1, 3, 0.05)
