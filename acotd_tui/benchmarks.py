"""Evaluation benchmarks: the bundled ones, or any split imported into the project.

Bundled (acotd_tui/data/benchmarks): amc23, aime24, aime25, math500, gsm8k_test. Any other
name of the form `SOURCE/SPLIT` (e.g. `math/test`) is read from the project's problems.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources

from acotd_tui.answers import normalize_reference
from acotd_tui.errors import AcotdError
from acotd_tui.store import CodeTests, ProblemFilter, Store, problem_hash

BUNDLED = ("amc23", "aime24", "aime25", "math500", "gsm8k_test")


@dataclass(frozen=True)
class BenchItem:
    problem: str
    answer: str
    domain: str = "math"
    tests: CodeTests | None = None

    @property
    def hash(self) -> bytes:
        return problem_hash(self.problem, self.domain)


@dataclass(frozen=True)
class Benchmark:
    name: str
    items: tuple[BenchItem, ...]


def benchmark_version(name: str, store: Store | None = None) -> str:
    """A digest of the benchmark's problems as they are now: bundled ones by their file, an
    imported SOURCE/SPLIT by the content hashes of its problems. Stored with decontamination
    results, so a changed benchmark is noticed and checked again."""
    if name in BUNDLED:
        path = resources.files("acotd_tui") / "data" / "benchmarks" / f"{name}.jsonl"
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    source, sep, split = name.partition("/")
    if not sep or store is None:
        load_benchmark(name, store)  # raises the one clear error
        raise AssertionError("unreachable: load_benchmark refused the name")
    hashes = store.problems.hashes(ProblemFilter(sources=(source,), splits=(split,)))
    if not hashes:
        load_benchmark(name, store)
    return hashlib.blake2b(b"".join(hashes), digest_size=16).hexdigest()


def load_benchmark(name: str, store: Store | None = None) -> Benchmark:
    if name in BUNDLED:
        path = resources.files("acotd_tui") / "data" / "benchmarks" / f"{name}.jsonl"
        rows = [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        return Benchmark(
            name, tuple(BenchItem(r["problem"], normalize_reference(r["answer"])) for r in rows)
        )
    source, sep, split = name.partition("/")
    if not sep or store is None:
        raise AcotdError(
            f"unknown benchmark {name!r}: use one of {', '.join(BUNDLED)} or SOURCE/SPLIT of imported problems"
        )
    ids = store.problems.ids(ProblemFilter(sources=(source,), splits=(split,)))
    if not ids:
        raise AcotdError(
            f"benchmark {name!r}: no imported problems with source {source!r} and split {split!r}"
        )
    return Benchmark(
        name, tuple(BenchItem(p.problem, p.answer) for p in store.problems.get_many(ids))
    )
