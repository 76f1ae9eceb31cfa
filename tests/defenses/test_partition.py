"""The partition defenses: the random partition, what each group's vote reads, PREDICT and
CERTIFY, the exact radius checked by brute force on a tiny defense, and the surrogate."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from torch import nn

from defenses.encodings import Encoding, encode
from defenses.models import group_mlp
from defenses.partition import (
    GroupSubmodels,
    PartitionVote,
    SharedBase,
    group_masks,
    partition,
    random_partition,
    strided_partition,
)


def test_random_partition_is_seeded_and_balanced() -> None:
    owner = random_partition(784, 25, seed=0)
    sizes = torch.bincount(owner, minlength=25)
    assert sizes.sum() == 784 and set(sizes.tolist()) == {31, 32}
    assert int((sizes == 32).sum()) == 784 % 25  # the first d % T groups get one more
    assert torch.equal(owner, random_partition(784, 25, seed=0))
    assert not torch.equal(owner, random_partition(784, 25, seed=1))
    masks = group_masks(owner, 25, (28, 28))
    assert masks.shape == (25, 28, 28) and torch.equal(masks.sum(0), torch.ones(28, 28).long())
    with pytest.raises(ValueError):
        random_partition(784, 785, seed=0)


def test_strided_partition_walks_columns() -> None:
    # (r, c) of a 3 x 2 image goes to group (c * 3 + r) mod 2; positions in row-major order
    assert strided_partition(3, 2, 2).tolist() == [0, 1, 1, 0, 0, 1]
    owner = strided_partition(28, 28, 25)
    assert torch.equal(partition((28, 28), 25, "strided", seed=7), owner)
    assert set(torch.bincount(owner).tolist()) == {31, 32}
    assert torch.equal(partition((28, 28), 25, "random", seed=7), random_partition(784, 25, 7))
    with pytest.raises(ValueError, match="layout"):
        partition((28, 28), 25, "spiral", seed=0)  # type: ignore[arg-type]


def _submodels(groups: int, width: int, seed: int = 0) -> GroupSubmodels:
    torch.manual_seed(seed)
    owner = random_partition(64, groups, seed)
    return GroupSubmodels([group_mlp(2, 10, (width, 1), hidden=16) for _ in range(groups)],
                          owner, (1, 8, 8))


def test_each_submodel_reads_only_its_group() -> None:
    voters = _submodels(5, 13)
    x = torch.rand(3, 1, 8, 8)
    before = voters(x)
    assert before.shape == (3, 5, 10)
    for position in (0, 17, 63):
        changed = x.clone()
        changed.view(3, -1)[:, position] = 1.0 - changed.view(3, -1)[:, position]
        after = voters(changed)
        group = int(voters.owner[position])
        same = [t for t in range(5) if t != group]
        assert torch.equal(after[:, same], before[:, same])
        assert not torch.equal(after[:, group], before[:, group])


def test_loaded_weights_bring_their_partition() -> None:
    trained, fresh = _submodels(4, 16, seed=0), _submodels(4, 16, seed=1)
    assert not torch.equal(trained.owner, fresh.owner)
    fresh.load_state_dict(trained.state_dict())
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(fresh.owner, trained.owner) and torch.equal(fresh(x), trained(x))


def test_a_frozen_copy_answers_the_same_until_new_weights_come() -> None:
    voters, other = _submodels(3, 22, seed=0), _submodels(3, 22, seed=1)
    x = torch.rand(2, 1, 8, 8)
    frozen = copy.deepcopy(voters).freeze()
    assert torch.equal(frozen(x), voters(x))
    frozen.load_state_dict(other.state_dict())
    assert torch.equal(frozen(x), other(x))


def test_stacked_submodels_equal_each_submodel_alone() -> None:
    voters = _submodels(4, 16)
    x = torch.rand(2, 1, 8, 8)
    inputs = voters.group_inputs(x)  # (T, B, 2, g, 1)
    for t, submodel in enumerate(voters.submodels):
        members = torch.nonzero(voters.owner == t).flatten()
        flat = x.view(2, -1)[:, members]
        assert torch.equal(inputs[t, :, 0, : len(members), 0], flat)
        assert torch.equal(inputs[t, :, 1, : len(members), 0], 1.0 - flat)
        assert torch.allclose(voters(x)[:, t], submodel(inputs[t]), atol=1e-6)


def test_shared_base_sees_each_group_as_an_ablation() -> None:
    torch.manual_seed(0)
    base = nn.Sequential(nn.Flatten(), nn.Linear(2 * 64, 10))
    masks = group_masks(random_partition(64, 4, 3), 4, (8, 8))
    voters = SharedBase(base, masks)
    x = torch.rand(2, 1, 8, 8)
    out = voters(x)
    for t in range(4):
        expected = base(encode(x, masks[t].expand(2, 8, 8), Encoding.MULTICHANNEL))
        assert torch.allclose(out[:, t], expected, atol=1e-6)


def test_predict_and_certify_agree_and_count_forward_passes() -> None:
    defense = PartitionVote(_submodels(5, 13), batch_size=7)
    x = torch.rand(4, 1, 8, 8)
    predictions, certificates = defense.predict(x), defense.certify(x)
    assert defense.forward_passes == 2 * 4 * 5  # T per image, batches of 7 // 5 = 1 image
    for p, c in zip(predictions, certificates, strict=True):
        assert p.label == c.label and sum(p.counts) == 5 and p.counts == c.counts
        assert not p.abstained and c.p_lower == 1.0 and c.certificate == "partition"
    assert defense.samples == 0 and torch.equal(defense.logits(x),
                                                torch.tensor([list(p.counts)
                                                              for p in predictions]).float())


class _ModuloVote(nn.Module):
    """A group's vote: the sum of its pixels' levels (0, 1, 2 for 0, 0.5, 1) modulo 3, one-hot.
    One changed pixel can set the vote to any of the 3 classes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = torch.round(2 * x[:, 0].flatten(1)).sum(1)
        vote = torch.remainder(levels, 3)
        return (vote.unsqueeze(1) == torch.arange(3, device=x.device)).float()


@pytest.mark.parametrize(("d", "groups"), [(4, 4), (6, 3), (6, 2), (5, 2), (5, 3)])
def test_the_radius_is_exact_by_brute_force(d: int, groups: int) -> None:
    """Every image of d pixels with levels {0, 0.5, 1}: no image within the certified radius of
    it gets another answer, and one at radius + 1 does."""
    owner = random_partition(d, groups, seed=d)
    voters = GroupSubmodels([_ModuloVote() for _ in range(groups)], owner, (1, 1, d))
    defense = PartitionVote(voters, num_classes=3)
    images = torch.tensor(list(itertools.product((0.0, 0.5, 1.0), repeat=d)))
    certificates = defense.certify(images.view(-1, 1, 1, d))
    labels = torch.tensor([c.label for c in certificates])
    radius = torch.tensor([c.radius for c in certificates])
    assert set(labels.tolist()) == {0, 1, 2} and radius.max() >= 1
    distance = (images.unsqueeze(1) != images.unsqueeze(0)).sum(-1)  # changed pixel positions
    other = labels.unsqueeze(1) != labels.unsqueeze(0)
    nearest = torch.where(other, distance, d + 1).min(dim=1).values
    assert torch.equal(nearest, radius + 1)


def test_surrogate_is_the_log_mean_softmax_of_the_groups() -> None:
    voters = _submodels(3, 22)
    defense = PartitionVote(voters)
    surrogate = defense.surrogate((1, 8, 8), torch.Generator(), draws=1)
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    out = surrogate(x)
    expected = torch.log(torch.softmax(voters(x), dim=-1).mean(dim=1))
    assert torch.allclose(out, expected, atol=1e-5)
    out[:, 0].sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    assert defense.forward_passes == 2 * 3


def test_precisions_offered() -> None:
    with pytest.raises(ValueError, match="fp32 only"):
        PartitionVote(_submodels(2, 32), precision="bf16")
    shared = SharedBase(nn.Sequential(nn.Flatten(), nn.Linear(128, 10)),
                        group_masks(random_partition(64, 2, 0), 2, (8, 8)))
    with pytest.raises(ValueError, match="int8"):
        PartitionVote(shared, precision="int8")
    assert len(PartitionVote(shared, precision="bf16").predict(torch.rand(1, 1, 8, 8))) == 1
