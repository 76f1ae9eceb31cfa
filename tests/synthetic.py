"""Small synthetic datasets the tests write: CIFAR-10-format batches and class-folder image
trees. Each class is a distinct colour pattern with noise, so a network learns something from a
few images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bench.cifar import TRAIN_BATCHES, write_batch


def class_images(count: int, classes: int, size: tuple[int, int],
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uint8 images (count, 3, H, W) and their labels: class c is a bright band at a
    class-specific height in a class-specific colour, plus uniform noise."""
    h, w = size
    labels = np.arange(count) % classes
    images = rng.integers(0, 60, size=(count, 3, h, w)).astype(np.int64)
    for i, c in enumerate(labels):
        top = (c * h) // classes
        band = slice(top, top + max(1, h // classes))
        images[i, c % 3, band, :] += 190
        images[i, (c + 1) % 3, :, (c * w) // classes] += 120
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def write_cifar10(root: Path, per_batch: int = 20, test: int = 20, seed: int = 0) -> Path:
    """CIFAR-10-format batches (five training batches of ``per_batch`` images, a test batch of
    ``test``) in ``root``/cifar-10-batches-py; returns ``root``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in TRAIN_BATCHES:
        write_batch(folder / name, *class_images(per_batch, 10, (32, 32), rng))
    write_batch(folder / "test_batch", *class_images(test, 10, (32, 32), rng))
    return root


def write_image_folder(root: Path, classes: int = 3, train: int = 4, val: int = 2,
                       size: tuple[int, int] = (30, 40), seed: int = 0,
                       suffix: str = ".png") -> Path:
    """A class-folder tree ``root``/{train,val}/class<c>/ with ``train`` and ``val`` images per
    class of (H, W) = ``size``; returns ``root``."""
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train), ("val", val)):
        images, labels = class_images(per_class * classes, classes, size, rng)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"{i:04d}{suffix}")
    return root
