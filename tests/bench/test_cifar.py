"""CIFAR-10 from python-pickle batches: shapes and order, the source recorded, clear errors for
missing, truncated and malformed files, and the dataset through the registry."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from bench.api import load_dataset
from bench.cifar import CIFAR10_FILES, FORMAT_SOURCE, load_cifar10, read_batch, write_batch
from bench.configs import AblationConfig
from bench.errors import InputError
from bench.registry import dataset_entry, resolve_defense
from tests.synthetic import write_cifar10


def test_a_batch_reads_back_channel_planes_in_order(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 32 * 32, dtype=np.int64).reshape(2, 3, 32, 32) % 251
    write_batch(tmp_path / "b", images.astype(np.uint8), np.array([3, 9]))
    read, labels = read_batch(tmp_path / "b")
    assert read.dtype == np.uint8 and read.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(read, images)
    assert labels.tolist() == [3, 9]
    # the file's layout: 1,024 red values, then green, then blue, row by row
    with (tmp_path / "b").open("rb") as f:
        raw = pickle.load(f, encoding="bytes")[b"data"]
    assert raw[0, 1024] == images[0, 1, 0, 0] and raw[1, 32] == images[1, 0, 1, 0]


def test_synthetic_batches_load_as_cifar10_format_with_a_notice(tmp_path: Path) -> None:
    write_cifar10(tmp_path, per_batch=4, test=6)
    splits = load_cifar10(tmp_path)
    assert splits.train.images.shape == (20, 3, 32, 32) and len(splits.test) == 6
    assert splits.train.source == splits.test.source == FORMAT_SOURCE
    assert "not the original CIFAR-10" in splits.notice and "NOT comparable" in splits.notice
    # the folder itself works too, and the environment variable
    assert len(load_cifar10(tmp_path / "cifar-10-batches-py").test) == 6


def test_the_environment_variable_names_the_folder(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path, per_batch=2, test=2)
    monkeypatch.setenv("BENCH_CIFAR10_ROOT", str(tmp_path))
    assert len(load_dataset("cifar10").train) == 10


def test_missing_files_say_where_to_put_them(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing: data_batch_1.*cifar-10-python\.tar\.gz"):
        load_cifar10(tmp_path)
    write_cifar10(tmp_path, per_batch=2, test=2)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(InputError, match="missing: test_batch"):
        load_cifar10(tmp_path)


def test_truncated_and_malformed_batches_are_refused_by_name(tmp_path: Path) -> None:
    write_cifar10(tmp_path, per_batch=2, test=2)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(InputError, match=r"data_batch_3.*truncated or corrupt"):
        load_cifar10(tmp_path)
    with batch.open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(InputError, match=r"data_batch_3 holds data of shape \(2, 100\)"):
        load_cifar10(tmp_path)
    with batch.open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, f)
    with pytest.raises(InputError, match=r"labels outside 0\.\.9"):
        load_cifar10(tmp_path)


def test_the_registry_entry_and_its_defenses() -> None:
    entry = dataset_entry("cifar10")
    assert entry.image_shape == (3, 32, 32) and entry.num_classes == 10
    assert len(CIFAR10_FILES) == 6
    config = resolve_defense("ablation-k75", "cifar10")
    assert config.architecture == "resnet18-cifar" and config.input_channels == 6
    assert config.d == 1024
    mean = resolve_defense("ablation-mean-k75", "cifar10")
    assert isinstance(mean, AblationConfig) and mean.input_channels == 3
    assert mean.fill == (0.4914, 0.4822, 0.4465)
    with pytest.raises(InputError, match=r"1\.\.1024.*ablation-k75"):
        resolve_defense("ablation-k2000", "cifar10")
