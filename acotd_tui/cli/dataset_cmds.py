"""Building the distillation set: sample, teach, verify, review CoTs, export."""

from __future__ import annotations

from typing import Any

import click

from acotd_tui.domain import CotKind, ReviewState
from acotd_tui.errors import AcotdError
from acotd_tui.stages import cli_options, stage_from_cli

from .common import (
    background_option,
    info,
    model_override_options,
    open_project,
    overrides,
    project_option,
    table,
)
from .jobs_cmds import run_stage


def _ratios(text: str | None) -> dict[str, float] | None:
    """`6:3:1` (E:M:H) or `easy=1,1=1,2=2,...` (acotd_tui.ratios: shared with the screen)."""
    from acotd_tui.ratios import parse_ratios

    return parse_ratios(text) or None


def _request(service, values: dict[str, Any]):
    """The sampling request from the generated options (`stages.SampleParams`): what is not
    given comes from `[sampling]`."""
    from acotd_tui.pipeline.sampling import RATIO_STRATEGIES

    params = stage_from_cli("sample", values)
    weights = _ratios(params.ratios)
    request = service.default_request(
        strategy=params.strategy,
        k=params.k,
        ratios=weights,
        seed=params.seed,
        cot_mode=params.cot_mode,
        sources=params.sources or None,
        decontaminate=params.decontaminate,
        include_conflicts=params.include_conflicts,
        accept_nearest=params.accept_nearest or None,
    )
    if weights and request.strategy not in RATIO_STRATEGIES:
        # The plan would ignore them: say so rather than plan another mix in silence.
        raise AcotdError(
            f"--ratios applies to --strategy fixed or curriculum, not {request.strategy} "
            "(add --strategy fixed, or drop --ratios)"
        )
    return request


def _show_plan(plan) -> None:
    keys = list(plan.wanted)
    rows = [
        (
            label,
            plan.available.get(label, sum(plan.available.values())),
            plan.wanted[label],
            plan.shortfall.get(label, 0),
            plan.cot_kind(label) if label != "*" else plan.request.cot_mode,
        )
        for label in keys
    ]
    click.echo(table(rows, ("level", "available", "planned", "short by", "CoT")))
    click.echo(
        f"total planned: {sum(plan.wanted.values())}; excluded from the pool: {plan.excluded}"
    )
    if not plan.feasible:
        click.echo(plan.describe_shortfall())


@click.group("sample")
def sample_group() -> None:
    """Plan and create frozen distillation sets from graded problems."""


@sample_group.command("preview")
@project_option
@cli_options("sample")
def sample_preview(project_dir: str | None, **values: Any) -> None:
    """Counts per level the plan would take, and what is short."""
    from acotd_tui.pipeline.sampling import SamplingService

    with open_project(project_dir) as project:
        service = SamplingService(project)
        _show_plan(service.preview(_request(service, values)))


@sample_group.command("create")
@click.argument("name")
@project_option
@cli_options("sample")
@click.option(
    "--round",
    "round_number",
    type=click.IntRange(min=1),
    default=1,
    help="Distillation round: 2 when sampling from the labels of a student trained in round 1.",
)
def sample_create(name: str, project_dir: str | None, round_number: int, **values: Any) -> None:
    """Create the dataset NAME (frozen: it never changes afterwards)."""
    from acotd_tui.names import NameKind, check_name
    from acotd_tui.pipeline.sampling import SamplingService

    check_name(name, NameKind.DATASET)
    with open_project(project_dir) as project:
        if name in {d.name for d in project.store.datasets.all()}:  # before the plan's table
            raise AcotdError(
                f"dataset {name!r} already exists (datasets are frozen; pick another name)"
            )
        service = SamplingService(project)
        request = _request(service, values)
        plan = service.preview(request)
        _show_plan(plan)
        dataset = service.create(name, request)
        if round_number != 1:
            project.store.topups.set_round(dataset.id, round_number)
    info(
        f"created dataset {dataset.name} (round {round_number}): {dataset.size} problems ({dataset.params['counts']})"
    )


@sample_group.command("decontaminate")
@project_option
@background_option
def sample_decontaminate(project_dir: str | None, background: bool) -> None:
    """Check every problem not yet checked against the evaluation benchmarks, once (previews
    and imports then only count; a preview would otherwise do it first)."""
    with open_project(project_dir) as project:
        run_stage(project, "decontaminate", {}, background=background)


@sample_group.command("list")
@project_option
def sample_list(project_dir: str | None) -> None:
    """Datasets with their strategy, size and level counts."""
    with open_project(project_dir) as project:
        datasets = project.store.datasets.all()
    rows = [
        (
            d.name,
            d.strategy,
            d.scheme,
            d.size,
            d.params.get("counts"),
            d.params.get("cot_mode"),
            d.seed,
            d.created_at[:19],
        )
        for d in datasets
    ]
    click.echo(
        table(rows, ("name", "strategy", "scheme", "size", "counts", "cot", "seed", "created"))
    )


@click.command("teach")
@click.argument("dataset")
@project_option
@model_override_options
@background_option
@click.option("--short-model", default=None, help="Teacher A model for this run.")
@click.option("--long-model", default=None, help="Teacher B model for this run.")
@cli_options("teach", skip=("dataset",))
def teach_cmd(
    dataset: str,
    project_dir: str | None,
    backend: str | None,
    model_name: str | None,
    api_base: str | None,
    background: bool,
    short_model: str | None,
    long_model: str | None,
    **values: Any,
) -> None:
    """Teacher CoTs for a dataset: short for Easy/Medium, long for Hard."""
    params = stage_from_cli(
        "teach",
        values,
        dataset=dataset,
        overrides=overrides(backend, model_name, api_base),
        short_overrides=overrides(None, short_model, None),
        long_overrides=overrides(None, long_model, None),
    )
    with open_project(project_dir) as project:
        run_stage(project, "teach", params.to_job(), background=background)


@click.command("verify")
@click.argument("dataset")
@project_option
@model_override_options
@background_option
@cli_options("verify", skip=("dataset",))
def verify_cmd(
    dataset: str,
    project_dir: str | None,
    backend: str | None,
    model_name: str | None,
    api_base: str | None,
    background: bool,
    **values: Any,
) -> None:
    """Check teacher CoTs against the references, regenerate failures, queue spot checks."""
    params = stage_from_cli(
        "verify", values, dataset=dataset, overrides=overrides(backend, model_name, api_base)
    )
    with open_project(project_dir) as project:
        job = run_stage(project, "verify", params.to_job(), background=background)
        if not background and job.result.get("pass_rates"):
            rates = job.result["pass_rates"]
            click.echo(
                table(
                    [
                        (
                            r["teacher"],
                            r["label"],
                            r["kind"],
                            r["n"],
                            r["passed"] or 0,
                            f"{(r['passed'] or 0) / r['n']:.0%}",
                            f"${r['cost']:.4f}",
                        )
                        for r in rates
                    ],
                    ("teacher", "level", "kind", "CoTs", "passed", "rate", "cost"),
                )
            )


@click.group("cots")
def cots_group() -> None:
    """Spot-check teacher CoTs: list, show, approve, reject, edit."""


@cots_group.command("list")
@click.option("--dataset", default=None)
@click.option(
    "--review", type=click.Choice([state.value for state in ReviewState]), default=None
)
@click.option("--kind", type=click.Choice([kind.value for kind in CotKind]), default=None)
@click.option("--limit", type=click.IntRange(min=1), default=50)
@project_option
def cots_list(dataset, review, kind, limit, project_dir) -> None:
    from acotd_tui.store import CotFilter

    with open_project(project_dir) as project:
        ds = project.store.datasets.get(dataset).id if dataset else None
        cots = project.store.cots.list(
            CotFilter(dataset_id=ds, review=review, kind=kind), limit=limit
        )
    rows = [
        (
            c.id,
            c.problem_id,
            c.kind,
            c.teacher,
            c.generation,
            {None: "-", True: "pass", False: "fail"}[c.verified],
            c.review,
            (c.final_answer or "")[:20],
        )
        for c in cots
    ]
    click.echo(
        table(rows, ("cot", "problem", "kind", "teacher", "gen", "verified", "review", "answer"))
    )


@cots_group.command("show")
@click.argument("cot_id", type=int)
@project_option
def cots_show(cot_id: int, project_dir: str | None) -> None:
    with open_project(project_dir) as project:
        cot = project.store.cots.get(cot_id)
        problem = project.store.problems.find(cot.problem_id)
        log = project.store.cots.review_log(cot_id)
    click.echo(
        f"CoT {cot.id} for problem {cot.problem_id} ({cot.kind}, {cot.teacher}, generation {cot.generation})"
    )
    click.echo(
        f"reference: {problem.answer if problem else '?'}   final answer: {cot.final_answer}   verified: {cot.verified} ({cot.verify_detail})"
    )
    click.echo(f"review: {cot.review} {cot.review_note or ''}")
    click.echo("\n" + cot.final_reasoning + "\n\n" + cot.final_answer_text)
    for action, note, when in log:
        click.echo(f"  {when[:19]} {action} {note or ''}")


@cots_group.command("approve")
@click.argument("cot_ids", type=int, nargs=-1, required=True)
@project_option
def cots_approve(cot_ids: tuple[int, ...], project_dir: str | None) -> None:
    from acotd_tui.pipeline.cot_review import CotReviewService

    with open_project(project_dir) as project:
        service = CotReviewService(project.store)
        for cot_id in cot_ids:
            service.approve(cot_id)
    info(f"approved {len(cot_ids)} CoTs")


@cots_group.command("reject")
@click.argument("cot_id", type=int)
@click.option("--reason", required=True)
@project_option
def cots_reject(cot_id: int, reason: str, project_dir: str | None) -> None:
    from acotd_tui.pipeline.cot_review import CotReviewService

    with open_project(project_dir) as project:
        CotReviewService(project.store).reject(cot_id, reason)
    info(f"rejected CoT {cot_id}")


@cots_group.command("edit")
@click.argument("cot_id", type=int)
@project_option
def cots_edit(cot_id: int, project_dir: str | None) -> None:
    """Edit a CoT in $EDITOR; the edited answer is re-verified at once."""
    from acotd_tui.pipeline.cot_review import CotReviewService

    marker = "\n----- answer (keep \\boxed{...}) -----\n"
    with open_project(project_dir) as project:
        cot = project.store.cots.get(cot_id)
        text = click.edit(cot.final_reasoning + marker + cot.final_answer_text, extension=".md")
        if text is None:
            info("no change")
            return
        if marker.strip() not in text:
            raise AcotdError("the answer separator line was removed; edit not saved")
        reasoning, _, answer = text.partition(marker.strip())
        service = CotReviewService(project.store)
        try:
            edited = service.edit(cot_id, reasoning, answer)
        finally:
            service.close()
    info(f"CoT {cot_id} edited; verified: {edited.verified} ({edited.verify_detail})")


@click.command("export")
@click.argument("dataset")
@project_option
@cli_options("export", skip=("dataset",))
def export_cmd(dataset: str, project_dir: str | None, **values: Any) -> None:
    """Write a dataset's verified CoTs as TRL, LLaMA-Factory and HF datasets files."""
    params = stage_from_cli("export", values, dataset=dataset)
    with open_project(project_dir) as project:
        job = run_stage(project, "export", params.to_job(), background=False)
        if job.result.get("skipped"):
            info(f"left out: {job.result['skipped']}")
