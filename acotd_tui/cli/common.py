"""Options and helpers shared by every command: the project, model overrides, output."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, get_args

import click

from acotd_tui.config import Backend
from acotd_tui.errors import AcotdError
from acotd_tui.project import PROJECT_ENV, Project, resolve_project_dir, store_failure
from acotd_tui.store import DB_FILENAME

F = TypeVar("F", bound=Callable[..., Any])


def project_option(f: F) -> F:
    return click.option(
        "--project",
        "-p",
        "project_dir",
        type=click.Path(file_okay=False),
        default=None,
        help=f"Project directory (default: ${PROJECT_ENV}, else the current directory).",
    )(f)


def model_override_options(f: F) -> F:
    """`--backend/--model/--api-base`, like `llm -m`: point a stage at any model or server."""
    f = click.option("--api-base", default=None, help="OpenAI-compatible base URL for this run.")(f)
    f = click.option(
        "--model", "model_name", default=None, help="Model for this run (overrides acotd.toml)."
    )(f)
    f = click.option(
        "--backend",
        type=click.Choice(get_args(Backend)),
        default=None,
        help="Backend for this run (overrides acotd.toml).",
    )(f)
    return f


def background_option(f: F) -> F:
    return click.option(
        "--background",
        is_flag=True,
        help="Hand the job to a worker process and return at once (watch it with `acotd jobs`).",
    )(f)


def effective_project_dir(project_dir: str | None = None) -> str | None:
    """The subcommand's own `-p`, else the nearest one given before it (`acotd -p DIR
    import FILE`, `acotd jobs -p DIR show 3`), else None ($ACOTD_PROJECT, then the cwd)."""
    if project_dir:
        return project_dir
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        given = ctx.params.get("project_dir")
        if given:
            return given
        ctx = ctx.parent
    return None


OPENED_KEY = "acotd.project_root"


def open_project(project_dir: str | None = None) -> Project:
    chosen = effective_project_dir(project_dir)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # remembered (meta is shared by the whole command line) for errors
        ctx.meta[OPENED_KEY] = resolve_project_dir(chosen)
    return Project.open(chosen)


def store_problem(ctx: click.Context, exc: sqlite3.DatabaseError) -> AcotdError:
    """The one line for a store error that surfaced after the store was opened."""
    root = ctx.meta.get(OPENED_KEY) or resolve_project_dir(effective_project_dir())
    return store_failure(root / DB_FILENAME, exc)


def overrides(backend: str | None, model_name: str | None, api_base: str | None) -> dict[str, str]:
    return {
        k: v
        for k, v in {"backend": backend, "model": model_name, "api_base": api_base}.items()
        if v
    }


def info(message: str) -> None:
    click.echo(message, err=True)


def table(rows: list[tuple[Any, ...]], headers: tuple[str, ...]) -> str:
    """A plain, aligned text table (stdout stays parseable: no colours, no box drawing)."""
    cells = [tuple(str(c) for c in headers)] + [
        tuple("" if c is None else str(c) for c in r) for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yields update(done); draws a bar on a terminal, stays quiet when piped."""
    if not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=None,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)
