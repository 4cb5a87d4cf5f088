"""Project set-up commands: init, import, attempts, status, demo."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from acotd_tui.domain import ACTIVE_JOB_STATUSES
from acotd_tui.errors import AcotdError
from acotd_tui.importing.attempt_shapes import ATTEMPT_FIELDS
from acotd_tui.project import Project

from .common import info, open_project, progress_bar, project_option, table


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--name", default=None, help="Project name (default: the folder's name).")
def init_cmd(directory: str, name: str | None) -> None:
    """Create a project: acotd.toml, the store acotd.db and runs/."""
    project = Project.init(directory, name=name)
    info(f"created project {project.root} (edit {project.config_path.name} to set models)")


_MAP_HELP = (
    "Which field feeds what: SOURCE=TARGET,... SOURCE may be a path: nested fields"
    " (question.problem), list elements (final_answer.0 or final_answer[0]) and, for"
    " attempts, every element (outputs[].response)."
)


def _print_summaries(reports: list, dry_run: bool) -> None:
    """Each file's summary; a dry run that a real import would refuse exits 1 with that line."""
    for f in reports:
        for line in f.summary_lines():
            click.echo(line)
    if dry_run:
        info("dry run: nothing was stored")
        refused = next((f.refusal for f in reports if f.refusal), None)
        if refused:
            raise AcotdError(refused)


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@project_option
@click.option(
    "--source", default=None, help="Source name (default: the file's stem as it is, e.g. gsm8k)."
)
@click.option("--split", default=None, help="Split name (default: from the file name, e.g. test).")
@click.option(
    "--map",
    "mapping",
    default=None,
    help=_MAP_HELP + " Targets: problem, answer, solution, level, subject, domain.",
)
@click.option(
    "--skip-bad", is_flag=True, help="Skip malformed rows (and report them) instead of refusing."
)
@click.option(
    "--skip-unmatched",
    is_flag=True,
    help="Skip rows that do not fit the file's shape (no problem field) instead of refusing.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show the detected shape, mapping, three parsed rows, warnings and counts; store nothing.",
)
def import_cmd(
    files: tuple[str, ...],
    project_dir: str | None,
    source: str | None,
    split: str | None,
    mapping: str | None,
    skip_bad: bool,
    skip_unmatched: bool,
    dry_run: bool,
) -> None:
    """Import problems from JSONL, JSON, CSV, Parquet or a saved `datasets` folder.

    Recognises GSM8K, MATH / MATH-500 / MATH-lighteval, NuminaMath-CoT and 1.5, OpenR1-Math,
    DeepScaleR, Big-Math, Omni-MATH, OlympiadBench, AIME / AMC, GSM-hard, SVAMP, PRM800K and
    the code sets (HumanEval, MBPP, APPS, LiveCodeBench). Every row is accounted for: read =
    added + duplicates + skipped. All files are imported in one transaction: any refusal
    leaves the store unchanged.
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
            ImportOptions(
                source=source,
                split=split,
                mapping=field_map,
                skip_bad=skip_bad,
                skip_unmatched=skip_unmatched,
                dry_run=dry_run,
            ),
            update,
        )
    _print_summaries(report.files, dry_run)
    rows = [
        (f.path, f.source, f.split, f.shape, f.read, f.added, f.duplicates, len(f.skipped))
        for f in report.files
    ]
    click.echo(
        table(rows, ("file", "source", "split", "shape", "read", "added", "duplicates", "skipped"))
    )
    verb = "would add" if dry_run else "added"
    info(
        f"{verb} {report.added} problems ({report.read - report.added - report.skipped}"
        f" duplicates, {report.skipped} skipped) of {report.read} rows read"
    )


@click.group("attempts")
def attempts_group() -> None:
    """Student attempts that already exist (grade without re-running the student)."""


@attempts_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@project_option
@click.option("--model", default=None, help="Model name for the attempts (default: from the file).")
@click.option(
    "--source", default=None, help="Source for problems the file adds (default: the file's stem)."
)
@click.option(
    "--labels", is_flag=True, help="Turn expert step labels (ProcessBench) into E/M/H grades."
)
@click.option(
    "--map",
    "mapping",
    default=None,
    help=_MAP_HELP
    + " Targets: "
    + ", ".join(ATTEMPT_FIELDS)
    + ".",
)
@click.option("--skip-bad", is_flag=True, help="Skip malformed rows instead of refusing.")
@click.option(
    "--skip-unmatched",
    is_flag=True,
    help="Skip rows whose problem is not in the store (and carry no reference answer).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be imported; store nothing.")
def attempts_import_cmd(
    files: tuple[str, ...],
    project_dir: str | None,
    model: str | None,
    source: str | None,
    labels: bool,
    mapping: str | None,
    skip_bad: bool,
    skip_unmatched: bool,
    dry_run: bool,
) -> None:
    """Import attempts with known correctness (ProcessBench, OpenR1, sampled outputs, GSM8K model_solutions, ...)."""
    from acotd_tui.importing.attempts import import_attempts, parse_attempt_mapping

    try:
        field_map = parse_attempt_mapping(mapping)
    except ValueError as exc:
        raise AcotdError(str(exc)) from None
    with open_project(project_dir) as project:
        report = import_attempts(
            project.store,
            files,
            model=model,
            source=source,
            labels=labels,
            mapping=field_map,
            skip_bad=skip_bad,
            skip_unmatched=skip_unmatched,
            dry_run=dry_run,
        )
    _print_summaries(report.files, dry_run)
    verb = "would add" if dry_run else "added"
    info(
        f"{report.shape}: {report.read} rows, {verb} {report.attempts_added} attempts"
        f" ({report.duplicates} duplicates, {report.skipped} skipped; {len(report.models)} models),"
        f" {report.problems_added} problems added, {report.grades_added} grades,"
        f" {report.checked} answers checked"
        + (
            f"; {report.disagreements} problems with disagreeing expert labels,"
            f" {report.queued_for_review} queued for review"
            if labels
            else ""
        )
    )


@click.command("status")
@project_option
def status_cmd(project_dir: str | None) -> None:
    """Counts per pipeline stage, the label distribution and jobs."""
    with open_project(project_dir) as project:
        scheme = project.config.grading.scheme
        counts = project.store.stats.pipeline(scheme)
        # By display status, as `acotd jobs` and the Jobs screen show them: a job whose
        # process died is "stale" in all three, never "running" here and stale there.
        active = project.store.jobs.list(limit=100_000, statuses=ACTIVE_JOB_STATUSES)
        isolation_command = project.config.code.isolation_command
    shown = Counter(j.display_status for j in active)
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
    stale = [j.id for j in active if j.display_status == "stale"]
    stale_note = (
        f", {len(stale)} stale (process gone; `acotd jobs resume {stale[0]}`)" if stale else ""
    )
    stopped = (
        f", {counts.jobs_stopped} stopped by the budget (raise limits.budget_usd, then"
        " `acotd jobs resume ID`)"
        if counts.jobs_stopped
        else ""
    )
    click.echo(
        f"jobs: {shown['running']} running{stale_note}, {shown['queued']} queued{stopped}; "
        f"tokens {counts.tokens:,}, cost ${counts.cost:.4f}"
    )
    from acotd_tui.code.isolation import isolation_summary

    click.echo(f"code sandbox: {isolation_summary(isolation_command)}")


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
