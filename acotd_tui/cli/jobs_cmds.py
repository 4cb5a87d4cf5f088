"""`acotd jobs ...` and the shared way stage commands run a job (foreground or background)."""

from __future__ import annotations

import sys
from typing import Any

import click

from acotd_tui.domain import JobStatus
from acotd_tui.formatting import duration
from acotd_tui.project import Project
from acotd_tui.store import Job

from .common import info, open_project, project_option, table


def describe(job: Job) -> str:
    total = f"/{job.total}" if job.total is not None else ""
    parts = [f"job {job.id} {job.kind}: {job.display_status}", f"{job.done}{total} done"]
    if job.failed:
        parts.append(f"{job.failed} failed")
    if job.tokens_in or job.tokens_out:
        parts.append(f"{job.tokens_in + job.tokens_out:,} tokens, ${job.cost:.4f}")
    if job.message:
        parts.append(job.message)
    if job.error:
        parts.append(f"error: {job.error}")
    return "; ".join(parts)


def run_stage(project: Project, kind: str, params: dict[str, Any], *, background: bool) -> Job:
    """Run a stage as a job: a progress bar in the foreground, or hand it to a worker.

    The parameters are checked first (`preflight`), so bad input leaves no job row; a job
    that fails while running reports on stderr and exits 1."""
    from acotd_tui.jobs import submit
    from acotd_tui.preflight import check_job

    check_job(project, kind, params)

    if background:
        job = submit(project, kind, params, background=True)
        info(
            f"job {job.id} ({kind}) started in the background; follow it with `acotd jobs show {job.id}`"
        )
        return job
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn(kind),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[extra]}"),
            transient=True,
        ) as bar:
            task = bar.add_task(kind, total=None, extra="")

            def update(p: Any) -> None:
                extra = (
                    f"{p.tokens_in + p.tokens_out:,} tok ${p.cost:.4f}"
                    if (p.tokens_in or p.tokens_out)
                    else ""
                )
                bar.update(task, total=p.total, completed=p.done, extra=extra)

            job = submit(project, kind, params, on_progress=update)
    else:
        job = submit(project, kind, params)
    # stopped: the spending cap, work left undone
    if job.status in (JobStatus.FAILED, JobStatus.STOPPED):
        click.echo(describe(job), err=True)
        sys.exit(1)
    if job.status == JobStatus.CANCELLED:
        click.echo(describe(job), err=True)
        sys.exit(130)
    click.echo(describe(job))
    return job


@click.group("jobs", invoke_without_command=True)
@project_option
@click.pass_context
def jobs_group(ctx: click.Context, project_dir: str | None) -> None:
    """List jobs, or show, cancel, resume and run them."""
    ctx.ensure_object(dict)
    ctx.obj["project_dir"] = project_dir
    if ctx.invoked_subcommand is None:
        with open_project(project_dir) as project:
            jobs = project.store.jobs.list(limit=50)
        rows = [
            (
                j.id,
                j.kind,
                j.display_status,
                f"{j.done}/{j.total if j.total is not None else '?'}",
                j.failed,
                f"{j.rate:.1f}/s" if j.rate else "",
                duration(j.eta_s) if j.display_status == JobStatus.RUNNING else "",
                f"${j.cost:.4f}",
                (j.error or j.message or "")[:60],
            )
            for j in jobs
        ]
        click.echo(
            table(
                rows, ("id", "kind", "status", "progress", "failed", "rate", "eta", "cost", "note")
            )
        )


def _pd(ctx: click.Context, project_dir: str | None) -> str | None:
    return project_dir or (ctx.obj or {}).get("project_dir")


@jobs_group.command("show")
@click.argument("job_id", type=int)
@project_option
@click.option("--log-lines", default=20, show_default=True)
@click.pass_context
def jobs_show(ctx: click.Context, job_id: int, project_dir: str | None, log_lines: int) -> None:
    """One job: parameters, progress, result and the end of its log."""
    from pathlib import Path

    with open_project(_pd(ctx, project_dir)) as project:
        job = project.store.jobs.get(job_id)
    click.echo(describe(job))
    click.echo(f"params: {job.params}")
    if job.result:
        click.echo(f"result: {job.result}")
    if job.log_path and Path(job.log_path).exists():
        lines = (
            Path(job.log_path)
            .read_text(encoding="utf-8", errors="replace")
            .splitlines()[-log_lines:]
        )
        click.echo(f"log {job.log_path}:")
        for line in lines:
            click.echo(f"  {line}")


@jobs_group.command("cancel")
@click.argument("job_id", type=int)
@project_option
@click.pass_context
def jobs_cancel(ctx: click.Context, job_id: int, project_dir: str | None) -> None:
    """Ask a job to stop (it finishes in-flight work and can be resumed)."""
    from acotd_tui.jobs import cancel

    with open_project(_pd(ctx, project_dir)) as project:
        job = cancel(project, job_id)
    info(f"job {job_id}: cancel requested ({job.display_status})")


@jobs_group.command("resume")
@click.argument("job_id", type=int)
@project_option
@click.option("--background", is_flag=True, help="Resume in a worker process.")
@click.pass_context
def jobs_resume(ctx: click.Context, job_id: int, project_dir: str | None, background: bool) -> None:
    """Resume a failed, cancelled, stale or budget-stopped job where it stopped."""
    from acotd_tui.jobs import resume

    with open_project(_pd(ctx, project_dir)) as project:
        job = resume(project, job_id, background=background)
    if job.status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELLED) and not background:
        click.echo(describe(job), err=True)  # as a stage run in the foreground does
        sys.exit(130 if job.status == JobStatus.CANCELLED else 1)
    click.echo(describe(job))


@jobs_group.command("run")
@project_option
@click.pass_context
def jobs_run(ctx: click.Context, project_dir: str | None) -> None:
    """Work through queued jobs in this process (a worker)."""
    from acotd_tui.jobs.runner import drain_queue

    with open_project(_pd(ctx, project_dir)) as project:
        if not drain_queue(project, on_job=lambda job: click.echo(describe(job))):
            info("no queued jobs")
