"""Executable tests of code problems: stdin/stdout pairs, function calls, or assert code."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .db import Database, NotFound


@dataclass(frozen=True)
class CodeTests:
    """kind stdio:      cases [{"input": str, "output": str}], the program reads stdin;
    kind functional: cases [{"args": [...], "expected": value}], calls `entry_point`;
    kind assert:     cases [str, ...] of Python asserts run after the solution
                     (HumanEval's `check(candidate)` or MBPP's `assert f(..) == ..`)."""

    kind: str
    cases: list[Any] = field(default_factory=list)
    entry_point: str | None = None
    setup: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.cases, ensure_ascii=False)


class CodeTestsRepo:
    """The code tests of code problems, one CodeTests per problem (SQL table `problem_tests`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, conn: sqlite3.Connection, rows: Iterable[tuple[int, CodeTests]]) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO problem_tests (problem_id, kind, entry_point, tests, setup) VALUES (?,?,?,?,?)",
            [(pid, t.kind, t.entry_point, t.to_json(), t.setup) for pid, t in rows],
        )

    def find(self, problem_id: int) -> CodeTests | None:
        return self.get_many([problem_id]).get(problem_id)

    def get(self, problem_id: int) -> CodeTests:
        found = self.find(problem_id)
        if found is None:
            raise NotFound(f"no code tests for problem {problem_id}")
        return found

    def get_many(self, problem_ids: Sequence[int]) -> dict[int, CodeTests]:
        out: dict[int, CodeTests] = {}
        for start in range(0, len(problem_ids), 500):
            chunk = list(problem_ids[start : start + 500])
            rows = self.db.query(
                f"SELECT problem_id, kind, entry_point, tests, setup FROM problem_tests WHERE problem_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            out.update({r[0]: CodeTests(r[1], json.loads(r[3]), r[2], r[4]) for r in rows})
        return out
