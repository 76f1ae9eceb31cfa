"""Several defenses trained together as one stacked network: each as it would be trained alone,
resumable with the single runs' own resume points, from the API and ``bench train``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from bench.api import defense_config
from bench.checkpoints import load_checkpoint
from bench.cli import main
from bench.configs import PartitionConfig, TrainConfig
from bench.errors import InputError
from bench.model_store import train_defense, train_defenses
from bench.stacked_training import train_stacked
from bench.training import train_base_classifier
from tests.conftest import head_splits

RECIPES = [TrainConfig(epochs=2, batch_size=32),
           TrainConfig(epochs=2, batch_size=32, optimizer="sgd", lr=0.05, nesterov=False,
                       warmup_epochs=0, schedule="constant", lr_drop=1,
                       mask_sharing="per-batch", init="pytorch", ema=0.9)]


@pytest.mark.parametrize("recipe", RECIPES, ids=["adam-cosine", "paper-like-sgd-ema"])
def test_stacked_models_train_as_they_would_alone(recipe: TrainConfig) -> None:
    configs = [defense_config(f"ablation-k{k}", precision="fp32") for k in (20, 45)]
    data = head_splits(96, 10).train
    together = train_stacked(configs, recipe, data)
    for config, (model, state) in zip(configs, together, strict=True):
        alone, alone_state = train_base_classifier(config, recipe, data)
        for name, value in alone.state_dict().items():
            # the same steps; only the batched kernels' summation order differs
            torch.testing.assert_close(model.state_dict()[name], value, atol=2e-4, rtol=1e-3)
        assert state.epoch == alone_state.epoch == 2
        for mine, theirs in zip(state.history, alone_state.history, strict=True):
            assert mine["train_sample_accuracy"] == theirs["train_sample_accuracy"]
            assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-4)


def test_partition_submodels_train_together_as_alone() -> None:
    """Two fpa defenses (T submodels each, stacked once more) train as each does alone."""
    first = defense_config("fpa-t4")
    assert isinstance(first, PartitionConfig)
    configs = [first, dataclasses.replace(first, name="fpa-t4-other", partition_seed=1)]
    recipe = TrainConfig(epochs=1, batch_size=32)
    data = head_splits(64, 10).train
    together = train_stacked(configs, recipe, data)
    for config, (model, state) in zip(configs, together, strict=True):
        alone, alone_state = train_base_classifier(config, recipe, data)
        for name, value in alone.state_dict().items():
            torch.testing.assert_close(model.state_dict()[name], value, atol=2e-4, rtol=1e-3)
        assert state.history[0]["loss"] == pytest.approx(alone_state.history[0]["loss"],
                                                         rel=1e-4)
    owners = [model.state_dict()["owner"] for model, _ in together]
    assert not torch.equal(owners[0], owners[1])


def test_stacked_training_resumes_from_its_resume_points(tmp_path: Path) -> None:
    configs = [defense_config(f"ablation-k{k}", precision="fp32") for k in (20, 45)]
    splits = head_splits(64, 10)
    recipe = TrainConfig(epochs=2, batch_size=32)
    whole = train_defenses(configs, recipe, splits, tmp_path / "whole")
    first = train_defenses(configs, recipe, splits, tmp_path / "steps", time_limit=0)
    assert all(trained for _, trained in first)
    assert all(load_checkpoint(p, c).metrics["epochs"] == 1
               for c, (p, _) in zip(configs, first, strict=True))
    rest = train_defenses(configs, recipe, splits, tmp_path / "steps")
    for config, (a, _), (b, _) in zip(configs, whole, rest, strict=True):
        ca, cb = load_checkpoint(a, config), load_checkpoint(b, config)
        assert ca.model_id == cb.model_id
        assert cb.metrics["complete"] and cb.metrics["trained_together"] == [
            "ablation-k20", "ablation-k45"]
    # a single run takes a stacked run's resume point too
    single = train_defense(configs[0], recipe, splits, tmp_path / "steps")
    assert single == (rest[0][0], False)


def test_only_one_architecture_trains_together(tmp_path: Path) -> None:
    configs = [defense_config("ablation-k45"), defense_config("ablation-mean-k45")]
    with pytest.raises(InputError, match="same dataset and architecture"):
        train_defenses(configs, TrainConfig(epochs=1), head_splits(32, 10), tmp_path)


def test_bench_train_trains_comma_separated_defenses_together(tmp_path: Path) -> None:
    args = ["train", "--defense", "ablation-k20,ablation-k45", "--epochs", "1",
            "--train-limit", "64", "--models", str(tmp_path), "--device", "cpu"]
    assert main(args) == 0
    for name in ("ablation-k20", "ablation-k45"):
        checkpoint = load_checkpoint(tmp_path / "mnist" / f"{name}.pt", defense_config(name))
        assert checkpoint.metrics["trained_together"] == ["ablation-k20", "ablation-k45"]
    assert main(args) == 0  # both found: nothing to do
    assert main(["train", "--defense", "ablation-k45,ablation-k45", "--models",
                 str(tmp_path)]) == 2
