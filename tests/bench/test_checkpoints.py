from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.checkpoints import load_checkpoint, load_weights, save_checkpoint
from bench.configs import config_dict
from bench.errors import InputError
from bench.registry import resolve_defense
from bench.training import build_base_classifier
from defenses.models import mnist_cnn

CONFIG = resolve_defense("ablation-k45")


def _save(path: Path) -> None:
    save_checkpoint(path, build_base_classifier(CONFIG), config_dict(CONFIG), {"epochs": 1},
                    {"fingerprint": "x"}, {"acc": 0.5})


def test_roundtrip(tmp_path: Path) -> None:
    _save(tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt", config_dict(CONFIG))
    model = load_weights(build_base_classifier(CONFIG), ckpt)
    assert ckpt.metrics == {"acc": 0.5} and len(ckpt.model_id) == 16
    assert isinstance(model, torch.nn.Module)


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="bench train --defense ablation-k45"):
        load_checkpoint(tmp_path / "c.pt", config_dict(CONFIG))


def test_other_config(tmp_path: Path) -> None:
    _save(tmp_path / "c.pt")
    with pytest.raises(InputError, match="differs in k, name"):
        load_checkpoint(tmp_path / "c.pt", config_dict(resolve_defense("ablation-k20")))


def test_truncated(tmp_path: Path) -> None:
    _save(tmp_path / "c.pt")
    raw = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="truncated, corrupt"):
        load_checkpoint(tmp_path / "c.pt", config_dict(CONFIG))


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("executed",))


def test_code_is_never_executed(tmp_path: Path) -> None:
    torch.save({"format": "bench-checkpoint-v1", "payload": Evil()}, tmp_path / "c.pt")
    with pytest.raises(InputError, match="cannot be read safely"):
        load_checkpoint(tmp_path / "c.pt", config_dict(CONFIG))


def test_other_architecture(tmp_path: Path) -> None:
    _save(tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt", config_dict(CONFIG))
    with pytest.raises(InputError, match="does not fit"):
        load_weights(mnist_cnn(in_channels=1), ckpt)
