"""PURE: certification and attack records -> summaries -> markdown. No I/O.

Conventions (docs/protocol.md): accuracy and abstention come from PREDICT; the certified radius
of a misclassified image is -1 (the paper's -infinity); the median certified robustness is the
lower median of all radii (``sorted[(n - 1) // 2]``, torch.median's convention) and N/A when it is
-1; the upper median ``sorted[n // 2]`` ("largest rho that at least half the images certify") is
shown beside it. Certified accuracy at rho is the fraction of images with radius >= rho.
Attack magnitudes use the same lower median, with +inf (no adversarial found) kept.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from reports.paper import paper_sweep, paper_value
from reports.records import AttackRecord, CertifyRecord
from reports.tabular import Table

__all__ = [
    "AttackSummary",
    "CertifySummary",
    "certified_accuracy_table",
    "lower_median",
    "registry_name",
    "render_certified_accuracy",
    "render_table1",
    "render_table2",
    "shown_defense",
    "summarize_attack",
    "summarize_certify",
    "table1",
    "table2",
]



@dataclass(frozen=True)
class CertifySummary:
    defense: str
    images: int
    accuracy: float
    abstained: float
    median_radius: int | None
    upper_median_radius: int | None
    certified_accuracy: tuple[float, ...]
    seconds_per_image: float
    n0: int
    n: int
    alpha: float
    data_source: str
    dataset: str = "mnist"
    sampled: bool = True  # False for a deterministic defense: N0, N and alpha mean nothing

    @property
    def settings(self) -> tuple[str, str, str]:
        """N0, N and alpha as tables show them ("-" for a deterministic defense)."""
        if not self.sampled:
            return "-", "-", "-"
        return str(self.n0), str(self.n), f"{self.alpha:g}"


def shown_defense(defense: str, config_json: str) -> str:
    """The defense's name as tables show it, with the precision its base classifier ran in
    (records from before precision was recorded ran in fp32), so results of different machines
    never look alike: "ablation-k45 (bf16)"."""
    try:
        config = json.loads(config_json).get("defense")
    except (ValueError, AttributeError):
        return defense
    if not isinstance(config, dict):
        return defense
    return f"{defense} ({config.get('precision', 'fp32')})"


def registry_name(shown: str) -> str:
    """The registry name of a defense as ``shown_defense`` shows it ("ablation-k45 (int8)" ->
    "ablation-k45")."""
    return shown.split(" (", 1)[0]


def _median_or_none(value: int) -> int | None:
    return None if value < 0 else value


def summarize_certify(records: Sequence[CertifyRecord], max_rho: int = 11) -> CertifySummary:
    """Table 1 quantities of one defense's records (all from the same run)."""
    if not records:
        raise ValueError("no records to summarize")
    n = len(records)
    radii = sorted(int(r.radius) for r in records)  # L0: whole pixel positions
    return CertifySummary(
        defense=shown_defense(records[0].defense, records[0].config),
        images=n,
        accuracy=sum(r.prediction == r.label for r in records) / n,
        abstained=sum(r.abstained for r in records) / n,
        median_radius=_median_or_none(radii[(n - 1) // 2]),
        upper_median_radius=_median_or_none(radii[n // 2]),
        certified_accuracy=tuple(
            sum(r.radius >= rho for r in records) / n for rho in range(max_rho + 1)
        ),
        seconds_per_image=statistics.fmean(r.seconds for r in records),
        n0=records[0].n0,
        n=records[0].n,
        alpha=records[0].alpha,
        data_source=",".join(sorted({r.data_source for r in records})),
        dataset=records[0].dataset,
        sampled=any(r.sampled for r in records),
    )


def _fmt_median(value: int | None) -> str:
    return "N/A" if value is None else str(value)


def table1(summaries: Sequence[CertifySummary]) -> Table:
    """Table 1: accuracy (abstained), median certified robustness, paper beside ours (Table 1's
    numbers on MNIST, Table 3's on CIFAR-10, Table 6's on ImageNet: ``paper_sweep``)."""
    columns = ("defense", "images", "N0", "N", "alpha", "accuracy (abstained)",
               "median certified (upper)", "paper: accuracy (abstained)", "paper: median",
               "s/image", "data")
    rows = []
    for s in summaries:
        paper = paper_sweep(s.dataset, registry_name(s.defense))
        rows.append((
            s.defense, str(s.images), *s.settings,
            f"{100 * s.accuracy:.2f}% ({100 * s.abstained:.2f}%)",
            f"{_fmt_median(s.median_radius)} ({_fmt_median(s.upper_median_radius)})",
            f"{paper[0]:.2f}% ({paper[1]:.2f}%)" if paper else "-",
            _fmt_median(paper[2]) if paper else "-",
            f"{s.seconds_per_image:.2f}", s.data_source,
        ))
    return Table(columns, tuple(rows), "lrrrrllllrl")


def render_table1(summaries: Sequence[CertifySummary]) -> str:
    """Markdown Table 1 (``table1``)."""
    return table1(summaries).markdown()


def certified_accuracy_table(summaries: Sequence[CertifySummary]) -> Table:
    """Certified accuracy (%) at rho = 0, 1, ..., one row per defense."""
    width = max(len(s.certified_accuracy) for s in summaries)
    columns = ("defense", *(f"rho={rho}" for rho in range(width)))
    rows = tuple((s.defense, *(f"{100 * a:.1f}" for a in s.certified_accuracy),
                  *("-" for _ in range(width - len(s.certified_accuracy))))
                 for s in summaries)
    return Table(columns, rows, "l" + "r" * width)


def render_certified_accuracy(summaries: Sequence[CertifySummary]) -> str:
    """Markdown: certified accuracy (%) at rho = 0, 1, ..., one row per defense."""
    return certified_accuracy_table(summaries).markdown()


@dataclass(frozen=True)
class AttackSummary:
    """Table 2 quantities of one attack run, joined with certificates of the same images.

    ``median_l0`` is over the best L0 found per image; ``median_confirmed_l0`` counts only
    restarts whose independent re-check confirmed the adversarial. ``recheck_rate`` is the share of
    best adversarials the re-check confirmed (None when there were none). ``median_radius`` and
    ``violations`` (images whose certified radius is not below the confirmed attack L0) are None
    without certificates of every attacked image.
    """

    defense: str
    attack: str
    images: int
    clean_accuracy: float
    median_l0: float
    median_confirmed_l0: float
    recheck_rate: float | None
    not_found: int
    median_radius: int | None
    violations: int | None
    n: int
    restarts: int
    mask_policy: str
    queries_per_image: float
    forward_passes_per_image: float
    seconds_per_image: float
    data_source: str
    dataset: str = "mnist"


Number = TypeVar("Number", int, float)


def lower_median(values: Sequence[Number]) -> Number:
    """``sorted(values)[(n - 1) // 2]``: the lower median every table here uses."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def summarize_attack(records: Sequence[AttackRecord],
                     certificates: Sequence[CertifyRecord] = ()) -> AttackSummary:
    """Table 2 quantities of one attack run's records (and, optionally, certificates)."""
    if not records:
        raise ValueError("no records to summarize")
    n = len(records)
    checked = [r.confirmed for r in records if r.confirmed is not None]
    radius = {c.image: c.radius for c in certificates}
    covered = all(r.image in radius for r in records)
    return AttackSummary(
        defense=shown_defense(records[0].defense, records[0].config),
        attack=records[0].attack,
        images=n,
        clean_accuracy=sum(r.clean_prediction == r.label for r in records) / n,
        median_l0=lower_median([r.best_l0 for r in records]),
        median_confirmed_l0=lower_median([r.best_confirmed_l0 for r in records]),
        recheck_rate=sum(checked) / len(checked) if checked else None,
        not_found=sum(math.isinf(r.best_l0) for r in records),
        median_radius=(_median_or_none(int(lower_median([radius[r.image] for r in records])))
                       if covered else None),
        violations=(sum(radius[r.image] >= r.best_confirmed_l0 for r in records
                        if radius[r.image] >= 0 and not r.clean_adversarial)
                    if covered else None),
        n=records[0].n,
        restarts=records[0].restarts,
        mask_policy=records[0].mask_policy,
        queries_per_image=statistics.fmean(r.queries for r in records),
        forward_passes_per_image=statistics.fmean(r.forward_passes for r in records),
        seconds_per_image=statistics.fmean(r.seconds for r in records),
        data_source=",".join(sorted({r.data_source for r in records})),
        dataset=records[0].dataset,
    )


def _fmt_l0(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}"


def table2(summaries: Sequence[AttackSummary]) -> Table:
    """Table 2: clean accuracy, median adversarial L0 beside the median certificate."""
    columns = ("model", "attack", "images", "clean accuracy",
               "median adversarial L0 (re-checked)", "re-check rate", "not found",
               "median certified", "cert >= attack", "N", "restarts", "masks", "queries/img",
               "forwards/img", "s/img", "paper: clean acc.", "paper: median L0")
    rows = []
    for s in summaries:
        paper = paper_value(s.dataset, "table2", registry_name(s.defense))
        rows.append((
            s.defense, s.attack, str(s.images), f"{100 * s.clean_accuracy:.1f}%",
            f"{_fmt_l0(s.median_l0)} ({_fmt_l0(s.median_confirmed_l0)})",
            "-" if s.recheck_rate is None else f"{100 * s.recheck_rate:.0f}%",
            str(s.not_found),
            "-" if s.violations is None else _fmt_median(s.median_radius),
            "-" if s.violations is None else str(s.violations), str(s.n or "-"),
            str(s.restarts), "-" if s.mask_policy == "none" else s.mask_policy,
            f"{s.queries_per_image:.0f}",
            f"{s.forward_passes_per_image:.3g}", f"{s.seconds_per_image:.1f}",
            f"{paper[0]:.1f}%" if paper else "-",
            f"{paper[1]:g}" if paper and paper[1] is not None else "-",
        ))
    return Table(columns, tuple(rows), "llrrlrrrrrrlrrrrr")


def render_table2(summaries: Sequence[AttackSummary]) -> str:
    """Markdown Table 2 (``table2``)."""
    return table2(summaries).markdown()
