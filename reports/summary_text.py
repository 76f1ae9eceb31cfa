"""PURE: the text the commands print after certifying or attacking: Table 1, certified accuracy,
Table 2, their L2 counterparts, and the comparisons of ``bench compare``. No I/O."""

from __future__ import annotations

from collections.abc import Sequence

from defenses.base import L2
from reports.baselines import (
    render_pairwise_gain,
    render_table7,
    render_table8,
    summarize_pairwise_gain,
)
from reports.joined import AttackRun, CertifyRun, Pairing
from reports.l2 import l2_attack_table, l2_rows, l2_table
from reports.records import AttackRecord, CertifyRecord
from reports.tables import (
    render_certified_accuracy,
    render_table1,
    render_table2,
    summarize_attack,
    summarize_certify,
)

__all__ = ["attack_summary", "certify_summary", "comparison", "max_rho"]


def max_rho(records: Sequence[CertifyRecord]) -> int:
    """The certified-accuracy columns to print: rho = 0..11 (the k = 45 cap), more when a record
    certifies more (Lee's radii can), at most 40."""
    return min(40, max([11, *(int(r.radius) for r in records)]))


def certify_summary(records_by_defense: list[list[CertifyRecord]]) -> str:
    """Table 1 and the certified accuracy per rho of each L0 defense's records; the L2 table of
    each L2 defense's (Gaussian smoothing), apart."""
    l0 = [r for r in records_by_defense if r and r[0].threat_model != L2]
    l2 = [r for r in records_by_defense if r and r[0].threat_model == L2]
    text = ""
    if l0:
        summaries = [summarize_certify(r, max_rho(r)) for r in l0]
        text += ("\nTable 1 (accuracy and abstention from PREDICT; median certified robustness "
                 "from CERTIFY, misclassified = -inf, lower median with upper median in "
                 "brackets):\n\n" + render_table1(summaries)
                 + "\n\nCertified accuracy (%) at L0 radius rho (pixels):\n\n"
                 + render_certified_accuracy(summaries))
    if l2:
        rows = l2_rows([CertifyRun(tuple(r)) for r in l2], [])
        text += ("\nL2 certificates (clean accuracy from PREDICT; certified: the true class with "
                 "p_lower > 1/2 and an L2 radius of at least r; median: uncertified = 0):\n\n"
                 + l2_table(rows).markdown())
    return text


def attack_summary(records: Sequence[AttackRecord],
                   certificates: Sequence[CertifyRecord] = ()) -> str:
    """Table 2 of one L0 attack run's records (with their certificates), or the L2 attack table
    of an L2 one (joined with L2 certificates only)."""
    if certificates and records and certificates[0].threat_model != records[0].threat_model:
        certificates = ()  # never joined across threat models
    if records and records[0].threat_model == L2:
        certify = CertifyRun(tuple(certificates)) if certificates else None
        table = l2_attack_table([Pairing(AttackRun(tuple(records)), certify)])
        return ("\nL2 attack (lower median L2 norm of the adversarials an independent fresh "
                "re-check confirmed; +inf when none):\n\n" + table.markdown())
    return ("\nTable 2 (median best-of-restarts L0 in pixels, lower median; in brackets only "
            "adversarials an independent fresh re-check confirmed):\n\n"
            + render_table2([summarize_attack(records, certificates)]))


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
