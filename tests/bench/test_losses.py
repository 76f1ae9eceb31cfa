"""smoothing_loss against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F  # noqa: N812

from bench.losses import smoothing_loss, split_votes


def test_one_copy_without_regulariser_is_cross_entropy() -> None:
    logits, labels = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]]), torch.tensor([0, 1])
    assert torch.allclose(smoothing_loss(logits, labels, 1), F.cross_entropy(logits, labels))


def test_two_copies_hand_computed() -> None:
    # one image, two ablations: softmax (1/2, 1/2) and (3/4, 1/4); mean (5/8, 3/8); label 0
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    labels = torch.tensor([0])
    ce = (-math.log(0.5) - math.log(0.75)) / 2
    kl1 = 0.625 * math.log(0.625 / 0.5) + 0.375 * math.log(0.375 / 0.5)
    kl2 = 0.625 * math.log(0.625 / 0.75) + 0.375 * math.log(0.375 / 0.25)
    ent = -(0.625 * math.log(0.625) + 0.375 * math.log(0.375))
    got = smoothing_loss(logits, labels, 2, consistency=10.0, entropy=0.5)
    assert float(got) == pytest.approx(ce + 10.0 * (kl1 + kl2) / 2 + 0.5 * ent, rel=1e-6)


def test_identical_copies_have_no_consistency_penalty() -> None:
    row = torch.tensor([[1.0, -2.0, 0.3]])
    logits, labels = row.repeat(3, 1), torch.tensor([2])
    plain = smoothing_loss(logits, labels, 3)
    assert torch.allclose(smoothing_loss(logits, labels, 3, consistency=7.0), plain)


def test_rows_are_copy_major() -> None:
    # image 0 copies agree, image 1 copies disagree: only image 1 contributes to the KL term
    logits = torch.tensor([[5.0, 0.0], [0.0, 0.0], [5.0, 0.0], [4.0, 0.0]])
    labels = torch.tensor([0, 0])
    reg = smoothing_loss(logits, labels, 2, consistency=1.0) - smoothing_loss(logits, labels, 2)
    p = [1 / (1 + math.exp(-4.0)), 0.5]  # image 1: copy 0 -> 0.5, copy 1 -> sigmoid(4)
    m = sum(p) / 2
    kl = sum(m * math.log(m / q) + (1 - m) * math.log((1 - m) / (1 - q)) for q in p) / 2
    assert float(reg) == pytest.approx(kl / 2, rel=1e-5)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="copies"):
        smoothing_loss(torch.zeros(3, 2), torch.tensor([0, 1]), 2)


def test_each_voter_gets_the_gradient_of_its_own_loss() -> None:
    """V votes per input (a partition's submodels): the summed loss ``smoothing_loss * V`` gives
    each voter's logits the gradient of that voter's own mean cross-entropy."""
    torch.manual_seed(0)
    logits = torch.randn(6, 3, 10, requires_grad=True)  # 6 inputs, 3 voters
    labels = torch.randint(0, 10, (6,))
    flat, targets, votes = split_votes(logits, labels)
    assert flat.shape == (18, 10) and votes == 3
    assert torch.equal(targets, labels.repeat_interleave(3))
    (smoothing_loss(flat, targets, 1) * votes).backward()  # type: ignore[no-untyped-call]
    for v in range(3):
        own = logits[:, v].detach().requires_grad_(True)
        F.cross_entropy(own, labels).backward()  # type: ignore[no-untyped-call]
        assert own.grad is not None and logits.grad is not None
        torch.testing.assert_close(logits.grad[:, v], own.grad)
    plain, few = torch.randn(4, 10), labels[:4]
    same, same_labels, one = split_votes(plain, few)
    assert same is plain and same_labels is few and one == 1
