"""The paper's training recipe, the constant schedule with its drop, shared minibatch masks and
training that stops at a time limit and goes on later."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from bench.api import defense_config
from bench.checkpoints import load_checkpoint, partial_path
from bench.cli import main
from bench.configs import NAMED_RECIPES, PAPER_RECIPE, RECIPES, TrainConfig
from bench.identity import train_identity
from bench.model_store import train_defense
from bench.training import learning_rate, model_inputs
from tests.conftest import head_splits


def test_paper_recipe_is_the_papers_training() -> None:
    paper = NAMED_RECIPES["paper"]
    assert paper is PAPER_RECIPE
    assert (paper.epochs, paper.batch_size, paper.optimizer, paper.lr, paper.momentum) == (
        400, 128, "sgd", 0.01, 0.9)
    assert not paper.nesterov and paper.weight_decay == 0.0
    assert (paper.init, paper.mask_sharing, paper.precision) == ("pytorch", "per-batch", "fp32")
    assert (paper.schedule, paper.lr_drop, paper.warmup_epochs) == ("constant", 200, 0)
    # checkpoints record the recipe with its schedule; the default recipes' records are as before
    assert train_identity(paper)["schedule"] == "constant"
    assert train_identity(paper)["lr_drop"] == 200
    assert "schedule" not in train_identity(RECIPES["bf16"])
    assert "lr_drop" not in train_identity(TrainConfig())


def test_constant_rate_falls_to_a_tenth_at_the_drop() -> None:
    steps = 469
    rates = {learning_rate(PAPER_RECIPE, epoch, step, steps)
             for epoch in (0, 1, 199) for step in (0, 1, 468)}
    assert rates == {0.01}
    assert learning_rate(PAPER_RECIPE, 200, 0, steps) == 0.01 / 10
    assert learning_rate(PAPER_RECIPE, 399, 468, steps) == 0.01 / 10
    # the default schedule: linear warmup over the first epoch, then cosine decay to 0
    default = TrainConfig(epochs=4, warmup_epochs=1)
    assert learning_rate(default, 0, 0, 10) == default.lr / 10
    assert math.isclose(learning_rate(default, 1, 0, 10), default.lr)
    assert learning_rate(default, 3, 9, 10) < 0.01 * default.lr


def test_per_batch_sharing_gives_every_image_of_a_minibatch_one_mask() -> None:
    config = defense_config("ablation-k45", precision="fp32")
    x = torch.rand(8, 1, 28, 28) * 0.9 + 0.05  # no pixel is 0 or 1: kept pixels show
    shared = model_inputs(config, PAPER_RECIPE, x, torch.Generator().manual_seed(0))
    kept = shared.sum(dim=1) > 0  # multichannel: (x, 1 - x), (0, 0) where ablated
    assert all(torch.equal(kept[0], kept[i]) for i in range(8))
    assert int(kept[0].sum()) == 45
    own = model_inputs(config, TrainConfig(), x, torch.Generator().manual_seed(0))
    kept_own = own.sum(dim=1) > 0
    assert not all(torch.equal(kept_own[0], kept_own[i]) for i in range(1, 8))


def test_the_drop_starts_a_fresh_optimizer_and_resumes_exactly(tmp_path: Path) -> None:
    config = defense_config("ablation-k45", precision="fp32")
    splits = head_splits(96, 20)
    recipe = TrainConfig(epochs=3, batch_size=32, optimizer="sgd", lr=0.05, nesterov=False,
                         warmup_epochs=0, schedule="constant", lr_drop=2,
                         mask_sharing="per-batch", init="pytorch")
    whole, _ = train_defense(config, recipe, splits, tmp_path / "whole")
    # the same recipe stopped after every epoch by a time limit of 0, then continued
    for _ in range(3):
        path, trained = train_defense(config, recipe, splits, tmp_path / "steps", time_limit=0)
        assert trained
    a, b = load_checkpoint(whole, config), load_checkpoint(path, config)
    assert a.model_id == b.model_id
    assert [h["loss"] for h in a.metrics["history"]] == [h["loss"] for h in b.metrics["history"]]


def test_a_time_limit_saves_the_epochs_reached_and_a_later_run_goes_on(tmp_path: Path) -> None:
    config = defense_config("ablation-k45", precision="fp32")
    splits = head_splits(64, 20)
    recipe = TrainConfig(epochs=2, batch_size=32)
    path, trained = train_defense(config, recipe, splits, tmp_path, time_limit=0)
    first = load_checkpoint(path, config)
    assert trained and first.metrics["epochs"] == 1 and first.metrics["complete"] is False
    assert partial_path(tmp_path, config).exists()
    path, trained = train_defense(config, recipe, splits, tmp_path)
    done = load_checkpoint(path, config)
    assert trained and done.metrics["epochs"] == 2 and done.metrics["complete"] is True
    assert not partial_path(tmp_path, config).exists()
    assert train_defense(config, recipe, splits, tmp_path) == (path, False)


def test_bench_train_recipe_paper_records_the_recipe(tmp_path: Path) -> None:
    assert main(["train", "--defense", "ablation-k45", "--recipe", "paper", "--epochs", "1",
                 "--train-limit", "64", "--models", str(tmp_path), "--device", "cpu"]) == 0
    checkpoint = load_checkpoint(tmp_path / "mnist" / "ablation-k45.pt",
                                 defense_config("ablation-k45"))
    assert checkpoint.train == {**train_identity(PAPER_RECIPE), "epochs": 1}
    with pytest.raises(SystemExit) as bad:
        main(["train", "--defense", "ablation-k45", "--recipe", "nope", "--models",
              str(tmp_path)])
    assert bad.value.code == 2
