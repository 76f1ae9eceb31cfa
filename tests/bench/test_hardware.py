import pytest
import torch

from bench.configs import RECIPES, AblationConfig, LeeConfig, TrainConfig
from bench.errors import InputError
from bench.hardware import default_recipe, resolve_device, resolve_precision


def test_config_defaults_are_constants_whatever_the_cpu() -> None:
    # the machine is consulted only at the API/CLI edge (bench.hardware)
    assert AblationConfig(name="ablation-k45", k=45).precision == "fp32"
    assert LeeConfig(name="lee-kappa0.3", kappa=0.3).precision == "fp32"
    assert (TrainConfig().epochs, TrainConfig().precision) == (24, "fp32")


@pytest.mark.parametrize(("native", "smoothed", "undefended", "recipe"),
                         [(True, "bf16", "fp32", (64, "bf16")),
                          (False, "fp32", "fp32", (24, "fp32"))])
def test_auto_follows_the_cpu(monkeypatch: pytest.MonkeyPatch, native: bool, smoothed: str,
                              undefended: str, recipe: tuple[int, str]) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, fast=True) == smoothed
    assert resolve_precision("auto", cpu, fast=False) == undefended
    assert resolve_precision("int8", cpu, fast=True) == "int8"  # an explicit choice stays
    chosen = default_recipe(None, cpu)
    assert (chosen.epochs, chosen.precision) == recipe
    assert chosen == RECIPES[smoothed]
    own = TrainConfig(epochs=8)
    assert default_recipe(own, cpu) is own  # a family's own recipe wins


def test_bad_device_and_precision_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown precision"):
        resolve_precision("fp8", torch.device("cpu"), fast=True)
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device"):
            resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
