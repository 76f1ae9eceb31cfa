"""defenses.precision: logits independent of the batch (bitwise), precisions kept apart."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from defenses.ablation import RandomizedAblation
from defenses.encodings import Encoding, encode
from defenses.masks import sample_keep_masks
from defenses.models import mnist_cnn
from defenses.precision import InferenceModel, fast_precision, native_bf16
from defenses.undefended import Undefended


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = mnist_cnn(2)
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(m.weight)
    return model.eval()


def _inputs(n: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=gen)
    keeps = sample_keep_masks(n, 784, 45, gen).view(n, 28, 28)
    return encode(x, keeps, Encoding.MULTICHANNEL)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_logits_do_not_depend_on_the_batch(precision: str) -> None:
    infer = InferenceModel(_model(), precision)  # type: ignore[arg-type]
    inputs = _inputs(600)
    full = infer(inputs)
    assert full.dtype == torch.float32 and full.shape == (600, 10)
    gen = torch.Generator().manual_seed(2)
    for size in (1, 2, 3, 7, 64, 257):
        rows = torch.randperm(600, generator=gen)[:size]
        assert torch.equal(infer(inputs[rows]), full[rows]), size


def test_bf16_votes_agree_with_fp32_and_fp32_is_untouched() -> None:
    model = _model()
    inputs = _inputs(500)
    with torch.inference_mode():
        reference = model(inputs)
    fp32 = InferenceModel(model, "fp32")(inputs)
    bf16 = InferenceModel(model, "bf16")(inputs)
    assert torch.allclose(fp32, reference, atol=1e-4)
    assert not torch.equal(bf16, fp32)  # really another arithmetic
    agree = (bf16.argmax(1) == fp32.argmax(1)).float().mean()
    assert agree > 0.95
    assert next(model.parameters()).dtype == torch.float32  # bf16 works on a copy


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_in_place_relus_give_the_models_logits_and_leave_it_alone(precision: str) -> None:
    """InferenceModel runs its ReLUs in place (no fresh buffer per activation) on its own copy:
    the logits are bitwise those of the same module with ordinary ReLUs, and the caller's model
    keeps its out-of-place ReLUs (training needs them)."""
    model = _model()
    infer = InferenceModel(model, precision)  # type: ignore[arg-type]
    relus = [m for m in infer.module.modules() if isinstance(m, nn.ReLU)]
    assert relus and all(m.inplace for m in relus)
    assert not any(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    plain = InferenceModel(model, precision)  # type: ignore[arg-type]
    for m in plain.module.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    inputs = _inputs(1024)
    assert torch.equal(infer(inputs), plain(inputs))


def test_int8_quantizes_with_calibration() -> None:
    model = _model()
    infer = InferenceModel(model, "int8", calibration=_inputs(256, seed=3))
    inputs = _inputs(300)
    logits = infer(inputs)
    assert logits.dtype == torch.float32 and logits.shape == (300, 10)
    with torch.inference_mode():
        agree = (model(inputs).argmax(1) == logits.argmax(1)).float().mean()
    assert agree > 0.8
    assert torch.equal(infer(inputs[:5]), logits[:5])


def test_bad_precisions() -> None:
    with pytest.raises(ValueError, match="unknown precision"):
        InferenceModel(_model(), "fp16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="calibration"):
        InferenceModel(_model(), "int8")
    with pytest.raises(ValueError, match="calibration"):
        RandomizedAblation(_model(), 45, precision="int8")
    with pytest.raises(ValueError, match="calibration"):
        Undefended(_model(), precision="int8")
    with pytest.raises(ValueError, match="unknown precision"):
        RandomizedAblation(_model(), 45, precision="fp16")


def test_the_defense_votes_in_its_precision() -> None:
    model = _model()
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    keeps = sample_keep_masks(300, 784, 45, torch.Generator().manual_seed(5)).view(300, 28, 28)
    for precision in ("fp32", "bf16"):
        defense = RandomizedAblation(model, 45, n=300, precision=precision)
        expected = InferenceModel(model, precision)(
            encode(x.expand(300, -1, -1, -1), keeps, Encoding.MULTICHANNEL)).argmax(1)
        assert torch.equal(defense.mask_votes(x, keeps), expected)


def test_an_int8_defense_calibrates_on_noised_training_images() -> None:
    model = _model()
    train = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(7))
    keeps = sample_keep_masks(300, 784, 45, torch.Generator().manual_seed(8)).view(300, 28, 28)
    votes = [RandomizedAblation(model, 45, n=300, precision="int8",
                                calibration=train).mask_votes(x, keeps) for _ in range(2)]
    assert torch.equal(votes[0], votes[1])  # the calibration draw is fixed
    fp32 = RandomizedAblation(model, 45, n=300).mask_votes(x, keeps)
    assert (votes[0] == fp32).float().mean() > 0.8


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"),
                         [(True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")])
def test_default_precision_is_bf16_only_where_the_cpu_has_it(
        monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert native_bf16("cpu") is (expected == "bf16")
    assert fast_precision("cpu") == expected
