"""Project set-up commands: init, import, attempts, status, demo."""

from __future__ import annotations

from pathlib import Path

import click

from acotd_tui.errors import AcotdError
from acotd_tui.project import Project

from .common import info, open_project, progress_bar, project_option, table


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--name", default=None, help="Project name (default: the folder's name).")
def init_cmd(directory: str, name: str | None) -> None:
    """Create a project: acotd.toml, the store acotd.db and runs/."""
    project = Project.init(directory, name=name)
    info(f"created project {project.root} (edit {project.config_path.name} to set models)")


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@project_option
@click.option(
    "--source", default=None, help="Source name (default: from the file name, e.g. gsm8k)."
)
@click.option("--split", default=None, help="Split name (default: from the file name, e.g. test).")
@click.option(
    "--map", "mapping", default=None, help="Rename fields: question=problem,final=answer,..."
)
@click.option(
    "--skip-bad", is_flag=True, help="Skip malformed rows (and report them) instead of aborting."
)
def import_cmd(
    files: tuple[str, ...],
    project_dir: str | None,
    source: str | None,
    split: str | None,
    mapping: str | None,
    skip_bad: bool,
) -> None:
    """Import problems from JSONL, JSON, CSV, Parquet or a saved `datasets` folder.

    Recognises GSM8K, MATH/MATH500, NuminaMath and AIME/AMC shapes. Duplicates (same
    problem text) are skipped. All files are imported in one transaction: any error leaves
    the store unchanged.
    """
    from acotd_tui.importing import ImportOptions, import_files, parse_mapping

    try:
        field_map = parse_mapping(mapping)
    except ValueError as exc:
        raise AcotdError(str(exc)) from None
    with open_project(project_dir) as project, progress_bar("importing", None) as update:
        report = import_files(
            project.store,
            files,
            ImportOptions(source=source, split=split, mapping=field_map, skip_bad=skip_bad),
            update,
        )
    rows = [
        (f.path, f.source, f.split, f.shape, f.read, f.added, f.duplicates, len(f.skipped))
        for f in report.files
    ]
    click.echo(
        table(rows, ("file", "source", "split", "shape", "read", "added", "duplicates", "skipped"))
    )
    for f in report.files:
        for location, message in f.skipped[:20]:
            info(f"skipped {f.path}, {location}: {message}")
        if len(f.skipped) > 20:
            info(f"... and {len(f.skipped) - 20} more skipped rows in {f.path}")
    info(
        f"added {report.added} problems ({report.read - report.added - report.skipped} duplicates, {report.skipped} skipped)"
    )


@click.group("attempts")
def attempts_group() -> None:
    """Student attempts that already exist (grade without re-running the student)."""


@attempts_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@project_option
@click.option("--model", default=None, help="Model name for the attempts (default: from the file).")
@click.option(
    "--source", default=None, help="Source for problems the file adds (default: file name)."
)
@click.option(
    "--labels", is_flag=True, help="Turn expert step labels (ProcessBench) into E/M/H grades."
)
def attempts_import_cmd(
    files: tuple[str, ...],
    project_dir: str | None,
    model: str | None,
    source: str | None,
    labels: bool,
) -> None:
    """Import attempts with known correctness (GSM8K model_solutions, ProcessBench, sampled outputs)."""
    from acotd_tui.importing.attempts import import_attempts

    with open_project(project_dir) as project:
        report = import_attempts(project.store, files, model=model, source=source, labels=labels)
    info(
        f"{report.shape}: {report.read} rows, {report.attempts_added} attempts added"
        f" ({len(report.models)} models), {report.problems_added} problems added,"
        f" {report.grades_added} grades, {report.checked} answers checked"
    )


@click.command("status")
@project_option
def status_cmd(project_dir: str | None) -> None:
    """Counts per pipeline stage, the label distribution and jobs."""
    with open_project(project_dir) as project:
        scheme = project.config.grading.scheme
        counts = project.store.stats.pipeline(scheme)
    click.echo(f"project {project.root} (scheme {scheme})")
    click.echo(table(counts.stages(), ("stage", "count")))
    dist = counts.label_distribution
    if dist:
        total = sum(dist.values())
        parts = [f"{k}={v} ({100 * v / total:.0f}%)" for k, v in sorted(dist.items())]
        click.echo("labels: " + ", ".join(parts))
    click.echo(
        f"review: {counts.needs_review} need review, {counts.conflicts} conflicts, "
        f"{counts.human_labelled} human-labelled"
    )
    stopped = (
        f", {counts.jobs_stopped} stopped by the budget (raise limits.budget_usd, then"
        " `acotd jobs resume ID`)"
        if counts.jobs_stopped
        else ""
    )
    click.echo(
        f"jobs: {counts.jobs_running} running, {counts.jobs_queued} queued{stopped}; "
        f"tokens {counts.tokens:,}, cost ${counts.cost:.4f}"
    )


@click.command("demo")
@click.argument("directory", type=click.Path(file_okay=False), default="acotd-demo")
@click.option("--rebuild", is_flag=True, help="Delete and rebuild the demo project.")
@click.option("--no-open", is_flag=True, help="Build only; do not open the app.")
def demo_cmd(directory: str, rebuild: bool, no_open: bool) -> None:
    """Build a demo project from bundled real data (no GPU, key or network) and open it."""
    from acotd_tui.demo import open_or_build_demo

    existed = (Path(directory) / "acotd.toml").exists() and not rebuild
    project = open_or_build_demo(directory, rebuild=rebuild)
    if not existed:
        counts = project.store.stats.pipeline()
        info(
            f"demo project at {project.root}: {counts.problems} problems, {counts.attempts} attempts, {counts.graded} labelled"
        )
    if not no_open:
        from acotd_tui.app import run_app

        project.close()
        run_app(project.root)
