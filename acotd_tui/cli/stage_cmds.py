"""Model-using stage commands: each builds job parameters and runs the stage as a job."""

from __future__ import annotations

from typing import Any

import click

from acotd_tui.stages import cli_options, stage_from_cli

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
@cli_options("diagnose")
def diagnose_cmd(
    project_dir: str | None,
    backend: str | None,
    model_name: str | None,
    api_base: str | None,
    background: bool,
    **values: Any,
) -> None:
    """The student answers problems with its chain of thought (resumable: re-run to continue)."""
    params = stage_from_cli("diagnose", values, overrides=overrides(backend, model_name, api_base))
    with open_project(project_dir) as project:
        run_stage(project, "diagnose", params.to_job(), background=background)


def print_review_stats(project) -> None:
    from acotd_tui.pipeline.review import ReviewService

    from .common import table

    stats = ReviewService(project.store, project.config.grading.scheme).stats()
    labels = ":".join(stats.labels)
    rows = [
        (source, stats.ratio(source), sum(stats.distribution[source].values()))
        for source in sorted(stats.distribution)
    ]
    click.echo(f"distribution {labels} ({stats.scheme}):")
    click.echo(table(rows, ("source", labels, "labelled")))
    if not stats.compared:
        click.echo("agreement: no problem has both a human and an automatic label yet")
        return
    click.echo(
        f"agreement with humans on {stats.compared} problems: {stats.agreement:.1%}, Cohen's kappa {stats.kappa if stats.kappa is None else round(stats.kappa, 3)}"
    )
    matrix = [(f"auto {a}", *(stats.confusion[a][h] for h in stats.labels)) for a in stats.labels]
    click.echo(table(matrix, ("", *(f"human {h}" for h in stats.labels))))


@click.command("grade")
@project_option
@model_override_options
@background_option
@cli_options("grade")
@click.option(
    "--stats",
    "stats_only",
    is_flag=True,
    help="Print the label distribution and judge-vs-human agreement; grade nothing.",
)
def grade_cmd(
    project_dir: str | None,
    backend: str | None,
    model_name: str | None,
    api_base: str | None,
    background: bool,
    stats_only: bool,
    **values: Any,
) -> None:
    """Label problems Easy/Medium/Hard (or ZTE levels) from the student's attempts."""
    with open_project(project_dir) as project:
        if stats_only:
            print_review_stats(project)
            return
        params = stage_from_cli("grade", values, overrides=overrides(backend, model_name, api_base))
        run_stage(project, "grade", params.to_job(), background=background)
