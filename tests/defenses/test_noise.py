"""The noise models behind smoothed defenses, and a smoothed defense composed from a noise model
and a certificate rule of its own (what a plugin defense with another noise does)."""

from __future__ import annotations

import math

import torch

from defenses.ablation import AblationNoise, LevineFeizi, ablation_rule
from defenses.base import Defense
from defenses.encodings import Encoding, encode
from defenses.lee import KEEP, LeeNoise
from defenses.oracles import Queries
from defenses.smoothing import SmoothedClassifier
from tests.conftest import ConstantModel


def test_ablation_noise_keeps_k_positions_and_encodes_the_rest() -> None:
    noise = AblationNoise(5)
    masks = noise.sample(7, (1, 4, 4), torch.Generator().manual_seed(0))
    assert masks.shape == (7, 4, 4) and masks.dtype == torch.bool
    assert masks.flatten(1).sum(1).tolist() == [5] * 7
    x = torch.rand(7, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(noise.apply(x, masks), encode(x, masks, Encoding.MULTICHANNEL))
    assert torch.equal(noise.reads(masks), masks.flatten(1))
    assert noise.input_channels(1) == 2
    assert AblationNoise(5, Encoding.MEAN_FILL).input_channels(3) == 3
    views = noise.display(x[:1], masks)
    assert views.shape == (7, 1, 4, 4) and int(views.isnan().sum()) == 7 * 11
    mean = AblationNoise(5, Encoding.MEAN_FILL, fill=0.25).display(x[:1], masks)
    assert not mean.isnan().any() and int((mean == 0.25).sum()) >= 7 * 11


def test_lee_noise_reads_the_positions_it_keeps() -> None:
    noise = LeeNoise(0.3)
    draws = noise.sample(5, (2, 3, 3), torch.Generator().manual_seed(0))
    assert draws.shape == (5, 2, 3, 3)
    assert torch.equal(noise.reads(draws), (draws == KEEP).any(dim=1).flatten(1))
    x = torch.rand(1, 2, 3, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(noise.display(x, draws), noise.apply(x.expand(5, -1, -1, -1), draws))
    assert noise.input_channels(2) == 2


class _Shift:
    """A toy noise model: add one of two constants to the whole image (reads every position)."""

    def sample(self, num: int, shape: tuple[int, int, int],
               generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, 2, (num,), generator=generator)

    def apply(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return (x + 0.1 * noise.to(x.device).view(-1, 1, 1, 1)).clamp(0, 1)

    def reads(self, noise: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(noise), 16, dtype=torch.bool)

    def input_channels(self, channels: int) -> int:
        return channels

    def display(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.apply(x.expand(len(noise), -1, -1, -1), noise)


class _Unanimous:
    """A toy certificate rule: radius 1 when every vote agrees, else nothing."""

    name = "unanimous"

    def bound_and_radius(self, counts: list[int], label: int, n: int, alpha: float,
                         shape: tuple[int, int, int]) -> tuple[float, int]:
        return (1.0, 1) if counts[label] == n else (0.0, -1)


def test_a_defense_composed_from_its_own_noise_and_rule() -> None:
    defense = SmoothedClassifier(ConstantModel(3), _Shift(), _Unanimous(), n0=10, n=50)
    assert isinstance(defense, Defense)
    x = torch.full((2, 1, 4, 4), 0.5)
    (cert, _) = defense.certify(x)
    assert (cert.label, cert.radius, cert.certificate) == (3, 1, "unanimous")
    assert defense.predict(x)[0].label == 3
    gen = torch.Generator().manual_seed(0)
    for policy in ("fresh", "fixed"):
        oracle = defense.oracle((1, 4, 4), 3, gen, Queries(policy))
        assert oracle(x[:1])[0].tolist()[3] == 50 and oracle.abstains


def test_ablation_rules_by_name() -> None:
    assert ablation_rule("levine-feizi", 45) == LevineFeizi(45)
    assert ablation_rule("pairwise", 45).name == "pairwise"
    p_lower, radius = LevineFeizi(45).bound_and_radius([9000, 1000], 0, 10000, 0.05, (1, 28, 28))
    assert radius == 8 and math.isclose(p_lower, 0.8949288834, abs_tol=1e-9)
