"""Training runs and their metrics (written by the training process, read by the live plot)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from acotd_tui.domain import RunStatus

from .db import Database, NotFound, StoreError, utcnow


@dataclass(frozen=True, slots=True)
class TrainRun:
    id: int
    name: str
    dataset_id: int | None
    base_model: str
    config: dict[str, Any]
    output_dir: str
    status: RunStatus
    adapter_path: str | None
    job_id: int | None
    created_at: str

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> TrainRun:
        d = dict(r)
        d["config"] = json.loads(d["config"])
        d["status"] = RunStatus(d["status"])
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Metric:
    step: int
    split: str
    epoch: float | None
    loss: float | None
    lr: float | None
    grad_norm: float | None
    tokens_per_s: float | None


class TrainRuns:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure(
        self,
        name: str,
        *,
        dataset_id: int | None,
        base_model: str,
        config: dict[str, Any],
        output_dir: str,
    ) -> TrainRun:
        """The run called `name`, created if new (re-running a run resumes it)."""
        with self.db.tx() as conn:
            row = conn.execute("SELECT * FROM train_runs WHERE name = ?", (name,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO train_runs (name, dataset_id, base_model, config, output_dir, created_at) VALUES (?,?,?,?,?,?)",
                    (
                        name,
                        dataset_id,
                        base_model,
                        json.dumps(config, sort_keys=True),
                        output_dir,
                        utcnow(),
                    ),
                )
            else:
                conn.execute(
                    "UPDATE train_runs SET config = ? WHERE name = ?",
                    (json.dumps(config, sort_keys=True), name),
                )
        return self.get(name)

    def get(self, name: str) -> TrainRun:
        row = self.db.query_one("SELECT * FROM train_runs WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no training run {name!r}")
        return TrainRun.from_row(row)

    def by_id(self, run_id: int) -> TrainRun:
        row = self.db.query_one("SELECT * FROM train_runs WHERE id = ?", (run_id,))
        if row is None:
            raise StoreError(f"no training run {run_id}")
        return TrainRun.from_row(row)

    def all(self) -> list[TrainRun]:
        return [TrainRun.from_row(r) for r in self.db.query("SELECT * FROM train_runs ORDER BY id")]

    def set_status(
        self,
        run_id: int,
        status: RunStatus,
        *,
        adapter_path: str | None = None,
        job_id: int | None = None,
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE train_runs SET status = ?, adapter_path = COALESCE(?, adapter_path), job_id = COALESCE(?, job_id) WHERE id = ?",
                (status, adapter_path, job_id, run_id),
            )

    def add_metrics(self, run_id: int, metrics: Iterable[Metric]) -> None:
        """Upsert by (run, split, step): a resumed run rewrites the steps it redoes."""
        with self.db.tx() as conn:
            conn.executemany(
                "INSERT INTO train_metrics (run_id, step, split, epoch, loss, lr, grad_norm, tokens_per_s, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id, split, step) DO UPDATE SET epoch = excluded.epoch,"
                " loss = excluded.loss, lr = excluded.lr, grad_norm = excluded.grad_norm,"
                " tokens_per_s = excluded.tokens_per_s, created_at = excluded.created_at",
                [
                    (
                        run_id,
                        m.step,
                        m.split,
                        m.epoch,
                        m.loss,
                        m.lr,
                        m.grad_norm,
                        m.tokens_per_s,
                        utcnow(),
                    )
                    for m in metrics
                ],
            )

    def metrics(self, run_id: int, split: str | None = None) -> list[Metric]:
        sql = "SELECT step, split, epoch, loss, lr, grad_norm, tokens_per_s FROM train_metrics WHERE run_id = ?"
        params: tuple[object, ...] = (run_id,)
        if split:
            sql += " AND split = ?"
            params += (split,)
        return [Metric(*r) for r in self.db.query(sql + " ORDER BY split, step", params)]
