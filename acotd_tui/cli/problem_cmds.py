"""`acotd problems list`: the Problems screen's table headless, with the same filter and search."""

from __future__ import annotations

import click

from acotd_tui.domain import GradeSource

from .common import info, open_project, project_option, table


def _one_line(text: str, width: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


@click.group("problems")
def problems_group() -> None:
    """List and search the imported problems."""


@problems_group.command("list")
@click.option(
    "--search",
    "text",
    default="",
    help="Full-text search of the problem text: every word must occur, each matching the"
    " start of a word (`triang` finds `triangle`); case and accents are ignored.",
)
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--split", "splits", multiple=True, help="Only this split (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@project_option
def problems_list(
    text: str,
    sources: tuple[str, ...],
    splits: tuple[str, ...],
    limit: int,
    project_dir: str | None,
) -> None:
    """Problems in id order with their label and student results; the count goes to stderr."""
    from acotd_tui.store import ProblemFilter

    with open_project(project_dir) as project:
        flt = ProblemFilter(
            sources=sources, splits=splits, scheme=project.config.grading.scheme, text=text
        )
        rows = project.store.problems.page(flt, limit=limit)
        total = project.store.problems.count(flt)
    click.echo(
        table(
            [
                (
                    r.id,
                    r.source,
                    r.split,
                    (r.label or "-") + ("*" if r.label_source == GradeSource.HUMAN else ""),
                    f"{r.correct}/{r.attempts}" if r.attempts else "-",
                    _one_line(r.problem),
                )
                for r in rows
            ],
            ("id", "source", "split", "label", "student", "problem"),
        )
    )
    info(f"{len(rows)} shown of {total:,} matching")
