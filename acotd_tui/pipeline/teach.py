"""Teach: teacher CoTs for a dataset, short for Easy/Medium and long for Hard.

Teacher A (`teacher_short`, prompt `teaching.short_prompt`) writes concise key-step CoTs;
teacher B (`teacher_long`, `teaching.long_prompt`) writes long, explained ones. One model
with two prompts is fine. Reasoning and final answer are stored apart: from a separate
reasoning field, an inline `<think>` block, or, for plain models, the closing "Final
answer" paragraph. `--from-reference` uses the problems' own worked solutions instead
(teacher "reference"): no API needed, which is how the demo runs offline.
A CoT is keyed by (problem, kind, teacher, prompt version, generation); re-running skips
what exists, and replies already received are replayed from the cache.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from acotd_tui.answers import extract_final_answer, split_reasoning
from acotd_tui.backends import (
    GenerationResult,
    apply_overrides,
    make_backend,
    sampling_from_role,
)
from acotd_tui.backends.base import ChatRequest
from acotd_tui.config import ModelRole
from acotd_tui.domain import CotKind
from acotd_tui.jobs import JobContext, WorkItem, run_requests
from acotd_tui.project import Project
from acotd_tui.stages import TeachParams
from acotd_tui.store import DatasetItem, NewCot, Store
from acotd_tui.templates import PromptTemplate, load_template

REFERENCE_TEACHER = "reference"
KINDS: tuple[CotKind, ...] = tuple(CotKind)


@dataclass(frozen=True)
class Teacher:
    kind: str
    role: ModelRole
    template: PromptTemplate
    code_template: PromptTemplate | None = None

    @property
    def name(self) -> str:
        return self.role.model

    def template_for(self, domain: str) -> PromptTemplate:
        return (
            self.code_template
            if domain == "code" and self.code_template is not None
            else self.template
        )


def teachers(project: Project, params: TeachParams) -> dict[str, Teacher]:
    cfg, code = project.config.teaching, project.config.code
    out: dict[str, Teacher] = {}
    for kind, role_name, prompt, code_prompt, own in (
        (
            CotKind.SHORT,
            "teacher_short",
            cfg.short_prompt,
            code.short_prompt,
            params.short_overrides,
        ),
        (CotKind.LONG, "teacher_long", cfg.long_prompt, code.long_prompt, params.long_overrides),
    ):
        role = apply_overrides(project.config.role(role_name), {**params.overrides, **own})
        out[kind] = Teacher(
            kind,
            role,
            load_template(prompt, project.root),
            load_template(code_prompt, project.root),
        )
    return out


def split_code_output(text: str, reasoning_field: str | None = None) -> tuple[str, str]:
    """(reasoning, answer) for code: the answer is the last fenced code block.

    A reasoning model's thinking goes to the reasoning either way; if its code appears only
    inside the thinking, the block is taken from there.
    """
    from acotd_tui.code.sandbox import FENCE

    reasoning = ""
    if reasoning_field or "<think>" in text or "</think>" in text:
        split = split_reasoning(text, reasoning_field)
        reasoning, text = split.reasoning, split.answer_text
        if not FENCE.search(text) and FENCE.search(reasoning):
            reasoning, text = "", reasoning
    blocks = list(FENCE.finditer(text))
    if not blocks:
        return (reasoning + "\n\n" + text).strip(), ""
    start = blocks[-1].start()
    return (reasoning + "\n\n" + text[:start]).strip(), text[start:].strip()


def split_teacher_output(text: str, reasoning_field: str | None = None) -> tuple[str, str]:
    """(reasoning, answer part). Plain models: the closing paragraph with the final answer,
    or, when the whole solution is one paragraph, just its closing sentence."""
    if reasoning_field or "<think>" in text or "</think>" in text:
        split = split_reasoning(text, reasoning_field)
        return split.reasoning, split.answer_text
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    for i in range(len(paragraphs) - 1, -1, -1):
        para = paragraphs[i]
        marker = para.lower().rfind("final answer")
        if "\\boxed" not in para and marker < 0:
            continue
        if marker > 0:  # "...so x = 3. Final answer: \boxed{3}" -> split inside the paragraph
            reasoning = "\n\n".join([*paragraphs[:i], para[:marker].rstrip()]).strip()
            return reasoning, para[marker:].strip()
        if i == 0 and marker < 0:  # one paragraph: the sentence holding the last \boxed answers
            cut = _sentence_start(para, para.rfind("\\boxed"))
            if cut > 0:
                return para[:cut].strip(), para[cut:].strip()
        return "\n\n".join(paragraphs[:i]).strip(), "\n\n".join(paragraphs[i:]).strip()
    return text.strip(), ""


def _sentence_start(text: str, position: int) -> int:
    """Index where the sentence containing `position` starts (after '. ', '.\n' or a newline)."""
    best = 0
    for sep in (". ", ".\n", "\n", "$. ", ".$ "):
        found = text.rfind(sep, 0, position)
        if found >= 0:
            best = max(best, found + len(sep))
    return best


def teacher_request(
    teacher: Teacher, problem: str, generation: int, domain: str = "math"
) -> ChatRequest:
    params = sampling_from_role(teacher.role)
    if generation and params.seed is not None:
        params = replace(params, seed=params.seed + generation)
    return ChatRequest(teacher.template_for(domain).render(problem=problem), params, generation)


@dataclass(frozen=True)
class CotTarget:
    problem_id: int
    kind: str
    teacher: str
    prompt_version: str
    generation: int
    domain: str = "math"


def cot_from_result(
    target: CotTarget, item_key: str, result: GenerationResult, job_id: int | None
) -> NewCot:
    if target.domain == "code":
        reasoning, answer_text = split_code_output(result.text, result.reasoning)
        final = "code" if "```" in answer_text else None
    else:
        reasoning, answer_text = split_teacher_output(result.text, result.reasoning)
        final = extract_final_answer(answer_text) if answer_text else None
        if final is None and reasoning:
            final = extract_final_answer(reasoning)
    return NewCot(
        problem_id=target.problem_id,
        kind=target.kind,
        teacher=target.teacher,
        prompt_version=target.prompt_version,
        generation=target.generation,
        reasoning=reasoning,
        answer_text=answer_text,
        final_answer=final,
        finish_reason=result.finish_reason,
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
        cost=result.cost,
        request_key=item_key,
        job_id=job_id,
    )


class CotSink:
    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx

    async def prepare(
        self, batch: list[tuple[WorkItem[CotTarget], GenerationResult]]
    ) -> list[NewCot]:
        return [
            cot_from_result(item.payload, item.key, result, self.ctx.job_id)
            for item, result in batch
        ]

    def write(self, conn: sqlite3.Connection, rows: list[NewCot]) -> None:
        self.ctx.store.cots.insert(conn, rows)


def _reference_cots(
    ctx: JobContext, items: list[tuple[int, str]], *, progress: bool = True
) -> dict[str, Any]:
    store = ctx.store
    problems = {p.id: p for p in store.problems.get_many([pid for pid, _ in items])}
    existing = store.cots.for_problems([pid for pid, _ in items])
    rows, missing = [], 0
    for pid, kind in items:
        if any(c.teacher == REFERENCE_TEACHER and c.kind == kind for c in existing.get(pid, [])):
            continue
        problem = problems[pid]
        if not problem.solution:
            missing += 1
            continue
        if problem.domain == "code":
            reasoning, answer_text = (
                "A reference solution.",
                f"```python\n{problem.solution.strip()}\n```",
            )
        else:
            reasoning, answer_text = split_teacher_output(problem.solution)
        if not answer_text:
            answer_text = f"The final answer is $\\boxed{{{problem.answer}}}$."
        rows.append(
            NewCot(
                pid,
                kind,
                REFERENCE_TEACHER,
                "reference",
                0,
                reasoning,
                answer_text,
                extract_final_answer(answer_text) or problem.answer,
                "stop",
                job_id=ctx.job_id,
            )
        )
    store.cots.add(rows)
    if progress:
        ctx.set_total(len(items), already_done=len(items))
    return {
        "written": len(rows),
        "no_reference_solution": missing,
        "message": f"{len(rows)} reference CoTs stored, {missing} problems have no worked solution",
    }


def active_items(store: Store, dataset_id: int) -> list[DatasetItem]:
    """The dataset's items less those retired by a top-up (their replacements are items too)."""
    retired = store.topups.retired(dataset_id)
    return [i for i in store.datasets.items(dataset_id) if i.problem_id not in retired]


async def run_job(ctx: JobContext) -> dict[str, Any]:
    params = TeachParams.from_job(ctx.params)
    dataset = ctx.store.datasets.get(params.dataset)
    items = [(i.problem_id, i.cot_kind) for i in active_items(ctx.store, dataset.id)]
    if params.limit is not None:
        items = items[: params.limit]
    if params.from_reference:
        return _reference_cots(ctx, items)
    return await teach_items(ctx, params, items)


async def teach_items(
    ctx: JobContext, params: TeachParams, items: list[tuple[int, str]], *, progress: bool = True
) -> dict[str, Any]:
    """Teacher CoTs for (problem, kind) pairs that have none yet by the configured teacher."""
    project, store = ctx.project, ctx.store
    staff = teachers(project, params)
    existing = store.cots.for_problems([pid for pid, _ in items])
    problems = {p.id: p for p in store.problems.get_many([pid for pid, _ in items])}
    work: dict[str, list[WorkItem[CotTarget]]] = {kind: [] for kind in CotKind}
    already = 0
    for pid, kind in items:
        teacher = staff[kind]
        domain = "code" if problems[pid].domain == "code" else "math"
        version = teacher.template_for(domain).version
        if any(
            c.kind == kind and c.teacher == teacher.name and c.prompt_version == version
            for c in existing.get(pid, [])
        ):
            already += 1
            continue
        request = teacher_request(teacher, problems[pid].problem, 0, domain)
        work[kind].append(
            WorkItem(
                request.cache_key(teacher.name),
                request,
                CotTarget(pid, kind, teacher.name, version, 0, domain),
            )
        )
    if progress:
        ctx.set_total(len(items), already_done=already)
    ctx.note(
        f"{len(work[CotKind.SHORT])} short CoTs by {staff[CotKind.SHORT].name}, {len(work[CotKind.LONG])} long CoTs by {staff[CotKind.LONG].name}; {already} already exist"
    )
    result: dict[str, Any] = {"already": already, "written": 0, "failed": 0, "from_cache": 0}
    for kind in KINDS:
        if not work[kind]:
            continue
        teacher = staff[kind]
        budget = ctx.budget()
        backend = make_backend(
            teacher.role, project.config.limits, budget=budget, base_dir=project.root
        )
        try:
            summary = await run_requests(
                ctx, backend, work[kind], CotSink(ctx), model_id=teacher.name
            )
        finally:
            await backend.aclose()
        result["written"] += summary.written
        result["failed"] += summary.failed
        result["from_cache"] += summary.from_cache
        if summary.cancelled or summary.stop_reason:
            return {**result, "cancelled": summary.cancelled, "stop_reason": summary.stop_reason}
    result["message"] = (
        f"{result['written']} CoTs stored ({result['from_cache']} from cache), {result['failed']} failed, {already} already existed"
    )
    return result
