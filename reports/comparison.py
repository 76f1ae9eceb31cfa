"""PURE: attack runs on one defense compared image by image. No I/O.

An attack group is every attack run on one defense (same model, data, seed, threat model and N);
the runs differ in the attack or its query policy. On the images every run of the group attacked,
each run's confirmed L0 is compared with the others': the smallest per image ("best of all runs",
and which attack found it) and, when the group has a Pointwise run, where each run lands against
it. The soundness audit's "any attack" rows use the same per-image minimum.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from reports.joined import AttackRun, Pairing, found_by
from reports.records import AttackRecord
from reports.tables import lower_median, shown_defense
from reports.tabular import Table

__all__ = ["BEST", "AttackGroup", "any_attack_audit", "attack_groups", "best_per_image",
           "comparison_table", "per_image_table", "reference_run", "run_name"]

BEST = "best of all runs"


@dataclass(frozen=True)
class AttackGroup:
    """The attack runs (with their certify runs) on one defense, and the images all of them
    attacked."""

    pairings: tuple[Pairing, ...]

    @property
    def runs(self) -> tuple[AttackRun, ...]:
        return tuple(p.attack for p in self.pairings)

    @property
    def defense(self) -> str:
        a = self.runs[0].first
        return f"{shown_defense(a.defense, a.config)} model {a.model_id[:8]}"

    @property
    def images(self) -> list[int]:
        common = set.intersection(*({r.image for r in run.records} for run in self.runs))
        return sorted(common)

    def by_image(self, run: AttackRun) -> dict[int, AttackRecord]:
        return {r.image: r for r in run.records}


def _key(run: AttackRun) -> tuple[str, str, str, int, str, int, str]:
    a = run.first
    return (shown_defense(a.defense, a.config), a.model_id, a.data_fingerprint, a.seed,
            a.threat_model, a.n, a.dataset)


def attack_groups(pairings: Sequence[Pairing]) -> list[AttackGroup]:
    """Pairings grouped by defense (model, data, seed, threat model, N), in their order."""
    groups: dict[tuple[str, str, str, int, str, int, str], list[Pairing]] = {}
    for p in pairings:
        groups.setdefault(_key(p.attack), []).append(p)
    return [AttackGroup(tuple(g)) for g in groups.values()]


def run_name(run: AttackRun) -> str:
    """An attack run as comparisons show it: the attack, with the query policy of a stochastic
    defense ("pointwise (fixed)")."""
    a = run.first
    return a.attack if a.mask_policy == "none" else f"{a.attack} ({a.mask_policy})"


def best_per_image(group: AttackGroup) -> dict[int, tuple[float, str]]:
    """Per common image, the smallest confirmed L0 over the group's runs and who found it (the
    finder within the first run that has it, "" when no run confirmed one)."""
    out: dict[int, tuple[float, str]] = {}
    tables = [(run, group.by_image(run)) for run in group.runs]
    for image in group.images:
        best, who = math.inf, ""
        for run, records in tables:
            r = records[image]
            if r.best_confirmed_l0 < best:
                best, who = r.best_confirmed_l0, found_by(r)
                if run.first.attack != "ensemble" and who not in ("", "clean"):
                    who = run_name(run)
        out[image] = (best, who)
    return out


def reference_run(group: AttackGroup) -> AttackRun | None:
    """The group's Pointwise run to compare against: the deterministic or fixed-mask one first,
    then the one with the most images."""
    pointwise = [run for run in group.runs if run.first.attack == "pointwise"]
    return max(pointwise, default=None,
               key=lambda run: (run.first.mask_policy in ("none", "fixed"), len(run.records)))


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}"


def comparison_table(groups: Sequence[AttackGroup]) -> Table:
    """Per group and run, on the images every run of the group attacked: the median and mean
    confirmed L0 (the mean over images with a confirmed adversarial), how many were confirmed,
    on how many the run has the smallest L0 of the group (ties count for each), and how it
    compares with the group's Pointwise run image by image; then the best of all runs."""
    columns = ("defense", "attack", "images", "median confirmed L0", "mean confirmed L0",
               "confirmed", "smallest on", "vs Pointwise: below / equal / above",
               "s/img", "forwards/img")
    rows: list[tuple[str, ...]] = []
    for group in groups:
        images = group.images
        if not images or len(group.runs) < 2:
            continue
        best = best_per_image(group)
        reference = reference_run(group)
        ref = group.by_image(reference) if reference is not None else None
        for run in group.runs:
            records = group.by_image(run)
            l0 = [records[i].best_confirmed_l0 for i in images]
            finite = [v for v in l0 if math.isfinite(v)]
            smallest = sum(records[i].best_confirmed_l0 <= best[i][0] for i in images
                           if math.isfinite(best[i][0]))
            if ref is None or run is reference:
                versus = "-"
            else:
                below = sum(records[i].best_confirmed_l0 < ref[i].best_confirmed_l0
                            for i in images)
                equal = sum(records[i].best_confirmed_l0 == ref[i].best_confirmed_l0
                            for i in images)
                versus = f"{below} / {equal} / {len(images) - below - equal}"
            rows.append((group.defense, run_name(run), str(len(images)), _fmt(lower_median(l0)),
                         f"{statistics.fmean(finite):.2f}" if finite else "-",
                         f"{len(finite)} of {len(images)}", str(smallest), versus,
                         f"{statistics.fmean(records[i].seconds for i in images):.1f}",
                         f"{statistics.fmean(records[i].forward_passes for i in images):.3g}"))
        l0 = [best[i][0] for i in images]
        finite = [v for v in l0 if math.isfinite(v)]
        if ref is None:
            versus = "-"
        else:
            below = sum(best[i][0] < ref[i].best_confirmed_l0 for i in images)
            equal = sum(best[i][0] == ref[i].best_confirmed_l0 for i in images)
            versus = f"{below} / {equal} / {len(images) - below - equal}"
        rows.append((group.defense, BEST, str(len(images)), _fmt(lower_median(l0)),
                     f"{statistics.fmean(finite):.2f}" if finite else "-",
                     f"{len(finite)} of {len(images)}", "-", versus, "-", "-"))
    return Table(columns, tuple(rows), "llrrrrrrrr")


def per_image_table(groups: Sequence[AttackGroup]) -> Table:
    """One row per (group, common image): each run's confirmed L0 ("inf": none confirmed), the
    smallest and the attack that found it."""
    columns = ("defense", "image", "attack", "confirmed_l0", "best_confirmed_l0", "found_by")
    rows: list[tuple[str, ...]] = []
    for group in groups:
        best = best_per_image(group)
        for run in group.runs:
            records = group.by_image(run)
            for i in group.images:
                rows.append((group.defense, str(i), run_name(run),
                             _fmt(records[i].best_confirmed_l0), _fmt(best[i][0]), best[i][1]))
    return Table(columns, tuple(rows))


def any_attack_audit(groups: Sequence[AttackGroup]) -> list[tuple[str, ...]]:
    """Soundness-audit rows (``reports.joined.audit_table``'s columns) for each group of two or
    more runs: per common image, the smallest confirmed L0 of any run against the certificate of
    the first run's certify run (a violation: that L0 at or below the certified radius)."""
    rows: list[tuple[str, ...]] = []
    for group in groups:
        certified = next((p.certify for p in group.pairings if p.certify is not None), None)
        if len(group.runs) < 2 or certified is None:
            continue
        radius = {r.image: r.radius for r in certified.records}
        best = best_per_image(group)
        clean = {r.image for run in group.runs for r in run.records if r.clean_adversarial}
        both = [i for i in group.images if i in radius]
        checked = [i for i in both if radius[i] >= 0 and i not in clean
                   and math.isfinite(best[i][0])]
        found = [(i, radius[i], best[i][0], best[i][1]) for i in checked
                 if best[i][0] <= radius[i]]
        listed = ", ".join(f"{i}: {r} >= {_fmt(v)} ({who})" for i, r, v, who in found) or "-"
        a = group.runs[0].first
        rows.append((shown_defense(a.defense, a.config), f"any of {len(group.runs)} runs", "-",
                     str(a.n or "-"), certified.label, str(len(both)), str(len(checked)),
                     str(len(found)) if checked else "-",
                     f"{100 * len(found) / len(both):.1f}%" if checked else "-",
                     f"{certified.first.alpha:g}", listed))
    return rows
