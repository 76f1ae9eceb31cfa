import torch

from defenses.base import Defense
from defenses.undefended import Undefended
from tests.conftest import MeanBrightnessModel


def test_undefended_never_abstains_and_certifies_radius_zero() -> None:
    defense = Undefended(MeanBrightnessModel(), batch_size=1)
    assert isinstance(defense, Defense)
    x = torch.stack([torch.full((1, 4, 4), 0.9), torch.full((1, 4, 4), 0.1)])
    assert [p.label for p in defense.predict(x)] == [0, 1]
    certs = defense.certify(x)
    assert [(c.label, c.radius, c.certificate) for c in certs] == [(0, 0, "none"), (1, 0, "none")]
    assert defense.forward_passes == 4  # two calls, two images each
