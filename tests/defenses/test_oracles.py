import pytest
import torch

from defenses.ablation import RandomizedAblation
from defenses.decisions import attack_succeeds
from defenses.lee import LeeSmoothing
from defenses.masks import sample_keep_masks
from defenses.oracles import EarlyStop, FixedOracle, FreshOracle
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


def _walk(x: torch.Tensor, steps: int, seed: int) -> list[torch.Tensor]:
    """Pointwise-like queries: one-pixel changes of a moving point, with reverts and jumps."""
    gen = torch.Generator().manual_seed(seed)
    queries, current = [x], x
    for step in range(steps):
        q = current.clone()
        i, j = torch.randint(0, 8, (2,), generator=gen).tolist()
        q[0, 0, i, j] = float(torch.rand(1, generator=gen)) if step % 5 else 1.0 - q[0, 0, i, j]
        queries.append(q)
        if step % 2 == 0:  # accept every other step, as Pointwise accepts some and rejects some
            current = q
        if step == 20:
            current = torch.rand(1, 1, 8, 8, generator=gen)
    return queries


def test_early_stopping_fixed_oracle_gives_the_full_evaluations_decision() -> None:
    defense = _defense()
    keeps = sample_keep_masks(300, 64, 8, torch.Generator().manual_seed(6)).view(300, 8, 8)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    stopped = FixedOracle(defense, keeps, stop=EarlyStop(0, 0.05, chunk=16))
    outcomes = []
    for q in _walk(x, 60, 8):
        full = _full_counts(defense, q, keeps)
        before = defense.forward_passes
        counts = stopped(q)[0].long().tolist()
        assert sum(counts) == 300
        assert attack_succeeds(counts, 0, 0.05) == attack_succeeds(full, 0, 0.05)
        outcomes.append((attack_succeeds(full, 0, 0.05), defense.forward_passes - before))
    assert {o for o, _ in outcomes} == {True, False}  # both decisions occur
    plain = FixedOracle(_defense(), keeps)
    plain_passes = 0
    for q in _walk(x, 60, 8):
        before = plain.defense.forward_passes
        plain(q)
        plain_passes += plain.defense.forward_passes - before
    assert sum(p for _, p in outcomes) < plain_passes


def test_early_stopping_fresh_oracle_draws_the_same_ablations_and_decides_the_same() -> None:
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(9))
    plain = FreshOracle(_defense(), 300, torch.Generator().manual_seed(10))
    stopped = FreshOracle(_defense(), 300, torch.Generator().manual_seed(10),
                          EarlyStop(0, 0.05, chunk=32))
    for q in _walk(x, 30, 11):
        a, b = plain(q)[0].long().tolist(), stopped(q)[0].long().tolist()
        assert attack_succeeds(a, 0, 0.05) == attack_succeeds(b, 0, 0.05)
    assert stopped.defense.forward_passes < plain.defense.forward_passes
    assert torch.equal(torch.rand(3, generator=plain.generator),
                       torch.rand(3, generator=stopped.generator))


def test_early_stop_needs_a_positive_chunk() -> None:
    with pytest.raises(ValueError, match="chunk"):
        EarlyStop(0, 0.05, chunk=0)


def test_fixed_oracle_reuses_votes_draw_by_draw_across_references() -> None:
    defense = _defense()
    keeps = sample_keep_masks(300, 64, 8, torch.Generator().manual_seed(12)).view(300, 8, 8)
    oracle = FixedOracle(defense, keeps)
    x = torch.full((1, 1, 8, 8), 0.3)
    y = x.clone()
    y[0, 0, 1, 1] = 1.0  # pixel a
    z = y.clone()
    z[0, 0, 6, 2] = 1.0  # pixel b
    w = x.clone()
    w[0, 0, 6, 2] = 1.0  # b without a: z agrees with it wherever a draw does not read a
    for q in (x, y, z):
        oracle(q)
    full = _full_counts(defense, w, keeps)
    before = defense.forward_passes
    assert oracle(w)[0].long().tolist() == full
    both = int((keeps[:, 1, 1] & keeps[:, 6, 2]).sum())
    assert defense.forward_passes - before == both < int(keeps[:, 6, 2].sum())


def _retry_walk(x: torch.Tensor, pixels: int, passes: int) -> list[torch.Tensor]:
    """Pointwise-like passes: each pass tries every one of ``pixels`` pixels at the same two
    values, one query each, from a point that does not move (every try rejected)."""
    queries = []
    for _ in range(passes):
        for p in range(pixels):
            for value in (0.0, 0.5):
                q = x.clone()
                q[0, 0, p // 8, p % 8] = value
                queries.append(q)
    return queries


def test_memo_answers_retried_steps_without_forward_passes_and_exactly() -> None:
    keeps = sample_keep_masks(300, 64, 8, torch.Generator().manual_seed(13)).view(300, 8, 8)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(14))
    queries = _retry_walk(x, 20, 3)  # 40 queries per pass: far beyond the 4 references
    passes = {}
    for memo in (0, 100_000):
        defense = _defense()
        oracle = FixedOracle(defense, keeps, memo=memo)
        oracle(x)
        per_pass = []
        for start in range(0, len(queries), 40):
            before = defense.forward_passes
            for q in queries[start : start + 40]:
                assert oracle(q)[0].long().tolist() == _full_counts(_defense(), q, keeps)
            per_pass.append(defense.forward_passes - before)
        passes[memo] = per_pass
    assert min(passes[0]) > 0.9 * max(passes[0])  # without the memo every pass costs alike
    assert passes[100_000][0] <= passes[0][0]
    # with it, a retried step costs nothing, except for the few ablations that read two of the
    # last pixels tried and so were only ever evaluated at the start point (a many-pixel query,
    # which the memo skips); the third pass finds them in the memo too
    assert passes[100_000][1] < passes[0][1] / 20
    assert passes[100_000][2] == 0


def test_memo_starts_over_when_full_and_stays_exact() -> None:
    keeps = sample_keep_masks(300, 64, 8, torch.Generator().manual_seed(15)).view(300, 8, 8)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(16))
    defense = _defense()
    oracle = FixedOracle(defense, keeps, memo=100)
    for q in _retry_walk(x, 20, 2) + _walk(x, 40, 17):
        assert oracle(q)[0].long().tolist() == _full_counts(_defense(), q, keeps)
    assert oracle._memo is not None and len(oracle._memo.table) <= 100


def test_memo_is_off_for_noise_that_reads_every_position() -> None:
    defense = LeeSmoothing(MeanBrightnessModel(0.45), 0.3, n=50, batch_size=64)
    noise = defense.sample_noise(50, (1, 8, 8), torch.Generator().manual_seed(18))
    assert FixedOracle(defense, noise)._memo is None
    with pytest.raises(ValueError, match="memo"):
        FixedOracle(_defense(), torch.ones(3, 8, 8, dtype=torch.bool), memo=-1)


def test_start_stand_in_is_the_same_oracle_on_the_first_draws() -> None:
    defense = _defense()
    keeps = sample_keep_masks(300, 64, 8, torch.Generator().manual_seed(11)).view(300, 8, 8)
    oracle = FixedOracle(defense, keeps, stop=EarlyStop(0, 0.05), start_samples=100)
    stand_in = oracle.start
    assert isinstance(stand_in, FixedOracle) and stand_in.start is None
    assert torch.equal(stand_in.noise, keeps[:100])
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(12))
    for q in _walk(x, 30, 13):
        full = _full_counts(defense, q, keeps[:100])
        counts = stand_in(q)[0].long().tolist()
        assert sum(counts) == 100
        assert attack_succeeds(counts, 0, 0.05) == attack_succeeds(full, 0, 0.05)
    assert stand_in.queries == 31 and oracle.queries == 0  # separate oracles, separate counts
    for samples in (0, 300, 500):  # none, or not fewer than all the draws: no stand-in
        assert FixedOracle(defense, keeps, start_samples=samples).start is None
    with pytest.raises(ValueError, match="start_samples"):
        FixedOracle(defense, keeps, start_samples=-1)
