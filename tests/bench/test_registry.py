from __future__ import annotations

import pytest

from bench.configs import AblationConfig, UndefendedConfig
from bench.errors import InputError
from bench.registry import DEFENSES, default_train, resolve_attack, resolve_defense


@pytest.mark.parametrize("k", [1, 45, 784])
def test_ablation_any_k(k: int) -> None:
    config = resolve_defense(f"ablation-k{k}")
    assert isinstance(config, AblationConfig)
    assert (config.k, config.name, config.d) == (k, f"ablation-k{k}", 784)


def test_cnn_is_the_undefended_classifier_with_its_own_recipe() -> None:
    config = resolve_defense("cnn")
    assert isinstance(config, UndefendedConfig)
    assert config.input_channels == 1
    assert default_train("cnn").epochs < default_train("ablation-k45").epochs


def test_attacks_resolve() -> None:
    assert resolve_attack("pointwise") == "pointwise"
    with pytest.raises(InputError, match="Did you mean pointwise"):
        resolve_attack("pointwse")


@pytest.mark.parametrize("k", [0, 785])
def test_impossible_k(k: int) -> None:
    with pytest.raises(InputError, match=r"1\.\.784"):
        resolve_defense(f"ablation-k{k}")


def test_unknown_name_suggests_nearest() -> None:
    with pytest.raises(InputError, match="Did you mean ablation-k45"):
        resolve_defense("ablaton-k45")


def test_examples_resolve() -> None:
    for entry in DEFENSES:
        assert resolve_defense(entry.example).name == entry.example
