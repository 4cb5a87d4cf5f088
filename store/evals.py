"""Evaluations: one row per (evaluation name, benchmark), with every sample's result.

Samples are unique per (eval, item, sample index), so an interrupted evaluation resumes
where it stopped. Accuracy is computed from the stored samples, never kept only in memory.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from acotd_tui.domain import RunStatus

from .db import Database, NotFound, StoreError, utcnow


@dataclass(frozen=True, slots=True)
class Eval:
    id: int
    name: str
    benchmark: str
    model: str
    adapter: str
    n: int
    params: dict[str, Any]
    items: int | None
    acc_mean: float | None
    acc_std: float | None
    cotqs: float | None
    cotqs_detail: dict[str, Any]
    status: RunStatus
    created_at: str

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Eval:
        d = dict(r)
        d.pop("job_id", None)
        d["params"] = json.loads(d["params"])
        d["cotqs_detail"] = json.loads(d["cotqs_detail"] or "{}")
        d["status"] = RunStatus(d["status"])
        return cls(**d)


@dataclass(frozen=True, slots=True)
class EvalSample:
    item_index: int
    sample_index: int
    problem_hash: bytes
    reference: str
    final_answer: str | None
    correct: bool | None
    truncated: bool
    raw_text: str | None
    cot: str | None
    tokens_out: int | None
    coherence: float | None = None
    completeness: float | None = None
    factual: float | None = None


class Evals:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure(
        self,
        name: str,
        benchmark: str,
        *,
        model: str,
        adapter: str,
        n: int,
        params: dict[str, Any],
        items: int,
        job_id: int | None,
    ) -> Eval:
        with self.db.tx() as conn:
            row = conn.execute(
                "SELECT * FROM evals WHERE name = ? AND benchmark = ?", (name, benchmark)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO evals (name, benchmark, model, adapter, n, params, items, status, job_id, created_at)"
                    " VALUES (?,?,?,?,?,?,?, 'running', ?, ?)",
                    (
                        name,
                        benchmark,
                        model,
                        adapter,
                        n,
                        json.dumps(params, sort_keys=True),
                        items,
                        job_id,
                        utcnow(),
                    ),
                )
            else:
                existing = Eval.from_row(row)
                if existing.model != model or existing.adapter != adapter or existing.n != n:
                    raise StoreError(
                        f"evaluation {name!r} on {benchmark} already exists for {existing.model}"
                        f"{'+' + existing.adapter if existing.adapter else ''} with n={existing.n}; pick another --name"
                    )
                conn.execute(
                    "UPDATE evals SET status = 'running', items = ?, job_id = ? WHERE id = ?",
                    (items, job_id, existing.id),
                )
        return self.get(name, benchmark)

    def get(self, name: str, benchmark: str) -> Eval:
        row = self.db.query_one(
            "SELECT * FROM evals WHERE name = ? AND benchmark = ?", (name, benchmark)
        )
        if row is None:
            raise NotFound(f"no evaluation {name!r} on {benchmark}")
        return Eval.from_row(row)

    def all(self) -> list[Eval]:
        return [Eval.from_row(r) for r in self.db.query("SELECT * FROM evals ORDER BY id")]

    def done_samples(self, eval_id: int) -> set[tuple[int, int]]:
        return {
            (r[0], r[1])
            for r in self.db.query(
                "SELECT item_index, sample_index FROM eval_samples WHERE eval_id = ?", (eval_id,)
            )
        }

    def insert_samples(
        self, conn: sqlite3.Connection, eval_id: int, samples: Iterable[EvalSample]
    ) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO eval_samples (eval_id, item_index, sample_index, problem_hash, reference, final_answer,"
            " correct, truncated, raw_text, cot, tokens_out) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    eval_id,
                    s.item_index,
                    s.sample_index,
                    s.problem_hash,
                    s.reference,
                    s.final_answer,
                    None if s.correct is None else int(s.correct),
                    int(s.truncated),
                    s.raw_text,
                    s.cot,
                    s.tokens_out,
                )
                for s in samples
            ],
        )

    def samples(self, eval_id: int) -> list[EvalSample]:
        rows = self.db.query(
            "SELECT item_index, sample_index, problem_hash, reference, final_answer, correct, truncated, raw_text, cot,"
            " tokens_out, coherence, completeness, factual FROM eval_samples WHERE eval_id = ? ORDER BY item_index, sample_index",
            (eval_id,),
        )
        return [
            EvalSample(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                None if r[5] is None else bool(r[5]),
                bool(r[6]),
                r[7],
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
            )
            for r in rows
        ]

    def set_cotqs(
        self,
        conn: sqlite3.Connection,
        eval_id: int,
        scores: Iterable[tuple[int, int, float, float, float]],
    ) -> None:
        """(item, sample, coherence, completeness, factual)"""
        conn.executemany(
            "UPDATE eval_samples SET coherence = ?, completeness = ?, factual = ? WHERE eval_id = ? AND item_index = ? AND sample_index = ?",
            [(c, s, f, eval_id, i, j) for i, j, c, s, f in scores],
        )

    def finish(
        self,
        eval_id: int,
        *,
        acc_mean: float,
        acc_std: float,
        cotqs: float | None,
        detail: dict[str, Any],
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE evals SET acc_mean = ?, acc_std = ?, cotqs = ?, cotqs_detail = ?, status = 'done' WHERE id = ?",
                (acc_mean, acc_std, cotqs, json.dumps(detail, sort_keys=True), eval_id),
            )
