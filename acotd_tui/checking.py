"""Is a final answer equivalent to the reference? A fast path, then math-verify.

math-verify bounds its sympy work with `signal.alarm`, which only works in a process's main
thread; our callers are asyncio loops, Textual workers and threads. So comparisons that need
sympy run in a small pool of worker processes, where math-verify's own timeouts work and a
comparison that hangs anyway can be killed (the pool is replaced). Plain numbers and
identical strings, most of GSM8K, never leave the calling thread.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import threading
from collections.abc import Sequence
from multiprocessing.pool import Pool

_NUM = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


def _as_number(text: str) -> float | None:
    cleaned = text.strip().strip("$").strip()
    cleaned = cleaned.replace(",", "").replace("\\!", "").replace("\\,", "").replace(" ", "")
    if cleaned.startswith("\\$"):
        cleaned = cleaned[2:]
    cleaned = cleaned.rstrip("%").removesuffix("\\%").rstrip(".")
    if _NUM.match(cleaned):
        try:
            return float(cleaned)
        except ValueError:
            return None
    return None


def quick_check(answer: str | None, reference: str) -> bool | None:
    """True/False when decidable without sympy, None when math-verify must decide."""
    if answer is None or not answer.strip():
        return False
    a, r = " ".join(answer.split()), " ".join(reference.split())
    if a == r:
        return True
    na, nr = _as_number(a), _as_number(r)
    if na is not None and nr is not None:
        return abs(na - nr) <= 1e-6 * max(1.0, abs(nr))
    return None


def _verify_in_worker(pair: tuple[str, str]) -> bool | None:
    """Runs in a pool process (main thread), so math-verify's signal timeouts are active."""
    from math_verify import parse, verify

    answer, reference = pair
    try:
        gold = parse(f"\\boxed{{{reference}}}", parsing_timeout=5)
        pred = parse(f"\\boxed{{{answer}}}", parsing_timeout=5)
        if not gold or not pred:
            return False if gold else None
        return bool(verify(gold, pred, timeout_seconds=5))
    except Exception:
        return None


def _warm() -> None:
    import math_verify  # noqa: F401  (import once per worker, not per task)


class AnswerChecker:
    """Thread-safe; create one per process and `close()` it (or use it as a context manager)."""

    def __init__(self, workers: int = 1, hard_timeout_s: float = 30.0) -> None:
        self.workers = workers
        self.hard_timeout_s = hard_timeout_s
        self._pool: Pool | None = None
        self._lock = threading.Lock()
        self.sympy_checks = 0

    def _get_pool(self) -> Pool:
        with self._lock:
            if self._pool is None:
                # forkserver: never fork a process that runs threads (Textual, asyncio helpers).
                ctx = mp.get_context("forkserver")
                self._pool = ctx.Pool(self.workers, initializer=_warm)
            return self._pool

    def _reset_pool(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.terminate()
                self._pool = None

    def check_many(self, pairs: Sequence[tuple[str | None, str]]) -> list[bool | None]:
        """Correctness per (answer, reference); None where it could not be decided."""
        results: list[bool | None] = [quick_check(a, r) for a, r in pairs]
        pending = [i for i, v in enumerate(results) if v is None and pairs[i][0]]
        if not pending:
            return results
        self.sympy_checks += len(pending)
        work = [(str(pairs[i][0]), pairs[i][1]) for i in pending]
        try:
            outcome = self._get_pool().map_async(_verify_in_worker, work, chunksize=8)
            values = outcome.get(timeout=self.hard_timeout_s + 2 * len(work))
        except mp.TimeoutError:
            # A comparison hung past math-verify's own timeouts: replace the pool, decide
            # the batch one by one so only the culprit stays undecided.
            self._reset_pool()
            values = [self._one(w) for w in work]
        for i, v in zip(pending, values, strict=True):
            results[i] = v
        return results

    def _one(self, pair: tuple[str, str]) -> bool | None:
        try:
            return (
                self._get_pool()
                .apply_async(_verify_in_worker, (pair,))
                .get(timeout=self.hard_timeout_s)
            )
        except mp.TimeoutError:
            self._reset_pool()
            return None

    def check(self, answer: str | None, reference: str) -> bool | None:
        return self.check_many([(answer, reference)])[0]

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool.join()
                self._pool = None

    def __enter__(self) -> AnswerChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
