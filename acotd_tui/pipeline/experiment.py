"""`acotd experiment`: the paper's comparison as one resumable command.

Methods: ACoTD adaptive sampling, random sampling, fixed 6:3:1, and the only-short /
only-long CoT ablations (adaptive sampling, one CoT kind for all), plus the untrained
student as the baseline. The random arm is the paper's (§4.3.4): K problems uniformly from
the whole imported pool with no difficulty classification, CoT kinds assigned without
labels in the ACoTD arm's short:long proportion (`random_kinds`: acotd | short | long; see
`random_arm`). A plan a level cannot fill is refused unless `accept_nearest` is given.
For each method: sample a dataset, teach, verify (with top-up to K), (export,) train,
evaluate; then write Tables 3 and 4 and the plots under runs/experiments/<name>/.
Each stage runs as a child job (listed by `acotd jobs`, cancelled with the experiment).
Everything is reused: datasets by name, CoTs from the store and the LLM-call cache,
finished training runs, finished evaluations; so a re-run does only what is missing.
"""

from __future__ import annotations

from typing import Any

from acotd_tui.domain import EMH, CotKind, JobStatus, RunStatus
from acotd_tui.errors import AcotdError, BudgetExceeded, JobCancelled
from acotd_tui.jobs import JobContext
from acotd_tui.jobs.runner import run_job as run_child
from acotd_tui.names import NameKind, check_name, inside
from acotd_tui.stages import (
    PAPER_SETTINGS,
    EvalParams,
    ExperimentParams,
    Method,
    TeachParams,
    VerifyParams,
)
from acotd_tui.store import StoreError

from .random_arm import RandomArmRequest, acotd_long_share, create_random_arm
from .results import (
    ACOTD_METHOD,
    ResultsTable,
    Role,
    load_reference,
    shortfall_notes,
    write_report,
)
from .sampling import SamplingService

# Per method (the vocabulary is `acotd_tui.stages.Method`): its row name and its sampling.
METHOD_LABELS: dict[Method, str] = {
    "acotd": "ACoTD",
    "random": "Random Sampling",
    "fixed_6_3_1": "Fixed 6:3:1",
    "only_short": "Only short CoT",
    "only_long": "Only long CoT",
}
METHODS: dict[Method, dict[str, Any]] = {
    "acotd": {"strategy": "adaptive"},
    "random": {"strategy": "random"},
    "fixed_6_3_1": {
        "strategy": "fixed",
        "ratios": dict(zip(EMH.labels, (6.0, 3.0, 1.0), strict=True)),
    },
    "only_short": {"strategy": "adaptive", "cot_mode": CotKind.SHORT},
    "only_long": {"strategy": "adaptive", "cot_mode": CotKind.LONG},
}


def _child(ctx: JobContext, kind: str, params: dict[str, Any], what: str) -> dict[str, Any]:
    ctx.check_cancelled()
    job = ctx.store.jobs.create(kind, params, parent_id=ctx.job_id)
    ctx.note(f"{what}: job {job.id}")
    done = run_child(ctx.project, job.id)
    if done.status == JobStatus.CANCELLED:
        raise JobCancelled()
    if done.status == JobStatus.STOPPED:  # the spending cap: the experiment is stopped: budget too
        raise BudgetExceeded(f"{what} (job {job.id}): {done.message}")
    if done.status != JobStatus.DONE:
        raise AcotdError(f"{what} failed (job {job.id}): {done.error}")
    return done.result


def _dataset(ctx: JobContext, params: ExperimentParams, method: Method) -> str:
    name = f"{params.name}-{method}"
    try:
        ctx.store.datasets.get(name)
        return name  # frozen: reused as it is
    except StoreError:
        pass
    if method == "random":
        k = params.k or ctx.project.config.sampling.k
        create_random_arm(
            ctx.project,
            name,
            RandomArmRequest(
                k=k,
                seed=params.seed,
                kinds=params.random_kinds,
                long_share=_acotd_long_share(ctx, params)
                if params.random_kinds == "acotd"
                else None,
                accept_nearest=params.accept_nearest,
            ),
        )
        return name
    service = SamplingService(ctx.project)
    settings = {**METHODS[method]}
    request = service.default_request(
        k=params.k,
        seed=params.seed,
        accept_nearest=params.accept_nearest,
        include_conflicts=True if params.paper else None,  # Algorithm 1 keeps them
        **settings,
    )
    plan = service.preview(request)
    if params.paper:
        _check_paper_labels(ctx, [pid for ids in plan.pool.values() for pid in ids])
    if not plan.feasible:
        if not params.accept_nearest:
            raise AcotdError(
                f"{method}: {plan.describe_shortfall()} (give --accept-nearest, or lower K)"
            )
        ctx.note(
            f"{method}: {plan.describe_shortfall()}; taking the nearest plan (--accept-nearest)"
        )
    service.create(name, request)
    return name


def _acotd_long_share(ctx: JobContext, params: ExperimentParams) -> float:
    """The long share of the ACoTD arm: from its dataset when it exists, else its plan."""
    try:
        dataset = ctx.store.datasets.get(f"{params.name}-acotd")
    except StoreError:
        return acotd_long_share(ctx.project, params.k or ctx.project.config.sampling.k, params.seed)
    items = ctx.store.datasets.items(dataset.id)
    return sum(1 for i in items if i.cot_kind == CotKind.LONG) / max(1, len(items))


def _trained(ctx: JobContext, run: str) -> bool:
    try:
        return bool(ctx.store.train_runs.get(run).status == RunStatus.DONE)
    except StoreError:
        return False


def _eval_params(
    params: ExperimentParams,
    benchmarks: list[str],
    *,
    name: str,
    adapter: str | None = None,
    thinking: bool | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """Every row, baselines included, is evaluated under the same settings."""
    paper = PAPER_SETTINGS if params.paper else {}
    return EvalParams(
        benchmarks=benchmarks,
        name=name,
        adapter=adapter,
        overrides={"model": model} if model else {},
        n=params.n or paper.get("n"),
        temperature=paper.get("temperature"),
        top_p=paper.get("top_p"),
        max_tokens=params.max_tokens or paper.get("max_tokens"),
        limit=params.limit,
        cotqs=params.cotqs,
        thinking=thinking,
    ).to_job()


def _slug(model: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in model.split("/")[-1])


def _check_paper_labels(ctx: JobContext, pool: list[int]) -> None:
    """--paper: refuse a pool labelled under the "checked" rule (not Algorithm 1's labels),
    before anything is sampled from it."""
    from .export import label_rules

    rules = label_rules(ctx.store, ctx.project.config.grading.scheme, pool)
    if rules.get("checked"):
        raise AcotdError(
            f"--paper: {rules['checked']} labels in the pool were made under the 'checked' rule; "
            "re-grade with `acotd grade --regrade --rule paper` (Algorithm 1) first"
        )


def run_job(ctx: JobContext) -> dict[str, Any]:
    params = ExperimentParams.from_job(ctx.params)
    check_name(params.name, NameKind.EXPERIMENT)  # it names folders, datasets and runs
    if params.paper and params.k is None:
        params = params.model_copy(update={"k": PAPER_SETTINGS["k"]})
    cfg = ctx.project.config.experiment
    benchmarks = params.benchmarks or ctx.project.config.eval.benchmarks
    baselines = cfg.baselines if params.baselines is None else params.baselines
    thinking_off = (
        cfg.student_thinking_off if params.thinking_off_row is None else params.thinking_off_row
    )
    base_rows: list[tuple[str, str, dict[str, Any]]] = []  # (row, label, eval params)
    if params.baseline:
        base_rows.append(
            (
                f"{params.name}-base",
                "student (thinking on)"
                if params.thinking is not False
                else "student (thinking off)",
                _eval_params(
                    params, benchmarks, name=f"{params.name}-base", thinking=params.thinking
                ),
            )
        )
        if thinking_off and params.thinking is not False:
            row = f"{params.name}-base-nothink"
            base_rows.append(
                (
                    row,
                    "student (thinking off)",
                    _eval_params(params, benchmarks, name=row, thinking=False),
                )
            )
        for model in baselines:
            row = f"{params.name}-baseline-{_slug(model)}"
            base_rows.append((row, model, _eval_params(params, benchmarks, name=row, model=model)))
    ctx.set_total(len(params.methods) * 4 + len(base_rows))
    # Every arm's set first: a plan that must be refused is refused before anything is spent.
    datasets = {method: _dataset(ctx, params, method) for method in params.methods}
    rows: list[str] = []
    runs: list[str] = []
    roles: dict[str, Role] = {}
    labels: dict[str, str] = {}
    shortfalls: dict[str, str] = {}
    for row, label, eval_params in base_rows:
        _child(ctx, "eval", eval_params, f"baseline {label}")
        rows.append(row)
        roles[row], labels[row] = Role.BASELINE, label
        ctx.advance(1)
    for method in params.methods:
        dataset = datasets[method]
        _child(
            ctx,
            "teach",
            TeachParams(dataset=dataset, from_reference=params.from_reference).to_job(),
            f"{method}: teach",
        )
        ctx.advance(1)
        verified = _child(
            ctx,
            "verify",
            VerifyParams(dataset=dataset, from_reference=params.from_reference).to_job(),
            f"{method}: verify",
        )
        if verified.get("shortfall"):
            shortfalls[dataset] = (
                f"{verified['exportable']} of {verified['planned']} planned items verified "
                f"(short by {verified['shortfall']}: {verified['shortfall_by_label']})"
            )
        ctx.advance(1)
        run = dataset
        if not _trained(ctx, run):
            from acotd_tui.training.job import TrainParams

            _child(
                ctx,
                "train",
                TrainParams(
                    dataset=dataset, name=run, hyper=params.hyper, max_steps=params.max_steps
                ).to_job(),
                f"{method}: train",
            )
        ctx.advance(1)
        _child(
            ctx,
            "eval",
            _eval_params(params, benchmarks, name=run, adapter=run, thinking=params.thinking),
            f"{method}: evaluate",
        )
        ctx.advance(1)
        rows.append(run)
        runs.append(run)
        roles[run] = Role.ACOTD if method == ACOTD_METHOD else Role.ABLATION
        labels[run] = METHOD_LABELS[method]
    out = inside(ctx.project.root, ctx.project.runs_dir / "experiments" / params.name)
    table = ResultsTable.from_store(ctx.store, rows, benchmarks, roles=roles)
    table.labels = labels
    table.notes = shortfall_notes(ctx.store, table)
    if params.paper:
        table.notes.append(
            "Run with --paper: " + ", ".join(f"{k} {v}" for k, v in PAPER_SETTINGS.items())
        )
    if params.paper_reference:
        table.reference, note = load_reference()
        if note:
            table.notes.append(note)
    files = write_report(ctx.store, out, runs=runs, table=table)
    return {
        "rows": rows,
        "report": str(out),
        "files": [f.name for f in files],
        "shortfalls": shortfalls,
        "message": f"tables and plots in {out}"
        + (f"; {len(shortfalls)} arms short of K (stated under the tables)" if shortfalls else ""),
    }
