"""The certified-defense comparison against hand-computed rows: common images, cost, failure
probability and the strongest attack."""

from __future__ import annotations

import math

from reports.certified import (
    certified_rows,
    certified_table,
    comparable_runs,
    failure_probability,
    forward_passes,
)
from reports.joined import AttackRun, CertifyRun, Pairing
from tests.bench.test_store import attack_record, record


def _sampled(radii: list[int]) -> CertifyRun:
    return CertifyRun(tuple(record(i, radius=r, prediction=7 if r >= 0 else 3, seconds=2.0)
                            for i, r in enumerate(radii)))


def _exact(radii: list[int]) -> CertifyRun:
    """A partition defense of 5 groups: no N0, N or alpha, its votes as counts."""
    return CertifyRun(tuple(
        record(i, run_hash="p", defense="fpa-t5", model_id="q", radius=r, p_lower=1.0,
               selection_counts=(), counts=(0,) * 7 + (5, 0, 0), n0=0, n=0, alpha=0.0,
               certificate="partition", prediction=7 if r >= 0 else 3, seconds=0.5)
        for i, r in enumerate(radii)))


def test_cost_and_failure_probability_per_kind() -> None:
    sampled, exact = _sampled([1]).first, _exact([1]).first
    assert (forward_passes(sampled), failure_probability(sampled)) == (16, 0.05)  # N0 + N
    assert (forward_passes(exact), failure_probability(exact)) == (5, 0.0)  # T votes
    plain = record(0, counts=(), selection_counts=(), certificate="none")
    assert forward_passes(plain) == 1


def test_rows_on_the_common_images_with_the_strongest_attack() -> None:
    sampled, exact = _sampled([4, 2, -1, 6, 9]), _exact([3, 5, 1, -1])  # images 0-4 and 0-3
    ((runs, images),) = comparable_runs([sampled, exact])
    assert images == [0, 1, 2, 3]
    # two attack runs on the exact defense: per image the smaller confirmed L0 counts
    first = AttackRun(tuple(attack_record(i, run_hash="x", defense="fpa-t5", model_id="q",
                                          mask_policy="none", n=0,
                                          best_confirmed_l0=l0)
                            for i, l0 in enumerate([4.0, 9.0, math.inf])))
    second = AttackRun(tuple(attack_record(i, run_hash="y", attack="ensemble",
                                           defense="fpa-t5", model_id="q", mask_policy="none",
                                           best_confirmed_l0=l0)
                             for i, l0 in enumerate([6.0, 7.0, 2.0])))
    pairings = [Pairing(first, exact), Pairing(second, exact)]
    rows = certified_rows(runs, images, pairings, max_rho=4)
    by_kind = {row.failure: row for row in rows}
    s, e = by_kind[0.05], by_kind[0.0]
    assert (s.images, s.accuracy, s.median_radius) == (4, 0.75, 2)  # radii -1, 2, 4, 6
    assert s.certified_accuracy == (0.75, 0.75, 0.75, 0.5, 0.5)
    assert (s.forward_passes, s.seconds, s.attack_median, s.attacks) == (16, 2.0, None, ())
    assert (e.median_radius, e.forward_passes, e.seconds) == (1, 5, 0.5)  # radii -1, 1, 3, 5
    # smallest per image: 4, 7, 2 -> lower median 4, on 3 attacked images
    assert (e.attack_median, e.attacked, e.attacks) == (4.0, 3, ("ensemble", "pointwise"))
    table = certified_table(rows).markdown()
    assert "| 16 | 2.0000 | 0.05 | - | 0 | - |" in table
    assert "| 5 | 0.5000 | 0 | 4 | 3 | ensemble, pointwise |" in table


def test_a_single_run_is_not_compared() -> None:
    assert comparable_runs([_sampled([1, 2])]) == []
