"""Distillation sets: named, frozen selections of problems with their level and CoT kind.

A dataset is written once, atomically, with its strategy, parameters and seed, and never
changed afterwards: a training run that used it can always be traced to exactly the same
problems. Exports of a dataset are recorded too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .db import Database, NotFound, StoreError, utcnow


@dataclass(frozen=True, slots=True)
class Dataset:
    id: int
    name: str
    strategy: str
    scheme: str
    params: dict[str, Any]
    seed: int
    frozen: bool
    created_at: str
    size: int = 0

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Dataset:
        return cls(
            id=r["id"],
            name=r["name"],
            strategy=r["strategy"],
            scheme=r["scheme"],
            params=json.loads(r["params"]),
            seed=r["seed"],
            frozen=bool(r["frozen"]),
            created_at=r["created_at"],
            size=r["size"] if "size" in r.keys() else 0,  # noqa: SIM118 (sqlite3.Row has no __contains__ for names)
        )


@dataclass(frozen=True, slots=True)
class DatasetItem:
    problem_id: int
    label: str
    cot_kind: str
    position: int


@dataclass(frozen=True, slots=True)
class ExportRecord:
    id: int
    dataset_id: int
    format: str
    path: str
    rows: int
    created_at: str


_SELECT = "SELECT d.*, (SELECT COUNT(*) FROM dataset_items i WHERE i.dataset_id = d.id) AS size FROM datasets d"


class Datasets:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        name: str,
        *,
        strategy: str,
        scheme: str,
        params: dict[str, Any],
        seed: int,
        items: Sequence[tuple[int, str, str]],
    ) -> Dataset:
        """items: (problem_id, label, cot_kind) in sampling order."""
        if not name.strip():
            raise StoreError("a dataset needs a name")
        with self.db.tx() as conn:
            if conn.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone():
                raise StoreError(
                    f"dataset {name!r} already exists (datasets are frozen; pick another name)"
                )
            cur = conn.execute(
                "INSERT INTO datasets (name, strategy, scheme, params, seed, frozen, created_at) VALUES (?,?,?,?,?,1,?)",
                (name, strategy, scheme, json.dumps(params, sort_keys=True), seed, utcnow()),
            )
            dataset_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO dataset_items (dataset_id, problem_id, label, cot_kind, position) VALUES (?,?,?,?,?)",
                [
                    (dataset_id, pid, label, kind, pos)
                    for pos, (pid, label, kind) in enumerate(items)
                ],
            )
        return self.get(name)

    def get(self, name: str) -> Dataset:
        row = self.db.query_one(f"{_SELECT} WHERE d.name = ?", (name,))
        if row is None:
            known = ", ".join(d.name for d in self.all()) or "none"
            raise NotFound(f"no dataset {name!r} (datasets: {known})")
        return Dataset.from_row(row)

    def by_id(self, dataset_id: int) -> Dataset:
        row = self.db.query_one(f"{_SELECT} WHERE d.id = ?", (dataset_id,))
        if row is None:
            raise StoreError(f"no dataset with id {dataset_id}")
        return Dataset.from_row(row)

    def all(self) -> list[Dataset]:
        return [Dataset.from_row(r) for r in self.db.query(f"{_SELECT} ORDER BY d.id")]

    def items(self, dataset_id: int) -> list[DatasetItem]:
        return [
            DatasetItem(r[0], r[1], r[2], r[3])
            for r in self.db.query(
                "SELECT problem_id, label, cot_kind, position FROM dataset_items WHERE dataset_id = ? ORDER BY position",
                (dataset_id,),
            )
        ]

    def record_export(self, dataset_id: int, fmt: str, path: str, rows: int) -> ExportRecord:
        with self.db.tx() as conn:
            cur = conn.execute(
                "INSERT INTO exports (dataset_id, format, path, rows, created_at) VALUES (?,?,?,?,?)",
                (dataset_id, fmt, path, rows, utcnow()),
            )
            export_id = int(cur.lastrowid or 0)
            row = conn.execute("SELECT * FROM exports WHERE id = ?", (export_id,)).fetchone()
        return ExportRecord(**dict(row))

    def exports(self, dataset_id: int | None = None) -> list[ExportRecord]:
        if dataset_id is None:
            rows = self.db.query("SELECT * FROM exports ORDER BY id")
        else:
            rows = self.db.query(
                "SELECT * FROM exports WHERE dataset_id = ? ORDER BY id", (dataset_id,)
            )
        return [ExportRecord(**dict(r)) for r in rows]
