"""Problems: insert with dedupe by content hash, filter, page and count.

The dedupe key is a 128-bit BLAKE2 digest of the problem text after Unicode NFKC and
whitespace normalisation, so the same problem imported from two files (or twice from one)
is stored once, under the provenance of the first import.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from acotd_tui.domain import SchemeName

from .db import Database, NotFound, StoreError


def normalize_problem_text(text: str) -> str:
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def problem_hash(text: str, domain: str = "math") -> bytes:
    key = f"{domain}\x00{normalize_problem_text(text)}".encode()
    return hashlib.blake2b(key, digest_size=16).digest()


def search_query(text: str) -> str | None:
    """The user's search text as an FTS5 query for `problems_fts`; None if it has no words.

    Rules (the README's "Search" lines say the same):
    - every whitespace-separated word must occur, in any order (AND);
    - a word matches whole words; `word*` (a star at its end) matches words that start
      with it. Whole words are the default because a prefix is expanded to every indexed
      word it begins before the first match comes back: `t*` at a million problems takes
      ~200 ms a query, a whole word ~1 ms however common (bench/RESULTS.md);
    - letters and digits only: a word like `x^2` or `f(x)` is the phrase of its tokens
      (`x 2`), and case and diacritics are ignored.

    Each word becomes an FTS5 string (`"..."` with `"` doubled), so nothing the user types
    is FTS5 syntax: `"`, `NEAR(`, `-`, `:`, `AND`, `^` are plain text, and `*` means a
    prefix only at a word's end. Words without a letter or digit cannot be in the index and
    are left out; text with no word at all returns None (the filter then matches nothing).
    """
    phrases = []
    for word in text.replace("\x00", " ").split():
        core = word.rstrip("*")
        if any(ch.isalnum() for ch in core):
            phrases.append('"' + core.replace('"', '""') + '"' + ("*" if core != word else ""))
    return " ".join(phrases) or None


class QueryCancelled(StoreError):
    """A read was abandoned because its caller no longer wants the answer (a stale search)."""


# json.dumps builds a new encoder per call when given options; this is called per row.
_encode_json = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class NewProblem:
    problem: str
    answer: str
    source: str
    split: str = ""
    domain: str = "math"
    solution: str | None = None
    level: str | None = None
    subject: str | None = None
    metadata: dict[str, Any] | None = None
    source_row: int | None = None
    tests: Any = None  # CodeTests for code problems (stored in problem_tests)


@dataclass(frozen=True, slots=True)
class Problem:
    id: int
    source: str
    split: str
    domain: str
    problem: str
    answer: str
    solution: str | None
    level: str | None
    subject: str | None
    metadata: dict[str, Any]
    import_id: int | None
    source_row: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Problem:
        return cls(
            id=row["id"],
            source=row["source"],
            split=row["split"],
            domain=row["domain"],
            problem=row["problem"],
            answer=row["answer"],
            solution=row["solution"],
            level=row["level"],
            subject=row["subject"],
            metadata=json.loads(row["metadata"]) if row["metadata"] else {},
            import_id=row["import_id"],
            source_row=row["source_row"],
        )


@dataclass(frozen=True)
class ProblemFilter:
    """What the Problems screen and the stage commands select on. Empty fields match all."""

    sources: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    domain: str | None = None
    labels: tuple[str, ...] = ()
    scheme: str = SchemeName.EMH
    unlabelled: bool = False
    correct: bool | None = None  # any diagnose attempt correct / none correct
    has_attempt: bool | None = None
    has_cot: bool | None = None
    text: str = ""  # search text, see `search_query`
    ids: tuple[int, ...] = field(default=())

    @property
    def match(self) -> str | None:
        """The FTS5 query for `text`, or None when the text has no word to look up."""
        return search_query(self.text)

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.sources:
            clauses.append(f"p.source IN ({','.join('?' * len(self.sources))})")
            params += self.sources
        if self.splits:
            clauses.append(f"p.split IN ({','.join('?' * len(self.splits))})")
            params += self.splits
        if self.domain:
            clauses.append("p.domain = ?")
            params.append(self.domain)
        if self.labels:
            clauses.append(
                "EXISTS (SELECT 1 FROM labels l WHERE l.problem_id = p.id AND l.scheme = ?"
                f" AND l.label IN ({','.join('?' * len(self.labels))}))"
            )
            params += [self.scheme, *self.labels]
        if self.unlabelled:
            clauses.append(
                "NOT EXISTS (SELECT 1 FROM labels l WHERE l.problem_id = p.id AND l.scheme = ?"
                " AND l.label IS NOT NULL)"
            )
            params.append(self.scheme)
        if self.has_attempt is not None:
            clauses.append(
                ("" if self.has_attempt else "NOT ")
                + "EXISTS (SELECT 1 FROM attempts a WHERE a.problem_id = p.id)"
            )
        if self.correct is not None:
            clauses.append(
                ("" if self.correct else "NOT ")
                + "EXISTS (SELECT 1 FROM attempts a WHERE a.problem_id = p.id AND a.correct = 1)"
            )
            if not self.correct:
                clauses.append("EXISTS (SELECT 1 FROM attempts a WHERE a.problem_id = p.id)")
        if self.has_cot is not None:
            clauses.append(
                ("" if self.has_cot else "NOT ")
                + "EXISTS (SELECT 1 FROM cots c WHERE c.problem_id = p.id)"
            )
        match = self.match
        if match is not None:
            clauses.append("p.id IN (SELECT rowid FROM problems_fts WHERE problems_fts MATCH ?)")
            params.append(match)
        elif self.text.strip():
            clauses.append("0")  # only punctuation (`$`, `"`): no word the index could hold
        if self.ids:
            clauses.append(f"p.id IN ({','.join('?' * len(self.ids))})")
            params += self.ids
        return (" AND ".join(clauses) or "1"), params


@dataclass(frozen=True, slots=True)
class ProblemRow:
    """One line of the Problems table: the problem plus its derived status."""

    id: int
    source: str
    split: str
    domain: str
    problem: str
    answer: str
    label: str | None
    label_source: str | None
    attempts: int
    correct: int
    cots: int


@dataclass(frozen=True, slots=True)
class InsertResult:
    added: int
    duplicates: int


# A search selects from the full-text index joined to its problems (see `_selection`).
_SEARCHED = "problems_fts f JOIN problems p ON p.id = f.rowid"
_MATCH = "f.problems_fts MATCH ?"

_INSERT_SQL = (
    "INSERT OR IGNORE INTO problems (hash, source, split, domain, problem, answer, solution,"
    " level, subject, metadata, import_id, source_row) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)


class Problems:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert_rows(self, conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert prepared rows (hash first, see `_INSERT_SQL`) inside the caller's transaction.

        Returns how many were new. The importer calls this in chunks so that reading the file
        and inserting overlap without holding every row in memory.
        """
        # New ids are above the largest so far (INTEGER PRIMARY KEY, no deletes in between):
        # they are indexed for search in one statement after the insert, with the per-row
        # trigger held off meanwhile (migration m010 says why).
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_bulk'").fetchone():
            return conn.executemany(_INSERT_SQL, rows).rowcount  # a schema before m010
        after_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM problems").fetchone()[0]
        conn.execute("INSERT INTO search_bulk (after_id) VALUES (?)", (after_id,))
        try:
            # rowcount counts the rows this statement inserted (total_changes would also
            # count index writes).
            return conn.executemany(_INSERT_SQL, rows).rowcount
        finally:
            if conn.in_transaction:  # else SQLite already rolled everything back
                conn.execute(
                    "INSERT INTO problems_fts (rowid, problem)"
                    " SELECT id, problem FROM problems WHERE id > ?",
                    (after_id,),
                )
                conn.execute("DELETE FROM search_bulk")

    @staticmethod
    def prepare(p: NewProblem, import_id: int | None) -> tuple[Any, ...]:
        return (
            problem_hash(p.problem, p.domain),
            p.source,
            p.split,
            p.domain,
            p.problem,
            p.answer,
            p.solution,
            p.level,
            p.subject,
            _encode_json(p.metadata) if p.metadata else None,
            import_id,
            p.source_row,
        )

    def add(self, problems: Iterable[NewProblem], import_id: int | None = None) -> InsertResult:
        rows = [self.prepare(p, import_id) for p in problems]
        with self.db.tx() as conn:
            added = self.insert_rows(conn, rows)
        return InsertResult(added=added, duplicates=len(rows) - added)

    @staticmethod
    def ids_for_hashes(conn: sqlite3.Connection, hashes: Sequence[bytes]) -> dict[bytes, int]:
        out: dict[bytes, int] = {}
        for start in range(0, len(hashes), 500):
            chunk = list(hashes[start : start + 500])
            rows = conn.execute(
                f"SELECT hash, id FROM problems WHERE hash IN ({','.join('?' * len(chunk))})", chunk
            )
            out.update({bytes(h): i for h, i in rows})
        return out

    @staticmethod
    def kept_rows(
        conn: sqlite3.Connection, hashes: Sequence[bytes]
    ) -> dict[bytes, tuple[str, int | None, int | None]]:
        """hash -> (answer, import_id, source_row) of the stored problem: the import compares a
        duplicate row's answer with the one kept."""
        out: dict[bytes, tuple[str, int | None, int | None]] = {}
        for start in range(0, len(hashes), 500):
            chunk = list(hashes[start : start + 500])
            rows = conn.execute(
                "SELECT hash, answer, import_id, source_row FROM problems"
                f" WHERE hash IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            out.update({bytes(h): (a, i, r) for h, a, i, r in rows})
        return out

    def find(self, problem_id: int) -> Problem | None:
        row = self.db.query_one("SELECT * FROM problems WHERE id = ?", (problem_id,))
        return Problem.from_row(row) if row else None

    def get(self, problem_id: int) -> Problem:
        found = self.find(problem_id)
        if found is None:
            raise NotFound(f"no problem {problem_id}")
        return found

    def get_many(self, ids: Sequence[int]) -> list[Problem]:
        out: list[Problem] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.db.query(
                f"SELECT * FROM problems WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk)
            )
            out += [Problem.from_row(r) for r in rows]
        order = {pid: i for i, pid in enumerate(ids)}
        return sorted(out, key=lambda p: order[p.id])

    def id_by_hash(self, text: str, domain: str = "math") -> int | None:
        value = self.db.scalar(
            "SELECT id FROM problems WHERE hash = ?", (problem_hash(text, domain),)
        )
        return int(value) if value is not None else None

    def count(
        self, flt: ProblemFilter | None = None, *, cancelled: Callable[[], bool] | None = None
    ) -> int:
        """How many problems match. A filter on labels (with source/domain) is answered from
        the maintained `label_counts` (a handful of rows) instead of a scan of every problem;
        a search counts the full-text index's matches.

        `cancelled` is polled while SQLite works: once it returns True the count stops and
        raises `QueryCancelled` (the Problems screen drops the count of a superseded search
        instead of holding the shared connection for it).
        """
        flt = flt or ProblemFilter()
        fast = self._count_by_label(flt)
        if fast is not None:
            return fast
        source, where, params, _ = self._selection(flt)
        with self._abandon_when(cancelled):
            if source == _SEARCHED and where == _MATCH + " AND 1":
                # The index alone: no lookup of a million problem rows for a common word.
                sql = f"SELECT COUNT(*) FROM problems_fts f WHERE {_MATCH}"
            else:
                sql = f"SELECT COUNT(*) FROM {source} WHERE {where}"
            return int(self.db.scalar(sql, params) or 0)

    @staticmethod
    def _selection(flt: ProblemFilter) -> tuple[str, str, list[Any], str]:
        """FROM, WHERE, parameters and the id column for the problems `flt` selects.

        A search is driven from the full-text index (its matches come in rowid = problem id
        order, so keyset paging reads only one page of them); anything else scans by id.
        """
        match = flt.match
        if match is None:
            where, params = flt.where()
            return "problems p", where, params, "p.id"
        rest, params = replace(flt, text="").where()
        return _SEARCHED, f"{_MATCH} AND {rest}", [match, *params], "f.rowid"

    @contextmanager
    def _abandon_when(self, cancelled: Callable[[], bool] | None) -> Iterator[None]:
        """Stop the statements run inside when `cancelled()` turns True (QueryCancelled)."""
        if cancelled is None:
            yield
            return
        with self.db.lock:  # the handler is the connection's: only while this caller holds it
            if cancelled():
                raise QueryCancelled("query no longer wanted")
            self.db.conn.set_progress_handler(lambda: int(cancelled()), 10_000)
            try:
                yield
            except sqlite3.OperationalError as exc:
                if cancelled():
                    raise QueryCancelled("query no longer wanted") from exc
                raise
            finally:
                self.db.conn.set_progress_handler(None, 0)

    def _count_by_label(self, flt: ProblemFilter) -> int | None:
        only_levels = not (
            flt.splits
            or flt.correct is not None
            or flt.has_attempt is not None
            or flt.has_cot is not None
            or flt.text
            or flt.ids
        )
        if not only_levels or not (flt.labels or flt.unlabelled) or (flt.labels and flt.unlabelled):
            return None
        clauses, params = ["scheme = ?"], [flt.scheme]
        if flt.sources:
            clauses.append(f"source IN ({','.join('?' * len(flt.sources))})")
            params += flt.sources
        if flt.domain:
            clauses.append("domain = ?")
            params.append(flt.domain)
        if flt.labels:
            clauses.append(f"label IN ({','.join('?' * len(flt.labels))})")
            params += flt.labels
        labelled = int(
            self.db.scalar(f"SELECT SUM(n) FROM label_counts WHERE {' AND '.join(clauses)}", params)
            or 0
        )
        if flt.labels:
            return labelled
        every = ProblemFilter(sources=flt.sources, domain=flt.domain)
        return self.count(every) - labelled

    def hashes(self, flt: ProblemFilter | None = None) -> list[bytes]:
        """Content hashes of the matching problems in id order (a benchmark's version)."""
        where, params = (flt or ProblemFilter()).where()
        return [
            bytes(r[0])
            for r in self.db.query(
                f"SELECT p.hash FROM problems p WHERE {where} ORDER BY p.id", params
            )
        ]

    def ids(self, flt: ProblemFilter | None = None, limit: int | None = None) -> list[int]:
        where, params = (flt or ProblemFilter()).where()
        sql = f"SELECT p.id FROM problems p WHERE {where} ORDER BY p.id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [r[0] for r in self.db.query(sql, params)]

    def page(
        self,
        flt: ProblemFilter | None = None,
        *,
        after_id: int = 0,
        before_id: int | None = None,
        limit: int = 100,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[ProblemRow]:
        """Keyset paging by id: constant cost at any depth of a million-row table.

        A search reads its page from the full-text index in id order and stops after
        `limit` matches. `cancelled` works as in `count`.
        """
        flt = flt or ProblemFilter()
        source, where, params, key = self._selection(flt)
        if before_id is not None:
            order, bound = "DESC", f"{key} < ?"
            params = [*params, before_id]
        else:
            order, bound = "ASC", f"{key} > ?"
            params = [*params, after_id]
        with self._abandon_when(cancelled):
            rows = self.db.query(
                f"""
                SELECT p.id, p.source, p.split, p.domain, p.problem, p.answer,
                       l.label, l.source AS label_source,
                       (SELECT COUNT(*) FROM attempts a WHERE a.problem_id = p.id) AS attempts,
                       (SELECT COUNT(*) FROM attempts a WHERE a.problem_id = p.id
                            AND a.correct = 1) AS correct,
                       (SELECT COUNT(*) FROM cots c WHERE c.problem_id = p.id) AS cots
                FROM {source}
                LEFT JOIN labels l ON l.problem_id = p.id AND l.scheme = ?
                WHERE {where} AND {bound}
                ORDER BY {key} {order}
                LIMIT ?
                """,
                (flt.scheme, *params, limit),
            )
        result = [ProblemRow(**dict(r)) for r in rows]
        if before_id is not None:
            result.reverse()
        return result

    def sources(self) -> list[tuple[str, str, int]]:
        return [
            (r[0], r[1], r[2])
            for r in self.db.query(
                "SELECT source, split, COUNT(*) FROM problems GROUP BY source, split ORDER BY 1, 2"
            )
        ]
