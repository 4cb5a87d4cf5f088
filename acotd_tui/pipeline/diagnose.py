"""Diagnose: the student answers each selected problem, n samples each, with its CoT.

Each (problem, sample) is one request with a stable key, so the stage is idempotent: a
re-run (or a resumed job) skips samples already stored and replays any response already in
the LLM-call cache. Outputs are split into reasoning and answer, the final answer is
extracted (last `\\boxed{}` or `diagnose.answer_pattern`) and checked against the reference;
outputs that hit the token limit are marked truncated rather than silently wrong.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from acotd_tui.answers import extract_final_answer, split_reasoning
from acotd_tui.backends import (
    Budget,
    GenerationResult,
    apply_overrides,
    expand_samples,
    make_backend,
    sampling_from_role,
)
from acotd_tui.checking import AnswerChecker
from acotd_tui.config import ModelRole
from acotd_tui.jobs import JobContext, WorkItem, run_requests
from acotd_tui.project import Project
from acotd_tui.store import NewAttempt, ProblemFilter
from acotd_tui.templates import load_template


@dataclass(frozen=True)
class DiagnoseParams:
    sources: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    limit: int | None = None
    samples: int | None = None
    new_only: bool = False
    overrides: dict[str, str] = field(default_factory=dict)

    def to_job(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_job(cls, params: dict[str, Any]) -> DiagnoseParams:
        return cls(**params)


@dataclass(frozen=True)
class AttemptTarget:
    problem_id: int
    sample_index: int
    reference: str


def student_role(project: Project, overrides: dict[str, str]) -> ModelRole:
    return apply_overrides(project.config.role("student"), overrides)


def plan(
    project: Project, params: DiagnoseParams
) -> tuple[ModelRole, list[WorkItem[AttemptTarget]], int, str, int]:
    """(role, work still to do, samples already done, prompt version, model id)."""
    store = project.store
    role = student_role(project, params.overrides)
    template = load_template(project.config.diagnose.prompt, project.root)
    model = store.models.ensure(role.model, backend=role.backend)
    samples = params.samples or project.config.diagnose.samples
    flt = ProblemFilter(sources=tuple(params.sources), splits=tuple(params.splits))
    ids = store.problems.ids(flt)
    done = store.attempts.done_samples(model.id, template.version)
    if params.new_only:
        attempted = set(store.attempts.problem_ids_with_attempts([model.id]))
        ids = [i for i in ids if i not in attempted]
    if params.limit is not None:
        ids = ids[: params.limit]
    sampling = sampling_from_role(role, n=samples)
    items: list[WorkItem[AttemptTarget]] = []
    already = 0
    for start in range(0, len(ids), 2000):
        for problem in store.problems.get_many(ids[start : start + 2000]):
            messages = template.render(problem=problem.problem)
            for request in expand_samples(messages, sampling):
                if (problem.id, request.sample_index) in done:
                    already += 1
                    continue
                items.append(
                    WorkItem(
                        key=request.cache_key(role.model),
                        request=request,
                        payload=AttemptTarget(problem.id, request.sample_index, problem.answer),
                    )
                )
    return role, items, already, template.version, model.id


class AttemptSink:
    def __init__(
        self,
        ctx: JobContext,
        checker: AnswerChecker,
        model_id: int,
        prompt_version: str,
        pattern: str | None,
    ) -> None:
        self.ctx, self.checker = ctx, checker
        self.model_id, self.prompt_version, self.pattern = model_id, prompt_version, pattern

    async def prepare(
        self, batch: list[tuple[WorkItem[AttemptTarget], GenerationResult]]
    ) -> list[NewAttempt]:
        parsed = []
        for item, result in batch:
            split = split_reasoning(result.text, result.reasoning)
            answer = None
            if split.closed:  # an output cut off while thinking has no answer to check
                answer = extract_final_answer(
                    split.answer_text, self.pattern
                ) or extract_final_answer(split.reasoning, self.pattern)
            parsed.append((item, result, split, answer))
        verdicts = await asyncio.to_thread(
            self.checker.check_many,
            [(answer, item.payload.reference) for item, _, _, answer in parsed],
        )
        out = []
        for (item, result, split, answer), correct in zip(parsed, verdicts, strict=True):
            out.append(
                NewAttempt(
                    problem_id=item.payload.problem_id,
                    model_id=self.model_id,
                    prompt_hash=self.prompt_version,
                    sample_index=item.payload.sample_index,
                    raw_text=result.text
                    if result.reasoning is None
                    else f"<think>\n{result.reasoning}\n</think>\n\n{result.text}",
                    cot=split.reasoning or split.answer_text,
                    final_answer=answer,
                    correct=correct if answer is not None else False,
                    truncated=result.truncated or not split.closed,
                    finish_reason=result.finish_reason,
                    tokens_in=result.tokens_in,
                    tokens_out=result.tokens_out,
                    latency_s=result.latency_s,
                    request_key=item.key,
                    job_id=self.ctx.job_id,
                    params={
                        "temperature": item.request.params.temperature,
                        "top_p": item.request.params.top_p,
                        "max_tokens": item.request.params.max_tokens,
                        "seed": item.request.params.seed,
                    },
                )
            )
        return out

    def write(self, conn: sqlite3.Connection, prepared: list[NewAttempt]) -> None:
        self.ctx.store.attempts.insert(conn, prepared)


async def run_job(ctx: JobContext) -> dict[str, Any]:
    params = DiagnoseParams.from_job(ctx.params)
    project = ctx.project
    role, items, already, prompt_version, model_id = plan(project, params)
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
    budget = Budget(project.config.limits.budget_usd, ctx.store.llm_calls.total_cost())
    backend = make_backend(role, project.config.limits, budget=budget, base_dir=project.root)
    checker = AnswerChecker()
    try:
        sink = AttemptSink(
            ctx, checker, model_id, prompt_version, project.config.diagnose.answer_pattern
        )
        summary = await run_requests(ctx, backend, items, sink, model_id=role.model)
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
