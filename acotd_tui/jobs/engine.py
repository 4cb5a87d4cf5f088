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
5. a run of BREAKER failures in a row stops the job (a wrong model name, a server that only
   errs): one bad request is the request's problem, eight in a row are not (an endpoint
   that cannot be reached at all stops sooner, in the backend);
6. keys are claimed in the store before they are requested: when two jobs need the same
   answer, one pays and the other waits for it in the cache (claims of a job that is no
   longer running lapse, so a dead job blocks nobody);
7. a stop by the spending cap is `stopped_by="budget"`: the runner ends such a job as
   `stopped`, not `failed`, and resuming it after raising the cap continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from acotd_tui.backends import Backend, ChatRequest, GenerationResult
from acotd_tui.errors import AcotdError, BudgetExceeded

from .context import CANCEL_POLL_S, JobContext

P = TypeVar("P")
WRITE_BATCH = 256
BREAKER = 8
CLAIM_POLL_S = 0.25


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
    stopped_by: str | None = None  # "budget": the spending cap, not a failure
    shared: int = 0  # answers another job paid for while this one waited on its claim
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
            if bad:  # another job waiting on these keys may now try them itself
                store.llm_calls.release_in(conn, ctx.job_id, [i.key for i, _ in bad])
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

    async def persist_cached(chosen: Sequence[WorkItem[P]], answers: dict[str, Any]) -> None:
        for start in range(0, len(chosen), WRITE_BATCH):
            chunk = chosen[start : start + WRITE_BATCH]
            await persist([(i, GenerationResult.from_cache(answers[i.key])) for i in chunk])

    await persist_cached([i for i in items if i.key in cached], cached)
    if ctx.cancelled:
        summary.cancelled = True
        return summary

    # Claim the keys before paying for them: a key another live job holds is waited for
    # (its answer lands in the cache) instead of being requested a second time.
    remaining = fresh
    claimed: set[str] = set()
    waiting_noted = False
    try:
        while remaining:
            keys = list(dict.fromkeys(i.key for i in remaining))
            mine_keys = store.llm_calls.claim(ctx.job_id, keys)
            claimed |= mine_keys
            answered = store.llm_calls.get_many([k for k in keys if k not in mine_keys])
            if answered:
                shared = [i for i in remaining if i.key in answered]
                summary.from_cache += len(shared)
                summary.shared += len(shared)
                await persist_cached(shared, answered)
            mine = [i for i in remaining if i.key in mine_keys]
            remaining = [i for i in remaining if i.key not in mine_keys and i.key not in answered]
            if mine:
                await _stream(ctx, backend, mine, persist, summary)
                if summary.cancelled or summary.stop_reason:
                    break
            if remaining:
                if not waiting_noted:
                    waiting_noted = True
                    ctx.note(
                        f"waiting for {len(remaining)} answers another job is requesting"
                        " (not paying for them twice)"
                    )
                if await _sleep_unless_cancelled(ctx, CLAIM_POLL_S):
                    summary.cancelled = True
                    break
    finally:
        if claimed:
            store.llm_calls.release(ctx.job_id, claimed)
    if getattr(backend, "stop_kind", None) and not summary.stop_reason:
        summary.stop_reason = getattr(backend, "stop_reason", None)
    summary.stopped_by = getattr(backend, "stop_kind", None) if summary.stop_reason else None
    if summary.stopped_by:
        ctx.stopped_by = summary.stopped_by
    return summary


async def _sleep_unless_cancelled(ctx: JobContext, seconds: float) -> bool:
    """Sleep, waking early for a cancel request; True if the job was cancelled."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        if ctx.cancelled:
            return True
        await asyncio.sleep(min(left, CANCEL_POLL_S))
    return ctx.cancelled


async def _stream(
    ctx: JobContext,
    backend: Backend,
    fresh: Sequence[WorkItem[P]],
    persist: Any,
    summary: EngineSummary,
) -> None:
    """Request `fresh` from the backend, persisting results in batches as they land."""
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
    results = stream.__aiter__()
    failures_in_a_row = 0
    pending: asyncio.Future | None = None
    try:
        while True:
            # wait for the next result, but look at cancel requests while nothing arrives
            # (a stream waiting on the budget or a slow server still stops when asked)
            pending = asyncio.ensure_future(results.__anext__())
            while not pending.done():
                await asyncio.wait({pending}, timeout=CANCEL_POLL_S)
                if not pending.done() and ctx.cancelled:
                    break
            if not pending.done():
                pending.cancel()
                summary.cancelled = True
                break
            try:
                index, result = pending.result()
            except StopAsyncIteration:
                break
            finally:
                pending = None
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
        if pending is not None and not pending.done():
            pending.cancel()
        with contextlib.suppress(BaseException):
            if pending is not None:
                await pending
        await stream.aclose()  # type: ignore[attr-defined]
        await queue.put(None)
        await writer_task  # re-raises a write failure
    summary.stop_reason = summary.stop_reason or getattr(backend, "stop_reason", None)


def raise_if_stopped(summary: EngineSummary) -> None:
    """For sub-steps that return no result of their own (verification's regenerations and
    consistency checks, CoTQS): a budget stop ends the job as stopped (resumable once the cap
    is raised), any other stop (failures in a row) as failed."""
    if summary.stop_reason:
        if summary.stopped_by == "budget":
            raise BudgetExceeded(summary.stop_reason)
        raise AcotdError(summary.stop_reason)
