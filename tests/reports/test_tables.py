"""reports.tables on synthetic records with known medians and certified accuracies."""

from __future__ import annotations

import pytest

from reports.records import CertifyRecord
from reports.tables import render_certified_accuracy, render_table1, summarize_certify
from tests.bench.test_store import record


def _records(radii: list[int], abstain: int = 0, wrong: int = 0) -> list[CertifyRecord]:
    out = []
    for i, r in enumerate(radii):
        prediction = 7 if i >= abstain + wrong else (-1 if i < abstain else 3)
        out.append(record(i, radius=r, prediction=prediction, abstained=prediction == -1,
                          seconds=float(i)))
    return out


def test_medians_and_certified_accuracy() -> None:
    # radii sorted: -1, 1, 2, 3 -> lower median sorted[1] = 1, upper sorted[2] = 2
    s = summarize_certify(_records([3, -1, 2, 1]), max_rho=3)
    assert (s.median_radius, s.upper_median_radius) == (1, 2)
    # certified accuracy at rho: #(radius >= rho)/4 -> 3/4, 3/4, 2/4, 1/4
    assert s.certified_accuracy == (0.75, 0.75, 0.5, 0.25)
    assert s.seconds_per_image == pytest.approx(1.5)


def test_median_not_a_radius_is_na() -> None:
    # {N/A, N/A, 1, 2}: lower median is -1 -> N/A; upper median 1
    s = summarize_certify(_records([-1, -1, 1, 2]))
    assert s.median_radius is None and s.upper_median_radius == 1
    assert "N/A (1)" in render_table1([s])


def test_accuracy_and_abstention_from_predict() -> None:
    # 1 abstained, 1 wrong, 2 right
    s = summarize_certify(_records([0, -1, 5, 5], abstain=1, wrong=1))
    assert (s.accuracy, s.abstained) == (0.5, 0.25)


def test_paper_values_beside_ours() -> None:
    table = render_table1([summarize_certify(_records([8, 8, 8]))])
    assert "| ablation-k45 | 3 |" in table and "96.72% (0.45%) | 8 |" in table
    assert render_certified_accuracy([summarize_certify(_records([8]))]).count("100.0") == 9


def test_no_records() -> None:
    with pytest.raises(ValueError):
        summarize_certify([])


def test_attack_summary_medians_recheck_rate_and_join() -> None:
    import math

    from reports.tables import render_table2, summarize_attack
    from tests.bench.test_store import attack_record

    inf = math.inf
    attacks = [
        attack_record(0, clean_prediction=3, clean_adversarial=True, best_l0=0.0,
                      confirmed=None, best_confirmed_l0=0.0),
        attack_record(1, best_l0=12.0, confirmed=True, best_confirmed_l0=12.0),
        attack_record(2, best_l0=20.0, confirmed=False, best_confirmed_l0=25.0),
        attack_record(3, best_l0=inf, confirmed=None, best_confirmed_l0=inf),
    ]
    # best L0 sorted 0, 12, 20, inf -> lower median 12; confirmed 0, 12, 25, inf -> 12
    s = summarize_attack(attacks)
    assert (s.median_l0, s.median_confirmed_l0) == (12.0, 12.0)
    assert s.clean_accuracy == 0.75 and s.not_found == 1
    assert s.recheck_rate == 0.5  # one of the two checked best adversarials held
    assert s.median_radius is None and s.violations is None
    certs = [record(i, radius=r) for i, r in enumerate([-1, 5, 25, 3])]
    joined = summarize_attack(attacks, certs)
    assert joined.median_radius == 3  # radii -1, 3, 5, 25 -> lower median 3
    assert joined.violations == 1  # image 2: certificate 25 is not below attack 25
    table = render_table2([joined])
    assert "| 12 (12) | 50% | 1 | 3 | 1 |" in table
    assert "| 96.7% | 31 |" in table  # the paper's ablation-k45 row beside ours


def test_the_precision_is_shown_beside_the_defense() -> None:
    import json as _json

    from bench.identity import config_fields
    from bench.registry import resolve_defense
    from reports.tables import shown_defense

    bf16 = _json.dumps({"defense": {**config_fields(resolve_defense("ablation-k45")),
                                    "precision": "bf16"}})
    int8 = _json.dumps({"defense": {**_json.loads(bf16)["defense"], "precision": "int8"}})
    old = _json.dumps({"defense": {k: v for k, v in _json.loads(bf16)["defense"].items()
                                   if k != "precision"}})
    assert shown_defense("ablation-k45", bf16) == "ablation-k45 (bf16)"
    assert shown_defense("ablation-k45", int8) == "ablation-k45 (int8)"
    assert shown_defense("ablation-k45", old) == "ablation-k45 (fp32)"  # recorded before bf16
    assert shown_defense("cnn", _json.dumps({"defense": config_fields(resolve_defense("cnn"))})) \
        == "cnn (fp32)"
    assert shown_defense("x", "{}") == "x" and shown_defense("x", "not json") == "x"
