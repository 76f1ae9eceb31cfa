"""The moving average of the weights (``TrainConfig.ema``): its decay schedule, that the saved
classifier is the average computed by hand, and that it leaves the training trajectory alone (a
resumed run averages exactly as an unbroken one: ``tests/bench/test_cli.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.configs import TrainConfig
from bench.registry import resolve_defense
from bench.training import TrainState, ema_decay, initial_classifier, train_base_classifier
from tests.conftest import head_splits


def test_ema_decay_warms_up_then_holds() -> None:
    assert ema_decay(0.999, 0) == pytest.approx(1 / 10)
    assert ema_decay(0.999, 90) == pytest.approx(91 / 100)
    assert ema_decay(0.999, 10_000) == 0.999
    assert ema_decay(0.5, 0) == pytest.approx(0.1)
    assert ema_decay(0.5, 100) == 0.5


def test_saved_classifier_is_the_average_of_the_steps() -> None:
    """One step per epoch: the average after 3 steps, computed by hand from the initial weights
    and each step's weights (those of a run without averaging, which trains identically)."""
    config = resolve_defense("ablation-k45")
    data = head_splits(64, 10).train
    plain = TrainConfig(epochs=3, batch_size=64)
    steps: list[dict[str, torch.Tensor]] = []

    def keep(state: TrainState) -> None:
        steps.append(state.model)

    _, plain_state = train_base_classifier(config, plain, data, on_epoch=keep)
    model, state = train_base_classifier(config, TrainConfig(epochs=3, batch_size=64, ema=0.9),
                                         data)
    for name, value in state.model.items():  # the trajectory is the one without averaging
        assert torch.equal(value, plain_state.model[name])

    for name, value in initial_classifier(config, plain).named_parameters():
        average = value.detach().clone()
        for t, weights in enumerate(steps):
            decay = ema_decay(0.9, t)
            average = decay * average + (1 - decay) * weights[name]
        saved = model.state_dict()[name]
        assert torch.allclose(saved, average, atol=1e-6, rtol=1e-5), name
        assert not torch.equal(saved, state.model[name])


@pytest.mark.parametrize("ema", ["1", "-0.1", "1.5"])
def test_impossible_ema_exits_2(tmp_path: Path, ema: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--defense", "ablation-k45", "--models", str(tmp_path), "--epochs",
                 "1", "--train-limit", "100", "--ema", ema])
    assert code == 2
    assert "ema must be in [0, 1)" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())

