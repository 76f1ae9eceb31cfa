"""The partition-vote radius against hand-computed vote vectors, ties both ways."""

from __future__ import annotations

import pytest

from defenses.partition_math import partition_radius, plurality, runner_up


@pytest.mark.parametrize(("counts", "top", "second", "radius"), [
    # 9 - 4 = 5 votes apart: two changed votes leave 7 against 6, three give 6 against 7
    ([1, 9, 4], 1, 2, 2),
    # unanimous: 25 - 0 = 25, twelve changed votes leave 13 against 12
    ([0, 0, 25, 0], 2, 0, 12),
    # the runner-up has the smaller label and wins ties: 4 - 2 - 1 = 1, and one changed vote
    # gives 3 against 3, which class 0 wins
    ([2, 4], 1, 0, 0),
    # the answer has the smaller label and wins ties: one changed vote gives 3 against 3, which
    # class 0 still wins; two give 2 against 4
    ([4, 2], 0, 1, 1),
    # a tie already: the smaller label answers and nothing beyond x is certified
    ([3, 3, 1], 0, 1, 0),
    ([1, 3, 3], 1, 2, 0),
    # among tied runners-up the smaller label counts: 5 - 2 - 1 = 2
    ([2, 0, 5, 2], 2, 0, 1),
    # ... and when it is above the answer: 6 - 2 = 4
    ([6, 2, 0, 2], 0, 1, 2),
    # one group: its vote is certified against no change
    ([0, 1], 1, 0, 0),
])
def test_hand_values(counts: list[int], top: int, second: int, radius: int) -> None:
    assert plurality(counts) == top
    assert runner_up(counts) == second
    assert partition_radius(counts) == radius


def test_the_radius_is_what_changed_votes_allow() -> None:
    """For every vote vector of 3 classes and up to 9 votes: the radius is one less than the
    fewest changed votes that change the plurality (each moving a vote between two classes)."""
    for total in range(1, 10):
        for a in range(total + 1):
            for b in range(total + 1 - a):
                counts = [a, b, total - a - b]
                top = plurality(counts)
                fewest = min(_fewest_moves(counts, other) for other in range(3) if other != top)
                assert partition_radius(counts) == fewest - 1, counts


def _fewest_moves(counts: list[int], other: int) -> int:
    """Changed votes, each from the current plurality to ``other``, until ``other`` wins."""
    votes, moves = list(counts), 0
    while plurality(votes) != other:
        votes[plurality(votes)] -= 1
        votes[other] += 1
        moves += 1
    return moves


@pytest.mark.parametrize("counts", [[5], [1, -1]])
def test_bad_votes_are_refused(counts: list[int]) -> None:
    with pytest.raises(ValueError):
        partition_radius(counts)
