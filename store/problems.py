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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .db import Database


def normalize_problem_text(text: str) -> str:
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def problem_hash(text: str, domain: str = "math") -> bytes:
    key = f"{domain}\x00{normalize_problem_text(text)}".encode()
    return hashlib.blake2b(key, digest_size=16).digest()


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
    scheme: str = "emh"
    unlabelled: bool = False
    correct: bool | None = None  # any diagnose attempt correct / none correct
    has_attempt: bool | None = None
    has_cot: bool | None = None
    text: str = ""
    ids: tuple[int, ...] = field(default=())

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
        if self.text:
            clauses.append("p.problem LIKE ? ESCAPE '\\'")
            escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
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


_INSERT_SQL = (
    "INSERT OR IGNORE INTO problems (hash, source, split, domain, problem, answer, solution,"
    " level, subject, metadata, import_id, source_row) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)


class Problems:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert_rows(self, rows: Sequence[tuple], conn: sqlite3.Connection) -> int:
        """Insert prepared rows (hash first, see `_INSERT_SQL`) inside the caller's transaction.

        Returns how many were new. The importer calls this in chunks so that reading the file
        and inserting overlap without holding every row in memory.
        """
        before = conn.total_changes
        conn.executemany(_INSERT_SQL, rows)
        return conn.total_changes - before

    @staticmethod
    def prepare(p: NewProblem, import_id: int | None) -> tuple:
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
            added = self.insert_rows(rows, conn)
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

    def get(self, problem_id: int) -> Problem | None:
        row = self.db.query_one("SELECT * FROM problems WHERE id = ?", (problem_id,))
        return Problem.from_row(row) if row else None

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

    def count(self, flt: ProblemFilter | None = None) -> int:
        """How many problems match. A filter on labels (with source/domain) is answered from
        the maintained `label_counts` (a handful of rows) instead of a scan of every problem."""
        flt = flt or ProblemFilter()
        fast = self._count_by_label(flt)
        if fast is not None:
            return fast
        where, params = flt.where()
        return int(self.db.scalar(f"SELECT COUNT(*) FROM problems p WHERE {where}", params) or 0)

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
    ) -> list[ProblemRow]:
        """Keyset paging by id: constant cost at any depth of a million-row table."""
        flt = flt or ProblemFilter()
        where, params = flt.where()
        if before_id is not None:
            order, bound = "DESC", "p.id < ?"
            params = [*params, before_id]
        else:
            order, bound = "ASC", "p.id > ?"
            params = [*params, after_id]
        rows = self.db.query(
            f"""
            SELECT p.id, p.source, p.split, p.domain, p.problem, p.answer,
                   l.label, l.source AS label_source,
                   (SELECT COUNT(*) FROM attempts a WHERE a.problem_id = p.id) AS attempts,
                   (SELECT COUNT(*) FROM attempts a WHERE a.problem_id = p.id AND a.correct = 1)
                       AS correct,
                   (SELECT COUNT(*) FROM cots c WHERE c.problem_id = p.id) AS cots
            FROM problems p
            LEFT JOIN labels l ON l.problem_id = p.id AND l.scheme = ?
            WHERE {where} AND {bound}
            ORDER BY p.id {order}
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
