from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.checkpoints import (
    checkpoint_path,
    find_checkpoint,
    load_checkpoint,
    load_weights,
    model_id_of,
    save_checkpoint,
)
from bench.errors import InputError
from bench.identity import checkpoint_identity, checkpoint_identity_v1
from bench.registry import resolve_defense
from bench.training import build_base_classifier
from defenses.models import mnist_cnn

CONFIG = resolve_defense("ablation-k45")


def _save(path: Path) -> None:
    save_checkpoint(path, build_base_classifier(CONFIG), checkpoint_identity(CONFIG),
                    {"epochs": 1}, {"fingerprint": "x"}, {"acc": 0.5})


def test_roundtrip(tmp_path: Path) -> None:
    _save(tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt", CONFIG)
    model = load_weights(build_base_classifier(CONFIG), ckpt)
    assert ckpt.metrics == {"acc": 0.5} and len(ckpt.model_id) == 16
    assert isinstance(model, torch.nn.Module)


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="bench train --defense ablation-k45"):
        load_checkpoint(tmp_path / "c.pt", CONFIG)


def test_other_config(tmp_path: Path) -> None:
    _save(tmp_path / "c.pt")
    with pytest.raises(InputError, match="differs in k, name"):
        load_checkpoint(tmp_path / "c.pt", resolve_defense("ablation-k20"))


def test_truncated(tmp_path: Path) -> None:
    _save(tmp_path / "c.pt")
    raw = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="truncated, corrupt"):
        load_checkpoint(tmp_path / "c.pt", CONFIG)


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("executed",))


def test_code_is_never_executed(tmp_path: Path) -> None:
    torch.save({"format": "bench-checkpoint-v1", "payload": Evil()}, tmp_path / "c.pt")
    with pytest.raises(InputError, match="cannot be read safely"):
        load_checkpoint(tmp_path / "c.pt", CONFIG)


def test_other_architecture(tmp_path: Path) -> None:
    _save(tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt", CONFIG)
    with pytest.raises(InputError, match="does not fit"):
        load_weights(mnist_cnn(in_channels=1), ckpt)


def test_checkpoints_live_under_their_dataset(tmp_path: Path) -> None:
    assert checkpoint_path(tmp_path, CONFIG) == tmp_path / "mnist" / "ablation-k45.pt"
    assert find_checkpoint(tmp_path, CONFIG) == checkpoint_path(tmp_path, CONFIG)


def test_a_first_release_checkpoint_is_found_and_read(tmp_path: Path) -> None:
    # the first release wrote MODELS/<defense>.pt with a schema-1 defense dict (no dataset) and
    # a recipe from before some training fields existed
    state = {k: v.detach() for k, v in build_base_classifier(CONFIG).state_dict().items()}
    torch.save({"format": "bench-checkpoint-v1", "state_dict": state,
                "defense": checkpoint_identity_v1(CONFIG), "train": {"epochs": 2},
                "train_data": {"fingerprint": "x"}, "metrics": {"epochs": 2},
                "model_id": model_id_of(state)}, tmp_path / "ablation-k45.pt")
    path = find_checkpoint(tmp_path, CONFIG)
    assert path == tmp_path / "ablation-k45.pt"
    ckpt = load_checkpoint(path, CONFIG)
    assert ckpt.defense == checkpoint_identity(CONFIG)
    assert ckpt.train == {"epochs": 2, "copies": 1, "consistency": 0.0, "entropy": 0.0,
                          "precision": "fp32", "ema": 0.0}
    # a checkpoint under the dataset's folder takes precedence
    _save(checkpoint_path(tmp_path, CONFIG))
    assert find_checkpoint(tmp_path, CONFIG) == checkpoint_path(tmp_path, CONFIG)
