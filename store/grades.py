"""Grades with full history, and the current label derived from them.

Every grading event (judge, rule, PRM, import, human) is appended to `grades` and never
changed. The `labels` row for a problem is recomputed from that history in the same
transaction: the latest human label wins over anything automatic, forever; clearing a human
label is itself a human event (label NULL) that hands the decision back to the latest
automatic grade. Per-sample grades carry an attempt_id and are detail only; the label comes
from the per-problem (attempt_id NULL) rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from acotd_tui.domain import AUTO_GRADE_SOURCES, SCHEMES, GradeSource, ReviewQueue

from .db import Database, StoreError, utcnow

# Labels per scheme name, easiest first: a view of acotd_tui.domain's Scheme objects.
SCHEME_LABELS: dict[str, tuple[str, ...]] = {str(s.name): s.labels for s in SCHEMES.values()}
AUTO_SOURCES = AUTO_GRADE_SOURCES


@dataclass(frozen=True, slots=True)
class NewGrade:
    problem_id: int
    scheme: str
    label: str | None
    source: str
    attempt_id: int | None = None
    rationale: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    needs_review: bool = False
    conflict: str | None = None
    symbolic_correct: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    job_id: int | None = None


@dataclass(frozen=True, slots=True)
class Grade:
    id: int
    problem_id: int
    attempt_id: int | None
    scheme: str
    label: str | None
    source: GradeSource
    rationale: str | None
    model: str | None
    prompt_version: str | None
    needs_review: bool
    conflict: str | None
    symbolic_correct: bool | None
    detail: dict[str, Any]
    note: str | None
    created_at: str

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Grade:
        return cls(
            id=r["id"],
            problem_id=r["problem_id"],
            attempt_id=r["attempt_id"],
            scheme=r["scheme"],
            label=r["label"],
            source=GradeSource(r["source"]),
            rationale=r["rationale"],
            model=r["model"],
            prompt_version=r["prompt_version"],
            needs_review=bool(r["needs_review"]),
            conflict=r["conflict"],
            symbolic_correct=None if r["symbolic_correct"] is None else bool(r["symbolic_correct"]),
            detail=json.loads(r["detail"]) if r["detail"] else {},
            note=r["note"],
            created_at=r["created_at"],
        )


@dataclass(frozen=True, slots=True)
class Label:
    problem_id: int
    scheme: str
    label: str | None
    source: GradeSource | None
    auto_label: str | None
    auto_source: GradeSource | None
    human_label: str | None
    needs_review: bool
    conflict: bool
    symbolic_correct: bool | None

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Label:
        return cls(
            problem_id=r["problem_id"],
            scheme=r["scheme"],
            label=r["label"],
            source=None if r["source"] is None else GradeSource(r["source"]),
            auto_label=r["auto_label"],
            auto_source=None if r["auto_source"] is None else GradeSource(r["auto_source"]),
            human_label=r["human_label"],
            needs_review=bool(r["needs_review"]),
            conflict=bool(r["conflict"]),
            symbolic_correct=None if r["symbolic_correct"] is None else bool(r["symbolic_correct"]),
        )


_INSERT = (
    "INSERT INTO grades (problem_id, attempt_id, scheme, label, source, rationale, model,"
    " prompt_version, needs_review, conflict, symbolic_correct, detail, note, job_id, created_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def validate(g: NewGrade) -> None:
    allowed = SCHEME_LABELS.get(g.scheme)
    if allowed is None:
        raise StoreError(f"unknown grading scheme {g.scheme!r}")
    if g.label is not None and g.label not in allowed:
        raise StoreError(f"label {g.label!r} is not one of {', '.join(allowed)} ({g.scheme})")
    if g.source not in tuple(GradeSource):
        raise StoreError(f"unknown grade source {g.source!r}")
    if g.source == GradeSource.HUMAN and g.attempt_id is not None:
        raise StoreError("human labels are per problem, not per attempt")


# The store's review queues as SQL conditions on labels `l`.
_QUEUE_WHERE: dict[str, str] = {
    ReviewQueue.NEEDS_REVIEW: "l.needs_review = 1 AND l.human_label IS NULL",
    ReviewQueue.CONFLICT: "l.conflict = 1 AND l.human_label IS NULL",
    ReviewQueue.DISAGREEMENT: "l.human_label IS NOT NULL AND l.auto_label IS NOT NULL"
    " AND l.human_label != l.auto_label",
    ReviewQueue.UNLABELLED: "l.human_label IS NULL AND l.label IS NOT NULL",
    ReviewQueue.HUMAN: "l.human_label IS NOT NULL",
    ReviewQueue.ALL: "1",
}


class Grades:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, conn: sqlite3.Connection, grades: Sequence[NewGrade]) -> list[int]:
        """Append grades and refresh the affected labels, inside the caller's transaction."""
        now = utcnow()
        ids = []
        touched: set[tuple[int, str]] = set()
        for g in grades:
            validate(g)
            cur = conn.execute(
                _INSERT,
                (
                    g.problem_id,
                    g.attempt_id,
                    g.scheme,
                    g.label,
                    g.source,
                    g.rationale,
                    g.model,
                    g.prompt_version,
                    int(g.needs_review),
                    g.conflict,
                    None if g.symbolic_correct is None else int(g.symbolic_correct),
                    json.dumps(g.detail, sort_keys=True) if g.detail else None,
                    g.note,
                    g.job_id,
                    now,
                ),
            )
            ids.append(int(cur.lastrowid or 0))
            if g.attempt_id is None:
                touched.add((g.problem_id, g.scheme))
        for problem_id, scheme in touched:
            self._refresh(conn, problem_id, scheme, now)
        return ids

    def add(self, grades: Iterable[NewGrade]) -> list[int]:
        with self.db.tx() as conn:
            return self.insert(conn, list(grades))

    @staticmethod
    def _refresh(conn: sqlite3.Connection, problem_id: int, scheme: str, now: str) -> None:
        human = conn.execute(
            "SELECT label FROM grades WHERE problem_id = ? AND scheme = ? AND attempt_id IS NULL"
            " AND source = 'human' ORDER BY id DESC LIMIT 1",
            (problem_id, scheme),
        ).fetchone()
        auto = conn.execute(
            "SELECT label, source, needs_review, conflict, symbolic_correct FROM grades"
            " WHERE problem_id = ? AND scheme = ? AND attempt_id IS NULL AND source != 'human'"
            " ORDER BY id DESC LIMIT 1",
            (problem_id, scheme),
        ).fetchone()
        human_label = human["label"] if human else None
        if human_label is not None:
            label, source = human_label, GradeSource.HUMAN
        elif auto is not None:
            label, source = auto["label"], auto["source"]
        else:
            label, source = None, None
        conn.execute(
            "INSERT INTO labels (problem_id, scheme, label, source, auto_label, auto_source,"
            " human_label, needs_review, conflict, symbolic_correct, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(problem_id, scheme) DO UPDATE SET label = excluded.label,"
            " source = excluded.source, auto_label = excluded.auto_label,"
            " auto_source = excluded.auto_source, human_label = excluded.human_label,"
            " needs_review = excluded.needs_review, conflict = excluded.conflict,"
            " symbolic_correct = excluded.symbolic_correct, updated_at = excluded.updated_at",
            (
                problem_id,
                scheme,
                label,
                source,
                auto["label"] if auto else None,
                auto["source"] if auto else None,
                human_label,
                int(bool(auto and auto["needs_review"])),
                int(bool(auto and auto["conflict"])),
                auto["symbolic_correct"] if auto else None,
                now,
            ),
        )

    def history(self, problem_id: int, scheme: str | None = None) -> list[Grade]:
        sql = "SELECT * FROM grades WHERE problem_id = ?"
        params: tuple[object, ...] = (problem_id,)
        if scheme:
            sql += " AND scheme = ?"
            params += (scheme,)
        return [Grade.from_row(r) for r in self.db.query(sql + " ORDER BY id", params)]

    def label(self, problem_id: int, scheme: str) -> Label | None:
        row = self.db.query_one(
            "SELECT * FROM labels WHERE problem_id = ? AND scheme = ?", (problem_id, scheme)
        )
        return Label.from_row(row) if row else None

    def labels(self, scheme: str, problem_ids: Sequence[int] | None = None) -> dict[int, Label]:
        if problem_ids is None:
            rows = self.db.query("SELECT * FROM labels WHERE scheme = ?", (scheme,))
            return {r["problem_id"]: Label.from_row(r) for r in rows}
        out: dict[int, Label] = {}
        for start in range(0, len(problem_ids), 500):
            chunk = list(problem_ids[start : start + 500])
            rows = self.db.query(
                f"SELECT * FROM labels WHERE scheme = ? AND problem_id IN ({','.join('?' * len(chunk))})",
                (scheme, *chunk),
            )
            out.update({r["problem_id"]: Label.from_row(r) for r in rows})
        return out

    def graded_problem_ids(
        self, scheme: str, *, model: str | None = None, prompt_version: str | None = None
    ) -> set[int]:
        """Problems that already have an automatic per-problem grade (for idempotent re-runs)."""
        sql = "SELECT DISTINCT problem_id FROM grades WHERE scheme = ? AND attempt_id IS NULL AND source != 'human'"
        params: list[Any] = [scheme]
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        if prompt_version is not None:
            sql += " AND prompt_version = ?"
            params.append(prompt_version)
        return {r[0] for r in self.db.query(sql, tuple(params))}

    def sample_grades(
        self, attempt_ids: Sequence[int], *, scheme: str, model: str, prompt_version: str
    ) -> dict[int, Grade]:
        """Per-sample grades already made by one grader version, by attempt id."""
        out: dict[int, Grade] = {}
        for start in range(0, len(attempt_ids), 500):
            chunk = list(attempt_ids[start : start + 500])
            rows = self.db.query(
                "SELECT * FROM grades WHERE scheme = ? AND model = ? AND prompt_version = ?"
                f" AND attempt_id IN ({','.join('?' * len(chunk))}) ORDER BY id",
                (scheme, model, prompt_version, *chunk),
            )
            out.update({r["attempt_id"]: Grade.from_row(r) for r in rows})
        return out

    def queue(
        self, scheme: str, kind: str, *, limit: int = 1000, sources: Sequence[str] = ()
    ) -> list[int]:
        """Problem ids for a review queue, in id order.

        The queues are acotd_tui.domain's ReviewQueue (spot_check is drawn from unlabelled by
        the services)."""
        where = _QUEUE_WHERE.get(kind)
        if where is None:
            raise StoreError(f"unknown review queue {kind!r}")
        sql = f"SELECT l.problem_id FROM labels l JOIN problems p ON p.id = l.problem_id WHERE l.scheme = ? AND {where}"
        params: list[Any] = [scheme]
        if sources:
            sql += f" AND p.source IN ({','.join('?' * len(sources))})"
            params += list(sources)
        sql += f" ORDER BY l.problem_id LIMIT {int(limit)}"
        return [r[0] for r in self.db.query(sql, tuple(params))]

    def distribution(self, scheme: str) -> dict[str, dict[str, int]]:
        """Current label counts per problem source, plus '(all)'."""
        out: dict[str, dict[str, int]] = {}
        for r in self.db.query(  # from the counters the labels' triggers keep (migration 7)
            "SELECT source, label, SUM(n) FROM label_counts WHERE scheme = ?"
            " GROUP BY source, label HAVING SUM(n) > 0",
            (scheme,),
        ):
            out.setdefault(r[0], {})[r[1]] = r[2]
            out.setdefault("(all)", {})
            out["(all)"][r[1]] = out["(all)"].get(r[1], 0) + r[2]
        return out

    def human_auto_pairs(self, scheme: str) -> list[tuple[str, str]]:
        """(automatic label, human label) for every problem a human labelled and a grader graded."""
        rows = self.db.query(
            "SELECT auto_label, human_label FROM labels WHERE scheme = ? AND human_label IS NOT NULL"
            " AND auto_label IS NOT NULL",
            (scheme,),
        )
        return [(r[0], r[1]) for r in rows]

    def last_human(self, problem_id: int, scheme: str) -> Grade | None:
        row = self.db.query_one(
            "SELECT * FROM grades WHERE problem_id = ? AND scheme = ? AND source = 'human'"
            " ORDER BY id DESC LIMIT 1",
            (problem_id, scheme),
        )
        return Grade.from_row(row) if row else None
