import torch

from attacks.base import wrong_or_abstained
from attacks.foolbox_adapter import MisclassifiedOrAbstained, foolbox_model
from defenses.oracles import LogitOracle
from defenses.undefended import Undefended
from tests.conftest import MeanBrightnessModel


def test_abstention_counts_as_a_successful_attack() -> None:
    # 60 vs 40 of 100: two-sided binomial p = 0.057 > 0.05, PREDICT abstains
    assert wrong_or_abstained([0.0, 60.0, 40.0], label=1, alpha=0.05)
    # 70 vs 30: p = 7.9e-5, PREDICT answers class 1, the true class: not adversarial
    assert not wrong_or_abstained([0.0, 70.0, 30.0], label=1, alpha=0.05)
    # a decided wrong class is adversarial too
    assert wrong_or_abstained([0.0, 70.0, 30.0], label=2, alpha=0.05)


def test_exact_tie_is_an_abstention() -> None:
    assert wrong_or_abstained([50.0, 50.0], label=0, alpha=0.05)


def test_deterministic_criterion_uses_argmax_only() -> None:
    assert not wrong_or_abstained([0.51, 0.49], label=0, alpha=None)
    assert wrong_or_abstained([0.49, 0.51], label=0, alpha=None)


def test_criterion_on_foolbox_model_outputs() -> None:
    model = foolbox_model(LogitOracle(Undefended(MeanBrightnessModel())))
    x = torch.stack([torch.full((1, 4, 4), 0.9), torch.full((1, 4, 4), 0.1)])
    criterion = MisclassifiedOrAbstained(torch.tensor([0, 0]), alpha=None)
    assert criterion(x, model(x)).tolist() == [False, True]
    assert "alpha=None" in repr(criterion)
