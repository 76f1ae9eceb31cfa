"""PURE: the baseline comparisons (Tables 7 and 8) and the pairwise certificate's gain. No I/O.

Table 7 compares Lee et al.'s smoothing with ablation and Table 8 the NULL encodings, each on the
same images. The pairwise certificate (docs/protocol.md) is recomputed here from
the vote counts stored with the paper's certificate: ``bench certify --certificate pairwise`` with
the same seed draws the same ablations and stores the same counts, so both radii of an image come
from the same samples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from defenses.ablation_math import l0_radius_pairwise
from defenses.stats import simultaneous_bounds
from reports.paper import paper_value
from reports.records import CertifyRecord
from reports.tables import CertifySummary, lower_median, registry_name, shown_defense
from reports.tabular import Table

__all__ = [
    "PairwiseGain",
    "lee_convention_median",
    "pairwise_radius",
    "render_pairwise_gain",
    "render_table7",
    "render_table8",
    "summarize_pairwise_gain",
    "table7",
    "table8",
]


def _fmt(value: int) -> str:
    return "N/A" if value < 0 else str(value)


def lee_convention_median(records: Sequence[CertifyRecord]) -> int:
    """Lower median radius with misclassified (and abstained) images scored 0, as Lee et al.'s
    ``compute_l0.py`` does, instead of the paper's -infinity."""
    return lower_median([max(int(r.radius), 0) for r in records])


def _family(defense: str) -> str:
    defense = registry_name(defense)
    if defense.startswith("lee-"):
        return "lee"
    return "mean" if defense.startswith("ablation-mean-") else "multichannel"


def table7(summaries: Sequence[CertifySummary],
           records: Sequence[Sequence[CertifyRecord]]) -> Table:
    """Table 7: median certified robustness, Lee et al. vs ablation, on the same images.

    Args:
        summaries: one ``summarize_certify`` per defense.
        records: the same defenses' records (for Lee's convention), in the same order.
    """
    columns = ("defense", "images", "N0", "N", "alpha", "accuracy (abstained)",
               "median certified (misclassified = -inf)",
               "median (misclassified = 0, Lee's convention)", "paper: median")
    rows = []
    for s, recs in zip(summaries, records, strict=True):
        lee = _family(s.defense) == "lee"
        value = paper_value(s.dataset, "table7", "lee" if lee else registry_name(s.defense))
        paper = None if value is None else value[0]
        rows.append((
            s.defense, str(s.images), *s.settings,
            f"{100 * s.accuracy:.2f}% ({100 * s.abstained:.2f}%)",
            _fmt(-1 if s.median_radius is None else s.median_radius),
            str(lee_convention_median(recs)), "-" if paper is None else str(paper),
        ))
    return Table(columns, tuple(rows), "lrrrrlrrr")


def render_table7(summaries: Sequence[CertifySummary],
                  records: Sequence[Sequence[CertifyRecord]]) -> str:
    """Markdown Table 7 (``table7``)."""
    return table7(summaries, records).markdown()


def table8(summaries: Sequence[CertifySummary]) -> Table:
    """Table 8: the NULL encodings (accuracy with abstained %, median certified)."""
    columns = ("defense", "encoding", "images", "N0", "N", "alpha", "accuracy (abstained)",
               "median certified", "paper: accuracy (abstained)", "paper: median")
    rows = []
    for s in summaries:
        family = _family(s.defense)
        paper = paper_value(s.dataset, "table8", registry_name(s.defense))
        rows.append((
            s.defense, family, str(s.images), *s.settings,
            f"{100 * s.accuracy:.2f}% ({100 * s.abstained:.2f}%)",
            _fmt(-1 if s.median_radius is None else s.median_radius),
            f"{paper[0]:.2f}% ({paper[1]:.2f}%)" if paper else "-",
            str(paper[2]) if paper else "-",
        ))
    return Table(columns, tuple(rows), "llrrrrlrlr")


def render_table8(summaries: Sequence[CertifySummary]) -> str:
    """Markdown Table 8 (``table8``)."""
    return table8(summaries).markdown()


def pairwise_radius(record: CertifyRecord) -> int:
    """The pairwise certificate of an ablation record, from its stored votes.

    The selected class is the argmax of the N0 selection votes (ties to the lower index, as in
    CERTIFY); -1 when it is not the true label, else ``l0_radius_pairwise`` of the simultaneous
    bounds at the record's alpha, where nothing certified gives 0 (the paper's CERTIFY) or -1
    (a run with ``--abstain``).
    """
    stored = json.loads(record.config)
    config = stored["defense"]
    if config.get("kind") != "ablation":
        raise ValueError(f"{record.defense}: the pairwise certificate is for ablation defenses")
    sel = record.selection_counts
    selected = max(range(len(sel)), key=lambda c: (sel[c], -c))
    if selected != record.label:
        return -1
    _, h, w = config["image_shape"]
    p_lower, p_upper = simultaneous_bounds(record.counts, selected, record.alpha)
    radius = l0_radius_pairwise(p_lower, p_upper, h * w, config["k"])
    return radius if stored.get("certify", {}).get("abstain") else max(0, radius)


@dataclass(frozen=True)
class PairwiseGain:
    """The pairwise certificate against the paper's on the same images and votes.

    ``median_gain`` is the lower median of (pairwise - paper) over correctly certified images;
    ``larger`` / ``smaller`` count images where pairwise is larger / smaller (smaller happens
    only where the runner-up bound is uninformative and the Bonferroni split alpha / classes makes
    p̲_A lower than the paper's bound at alpha).
    """

    defense: str
    images: int
    median_paper: int
    median_pairwise: int
    median_gain: int
    mean_gain: float
    larger: int
    smaller: int
    certified_accuracy_paper: tuple[float, ...]
    certified_accuracy_pairwise: tuple[float, ...]


def summarize_pairwise_gain(records: Sequence[CertifyRecord], max_rho: int = 12) -> PairwiseGain:
    """Both certificates of one ablation run's (paper-certificate) records."""
    if not records:
        raise ValueError("no records to summarize")
    paper = [int(r.radius) for r in records]
    pairwise = [pairwise_radius(r) for r in records]
    gains = [b - a for a, b in zip(paper, pairwise, strict=True) if a >= 0]
    n = len(records)
    return PairwiseGain(
        defense=shown_defense(records[0].defense, records[0].config),
        images=n,
        median_paper=lower_median(paper),
        median_pairwise=lower_median(pairwise),
        median_gain=lower_median(gains) if gains else 0,
        mean_gain=sum(gains) / len(gains) if gains else 0.0,
        larger=sum(b > a for a, b in zip(paper, pairwise, strict=True)),
        smaller=sum(b < a for a, b in zip(paper, pairwise, strict=True)),
        certified_accuracy_paper=tuple(sum(r >= rho for r in paper) / n
                                       for rho in range(max_rho + 1)),
        certified_accuracy_pairwise=tuple(sum(r >= rho for r in pairwise) / n
                                          for rho in range(max_rho + 1)),
    )


def render_pairwise_gain(gains: Sequence[PairwiseGain]) -> str:
    """Markdown: medians of both certificates, the per-image gain, and certified accuracy."""
    width = max(len(g.certified_accuracy_paper) for g in gains)
    lines = [
        "| defense | certificate | images | median certified | median gain | mean gain | "
        "images larger / smaller | " + " | ".join(f"rho={r}" for r in range(width)) + " |",
        "|---|---|---:|---:|---:|---:|---|" + "---:|" * width,
    ]
    for g in gains:
        for name, median, acc in (("levine-feizi", g.median_paper, g.certified_accuracy_paper),
                                  ("pairwise", g.median_pairwise, g.certified_accuracy_pairwise)):
            extra = (f"{g.median_gain:+d} | {g.mean_gain:+.2f} | {g.larger} / {g.smaller}"
                     if name == "pairwise" else "- | - | -")
            cells = " | ".join(f"{100 * a:.1f}" for a in acc)
            lines.append(f"| {g.defense} | {name} | {g.images} | {_fmt(median)} | {extra} | "
                         f"{cells} |")
    return "\n".join(lines)
