"""Certification and attack records <-> SQLite, one transaction per finished image.

Every record is keyed by (run hash, dataset fingerprint, image index, seed), where the run hash
is the hash of the run's identity document (``bench.identity``: the defense config, the model's
weights, the certify or attack config), so rerunning a command skips what is done, never
duplicates, and never mixes results of different configs or models. A database written by an
earlier release is read as it is: columns added since are filled with the values those records
had (``_ADDED_COLUMNS``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from bench.errors import InputError
from defenses.base import L0_PIXELS
from reports.records import AttackRecord, CertifyRecord

__all__ = ["ResultStore", "TableName"]


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
# columns added after the first release, with the value every earlier record has
_ADDED_COLUMNS: dict[str, dict[str, str]] = {
    "certify": {"threat_model": f"TEXT DEFAULT '{L0_PIXELS}'"},
    "attack": {"threat_model": f"TEXT DEFAULT '{L0_PIXELS}'", "found_by": "TEXT DEFAULT ''"},
}
TableName = str  # "certify" or "attack"
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
            self._wal()
            self.conn.execute("PRAGMA busy_timeout=60000")
            # WAL with NORMAL: no fsync per commit (4-5x faster), still never corrupt; a power
            # cut may lose the last records, which a rerun computes again
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
            self._add_columns()
        except (OSError, sqlite3.Error) as e:
            raise InputError(
                f"cannot use results database {self.path}: {e}. Pass a writable --results PATH."
            ) from None

    def _wal(self, wait: float = 60.0) -> None:
        """Switch to WAL mode. Two processes creating one database at once can see "database is
        locked" here without SQLite waiting, so this retries until ``wait`` seconds are up."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _add_columns(self) -> None:
        """Bring a database of an earlier release up to the current columns."""
        for table, added in _ADDED_COLUMNS.items():
            have = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            for name, declaration in added.items():
                if name not in have:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has_run(self, run_hash: str, data_fingerprint: str, seed: int,
                table: TableName = "certify") -> bool:
        """Whether any record of the run is stored in ``table``."""
        if table not in ("certify", "attack"):
            raise ValueError(f"unknown table {table!r}")
        row = self.conn.execute(
            f"SELECT 1 FROM {table} WHERE run_hash=? AND data_fingerprint=? AND seed=? LIMIT 1",
            (run_hash, data_fingerprint, seed)).fetchone()
        return row is not None

    def done_images(self, run_hash: str, data_fingerprint: str, seed: int,
                    table: TableName = "certify") -> set[int]:
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
