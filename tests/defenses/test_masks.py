from __future__ import annotations

from collections import Counter

import pytest
import torch

from defenses.masks import sample_keep_masks


def test_rows_keep_exactly_k() -> None:
    masks = sample_keep_masks(2000, 784, 45, torch.Generator().manual_seed(1))
    assert masks.shape == (2000, 784)
    assert bool((masks.sum(1) == 45).all())


def test_uniform_over_subsets() -> None:
    # d=5, k=2: all C(5,2) = 10 subsets with frequency 0.1; each position kept w.p. 2/5
    masks = sample_keep_masks(100_000, 5, 2, torch.Generator().manual_seed(0))
    subsets = Counter(tuple(row) for row in masks.nonzero()[:, 1].view(-1, 2).tolist())
    assert len(subsets) == 10
    for count in subsets.values():
        assert abs(count / 100_000 - 0.1) < 0.005  # sd = sqrt(0.1*0.9/1e5) ~ 0.00095
    assert torch.allclose(masks.float().mean(0), torch.full((5,), 0.4), atol=0.005)


def test_same_generator_state_same_masks() -> None:
    a = sample_keep_masks(10, 784, 45, torch.Generator().manual_seed(7))
    b = sample_keep_masks(10, 784, 45, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_k_equal_d_keeps_everything() -> None:
    assert bool(sample_keep_masks(3, 6, 6, torch.Generator()).all())


@pytest.mark.parametrize("k", [0, 7])
def test_rejects_impossible_k(k: int) -> None:
    with pytest.raises(ValueError):
        sample_keep_masks(3, 6, k, torch.Generator())
