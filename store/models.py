"""Model identities (name plus optional adapter) that attempts and evaluations refer to."""

from __future__ import annotations

from dataclasses import dataclass

from .db import Database, utcnow


@dataclass(frozen=True, slots=True)
class ModelRecord:
    id: int
    name: str
    adapter: str
    backend: str

    @property
    def display(self) -> str:
        return f"{self.name}+{self.adapter}" if self.adapter else self.name


class Models:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure(self, name: str, *, adapter: str = "", backend: str = "") -> ModelRecord:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO models (name, adapter, backend, created_at) VALUES (?,?,?,?)",
                (name, adapter, backend, utcnow()),
            )
            row = conn.execute(
                "SELECT id, name, adapter, backend FROM models WHERE name = ? AND adapter = ?",
                (name, adapter),
            ).fetchone()
        return ModelRecord(**dict(row))

    def all(self) -> list[ModelRecord]:
        return [
            ModelRecord(**dict(r))
            for r in self.db.query("SELECT id, name, adapter, backend FROM models ORDER BY id")
        ]

    def by_id(self, model_id: int) -> ModelRecord | None:
        row = self.db.query_one(
            "SELECT id, name, adapter, backend FROM models WHERE id = ?", (model_id,)
        )
        return ModelRecord(**dict(row)) if row else None
