"""Top-ups of a dataset at verification, and its distillation round.

A dataset's first draw is never rewritten. When an item's CoTs still fail after regeneration,
verification retires it and appends a replacement (an unused problem of the same level) as a
new dataset item; the retirement, its reason, the seed of the draw and the job are recorded
here. A retirement with no replacement (the level ran out) is recorded too: that is the
shortfall the dataset card and the experiment tables state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .db import Database, utcnow


@dataclass(frozen=True, slots=True)
class Topup:
    id: int
    dataset_id: int
    replaced_problem_id: int
    problem_id: int | None  # None: no unused problem of that level was left
    label: str
    cot_kind: str
    reason: str
    seed: str
    job_id: int | None
    created_at: str


@dataclass(frozen=True, slots=True)
class NewTopup:
    replaced_problem_id: int
    problem_id: int | None
    label: str
    cot_kind: str
    reason: str
    seed: str


class DatasetTopups:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, dataset_id: int, rows: Sequence[NewTopup], job_id: int | None = None) -> int:
        """Retire the replaced items and append the replacements, in one transaction."""
        if not rows:
            return 0
        now = utcnow()
        with self.db.tx() as conn:
            position = conn.execute(
                "SELECT COALESCE(MAX(position), -1) FROM dataset_items WHERE dataset_id = ?",
                (dataset_id,),
            ).fetchone()[0]
            for row in rows:
                conn.execute(
                    "INSERT INTO dataset_topups (dataset_id, replaced_problem_id, problem_id, label,"
                    " cot_kind, reason, seed, job_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        dataset_id,
                        row.replaced_problem_id,
                        row.problem_id,
                        row.label,
                        row.cot_kind,
                        row.reason,
                        row.seed,
                        job_id,
                        now,
                    ),
                )
                if row.problem_id is not None:
                    position += 1
                    conn.execute(
                        "INSERT INTO dataset_items (dataset_id, problem_id, label, cot_kind, position)"
                        " VALUES (?,?,?,?,?)",
                        (dataset_id, row.problem_id, row.label, row.cot_kind, position),
                    )
        return len(rows)

    def list(self, dataset_id: int) -> list[Topup]:
        return [
            Topup(**dict(r))
            for r in self.db.query(
                "SELECT * FROM dataset_topups WHERE dataset_id = ? ORDER BY id", (dataset_id,)
            )
        ]

    def retired(self, dataset_id: int) -> set[int]:
        return {t.replaced_problem_id for t in self.list(dataset_id)}

    def round(self, dataset_id: int) -> int:
        value = self.db.scalar("SELECT round FROM datasets WHERE id = ?", (dataset_id,))
        return int(value or 1)

    def set_round(self, dataset_id: int, round_number: int) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE datasets SET round = ? WHERE id = ?", (int(round_number), dataset_id)
            )
