"""reports.baselines on synthetic records: Lee's convention, Tables 7/8, the pairwise gain."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bench.identity import config_fields
from bench.registry import resolve_defense
from defenses.ablation_math import l0_radius
from defenses.stats import clopper_pearson_lower
from reports.baselines import (
    lee_convention_median,
    pairwise_radius,
    render_pairwise_gain,
    render_table7,
    render_table8,
    summarize_pairwise_gain,
)
from reports.records import CertifyRecord
from reports.tables import summarize_certify
from tests.bench.test_store import record

ABLATION = json.dumps({"defense": config_fields(resolve_defense("ablation-k45"))})


def _vote_record(image: int, n_top: int, n_second: int, label: int = 7,
                 selected: int = 7) -> CertifyRecord:
    """An ablation record with N = 10,000 votes: n_top for class 7, n_second for class 3, and the
    rest spread over the other classes; its radius is the paper's certificate."""
    counts = [0] * 10
    counts[7], counts[3] = n_top, n_second
    others = [c for c in range(10) if c not in (3, 7)]
    for i in range(10000 - n_top - n_second):
        counts[others[i % 8]] += 1
    selection = [0] * 10
    selection[selected] = 100
    paper = max(0, l0_radius(clopper_pearson_lower(n_top, 10000, 0.05), 784, 45))
    return record(image, label=label, certified_label=selected, n=10000,
                  radius=paper if selected == label else -1, counts=tuple(counts),
                  selection_counts=tuple(selection), config=ABLATION)


def test_lee_convention_scores_misclassified_as_zero() -> None:
    records = [record(i, radius=r) for i, r in enumerate([-1, -1, -1, 4, 5])]
    assert lee_convention_median(records) == 0
    assert summarize_certify(records).median_radius is None


@pytest.mark.parametrize(("n_top", "n_second", "pairwise"), [
    (9000, 600, 8), (8000, 1500, 6), (7000, 500, 6), (6000, 3000, 2),  # docs/protocol.md §2
])
def test_pairwise_radius_from_stored_votes(n_top: int, n_second: int, pairwise: int) -> None:
    assert pairwise_radius(_vote_record(0, n_top, n_second)) == pairwise


def test_pairwise_radius_of_a_misclassified_image() -> None:
    assert pairwise_radius(_vote_record(0, 9000, 600, label=3)) == -1


def test_pairwise_radius_needs_an_ablation_record() -> None:
    lee = json.dumps({"defense": config_fields(resolve_defense("lee-kappa0.1"))})
    with pytest.raises(ValueError, match="ablation"):
        pairwise_radius(record(0, config=lee))


def test_pairwise_gain_summary() -> None:
    # paper radii 8, 5, 3, 1 and -1; pairwise 8, 6, 6, 2 and -1 (the vectors above)
    records = [_vote_record(0, 9000, 600), _vote_record(1, 8000, 1500),
               _vote_record(2, 7000, 500), _vote_record(3, 6000, 3000),
               _vote_record(4, 9000, 600, label=3)]
    assert [r.radius for r in records] == [8, 5, 3, 1, -1]
    g = summarize_pairwise_gain(records, max_rho=3)
    assert (g.median_paper, g.median_pairwise) == (3, 6)
    assert g.median_gain == 1 and g.mean_gain == pytest.approx(5 / 4)
    assert (g.larger, g.smaller) == (3, 0)
    assert g.certified_accuracy_paper == (0.8, 0.8, 0.6, 0.6)
    assert g.certified_accuracy_pairwise == (0.8, 0.8, 0.8, 0.6)
    table = render_pairwise_gain([g])
    assert "| ablation-k45 (fp32) | pairwise | 5 | 6 | +1 | +1.25 | 3 / 0 |" in table


def test_tables_7_and_8_show_the_paper_beside_ours() -> None:
    ablation = [record(i, radius=r) for i, r in enumerate([8, 8, 9])]
    lee = [record(i, defense="lee-kappa0.1", radius=r) for i, r in enumerate([-1, 4, 5])]
    mean = [record(i, defense="ablation-mean-k45", radius=r) for i, r in enumerate([7, 7, 7])]
    t7 = render_table7([summarize_certify(lee), summarize_certify(ablation)], [lee, ablation])
    assert "| lee-kappa0.1 | 3 |" in t7 and "| 4 | 4 | 4 |" in t7
    assert "| 8 | 8 | 8 |" in t7
    t8 = render_table8([summarize_certify(ablation), summarize_certify(mean)])
    assert "| ablation-k45 | multichannel | 3 |" in t8 and "96.72% (0.45%) | 8 |" in t8
    assert "| ablation-mean-k45 | mean | 3 |" in t8 and "96.27% (0.43%) | 7 |" in t8


def test_tables_7_and_8_find_the_paper_row_beside_a_shown_precision() -> None:
    fp32 = json.dumps({"defense": {**config_fields(resolve_defense("ablation-k45")),
                                   "precision": "fp32"}})
    ablation = [record(i, radius=8, config=fp32) for i in range(3)]
    t7 = render_table7([summarize_certify(ablation)], [ablation])
    assert "| ablation-k45 (fp32) | 3 |" in t7 and "| 8 | 8 | 8 |" in t7
    t8 = render_table8([summarize_certify(ablation)])
    assert "| ablation-k45 (fp32) | multichannel | 3 |" in t8 and "96.72% (0.45%) | 8 |" in t8


def test_pairwise_radius_keeps_an_abstaining_run_abstaining() -> None:
    config = json.dumps({"defense": json.loads(ABLATION)["defense"], "certify": {"abstain": True}})
    weak = dataclasses.replace(_vote_record(0, 4000, 3900), config=config)
    assert pairwise_radius(weak) == -1
    assert pairwise_radius(_vote_record(0, 4000, 3900)) == 0
