"""attacks.start: the bisection start over the salt-and-pepper noise level."""

from __future__ import annotations

import itertools
import math

import foolbox as fb
import pytest
import torch
from torch import nn

from attacks.foolbox_adapter import MisclassifiedOrAbstained
from attacks.l0 import pixel_l0
from attacks.start import (
    bisection_candidates,
    bisection_start,
    salt_and_pepper_at,
    salt_and_pepper_candidates,
    salt_and_pepper_start,
)


def test_levels_are_nested_salt_and_pepper() -> None:
    x = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    x[0, :, 0, :] = 0.0  # a black row: pepper there changes nothing
    order = torch.randperm(36, generator=torch.Generator().manual_seed(1))
    salt = torch.rand(36, generator=torch.Generator().manual_seed(2)) < 0.5
    previous = torch.zeros(36, dtype=torch.bool)
    for level in range(37):
        q = salt_and_pepper_at(x, order, salt, level)
        changed = (q != x).any(dim=1).flatten()
        assert int(pixel_l0(x, q)[0]) <= level
        assert bool((changed | ~previous).all())  # every earlier change is still there
        assert set(q[q != x].tolist()) <= {0.0, 1.0}
        noised = torch.zeros(36, dtype=torch.bool)
        noised[order[:level]] = True
        assert torch.equal(q[0, 0].flatten()[noised], salt[noised].float())
        previous = changed
    assert 0 < int(previous.sum()) < 36


def test_bisection_finds_the_smallest_adversarial_level() -> None:
    x = torch.full((1, 1, 8, 8), 0.2)
    queries = []

    def at_least_ten(q: torch.Tensor) -> bool:  # adversarial iff >= 10 pixels changed
        queries.append(q)
        return int(pixel_l0(x, q)[0]) >= 10

    start = bisection_start(at_least_ten, x, torch.Generator().manual_seed(2), draws=2)
    assert start is not None and int(pixel_l0(x, start)[0]) == 10  # 0.2 -> 0 or 1 changes
    assert len(queries) <= 2 * (1 + math.ceil(math.log2(64)))


def test_bisection_keeps_the_smallest_over_draws() -> None:
    x = torch.full((1, 1, 4, 4), 0.5)

    def needs_pixel_zero(q: torch.Tensor) -> bool:  # adversarial iff pixel (0, 0) changed
        return bool(q[0, 0, 0, 0] != 0.5)

    found = [bisection_start(needs_pixel_zero, x, torch.Generator().manual_seed(s), draws=d)
             for s in range(5) for d in (1, 8)]
    sizes = [int(pixel_l0(x, f)[0]) for f in found if f is not None]
    assert all(size >= 1 for size in sizes) and min(sizes) <= 3
    # more draws never give a larger start for the same seed
    assert all(sizes[i + 1] <= sizes[i] for i in range(0, len(sizes), 2))


def test_no_start_when_full_noise_is_not_adversarial() -> None:
    x = torch.zeros(1, 1, 4, 4)
    assert bisection_start(lambda q: False, x, torch.Generator().manual_seed(0)) is None


def test_bad_arguments() -> None:
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="draws"):
        bisection_start(lambda q: True, x, torch.Generator(), draws=0)
    with pytest.raises(ValueError, match="one image"):
        bisection_start(lambda q: True, torch.zeros(2, 1, 4, 4), torch.Generator())
    with pytest.raises(ValueError, match="level"):
        salt_and_pepper_at(x, torch.arange(16), torch.ones(16, dtype=torch.bool), 17)


class _CountingNet(nn.Module):
    """A deterministic toy classifier (random linear map of the image) that counts its inputs."""

    def __init__(self, pixels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(pixels, 10)
        self.queries = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += x.shape[0]
        out: torch.Tensor = self.linear(x.flatten(1))
        return out


@pytest.mark.parametrize("seed", range(4))
def test_salt_and_pepper_start_is_foolboxs_search_with_fewer_queries(seed: int) -> None:
    torch.manual_seed(100 + seed)
    net = _CountingNet(3 * 8 * 8).eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        label = torch.tensor([int(net(x).argmax())])
    model = fb.PyTorchModel(net, bounds=(0.0, 1.0))
    criterion = MisclassifiedOrAbstained(label, None)
    torch.manual_seed(seed)
    net.queries = 0
    theirs = fb.attacks.SaltAndPepperNoiseAttack(steps=60).run(model, x, criterion)
    their_queries = net.queries

    def is_adversarial(q: torch.Tensor) -> bool:
        with torch.no_grad():
            return int(net(q).argmax()) != int(label)

    torch.manual_seed(seed)
    net.queries = 0
    ours = salt_and_pepper_start(is_adversarial, x, 60)
    assert torch.equal(ours, theirs.raw if hasattr(theirs, "raw") else theirs)
    assert not torch.equal(ours, x)  # a start was found
    assert net.queries < their_queries == 61


def test_salt_and_pepper_start_returns_the_image_when_nothing_is_adversarial() -> None:
    x = torch.rand(1, 1, 4, 4)
    assert torch.equal(salt_and_pepper_start(lambda q: False, x, 10), x)
    with pytest.raises(ValueError, match="steps"):
        salt_and_pepper_start(lambda q: False, x, 0)


def _norm(x: torch.Tensor, q: torch.Tensor) -> float:
    return float((q - x).flatten().square().sum().sqrt())


@pytest.mark.parametrize("search", ["salt-and-pepper", "bisection"])
def test_candidates_are_adversarial_ever_closer_and_end_with_the_start(search: str) -> None:
    x = torch.full((1, 1, 8, 8), 0.3)
    queried: list[torch.Tensor] = []

    def far_enough(q: torch.Tensor) -> bool:  # adversarial iff >= 5 pixels set to 1
        queried.append(q)
        return int((q == 1.0).sum()) >= 5

    start: torch.Tensor | None
    if search == "salt-and-pepper":
        torch.manual_seed(3)
        found = salt_and_pepper_candidates(far_enough, x, 80)
        torch.manual_seed(3)
        start = salt_and_pepper_start(far_enough, x, 80)
    else:
        found = bisection_candidates(far_enough, x, torch.Generator().manual_seed(3), draws=20)
        start = bisection_start(far_enough, x, torch.Generator().manual_seed(3), draws=20)
    assert len(found) >= 2 and start is not None and torch.equal(found[-1], start)
    assert all(far_enough(q) for q in found)
    # salt-and-pepper keeps ever closer points in L2; the bisection ever lower noise levels
    # (here every noised position changes: x is neither 0 nor 1)
    sizes = [_norm(x, q) if search == "salt-and-pepper" else float(pixel_l0(x, q)[0])
             for q in found]
    assert all(a > b for a, b in itertools.pairwise(sizes))


def test_no_candidates_when_nothing_is_adversarial() -> None:
    x = torch.rand(1, 1, 4, 4)
    assert salt_and_pepper_candidates(lambda q: False, x, 10) == []
    assert bisection_candidates(lambda q: False, x, torch.Generator().manual_seed(0), 3) == []
    # an image that is adversarial already is its own only candidate
    assert [torch.equal(q, x) for q in salt_and_pepper_candidates(lambda q: True, x, 10)] == [True]
