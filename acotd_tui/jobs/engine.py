"""Running many model requests for a stage: cache first, stream the rest, persist as they land.

Every stage that calls a model (diagnose, grade, teach, verify, eval) goes through
`run_requests`:
1. results already in the LLM-call cache are persisted without any request;
2. the rest stream from the backend; a writer task drains whatever results have arrived,
   lets the stage prepare them off the event loop (answer checking), then stores the cache
   entries and the stage's rows in ONE transaction. A crash therefore loses at most the
   results that arrived but were not yet written, and a resumed job finds every written
   one in the cache (never re-requested) and in the stage's table (never stored twice);
3. cancellation stops new requests; in-flight ones are dropped and redone on resume;
4. failed requests are counted, logged and not cached, so the next run retries them;
5. a run of BREAKER failures in a row stops the job (a dead server, a wrong model name, a
   revoked key): one bad request is the request's problem, eight in a row are not, and
   without this a dead server costs every request its full retry schedule.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from acotd_tui.backends import Backend, ChatRequest, GenerationResult
from acotd_tui.errors import AcotdError

from .context import JobContext

P = TypeVar("P")
WRITE_BATCH = 256
BREAKER = 8


@dataclass(frozen=True)
class WorkItem(Generic[P]):
    key: str
    request: ChatRequest
    payload: P


class ResultSink(Protocol[P]):
    """How a stage turns results into rows."""

    async def prepare(self, batch: list[tuple[WorkItem[P], GenerationResult]]) -> Any:
        """Work that must not block the loop (e.g. symbolic answer checks); may return anything."""
        ...

    def write(self, conn: sqlite3.Connection, prepared: Any) -> None:
        """Insert the stage's rows inside the engine's transaction."""
        ...


@dataclass
class EngineSummary:
    requested: int = 0
    from_cache: int = 0
    written: int = 0
    failed: int = 0
    cancelled: bool = False
    stop_reason: str | None = None
    errors: list[str] | None = None


async def run_requests(
    ctx: JobContext,
    backend: Backend,
    items: Sequence[WorkItem[P]],
    sink: ResultSink[P],
    *,
    model_id: str | None = None,
) -> EngineSummary:
    store = ctx.store
    summary = EngineSummary(errors=[])
    model_name = model_id or backend.model
    cached = store.llm_calls.get_many([i.key for i in items])
    fresh = [i for i in items if i.key not in cached]
    summary.from_cache = len(items) - len(fresh)

    async def persist(batch: list[tuple[WorkItem[P], GenerationResult]]) -> None:
        good = [(item, result) for item, result in batch if result.ok]
        bad = [(item, result) for item, result in batch if not result.ok]
        prepared = await sink.prepare(good) if good else None
        with store.db.tx() as conn:
            store.llm_calls.put(
                conn,
                [
                    (i.key, model_name, backend.name, r.to_cache(), ctx.job_id)
                    for i, r in good
                    if not r.cached
                ],
            )
            if good:
                sink.write(conn, prepared)
        summary.written += len(good)
        summary.failed += len(bad)
        for item, result in bad:
            ctx.log.warning("request failed (%s): %s", item.key[:12], result.error)
            if summary.errors is not None and len(summary.errors) < 20:
                summary.errors.append(str(result.error))
        for _, result in batch:
            fresh_call = not result.cached
            ctx.advance(
                1,
                failed=0 if result.ok else 1,
                tokens_in=result.tokens_in if fresh_call else 0,
                tokens_out=result.tokens_out if fresh_call else 0,
                cost=result.cost if fresh_call else 0.0,
            )

    cached_items = [i for i in items if i.key in cached]
    for start in range(0, len(cached_items), WRITE_BATCH):
        chunk = cached_items[start : start + WRITE_BATCH]
        await persist([(i, GenerationResult.from_cache(cached[i.key])) for i in chunk])
    if ctx.cancelled:
        summary.cancelled = True
        return summary
    if not fresh:
        return summary

    queue: asyncio.Queue[tuple[WorkItem[P], GenerationResult] | None] = asyncio.Queue()

    async def writer() -> None:
        while True:
            first = await queue.get()
            if first is None:
                return
            batch = [first]
            finished = False
            while len(batch) < WRITE_BATCH and not queue.empty():
                nxt = queue.get_nowait()
                if nxt is None:
                    finished = True
                    break
                batch.append(nxt)
            await persist(batch)
            if finished:
                return

    writer_task = asyncio.create_task(writer())
    if hasattr(backend, "stop_when"):  # local backends: a cancel stops a running batch
        backend.stop_when(lambda: ctx.cancelled)
    stream = backend.stream([i.request for i in fresh])
    failures_in_a_row = 0
    try:
        async for index, result in stream:
            summary.requested += 1
            await queue.put((fresh[index], result))
            if writer_task.done():  # the writer failed (disk full...): stop at once
                break
            if ctx.cancelled:
                summary.cancelled = True
                break
            failures_in_a_row = 0 if result.ok else failures_in_a_row + 1
            if failures_in_a_row >= BREAKER:
                summary.stop_reason = (
                    f"stopped after {failures_in_a_row} failed requests in a row to "
                    f"{backend.name}/{backend.model} (last: {result.error}); fix the cause and "
                    "run again: finished work is kept"
                )
                break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await queue.put(None)
        await writer_task  # re-raises a write failure
    summary.stop_reason = summary.stop_reason or getattr(backend, "stop_reason", None)
    return summary


def raise_if_stopped(summary: EngineSummary) -> None:
    """For sub-steps that return no result of their own (verification's regenerations and
    consistency checks, CoTQS): a stop (budget, failures in a row) ends the job as failed."""
    if summary.stop_reason:
        raise AcotdError(summary.stop_reason)
