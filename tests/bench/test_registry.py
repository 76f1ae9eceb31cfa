from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from attacks.pointwise import Pointwise
from bench.api import recipe_for
from bench.configs import AblationConfig, LeeConfig, UndefendedConfig
from bench.data import load_mnist
from bench.errors import InputError
from bench.registry import (
    Architecture,
    DatasetEntry,
    attack_class,
    build_architecture,
    dataset_entry,
    defense_families,
    register_architecture,
    resolve_defense,
)
from defenses.encodings import Encoding

MNIST_MEAN = dataset_entry("mnist").mean[0]


@pytest.mark.parametrize("k", [1, 45, 784])
def test_ablation_any_k(k: int) -> None:
    config = resolve_defense(f"ablation-k{k}")
    assert isinstance(config, AblationConfig)
    assert (config.k, config.name, config.d) == (k, f"ablation-k{k}", 784)


def test_cnn_is_the_undefended_classifier_with_its_own_recipe() -> None:
    config = resolve_defense("cnn")
    assert isinstance(config, UndefendedConfig)
    assert config.input_channels == 1
    assert recipe_for("cnn").epochs == 8 < recipe_for("ablation-k45").epochs


def test_attacks_resolve() -> None:
    assert attack_class("pointwise") is Pointwise
    with pytest.raises(InputError, match="Did you mean pointwise"):
        attack_class("pointwse")


@pytest.mark.parametrize("k", [0, 785])
def test_impossible_k(k: int) -> None:
    with pytest.raises(InputError, match=r"1\.\.784"):
        resolve_defense(f"ablation-k{k}")


def test_unknown_name_suggests_nearest() -> None:
    with pytest.raises(InputError, match="Did you mean ablation-k45"):
        resolve_defense("ablaton-k45")


def test_examples_resolve() -> None:
    for family in defense_families():
        config = resolve_defense(family.example)
        assert (config.name, config.dataset) == (family.example, "mnist")


def test_mean_null_ablation_is_a_config_value() -> None:
    config = resolve_defense("ablation-mean-k45")
    assert isinstance(config, AblationConfig)
    assert (config.k, config.encoding, config.fill) == (45, Encoding.MEAN_FILL, MNIST_MEAN)
    assert config.input_channels == 1
    assert resolve_defense("ablation-k45").input_channels == 2
    with pytest.raises(InputError, match=r"1\.\.784"):
        resolve_defense("ablation-mean-k0")


@pytest.mark.skipif(not os.environ.get("BENCH_DATA_ROOT"), reason="needs full MNIST")
def test_mean_fill_is_the_training_set_mean() -> None:
    train = load_mnist(Path(os.environ["BENCH_DATA_ROOT"])).train
    assert np.asarray(train.images).mean() / 255 == pytest.approx(MNIST_MEAN, abs=5e-5)


@pytest.mark.parametrize(("name", "kappa"), [("lee-kappa0.1", 0.1), ("lee-kappa.25", 0.25),
                                             ("lee-kappa1", 1.0)])
def test_lee_any_kappa(name: str, kappa: float) -> None:
    config = resolve_defense(name)
    assert isinstance(config, LeeConfig)
    assert (config.kappa, config.num_values, config.input_channels) == (kappa, 256, 1)


@pytest.mark.parametrize("name", ["lee-kappa0.003", "lee-kappa0", "lee-kappa1.5"])
def test_impossible_kappa(name: str) -> None:
    with pytest.raises(InputError, match="1/256"):
        resolve_defense(name)


def test_lee_typo_suggests_the_example() -> None:
    with pytest.raises(InputError, match=r"Did you mean lee-kappa0\.3"):
        resolve_defense("lee-kapa0.3")


def test_mnist_is_registered_with_its_shape_and_mean() -> None:
    entry = dataset_entry("mnist")
    assert isinstance(entry, DatasetEntry)
    assert (entry.image_shape, entry.num_classes, entry.mean) == ((1, 28, 28), 10, (0.1307,))
    with pytest.raises(InputError, match="Registered datasets: mnist"):
        dataset_entry("mnst")


def test_a_defense_takes_its_shape_from_the_dataset() -> None:
    small = DatasetEntry("tiny-grey", "16x12 test images", (1, 16, 12), 3, (0.5,),
                         lambda *a, **k: None)  # type: ignore[arg-type]
    config = resolve_defense("ablation-k45", small)
    assert (config.dataset, config.image_shape, config.num_classes, config.d) == (
        "tiny-grey", (1, 16, 12), 3, 192)
    with pytest.raises(InputError, match=r"1\.\.192"):
        resolve_defense("ablation-k193", small)
    model = build_architecture(config.architecture, config.input_channels, 3, (1, 16, 12))
    import torch

    assert model(torch.zeros(2, 2, 16, 12)).shape == (2, 3)


def test_registering_twice_under_one_name_is_an_error() -> None:
    arch = Architecture("mnist-cnn", lambda c, k, s: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="already registered"):
        register_architecture(arch)
    with pytest.raises(InputError, match="Registered architectures"):
        build_architecture("resnet-999", 1, 10, (1, 28, 28))
