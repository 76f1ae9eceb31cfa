"""PURE: certified defenses compared on the same test images, randomized and deterministic alike.
No I/O.

Every certification run of one test set is cut down to the images all of them certified. Per run:
accuracy, the median certified L0 (misclassified = -inf), certified accuracy at each rho, what a
certificate costs (forward passes and seconds per image), its failure probability (alpha for a
sampled certificate, 0 for an exact one) and the median of the smallest confirmed L0 that any
attack run on the same defense and model found on those images.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from reports.comparison import run_name
from reports.joined import CertifyRun, Pairing
from reports.records import CertifyRecord
from reports.tables import lower_median, shown_defense
from reports.tabular import Table

__all__ = ["CertifiedRow", "certified_rows", "certified_table", "comparable_runs",
           "failure_probability", "forward_passes"]


def forward_passes(record: CertifyRecord) -> int:
    """Base-classifier forward passes behind one certificate: N0 + N for a sampled one, the votes
    of a partition defense (T), 1 for a plain classifier."""
    if record.sampled:
        return record.n0 + record.n
    return max(1, sum(record.counts))


def failure_probability(record: CertifyRecord) -> float:
    """The probability that the certificate is wrong: alpha when it is estimated from samples, 0
    when it is exact."""
    return record.alpha if record.sampled else 0.0


@dataclass(frozen=True)
class CertifiedRow:
    """One certification run on the common images.

    Attributes:
        label: the run as tables show it (``CertifyRun.label``).
        images: the common images.
        accuracy: share of them PREDICT answers correctly.
        median_radius: lower median certified radius, -1 (N/A) when the median image is
            misclassified.
        certified_accuracy: share with radius >= rho, for rho = 0..max_rho.
        forward_passes: per certified image.
        seconds: mean seconds per certified image.
        failure: the certificate's failure probability.
        attack_median: lower median over the attacked common images of the smallest confirmed
            L0 of any attack run on the same defense and model (+inf: none confirmed there;
            None: no attack run).
        attacked: how many common images those attack runs cover.
        attacks: their names.
    """

    label: str
    images: int
    accuracy: float
    median_radius: int
    certified_accuracy: tuple[float, ...]
    forward_passes: int
    seconds: float
    failure: float
    attack_median: float | None
    attacked: int
    attacks: tuple[str, ...]


def comparable_runs(certifies: Sequence[CertifyRun]) -> list[tuple[list[CertifyRun], list[int]]]:
    """Certification runs grouped by test set (data fingerprint and threat model), with the images
    all runs of a group certified; only groups of two runs or more that share an image."""
    groups: dict[tuple[str, str], list[CertifyRun]] = {}
    for run in certifies:
        groups.setdefault((run.first.data_fingerprint, run.first.threat_model), []).append(run)
    out = []
    for runs in groups.values():
        common = set.intersection(*({r.image for r in run.records} for run in runs))
        if len(runs) > 1 and common:
            out.append((runs, sorted(common)))
    return out


def _same_defense(run: CertifyRun, pairing: Pairing) -> bool:
    c, a = run.first, pairing.attack.first
    return ((shown_defense(c.defense, c.config), c.model_id, c.data_fingerprint, c.threat_model)
            == (shown_defense(a.defense, a.config), a.model_id, a.data_fingerprint,
                a.threat_model))


def _strongest(run: CertifyRun, pairings: Sequence[Pairing],
               images: set[int]) -> tuple[dict[int, float], tuple[str, ...]]:
    """Per attacked common image, the smallest confirmed L0 over the attack runs on the run's
    defense and model (0 for an image already wrong when clean), and those runs' names."""
    best: dict[int, float] = {}
    names: list[str] = []
    for pairing in pairings:
        if not _same_defense(run, pairing):
            continue
        names.append(run_name(pairing.attack))
        for r in pairing.attack.records:
            if r.image in images:
                best[r.image] = min(best.get(r.image, math.inf), r.best_confirmed_l0)
    return best, tuple(sorted(set(names)))


def certified_rows(runs: Sequence[CertifyRun], images: Sequence[int],
                   pairings: Sequence[Pairing], max_rho: int = 15) -> list[CertifiedRow]:
    """One ``CertifiedRow`` per run, on ``images`` (which every run certified)."""
    wanted = set(images)
    rows = []
    for run in runs:
        records = [r for r in run.records if r.image in wanted]
        n = len(records)
        radii = [r.radius for r in records]
        best, attacks = _strongest(run, pairings, wanted)
        rows.append(CertifiedRow(
            label=run.label, images=n,
            accuracy=sum(r.prediction == r.label for r in records) / n,
            median_radius=int(lower_median(radii)),
            certified_accuracy=tuple(sum(v >= rho for v in radii) / n
                                     for rho in range(max_rho + 1)),
            forward_passes=forward_passes(records[0]),
            seconds=statistics.fmean(r.seconds for r in records),
            failure=failure_probability(records[0]),
            attack_median=lower_median(list(best.values())) if best else None,
            attacked=len(best), attacks=attacks))
    return rows


def _fmt_l0(value: float | None) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:g}"


def certified_table(rows: Sequence[CertifiedRow]) -> Table:
    """The comparison as a table: one row per certification run."""
    width = max(len(r.certified_accuracy) for r in rows)
    columns = ("defense", "images", "accuracy", "median certified L0",
               *(f"rho={rho}" for rho in range(width)), "forward passes / image", "s / image",
               "failure probability", "attack: median confirmed L0", "attacked images",
               "attacks")
    body = tuple(
        (r.label, str(r.images), f"{100 * r.accuracy:.2f}%",
         "N/A" if r.median_radius < 0 else str(r.median_radius),
         *(f"{100 * a:.1f}" for a in r.certified_accuracy),
         *("-" for _ in range(width - len(r.certified_accuracy))),
         f"{r.forward_passes:,}", f"{r.seconds:.4f}", f"{r.failure:g}",
         _fmt_l0(r.attack_median), str(r.attacked), ", ".join(r.attacks) or "-")
        for r in rows)
    return Table(columns, body, "lrrr" + "r" * width + "rrrrrl")
