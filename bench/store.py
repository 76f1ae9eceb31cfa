"""Certification records <-> SQLite, one transaction per finished image.

Every record is keyed by (run hash, dataset fingerprint, image index, seed), where the run hash
covers the defense config, the model's weights and the certify config, so rerunning a command skips
what is done, never duplicates, and never mixes results of different configs or models.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from bench.errors import InputError

__all__ = ["CertifyRecord", "ResultStore"]


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


_COLUMNS = [f.name for f in fields(CertifyRecord)]
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS certify (
    key TEXT PRIMARY KEY,
    {", ".join(_COLUMNS)},
    created REAL
);
CREATE INDEX IF NOT EXISTS certify_run ON certify (run_hash, data_fingerprint, seed);
"""


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

    def done_images(self, run_hash: str, data_fingerprint: str, seed: int) -> set[int]:
        rows = self.conn.execute(
            "SELECT image FROM certify WHERE run_hash=? AND data_fingerprint=? AND seed=?",
            (run_hash, data_fingerprint, seed),
        )
        return {int(r[0]) for r in rows}

    def add(self, record: CertifyRecord) -> bool:
        """Commit one record in its own transaction; False if its key was already stored."""
        values = asdict(record)
        values["selection_counts"] = json.dumps(list(record.selection_counts))
        values["counts"] = json.dumps(list(record.counts))
        values["abstained"] = int(record.abstained)
        names = ["key", *_COLUMNS, "created"]
        row = [record.key, *(values[c] for c in _COLUMNS), time.time()]
        with self.conn:  # one transaction
            cur = self.conn.execute(
                f"INSERT OR IGNORE INTO certify ({', '.join(names)}) "
                f"VALUES ({', '.join('?' * len(names))})",
                row,
            )
        return cur.rowcount == 1

    def records(
        self,
        run_hash: str | None = None,
        data_fingerprint: str | None = None,
        seed: int | None = None,
        images: Iterable[int] | None = None,
    ) -> list[CertifyRecord]:
        """Stored records, filtered, ordered by image."""
        where, params = [], []
        for column, value in (("run_hash", run_hash), ("data_fingerprint", data_fingerprint),
                              ("seed", seed)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM certify"
        if where:
            sql += " WHERE " + " AND ".join(where)
        wanted = set(images) if images is not None else None
        out = []
        for row in self.conn.execute(sql + " ORDER BY image, run_hash", params):
            rec = _from_row(row)
            if wanted is None or rec.image in wanted:
                out.append(rec)
        return out


def _from_row(row: Iterator[Any] | tuple[Any, ...]) -> CertifyRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["selection_counts"] = tuple(json.loads(values["selection_counts"]))
    values["counts"] = tuple(json.loads(values["counts"]))
    values["abstained"] = bool(values["abstained"])
    return CertifyRecord(**values)
