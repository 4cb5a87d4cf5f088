"""The sampling pool at scale: label counts, pool ids and the stored decontamination result.

Counts come from `label_counts` (kept exact by triggers, migration 7) and from the small
sets of held conflicts and benchmark overlaps, never from a scan of every problem. Ids come
out of the `labels_pool` index already sorted, as numpy arrays, so drawing K from a million
is an index walk plus array arithmetic. The decontamination result of a benchmark set is
stored once (`decontam_sets`, `decontam_hits`); `checked_through` says how far it reaches.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .db import Database, utcnow

if TYPE_CHECKING:  # numpy is imported where ids are read, not by every `acotd` start-up
    import numpy as np

# (label, held) -> count; held = 1 for an unresolved judge/check conflict.
LevelCounts = dict[tuple[str, int], int]


@dataclass(frozen=True, slots=True)
class PoolScope:
    """Which labelled problems a plan draws from (sampling's `sources` / `domain` filters)."""

    scheme: str
    labels: tuple[str, ...]
    sources: tuple[str, ...] = ()
    domain: str | None = None

    def where(self, alias: str) -> tuple[str, list[str]]:
        """Source/domain conditions on a table carrying source and domain columns."""
        clauses: list[str] = []
        params: list[str] = []
        if self.sources:
            clauses.append(f"{alias}.source IN ({','.join('?' * len(self.sources))})")
            params += list(self.sources)
        if self.domain:
            clauses.append(f"{alias}.domain = ?")
            params.append(self.domain)
        return "".join(f" AND {c}" for c in clauses), params

    @property
    def filtered(self) -> bool:
        return bool(self.sources or self.domain)


@dataclass(frozen=True, slots=True)
class DecontamSet:
    fingerprint: str
    ngram: int
    benchmarks: tuple[str, ...]
    checked_through: int


def _ids(conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> np.ndarray:
    """The `id` column of `sql` as a sorted int64 array. SQLite joins the ids into one string
    and numpy parses it, both in C: three times faster than a million Python row tuples."""
    import numpy as np

    row = conn.execute(f"SELECT group_concat(id, ',') FROM ({sql})", tuple(params)).fetchone()
    if not row[0]:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.fromstring(row[0], dtype=np.int64, sep=","))


class Pool:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- counts ------------------------------------------------------------------------------
    def counts(self, scope: PoolScope) -> LevelCounts:
        where, params = scope.where("c")
        marks = ",".join("?" * len(scope.labels))
        rows = self.db.query(
            "SELECT c.label, c.held, SUM(c.n) FROM label_counts c"
            f" WHERE c.scheme = ? AND c.label IN ({marks}){where} GROUP BY c.label, c.held",
            (scope.scheme, *scope.labels, *params),
        )
        return {(r[0], int(r[1])): int(r[2]) for r in rows if r[2]}

    def contaminated_counts(self, scope: PoolScope, fingerprint: str) -> LevelCounts:
        """Labelled problems of the scope that overlap the benchmark set, by (label, held):
        from `decontam_counts`, which triggers keep exact (migration 7)."""
        where, params = scope.where("c")
        marks = ",".join("?" * len(scope.labels))
        rows = self.db.query(
            "SELECT c.label, c.held, SUM(c.n) FROM decontam_counts c"
            f" WHERE c.fingerprint = ? AND c.scheme = ? AND c.label IN ({marks}){where}"
            " GROUP BY c.label, c.held",
            (fingerprint, scope.scheme, *scope.labels, *params),
        )
        return {(r[0], int(r[1])): int(r[2]) for r in rows if r[2]}

    # -- ids ---------------------------------------------------------------------------------
    def label_ids(self, scope: PoolScope, label: str, drop: np.ndarray | None = None) -> np.ndarray:
        """Sorted ids of the scope's problems with `label`, less those in `drop`."""
        where, params = scope.where("p")
        with self.db.lock:
            if scope.filtered:
                ids = _ids(
                    self.db.conn,
                    "SELECT l.problem_id AS id FROM labels l JOIN problems p ON p.id = l.problem_id"
                    f" WHERE l.scheme = ? AND l.label = ?{where}",
                    (scope.scheme, label, *params),
                )
            else:
                ids = _ids(
                    self.db.conn,
                    "SELECT problem_id AS id FROM labels INDEXED BY labels_pool"
                    " WHERE scheme = ? AND label = ?",
                    (scope.scheme, label),
                )
        if drop is not None and len(drop):
            import numpy as np

            ids = ids[~np.isin(ids, drop, assume_unique=True)]
        return ids

    def held_ids(self, scheme: str) -> np.ndarray:
        """Problems whose unresolved judge/check conflict keeps them out of sampling."""
        with self.db.lock:
            return _ids(
                self.db.conn,
                "SELECT problem_id AS id FROM labels INDEXED BY labels_conflict"
                " WHERE scheme = ? AND conflict = 1 AND human_label IS NULL",
                (scheme,),
            )

    def hit_array(self, fingerprint: str) -> np.ndarray:
        """Problems that overlap the benchmark set (sorted)."""
        with self.db.lock:
            return _ids(
                self.db.conn,
                "SELECT problem_id AS id FROM decontam_hits WHERE fingerprint = ?",
                (fingerprint,),
            )

    # -- decontamination ---------------------------------------------------------------------
    def decontam_set(self, fingerprint: str) -> DecontamSet | None:
        row = self.db.query_one("SELECT * FROM decontam_sets WHERE fingerprint = ?", (fingerprint,))
        if row is None:
            return None
        return DecontamSet(
            row["fingerprint"],
            row["ngram"],
            tuple(json.loads(row["benchmarks"])),
            row["checked_through"],
        )

    def decontam_sets(self) -> list[DecontamSet]:
        rows = self.db.query("SELECT fingerprint FROM decontam_sets ORDER BY updated_at DESC")
        return [s for r in rows if (s := self.decontam_set(r[0])) is not None]

    def register_decontam_set(
        self, fingerprint: str, ngram: int, benchmarks: Sequence[str]
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO decontam_sets (fingerprint, ngram, benchmarks,"
                " checked_through, updated_at) VALUES (?,?,?,0,?)",
                (fingerprint, ngram, json.dumps(list(benchmarks)), utcnow()),
            )

    def max_problem_id(self) -> int:
        return int(self.db.scalar("SELECT MAX(id) FROM problems") or 0)

    def problems_after(self, after_id: int, chunk: int = 5000) -> Iterator[list[tuple[int, str]]]:
        """(id, text) of problems with id > after_id, in id order, a chunk at a time."""
        last = after_id
        while True:
            with self.db.lock:
                cur = self.db.conn.cursor()
                cur.row_factory = None
                rows = cur.execute(
                    "SELECT id, problem FROM problems WHERE id > ? ORDER BY id LIMIT ?",
                    (last, chunk),
                ).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def record_checked(self, fingerprint: str, hits: Sequence[int], checked_through: int) -> None:
        """Store one checked chunk: its overlaps, and how far the check now reaches."""
        with self.db.tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO decontam_hits (fingerprint, problem_id) VALUES (?, ?)",
                [(fingerprint, pid) for pid in hits],
            )
            conn.execute(
                "UPDATE decontam_sets SET checked_through = MAX(checked_through, ?),"
                " updated_at = ? WHERE fingerprint = ?",
                (checked_through, utcnow(), fingerprint),
            )

    def hit_count(self, fingerprint: str) -> int:
        return int(
            self.db.scalar(
                "SELECT COUNT(*) FROM decontam_hits WHERE fingerprint = ?", (fingerprint,)
            )
            or 0
        )

    def hit_ids(self, fingerprint: str) -> list[int]:
        return [
            r[0]
            for r in self.db.query(
                "SELECT problem_id FROM decontam_hits WHERE fingerprint = ? ORDER BY problem_id",
                (fingerprint,),
            )
        ]
