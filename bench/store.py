"""Certification and attack records <-> SQLite, one transaction per finished image.

Every record is keyed by (run hash, dataset fingerprint, image index, seed), where the run hash
covers the defense config, the model's weights and the certify config, so rerunning a command skips
what is done, never duplicates, and never mixes results of different configs or models.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from bench.errors import InputError

__all__ = ["AttackRecord", "CertifyRecord", "ResultStore"]


@dataclass(frozen=True)
class CertifyRecord:
    """One certified image. ``radius`` is -1 when the certified class is wrong or CERTIFY abstains
    (the paper's "misclassified"); ``prediction``/``abstained`` are PREDICT on the N estimation
    votes (Cohen et al.'s two-sided test)."""

    run_hash: str
    defense: str
    model_id: str
    dataset: str
    data_source: str
    data_fingerprint: str
    image: int
    label: int
    certified_label: int
    radius: int
    p_lower: float
    selection_counts: tuple[int, ...]
    counts: tuple[int, ...]
    prediction: int
    abstained: bool
    pvalue: float
    n0: int
    n: int
    alpha: float
    certificate: str
    seconds: float
    seed: int
    config: str

    @property
    def key(self) -> str:
        return f"{self.run_hash}:{self.data_fingerprint}:{self.image}:{self.seed}"


@dataclass(frozen=True)
class AttackRecord:
    """One attacked image (ALGORITHMS.md §5.3).

    ``best_l0`` is the smallest L0 (pixel positions) found over the restarts: 0 when the clean
    image is already misclassified or abstained (``clean_adversarial``), +inf when no restart found
    an adversarial. ``confirmed`` is the independent fresh re-check of that best adversarial (None
    when there is none); ``best_confirmed_l0`` is the smallest L0 among confirmed restarts.
    ``restart_l0`` and ``restart_confirmed`` hold every restart. ``adversarial`` is the best
    adversarial as float32 bytes of shape ``adversarial_shape`` (empty when there is none), so it
    can be re-checked later. ``n`` is 0 and ``mask_policy`` "none" for a deterministic defense.
    """

    run_hash: str
    defense: str
    attack: str
    model_id: str
    dataset: str
    data_source: str
    data_fingerprint: str
    image: int
    label: int
    clean_prediction: int
    clean_adversarial: bool
    restarts: int
    best_l0: float
    confirmed: bool | None
    best_confirmed_l0: float
    restart_l0: tuple[float, ...]
    restart_confirmed: tuple[bool | None, ...]
    queries: int
    forward_passes: int
    seconds: float
    seed: int
    n: int
    alpha: float
    mask_policy: str
    config: str
    adversarial: bytes
    adversarial_shape: tuple[int, ...]

    @property
    def key(self) -> str:
        return f"{self.run_hash}:{self.data_fingerprint}:{self.image}:{self.seed}"


_COLUMNS = [f.name for f in fields(CertifyRecord)]
_ATTACK_COLUMNS = [f.name for f in fields(AttackRecord)]
_JSON = ("selection_counts", "counts", "restart_l0", "restart_confirmed", "adversarial_shape")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS certify (
    key TEXT PRIMARY KEY,
    {", ".join(_COLUMNS)},
    created REAL
);
CREATE INDEX IF NOT EXISTS certify_run ON certify (run_hash, data_fingerprint, seed);
CREATE TABLE IF NOT EXISTS attack (
    key TEXT PRIMARY KEY,
    {", ".join(_ATTACK_COLUMNS)},
    created REAL
);
CREATE INDEX IF NOT EXISTS attack_run ON attack (run_hash, data_fingerprint, seed);
CREATE TABLE IF NOT EXISTS failure (
    run_hash TEXT, data_fingerprint TEXT, image INTEGER, seed INTEGER, error TEXT, created REAL
);
"""
_TABLES: dict[type, tuple[str, list[str]]] = {
    CertifyRecord: ("certify", _COLUMNS),
    AttackRecord: ("attack", _ATTACK_COLUMNS),
}


class ResultStore:
    """The SQLite results database (WAL mode, waits on a busy database)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA busy_timeout=60000")
            self.conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise InputError(
                f"cannot use results database {self.path}: {e}. Pass a writable --results PATH."
            ) from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def done_images(self, run_hash: str, data_fingerprint: str, seed: int,
                    table: str = "certify") -> set[int]:
        """Images of a run already stored in ``table`` ("certify" or "attack")."""
        if table not in ("certify", "attack"):
            raise ValueError(f"unknown table {table!r}")
        rows = self.conn.execute(
            f"SELECT image FROM {table} WHERE run_hash=? AND data_fingerprint=? AND seed=?",
            (run_hash, data_fingerprint, seed),
        )
        return {int(r[0]) for r in rows}

    def add(self, record: CertifyRecord | AttackRecord) -> bool:
        """Commit one record in its own transaction; False if its key was already stored."""
        table, columns = _TABLES[type(record)]
        values = asdict(record)
        for name in _JSON:
            if name in values:
                values[name] = json.dumps(list(values[name]))
        names = ["key", *columns, "created"]
        row = [record.key, *(values[c] for c in columns), time.time()]
        with self.conn:  # one transaction
            cur = self.conn.execute(
                f"INSERT OR IGNORE INTO {table} ({', '.join(names)}) "
                f"VALUES ({', '.join('?' * len(names))})",
                row,
            )
        return cur.rowcount == 1

    def add_failure(self, run_hash: str, data_fingerprint: str, image: int, seed: int,
                    error: str) -> None:
        """Note that an image failed (it stays undone, so a rerun tries it again)."""
        with self.conn:
            self.conn.execute("INSERT INTO failure VALUES (?, ?, ?, ?, ?, ?)",
                              (run_hash, data_fingerprint, image, seed, error, time.time()))

    def records(
        self,
        run_hash: str | None = None,
        data_fingerprint: str | None = None,
        seed: int | None = None,
        images: Iterable[int] | None = None,
    ) -> list[CertifyRecord]:
        """Stored certification records, filtered, ordered by image."""
        return [_from_row(CertifyRecord, row)
                for row in self._rows("certify", _COLUMNS, run_hash, data_fingerprint, seed,
                                      images)]

    def attack_records(
        self,
        run_hash: str | None = None,
        data_fingerprint: str | None = None,
        seed: int | None = None,
        images: Iterable[int] | None = None,
    ) -> list[AttackRecord]:
        """Stored attack records, filtered, ordered by image."""
        return [_from_row(AttackRecord, row)
                for row in self._rows("attack", _ATTACK_COLUMNS, run_hash, data_fingerprint,
                                      seed, images)]

    def _rows(self, table: str, columns: list[str], run_hash: str | None,
              data_fingerprint: str | None, seed: int | None,
              images: Iterable[int] | None) -> list[tuple[Any, ...]]:
        where, params = [], []
        for column, value in (("run_hash", run_hash), ("data_fingerprint", data_fingerprint),
                              ("seed", seed)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        sql = f"SELECT {', '.join(columns)} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        wanted = set(images) if images is not None else None
        image_at = columns.index("image")
        return [tuple(row) for row in self.conn.execute(sql + " ORDER BY image, run_hash", params)
                if wanted is None or row[image_at] in wanted]


_BOOLS = ("abstained", "clean_adversarial", "confirmed")


def _from_row(kind: type[Any], row: tuple[Any, ...]) -> Any:
    names = [f.name for f in fields(kind)]
    values = dict(zip(names, row, strict=True))
    for name in _JSON:
        if name in values:
            values[name] = tuple(json.loads(values[name]))
    for name in _BOOLS:
        if name in values and values[name] is not None:
            values[name] = bool(values[name])
    if "adversarial" in values:
        values["adversarial"] = bytes(values["adversarial"])
    return kind(**values)
