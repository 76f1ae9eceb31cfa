"""Attack runs compared on one defense: per-image best, who found it, Pointwise beside each, the
any-attack audit, and the report's files."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.identity import config_fields
from bench.registry import resolve_defense
from bench.reporting import write_report
from bench.store import ResultStore
from reports.comparison import (
    BEST,
    any_attack_audit,
    attack_groups,
    best_per_image,
    comparison_table,
    per_image_table,
)
from reports.joined import (
    CertifyRun,
    Pairing,
    attack_runs,
    certify_runs,
    joined_table,
    pair_runs,
)
from tests.bench.test_store import attack_record, record

RADII = [5, 7, 9, 2]
POINTWISE = [12.0, 9.0, math.inf, 3.0]
SIGMA = [8.0, 9.0, 20.0, math.inf]
ENSEMBLE = [(8.0, "sigma-zero"), (9.0, "pointwise"), (20.0, "sigma-zero"), (3.0, "pointwise")]


def _database(path: Path) -> Path:
    ablation = json.dumps({"defense": config_fields(resolve_defense("ablation-k45"))})
    with ResultStore(path) as store:
        for i, radius in enumerate(RADII):
            store.add(record(i, radius=radius, config=ablation))
        for i in range(4):
            store.add(attack_record(i, run_hash="pw", best_l0=POINTWISE[i], confirmed=True,
                                    best_confirmed_l0=POINTWISE[i], config=ablation))
            store.add(attack_record(i, run_hash="sz", attack="sigma-zero", best_l0=SIGMA[i],
                                    confirmed=math.isfinite(SIGMA[i]),
                                    best_confirmed_l0=SIGMA[i], config=ablation))
            l0, who = ENSEMBLE[i]
            store.add(attack_record(i, run_hash="en", attack="ensemble", best_l0=l0,
                                    confirmed=True, best_confirmed_l0=l0, found_by=who,
                                    config=ablation))
    return path


def _groups(path: Path) -> tuple[list[CertifyRun], list[Pairing]]:
    with ResultStore(path) as store:
        certifies = certify_runs(store.records())
        pairings = pair_runs(attack_runs(store.attack_records()), certifies)
    return certifies, pairings


def test_best_per_image_names_the_finder(tmp_path: Path) -> None:
    _, pairings = _groups(_database(tmp_path / "r.sqlite"))
    (group,) = attack_groups(pairings)
    assert group.images == [0, 1, 2, 3]
    best = best_per_image(group)
    # runs in order ensemble, pointwise, sigma-zero: the first run with the minimum names it
    assert best == {0: (8.0, "sigma-zero"), 1: (9.0, "pointwise"), 2: (20.0, "sigma-zero"),
                    3: (3.0, "pointwise")}


def test_comparison_rows_and_pointwise_beside_each(tmp_path: Path) -> None:
    _, pairings = _groups(_database(tmp_path / "r.sqlite"))
    table = comparison_table(attack_groups(pairings))
    rows = {row[1]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    assert set(rows) == {"ensemble (fixed)", "pointwise (fixed)", "sigma-zero (fixed)", BEST}
    sigma = rows["sigma-zero (fixed)"]
    # confirmed 8, 9, 20, inf: lower median 9; mean of the finite 12.33
    assert (sigma["median confirmed L0"], sigma["mean confirmed L0"]) == ("9", "12.33")
    assert sigma["confirmed"] == "3 of 4"
    # against Pointwise (12, 9, inf, 3): below on 0 and 2, equal on 1, above on 3
    assert sigma["vs Pointwise: below / equal / above"] == "2 / 1 / 1"
    assert rows["ensemble (fixed)"]["vs Pointwise: below / equal / above"] == "2 / 2 / 0"
    assert rows["pointwise (fixed)"]["vs Pointwise: below / equal / above"] == "-"
    assert rows[BEST]["median confirmed L0"] == "8"  # 3, 8, 9, 20
    assert rows["ensemble (fixed)"]["smallest on"] == "4"
    per_image = per_image_table(attack_groups(pairings))
    assert len(per_image.rows) == 12
    assert per_image.columns[-1] == "found_by"


def test_any_attack_audit_uses_the_smallest_confirmed_l0(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    _database(path)
    with ResultStore(path) as store:  # a fourth run that finds 7 on image 1: radius 7 >= 7
        store.add(attack_record(1, run_hash="x", attack="pgd0", best_l0=7.0, confirmed=True,
                                best_confirmed_l0=7.0,
                                config=json.dumps({"defense": config_fields(
                                    resolve_defense("ablation-k45"))})))
    _, pairings = _groups(path)
    (row,) = any_attack_audit(attack_groups(pairings))
    assert row[1] == "any of 4 runs"
    assert row[6:8] == ("1", "1")  # image 1 only is attacked by all four runs; it violates
    assert "1: 7 >= 7 (pgd0 (fixed))" in row[-1]


def test_the_report_adds_the_comparison_the_plot_and_found_by(tmp_path: Path) -> None:
    results = _database(tmp_path / "r.sqlite")
    out = tmp_path / "report"
    names = {p.name for p in write_report(results, out)}
    assert {"attacks.md", "attacks.csv", "attacks_per_image.csv", "attacks.png"} <= names
    index = (out / "index.md").read_text()
    assert "Attacks compared on the same images" in index
    assert "With the smallest confirmed L0 of any attack run" in index
    certifies, pairings = _groups(results)
    joined = joined_table(certifies, pairings)
    found = {(row[1], row[2]): row[joined.columns.index("found_by")] for row in joined.rows}
    assert found[("ensemble", "0")] == "sigma-zero"
    assert found[("pointwise", "2")] == ""  # nothing confirmed
    assert found[("pointwise", "1")] == "pointwise"  # an attack of its own
