"""Provenance of every import: which file (by path and SHA-256), under what source and split."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .db import Database, NotFound, utcnow


@dataclass(frozen=True, slots=True)
class ImportRecord:
    id: int
    path: str
    sha256: str
    source: str
    split: str
    shape: str
    rows_read: int
    rows_added: int
    rows_duplicate: int
    rows_skipped: int
    created_at: str
    summary: str | None = None

    @property
    def details(self) -> dict[str, Any]:
        """The stored import summary (shape, mapping, notes, accounting, skips), or {}."""
        return json.loads(self.summary) if self.summary else {}


class Imports:
    def __init__(self, db: Database) -> None:
        self.db = db

    def begin(
        self,
        conn: sqlite3.Connection,
        *,
        path: str,
        sha256: str,
        source: str,
        split: str,
        shape: str,
    ) -> int:
        """Create the provenance row inside the import's transaction; counts are filled at the end."""
        cur = conn.execute(
            "INSERT INTO imports (path, sha256, source, split, shape, rows_read, rows_added,"
            " rows_duplicate, rows_skipped, created_at) VALUES (?,?,?,?,?,0,0,0,0,?)",
            (path, sha256, source, split, shape, utcnow()),
        )
        return int(cur.lastrowid or 0)

    def finish(
        self,
        conn: sqlite3.Connection,
        import_id: int,
        *,
        shape: str,
        read: int,
        added: int,
        skipped: int,
    ) -> None:
        conn.execute(
            "UPDATE imports SET shape = ?, rows_read = ?, rows_added = ?, rows_duplicate = ?,"
            " rows_skipped = ? WHERE id = ?",
            (shape, read, added, read - added - skipped, skipped, import_id),
        )

    def set_summary(
        self, conn: sqlite3.Connection, import_id: int, summary: dict[str, Any]
    ) -> None:
        conn.execute(
            "UPDATE imports SET summary = ? WHERE id = ?",
            (json.dumps(summary, ensure_ascii=False, default=str), import_id),
        )

    def finish_counts(
        self,
        conn: sqlite3.Connection,
        import_id: int,
        *,
        shape: str,
        read: int,
        added: int,
        duplicates: int,
        skipped: int,
    ) -> None:
        """Like `finish`, for imports whose units are not rows (attempts: several per row)."""
        conn.execute(
            "UPDATE imports SET shape = ?, rows_read = ?, rows_added = ?, rows_duplicate = ?,"
            " rows_skipped = ? WHERE id = ?",
            (shape, read, added, duplicates, skipped, import_id),
        )

    def find(self, import_id: int) -> ImportRecord | None:
        row = self.db.query_one("SELECT * FROM imports WHERE id = ?", (import_id,))
        return ImportRecord(**dict(row)) if row else None

    def get(self, import_id: int) -> ImportRecord:
        found = self.find(import_id)
        if found is None:
            raise NotFound(f"no import {import_id}")
        return found

    def all(self) -> list[ImportRecord]:
        return [ImportRecord(**dict(r)) for r in self.db.query("SELECT * FROM imports ORDER BY id")]
