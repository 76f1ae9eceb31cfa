import torch

from attacks.oracles import FixedOracle, FreshOracle
from defenses.ablation import RandomizedAblation
from defenses.lee import LeeSmoothing
from defenses.masks import sample_keep_masks
from tests.conftest import KeptBrightnessModel, MeanBrightnessModel


def _defense() -> RandomizedAblation:
    return RandomizedAblation(KeptBrightnessModel(), k=8, n=300, batch_size=64)


def _full_counts(defense: RandomizedAblation, x: torch.Tensor, keeps: torch.Tensor) -> list[int]:
    votes = defense.mask_votes(x, keeps)
    return torch.bincount(votes, minlength=10).tolist()


def test_fixed_oracle_matches_a_full_evaluation_on_every_query() -> None:
    defense = _defense()
    gen = torch.Generator().manual_seed(1)
    keeps = sample_keep_masks(300, 64, 8, gen).view(300, 8, 8)
    oracle = FixedOracle(defense, keeps, cache=2)
    x = torch.rand(1, 1, 8, 8, generator=gen)
    queries = [x]
    for step in range(12):  # one-pixel steps, reverts, and a many-pixel jump
        q = queries[-1].clone() if step % 3 else x.clone()
        q[0, 0, step % 8, (3 * step) % 8] = float(step % 2)
        if step == 7:
            q = torch.rand(1, 1, 8, 8, generator=gen)
        queries.append(q)
    for q in queries:
        assert oracle(q)[0].long().tolist() == _full_counts(defense, q, keeps)
    assert oracle.queries == len(queries)


def test_fixed_oracle_reevaluates_only_touched_ablations() -> None:
    defense = _defense()
    keeps = sample_keep_masks(300, 64, 8, torch.Generator().manual_seed(2)).view(300, 8, 8)
    oracle = FixedOracle(defense, keeps)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    oracle(x)
    before = defense.forward_passes
    y = x.clone()
    y[0, 0, 2, 5] = 1.0 - y[0, 0, 2, 5]
    oracle(y)
    assert defense.forward_passes - before == int(keeps[:, 2, 5].sum())
    before = defense.forward_passes
    oracle(x)  # answered from the cache: no pixel differs
    assert defense.forward_passes == before


def test_fresh_oracle_draws_new_ablations_on_every_query() -> None:
    defense = _defense()
    oracle = FreshOracle(defense, 300, torch.Generator().manual_seed(4))
    x = torch.full((1, 1, 8, 8), 0.5)
    x[0, 0, :4] = 0.9  # half bright, half mid-grey: the votes vary with the masks
    x[0, 0, 4:] = 0.2
    first, second = oracle(x), oracle(x)
    assert first.sum() == second.sum() == 300
    assert not torch.equal(first, second)
    assert defense.forward_passes == 600


def test_fixed_oracle_is_exact_for_lee_noise() -> None:
    defense = LeeSmoothing(MeanBrightnessModel(0.45), 0.3, n=200, batch_size=64)
    gen = torch.Generator().manual_seed(5)
    noise = defense.sample_noise(200, (1, 8, 8), gen)
    oracle = FixedOracle(defense, noise)
    x = torch.rand(1, 1, 8, 8, generator=gen)
    queries = [x]
    for step in range(10):
        q = queries[-1].clone()
        q[0, 0, step % 8, (5 * step) % 8] = float(step % 2)
        queries.append(q)
    for q in queries:
        full = torch.bincount(defense.noise_votes(q, noise), minlength=10).tolist()
        assert oracle(q)[0].long().tolist() == full
    before = defense.forward_passes
    y = queries[-1].clone()
    y[0, 0, 7, 7] = 1.0 - y[0, 0, 7, 7]
    oracle(y)
    assert defense.forward_passes - before == int((noise[:, 0, 7, 7] == -1).sum())
