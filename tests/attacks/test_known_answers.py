"""Known answers: toy classifiers whose minimal L0 adversarial is known exactly, on which every
attack must find it, and a randomized toy defense whose surrogate is fooled where the defense is
not."""

import math

import pytest
import torch
from torch import nn

from attacks.base import Attack
from attacks.budget import project_l0_box, smallest_budget
from attacks.foolbox_l0 import FMNL0, BrendelBethgeL0
from attacks.l0 import pixel_l0
from attacks.objectives import margin
from attacks.pgd0 import PGD0
from attacks.pointwise import Pointwise, PointwiseConfig
from attacks.sigma_zero import SigmaZero, SigmaZeroConfig
from attacks.sparse_rs import SparseRS, SparseRSConfig, swap_fraction
from bench.attacking import attack_one
from bench.ensemble import Ensemble, EnsembleConfig
from defenses.ablation import RandomizedAblation
from defenses.undefended import Undefended

SIDE = 6
WATCHED = (0, 7, 14, 21, 28, 35)  # the diagonal of a 6 x 6 image


WEIGHTS = (1.0, 1.05, 1.1, 1.15, 1.2, 1.25)  # unequal: a symmetric toy ties gradient attacks


class CountModel(nn.Module):
    """Class 1 iff the weighted sum of the watched pixels (0 in the clean image; weights 1 to
    1.25) exceeds m - 1/2. Any m watched pixels set to 1 are enough (the sum is at least m), and
    m - 1 are not (at most 1.25 + 1.2 = 2.45 < 2.5 for m = 3; 0 < 0.5 for m = 1): the minimal L0
    adversarial changes exactly m pixels, all watched."""

    def __init__(self, m: int) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.tensor(WEIGHTS, dtype=x.dtype)
        s = (x[:, 0].flatten(1)[:, list(WATCHED)] * weights).sum(dim=1)
        return torch.stack([torch.full_like(s, self.m - 0.5), s], dim=1) * 4.0


def _clean() -> torch.Tensor:
    x = torch.linspace(0.2, 0.9, SIDE * SIDE).view(1, 1, SIDE, SIDE)
    x.view(-1)[list(WATCHED)] = 0.0
    return x


ATTACKS: list[tuple[str, Attack]] = [
    ("sigma-zero", SigmaZero(SigmaZeroConfig(steps=300))),
    ("fmn-l0", FMNL0()),
    ("bb-l0", BrendelBethgeL0()),
    ("pgd0", PGD0()),
    ("sparse-rs", SparseRS(SparseRSConfig(queries=500))),
    ("pointwise", Pointwise(PointwiseConfig(restarts=2, init_steps=50))),
]


@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize(("name", "attack"), ATTACKS, ids=[n for n, _ in ATTACKS])
def test_each_attack_finds_the_known_minimal_l0(name: str, attack: Attack, m: int) -> None:
    defense = Undefended(CountModel(m))
    x = _clean()
    clean, result = attack_one(defense, attack, "fresh", 0, 0, x, 0)
    assert clean == 0 and result is not None
    best = result.restarts[result.best_confirmed]  # type: ignore[index]
    assert best.l0 == m and best.confirmed
    assert best.x_adv is not None
    changed = (best.x_adv != x).flatten().nonzero().flatten().tolist()
    assert set(changed) <= set(WATCHED)
    # a separate forward pass agrees
    assert int(CountModel(m)(best.x_adv).argmax()) == 1


def test_the_ensemble_keeps_the_smallest_and_names_its_finder() -> None:
    defense = Undefended(CountModel(3))
    members = [SparseRS(SparseRSConfig(queries=300)), SigmaZero(SigmaZeroConfig(steps=200))]
    ensemble = Ensemble(EnsembleConfig(attacks="sparse-rs,sigma-zero"), members)
    _, result = attack_one(defense, ensemble, "fresh", 0, 0, _clean(), 0)
    assert result is not None
    assert [r.attack for r in result.restarts] == ["sparse-rs", "sigma-zero"]
    assert result.best_confirmed_l0 == 3
    # the fixed-budget attack came first and found the minimum; sigma-zero runs but cannot beat it
    winner = result.restarts[result.best_confirmed]  # type: ignore[index]
    assert winner.attack == "sparse-rs"


def test_an_ensemble_member_searches_only_below_the_best_so_far() -> None:
    # sigma-zero first finds 3; Sparse-RS may then only try budgets below 3: its search starts
    # at the largest, 2, and fails (nothing below 3 exists)
    defense = Undefended(CountModel(3))
    members = [SigmaZero(SigmaZeroConfig(steps=200)), SparseRS(SparseRSConfig(queries=200))]
    ensemble = Ensemble(EnsembleConfig(attacks="sigma-zero,sparse-rs"), members)
    _, result = attack_one(defense, ensemble, "fresh", 0, 0, _clean(), 0)
    assert result is not None
    assert result.restarts[0].l0 == 3
    assert math.isinf(result.restarts[1].l0)
    assert result.restarts[1].queries == 200  # one attempt, budget 2


def test_ensemble_config_rejects_bad_member_lists() -> None:
    for attacks in ("", "pointwise,pointwise", "ensemble"):
        with pytest.raises(ValueError):
            EnsembleConfig(attacks=attacks)
    with pytest.raises(ValueError, match="restarts"):
        EnsembleConfig(restarts=3)
    with pytest.raises(ValueError, match="do not match"):
        Ensemble(EnsembleConfig(attacks="pgd0"), [SparseRS()])


class KeptSumModel(nn.Module):
    """For multichannel ablations: class 1 iff the kept pixels' values sum to more than 1/2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x[:, 0].flatten(1).sum(dim=1)
        return torch.stack([0.5 - s, s - 0.5], dim=1) * 10.0


def test_a_surrogate_success_the_defense_does_not_confirm_is_recorded_as_such() -> None:
    # ablation keeping 1 of 64 pixels: a one-draw surrogate keeps one pixel, and setting it to 1
    # fools that draw; N = 200 fresh draws keep that pixel about 3 times, so the smoothed
    # classifier still answers 0 and the re-check refuses the adversarial
    defense = RandomizedAblation(KeptSumModel(), 1, n0=20, n=200, alpha=0.05, num_classes=2)
    x = torch.zeros(1, 1, 8, 8)
    attack = SigmaZero(SigmaZeroConfig(steps=100, eot_samples=1, holdout_samples=0))
    clean, result = attack_one(defense, attack, "fresh", 0, 0, x, 0)
    assert clean == 0 and result is not None
    restart = result.restarts[0]
    assert restart.l0 == 1  # what the surrogate calls adversarial
    assert restart.confirmed is False  # what the defense says
    assert result.best_l0 == 1 and math.isinf(result.best_confirmed_l0)
    assert result.best_confirmed is None
    # the held-out votes (the default: 500 other draws) refuse that point before the re-check
    held_out = SigmaZero(SigmaZeroConfig(steps=100, eot_samples=1))
    _, result = attack_one(defense, held_out, "fresh", 0, 0, x, 0)
    assert result is not None and math.isinf(result.restarts[0].l0)


def test_sparse_rs_scores_a_smoothed_defense_by_votes_over_fixed_draws() -> None:
    # the same toy with k = 64 (every pixel kept): votes agree with the base classifier, so the
    # score-based search finds the single pixel needed and the defense confirms it
    defense = RandomizedAblation(KeptSumModel(), 64, n0=20, n=100, alpha=0.05, num_classes=2)
    x = torch.zeros(1, 1, 8, 8)
    clean, result = attack_one(defense, SparseRS(SparseRSConfig(score_samples=20)), "fresh", 0,
                               0, x, 0)
    assert clean == 0 and result is not None
    assert result.best_confirmed_l0 == 1


def test_smallest_budget_doubles_then_bisects_to_the_threshold() -> None:
    x = torch.zeros(1, 1, 4, 4)
    tried: list[int] = []

    def attempt(k: int) -> torch.Tensor | None:
        tried.append(k)
        if k < 5:
            return None
        out = x.clone()
        out.view(-1)[:k] = 1.0
        return out

    found = smallest_budget(attempt, x, first=1)
    assert found is not None and int(pixel_l0(x, found)[0]) == 5
    assert tried == [1, 2, 4, 8, 6, 5]
    tried.clear()
    assert smallest_budget(attempt, x, first=1, below=5) is None  # only budgets 1..4
    assert tried == [1, 2, 4]
    assert smallest_budget(attempt, x, first=3, below=1) is None


def test_project_l0_box_keeps_the_k_positions_that_lose_most_and_clips() -> None:
    x = torch.tensor([[[[0.5, 0.0], [1.0, 0.2]]]])
    delta = torch.tensor([[[[0.3, -0.9], [0.8, 0.6]]]])
    # clipped: 0.3, 0.0 (x = 0 cannot go lower), 0.0 (x = 1 cannot go higher), 0.6
    out = project_l0_box(delta, x, 1)
    assert out.flatten().tolist() == pytest.approx([0.0, 0.0, 0.0, 0.6])
    out = project_l0_box(delta, x, 2)
    assert out.flatten().tolist() == pytest.approx([0.3, 0.0, 0.0, 0.6])
    assert bool(((x + project_l0_box(delta, x, 4)) <= 1).all())


def test_margin_and_the_swap_schedule() -> None:
    scores = torch.tensor([[3.0, 1.0, 2.5], [0.0, 4.0, 1.0]])
    assert margin(scores, 0).tolist() == pytest.approx([0.5, -4.0])
    assert swap_fraction(0, 1000, 0.3) == pytest.approx(0.3)
    assert swap_fraction(2, 1000, 0.3) == pytest.approx(0.15)
    assert swap_fraction(900, 1000, 0.3) == pytest.approx(0.015)
