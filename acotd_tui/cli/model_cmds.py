"""Training, evaluation, the paper's experiment, and result tables."""

from __future__ import annotations

from pathlib import Path
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


@click.command("train")
@click.argument("dataset")
@project_option
@model_override_options
@background_option
@cli_options("train", skip=("dataset",))
def train_cmd(
    dataset: str,
    project_dir: str | None,
    backend: str | None,
    model_name: str | None,
    api_base: str | None,
    background: bool,
    **values: Any,
) -> None:
    """LoRA SFT of the student on a dataset's verified CoTs (trl + peft, paper defaults)."""
    params = stage_from_cli(
        "train", values, dataset=dataset, overrides=overrides(backend, model_name, api_base)
    )
    with open_project(project_dir) as project:
        run_stage(project, "train", params.to_job(), background=background)


@click.command("eval")
@project_option
@model_override_options
@background_option
@cli_options("eval", skip=("allow_overlap",))
def eval_cmd(
    project_dir: str | None,
    backend: str | None,
    model_name: str | None,
    api_base: str | None,
    background: bool,
    **values: Any,
) -> None:
    """Accuracy (mean ± std over n samples) and CoTQS of a model or base + adapter."""
    params = stage_from_cli("eval", values, overrides=overrides(backend, model_name, api_base))
    with open_project(project_dir) as project:
        run_stage(project, "eval", params.to_job(), background=background)


@click.command("experiment")
@click.argument("name", default="paper")
@project_option
@background_option
@cli_options("experiment", skip=("name",))
def experiment_cmd(name: str, project_dir: str | None, background: bool, **values: Any) -> None:
    """ACoTD vs random vs 6:3:1 vs only-short vs only-long: sample, teach, train, evaluate, tabulate."""
    params = stage_from_cli("experiment", values, name=name)
    with open_project(project_dir) as project:
        job = run_stage(project, "experiment", params.to_job(), background=background)
        if not background:
            out = Path(job.result["report"])
            click.echo((out / "table3.md").read_text())
            click.echo((out / "table4.md").read_text())


@click.command("results")
@project_option
@click.option(
    "--name", "names", multiple=True, help="Rows to show (evaluation names; default: all)."
)
@click.option("--benchmark", "benchmarks", multiple=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write the tables (Markdown, CSV, LaTeX, PNG) and plots here.",
)
@click.option(
    "--paper-reference",
    "paper_reference",
    is_flag=True,
    help="Add the paper's published rows, marked (paper).",
)
@click.option(
    "--reference-file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Published rows from this JSON file instead of the bundled one (implies --paper-reference).",
)
@click.option(
    "--transitions",
    "transitions",
    nargs=2,
    default=None,
    metavar="BEFORE AFTER",
    help="The E/M/H label transition matrix between two students' attempts (model names, "
    "e.g. Qwen/Qwen3-1.7B Qwen/Qwen3-1.7B+paper-acotd), with the problems that moved.",
)
def results_cmd(
    project_dir, names, benchmarks, out, paper_reference, reference_file, transitions
) -> None:
    """Evaluation results in the paper's layout: Table 3 (baselines vs ACoTD) and Table 4
    (ablations vs ACoTD), Acc and CoTQS mean ± std."""
    from acotd_tui.pipeline.results import (
        CAPTIONS,
        ResultsTable,
        load_reference,
        markdown,
        write_report,
    )

    with open_project(project_dir) as project:
        if transitions:
            from acotd_tui.pipeline.transitions import label_transitions, transition_markdown

            click.echo(transition_markdown(label_transitions(project, *transitions)))
            return
        table = ResultsTable.from_store(
            project.store, list(names) or None, list(benchmarks) or None
        )
        if paper_reference or reference_file:
            table.reference, note = load_reference(Path(reference_file) if reference_file else None)
            if note:
                table.notes.append(note)
        if not table.rows:
            click.echo("no finished evaluations yet (acotd eval)")
            return
        for number in (3, 4):
            click.echo(
                markdown(
                    table.header(number), table.body(number), CAPTIONS[number], table.footnotes()
                )
            )
        if out:
            runs = sorted({e.adapter for e in table.cells.values() if e.adapter})
            files = write_report(project.store, Path(out), runs=runs, table=table)
            click.echo(f"wrote {', '.join(f.name for f in files)} to {out}", err=True)
