"""RandomizedAblation with toy base classifiers: certificates match the pure functions."""

from __future__ import annotations

import pytest
import torch

from defenses.ablation import RandomizedAblation
from defenses.ablation_math import l0_radius, l0_radius_pairwise
from defenses.base import ABSTAIN, Defense
from defenses.masks import sample_keep_masks_by_keys
from defenses.stats import clopper_pearson_lower, simultaneous_bounds
from tests.conftest import ConstantModel, PixelModel


def _images(b: int = 3) -> torch.Tensor:
    return torch.rand(b, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_is_a_defense() -> None:
    assert isinstance(RandomizedAblation(ConstantModel(3), 45), Defense)


def test_constant_classifier_never_abstains_and_matches_pure_functions() -> None:
    defense = RandomizedAblation(ConstantModel(3), 45, n0=10, n=1000, alpha=0.05)
    for cert in defense.certify(_images()):
        assert cert.label == 3
        assert cert.counts[3] == 1000 and cert.selection_counts[3] == 10
        assert cert.p_lower == pytest.approx(0.05 ** (1 / 1000))
        assert cert.radius == l0_radius(0.05 ** (1 / 1000), 784, 45)
    for pred in defense.predict(_images()):
        assert pred.label == 3 and not pred.abstained


def test_pixel_model_votes_at_rate_k_over_d() -> None:
    # the model votes 1 exactly when the ablation keeps pixel (5, 5): probability 45/784
    defense = RandomizedAblation(PixelModel(5, 5), 45, n=20000)
    counts = defense.vote_counts(_images(1), 20000)
    assert abs(counts[0, 1].item() / 20000 - 45 / 784) < 0.006  # ~3.5 sd


def test_certify_counts_are_consistent_with_p_lower() -> None:
    defense = RandomizedAblation(PixelModel(5, 5), 392, n0=200, n=500)
    cert = defense.certify(_images(1), [torch.Generator().manual_seed(3)])[0]
    assert cert.p_lower == pytest.approx(
        clopper_pearson_lower(cert.counts[cert.label], 500, 0.05)
    )


def test_abstain_switch() -> None:
    # k=392 of 784: the pixel model votes 0/1 about half the time each, so p_lower < 1/2
    x = _images(1)
    paper = RandomizedAblation(PixelModel(5, 5), 392, n0=100, n=400)
    cohen = RandomizedAblation(PixelModel(5, 5), 392, n0=100, n=400, abstain=True)
    g = [torch.Generator().manual_seed(1)]
    assert paper.certify(x, g)[0].label in (0, 1) and paper.certify(x, g)[0].radius == 0
    assert cohen.certify(x, [torch.Generator().manual_seed(1)])[0].label == ABSTAIN
    assert paper.predict(x)[0].label == ABSTAIN


def test_results_do_not_depend_on_batching() -> None:
    x = _images(4)
    one = RandomizedAblation(PixelModel(3, 9), 200, n0=50, n=300, batch_size=7)
    many = RandomizedAblation(PixelModel(3, 9), 200, n0=50, n=300, batch_size=1000)
    together = many.certify(x, [torch.Generator().manual_seed(i) for i in range(4)])
    alone = [one.certify(x[i : i + 1], [torch.Generator().manual_seed(i)])[0] for i in range(4)]
    assert together == alone


def test_counts_forward_passes() -> None:
    defense = RandomizedAblation(ConstantModel(0), 45, n0=10, n=30)
    defense.certify(_images(2))
    assert defense.forward_passes == 2 * (10 + 30)


@pytest.mark.parametrize("bad", [float("nan"), 1.5, -0.1])
def test_rejects_bad_pixels(bad: float) -> None:
    x = _images(1)
    x[0, 0, 0, 0] = bad
    with pytest.raises(ValueError):
        RandomizedAblation(ConstantModel(0), 45, n=10).predict(x)


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"n0": 0}, {"alpha": 0.0}, {"alpha": 1.0}])
def test_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RandomizedAblation(ConstantModel(0), 45, **kwargs)  # type: ignore[arg-type]


def test_pairwise_certificate_uses_simultaneous_bounds() -> None:
    x = _images(2)
    paper = RandomizedAblation(PixelModel(5, 5), 45, n0=50, n=2000)
    pairwise = RandomizedAblation(PixelModel(5, 5), 45, n0=50, n=2000, certificate="pairwise")
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    same = [torch.Generator().manual_seed(i) for i in range(2)]
    for a, b in zip(paper.certify(x, gens), pairwise.certify(x, same), strict=True):
        assert a.counts == b.counts and (a.certificate, b.certificate) == ("levine-feizi",
                                                                            "pairwise")
        p_lower, p_upper = simultaneous_bounds(b.counts, b.label, 0.05)
        assert b.p_lower == p_lower
        assert b.radius == max(0, l0_radius_pairwise(p_lower, p_upper, 784, 45))


def test_unknown_certificate() -> None:
    with pytest.raises(ValueError, match="certificate"):
        RandomizedAblation(ConstantModel(0), 45, certificate="jia")  # type: ignore[arg-type]


def test_masks_drawn_by_random_keys_are_uniform_k_subsets() -> None:
    masks = sample_keep_masks_by_keys(100_000, 5, 2, torch.Generator().manual_seed(0))
    assert bool((masks.sum(dim=1) == 2).all())
    assert torch.allclose(masks.float().mean(dim=0), torch.full((5,), 0.4), atol=0.01)
    subsets = torch.unique(masks.int(), dim=0, return_counts=True)[1]
    assert len(subsets) == 10 and bool((subsets - 10_000).abs().max() < 500)
    # the same generator state gives the same masks, on the generator's device
    again = sample_keep_masks_by_keys(100_000, 5, 2, torch.Generator().manual_seed(0))
    assert torch.equal(masks, again) and masks.device == torch.device("cpu")
