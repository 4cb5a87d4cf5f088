"""What a running job sees: its project and params, progress reporting and cancellation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acotd_tui.backends.limits import Budget
from acotd_tui.errors import JobCancelled
from acotd_tui.project import Project
from acotd_tui.store import Job

PROGRESS_EVERY_S = 0.5
CANCEL_POLL_S = 0.5


@dataclass
class Progress:
    done: int = 0
    total: int | None = None
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    message: str | None = None


@dataclass
class JobContext:
    project: Project
    job: Job
    log: logging.Logger
    on_progress: Callable[[Progress], None] | None = None
    progress: Progress = field(default_factory=Progress)
    _started: float = field(default_factory=time.monotonic)
    _done_at_start: int = 0
    _last_flush: float = 0.0
    _last_cancel_check: float = 0.0
    _cancelled: threading.Event = field(default_factory=threading.Event)
    # set by the engine when the spending cap stopped a stage ("budget"): the runner then
    # ends the job as `stopped`, resumable once the cap is raised, not as `failed`
    stopped_by: str | None = None

    @property
    def store(self):
        return self.project.store

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params

    @property
    def job_id(self) -> int:
        return self.job.id

    def budget(self) -> Budget:
        """This job's share of the project's spending cap, drawn from the store's ledger so
        that jobs running at the same time cannot together spend past it."""
        cap = self.project.config.limits.budget_usd
        return Budget(cap, grants=self.store.budget.for_job(self.job_id, cap))

    # -- progress ---------------------------------------------------------------------------
    def set_total(self, total: int, *, already_done: int = 0) -> None:
        self.progress.total = total
        self.progress.done = already_done
        self._done_at_start = already_done
        self._started = time.monotonic()
        self.flush()

    def advance(
        self,
        done: int = 1,
        *,
        failed: int = 0,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: float = 0.0,
    ) -> None:
        p = self.progress
        p.done += done
        p.failed += failed
        p.tokens_in += tokens_in
        p.tokens_out += tokens_out
        p.cost += cost
        if time.monotonic() - self._last_flush >= PROGRESS_EVERY_S:
            self.flush()

    def note(self, message: str) -> None:
        self.progress.message = message
        self.log.info(message)
        self.flush()

    def rate_and_eta(self) -> tuple[float | None, float | None]:
        elapsed = time.monotonic() - self._started
        moved = self.progress.done - self._done_at_start
        if elapsed <= 0 or moved <= 0:
            return None, None
        rate = moved / elapsed
        if self.progress.total is None:
            return rate, None
        return rate, max(0.0, (self.progress.total - self.progress.done) / rate)

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        rate, eta = self.rate_and_eta()
        p = self.progress
        self.store.jobs.progress(
            self.job.id,
            done=p.done,
            total=p.total,
            failed=p.failed,
            tokens_in=p.tokens_in,
            tokens_out=p.tokens_out,
            cost=p.cost,
            rate=rate,
            eta_s=eta,
            message=p.message,
        )
        if self.on_progress:
            self.on_progress(p)

    # -- cancellation -----------------------------------------------------------------------
    def request_cancel(self) -> None:
        """Called from a signal handler or another thread."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        if self._cancelled.is_set():
            return True
        now = time.monotonic()
        if now - self._last_cancel_check >= CANCEL_POLL_S:
            self._last_cancel_check = now
            if self.store.jobs.cancel_requested(self.job.id):
                self._cancelled.set()
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise JobCancelled()
