"""PURE: the L2 threat model's tables (Gaussian smoothing's certificates and the L2
attacks), kept apart from every L0 result. No I/O.

Conventions (Cohen et al. 2019): an image is certified at L2 radius r when CERTIFY returns its true
class with p_lower > 1/2 and a radius >= r, whether CERTIFY abstains below 1/2 (``--abstain``) or
returns radius 0 there (the default); clean accuracy is PREDICT's. An attack's size is the
Euclidean norm of the confirmed adversarial's perturbation, +inf when none was confirmed, 0 when
the clean image is already wrong or abstained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reports.joined import CertifyRun, Pairing
from reports.records import AttackRecord, CertifyRecord
from reports.tables import lower_median
from reports.tabular import Table

__all__ = ["L2_RADII", "L2Row", "certified_l2", "l2_attack_table", "l2_rows", "l2_table"]

L2_RADII = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
"""The radii of the L2 tables: Cohen et al.'s 0.25 steps."""


def certified_l2(record: CertifyRecord, radius: float) -> bool:
    """Whether ``record`` certifies its true class at L2 ``radius``."""
    return record.radius >= 0 and record.p_lower > 0.5 and record.radius >= radius


@dataclass(frozen=True)
class L2Row:
    """One L2 certification run and the L2 attacks on its images.

    Attributes:
        label: the run as tables show it (defense, model, certificate settings).
        images: images certified.
        accuracy: PREDICT's accuracy (abstentions count as wrong).
        certified: certified accuracy at each of ``L2_RADII``.
        median_radius: lower median certified radius (misclassified, abstained or uncertified:
            0).
        seconds: mean CERTIFY seconds per image.
        attacks: (attack, images attacked, lower median confirmed L2 size, confirmed share of
            correctly answered images, violations) per L2 attack run on the run's images; a
            violation is a confirmed adversarial no farther than the image's certified radius.
    """

    label: str
    images: int
    accuracy: float
    certified: tuple[float, ...]
    median_radius: float
    seconds: float
    attacks: tuple[tuple[str, int, float, float, int], ...]


def _attack_summary(attack: Sequence[AttackRecord],
                    radius: dict[int, CertifyRecord]) -> tuple[str, int, float, float, int]:
    sizes = [r.best_confirmed_l0 for r in attack]
    attacked = [r for r in attack if not r.clean_adversarial]
    confirmed = sum(math.isfinite(r.best_confirmed_l0) for r in attacked)
    violations = sum(1 for r in attacked if r.image in radius and
                     certified_l2(radius[r.image], 0.0) and
                     r.best_confirmed_l0 <= radius[r.image].radius)
    return (attack[0].attack, len(attack), float(lower_median(sizes)),
            confirmed / max(1, len(attacked)), violations)


def l2_rows(certifies: Sequence[CertifyRun], pairings: Sequence[Pairing]) -> list[L2Row]:
    """A row per L2 certification run, with the attack runs joined with it (``pair_runs`` joins
    runs of one threat model only)."""
    rows = []
    for run in certifies:
        records = run.records
        n = len(records)
        by_image = {r.image: r for r in records}
        attacks = tuple(_attack_summary(p.attack.records, by_image) for p in pairings
                        if p.certify is run)
        rows.append(L2Row(
            label=run.label, images=n,
            accuracy=sum(r.prediction == r.label for r in records) / n,
            certified=tuple(sum(certified_l2(r, rho) for r in records) / n for rho in L2_RADII),
            median_radius=float(lower_median([r.radius if certified_l2(r, 0.0) else 0.0
                                              for r in records])),
            seconds=sum(r.seconds for r in records) / n, attacks=attacks))
    return rows


def l2_table(rows: Sequence[L2Row]) -> Table:
    """Certified accuracy at each L2 radius, clean accuracy, median radius and the strongest
    confirmed L2 attack per run."""
    columns = ("defense", "images", "clean accuracy",
               *(f"certified @ {rho:g}" for rho in L2_RADII), "median radius",
               "seconds / image", "attack", "attack median L2", "confirmed", "violations")
    out = []
    for row in rows:
        cells = (row.label, str(row.images), f"{100 * row.accuracy:.1f}%",
                 *(f"{100 * c:.1f}%" for c in row.certified), f"{row.median_radius:.3f}",
                 f"{row.seconds:.3f}")
        if not row.attacks:
            out.append((*cells, "-", "-", "-", "-"))
        for name, images, median, share, bad in row.attacks:
            out.append((*cells, f"{name} ({images} images)", f"{median:.3f}",
                        f"{100 * share:.1f}%", str(bad)))
    return Table(columns, tuple(out), "lr" + "r" * (len(columns) - 6) + "lrrr")


def l2_attack_table(pairings: Sequence[Pairing]) -> Table:
    """A row per L2 attack run: images, clean accuracy, lower median confirmed L2 size,
    confirmed share of the correctly answered images, the certificate it was joined with (an L2
    one of the same defense, model and images, or none) and violations of it."""
    columns = ("defense and attack", "images", "clean accuracy", "median confirmed L2",
               "confirmed", "seconds / image", "certificate", "violations")
    out = []
    for p in pairings:
        records = p.attack.records
        by_image = {r.image: r for r in p.certify.records} if p.certify else {}
        _, images, median, share, bad = _attack_summary(records, by_image)
        clean = sum(not r.clean_adversarial for r in records) / images
        out.append((p.attack.label, str(images), f"{100 * clean:.1f}%", f"{median:.3f}",
                    f"{100 * share:.1f}%", f"{sum(r.seconds for r in records) / images:.2f}",
                    p.certify.label if p.certify else "none",
                    str(bad) if p.certify else "-"))
    return Table(columns, tuple(out), "lrrrrrlr")
