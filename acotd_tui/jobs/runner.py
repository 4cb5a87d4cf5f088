"""Creating, running, spawning, cancelling and resuming jobs.

A job kind maps to a function `run(ctx) -> dict` (sync or async) in a pipeline module. The
same `run_job` serves the foreground CLI (with a progress callback), the worker process
(`python -m acotd_tui.jobs.worker`) and the TUI (which spawns workers), so all three take one
code path.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acotd_tui.domain import JobStatus
from acotd_tui.errors import AcotdError, BudgetExceeded, JobCancelled
from acotd_tui.project import Project
from acotd_tui.store import Job, JobTaken, StoreError

from .context import JobContext, Progress

HEARTBEAT_S = 2.0

# kind -> "module:function"; imported only when a job of that kind runs.
KINDS: dict[str, str] = {
    "diagnose": "acotd_tui.pipeline.diagnose:run_job",
    "grade": "acotd_tui.pipeline.grade:run_job",
    "teach": "acotd_tui.pipeline.teach:run_job",
    "verify": "acotd_tui.pipeline.verify:run_job",
    "export": "acotd_tui.pipeline.export:run_job",
    "train": "acotd_tui.pipeline.train:run_job",
    "eval": "acotd_tui.pipeline.evaluate:run_job",
    "experiment": "acotd_tui.pipeline.experiment:run_job",
    "decontaminate": "acotd_tui.decontam:run_job",  # issue 14
}


def resolve(kind: str) -> Callable[[JobContext], Any]:
    if kind not in KINDS:
        raise AcotdError(f"unknown job kind {kind!r} (kinds: {', '.join(KINDS)})")
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def run_coroutine(coro: Any) -> Any:
    """asyncio.run, also from code that already runs an event loop (notebooks, async tests):
    then the job gets its own loop in a helper thread and this call waits for it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="acotd-job") as pool:
        return pool.submit(asyncio.run, coro).result()


def log_path_for(project: Project, job: Job) -> Path:
    folder = project.runs_dir / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{job.id:05d}-{job.kind}.log"


def _attach_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("acotd")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


class _Heartbeat(threading.Thread):
    def __init__(self, project: Project, job_id: int) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.project, self.job_id = project, job_id
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a busy or closing store must not kill the job
                self.project.store.jobs.heartbeat(self.job_id)


def run_job(
    project: Project, job_id: int, *, on_progress: Callable[[Progress], None] | None = None
) -> Job:
    """Run one job to its end in this process and return its final row."""
    store = project.store
    job = store.jobs.get(job_id)
    log_path = log_path_for(project, job)
    job = store.jobs.claim(job_id, pid=os.getpid(), log_path=str(log_path))
    handler = _attach_log(log_path)
    log = logging.getLogger(f"acotd.job.{job.kind}")
    ctx = JobContext(project=project, job=job, log=log, on_progress=on_progress)
    heartbeat = _Heartbeat(project, job_id)
    heartbeat.start()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: ctx.request_cancel())
    log.info("job %d (%s) started, pid %d, params %s", job.id, job.kind, os.getpid(), job.params)
    try:
        fn = resolve(job.kind)
        result = run_coroutine(fn(ctx)) if inspect.iscoroutinefunction(fn) else fn(ctx)
        result = result or {}
        ctx.flush()
        if ctx.cancelled or result.get("cancelled"):
            store.jobs.finish(
                job_id, JobStatus.CANCELLED, result=result, message="cancelled; resume to continue"
            )
        elif result.get("stop_reason") and ctx.stopped_by:
            _finish_stopped(store, job_id, ctx.stopped_by, result["stop_reason"], result)
        elif result.get("stop_reason"):
            store.jobs.finish(job_id, JobStatus.FAILED, error=result["stop_reason"], result=result)
        else:
            store.jobs.finish(job_id, JobStatus.DONE, result=result, message=result.get("message"))
        log.info("job %d finished: %s", job.id, result)
    except JobCancelled:
        ctx.flush()
        store.jobs.finish(job_id, JobStatus.CANCELLED, message="cancelled; resume to continue")
        log.info("job %d cancelled", job.id)
    except BudgetExceeded as exc:  # a sub-step stopped by the cap (raise_if_stopped)
        ctx.flush()
        _finish_stopped(store, job_id, "budget", str(exc), {})
        log.info("job %d stopped by the budget: %s", job.id, exc)
    except KeyboardInterrupt:
        store.jobs.finish(job_id, JobStatus.CANCELLED, message="interrupted; resume to continue")
        log.info("job %d interrupted", job.id)
        raise
    except (AcotdError, StoreError) as exc:
        store.jobs.finish(job_id, JobStatus.FAILED, error=str(exc))
        log.error("job %d failed: %s", job.id, exc)
    except Exception as exc:  # an unexpected bug: record it, keep the traceback in the log
        store.jobs.finish(job_id, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        log.exception("job %d crashed", job.id)
    finally:
        heartbeat.stop.set()
        logging.getLogger("acotd").removeHandler(handler)
        handler.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return store.jobs.get(job_id)


def _finish_stopped(
    store: Any, job_id: int, stopped_by: str, reason: str, result: dict[str, Any]
) -> None:
    """End a job the spending cap stopped: `stopped`, with the reason as its note."""
    store.jobs.finish(
        job_id,
        JobStatus.STOPPED,
        result={**result, "stopped_by": stopped_by, "stop_reason": reason},
        message=reason,
    )


def drain_queue(project: Project, *, on_job: Callable[[Job], None] | None = None) -> int:
    """Run queued jobs until none is left; returns how many this process ran.

    Several worker processes on the project's machine may drain one queue (SQLite's WAL
    needs one host's shared memory, so not several hosts over a network file system): a job
    another worker claimed between our look and our claim is skipped.
    """
    ran = 0
    while (queued := project.store.jobs.next_queued()) is not None:
        try:
            job = run_job(project, queued.id)
        except JobTaken:
            continue
        ran += 1
        if on_job is not None:
            on_job(job)
    return ran


def spawn_worker(project_root: Path, job_id: int) -> int:
    """Start a detached worker process for one job; returns its pid.

    It runs in the project folder, not wherever acotd was started: `-m` puts the working
    directory first on sys.path, and a source checkout there would shadow the install.
    """
    project_root = project_root.resolve()
    log_dir = project_root / "runs" / "jobs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{job_id:05d}-worker.out", "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "acotd_tui.jobs.worker",
                "--project",
                str(project_root),
                "--job",
                str(job_id),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=project_root,
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        )
    return proc.pid


def submit(
    project: Project,
    kind: str,
    params: dict[str, Any],
    *,
    background: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> Job:
    """Create a job and run it here (foreground) or in a new worker process (background)."""
    resolve(kind)  # unknown kinds fail before a row is written
    job = project.store.jobs.create(kind, params)
    if background:
        spawn_worker(project.root, job.id)
        return project.store.jobs.get(job.id)
    return run_job(project, job.id, on_progress=on_progress)


def cancel(project: Project, job_id: int) -> Job:
    job = project.store.jobs.request_cancel(job_id)
    if job.status == JobStatus.RUNNING and job.pid and job.pid != os.getpid():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(job.pid, signal.SIGTERM)
    return job


def resume(
    project: Project,
    job_id: int,
    *,
    background: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> Job:
    from acotd_tui.stages import STAGES, validate_params

    stored = project.store.jobs.get(job_id)
    if stored.resumable and stored.kind in STAGES:  # stored params checked again: one line
        validate_params(stored.kind, stored.params)
    project.store.jobs.requeue(job_id)
    if background:
        spawn_worker(project.root, job_id)
        return project.store.jobs.get(job_id)
    return run_job(project, job_id, on_progress=on_progress)
