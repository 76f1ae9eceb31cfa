"""End-to-end: the deterministic partition defenses through the CLI (tiny trainings): train,
certify, attack (no certified image is ever broken within its exact radius) and report."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.store import ResultStore
from reports.records import CertifyRecord

TINY = ["--epochs", "1", "--train-limit", "600"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny fpa-t8 and ablation-k45 checkpoints, certified on 12 images beside ablation-k45."""
    root = tmp_path_factory.mktemp("partition")
    os.environ.setdefault("BENCH_OFFLINE", "1")
    models, results = str(root / "models"), str(root / "r.sqlite")
    for defense in ("fpa-t8", "derand-ablation-k45-t17"):
        assert main(["train", "--defense", defense, "--models", models, *TINY]) == 0
    for defense, extra in (("fpa-t8", []), ("derand-ablation-k45-t17", []),
                           ("ablation-k45", ["--n0", "20", "--n", "100"])):
        assert main(["certify", "--defense", defense, "--models", models, "--results", results,
                     "--limit", "12", *extra]) == 0
    return root


def test_training_fpa_trains_all_submodels_and_derand_trains_ablation(workdir: Path) -> None:
    models = workdir / "models" / "mnist"
    # the derandomized defense reuses ablation-k45's classifier: no checkpoint of its own
    assert sorted(p.name for p in models.glob("*.pt")) == ["ablation-k45.pt", "fpa-t8.pt"]
    state = torch.load(models / "fpa-t8.pt", weights_only=True)["state_dict"]
    assert state["owner"].shape == (784,) and set(state["owner"].tolist()) == set(range(8))
    assert sum(name.endswith("weight") for name in state) == 8 * 3  # 8 submodels, 3 layers


def test_certificates_are_exact_and_carry_the_votes(workdir: Path) -> None:
    with ResultStore(workdir / "r.sqlite") as store:
        records = store.records()
    by_defense: dict[str, list[CertifyRecord]] = {}
    for r in records:
        by_defense.setdefault(r.defense, []).append(r)
    for defense, groups in (("fpa-t8", 8), ("derand-ablation-k45-t17", 17)):
        rows = by_defense[defense]
        assert len(rows) == 12
        for r in rows:
            assert sum(r.counts) == groups and r.certificate == "partition"
            assert r.n0 == r.n == 0 and r.alpha == 0.0 and r.p_lower == 1.0
            assert not r.abstained and r.prediction == r.certified_label
            assert r.radius <= groups // 2 and (r.radius >= 0) == (r.prediction == r.label)


def test_workers_give_the_same_certificates(workdir: Path) -> None:
    results = workdir / "jobs.sqlite"
    assert main(["certify", "--defense", "fpa-t8", "--models", str(workdir / "models"),
                 "--results", str(results), "--limit", "12", "--jobs", "2"]) == 0
    with ResultStore(results) as store:
        parallel = store.records()
    with ResultStore(workdir / "r.sqlite") as store:
        serial = [r for r in store.records() if r.defense == "fpa-t8"]
    assert [(r.image, r.radius, r.counts, r.run_hash) for r in parallel] == [
        (r.image, r.radius, r.counts, r.run_hash) for r in serial]


def test_attacks_never_break_an_exact_certificate(workdir: Path) -> None:
    results = workdir / "r.sqlite"
    for defense in ("fpa-t8", "derand-ablation-k45-t17"):
        assert main(["attack", "--defense", defense, "--models", str(workdir / "models"),
                     "--results", str(results), "--limit", "4", "--restarts", "2",
                     "--init-steps", "20"]) == 0
    assert main(["attack", "--defense", "fpa-t8", "--models", str(workdir / "models"),
                 "--results", str(results), "--limit", "4", "--attack", "sigma-zero",
                 "--attack-option", "steps=40"]) == 0
    with ResultStore(results) as store:
        certified = {(r.defense, r.image): r.radius for r in store.records()}
        attacked = store.attack_records()
    assert len(attacked) == 12
    for a in attacked:
        assert a.n == 0 and a.mask_policy == "none"
        if a.clean_adversarial:
            continue
        # T forward passes per query (a submodel's or the shared classifier's)
        groups = 8 if a.defense == "fpa-t8" else 17
        assert a.forward_passes >= groups * a.queries > 0
        if math.isfinite(a.best_confirmed_l0):
            assert a.best_confirmed_l0 > certified[(a.defense, a.image)]


def test_report_compares_the_certified_defenses(workdir: Path) -> None:
    out = workdir / "report"
    assert main(["report", "--results", str(workdir / "r.sqlite"), "--out", str(out)]) == 0
    table = (out / "certified.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ") and "model" in line]
    assert len(lines) == 3
    fpa = next(line for line in lines if line.startswith("| fpa-t8"))
    cells = [c.strip() for c in fpa.split("|")[1:-1]]
    # exact: 8 forward passes, failure probability 0; the attack column reads its attacks
    assert cells[1] == "12" and cells[-6] == "8" and cells[-4] == "0"
    assert "pointwise" in cells[-1] and "sigma-zero" in cells[-1]
    sampled = next(line for line in lines if line.startswith("| ablation-k45"))
    assert "| 120 |" in sampled and "| 0.05 |" in sampled  # N0 + N, alpha
    assert (out / "certified.png").exists()
    assert "Certified defenses compared on the same images" in (out / "index.md").read_text()


@pytest.mark.parametrize(("defense", "message"), [
    ("fpa-t0", "T = 0 groups is impossible"),
    ("fpa-t785", "T must be in 1..784"),
    ("derand-ablation-k45-t0", "T = 0 groups is impossible"),
    ("derand-ablation-k0-t17", "k = 0 is impossible"),
])
def test_impossible_partitions_are_refused(defense: str, message: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "r.sqlite"
    assert main(["certify", "--defense", defense, "--results", str(results)]) == 2
    assert message in capsys.readouterr().err
    assert not results.exists()
