"""CIFAR-10 from the standard python-pickle batches (``cifar-10-python.tar.gz``, extracted).

Where the batches come from, in order: an explicit root (``--data-root DIR``, or
``BENCH_CIFAR10_ROOT``), then the per-user cache ``$XDG_CACHE_HOME/bench/cifar10`` (default
``~/.cache/bench/cifar10``). In either, the files may sit in the folder itself or in its
``cifar-10-batches-py/``. Nothing is downloaded: the error names the folder and the archive.

Every file is read as a pickle of a dict with ``data`` (n, 3072) uint8 (1,024 red, then green,
then blue values per image, rows top to bottom) and ``labels`` (n integers in 0..9). A file that is
missing, truncated or of another shape is an ``InputError`` naming it. Files that parse but whose
md5 is not the original's are other data in CIFAR-10's format (a synthetic test set, a
re-encoding): they are used, recorded as ``data_source = "cifar10-format"``, and the splits'
``notice`` says that results on them are not comparable with published CIFAR-10 numbers.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import Dataset, Splits, default_cache_dir, file_md5
from bench.errors import InputError

__all__ = ["CIFAR10_FILES", "CIFAR10_MEAN", "CIFAR10_SOURCE", "FORMAT_SOURCE", "find_cifar10_dir",
           "load_cifar10", "read_batch", "write_batch"]

CIFAR10_FILES: dict[str, tuple[str, int]] = {
    # name: (md5 of the original file, images in it; 0 for the label names)
    "data_batch_1": ("c99cafc152244af753f735de768cd75f", 10000),
    "data_batch_2": ("d4bba439e000b95fd0a9bffe97cbabec", 10000),
    "data_batch_3": ("54ebc095f3ab1f0389bbae665268c751", 10000),
    "data_batch_4": ("634d18415352ddfa80567beed471001a", 10000),
    "data_batch_5": ("482c414d41f54cd18b22e5b47cb7c3cb", 10000),
    "test_batch": ("40351d587109b95175f43aff81a1287e", 10000),
}
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_SOURCE = "cifar10"
FORMAT_SOURCE = "cifar10-format"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
"""The per-channel mean of CIFAR-10's training images (the mean-NULL fill)."""
ARCHIVE = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def find_cifar10_dir(root: Path) -> Path | None:
    """The folder under ``root`` (itself or ``cifar-10-batches-py/``) holding the six batches."""
    for folder in (root, root / "cifar-10-batches-py"):
        if all((folder / name).is_file() for name in CIFAR10_FILES):
            return folder
    return None


def _entry(batch: dict[Any, Any], key: str) -> Any:
    for k in (key, key.encode()):
        if k in batch:
            return batch[k]
    return None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch: uint8 images (n, 3, 32, 32) and int64 labels (n,).

    Raises InputError naming the file when it cannot be unpickled or holds anything else.
    """
    try:
        with path.open("rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError) as e:
        raise InputError(f"cannot read {path} as a CIFAR-10 batch ({type(e).__name__}: {e}): "
                         "truncated or corrupt. Replace it with an intact copy.") from None
    data = _entry(batch, "data") if isinstance(batch, dict) else None
    labels = _entry(batch, "labels") if isinstance(batch, dict) else None
    if data is None or labels is None:
        raise InputError(f"{path} is not a CIFAR-10 batch (no 'data' and 'labels' entries). "
                         "Replace it with an intact copy.")
    images = np.asarray(data)
    label_array = np.asarray(labels, dtype=np.int64)
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3 * 32 * 32:
        raise InputError(f"{path} holds data of shape {images.shape} and type {images.dtype}, "
                         "expected (n, 3072) uint8. Replace it with an intact copy.")
    if label_array.shape != (len(images),) or not np.all((label_array >= 0) &
                                                          (label_array < 10)):
        raise InputError(f"{path} holds {label_array.size} labels for {len(images)} images, or "
                         "labels outside 0..9. Replace it with an intact copy.")
    return images.reshape(-1, 3, 32, 32), label_array


def write_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (n, 3, 32, 32) uint8 and labels as a batch in CIFAR-10's format (what
    ``read_batch`` reads): for tests and for users converting their own 32x32 colour data."""
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"need uint8 (n, 3, 32, 32) images, got {images.dtype} {images.shape}")
    batch = {b"data": images.reshape(len(images), -1), b"labels": [int(v) for v in labels],
             b"batch_label": path.name.encode()}
    with path.open("wb") as f:
        pickle.dump(batch, f, protocol=2)


def _load_folder(folder: Path) -> Splits:
    arrays = {name: read_batch(folder / name) for name in CIFAR10_FILES}
    original = all(file_md5(folder / name) == md5 for name, (md5, _) in CIFAR10_FILES.items())
    source = CIFAR10_SOURCE if original else FORMAT_SOURCE
    notice = "" if original else (
        f"the batches under {folder} are not the original CIFAR-10 files (their md5 differs): "
        f"results are recorded as data_source={FORMAT_SOURCE} and are NOT comparable with "
        f"published CIFAR-10 numbers. For the real test set extract {ARCHIVE} there.")
    train = Dataset("cifar10", "train",
                    np.concatenate([arrays[name][0] for name in TRAIN_BATCHES]),
                    np.concatenate([arrays[name][1] for name in TRAIN_BATCHES]),
                    source, str(folder))
    test = Dataset("cifar10", "test", arrays["test_batch"][0], arrays["test_batch"][1], source,
                   str(folder))
    return Splits(train, test, notice)


def load_cifar10(data_root: str | Path | None = None, *, cache_dir: Path | None = None) -> Splits:
    """CIFAR-10's 50,000 training and 10,000 test images from the pickled batches (the source
    order is in this module's docstring).

    Raises:
        InputError: no batches where they were looked for (the message says where to put them),
            or a missing, truncated or malformed batch.
    """
    if data_root is None and os.environ.get("BENCH_CIFAR10_ROOT"):
        data_root = os.environ["BENCH_CIFAR10_ROOT"]
    roots = [Path(data_root).expanduser()] if data_root is not None else [
        cache_dir if cache_dir is not None else default_cache_dir("cifar10")]
    for root in roots:
        folder = find_cifar10_dir(root)
        if folder is not None:
            return _load_folder(folder)
    root = roots[0]
    missing = [name for name in CIFAR10_FILES if not (root / name).is_file()
               and not (root / "cifar-10-batches-py" / name).is_file()]
    raise InputError(
        f"no CIFAR-10 batches under {root} (looked in it and in its cifar-10-batches-py/ for "
        f"{', '.join(CIFAR10_FILES)}; missing: {', '.join(missing)}). Nothing is downloaded: "
        f"extract {ARCHIVE} into that folder, or pass --data-root DIR (or set "
        "BENCH_CIFAR10_ROOT) pointing at the folder holding the batches.")
