"""PURE: a table of strings and its two renderings, markdown and CSV. No I/O."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

__all__ = ["Table"]


@dataclass(frozen=True)
class Table:
    """Rows of already formatted cells under a header.

    Attributes:
        columns: the header.
        rows: one tuple of cells per row, as long as ``columns``.
        align: per column, "l" (left) or "r" (right) in markdown; all left when empty.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: str = ""

    def __post_init__(self) -> None:
        if any(len(row) != len(self.columns) for row in self.rows):
            raise ValueError("every row needs one cell per column")
        if self.align and len(self.align) != len(self.columns):
            raise ValueError("align needs one letter per column")

    def markdown(self) -> str:
        """A GitHub markdown table."""
        rule = ["---:" if a == "r" else "---" for a in (self.align or "l" * len(self.columns))]
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "|".join(rule) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)

    def csv(self) -> str:
        """The same cells as CSV (header first, "\\n" line ends)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()
