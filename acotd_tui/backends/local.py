"""What the in-process backends (transformers, vLLM) share: how they find models and batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any, TypeVar

from acotd_tui.config import ModelRole
from acotd_tui.errors import JobCancelled

from .base import ChatRequest

T = TypeVar("T")
STOP_POLL_S = 0.2
"""How often a running generation looks at `should_stop` (a job's cancel flag, set by
`acotd jobs cancel` and by SIGTERM): well inside the 5 s a stop may take."""
STOP_GRACE_S = 2.0
"""How long a stopped generation gets to return before the job goes on without it."""


class LocalBackend:
    """A model loaded in this process, optionally with a LoRA adapter on top.

    Model and adapter names that are folders relative to the project (e.g. `runs/tiny-student`
    or a training run's adapter) resolve against `base_dir`, so a job behaves the same
    whichever directory its worker was started from.
    """

    name = "local"

    def __init__(
        self, role: ModelRole, *, adapter: str | Path | None = None, base_dir: Path | None = None
    ) -> None:
        self.role = role
        self.model = role.model
        self.adapter = str(adapter) if adapter else None
        self.base_dir = base_dir
        self.stop_reason: str | None = None
        self.should_stop: Callable[[], bool] | None = None
        self._stop = threading.Event()

    def stop_when(self, should_stop: Callable[[], bool]) -> None:
        """Have running generations stop once `should_stop()` is true (the engine passes the
        job's `cancelled`): a batch can otherwise run for minutes past a cancel."""
        self.should_stop = should_stop

    def abort(self) -> None:
        """Backend-specific: make the generation running in the helper thread return soon.
        The base sets the event that a transformers StoppingCriteria reads."""
        self._stop.set()

    async def run_stoppable(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a daemon thread, stopped early when `should_stop()` turns true.

        A daemon thread rather than `asyncio.to_thread`: `asyncio.run` waits for the default
        executor's threads at exit, so a generation that ignored the stop would hold the
        job for its whole length. Raises JobCancelled when stopped: the batch's results are
        cut off and are dropped (the engine redoes them on resume), never stored."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()

        def work() -> None:
            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                loop.call_soon_threadsafe(_settle, done, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, done, result, None)

        threading.Thread(target=work, daemon=True, name=f"{self.name}-generate").start()
        while True:
            finished, _ = await asyncio.wait({done}, timeout=STOP_POLL_S)
            if finished:
                break
            if self._stop.is_set() or (self.should_stop is not None and self.should_stop()):
                self.abort()
                await asyncio.wait({done}, timeout=STOP_GRACE_S)
                if done.done() and not done.cancelled():
                    done.exception()  # retrieved, so asyncio does not log it as lost
                raise JobCancelled("generation stopped: the job was cancelled")
        if self._stop.is_set():
            raise JobCancelled("generation stopped: the job was cancelled")
        return done.result()

    def _resolve(self, name: str) -> str:
        path = Path(name)
        if not path.is_absolute() and self.base_dir is not None and (self.base_dir / path).exists():
            return str(self.base_dir / path)
        return name


def _settle(future: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def batches(
    requests: Sequence[ChatRequest], key: Callable[[ChatRequest], Hashable], size: int
) -> Iterator[list[int]]:
    """Indices of `requests` in batches of at most `size` that agree on `key` (one generate
    call can only take one set of sampling parameters)."""
    order = sorted(range(len(requests)), key=lambda i: key(requests[i]))  # type: ignore[arg-type,return-value]
    for _, group in groupby(order, key=lambda i: key(requests[i])):
        members = list(group)
        for start in range(0, len(members), max(1, size)):
            yield members[start : start + size]
