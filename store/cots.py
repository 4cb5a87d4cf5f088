"""Teacher CoTs: generated text, verification result and human review, per problem and kind.

A CoT is identified by (problem, kind, teacher, prompt version, generation); a failed
verification asks the teacher again as the next generation, so every attempt is kept.
CoTs belong to problems, not datasets, so datasets that share problems share CoTs (the
experiments reuse them). Review actions are logged in `cot_reviews`.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from acotd_tui.domain import CotKind, ReviewState

from .db import Database, NotFound, StoreError, utcnow

REVIEW_STATES: tuple[ReviewState, ...] = tuple(ReviewState)


@dataclass(frozen=True, slots=True)
class NewCot:
    problem_id: int
    kind: str
    teacher: str
    prompt_version: str
    generation: int
    reasoning: str
    answer_text: str
    final_answer: str | None
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    request_key: str | None = None
    job_id: int | None = None


@dataclass(frozen=True, slots=True)
class Cot:
    id: int
    problem_id: int
    kind: CotKind
    teacher: str
    prompt_version: str
    generation: int
    reasoning: str
    answer_text: str
    final_answer: str | None
    finish_reason: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    verified: bool | None
    verify_detail: str | None
    consistent: bool | None
    review: ReviewState
    review_note: str | None
    edited_reasoning: str | None
    edited_answer_text: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Cot:
        d = dict(r)
        for key in ("request_key", "job_id"):
            d.pop(key, None)
        for key in ("verified", "consistent"):
            d[key] = None if d[key] is None else bool(d[key])
        d["kind"], d["review"] = CotKind(d["kind"]), ReviewState(d["review"])
        return cls(**d)

    @property
    def edited(self) -> bool:
        return self.edited_reasoning is not None or self.edited_answer_text is not None

    @property
    def final_reasoning(self) -> str:
        return self.edited_reasoning if self.edited_reasoning is not None else self.reasoning

    @property
    def final_answer_text(self) -> str:
        return self.edited_answer_text if self.edited_answer_text is not None else self.answer_text

    @property
    def exportable(self) -> bool:
        return bool(self.verified) and self.review != ReviewState.REJECTED


@dataclass(frozen=True)
class CotFilter:
    dataset_id: int | None = None
    kind: str | None = None
    teacher: str | None = None
    review: str | None = None
    verified: bool | None = None
    label: str | None = None


class Cots:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, conn: sqlite3.Connection, cots: Iterable[NewCot]) -> int:
        now = utcnow()
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO cots (problem_id, kind, teacher, prompt_version, generation, request_key,"
            " reasoning, answer_text, final_answer, finish_reason, tokens_in, tokens_out, cost, job_id,"
            " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    c.problem_id,
                    c.kind,
                    c.teacher,
                    c.prompt_version,
                    c.generation,
                    c.request_key,
                    c.reasoning,
                    c.answer_text,
                    c.final_answer,
                    c.finish_reason,
                    c.tokens_in,
                    c.tokens_out,
                    c.cost,
                    c.job_id,
                    now,
                    now,
                )
                for c in cots
            ],
        )
        return conn.total_changes - before

    def add(self, cots: Iterable[NewCot]) -> int:
        with self.db.tx() as conn:
            return self.insert(conn, cots)

    def get(self, cot_id: int) -> Cot:
        row = self.db.query_one("SELECT * FROM cots WHERE id = ?", (cot_id,))
        if row is None:
            raise NotFound(f"no CoT {cot_id}")
        return Cot.from_row(row)

    def for_problems(
        self, problem_ids: Sequence[int], kind: str | None = None
    ) -> dict[int, list[Cot]]:
        out: dict[int, list[Cot]] = {}
        for start in range(0, len(problem_ids), 500):
            chunk = list(problem_ids[start : start + 500])
            sql = f"SELECT * FROM cots WHERE problem_id IN ({','.join('?' * len(chunk))})"
            params: list[Any] = chunk
            if kind:
                sql += " AND kind = ?"
                params.append(kind)
            for r in self.db.query(sql + " ORDER BY problem_id, id", tuple(params)):
                out.setdefault(r["problem_id"], []).append(Cot.from_row(r))
        return out

    def list(self, flt: CotFilter, limit: int = 1000, offset: int = 0) -> list[Cot]:
        sql = "SELECT c.* FROM cots c"
        where: list[str] = []
        params: list[Any] = []
        if flt.dataset_id is not None or flt.label is not None:
            sql += " JOIN dataset_items i ON i.problem_id = c.problem_id AND i.cot_kind = c.kind"
            if flt.dataset_id is not None:
                where.append("i.dataset_id = ?")
                params.append(flt.dataset_id)
            if flt.label is not None:
                where.append("i.label = ?")
                params.append(flt.label)
        for column, value in (
            ("c.kind", flt.kind),
            ("c.teacher", flt.teacher),
            ("c.review", flt.review),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if flt.verified is not None:
            where.append(
                "c.verified = ?" if flt.verified else "(c.verified = 0 OR c.verified IS NULL)"
            )
            if flt.verified:
                params.append(1)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" GROUP BY c.id ORDER BY c.id LIMIT {int(limit)} OFFSET {int(offset)}"
        return [Cot.from_row(r) for r in self.db.query(sql, tuple(params))]

    def set_verification(
        self, conn: sqlite3.Connection, updates: Iterable[tuple[int, bool, str, bool | None]]
    ) -> None:
        """(cot_id, verified, detail, consistent)"""
        now = utcnow()
        conn.executemany(
            "UPDATE cots SET verified = ?, verify_detail = ?, consistent = ?, updated_at = ? WHERE id = ?",
            [
                (int(v), detail, None if c is None else int(c), now, cid)
                for cid, v, detail, c in updates
            ],
        )

    def set_review(self, cot_id: int, state: str, note: str | None = None) -> Cot:
        if state not in REVIEW_STATES:
            raise StoreError(f"unknown review state {state!r}")
        with self.db.tx() as conn:
            self._review(conn, cot_id, state, note)
        return self.get(cot_id)

    def queue_for_review(self, cot_ids: Sequence[int]) -> int:
        with self.db.tx() as conn:
            before = conn.total_changes
            conn.executemany(
                "UPDATE cots SET review = 'queued', updated_at = ? WHERE id = ? AND review = 'none'",
                [(utcnow(), i) for i in cot_ids],
            )
            return conn.total_changes - before

    def edit(
        self,
        cot_id: int,
        reasoning: str,
        answer_text: str,
        final_answer: str | None,
        verified: bool,
        detail: str,
    ) -> Cot:
        """A human edit: stored beside the teacher's text, re-verified, and logged."""
        self.get(cot_id)
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE cots SET edited_reasoning = ?, edited_answer_text = ?, final_answer = ?, verified = ?,"
                " verify_detail = ?, updated_at = ? WHERE id = ?",
                (reasoning, answer_text, final_answer, int(verified), detail, utcnow(), cot_id),
            )
            conn.execute(
                "INSERT INTO cot_reviews (cot_id, action, note, created_at) VALUES (?, 'edited', ?, ?)",
                (cot_id, detail, utcnow()),
            )
        return self.get(cot_id)

    @staticmethod
    def _review(conn: sqlite3.Connection, cot_id: int, state: str, note: str | None) -> None:
        cur = conn.execute(
            "UPDATE cots SET review = ?, review_note = ?, updated_at = ? WHERE id = ?",
            (state, note, utcnow(), cot_id),
        )
        if cur.rowcount == 0:
            raise StoreError(f"no CoT {cot_id}")
        conn.execute(
            "INSERT INTO cot_reviews (cot_id, action, note, created_at) VALUES (?,?,?,?)",
            (cot_id, state, note, utcnow()),
        )

    # builtins.list: inside this class `list` names the method above.
    def review_log(self, cot_id: int) -> builtins.list[tuple[str, str | None, str]]:
        return [
            (r[0], r[1], r[2])
            for r in self.db.query(
                "SELECT action, note, created_at FROM cot_reviews WHERE cot_id = ? ORDER BY id",
                (cot_id,),
            )
        ]

    def pass_rates(self, dataset_id: int | None = None) -> builtins.list[dict[str, Any]]:
        """Verification pass rate and cost per teacher and level (latest generation counts)."""
        if (
            dataset_id is None
        ):  # per teacher and kind over all CoTs (a problem may sit in many datasets)
            sql = (
                "SELECT c.teacher, NULL AS label, c.kind, COUNT(*) AS n, SUM(c.verified = 1) AS passed,"
                " SUM(c.verified = 0) AS failed, SUM(c.review = 'rejected') AS rejected,"
                " COALESCE(SUM(c.cost), 0) AS cost FROM cots c GROUP BY c.teacher, c.kind ORDER BY c.teacher, c.kind"
            )
            params: tuple[object, ...] = ()
        else:
            sql = (
                "SELECT c.teacher, i.label, c.kind, COUNT(*) AS n, SUM(c.verified = 1) AS passed,"
                " SUM(c.verified = 0) AS failed, SUM(c.review = 'rejected') AS rejected,"
                " COALESCE(SUM(c.cost), 0) AS cost FROM cots c JOIN dataset_items i"
                " ON i.problem_id = c.problem_id AND i.cot_kind = c.kind WHERE i.dataset_id = ?"
                " GROUP BY c.teacher, i.label, c.kind ORDER BY c.teacher, i.label"
            )
            params = (dataset_id,)
        return [dict(r) for r in self.db.query(sql, params)]

    def count(self) -> int:
        return int(self.db.scalar("SELECT COUNT(*) FROM cots") or 0)
