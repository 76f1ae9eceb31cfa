"""The L2 threat model's attacks: sizes as L2 norms, the line search that settles a point, and
known answers (a linear classifier's nearest adversarial is at distance margin / ||w||), on a
plain classifier and through a Gaussian-smoothed one."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from attacks.base import Attack
from attacks.foolbox_l2 import DDN, FMNL2, BrendelBethgeL2, L2Config
from attacks.l0 import l2_norm, perturbation_size, pixel_l0
from attacks.line_search import shortest_on_ray
from bench.attacking import attack_one
from defenses.base import L0_PIXELS, L2
from defenses.gaussian import GaussianSmoothing
from defenses.undefended import Undefended


def test_sizes_in_each_threat_model() -> None:
    x = torch.zeros(2, 3, 2, 2)
    x_adv = x.clone()
    x_adv[0, :, 0, 0] = torch.tensor([0.375, 0.5, 0.0])  # one position, L2 0.625
    x_adv[1, 0, 1, 1], x_adv[1, 2, 0, 1] = 1.0, 1.0  # two positions, L2 sqrt(2)
    assert pixel_l0(x, x_adv).tolist() == [1, 2]
    assert l2_norm(x, x_adv).tolist() == pytest.approx([0.625, math.sqrt(2)], rel=1e-12)
    assert perturbation_size(L2, x, x_adv).tolist() == pytest.approx([0.625, math.sqrt(2)])
    assert perturbation_size(L0_PIXELS, x, x_adv).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="threat model"):
        perturbation_size("linf", x, x_adv)


def _brighter_than(level: float) -> Callable[[torch.Tensor], bool]:
    return lambda x: bool(x.mean() > level)


def test_line_search_shrinks_an_overshoot_to_the_boundary() -> None:
    x = torch.full((1, 1, 4, 4), 0.2)
    far = torch.full((1, 1, 4, 4), 1.0)
    point, queries = shortest_on_ray(_brighter_than(0.6), x, far, steps=20)
    assert point is not None and float(point.mean()) == pytest.approx(0.6, abs=1e-5)
    assert float(point.mean()) > 0.6 and queries == 21


def test_line_search_walks_outwards_when_short_and_gives_up_beyond_its_reach() -> None:
    x = torch.full((1, 1, 4, 4), 0.2)
    short = torch.full((1, 1, 4, 4), 0.4)  # mean 0.4: not yet brighter than 0.6
    point, _ = shortest_on_ray(_brighter_than(0.6), x, short, steps=20)
    assert point is not None and float(point.mean()) == pytest.approx(0.6, abs=1e-5)
    # at most twice as far (a mean of 0.6), 0.7 is out of reach; the ray is clipped to [0, 1]
    assert shortest_on_ray(_brighter_than(0.7), x, short, max_scale=2.0)[0] is None
    far, _ = shortest_on_ray(_brighter_than(0.999), x, short, max_scale=10.0)
    assert far is not None and float(far.max()) <= 1.0
    assert shortest_on_ray(_brighter_than(0.6), x, x.clone()) == (None, 0)


class Linear(nn.Module):
    """Two classes: logit 1 minus logit 0 = w . x - b; class 0 on the clean image."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.flatten(1) * self.w).sum(dim=1) - self.b
        return torch.stack([torch.zeros_like(score), score], dim=1)


def _linear_case() -> tuple[Linear, torch.Tensor, float]:
    """A linear classifier, an image 0.5 everywhere and the exact distance to its boundary."""
    w = torch.linspace(-1.0, 2.0, 16)
    x = torch.full((1, 1, 4, 4), 0.5)
    b = float((x.flatten() * w).sum()) + 0.6  # margin 0.6 on the clean image
    # the nearest point of {w.x = b} is x + 0.6 w / ||w||^2, inside [0, 1] here
    distance = 0.6 / float(w.norm())
    assert float((0.6 * w / w.norm() ** 2).abs().max()) < 0.5
    return Linear(w, b), x, distance


L2_ATTACKS: list[tuple[str, Attack]] = [
    ("fmn-l2", FMNL2(L2Config(steps=100))),
    ("ddn", DDN(L2Config(steps=100))),
    ("bb-l2", BrendelBethgeL2()),
]


@pytest.mark.parametrize(("name", "attack"), L2_ATTACKS, ids=[n for n, _ in L2_ATTACKS])
def test_each_l2_attack_finds_the_nearest_adversarial_of_a_linear_classifier(
        name: str, attack: Attack) -> None:
    model, x, distance = _linear_case()
    clean, result = attack_one(Undefended(model, num_classes=2), attack, "fresh", 0, 0, x, 0)
    assert clean == 0 and result is not None and attack.threat_model == L2
    best = result.restarts[result.best_confirmed]  # type: ignore[index]
    assert best.confirmed and best.x_adv is not None
    assert distance <= best.l0 <= distance * 1.01
    assert best.l0 == pytest.approx(float(l2_norm(x, best.x_adv)[0]), rel=1e-9)
    assert int(model(best.x_adv).argmax()) == 1


def test_fmn_l2_through_gaussian_smoothing_is_confirmed_with_fresh_noise() -> None:
    # smoothing a linear classifier leaves its boundary where it was (the noise is symmetric):
    # the smoothed classifier's nearest adversarial is at the same distance, and a point that
    # fresh votes confirm lies beyond it
    model, x, distance = _linear_case()
    defense = GaussianSmoothing(model, 0.25, n0=10, n=500, alpha=0.001, num_classes=2)
    attack = FMNL2(L2Config(steps=100, holdout_samples=300, holdout_lead=0.1))
    clean, result = attack_one(defense, attack, "fixed", 0, 0, x, 0)
    assert clean == 0 and result is not None
    best = result.restarts[result.best_confirmed]  # type: ignore[index]
    assert best.confirmed and best.x_adv is not None
    assert distance < best.l0 < distance * 2.0
