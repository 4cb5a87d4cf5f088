"""The LLM-call cache (request key -> successful response), the spend ledger and key claims.

Written in the same transaction as whatever the response produced (an attempt, a grade, a
CoT), so after a crash either both exist or neither does. Failed calls are never cached:
a re-run must retry them, not replay the failure.

The cache keeps one answer per key, but money is counted per call: every paid call is a
row in `llm_spend`, also when its key was cached already (a second job that paid for the
same request used to vanish from the books). Claims make such second calls rare: a job
claims the keys it is about to request, and another job that needs one of them waits for
the answer instead of paying again. A claim lapses when its job is no longer running (done,
stopped, killed: see `Job.stale`), so a dead job never blocks the others.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from acotd_tui.domain import JobStatus

from .db import Database, utcnow
from .jobs import Job, release_claims


@dataclass(frozen=True, slots=True)
class CachedCall:
    key: str
    model: str
    backend: str
    response: dict[str, Any]


class LLMCalls:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            rows = self.db.query(
                f"SELECT key, response FROM llm_calls WHERE key IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            out.update({r[0]: json.loads(r[1]) for r in rows})
        return out

    def put(
        self,
        conn: sqlite3.Connection,
        entries: Iterable[tuple[str, str, str, dict[str, Any], int | None]],
    ) -> None:
        """entries: (key, model, backend, response, job_id), each one paid call.

        An existing key keeps its cached answer, but every entry is a spend row, and its
        claim (if any) is released: the answer is there for whoever waits on it.
        """
        entries = list(entries)
        now = utcnow()
        conn.executemany(
            "INSERT INTO llm_spend (key, model, job_id, tokens_in, tokens_out, cost, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            [
                (
                    key,
                    model,
                    job_id,
                    int(resp.get("tokens_in") or 0),
                    int(resp.get("tokens_out") or 0),
                    float(resp.get("cost") or 0.0),
                    now,
                )
                for key, model, _, resp, job_id in entries
            ],
        )
        conn.executemany("DELETE FROM llm_claims WHERE key = ?", [(e[0],) for e in entries])
        conn.executemany(
            "INSERT OR IGNORE INTO llm_calls (key, model, backend, response, tokens_in, tokens_out,"
            " cost, latency_s, job_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    key,
                    model,
                    backend,
                    json.dumps(resp, ensure_ascii=False),
                    int(resp.get("tokens_in") or 0),
                    int(resp.get("tokens_out") or 0),
                    float(resp.get("cost") or 0.0),
                    resp.get("latency_s"),
                    job_id,
                    now,
                )
                for key, model, backend, resp, job_id in entries
            ],
        )

    def total_cost(self) -> float:
        """Every paid call's cost, duplicates included."""
        return float(self.db.scalar("SELECT COALESCE(SUM(cost), 0) FROM llm_spend") or 0.0)

    def paid_calls(self, job_id: int | None = None) -> int:
        if job_id is None:
            return int(self.db.scalar("SELECT COUNT(*) FROM llm_spend") or 0)
        return int(
            self.db.scalar("SELECT COUNT(*) FROM llm_spend WHERE job_id = ?", (job_id,)) or 0
        )

    def count(self) -> int:
        return int(self.db.scalar("SELECT COUNT(*) FROM llm_calls") or 0)

    # -- claims ---------------------------------------------------------------------------
    def claim(self, job_id: int, keys: Sequence[str]) -> set[str]:
        """Claim for `job_id` every key in `keys` that no other live job holds; returns the
        keys this job now holds (its own earlier claims included). Keys already cached are
        not claimed: the caller reads them from the cache."""
        mine: set[str] = set()
        with self.db.tx() as conn:
            lapse_dead_claims(conn)
            now = utcnow()
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                cached = {
                    r[0]
                    for r in conn.execute(
                        f"SELECT key FROM llm_calls WHERE key IN ({marks})", tuple(chunk)
                    )
                }
                conn.executemany(
                    "INSERT OR IGNORE INTO llm_claims (key, job_id, created_at) VALUES (?, ?, ?)",
                    [(k, job_id, now) for k in chunk if k not in cached],
                )
                mine.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT key FROM llm_claims WHERE job_id = ? AND key IN ({marks})",
                        (job_id, *chunk),
                    )
                )
        return mine

    def release(self, job_id: int, keys: Iterable[str]) -> None:
        """Give up claims this job will not answer (failed, or never sent)."""
        keys = list(keys)
        if keys:
            with self.db.tx() as conn:
                self.release_in(conn, job_id, keys)

    @staticmethod
    def release_in(conn: sqlite3.Connection, job_id: int, keys: Iterable[str]) -> None:
        conn.executemany(
            "DELETE FROM llm_claims WHERE key = ? AND job_id = ?", [(k, job_id) for k in keys]
        )

    def claimed(self) -> int:
        return int(self.db.scalar("SELECT COUNT(*) FROM llm_claims") or 0)



def lapse_dead_claims(conn: sqlite3.Connection) -> None:
    """Claims of jobs that no longer run (finished, killed, deleted) lapse."""
    rows = conn.execute(
        "SELECT c.job_id AS claim_job, j.* FROM (SELECT DISTINCT job_id FROM llm_claims) c"
        " LEFT JOIN jobs j ON j.id = c.job_id"
    ).fetchall()
    for row in rows:
        data = dict(row)
        job_id = data.pop("claim_job")
        job = Job.from_row(data) if data["id"] is not None else None
        if job is None or job.status != JobStatus.RUNNING or job.stale:
            release_claims(conn, job_id)
