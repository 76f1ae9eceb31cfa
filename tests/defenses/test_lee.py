"""Lee et al. random-value smoothing: the noise law, and certificates that match the pure module."""

from __future__ import annotations

import pytest
import torch

from defenses.base import Defense
from defenses.lee import KEEP, LeeSmoothing, apply_lee_noise, sample_lee_noise
from defenses.lee_math import lee_l0_radius
from defenses.stats import clopper_pearson_lower
from tests.conftest import ConstantModel, MeanBrightnessModel


def _image(channels: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    levels = torch.randint(0, 256, (1, channels, 28, 28), generator=gen)
    return levels.float() / 255


@pytest.mark.parametrize("kappa", [0.1, 0.3, 0.9])
def test_a_value_is_unchanged_with_probability_kappa(kappa: float) -> None:
    x = _image()
    noise = sample_lee_noise(400, (1, 28, 28), kappa, 256, torch.Generator().manual_seed(1))
    noised = apply_lee_noise(x.expand(400, -1, -1, -1), noise, 256)
    unchanged = (noised == x).float().mean().item()
    assert abs(unchanged - kappa) < 0.004  # 313,600 draws: sd below 0.001


def test_other_values_are_uniform() -> None:
    kappa, beta = 0.2, 0.8 / 255
    x = torch.zeros(1, 1, 28, 28)
    noise = sample_lee_noise(2000, (1, 28, 28), kappa, 256, torch.Generator().manual_seed(2))
    levels = torch.round(apply_lee_noise(x.expand(2000, -1, -1, -1), noise, 256) * 255).long()
    freq = torch.bincount(levels.flatten(), minlength=256).double() / levels.numel()
    assert abs(freq[0].item() - kappa) < 0.002
    assert freq[1:].min().item() > 0.8 * beta and freq[1:].max().item() < 1.2 * beta


def test_noise_encoding_and_determinism() -> None:
    noise = sample_lee_noise(5, (3, 4, 4), 0.5, 256, torch.Generator().manual_seed(3))
    again = sample_lee_noise(5, (3, 4, 4), 0.5, 256, torch.Generator().manual_seed(3))
    assert noise.dtype == torch.int16 and noise.shape == (5, 3, 4, 4)
    assert torch.equal(noise, again)
    assert int(noise.min()) >= KEEP and int(noise.max()) <= 255
    x = torch.full((5, 3, 4, 4), 0.25)
    out = apply_lee_noise(x, noise, 256)
    assert torch.equal(out[noise == KEEP], x[noise == KEEP])
    assert torch.allclose(out[noise != KEEP], noise[noise != KEEP].float() / 255)


def test_is_a_defense_and_certifies_like_the_pure_module() -> None:
    defense = LeeSmoothing(ConstantModel(4), 0.1, n0=10, n=1000)
    assert isinstance(defense, Defense)
    cert = defense.certify(_image())[0]
    p = clopper_pearson_lower(1000, 1000, 0.05)
    assert (cert.label, cert.certificate) == (4, "lee")
    assert cert.p_lower == pytest.approx(p)
    assert cert.radius == lee_l0_radius(p, 0.1, max_radius=784)


def test_colour_radius_counts_pixel_positions() -> None:
    grey = LeeSmoothing(ConstantModel(4), 0.1, n0=10, n=1000).certify(_image(1))[0].radius
    colour = LeeSmoothing(ConstantModel(4), 0.1, n0=10, n=1000).certify(_image(3))[0].radius
    assert colour == grey // 3


def test_reads_marks_positions_with_a_kept_channel() -> None:
    defense = LeeSmoothing(ConstantModel(0), 0.3)
    noise = torch.full((2, 3, 2, 2), 7, dtype=torch.int16)
    noise[0, 2, 1, 0] = KEEP
    reads = defense.reads(noise)
    assert reads.shape == (2, 4)
    assert reads[0].tolist() == [False, False, True, False] and not reads[1].any()


def test_votes_follow_the_image() -> None:
    bright, dark = torch.ones(1, 1, 28, 28), torch.zeros(1, 1, 28, 28)
    defense = LeeSmoothing(MeanBrightnessModel(0.5), 0.9, n=200)
    assert defense.predict(bright)[0].label == 0
    assert defense.predict(dark)[0].label == 1


@pytest.mark.parametrize("kappa", [1 / 256, 0.0, 1.5])
def test_impossible_kappa(kappa: float) -> None:
    with pytest.raises(ValueError, match="kappa"):
        LeeSmoothing(ConstantModel(0), kappa)
