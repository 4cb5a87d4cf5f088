"""Diagnose: the student answers each selected problem, n samples each, with its CoT.

Each (problem, sample) is one request with a stable key, so the stage is idempotent: a
re-run (or a resumed job) skips samples already stored and replays any response already in
the LLM-call cache. Outputs are split into reasoning and answer, the final answer is
extracted (last `\\boxed{}` or `diagnose.answer_pattern`) and checked against the reference;
outputs that hit the token limit are marked truncated rather than silently wrong.
`thinking` turns Qwen3's `enable_thinking` on or off for this run; `adapter` diagnoses a
trained student (a finished training run) on the same pool, the start of a next round.
Attempts are stored under `student_label` (model, +adapter, #no-thinking), so each is
graded on its own with `acotd grade --attempts-of LABEL`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from typing import Any

from acotd_tui.answers import split_reasoning
from acotd_tui.backends import (
    GenerationResult,
    apply_overrides,
    expand_samples,
    make_backend,
    sampling_from_role,
)
from acotd_tui.config import ModelRole
from acotd_tui.domain import RunStatus
from acotd_tui.jobs import JobContext, WorkItem, run_requests
from acotd_tui.outcomes import OutcomeChecker, Submission
from acotd_tui.project import Project
from acotd_tui.stages import DiagnoseParams
from acotd_tui.store import CodeTests, NewAttempt, ProblemFilter
from acotd_tui.templates import load_template


@dataclass(frozen=True)
class AttemptTarget:
    problem_id: int
    sample_index: int
    reference: str
    domain: str = "math"
    tests: CodeTests | None = None
    prompt_version: str = ""


def student_role(
    project: Project, overrides: dict[str, str], thinking: bool | None = None
) -> ModelRole:
    role = apply_overrides(project.config.role("student"), overrides)
    if thinking is not None:
        role = role.model_copy(update={"enable_thinking": thinking})
    return role


def student_label(model: str, thinking: bool | None, adapter: str | None) -> str:
    """The name attempts are stored under: the model, plus its adapter (a trained student, the
    next round) and `#no-thinking` when thinking was turned off, so each is graded apart."""
    label = f"{model}+{adapter}" if adapter else model
    return f"{label}#no-thinking" if thinking is False else label


def adapter_path(project: Project, run_name: str | None) -> str | None:
    """The adapter folder of a finished training run (refuses an unfinished one)."""
    if not run_name:
        return None
    from acotd_tui.errors import AcotdError
    from acotd_tui.store import StoreError

    try:
        run = project.store.train_runs.get(run_name)
    except StoreError:
        raise AcotdError(f"no training run {run_name!r} (acotd train)") from None
    if run.status != RunStatus.DONE or not run.adapter_path:
        raise AcotdError(f"training run {run.name!r} has not finished (status {run.status})")
    return run.adapter_path


def plan(
    project: Project, params: DiagnoseParams
) -> tuple[ModelRole, list[WorkItem[AttemptTarget]], int, str, int]:
    """(role, work still to do, samples already done, prompt version, model id).

    Math and code problems get their own prompt; each attempt records the version of the
    prompt it was asked with, the key under which a re-run finds it.
    """
    store = project.store
    role = student_role(project, params.overrides, params.thinking)
    adapter_path(project, params.adapter)  # refuse an unknown or unfinished run up front
    templates = {
        "math": load_template(project.config.diagnose.prompt, project.root),
        "code": load_template(project.config.code.diagnose_prompt, project.root),
    }
    template = templates["math"]
    model = store.models.ensure(
        student_label(role.model, params.thinking, params.adapter), backend=role.backend
    )
    samples = params.samples or project.config.diagnose.samples
    flt = ProblemFilter(sources=tuple(params.sources), splits=tuple(params.splits))
    ids = store.problems.ids(flt)
    done = store.attempts.done_samples(model.id, template.version) | store.attempts.done_samples(
        model.id, templates["code"].version
    )
    if params.new_only:
        attempted = set(store.attempts.problem_ids_with_attempts([model.id]))
        ids = [i for i in ids if i not in attempted]
    if params.limit is not None:
        ids = ids[: params.limit]
    sampling = sampling_from_role(role, n=samples)
    identity = (
        f"{role.model}|{adapter_path(project, params.adapter) or ''}"
        if params.adapter
        else role.model
    )
    items: list[WorkItem[AttemptTarget]] = []
    already = 0
    for start in range(0, len(ids), 2000):
        batch = store.problems.get_many(ids[start : start + 2000])
        tests = store.code_tests.get_many([p.id for p in batch if p.domain == "code"])
        for problem in batch:
            domain = "code" if problem.domain == "code" else "math"
            messages = templates[domain].render(problem=problem.problem)
            for request in expand_samples(messages, sampling):
                if (problem.id, request.sample_index) in done:
                    already += 1
                    continue
                items.append(
                    WorkItem(
                        key=request.cache_key(identity),
                        request=request,
                        payload=AttemptTarget(
                            problem.id,
                            request.sample_index,
                            problem.answer,
                            domain,
                            tests.get(problem.id),
                            templates[domain].version,
                        ),
                    )
                )
    return role, items, already, template.version, model.id


class AttemptSink:
    def __init__(self, ctx: JobContext, checker: OutcomeChecker, model_id: int) -> None:
        self.ctx, self.checker, self.model_id = ctx, checker, model_id

    async def prepare(
        self, batch: list[tuple[WorkItem[AttemptTarget], GenerationResult]]
    ) -> list[NewAttempt]:
        splits = [split_reasoning(result.text, result.reasoning) for _, result in batch]
        submissions = [
            Submission(
                item.payload.domain,
                item.payload.reference,
                split.answer_text,
                split.reasoning,
                split.closed,
                item.payload.tests,
            )
            for (item, _), split in zip(batch, splits, strict=True)
        ]
        outcomes = await asyncio.to_thread(self.checker.check, submissions)
        out = []
        for (item, result), split, outcome in zip(batch, splits, outcomes, strict=True):
            p = item.request.params
            params: dict[str, Any] = {
                "temperature": p.temperature,
                "top_p": p.top_p,
                "max_tokens": p.max_tokens,
                "seed": p.seed,
            }
            if outcome.detail:
                params["check"] = outcome.detail
            out.append(
                NewAttempt(
                    problem_id=item.payload.problem_id,
                    model_id=self.model_id,
                    prompt_hash=item.payload.prompt_version,
                    sample_index=item.payload.sample_index,
                    raw_text=result.text
                    if result.reasoning is None
                    else f"<think>\n{result.reasoning}\n</think>\n\n{result.text}",
                    cot=split.reasoning or split.answer_text,
                    final_answer=outcome.final_answer,
                    correct=outcome.correct,
                    truncated=result.truncated or not split.closed,
                    finish_reason=result.finish_reason,
                    tokens_in=result.tokens_in,
                    tokens_out=result.tokens_out,
                    latency_s=result.latency_s,
                    request_key=item.key,
                    job_id=self.ctx.job_id,
                    params=params,
                )
            )
        return out

    def write(self, conn: sqlite3.Connection, prepared: list[NewAttempt]) -> None:
        self.ctx.store.attempts.insert(conn, prepared)


async def run_job(ctx: JobContext) -> dict[str, Any]:
    params = DiagnoseParams.from_job(ctx.params)
    project = ctx.project
    role, items, already, _, model_id = plan(project, params)
    ctx.set_total(len(items) + already, already_done=already)
    ctx.note(
        f"{role.model} via {role.backend}: {len(items)} samples to generate, {already} already stored"
    )
    if not items:
        return {
            "generated": 0,
            "already": already,
            "message": "nothing to do: every sample is stored",
        }
    budget = ctx.budget()
    backend = make_backend(
        role,
        project.config.limits,
        budget=budget,
        adapter=adapter_path(project, params.adapter),
        base_dir=project.root,
    )
    checker = OutcomeChecker.for_project(project)
    try:
        sink = AttemptSink(ctx, checker, model_id)
        served_model = role.model
        if params.adapter:
            served_model = f"{role.model}|{adapter_path(project, params.adapter)}"
        summary = await run_requests(ctx, backend, items, sink, model_id=served_model)
    finally:
        await backend.aclose()
        checker.close()
    message = f"{summary.written} samples stored ({summary.from_cache} from cache), {summary.failed} failed"
    if summary.failed:
        message += "; run again to retry the failures"
    return {
        "generated": summary.written,
        "from_cache": summary.from_cache,
        "failed": summary.failed,
        "already": already,
        "cancelled": summary.cancelled,
        "stop_reason": summary.stop_reason,
        "message": message,
        "errors": (summary.errors or [])[:5],
    }
