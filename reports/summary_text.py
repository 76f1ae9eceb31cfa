"""PURE: the text the commands print after certifying: Table 1, certified accuracy, and the
comparisons of ``bench compare``. No I/O."""

from __future__ import annotations

from collections.abc import Sequence

from reports.baselines import (
    render_pairwise_gain,
    render_table7,
    render_table8,
    summarize_pairwise_gain,
)
from reports.records import CertifyRecord
from reports.tables import render_certified_accuracy, render_table1, summarize_certify

__all__ = ["certify_summary", "comparison", "max_rho"]


def max_rho(records: Sequence[CertifyRecord]) -> int:
    """The certified-accuracy columns to print: rho = 0..11 (the k = 45 cap), more when a record
    certifies more (Lee's radii can), at most 40."""
    return min(40, max([11, *(r.radius for r in records)]))


def certify_summary(records_by_defense: list[list[CertifyRecord]]) -> str:
    """Table 1 and the certified accuracy per rho of each defense's records."""
    summaries = [summarize_certify(r, max_rho(r)) for r in records_by_defense if r]
    return ("\nTable 1 (accuracy and abstention from PREDICT; median certified robustness from "
            "CERTIFY, misclassified = -inf, lower median with upper median in brackets):\n\n"
            + render_table1(summaries)
            + "\n\nCertified accuracy (%) at L0 radius rho (pixels):\n\n"
            + render_certified_accuracy(summaries))


def comparison(name: str, results: list[list[CertifyRecord]]) -> str:
    """Table 7, Table 8 or the pairwise gain (``name``), from records of the same images."""
    if name == "pairwise":
        return ("\nPairwise certificate vs the paper's, from the same votes (median certified "
                "robustness, misclassified = -inf; gain over correctly certified images; "
                "certified accuracy % at rho):\n\n"
                + render_pairwise_gain([summarize_pairwise_gain(r) for r in results]))
    summaries = [summarize_certify(r, max_rho(r)) for r in results]
    if name == "table7":
        return ("\nTable 7 (median certified L0 robustness in pixels; Lee et al. count channel "
                "values, the same as pixels on MNIST):\n\n" + render_table7(summaries, results))
    return "\nTable 8 (NULL encodings):\n\n" + render_table8(summaries)
