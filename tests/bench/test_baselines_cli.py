"""End-to-end: the baselines (mean-NULL ablation, Lee et al.) and the pairwise certificate through
the bench command line, on tiny configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import ResultStore
from defenses.lee_math import lee_l0_radius
from defenses.stats import clopper_pearson_lower
from tests.conftest import shown

TINY_TRAIN = ["--epochs", "1", "--train-limit", "300"]
TINY_CERT = ["--limit", "4", "--n0", "20", "--n", "200"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("baselines")
    os.environ.setdefault("BENCH_OFFLINE", "1")
    for name in ("ablation-k45", "ablation-mean-k45", "lee-kappa0.2"):
        assert main(["train", "--defense", name, "--models", str(root / "models"),
                     *TINY_TRAIN]) == 0
    return root


def _certify(root: Path, defense: str, *extra: str) -> int:
    return main(["certify", "--defense", defense, "--models", str(root / "models"),
                 "--results", str(root / "r.sqlite"), *TINY_CERT, *extra])


def test_pairwise_uses_the_same_votes_as_the_paper(workdir: Path) -> None:
    assert _certify(workdir, "ablation-k45") == 0
    assert _certify(workdir, "ablation-k45", "--certificate", "pairwise") == 0
    with ResultStore(workdir / "r.sqlite") as store:
        records = [r for r in store.records() if r.defense == "ablation-k45"]
    paper = {r.image: r for r in records if r.certificate == "levine-feizi"}
    pairwise = {r.image: r for r in records if r.certificate == "pairwise"}
    assert sorted(paper) == sorted(pairwise) == [0, 1, 2, 3]
    for i, r in paper.items():
        assert pairwise[i].counts == r.counts and pairwise[i].run_hash != r.run_hash


def test_mean_null_and_lee_certify(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _certify(workdir, "ablation-mean-k45") == 0
    assert _certify(workdir, "lee-kappa0.2") == 0
    out = capsys.readouterr().out
    assert f"| {shown('ablation-mean-k45')} | 4 |" in out
    assert f"| {shown('lee-kappa0.2')} | 4 |" in out
    with ResultStore(workdir / "r.sqlite") as store:
        lee = [r for r in store.records() if r.defense == "lee-kappa0.2"]
    assert len(lee) == 4 and {r.certificate for r in lee} == {"lee"}
    for r in lee:
        expected = lee_l0_radius(clopper_pearson_lower(r.counts[r.certified_label], 200, 0.05),
                                 0.2, max_radius=784)
        assert r.radius == (max(expected, 0) if r.certified_label == r.label else -1)


@pytest.mark.parametrize("defense", ["lee-kappa0.2", "cnn"])
def test_pairwise_is_refused_for_other_defenses(workdir: Path, defense: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert _certify(workdir, defense, "--certificate", "pairwise") == 2
    assert "certificate 'pairwise' is not one of" in capsys.readouterr().err


def _compare(root: Path, *extra: str) -> int:
    return main(["compare", *extra, "--models", str(root / "models"), "--results",
                 str(root / "r.sqlite"), *TINY_TRAIN, *TINY_CERT])


def test_compare_prints_tables_7_and_8_and_the_pairwise_gain(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _compare(workdir, "table7", "--defenses", "lee-kappa0.2,ablation-k45") == 0
    out = capsys.readouterr().out
    assert "Table 7" in out and f"| {shown('lee-kappa0.2')} | 4 | 20 | 200 |" in out
    assert _compare(workdir, "table8") == 0  # default defenses: ablation-k45, ablation-mean-k45
    out = capsys.readouterr().out
    assert f"| {shown('ablation-mean-k45')} | mean | 4 |" in out
    assert f"| {shown('ablation-k45')} | multichannel | 4 |" in out
    assert _compare(workdir, "pairwise") == 0
    out = capsys.readouterr().out
    assert f"| {shown('ablation-k45')} | pairwise | 4 |" in out
    assert f"| {shown('ablation-k45')} | levine-feizi | 4 |" in out


def test_compare_pairwise_refuses_lee(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _compare(workdir, "pairwise", "--defenses", "lee-kappa0.2") == 2
    assert "ablation defenses only" in capsys.readouterr().err


@pytest.mark.parametrize("policy", ["fixed", "fresh"])
def test_lee_and_mean_null_can_be_attacked(workdir: Path, policy: str) -> None:
    for defense in ("lee-kappa0.2", "ablation-mean-k45"):
        assert main(["attack", "--defense", defense, "--models", str(workdir / "models"),
                     "--results", str(workdir / f"a-{policy}.sqlite"), "--limit", "1", "--n",
                     "30", "--restarts", "1", "--init-steps", "10", "--mask-policy",
                     policy]) == 0
    with ResultStore(workdir / f"a-{policy}.sqlite") as store:
        records = store.attack_records()
    assert sorted(r.defense for r in records) == ["ablation-mean-k45", "lee-kappa0.2"]
    for r in records:
        assert r.mask_policy == policy and r.n == 30
        assert r.clean_adversarial or (r.queries > 0 and len(r.restart_l0) == 1)
