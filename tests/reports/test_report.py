"""The report from a synthetic results database: joins, known medians, violations, idempotence."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from bench.cli import main
from bench.identity import config_fields
from bench.registry import resolve_defense
from bench.reporting import write_report
from bench.store import ResultStore
from reports.joined import (
    attack_runs,
    certify_runs,
    empirical_robust_accuracy,
    joined_table,
    pair_runs,
    violations,
)
from tests.bench.test_store import attack_record, record

RADII = [5, 7, -1, 9, 2]  # lower median of sorted [-1, 2, 5, 7, 9] = 5
L0 = [12.0, 6.0, 0.0, math.inf, 3.0]  # image 1: 6 <= 7 and image 4: 3 > 2; image 2 is clean-wrong


def _database(path: Path) -> Path:
    ablation = json.dumps({"defense": config_fields(resolve_defense("ablation-k45"))})
    lee = json.dumps({"defense": config_fields(resolve_defense("lee-kappa0.3"))})
    with ResultStore(path) as store:
        for i, radius in enumerate(RADII):
            store.add(record(i, radius=radius, config=ablation,
                             prediction=7 if radius >= 0 else 3))
            store.add(record(i, run_hash="lee", defense="lee-kappa0.3", certificate="lee",
                             radius=min(radius, 1), config=lee,
                             prediction=7 if radius >= 0 else 3))
        for i, l0 in enumerate(L0):
            store.add(attack_record(i, best_l0=l0, best_confirmed_l0=l0, confirmed=True,
                                    clean_adversarial=i == 2, clean_prediction=3 if i == 2 else 7))
    return path


def test_runs_pairing_violations_and_empirical_accuracy(tmp_path: Path) -> None:
    with ResultStore(_database(tmp_path / "r.sqlite")) as store:
        certifies = certify_runs(store.records())
        pairings = pair_runs(attack_runs(store.attack_records()), certifies)
    assert [run.first.defense for run in certifies] == ["ablation-k45", "lee-kappa0.3"]
    (pairing,) = pairings
    assert pairing.certify is certifies[0]  # same defense, model, data and seed
    assert violations(pairing) == [(1, 7, 6.0)]
    # L0 > rho: rho=0: images 0,1,3,4 (image 2 has 0); rho=5: 0,1,3; rho=6: 0,3; rho=12: 3
    emp = empirical_robust_accuracy(pairing.attack, 12)
    assert (emp[0], emp[5], emp[6], emp[12]) == (0.8, 0.6, 0.4, 0.2)
    table = joined_table(certifies, pairings)
    assert len(table.rows) == 10  # 5 attacked ablation images + 5 lee images without attack
    row = dict(zip(table.columns, table.rows[-1], strict=True))
    assert (row["defense"], row["image"], row["certified_radius"], row["attack_l0"]) == (
        "ablation-k45", "4", "2", "3")
    assert {"label", "prediction", "abstained", "attack_verified", "queries", "forward_passes",
            "seconds", "seed"} <= set(table.columns)


def test_report_files_medians_audit_and_idempotence(tmp_path: Path) -> None:
    results = _database(tmp_path / "r.sqlite")
    out = tmp_path / "report"
    written = write_report(results, out)
    first = {p.name: p.read_bytes() for p in written}
    assert {"index.md", "table1.md", "table1.csv", "table2.csv", "table7.csv", "joined.csv",
            "audit.csv", "robustness.png", "scatter.png", "certified_accuracy.csv"} <= set(first)
    table1 = (out / "table1.md").read_text()
    assert "| ablation-k45 (fp32) | 5 |" in table1 and "| 5 (5) |" in table1
    assert "96.72% (0.45%)" in table1  # the paper beside ours
    # radii 5, 7, -1, 9, 2: certified accuracy 80% at rho 0..2, 60% at 3..5, 40% at 6, 7
    accuracy = (out / "certified_accuracy.csv").read_text().splitlines()
    assert accuracy[1].startswith(
        "ablation-k45 (fp32),80.0,80.0,80.0,60.0,60.0,60.0,40.0,40.0,20.0")
    index = (out / "index.md").read_text()
    # images 0, 1 and 4 have a certificate and a confirmed adversarial (2 is clean-wrong, 3 has
    # none found)
    assert "Auditable images (a certificate and a confirmed adversarial): 3. Violations found: " \
        "**1**" in index and "1: 7 >= 6" in index
    assert "(robustness.png)" in index and "(table7.csv)" in index
    # twice: the same bytes, PNGs included
    again = {p.name: p.read_bytes() for p in write_report(results, out)}
    assert again == first


def test_report_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _database(tmp_path / "r.sqlite")
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "out")]) == 0
    assert "index.md" in capsys.readouterr().out
    assert main(["report", "--results", str(tmp_path / "missing.sqlite"), "--out",
                 str(tmp_path / "none")]) == 2
    assert "no results database" in capsys.readouterr().err
    assert not (tmp_path / "none").exists() and not (tmp_path / "missing.sqlite").exists()


def test_image_figures(tmp_path: Path) -> None:
    import numpy as np

    from bench.reporting import _noise_rows
    from reports.plots import adversarial_examples, noise_samples

    with ResultStore(_database(tmp_path / "r.sqlite")) as store:
        (pairing,) = pair_runs(attack_runs(store.attack_records()), certify_runs(store.records()))
    # the stored adversarials are 2x2 images 0, 1, 2, 3; image 2 is clean-wrong, 3 not found
    originals = {i: np.zeros((1, 2, 2), np.float32) for i in range(5)}
    fig = adversarial_examples(pairing, originals)
    assert fig is not None and len(fig.axes) == 3 * 3  # images 0, 1 and 4: three columns
    assert adversarial_examples(pairing, {}) is None
    image = np.random.default_rng(0).random((1, 28, 28)).astype(np.float32)
    runs = certify_runs([record(0, run_hash=n, defense=n) for n in
                         ("ablation-k45", "ablation-mean-k45", "lee-kappa0.3", "cnn", "mine-k3")])
    rows = _noise_rows(runs, image, "mnist", count=3)
    # each smoothed defense's own noise model draws; cnn has none, mine-k3 is not registered
    assert [name for name, _ in rows] == ["ablation-k45", "ablation-mean-k45", "lee-kappa0.3"]
    views = dict(rows)
    assert views["ablation-k45"].shape == (3, 28, 28)
    assert (~np.isnan(views["ablation-k45"])).sum(axis=(1, 2)).tolist() == [45, 45, 45]
    assert not np.isnan(views["ablation-mean-k45"]).any()
    fig = noise_samples(rows, image, "mnist")
    assert fig is not None and len(fig.axes) == 3 * 4  # three smoothed defenses, clean + 3 draws
    assert noise_samples([], image, "mnist") is None


def test_sweep_plot_needs_two_ks() -> None:
    from reports.plots import sweep_plot

    config = {k: json.dumps({"defense": config_fields(resolve_defense(f"ablation-k{k}"))})
              for k in (20, 45)}
    runs = certify_runs([record(i, run_hash=f"k{k}", defense=f"ablation-k{k}", radius=k // 10,
                                config=config[k]) for k in (20, 45) for i in range(3)])
    fig = sweep_plot(runs)
    assert fig is not None and "N = 6" in fig.axes[0].get_title()
    assert sweep_plot(runs[:1]) is None


def test_plots_tell_apart_runs_of_one_defense_with_other_models_or_precisions() -> None:
    from reports.plots import radius_scatter, robustness_curves

    int8 = json.dumps({"defense": config_fields(dataclasses.replace(
        resolve_defense("ablation-k45"), precision="int8"))})
    certifies = certify_runs([record(i, run_hash=h, model_id=m, config=c)
                              for h, m, c in (("a", "aaaaaaaa1", "{}"), ("b", "bbbbbbbb2", int8))
                              for i in range(3)])
    pairings = pair_runs(attack_runs([attack_record(i, run_hash=h, model_id=m, config=c)
                                      for h, m, c in (("x", "aaaaaaaa1", "{}"),
                                                      ("y", "bbbbbbbb2", int8))
                                      for i in range(3)]), certifies)
    assert [p.certify is not None for p in pairings] == [True, True]
    labels = {run.label for run in certifies} | {p.attack.label for p in pairings}
    assert len(labels) == 4 and any("(int8) model bbbbbbbb" in label for label in labels)
    for fig in (robustness_curves(certifies, pairings), radius_scatter(pairings)):
        box = fig.axes[0].get_legend()
        assert box is not None
        legend = [t.get_text() for t in box.get_texts()]
        assert any("model aaaaaaaa" in t for t in legend)
        assert any("ablation-k45 (int8) model bbbbbbbb" in t for t in legend)
