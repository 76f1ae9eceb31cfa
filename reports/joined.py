"""PURE: records grouped into runs, attacks joined with the certificates of the same images, the
per-image joined table and the soundness audit. No I/O.

A certify run is the records of one (run hash, dataset fingerprint, seed); an attack run likewise.
An attack run is joined with the certify run of the same defense, model, data, seed and threat
model that covers every attacked image (the one with the largest N, then the most images, when
several do); runs of different threat models are never joined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from reports.records import AttackRecord, CertifyRecord
from reports.tables import shown_defense
from reports.tabular import Table

__all__ = [
    "AttackRun",
    "CertifyRun",
    "Pairing",
    "attack_runs",
    "audit_table",
    "auditable",
    "certify_runs",
    "empirical_robust_accuracy",
    "found_by",
    "joined_table",
    "pair_runs",
    "violations",
]


@dataclass(frozen=True)
class CertifyRun:
    """The records of one certification run, ordered by image."""

    records: tuple[CertifyRecord, ...]

    @property
    def first(self) -> CertifyRecord:
        return self.records[0]

    @property
    def label(self) -> str:
        """The defense as tables show it, its model and the certificate's settings (two runs of
        one defense with other models or precisions get other labels)."""
        r = self.first
        settings = f", N={r.n}, alpha={r.alpha:g}" if r.n else ""  # none for an exact one
        return (f"{shown_defense(r.defense, r.config)} model {r.model_id[:8]} "
                f"({r.certificate}{settings})")


@dataclass(frozen=True)
class AttackRun:
    """The records of one attack run, ordered by image."""

    records: tuple[AttackRecord, ...]

    @property
    def first(self) -> AttackRecord:
        return self.records[0]

    @property
    def label(self) -> str:
        """The attacked defense as tables show it, its model, the attack and its settings."""
        a = self.first
        queries = "" if a.mask_policy == "none" else f"{a.mask_policy} masks, "
        restarts = f"{a.restarts} restart{'' if a.restarts == 1 else 's'}"
        return (f"{shown_defense(a.defense, a.config)} model {a.model_id[:8]}: {a.attack}, "
                f"{queries}{restarts}")


@dataclass(frozen=True)
class Pairing:
    """An attack run and the certify run of the same images (None when there is none)."""

    attack: AttackRun
    certify: CertifyRun | None


R = TypeVar("R", CertifyRecord, AttackRecord)


def _groups(records: Sequence[R]) -> list[tuple[R, ...]]:
    """Records grouped by (run hash, data fingerprint, seed), each group ordered by image."""
    groups: dict[tuple[str, str, int], list[R]] = {}
    for r in records:
        groups.setdefault((r.run_hash, r.data_fingerprint, r.seed), []).append(r)
    return [tuple(sorted(g, key=lambda r: r.image)) for g in groups.values()]


def certify_runs(records: Sequence[CertifyRecord]) -> list[CertifyRun]:
    """Certification runs, ordered by defense, certificate, then N."""
    runs = [CertifyRun(g) for g in _groups(records)]
    return sorted(runs, key=lambda run: (run.first.defense, run.first.certificate, run.first.n,
                                         run.first.run_hash))


def attack_runs(records: Sequence[AttackRecord]) -> list[AttackRun]:
    """Attack runs, ordered by defense, attack, then N."""
    runs = [AttackRun(g) for g in _groups(records)]
    return sorted(runs, key=lambda run: (run.first.defense, run.first.attack, run.first.n,
                                         run.first.run_hash))


def pair_runs(attacks: Sequence[AttackRun], certifies: Sequence[CertifyRun]) -> list[Pairing]:
    """Each attack run with the best certify run of the same defense, model, data, seed and threat
    model that covers all its images (largest N, then most images, then the paper's
    certificate)."""
    out = []
    for run in attacks:
        a = run.first
        images = {r.image for r in run.records}
        candidates = [c for c in certifies
                      if (c.first.defense, c.first.model_id, c.first.data_fingerprint,
                          c.first.seed, c.first.threat_model) ==
                      (a.defense, a.model_id, a.data_fingerprint, a.seed, a.threat_model)
                      and images <= {r.image for r in c.records}]
        best = max(candidates, default=None,
                   key=lambda c: (c.first.n, len(c.records), c.first.certificate == "levine-feizi"))
        out.append(Pairing(run, best))
    return out


def _radius(pairing: Pairing) -> dict[int, int]:
    return {} if pairing.certify is None else {r.image: int(r.radius) for r in
                                                 pairing.certify.records}


def auditable(pairing: Pairing) -> list[int]:
    """The attacked images the audit can check: a certificate of the right class (radius >= 0), a
    correct clean answer, and an adversarial that the independent re-check confirmed."""
    radius = _radius(pairing)
    return [r.image for r in pairing.attack.records
            if r.image in radius and radius[r.image] >= 0 and not r.clean_adversarial
            and math.isfinite(r.best_confirmed_l0)]


def violations(pairing: Pairing) -> list[tuple[int, int, float]]:
    """(image, certified radius, confirmed attack L0) where the confirmed L0 is at or below the
    certified radius: the certificate claimed robustness the attack disproved. Images the defense
    already gets wrong (radius -1, or a wrong or abstained clean answer) cannot violate anything."""
    radius = _radius(pairing)
    return [(r.image, radius[r.image], r.best_confirmed_l0) for r in pairing.attack.records
            if r.image in radius and radius[r.image] >= 0 and not r.clean_adversarial
            and r.best_confirmed_l0 <= radius[r.image]]


def empirical_robust_accuracy(run: AttackRun, max_rho: int,
                               confirmed: bool = True) -> tuple[float, ...]:
    """Share of attacked images whose attack L0 exceeds rho, for rho = 0..max_rho: the L0 of
    re-check-confirmed adversarials (``confirmed``) or of the best found (a clean image that is
    already wrong or abstained counts as not robust at any rho)."""
    n = len(run.records)
    l0 = [r.best_confirmed_l0 if confirmed else r.best_l0 for r in run.records]
    return tuple(sum(v > rho for v in l0) / n for rho in range(max_rho + 1))


def _fmt_l0(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}"


def found_by(record: AttackRecord) -> str:
    """The attack whose confirmed adversarial is the record's best: an ensemble's member, or the
    attack itself (also for records from before ``found_by`` was stored); "clean" when the clean
    image is already wrong or abstained, "" when nothing was confirmed."""
    if not math.isfinite(record.best_confirmed_l0):
        return ""
    if record.clean_adversarial:
        return "clean"
    return record.found_by or record.attack


def joined_table(certifies: Sequence[CertifyRun], pairings: Sequence[Pairing]) -> Table:
    """One row per (defense, attack, image): certify runs without an attack appear with attack
    "none"; an attacked image without a certificate has an empty radius. ``found_by`` names the
    attack whose confirmed adversarial is the smallest (an ensemble's member)."""
    columns = ("defense", "attack", "image", "label", "prediction", "abstained",
               "certified_radius", "certificate", "n", "attack_l0", "attack_verified",
               "attack_l0_verified", "found_by", "queries", "forward_passes", "seconds", "seed")
    rows: list[tuple[str, ...]] = []
    attacked = {id(p.certify) for p in pairings if p.certify is not None}
    for run in certifies:
        if id(run) in attacked:
            continue
        for r in run.records:
            rows.append((r.defense, "none", str(r.image), str(r.label), str(r.prediction),
                         str(r.abstained), str(r.radius), r.certificate, str(r.n), "", "", "",
                         "", "", "", f"{r.seconds:.3f}", str(r.seed)))
    for p in pairings:
        certified = {} if p.certify is None else {r.image: r for r in p.certify.records}
        for a in p.attack.records:
            cert = certified.get(a.image)
            rows.append((
                a.defense, a.attack, str(a.image), str(a.label),
                str(cert.prediction) if cert else str(a.clean_prediction),
                str(cert.abstained) if cert else str(a.clean_prediction == -1),
                str(cert.radius) if cert else "", cert.certificate if cert else "", str(a.n),
                _fmt_l0(a.best_l0), "" if a.confirmed is None else str(a.confirmed),
                _fmt_l0(a.best_confirmed_l0), found_by(a), str(a.queries), str(a.forward_passes),
                f"{a.seconds:.3f}", str(a.seed),
            ))
    return Table(columns, tuple(rows))


def audit_table(pairings: Sequence[Pairing]) -> Table:
    """Per attack run: images attacked with a certificate, violations, the rate alpha allows."""
    columns = ("defense", "attack", "masks", "N (attack)", "certificate", "images with both",
               "auditable", "violations", "violation rate", "alpha",
               "violating images (image: radius >= L0)")
    rows = []
    for p in pairings:
        a = p.attack.first
        both = len(_radius(p).keys() & {r.image for r in p.attack.records})
        checked = len(auditable(p))
        found = violations(p)
        listed = ", ".join(f"{i}: {r} >= {_fmt_l0(v)}" for i, r, v in found) or "-"
        rows.append((shown_defense(a.defense, a.config), a.attack, a.mask_policy, str(a.n or "-"),
                     "-" if p.certify is None else p.certify.label, str(both), str(checked),
                     str(len(found)) if checked else "-",
                     f"{100 * len(found) / both:.1f}%" if checked else "-",
                     "-" if p.certify is None else f"{p.certify.first.alpha:g}", listed))
    return Table(columns, tuple(rows), "lllrlrrrrrl")
