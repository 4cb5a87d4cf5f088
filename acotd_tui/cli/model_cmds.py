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


def _hyper(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@click.command("train")
@click.argument("dataset")
@project_option
@model_override_options
@background_option
@click.option(
    "--name", default=None, help="Run name (default: the dataset's); re-running a run resumes it."
)
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--rank", "lora_rank", type=click.IntRange(min=1), default=None)
@click.option("--alpha", "lora_alpha", type=click.IntRange(min=1), default=None)
@click.option(
    "--batch-size",
    "effective_batch_size",
    type=click.IntRange(min=1),
    default=None,
    help="Effective batch size.",
)
@click.option("--max-length", type=click.IntRange(min=16), default=None)
@click.option("--save-steps", type=click.IntRange(min=1), default=None)
@click.option(
    "--max-steps", type=int, default=-1, help="Stop after this many optimiser steps (smoke runs)."
)
@click.option("--merge", is_flag=True, default=None, help="Also save the merged model.")
@click.option("--cpu", is_flag=True, help="Train on the CPU even if a GPU is visible.")
def train_cmd(
    dataset,
    project_dir,
    backend,
    model_name,
    api_base,
    background,
    name,
    epochs,
    learning_rate,
    lora_rank,
    lora_alpha,
    effective_batch_size,
    max_length,
    save_steps,
    max_steps,
    merge,
    cpu,
) -> None:
    """LoRA SFT of the student on a dataset's verified CoTs (trl + peft, paper defaults)."""
    from acotd_tui.training.job import TrainParams

    params = TrainParams(
        dataset=dataset,
        name=name,
        overrides=overrides(backend, model_name, api_base),
        hyper=_hyper(
            epochs=epochs,
            learning_rate=learning_rate,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            effective_batch_size=effective_batch_size,
            max_length=max_length,
            save_steps=save_steps,
            merge=merge,
        ),
        max_steps=max_steps,
        device="cpu" if cpu else "auto",
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
@click.option(
    "--method",
    "methods",
    multiple=True,
    type=click.Choice(["acotd", "random", "fixed_6_3_1", "only_short", "only_long"]),
    help="Repeatable; default: all five.",
)
@click.option(
    "-k",
    "--size",
    "k",
    type=click.IntRange(min=1),
    default=None,
    help="Dataset size K (default: sampling.k).",
)
@click.option("--benchmark", "benchmarks", multiple=True)
@click.option("-n", "--samples", "n", type=click.IntRange(min=1), default=None)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="First N problems of each benchmark."
)
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.option(
    "--from-reference", is_flag=True, help="Reference solutions as CoTs (no API teachers)."
)
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--max-steps", type=int, default=-1)
@click.option("--no-baseline", is_flag=True)
@click.option("--cotqs/--no-cotqs", default=None)
@click.option(
    "--random-kinds",
    type=click.Choice(["acotd", "short", "long"]),
    default="acotd",
    help="Random arm's CoT kinds: the ACoTD arm's short:long proportion (default), all short or all long.",
)
@click.option(
    "--accept-nearest",
    is_flag=True,
    help="If a level is short for a plan, take the nearest feasible plan (else refuse).",
)
@click.option(
    "--thinking/--no-thinking",
    default=None,
    help="Qwen3 enable_thinking for the student rows (default: the student role's setting).",
)
@click.option(
    "--baseline-model",
    "baseline_models",
    multiple=True,
    help="A baseline model evaluated like the student (repeatable; default: [experiment] baselines).",
)
@click.option(
    "--paper",
    is_flag=True,
    help="The paper's rule and settings: K=1000, n=4, max_tokens 16384, T=0.6, top-p 0.9, "
    "Algorithm 1 labels (conflicts kept).",
)
@click.option(
    "--paper-reference",
    is_flag=True,
    help="Add the paper's published rows to the tables, marked (paper).",
)
def experiment_cmd(
    name,
    project_dir,
    background,
    methods,
    k,
    benchmarks,
    n,
    limit,
    max_tokens,
    from_reference,
    epochs,
    max_steps,
    no_baseline,
    cotqs,
    random_kinds,
    accept_nearest,
    thinking,
    baseline_models,
    paper,
    paper_reference,
) -> None:
    """ACoTD vs random vs 6:3:1 vs only-short vs only-long: sample, teach, train, evaluate, tabulate."""
    from acotd_tui.pipeline.experiment import METHODS
    from acotd_tui.stages import ExperimentParams

    params = ExperimentParams(
        name=name,
        methods=list(methods) or list(METHODS),
        k=k,
        benchmarks=list(benchmarks),
        n=n,
        limit=limit,
        max_tokens=max_tokens,
        from_reference=from_reference,
        hyper=_hyper(epochs=epochs),
        max_steps=max_steps,
        baseline=not no_baseline,
        cotqs=cotqs,
        random_kinds=random_kinds,
        accept_nearest=accept_nearest,
        thinking=thinking,
        baselines=list(baseline_models) or None,
        paper=paper,
        paper_reference=paper_reference,
    )
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
