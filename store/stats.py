"""Pipeline counts for `acotd status` and the dashboard, in one read transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acotd_tui.domain import JobStatus, SchemeName

from .db import Database


@dataclass(frozen=True)
class PipelineCounts:
    problems: int = 0
    attempted: int = 0
    attempts: int = 0
    graded: int = 0
    needs_review: int = 0
    conflicts: int = 0
    human_labelled: int = 0
    label_distribution: dict[str, int] = field(default_factory=dict)
    datasets: int = 0
    sampled: int = 0
    cots: int = 0
    verified: int = 0
    rejected: int = 0
    exports: int = 0
    trained: int = 0
    evaluated: int = 0
    jobs_running: int = 0
    jobs_queued: int = 0
    jobs_stopped: int = 0  # stopped by the spending cap, resumable once it is raised
    tokens: int = 0
    cost: float = 0.0

    def stages(self) -> list[tuple[str, int]]:
        """The pipeline in order, as the dashboard and `acotd status` show it."""
        return [
            ("problems", self.problems),
            ("attempted", self.attempted),
            ("graded", self.graded),
            ("sampled", self.sampled),
            ("CoTs", self.cots),
            ("verified", self.verified),
            ("exported", self.exports),
            ("trained", self.trained),
            ("evaluated", self.evaluated),
        ]


class Stats:
    def __init__(self, db: Database) -> None:
        self.db = db

    def pipeline(self, scheme: str = SchemeName.EMH) -> PipelineCounts:
        with self.db.lock:
            conn = self.db.conn
            own_tx = not conn.in_transaction
            if own_tx:
                conn.execute("BEGIN")  # one snapshot for all counts
            try:

                def value(sql: str, *p: object) -> Any:
                    return conn.execute(sql, p).fetchone()[0] or 0

                def one(sql: str, *p: object) -> int:
                    return int(value(sql, *p))

                dist = {  # from the counters the labels' triggers keep (migration 7)
                    r[0]: r[1]
                    for r in conn.execute(
                        "SELECT label, SUM(n) FROM label_counts WHERE scheme = ?"
                        " GROUP BY label HAVING SUM(n) > 0",
                        (scheme,),
                    )
                }
                jobs = dict(
                    conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
                )
                return PipelineCounts(
                    problems=one("SELECT COUNT(*) FROM problems"),
                    attempted=one("SELECT COUNT(DISTINCT problem_id) FROM attempts"),
                    attempts=one("SELECT COUNT(*) FROM attempts"),
                    graded=sum(dist.values()),
                    needs_review=one(
                        "SELECT COUNT(*) FROM labels WHERE scheme = ? AND needs_review = 1", scheme
                    ),
                    conflicts=one(
                        "SELECT COUNT(*) FROM labels WHERE scheme = ? AND conflict = 1", scheme
                    ),
                    human_labelled=one(
                        "SELECT COUNT(*) FROM labels WHERE scheme = ? AND human_label IS NOT NULL",
                        scheme,
                    ),
                    label_distribution=dist,
                    datasets=one("SELECT COUNT(*) FROM datasets"),
                    sampled=one("SELECT COUNT(DISTINCT problem_id) FROM dataset_items"),
                    cots=one("SELECT COUNT(*) FROM cots"),
                    verified=one(
                        "SELECT COUNT(*) FROM cots WHERE verified = 1 AND review != 'rejected'"
                    ),
                    rejected=one("SELECT COUNT(*) FROM cots WHERE review = 'rejected'"),
                    exports=one("SELECT COUNT(*) FROM exports"),
                    trained=one("SELECT COUNT(*) FROM train_runs WHERE status = 'done'"),
                    evaluated=one("SELECT COUNT(*) FROM evals WHERE status = 'done'"),
                    jobs_running=jobs.get(JobStatus.RUNNING, 0),
                    jobs_queued=jobs.get(JobStatus.QUEUED, 0),
                    jobs_stopped=jobs.get(JobStatus.STOPPED, 0),
                    # every paid call, also a second one for an answer already cached
                    tokens=one("SELECT COALESCE(SUM(tokens_in + tokens_out), 0) FROM llm_spend"),
                    cost=float(value("SELECT COALESCE(SUM(cost), 0) FROM llm_spend")),
                )
            finally:
                if own_tx:
                    conn.execute("COMMIT")
