"""`acotd experiment`: the paper's comparison as one resumable command.

Methods: ACoTD adaptive sampling, random sampling, fixed 6:3:1, and the only-short /
only-long CoT ablations (adaptive sampling, one CoT kind for all), plus the untrained
student as the baseline. For each method: sample a dataset, teach, verify, (export,) train,
evaluate; then write Tables 3 and 4 and the plots under runs/experiments/<name>/.
Each stage runs as a child job (listed by `acotd jobs`, cancelled with the experiment).
Everything is reused: datasets by name, CoTs from the store and the LLM-call cache,
finished training runs, finished evaluations; so a re-run does only what is missing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from acotd_tui.errors import AcotdError, BudgetExceeded, JobCancelled
from acotd_tui.jobs import JobContext
from acotd_tui.jobs.runner import run_job as run_child
from acotd_tui.names import NameKind, check_name, inside
from acotd_tui.store import StoreError

from .evaluate import EvalParams
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
    if done.status == "stopped":  # the spending cap: the experiment is stopped: budget too
        raise BudgetExceeded(f"{what} (job {job.id}): {done.message}")
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
    service = SamplingService(ctx.project)
    settings = {**METHODS[method]}
    request = service.default_request(k=params.k, seed=params.seed, accept_nearest=True, **settings)
    service.create(name, request)
    return name


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
    check_name(params.name, NameKind.EXPERIMENT)  # it names folders, datasets and runs
    unknown = set(params.methods) - set(METHODS)
    if unknown:
        raise AcotdError(f"unknown method {sorted(unknown)[0]!r} ({', '.join(METHODS)})")
    benchmarks = params.benchmarks or ctx.project.config.eval.benchmarks
    ctx.set_total(len(params.methods) * 4 + int(params.baseline))
    rows: list[str] = []
    runs: list[str] = []
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
        _child(ctx, "verify", VerifyParams(dataset=dataset).to_job(), f"{method}: verify")
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
    out = inside(ctx.project.root, ctx.project.runs_dir / "experiments" / params.name)
    files = write_report(ctx.store, out, rows, benchmarks, runs)
    return {
        "rows": rows,
        "report": str(out),
        "files": [f.name for f in files],
        "message": f"tables and plots in {out}",
    }
