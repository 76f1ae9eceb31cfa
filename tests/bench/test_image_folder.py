"""Class-folder datasets: the paper's preprocessing (shorter side resized, centre crop), labels
from sorted class folders, streaming (nothing decoded until asked), fingerprints, clear errors,
and a dataset of one's own through the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.data import Dataset
from bench.errors import InputError
from bench.image_folder import FolderImages, load_image, load_image_folder
from bench.registry import dataset_entry, image_folder_dataset, resolve_defense
from tests.synthetic import write_image_folder


def test_resize_then_centre_crop(tmp_path: Path) -> None:
    # 60 x 30: left half red, right half blue; resized to 64 x 32, the centre 32 x 32 crop keeps
    # columns 16..47, half red and half blue
    pixels = np.zeros((30, 60, 3), np.uint8)
    pixels[:, :30, 0] = 255
    pixels[:, 30:, 2] = 255
    Image.fromarray(pixels).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png", resize=32, crop=32)
    assert image.shape == (3, 32, 32) and image.dtype == np.uint8
    assert (image[0, :, :15] == 255).all() and (image[2, :, 17:] == 255).all()
    assert (image[2, :, :15] == 0).all() and (image[0, :, 17:] == 0).all()
    # a grey image of another shape: resized on its shorter side (the height) first
    Image.fromarray(np.full((50, 20), 77, np.uint8)).save(tmp_path / "b.jpg")
    grey = load_image(tmp_path / "b.jpg", resize=24, crop=16)
    assert grey.shape == (3, 16, 16) and abs(int(grey.mean()) - 77) <= 2


def test_splits_labels_and_streaming(tmp_path: Path) -> None:
    write_image_folder(tmp_path, classes=3, train=4, val=2)
    splits = load_image_folder(tmp_path, name="tiny", num_classes=5, resize=36, crop=32)
    train, test = splits.train, splits.test
    assert isinstance(train.images, FolderImages) and train.images.shape == (12, 3, 32, 32)
    assert train.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert test.labels.tolist() == [0, 0, 1, 1, 2, 2] and test.source == "image-folder"
    view = test.images[[5, 0]]
    assert isinstance(view, FolderImages) and len(view) == 2  # nothing decoded yet
    decoded = np.asarray(view)
    assert decoded.shape == (2, 3, 32, 32) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded[1], test.images[0])
    assert isinstance(test.head(3).images, FolderImages) and len(test.head(3)) == 3


def test_fingerprint_follows_files_and_preprocessing(tmp_path: Path) -> None:
    write_image_folder(tmp_path, classes=2, train=2, val=2)
    first = load_image_folder(tmp_path, name="tiny", num_classes=2, resize=36, crop=32).test
    again = load_image_folder(tmp_path, name="tiny", num_classes=2, resize=36, crop=32).test
    other_crop = load_image_folder(tmp_path, name="tiny", num_classes=2, resize=36,
                                   crop=30).test
    assert first.fingerprint == again.fingerprint != other_crop.fingerprint
    in_memory = Dataset("tiny", "test", np.asarray(first.images), first.labels)
    assert in_memory.fingerprint != first.fingerprint  # pixels vs files: never confused
    before = first.fingerprint  # a property of the files as they are now
    path = next((tmp_path / "val" / "class1").iterdir())
    Image.fromarray(np.zeros((31, 41, 3), np.uint8)).save(path)
    changed = load_image_folder(tmp_path, name="tiny", num_classes=2, resize=36, crop=32).test
    assert changed.fingerprint == first.fingerprint != before


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pass --data-root DIR"):
        load_image_folder(None, name="imagenet", num_classes=1000)
    with pytest.raises(InputError, match=r"needs train/ and val/ folders.*no such folder"):
        load_image_folder(tmp_path / "nothing", name="imagenet", num_classes=1000)
    write_image_folder(tmp_path, classes=3, train=1, val=1)
    with pytest.raises(InputError, match="holds 3 class folders; tiny has 2 classes"):
        load_image_folder(tmp_path, name="tiny", num_classes=2)
    (tmp_path / "val" / "stray").mkdir()
    with pytest.raises(InputError, match="stray is a class folder with no training folder"):
        load_image_folder(tmp_path, name="tiny", num_classes=3)
    (tmp_path / "val" / "stray").rmdir()
    broken = tmp_path / "val" / "class0" / "broken.png"
    broken.write_bytes(b"not an image")
    test = load_image_folder(tmp_path, name="tiny", num_classes=3, resize=36, crop=32).test
    with pytest.raises(InputError, match=r"cannot decode image .*broken\.png"):
        np.asarray(test.images)


def test_imagenet_and_a_dataset_of_ones_own() -> None:
    imagenet = dataset_entry("imagenet")
    assert imagenet.image_shape == (3, 224, 224) and imagenet.num_classes == 1000
    config = resolve_defense("ablation-k1000", "imagenet")
    assert config.architecture == "resnet50" and config.input_channels == 6
    assert config.d == 224 * 224
    entry = image_folder_dataset("my-folder", 4, resize=40, crop=32, architecture="resnet18-cifar",
                                 example_k=75)
    assert entry.image_shape == (3, 32, 32) and entry.architecture == "resnet18-cifar"
    assert resolve_defense("ablation-k75", entry).input_channels == 6
