"""PURE: certification records -> summaries -> markdown. No I/O.

Conventions (ALGORITHMS.md §1.7): accuracy and abstention come from PREDICT; the certified radius
of a misclassified image is -1 (the paper's -infinity); the median certified robustness is the
lower median of all radii (``sorted[(n - 1) // 2]``, torch.median's convention) and N/A when it is
-1; the upper median ``sorted[n // 2]`` ("largest rho that at least half the images certify") is
shown beside it. Certified accuracy at rho is the fraction of images with radius >= rho.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.store import CertifyRecord
from reports.paper import TABLE1

__all__ = ["CertifySummary", "render_certified_accuracy", "render_table1", "summarize_certify"]


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


def _median_or_none(value: int) -> int | None:
    return None if value < 0 else value


def summarize_certify(records: Sequence[CertifyRecord], max_rho: int = 11) -> CertifySummary:
    """Table 1 quantities of one defense's records (all from the same run)."""
    if not records:
        raise ValueError("no records to summarize")
    n = len(records)
    radii = sorted(r.radius for r in records)
    return CertifySummary(
        defense=records[0].defense,
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
    )


def _fmt_median(value: int | None) -> str:
    return "N/A" if value is None else str(value)


def _paper_k(defense: str) -> int | None:
    match = re.fullmatch(r"ablation-k(\d+)", defense)
    return int(match.group(1)) if match else None


def render_table1(summaries: Sequence[CertifySummary]) -> str:
    """Markdown Table 1: accuracy (abstained), median certified robustness, paper beside ours."""
    lines = [
        "| defense | images | N0 | N | alpha | accuracy (abstained) | median certified "
        "(upper) | paper: accuracy (abstained) | paper: median | s/image | data |",
        "|---|---:|---:|---:|---:|---|---|---|---|---:|---|",
    ]
    for s in summaries:
        k = _paper_k(s.defense)
        paper = TABLE1.get(k) if k is not None else None
        paper_acc = f"{paper[0]:.2f}% ({paper[1]:.2f}%)" if paper else "-"
        paper_med = _fmt_median(paper[2]) if paper else "-"
        lines.append(
            f"| {s.defense} | {s.images} | {s.n0} | {s.n} | {s.alpha:g} | "
            f"{100 * s.accuracy:.2f}% ({100 * s.abstained:.2f}%) | "
            f"{_fmt_median(s.median_radius)} ({_fmt_median(s.upper_median_radius)}) | "
            f"{paper_acc} | {paper_med} | {s.seconds_per_image:.2f} | {s.data_source} |"
        )
    return "\n".join(lines)


def render_certified_accuracy(summaries: Sequence[CertifySummary]) -> str:
    """Markdown: certified accuracy (%) at rho = 0, 1, ..., one row per defense."""
    width = max(len(s.certified_accuracy) for s in summaries)
    header = " | ".join(f"rho={rho}" for rho in range(width))
    lines = [f"| defense | {header} |", "|---|" + "---:|" * width]
    for s in summaries:
        cells = " | ".join(f"{100 * a:.1f}" for a in s.certified_accuracy)
        lines.append(f"| {s.defense} | {cells} |")
    return "\n".join(lines)
