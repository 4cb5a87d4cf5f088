"""Worker process: `python -m acotd_tui.jobs.worker --project DIR (--job ID | --all)`.

Spawned by `--background` and by the TUI, or run by hand to drain the queue. Being a
`__main__` module, it gives vLLM and torch the import guard their worker processes need.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="acotd-worker")
    ap.add_argument("--project", required=True)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--job", type=int)
    group.add_argument("--all", action="store_true", help="run queued jobs until none is left")
    args = ap.parse_args(argv)

    from acotd_tui.domain import JobStatus
    from acotd_tui.errors import AcotdError
    from acotd_tui.project import Project
    from acotd_tui.store import StoreError

    from .runner import drain_queue, run_job

    try:
        with Project.open(args.project) as project:
            if args.job is not None:
                job = run_job(project, args.job)
                return 0 if job.status in (JobStatus.DONE, JobStatus.CANCELLED) else 1
            drain_queue(project)
            return 0
    except (AcotdError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        # Skip the interpreter's last full garbage collection over torch's objects: after a
        # cancelled job it kept the process (and its GPU memory) alive for seconds.
        import gc

        gc.freeze()
