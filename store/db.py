"""Opening the project database with the settings every process must share.

WAL lets the TUI read while a job worker writes; a busy timeout turns short lock waits into
waits instead of errors; foreign keys are per-connection in SQLite and so must be set here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 30_000

# What sqlite3 binds: positional values or named ones.
Params = Sequence[Any] | Mapping[str, Any]


class StoreError(Exception):
    """A store operation failed in a way the user can act on (one line, no traceback)."""


class NotFound(StoreError):
    """`get()` of a row that does not exist. The store's convention: `get(key)` returns the row
    or raises NotFound; `find(key)` returns the row or None; writes take the connection first."""


def utcnow() -> str:
    """Timestamps are ISO-8601 UTC strings: sortable, readable in the sqlite3 shell."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection in autocommit mode; transactions are always explicit (see `Database.tx`)."""
    if readonly:
        uri = f"file:{Path(path).resolve()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"could not switch {path} to WAL mode (got {mode})")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose
    # the last transactions, which a resumed job simply redoes.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -65536")
    return conn


class Database:
    """One connection plus a re-entrant lock, shared by the repositories of one `Store`.

    The TUI reads from worker threads, so the connection is shared across threads and every
    use goes through the lock; separate processes (job workers) open their own `Database`.
    """

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.conn = connect(path, readonly=readonly)
        self.lock = threading.RLock()
        self._depth = 0

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def tx(self, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction; nested uses join the outer one so a whole import stays atomic.

        BEGIN IMMEDIATE takes the write lock up front, so two writers queue on the busy
        timeout instead of failing later with SQLITE_BUSY on lock upgrade.
        """
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                # SQLite rolls back by itself after some errors (SQLITE_FULL, SQLITE_IOERR);
                # a second ROLLBACK would hide the real error behind "no transaction".
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self._depth = 0
                try:
                    self.conn.execute("COMMIT")
                except sqlite3.Error:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None. `Any`: SQLite's column types are dynamic."""
        row = self.query_one(sql, params)
        return None if row is None else row[0]
