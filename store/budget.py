"""The project's spending cap, shared by every job that runs at the same time.

A job's budget used to start from "what the store has recorded so far", so two jobs started
together each believed the whole remaining budget was theirs and could together spend twice
it. Now a running job draws *grants* from this ledger, a little at a time, in a write
transaction: a grant is given only while

    recorded spending of jobs not running now + every running job's grants  <=  cap

A running job's own calls made since its grant row appeared are covered by that grant (it
never spends past what it was granted), so they are not counted twice. When the job ends,
is claimed again, or its worker dies, its grant row goes and its recorded calls count
instead - the unused part of the grant returns to everyone.

Spending is read from `llm_spend` (one row per paid call, duplicates included), not from the
call cache, which keeps one answer per request key.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from acotd_tui.domain import JobStatus

from .db import Database, utcnow
from .jobs import Job, drop_budget_grant

_RECORDED_OUTSIDE_GRANTS = """
SELECT COALESCE(SUM(c.cost), 0) FROM llm_spend c
 WHERE NOT EXISTS (
   SELECT 1 FROM budget_grants g WHERE g.job_id = c.job_id AND c.created_at >= g.created_at)
"""


class BudgetLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def spent(self) -> float:
        """Money recorded or promised: what no new grant may push past the cap."""
        with self.db.tx() as conn:
            self._drop_dead(conn)
            return self._committed(conn)

    def recorded(self) -> float:
        """Money actually paid so far (every recorded call, running jobs' included): when this
        plus a request's worst case passes the cap, no amount of waiting lets it run."""
        return float(self.db.scalar("SELECT COALESCE(SUM(cost), 0) FROM llm_spend") or 0.0)

    def grant(self, job_id: int, *, need: float, want: float, cap: float) -> float:
        """Grant `job_id` up to `want` (at least `need`, else nothing); returns the amount."""
        with self.db.tx() as conn:
            self._drop_dead(conn)
            available = cap - self._committed(conn)
            if available + 1e-12 < need:
                return 0.0
            amount = max(need, min(want, available))
            now = utcnow()
            conn.execute(
                "INSERT INTO budget_grants (job_id, granted, created_at, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
                " granted = granted + excluded.granted, updated_at = excluded.updated_at",
                (job_id, amount, now, now),
            )
            return amount

    def give_back(self, job_id: int, amount: float) -> None:
        """Return an unused part of a grant (a backend closing before its job ends)."""
        if amount <= 0:
            return
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE budget_grants SET granted = MAX(0, granted - ?), updated_at = ?"
                " WHERE job_id = ?",
                (amount, utcnow(), job_id),
            )

    def granted(self, job_id: int) -> float:
        return float(
            self.db.scalar("SELECT granted FROM budget_grants WHERE job_id = ?", (job_id,)) or 0.0
        )

    def for_job(self, job_id: int, cap: float) -> JobGrants:
        return JobGrants(self, job_id, cap)

    @staticmethod
    def release(conn: sqlite3.Connection, job_id: int) -> None:
        """Drop a job's grant (inside the caller's transaction): its recorded calls now count."""
        drop_budget_grant(conn, job_id)

    @staticmethod
    def _committed(conn: sqlite3.Connection) -> float:
        recorded = float(conn.execute(_RECORDED_OUTSIDE_GRANTS).fetchone()[0] or 0.0)
        granted = float(
            conn.execute("SELECT COALESCE(SUM(granted), 0) FROM budget_grants").fetchone()[0]
        )
        return recorded + granted

    @staticmethod
    def _drop_dead(conn: sqlite3.Connection) -> None:
        """Grants of jobs that no longer run (killed, finished elsewhere, deleted) lapse."""
        rows = conn.execute(
            "SELECT g.job_id AS grant_job, j.* FROM budget_grants g"
            " LEFT JOIN jobs j ON j.id = g.job_id"
        ).fetchall()
        for row in rows:
            data = dict(row)
            job_id = data.pop("grant_job")
            job = Job.from_row(data) if data["id"] is not None else None
            if job is None or job.status != JobStatus.RUNNING or job.stale:
                BudgetLedger.release(conn, job_id)


@dataclass
class JobGrants:
    """One job's view of the ledger, in the shape `Budget` asks for."""

    ledger: BudgetLedger
    job_id: int
    cap: float

    def grant(self, need: float, want: float) -> float:
        return self.ledger.grant(self.job_id, need=need, want=want, cap=self.cap)

    def give_back(self, amount: float) -> None:
        self.ledger.give_back(self.job_id, amount)

    def spent(self) -> float:
        return self.ledger.spent()

    def recorded(self) -> float:
        return self.ledger.recorded()
