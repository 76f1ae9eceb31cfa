"""Class-folder image datasets (ImageNet's layout), streamed: images are decoded when a batch
needs them, never all at once.

A dataset root holds ``train/`` and ``val/`` (or ``test/``), each with one folder per class whose
files are the class's images (``.jpeg``, ``.jpg``, ``.png``, ``.bmp``, ``.ppm``, ``.webp``, any
case). Classes are the training folder names in sorted order (ImageNet's synset folders sort to
its standard label order); a validation folder without a training folder of the same name is an
error. An image is read as RGB, resized so its shorter side is ``resize`` (bilinear, as
torchvision's ``Resize``) and centre-cropped to ``crop`` x ``crop`` (the paper's ImageNet
preprocessing: 256, then 224).

A split's images are a ``FolderImages``: an array-like of shape (n, 3, crop, crop), uint8 when
indexed by one image or turned into an array; indexing by a slice or a list gives another
``FolderImages`` (nothing is decoded yet). Its fingerprint hashes the files' relative paths and
sizes, the labels and the preprocessing, not the pixels, so fingerprinting 1.28 million files
stays fast.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import Dataset, Splits
from bench.errors import InputError

__all__ = ["EXTENSIONS", "IMAGENET_MEAN", "FolderImages", "load_image", "load_image_folder",
           "scan_split"]

EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".webp")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""The per-channel mean of ImageNet's training images (the mean-NULL fill)."""
SOURCE = "image-folder"


def load_image(path: Path, resize: int, crop: int) -> np.ndarray:
    """One image as uint8 (3, crop, crop): RGB, shorter side resized to ``resize`` (bilinear),
    centre crop. InputError naming the file when it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise InputError(f"cannot decode image {path}: {e}. Remove or replace it.") from None
    w, h = image.size
    # the shorter side becomes ``resize``, the longer one is truncated (as torchvision does)
    size = ((resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize))
    size = (max(crop, size[0]), max(crop, size[1]))
    image = image.resize(size, Image.Resampling.BILINEAR)
    left = round((size[0] - crop) / 2.0)
    top = round((size[1] - crop) / 2.0)
    image = image.crop((left, top, left + crop, top + crop))
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).copy()


@dataclass(frozen=True)
class FolderImages:
    """Images decoded on demand: shape (n, 3, crop, crop), uint8.

    Attributes:
        paths: the image files, in the split's order.
        resize: the shorter side after resizing.
        crop: the side of the centre crop.
    """

    paths: tuple[Path, ...]
    resize: int
    crop: int

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), 3, self.crop, self.crop)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.uint8)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: Any) -> Any:
        """One image (int): uint8 (3, crop, crop); a slice, a list or an integer array: the
        images it selects, still undecoded."""
        if isinstance(index, int | np.integer):
            return load_image(self.paths[int(index)], self.resize, self.crop)
        if isinstance(index, slice):
            return FolderImages(self.paths[index], self.resize, self.crop)
        rows = np.asarray(index)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return FolderImages(tuple(self.paths[int(i)] for i in rows.reshape(-1)), self.resize,
                            self.crop)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.shape, dtype=np.uint8)
        for i, path in enumerate(self.paths):
            out[i] = load_image(path, self.resize, self.crop)
        return out if dtype is None else out.astype(dtype)

    def digest(self, root: Path) -> bytes:
        """What the fingerprint hashes: relative paths, file sizes and the preprocessing."""
        h = hashlib.sha256(f"resize={self.resize};crop={self.crop}\n".encode())
        for path in self.paths:
            name = path.relative_to(root) if path.is_relative_to(root) else path
            h.update(f"{name.as_posix()}:{path.stat().st_size}\n".encode())
        return h.digest()


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in EXTENSIONS)


def scan_split(folder: Path, classes: Sequence[str]) -> tuple[list[Path], np.ndarray]:
    """The image files of one split folder and their labels (index in ``classes``), class by
    class in sorted order. InputError for a class folder not among ``classes``."""
    paths: list[Path] = []
    labels: list[int] = []
    index = {name: i for i, name in enumerate(classes)}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in index:
            raise InputError(f"{sub} is a class folder with no training folder of the same name "
                             f"({folder.parent / 'train'}); every class needs one.")
        files = _images_in(sub)
        paths += files
        labels += [index[sub.name]] * len(files)
    return paths, np.asarray(labels, dtype=np.int64)


def load_image_folder(root: Path | str | None, *, name: str, num_classes: int, resize: int = 256,
                      crop: int = 224) -> Splits:
    """The train and validation splits of a class-folder tree at ``root`` (this module's
    docstring), streamed.

    Raises:
        InputError: no root, no ``train/`` or ``val/`` folder, more class folders than
            ``num_classes``, or a split without images; the message says what to put where.
    """
    if root is None:
        raise InputError(f"{name} is a class-folder dataset: pass --data-root DIR, the folder "
                         "holding train/<class>/*.JPEG and val/<class>/*.JPEG (nothing is "
                         "downloaded).")
    root = Path(root).expanduser()
    train_dir = root / "train"
    test_dir = next((root / s for s in ("val", "test") if (root / s).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        found = (", ".join(sorted(p.name for p in root.iterdir())) or "nothing"
                 if root.is_dir() else "no such folder")
        raise InputError(f"{root} needs train/ and val/ folders, each with one folder of images "
                         f"per class (found: {found}).")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not 1 <= len(classes) <= num_classes:
        raise InputError(f"{train_dir} holds {len(classes)} class folders; {name} has "
                         f"{num_classes} classes (1 to {num_classes} folders are accepted).")
    splits = []
    for split, folder in (("train", train_dir), ("test", test_dir)):
        paths, labels = scan_split(folder, classes)
        if not paths:
            raise InputError(f"{folder} holds no images ({', '.join(EXTENSIONS)}) in its class "
                             "folders.")
        images = FolderImages(tuple(paths), resize, crop)
        splits.append(Dataset(name, split, images, labels, SOURCE, str(root)))
    return Splits(splits[0], splits[1])

