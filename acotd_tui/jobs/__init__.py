"""Jobs: long work as store rows, run in the foreground, a worker process or from the TUI."""

from .context import JobContext, Progress
from .engine import EngineSummary, WorkItem, raise_if_stopped, run_requests
from .runner import cancel, resume, run_job, spawn_worker, submit

__all__ = [
    "EngineSummary",
    "JobContext",
    "Progress",
    "WorkItem",
    "cancel",
    "resume",
    "run_job",
    "raise_if_stopped",
    "run_requests",
    "spawn_worker",
    "submit",
]
