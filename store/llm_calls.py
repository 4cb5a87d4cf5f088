"""The LLM-call cache: request key -> successful response.

Written in the same transaction as whatever the response produced (an attempt, a grade, a
CoT), so after a crash either both exist or neither does. Failed calls are never cached:
a re-run must retry them, not replay the failure.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .db import Database, utcnow


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
        """entries: (key, model, backend, response, job_id); existing keys are kept."""
        now = utcnow()
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
        return float(self.db.scalar("SELECT COALESCE(SUM(cost), 0) FROM llm_calls") or 0.0)

    def count(self) -> int:
        return int(self.db.scalar("SELECT COUNT(*) FROM llm_calls") or 0)
