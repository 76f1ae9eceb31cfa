"""End-to-end on colour data the tests write: CIFAR-10-format batches and an ImageNet-style
class-folder tree through the CLI (train, certify, attack, report), with L0 counted per pixel
position and every record saying what data it came from."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.cli import main
from bench.store import ResultStore
from tests.synthetic import write_cifar10, write_image_folder


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic CIFAR-10 batches; ablation-k75 trained to learn them (10 epochs of 10 steps)
    and its mean-NULL twin for one step, both certified on 6 test images."""
    root = tmp_path_factory.mktemp("cifar")
    data = write_cifar10(root / "data", per_batch=16, test=12)
    common = ["--dataset", "cifar10", "--data-root", str(data), "--models", str(root / "models")]
    for defense, epochs in (("ablation-k75", "10"), ("ablation-mean-k75", "1")):
        assert main(["train", "--defense", defense, *common, "--epochs", epochs,
                     "--batch-size", "8"]) == 0
        assert main(["certify", "--defense", defense, *common, "--results",
                     str(root / "r.sqlite"), "--limit", "6", "--n0", "10", "--n", "40"]) == 0
    return root


def _common(root: Path) -> list[str]:
    return ["--dataset", "cifar10", "--data-root", str(root / "data"), "--models",
            str(root / "models"), "--results", str(root / "r.sqlite")]


def test_cifar_checkpoints_have_the_encodings_input_channels(cifar: Path) -> None:
    models = cifar / "models" / "cifar10"
    multichannel = torch.load(models / "ablation-k75.pt", weights_only=True)["state_dict"]
    mean = torch.load(models / "ablation-mean-k75.pt", weights_only=True)["state_dict"]
    assert multichannel["stem.0.weight"].shape == (64, 6, 3, 3)
    assert mean["stem.0.weight"].shape == (64, 3, 3, 3)


def test_cifar_certificates_record_the_data_and_stay_within_the_cap(cifar: Path) -> None:
    with ResultStore(cifar / "r.sqlite") as store:
        records = store.records()
    assert sorted({r.defense for r in records}) == ["ablation-k75", "ablation-mean-k75"]
    learned = [r for r in records if r.defense == "ablation-k75"]
    assert sum(r.prediction == r.label for r in learned) >= 5  # the patterns are learned
    for r in records:
        assert r.dataset == "cifar10" and r.data_source == "cifar10-format"
        assert sum(r.counts) == 40 and len(r.counts) == 10
        assert -1 <= r.radius <= 9  # d = 1,024, k = 75: the cap at N = 40 is far below 9


def test_cifar_attack_counts_pixel_positions(cifar: Path) -> None:
    # σ-zero, kept small: ResNet-18 forwards cost 100 times the MNIST CNN's on a CPU
    assert main(["attack", "--defense", "ablation-k75", *_common(cifar), "--limit", "2",
                 "--n", "40", "--attack", "sigma-zero", *(f"--attack-option={o}" for o in (
                     "steps=30", "eot_samples=4", "holdout_samples=20", "prune=false"))]) == 0
    with ResultStore(cifar / "r.sqlite") as store:
        attacked = store.attack_records()
    assert len(attacked) == 2
    assert sum(not a.clean_adversarial and math.isfinite(a.best_l0) for a in attacked) >= 1
    for a in attacked:
        if a.clean_adversarial or not math.isfinite(a.best_l0):
            continue
        x_adv = np.frombuffer(a.adversarial, np.float32).reshape(a.adversarial_shape)
        assert x_adv.shape == (1, 3, 32, 32)
        assert a.best_l0 <= 1024 and a.best_l0 == int(a.best_l0)


def test_cifar_report_prints_table3_beside_ours(cifar: Path) -> None:
    out = cifar / "report"
    assert main(["report", "--results", str(cifar / "r.sqlite"), "--out", str(out),
                 "--dataset", "cifar10", "--data-root", str(cifar / "data")]) == 0
    table1 = (out / "table1.md").read_text()
    row = next(line for line in table1.splitlines() if line.startswith("| ablation-k75 "))
    assert "78.25% (0.93%)" in row and "cifar10-format" in row  # Table 3, never MNIST's k=75
    assert "98.28%" not in table1
    table8 = (out / "table8.md").read_text()
    assert "77.71% (1.05%)" in table8
    assert (out / "noise.png").exists()


def test_image_folder_end_to_end(tmp_path: Path) -> None:
    """ImageNet's preset on a 3-class tree: ResNet-50 at 224 x 224, k = 1,000, streamed."""
    os.environ.setdefault("BENCH_OFFLINE", "1")
    data = write_image_folder(tmp_path / "tree", classes=3, train=2, val=1, size=(240, 300),
                              suffix=".jpg")
    common = ["--dataset", "imagenet", "--data-root", str(data), "--models",
              str(tmp_path / "models"), "--results", str(tmp_path / "r.sqlite")]
    assert main(["train", "--defense", "ablation-k1000", *common[:-2], "--epochs", "1",
                 "--batch-size", "3"]) == 0
    state = torch.load(tmp_path / "models" / "imagenet" / "ablation-k1000.pt",
                       weights_only=True)["state_dict"]
    assert state["stem.0.weight"].shape == (64, 6, 7, 7) and state["fc.weight"].shape[0] == 1000
    assert main(["certify", "--defense", "ablation-k1000", *common, "--limit", "2", "--n0", "4",
                 "--n", "8", "--forward-batch", "8"]) == 0
    with ResultStore(tmp_path / "r.sqlite") as store:
        records = store.records()
    assert [r.image for r in records] == [0, 1]
    assert all(r.dataset == "imagenet" and r.data_source == "image-folder" for r in records)
    assert all(len(r.counts) == 1000 and sum(r.counts) == 8 for r in records)
    assert main(["report", "--results", str(tmp_path / "r.sqlite"), "--out",
                 str(tmp_path / "report")]) == 0
    assert "| ablation-k1000 " in (tmp_path / "report" / "table1.md").read_text()
    assert "61.00% (0.00%)" in (tmp_path / "report" / "table1.md").read_text()  # Table 6


def test_missing_colour_data_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "r.sqlite"
    assert main(["certify", "--defense", "ablation-k75", "--dataset", "cifar10", "--data-root",
                 str(tmp_path), "--results", str(results), "--models",
                 str(tmp_path / "m")]) == 2
    assert "no CIFAR-10 batches under" in capsys.readouterr().err
    assert main(["certify", "--defense", "ablation-k1000", "--dataset", "imagenet",
                 "--results", str(results), "--models", str(tmp_path / "m")]) == 2
    assert "pass --data-root DIR" in capsys.readouterr().err
    assert not results.exists() and not (tmp_path / "m").exists()
