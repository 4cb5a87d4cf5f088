"""Student attempts: one row per model output, unique per (problem, model, prompt, sample).

The uniqueness key is what makes diagnosis idempotent: a resumed job inserts with
INSERT OR IGNORE and can never store the same sample twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .db import Database, NotFound, utcnow


@dataclass(frozen=True, slots=True)
class NewAttempt:
    problem_id: int
    model_id: int
    prompt_hash: str
    sample_index: int
    raw_text: str
    cot: str | None
    final_answer: str | None
    correct: bool | None
    truncated: bool = False
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    request_key: str | None = None
    job_id: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    problem_id: int
    model_id: int
    model: str
    prompt_hash: str
    sample_index: int
    raw_text: str
    cot: str | None
    final_answer: str | None
    correct: bool | None
    truncated: bool
    finish_reason: str | None
    tokens_in: int | None
    tokens_out: int | None
    latency_s: float | None
    params: dict[str, Any]
    created_at: str

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Attempt:
        return cls(
            id=r["id"],
            problem_id=r["problem_id"],
            model_id=r["model_id"],
            model=r["model"],
            prompt_hash=r["prompt_hash"],
            sample_index=r["sample_index"],
            raw_text=r["raw_text"] or "",
            cot=r["cot"],
            final_answer=r["final_answer"],
            correct=None if r["correct"] is None else bool(r["correct"]),
            truncated=bool(r["truncated"]),
            finish_reason=r["finish_reason"],
            tokens_in=r["tokens_in"],
            tokens_out=r["tokens_out"],
            latency_s=r["latency_s"],
            params=json.loads(r["params"]) if r["params"] else {},
            created_at=r["created_at"],
        )


_SELECT = (
    "SELECT a.*, CASE WHEN m.adapter = '' THEN m.name ELSE m.name || '+' || m.adapter END AS model"
    " FROM attempts a JOIN models m ON m.id = a.model_id"
)
_INSERT = (
    "INSERT OR IGNORE INTO attempts (problem_id, model_id, prompt_hash, sample_index, params,"
    " raw_text, cot, final_answer, correct, truncated, finish_reason, tokens_in, tokens_out,"
    " latency_s, request_key, job_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def _row(a: NewAttempt, now: str) -> tuple[object, ...]:
    return (
        a.problem_id,
        a.model_id,
        a.prompt_hash,
        a.sample_index,
        json.dumps(a.params, sort_keys=True) if a.params else None,
        a.raw_text,
        a.cot,
        a.final_answer,
        None if a.correct is None else int(a.correct),
        int(a.truncated),
        a.finish_reason,
        a.tokens_in,
        a.tokens_out,
        a.latency_s,
        a.request_key,
        a.job_id,
        now,
    )


class Attempts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, conn: sqlite3.Connection, attempts: Iterable[NewAttempt]) -> int:
        """Insert inside the caller's transaction; returns how many were new."""
        now = utcnow()
        before = conn.total_changes
        conn.executemany(_INSERT, [_row(a, now) for a in attempts])
        return conn.total_changes - before

    def add(self, attempts: Iterable[NewAttempt]) -> int:
        with self.db.tx() as conn:
            return self.insert(conn, attempts)

    @staticmethod
    def id_for(
        conn: sqlite3.Connection,
        problem_id: int,
        model_id: int,
        prompt_hash: str,
        sample_index: int,
    ) -> int | None:
        row = conn.execute(
            "SELECT id FROM attempts WHERE problem_id = ? AND model_id = ? AND prompt_hash = ?"
            " AND sample_index = ?",
            (problem_id, model_id, prompt_hash, sample_index),
        ).fetchone()
        return int(row[0]) if row else None

    def find(self, attempt_id: int) -> Attempt | None:
        row = self.db.query_one(f"{_SELECT} WHERE a.id = ?", (attempt_id,))
        return Attempt.from_row(row) if row else None

    def get(self, attempt_id: int) -> Attempt:
        found = self.find(attempt_id)
        if found is None:
            raise NotFound(f"no attempt {attempt_id}")
        return found

    def for_problem(self, problem_id: int) -> list[Attempt]:
        return [
            Attempt.from_row(r)
            for r in self.db.query(
                f"{_SELECT} WHERE a.problem_id = ? ORDER BY a.model_id, a.sample_index",
                (problem_id,),
            )
        ]

    def for_problems(
        self, problem_ids: Sequence[int], model_ids: Sequence[int] | None = None
    ) -> dict[int, list[Attempt]]:
        out: dict[int, list[Attempt]] = {}
        for start in range(0, len(problem_ids), 500):
            chunk = list(problem_ids[start : start + 500])
            sql = f"{_SELECT} WHERE a.problem_id IN ({','.join('?' * len(chunk))})"
            params: list[Any] = chunk
            if model_ids:
                sql += f" AND a.model_id IN ({','.join('?' * len(model_ids))})"
                params = chunk + list(model_ids)
            for r in self.db.query(
                sql + " ORDER BY a.problem_id, a.model_id, a.sample_index", tuple(params)
            ):
                out.setdefault(r["problem_id"], []).append(Attempt.from_row(r))
        return out

    def done_samples(self, model_id: int, prompt_hash: str) -> set[tuple[int, int]]:
        """(problem_id, sample_index) pairs already stored: what a resumed diagnosis skips."""
        rows = self.db.query(
            "SELECT problem_id, sample_index FROM attempts WHERE model_id = ? AND prompt_hash = ?",
            (model_id, prompt_hash),
        )
        return {(r[0], r[1]) for r in rows}

    def problem_ids_with_attempts(self, model_ids: Sequence[int] | None = None) -> list[int]:
        if model_ids:
            rows = self.db.query(
                f"SELECT DISTINCT problem_id FROM attempts WHERE model_id IN ({','.join('?' * len(model_ids))})"
                " ORDER BY problem_id",
                tuple(model_ids),
            )
        else:
            rows = self.db.query("SELECT DISTINCT problem_id FROM attempts ORDER BY problem_id")
        return [r[0] for r in rows]

    def set_correct(
        self, conn: sqlite3.Connection, updates: Iterable[tuple[int, bool | None]]
    ) -> None:
        conn.executemany(
            "UPDATE attempts SET correct = ? WHERE id = ?",
            [(None if c is None else int(c), aid) for aid, c in updates],
        )

    def count(self, model_id: int | None = None) -> int:
        if model_id is None:
            return int(self.db.scalar("SELECT COUNT(*) FROM attempts") or 0)
        return int(
            self.db.scalar("SELECT COUNT(*) FROM attempts WHERE model_id = ?", (model_id,)) or 0
        )

    def duplicates(self) -> int:
        """Attempts sharing (problem, model, prompt, sample): always 0 thanks to the unique key."""
        return int(
            self.db.scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM attempts GROUP BY problem_id, model_id,"
                " prompt_hash, sample_index HAVING COUNT(*) > 1)"
            )
            or 0
        )
