"""`acotd review ...`: human labels from the command line, and CSV for reviewing elsewhere."""

from __future__ import annotations

from pathlib import Path

import click

from acotd_tui.domain import ReviewQueue

from .common import info, open_project, project_option, table


def _service(project):
    from acotd_tui.pipeline.review import ReviewService

    return ReviewService(project.store, project.config.grading.scheme)


@click.group("review")
def review_group() -> None:
    """Review difficulty labels: a human label always wins and is never overwritten."""


@review_group.command("set")
@click.argument("problem_id", type=int)
@click.argument("label")
@click.option("--note", default=None)
@project_option
def review_set(problem_id: int, label: str, note: str | None, project_dir: str | None) -> None:
    """Set the human label of a problem (E/M/H or easy/medium/hard; ZTE: easy, 1-5)."""
    with open_project(project_dir) as project:
        value = _service(project).set_label(problem_id, label, note)
    info(f"problem {problem_id}: human label {value}")


@review_group.command("clear")
@click.argument("problem_id", type=int)
@click.option("--note", default=None)
@project_option
def review_clear(problem_id: int, note: str | None, project_dir: str | None) -> None:
    """Remove the human label (the latest automatic label applies again)."""
    with open_project(project_dir) as project:
        _service(project).clear_label(problem_id, note)
    info(f"problem {problem_id}: human label cleared")


@review_group.command("undo")
@click.argument("problem_id", type=int)
@project_option
def review_undo(problem_id: int, project_dir: str | None) -> None:
    """Revert the last human action on a problem."""
    with open_project(project_dir) as project:
        now = _service(project).undo(problem_id)
    info(f"problem {problem_id}: human label now {now or '(none)'}")


@review_group.command("show")
@click.argument("problem_id", type=int)
@project_option
def review_show(problem_id: int, project_dir: str | None) -> None:
    """A problem's current label and its full grading history."""
    with open_project(project_dir) as project:
        scheme = project.config.grading.scheme
        label = project.store.grades.label(problem_id, scheme)
        history = project.store.grades.history(problem_id, scheme)
    click.echo(
        f"problem {problem_id}: label {label.label if label else '-'} ({label.source if label else 'ungraded'})"
    )
    rows = [
        (
            g.id,
            g.created_at[:19],
            g.source,
            g.attempt_id or "",
            g.label or "-",
            g.model or "",
            ("review " if g.needs_review else "") + (g.conflict or ""),
            (g.note or g.rationale or "")[:60],
        )
        for g in history
    ]
    click.echo(
        table(
            rows,
            ("grade", "when", "source", "attempt", "label", "grader", "flags", "note/rationale"),
        )
    )


@review_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--queue",
    # spot_check is the app's random draw from `unlabelled`; export takes whole queues
    type=click.Choice([q.value for q in ReviewQueue if q is not ReviewQueue.SPOT_CHECK]),
    default=ReviewQueue.ALL.value,
)
@project_option
def review_export(file: str, queue: str, project_dir: str | None) -> None:
    """Write labels to CSV (fill in human_label elsewhere, then `review import`)."""
    with open_project(project_dir) as project:
        rows = _service(project).export_csv(Path(file), queue)
    info(f"wrote {rows} problems to {file}")


@review_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@project_option
def review_import(file: str, project_dir: str | None) -> None:
    """Apply the human_label column of a CSV (all rows or none)."""
    with open_project(project_dir) as project:
        changed = _service(project).import_csv(Path(file))
    info(f"{changed} human labels set")


@review_group.command("stats")
@project_option
def review_stats(project_dir: str | None) -> None:
    """Label distribution per source and judge-vs-human agreement (confusion matrix, kappa)."""
    from .stage_cmds import print_review_stats

    with open_project(project_dir) as project:
        print_review_stats(project)
