"""Jobs: long work as rows that a worker process claims, updates and finishes.

The TUI and `acotd jobs` only ever read these rows (and set `cancel_requested`); the worker
writes progress and a heartbeat. A job whose worker died (its pid is gone on this host, or
its heartbeat stopped) is *stale*: shown as such, and claimable again to resume.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from acotd_tui.domain import JobStatus

from .db import Database, NotFound, StoreError, utcnow

STALE_AFTER_S = 30.0


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _age_s(stamp: str | None) -> float | None:
    if not stamp:
        return None
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - when).total_seconds()


def drop_budget_grant(conn: sqlite3.Connection, job_id: int) -> None:
    """A job that starts or ends holds no spending grant: its recorded calls count (budget.py)."""
    conn.execute("DELETE FROM budget_grants WHERE job_id = ?", (job_id,))


def release_claims(conn: sqlite3.Connection, job_id: int) -> None:
    """A job that starts or ends holds no request-key claims (llm_calls.py): another job
    needing one of those answers requests it itself instead of waiting."""
    conn.execute("DELETE FROM llm_claims WHERE job_id = ?", (job_id,))


def holders_not_running(conn: sqlite3.Connection, table: str) -> list[int]:
    """The job ids holding rows of `table` (budget_grants, llm_claims) whose job no longer runs:
    finished, killed (its process gone) or deleted. Their holdings lapse."""
    if table not in ("budget_grants", "llm_claims"):
        raise ValueError(f"not a table of job holdings: {table}")
    rows = conn.execute(
        f"SELECT h.job_id AS holder, j.* FROM (SELECT DISTINCT job_id FROM {table}) h"
        " LEFT JOIN jobs j ON j.id = h.job_id"
    ).fetchall()
    dead = []
    for row in rows:
        data = dict(row)
        holder = int(data.pop("holder"))
        job = Job.from_row(data) if data["id"] is not None else None
        if job is None or job.status != JobStatus.RUNNING or job.stale:
            dead.append(holder)
    return dead


class JobTaken(StoreError):
    """Another live worker holds the job, or it is done: a worker draining the queue moves on."""


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    params: dict[str, Any]
    status: JobStatus
    done: int
    total: int | None
    failed: int
    tokens_in: int
    tokens_out: int
    cost: float
    rate: float | None
    eta_s: float | None
    message: str | None
    pid: int | None
    host: str | None
    heartbeat: str | None
    log_path: str | None
    error: str | None
    result: dict[str, Any]
    cancel_requested: bool
    created_at: str
    started_at: str | None
    finished_at: str | None
    parent_id: int | None = None

    @classmethod
    def from_row(cls, r: sqlite3.Row | Mapping[str, Any]) -> Job:
        d = dict(r)
        d["params"] = json.loads(d["params"] or "{}")
        d["result"] = json.loads(d["result"] or "{}")
        d["cancel_requested"] = bool(d["cancel_requested"])
        d["status"] = JobStatus(d["status"])
        return cls(**d)

    @property
    def stale(self) -> bool:
        if self.status != JobStatus.RUNNING:
            return False
        if self.host == socket.gethostname() and not pid_alive(self.pid):
            return True
        age = _age_s(self.heartbeat)
        return age is None or age > STALE_AFTER_S

    @property
    def display_status(self) -> str:
        # Stopped by the spending cap: not a failure (nothing is wrong with it), and resumable
        # once the cap is raised. Its result says what stopped it ("stopped_by": "budget").
        if self.status == JobStatus.STOPPED:
            return f"stopped: {self.result.get('stopped_by') or 'budget'}"
        return "stale" if self.stale else self.status

    @property
    def resumable(self) -> bool:
        return self.status.resumable or self.stale


class Jobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, kind: str, params: dict[str, Any], *, parent_id: int | None = None) -> Job:
        with self.db.tx() as conn:
            cur = conn.execute(
                "INSERT INTO jobs (kind, params, parent_id, created_at) VALUES (?, ?, ?, ?)",
                (kind, json.dumps(params, sort_keys=True), parent_id, utcnow()),
            )
            job_id = int(cur.lastrowid or 0)
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        row = self.db.query_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFound(f"no job {job_id}")
        return Job.from_row(row)

    def list(self, limit: int = 200, statuses: tuple[str, ...] = ()) -> list[Job]:
        sql = "SELECT * FROM jobs"
        params: tuple[object, ...] = ()
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            params = statuses
        return [
            Job.from_row(r)
            for r in self.db.query(sql + f" ORDER BY id DESC LIMIT {int(limit)}", params)
        ]

    def claim(self, job_id: int, *, pid: int, log_path: str) -> Job:
        """Mark a job running in this process; refuses one that a live worker holds."""
        with self.db.tx() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise StoreError(f"no job {job_id}")
            job = Job.from_row(row)
            if job.status == JobStatus.RUNNING and not job.stale:
                raise JobTaken(f"job {job_id} is already running (pid {job.pid} on {job.host})")
            if job.status == JobStatus.DONE:
                raise JobTaken(f"job {job_id} is already done")
            now = utcnow()
            conn.execute(
                "UPDATE jobs SET status = 'running', pid = ?, host = ?, heartbeat = ?, log_path = ?,"
                " started_at = ?, finished_at = NULL, error = NULL, cancel_requested = 0 WHERE id = ?",
                (pid, socket.gethostname(), now, log_path, now, job_id),
            )
            drop_budget_grant(conn, job_id)
            release_claims(conn, job_id)
        return self.get(job_id)

    def progress(
        self,
        job_id: int,
        *,
        done: int,
        total: int | None,
        failed: int,
        tokens_in: int,
        tokens_out: int,
        cost: float,
        rate: float | None,
        eta_s: float | None,
        message: str | None = None,
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE jobs SET done = ?, total = ?, failed = ?, tokens_in = ?, tokens_out = ?,"
                " cost = ?, rate = ?, eta_s = ?, message = COALESCE(?, message), heartbeat = ?"
                " WHERE id = ?",
                (
                    done,
                    total,
                    failed,
                    tokens_in,
                    tokens_out,
                    cost,
                    rate,
                    eta_s,
                    message,
                    utcnow(),
                    job_id,
                ),
            )

    def heartbeat(self, job_id: int) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE jobs SET heartbeat = ? WHERE id = ?", (utcnow(), job_id))

    def finish(
        self,
        job_id: int,
        status: JobStatus,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, error = ?, result = ?, message = COALESCE(?, message),"
                " finished_at = ?, heartbeat = ?, eta_s = NULL WHERE id = ?",
                (
                    status,
                    error,
                    json.dumps(result or {}, sort_keys=True),
                    message,
                    utcnow(),
                    utcnow(),
                    job_id,
                ),
            )
            drop_budget_grant(conn, job_id)
            release_claims(conn, job_id)

    def request_cancel(self, job_id: int) -> Job:
        job = self.get(job_id)
        with self.db.tx() as conn:
            if job.status == JobStatus.QUEUED:
                conn.execute(
                    "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = ? WHERE id = ?",
                    (utcnow(), job_id),
                )
            elif job.status == JobStatus.RUNNING:
                conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        return self.get(job_id)

    def cancel_requested(self, job_id: int) -> bool:
        """True if this job, or the job that started it, was asked to stop."""
        return bool(
            self.db.scalar(
                "SELECT j.cancel_requested OR COALESCE(p.cancel_requested, 0) FROM jobs j"
                " LEFT JOIN jobs p ON p.id = j.parent_id WHERE j.id = ?",
                (job_id,),
            )
        )

    def requeue(self, job_id: int) -> Job:
        job = self.get(job_id)
        if not job.resumable:
            raise StoreError(
                f"job {job_id} is {job.display_status}; only failed, cancelled, stopped or stale"
                " jobs resume"
            )
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'queued', cancel_requested = 0, error = NULL, pid = NULL WHERE id = ?",
                (job_id,),
            )
        return self.get(job_id)

    def next_queued(self) -> Job | None:
        row = self.db.query_one("SELECT * FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1")
        return Job.from_row(row) if row else None
