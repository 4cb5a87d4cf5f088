"""Filling a store with many synthetic problems quickly (the 1M-row test and bench/tui_latency.py)."""

from __future__ import annotations

from acotd_tui.store import NewProblem, Store
from acotd_tui.store.problems import Problems

SOURCES = ("gsm8k", "math", "numina", "aime")


def fill_problems(store: Store, n: int, chunk: int = 50_000) -> None:
    prepare = Problems.prepare
    with store.db.tx() as conn:
        for start in range(0, n, chunk):
            rows = [
                prepare(
                    NewProblem(
                        problem=f"Synthetic problem {i}: a train leaves at {i % 24} o'clock and travels {i % 97} km; compute {i} + {i}.",
                        answer=str(2 * i),
                        source=SOURCES[i % 4],
                        split="train",
                    ),
                    None,
                )
                for i in range(start, min(n, start + chunk))
            ]
            store.problems.insert_rows(conn, rows)
