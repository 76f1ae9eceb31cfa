from __future__ import annotations

import pytest

from bench.errors import InputError
from bench.registry import DEFENSES, resolve_defense


@pytest.mark.parametrize("k", [1, 45, 784])
def test_ablation_any_k(k: int) -> None:
    config = resolve_defense(f"ablation-k{k}")
    assert (config.k, config.name, config.d) == (k, f"ablation-k{k}", 784)


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
