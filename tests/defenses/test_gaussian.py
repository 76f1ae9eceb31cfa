"""Gaussian smoothing (Cohen et al. 2019): the L2 radius sigma * PhiInverse(p_lower) against hand
values, the noise model, and CERTIFY / PREDICT of the smoothed classifier."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import norm

from bench.configs import CertifyConfig, GaussianConfig
from defenses.base import ABSTAIN, L2
from defenses.gaussian import GaussianNoise, GaussianSmoothing, L2Rule
from defenses.gaussian_math import l2_radius
from tests.conftest import ConstantModel, MeanBrightnessModel

# standard normal quantiles from a table: Phi^-1(0.75), (0.9), (0.99), (0.999)
Z75, Z90, Z99, Z999 = 0.6744897501960817, 1.2815515655446004, 2.3263478740408408, 3.090232306167813


@pytest.mark.parametrize(("p_lower", "sigma", "radius"), [
    (0.75, 1.0, Z75), (0.9, 0.25, 0.25 * Z90), (0.99, 0.25, 0.25 * Z99),
    (0.999, 0.5, 0.5 * Z999), (0.9, 1.0, Z90),
])
def test_radius_is_sigma_times_the_normal_quantile(p_lower: float, sigma: float,
                                                   radius: float) -> None:
    assert l2_radius(p_lower, sigma) == pytest.approx(radius, rel=1e-12)


def test_nothing_is_certified_at_or_below_one_half() -> None:
    assert l2_radius(0.5, 0.25) == -1.0 and l2_radius(0.1, 0.25) == -1.0
    assert l2_radius(0.5 + 1e-12, 0.25) == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="sigma"):
        l2_radius(0.9, 0.0)
    with pytest.raises(ValueError, match="p_lower"):
        l2_radius(1.5, 0.25)


def test_rule_bounds_the_votes_with_clopper_pearson() -> None:
    # all N votes for the class: p_lower = alpha^(1/N) = 0.001^(1/100) = 0.93325430...
    p_lower, radius = L2Rule(0.25).bound_and_radius([0, 100], 1, 100, 0.001, (1, 2, 2))
    assert p_lower == pytest.approx(0.001 ** (1 / 100), rel=1e-12)
    assert radius == pytest.approx(0.3751187560301591, rel=1e-9)
    # 10,000 of 10,000 at alpha 0.001, sigma 0.25: Cohen et al.'s largest MNIST-scale radius
    _, top = L2Rule(0.25).bound_and_radius([10000], 0, 10000, 0.001, (1, 28, 28))
    assert top == pytest.approx(0.7996443786845846, rel=1e-9)


def test_noise_is_isotropic_gaussian_added_unclipped() -> None:
    noise = GaussianNoise(0.5)
    draws = noise.sample(4000, (3, 4, 5), torch.Generator().manual_seed(0))
    assert draws.shape == (4000, 3, 4, 5) and draws.dtype == torch.float32
    assert abs(float(draws.mean())) < 0.01 and float(draws.std()) == pytest.approx(0.5, rel=0.01)
    again = noise.sample(4000, (3, 4, 5), torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)
    x = torch.full((2, 3, 4, 5), 0.9)
    noised = noise.apply(x, draws[:2])
    assert torch.equal(noised, x + draws[:2]) and float(noised.max()) > 1.0
    assert noise.reads(draws[:3]).shape == (3, 20) and bool(noise.reads(draws[:3]).all())
    assert noise.input_channels(3) == 3
    shown = noise.display(x[:1], draws[:2])
    assert float(shown.min()) >= 0.0 and float(shown.max()) <= 1.0


def test_certify_and_predict_of_a_constant_classifier() -> None:
    defense = GaussianSmoothing(ConstantModel(3), 0.25, n0=10, n=100, alpha=0.001)
    assert defense.threat_model == L2 and defense.samples == 100
    x = torch.rand(2, 1, 6, 6)
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    for cert in defense.certify(x, gens):
        assert cert.label == 3 and cert.certificate == "cohen-l2"
        assert cert.radius == pytest.approx(0.3751187560301591, rel=1e-9)
    assert [p.label for p in defense.predict(x)] == [3, 3]


def test_a_boundary_image_abstains_cohen_style() -> None:
    # brightness exactly at the threshold: the noise splits the votes about evenly
    model = MeanBrightnessModel(0.5)
    defense = GaussianSmoothing(model, 0.25, n0=20, n=200, alpha=0.001, abstain=True,
                                num_classes=2)
    cert = defense.certify(torch.full((1, 1, 4, 4), 0.5), [torch.Generator().manual_seed(0)])[0]
    assert cert.label == ABSTAIN and cert.radius == 0
    paper = GaussianSmoothing(model, 0.25, n0=20, n=200, alpha=0.001, num_classes=2)
    kept = paper.certify(torch.full((1, 1, 4, 4), 0.5), [torch.Generator().manual_seed(0)])[0]
    assert kept.label in (0, 1) and kept.radius == 0 and kept.p_lower <= 0.5


def test_a_far_image_gets_the_expected_radius() -> None:
    # mean brightness 0.9 vs threshold 0.5 on 16 pixels: the noised mean is N(0.9, (sigma/4)^2),
    # so the base classifier is right with probability Phi(0.4 * 4 / 0.25) ~ 1; the true
    # smoothed radius is the L2 distance to the boundary, 0.4 * sqrt(16) = 1.6
    model = MeanBrightnessModel(0.5)
    defense = GaussianSmoothing(model, 0.25, n0=20, n=1000, alpha=0.001, num_classes=2)
    cert = defense.certify(torch.full((1, 1, 4, 4), 0.9), [torch.Generator().manual_seed(0)])[0]
    assert cert.label == 0 and 0 < cert.radius < 1.6
    # all 1,000 votes: capped by N, 0.25 * PhiInverse(0.001^(1/1000))
    assert cert.radius == pytest.approx(0.25 * norm.ppf(0.001 ** (1 / 1000)), rel=1e-9)


def test_config_builds_the_defense() -> None:
    config = GaussianConfig(name="gaussian-sigma0.5", sigma=0.5)
    assert config.threat_model == L2 and config.input_channels == 1
    defense = config.build(ConstantModel(1), CertifyConfig(n0=5, n=20, alpha=0.01))
    assert isinstance(defense, GaussianSmoothing) and defense.sigma == 0.5
    assert isinstance(defense.rule, L2Rule) and math.isclose(defense.rule.sigma, 0.5)
    with pytest.raises(ValueError, match="sigma"):
        GaussianConfig(name="gaussian-sigma0", sigma=0.0)
