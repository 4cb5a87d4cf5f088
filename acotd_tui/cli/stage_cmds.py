"""Model-using stage commands: each builds job parameters and runs the stage as a job."""

from __future__ import annotations

import click

from .common import (
    background_option,
    model_override_options,
    open_project,
    overrides,
    project_option,
)
from .jobs_cmds import run_stage


@click.command("diagnose")
@project_option
@model_override_options
@background_option
@click.option(
    "--source", "sources", multiple=True, help="Only problems from this source (repeatable)."
)
@click.option(
    "--split", "splits", multiple=True, help="Only problems from this split (repeatable)."
)
@click.option("--limit", type=int, default=None, help="At most this many problems.")
@click.option(
    "--samples",
    "-n",
    type=int,
    default=None,
    help="Samples per problem (default: diagnose.samples).",
)
@click.option("--new-only", is_flag=True, help="Skip problems the student has already attempted.")
def diagnose_cmd(
    project_dir: str | None,
    backend: str | None,
    model_name: str | None,
    api_base: str | None,
    background: bool,
    sources: tuple[str, ...],
    splits: tuple[str, ...],
    limit: int | None,
    samples: int | None,
    new_only: bool,
) -> None:
    """The student answers problems with its chain of thought (resumable: re-run to continue)."""
    from acotd_tui.pipeline.diagnose import DiagnoseParams

    params = DiagnoseParams(
        sources=list(sources),
        splits=list(splits),
        limit=limit,
        samples=samples,
        new_only=new_only,
        overrides=overrides(backend, model_name, api_base),
    )
    with open_project(project_dir) as project:
        run_stage(project, "diagnose", params.to_job(), background=background)
