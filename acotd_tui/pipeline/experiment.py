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

from dataclasses import asdict, dataclass, field
from typing import Any

from acotd_tui.errors import AcotdError, JobCancelled
from acotd_tui.jobs import JobContext
from acotd_tui.jobs.runner import run_job as run_child
from acotd_tui.store import StoreError

from .evaluate import EvalParams
from .random_arm import RandomArmRequest, acotd_long_share, create_random_arm
from .results import write_report
from .sampling import SamplingService
from .teach import TeachParams
from .verify import VerifyParams

METHODS: dict[str, dict[str, Any]] = {
    "acotd": {"strategy": "adaptive"},
    "random": {"strategy": "random"},
    "fixed_6_3_1": {"strategy": "fixed", "ratios": {"E": 6.0, "M": 3.0, "H": 1.0}},
    "only_short": {"strategy": "adaptive", "cot_mode": "short"},
    "only_long": {"strategy": "adaptive", "cot_mode": "long"},
}


@dataclass(frozen=True)
class ExperimentParams:
    name: str = "paper"
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    k: int | None = None
    seed: int = 0
    benchmarks: list[str] = field(default_factory=list)
    n: int | None = None
    limit: int | None = None
    max_tokens: int | None = None
    from_reference: bool = False
    hyper: dict[str, Any] = field(default_factory=dict)
    max_steps: int = -1
    baseline: bool = True
    cotqs: bool | None = None
    random_kinds: str = "acotd"
    accept_nearest: bool = False

    def to_job(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_job(cls, params: dict[str, Any]) -> ExperimentParams:
        return cls(**params)


def _child(ctx: JobContext, kind: str, params: dict[str, Any], what: str) -> dict[str, Any]:
    ctx.check_cancelled()
    job = ctx.store.jobs.create(kind, params, parent_id=ctx.job_id)
    ctx.note(f"{what}: job {job.id}")
    done = run_child(ctx.project, job.id)
    if done.status == "cancelled":
        raise JobCancelled()
    if done.status != "done":
        raise AcotdError(f"{what} failed (job {job.id}): {done.error}")
    return done.result


def _dataset(ctx: JobContext, params: ExperimentParams, method: str) -> str:
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
                long_share=_acotd_long_share(ctx, params) if params.random_kinds == "acotd" else None,
                accept_nearest=params.accept_nearest,
            ),
        )
        return name
    service = SamplingService(ctx.project)
    settings = {**METHODS[method]}
    request = service.default_request(
        k=params.k, seed=params.seed, accept_nearest=params.accept_nearest, **settings
    )
    plan = service.preview(request)
    if not plan.feasible:
        if not params.accept_nearest:
            raise AcotdError(f"{method}: {plan.describe_shortfall()} (give --accept-nearest, or lower K)")
        ctx.note(f"{method}: {plan.describe_shortfall()}; taking the nearest plan (--accept-nearest)")
    service.create(name, request)
    return name


def _acotd_long_share(ctx: JobContext, params: ExperimentParams) -> float:
    """The long share of the ACoTD arm: from its dataset when it exists, else its plan."""
    try:
        dataset = ctx.store.datasets.get(f"{params.name}-acotd")
    except StoreError:
        return acotd_long_share(ctx.project, params.k or ctx.project.config.sampling.k, params.seed)
    items = ctx.store.datasets.items(dataset.id)
    return sum(1 for i in items if i.cot_kind == "long") / max(1, len(items))


def _trained(ctx: JobContext, run: str) -> bool:
    try:
        return ctx.store.train_runs.get(run).status == "done"
    except StoreError:
        return False


def _eval_params(
    params: ExperimentParams, benchmarks: list[str], *, name: str, adapter: str | None = None
) -> dict[str, Any]:
    """Every arm, the baseline included, is evaluated under the same settings."""
    return EvalParams(
        benchmarks=benchmarks,
        name=name,
        adapter=adapter,
        n=params.n,
        limit=params.limit,
        max_tokens=params.max_tokens,
        cotqs=params.cotqs,
    ).to_job()


def run_job(ctx: JobContext) -> dict[str, Any]:
    params = ExperimentParams.from_job(ctx.params)
    unknown = set(params.methods) - set(METHODS)
    if unknown:
        raise AcotdError(f"unknown method {sorted(unknown)[0]!r} ({', '.join(METHODS)})")
    benchmarks = params.benchmarks or ctx.project.config.eval.benchmarks
    ctx.set_total(len(params.methods) * 4 + int(params.baseline))
    rows: list[str] = []
    runs: list[str] = []
    shortfalls: dict[str, str] = {}
    if params.baseline:
        base = f"{params.name}-base"
        _child(
            ctx,
            "eval",
            _eval_params(params, benchmarks, name=base),
            "baseline evaluation",
        )
        rows.append(base)
        ctx.advance(1)
    for method in params.methods:
        dataset = _dataset(ctx, params, method)
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
            _eval_params(params, benchmarks, name=run, adapter=run),
            f"{method}: evaluate",
        )
        ctx.advance(1)
        rows.append(run)
        runs.append(run)
    out = ctx.project.runs_dir / "experiments" / params.name
    files = write_report(ctx.store, out, rows, benchmarks, runs)
    return {
        "rows": rows,
        "report": str(out),
        "files": [f.name for f in files],
        "message": f"tables and plots in {out}",
    }
