"""Model-using stage commands: each builds job parameters and runs the stage as a job."""

from __future__ import annotations

import click

from .common import (
    background_option,
    model_override_options,
    open_project,
    overrides,
    problem_selection_options,
    project_option,
)
from .jobs_cmds import run_stage


@click.command("diagnose")
@project_option
@model_override_options
@background_option
@problem_selection_options
@click.option(
    "--samples",
    "-n",
    type=click.IntRange(min=1),
    default=None,
    help="Samples per problem (default: diagnose.samples).",
)
@click.option("--new-only", is_flag=True, help="Skip problems the student has already attempted.")
@click.option(
    "--thinking/--no-thinking",
    default=None,
    help="Qwen3 enable_thinking for the student (default: the student role's setting).",
)
@click.option(
    "--adapter",
    default=None,
    help="Diagnose a trained student (a finished training run): the next round. Attempts are "
    "stored under MODEL+RUN; grade them with `acotd grade --attempts-of MODEL+RUN`.",
)
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
    thinking: bool | None,
    adapter: str | None,
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
        thinking=thinking,
        adapter=adapter,
    )
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
@problem_selection_options
@click.option(
    "--attempts-of",
    "attempts_of",
    multiple=True,
    help="Grade attempts of this model (default: the student; '*' = any).",
)
@click.option(
    "--scheme", type=click.Choice(["emh", "zte"]), default=None, help="Default: grading.scheme."
)
@click.option(
    "--grader",
    type=click.Choice(["judge", "prm"]),
    default=None,
    help="ZTE only: judge prompt or PRM.",
)
@click.option(
    "--regrade",
    is_flag=True,
    help="Recompute per-problem labels even where this grader already gave one.",
)
@click.option(
    "--rule",
    type=click.Choice(["paper", "checked"]),
    default=None,
    help="E/M/H label rule (default: grading.rule): paper = the judge's verdict (Algorithm 1), "
    "checked = the answer check decides Easy and conflicts stay out of the pool.",
)
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
    sources: tuple[str, ...],
    splits: tuple[str, ...],
    limit: int | None,
    attempts_of: tuple[str, ...],
    scheme: str | None,
    grader: str | None,
    regrade: bool,
    rule: str | None,
    stats_only: bool,
) -> None:
    """Label problems Easy/Medium/Hard (or ZTE levels) from the student's attempts."""
    from acotd_tui.pipeline.grade import GradeParams

    with open_project(project_dir) as project:
        if stats_only:
            print_review_stats(project)
            return
        params = GradeParams(
            sources=list(sources),
            splits=list(splits),
            limit=limit,
            attempts_of=list(attempts_of),
            scheme=scheme,
            grader=grader,
            regrade=regrade,
            overrides=overrides(backend, model_name, api_base),
            rule=rule,
        )
        run_stage(project, "grade", params.to_job(), background=background)
