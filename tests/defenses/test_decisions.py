"""defenses.decisions: PREDICT's decision against a label, and exact early stopping, checked
against every completion of the remaining votes."""

from __future__ import annotations

import itertools

import pytest

from defenses.decisions import attack_succeeds, settled_outcome


def _completions(counts: list[int], remaining: int) -> list[list[int]]:
    out = []
    for assignment in itertools.combinations_with_replacement(range(len(counts)), remaining):
        full = list(counts)
        for c in assignment:
            full[c] += 1
        out.append(full)
    return out


def test_attack_succeeds_by_hand() -> None:
    # 10 vs 0: two-sided p = 2 / 2**10 = 0.00195 <= 0.05: PREDICT answers class 0
    assert not attack_succeeds([10, 0, 0], 0, 0.05)
    assert attack_succeeds([10, 0, 0], 1, 0.05)  # a wrong class
    # 6 vs 4: p = 0.754 > 0.05: abstains, which counts as a successful attack
    assert attack_succeeds([6, 4, 0], 0, 0.05)
    # a tie goes to the lower index
    assert attack_succeeds([0, 50, 50], 2, 0.5)


@pytest.mark.parametrize("alpha", [0.05, 0.3, 0.6])
@pytest.mark.parametrize("label", [0, 1, 2])
def test_settled_matches_every_completion(alpha: float, label: int) -> None:
    checked = settled = 0
    for counts in itertools.product(range(0, 13, 3), repeat=3):
        for remaining in range(0, 5):
            outcomes = {attack_succeeds(c, label, alpha)
                        for c in _completions(list(counts), remaining)}
            got = settled_outcome(list(counts), remaining, label, alpha)
            expected = outcomes.pop() if len(outcomes) == 1 else None
            assert got == expected, (counts, remaining, label, alpha)
            checked += 1
            settled += got is not None and remaining > 0
    assert checked == 5**3 * 5 and settled > 0


def test_nothing_remaining_is_the_decision_itself() -> None:
    assert settled_outcome([9, 1, 0], 0, 0, 0.05) is attack_succeeds([9, 1, 0], 0, 0.05)
    assert settled_outcome([9000, 0], 0, 0, 0.05) is False


def test_large_counts() -> None:
    # 9,000 of 10,000 votes so far for the label and 1,000 to come: settled either way it goes
    assert settled_outcome([9000, 0, 0], 1000, 0, 0.05) is False
    assert settled_outcome([0, 9000, 0], 1000, 0, 0.05) is True
    assert settled_outcome([4000, 3900, 0], 2100, 0, 0.05) is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="remaining"):
        settled_outcome([1, 2], -1, 0, 0.05)
    with pytest.raises(ValueError, match="label"):
        settled_outcome([1, 2], 0, 2, 0.05)
