"""Grade: label each problem from the student's point of view (E/M/H, or ZTE easy/1-5).

For every selected problem with student attempts:
1. per sample: the judge (or, for ZTE, the PRM) grades the attempt; ZTE's correct attempts
   are `easy` by rule without a call. Judge replies are parsed strictly
   (pipeline/judge_parse.py); an unparseable or refused reply is asked again (a new request,
   another seed, temperature at least 0.3), up to `grading.max_parse_retries` times, then the
   sample is marked needs-review. Nothing is guessed.
2. per problem: the samples are aggregated (labels/aggregate.py); a judge label that
   contradicts the symbolic check is kept, flagged, and sent to the review queue.
Every grade is appended to the history with its grader, prompt version and rationale. A
human label is never touched: the store derives the current label with the human first.
The stage is idempotent per grader version: samples already graded by the same judge and
prompt are skipped, and replies already received are replayed from the LLM-call cache.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from acotd_tui.backends import (
    GenerationResult,
    apply_overrides,
    make_backend,
    sampling_from_role,
)
from acotd_tui.backends.base import ChatRequest
from acotd_tui.config import ModelRole
from acotd_tui.domain import ZTE, GradeSource, SchemeName, is_scheme
from acotd_tui.errors import AcotdError
from acotd_tui.jobs import JobContext, WorkItem, run_requests
from acotd_tui.labels.aggregate import GRADING_RULES, SampleGrade, aggregate, sample_conflict
from acotd_tui.project import Project
from acotd_tui.stages import GradeParams
from acotd_tui.store import Attempt, NewGrade, ProblemFilter
from acotd_tui.templates import PromptTemplate, load_template

from .judge_parse import EMH_SCHEMA, ZTE_SCHEMA, JudgeParseError, parse_verdict
from .prm import PRMScorer, level_from_score, split_steps

MAX_COT_CHARS = 24_000
RETRY_MIN_TEMPERATURE = 0.3


@dataclass(frozen=True)
class JudgeTarget:
    problem_id: int
    attempt: Attempt
    try_index: int


def shorten_cot(cot: str, limit: int = MAX_COT_CHARS) -> str:
    """Keep the start and (longer) end of very long CoTs: the end holds the answer."""
    if len(cot) <= limit:
        return cot
    head, tail = limit // 3, limit - limit // 3
    return f"{cot[:head]}\n[... {len(cot) - limit} characters omitted ...]\n{cot[-tail:]}"


@dataclass
class Grader:
    """Which grader, in which version: the identity grades are stored and skipped under."""

    scheme: str
    kind: str  # judge | prm
    role: ModelRole
    version: str
    template: PromptTemplate | None = None
    code_template: PromptTemplate | None = None


def make_grader(project: Project, params: GradeParams) -> Grader:
    cfg = project.config.grading
    given = params.scheme or cfg.scheme
    if not is_scheme(given):
        raise AcotdError(f"unknown grading scheme {given!r} ({' or '.join(SchemeName)})")
    scheme = SchemeName(given)
    kind = params.grader or (cfg.zte_grader if scheme == SchemeName.ZTE else "judge")
    if kind == "prm":
        if scheme != SchemeName.ZTE:
            raise AcotdError("the PRM grader assigns ZTE levels: use --scheme zte")
        role = apply_overrides(project.config.role("prm"), params.overrides)
        thresholds = ",".join(f"{t:g}" for t in cfg.prm_thresholds)
        return Grader(scheme, kind, role, f"prm@{thresholds}")
    role = apply_overrides(project.config.role("judge"), params.overrides)
    template = load_template(
        cfg.judge_prompt if scheme == SchemeName.EMH else cfg.zte_prompt, project.root
    )
    code = project.config.code
    code_template = load_template(
        code.judge_prompt if scheme == SchemeName.EMH else code.zte_prompt, project.root
    )
    # One version for both prompts: math requests do not change when the code prompt does,
    # so their replies still come from the cache after such an edit.
    return Grader(
        scheme, kind, role, f"{template.version}+{code_template.version}", template, code_template
    )


def attempt_models(project: Project, params: GradeParams) -> list[int] | None:
    """The ids of the models whose attempts are graded (None: any), or one AcotdError line
    naming a model with no attempts (also checked before a grade job's row is written)."""
    if params.attempts_of == ["*"]:
        return None
    names = params.attempts_of or [apply_overrides(project.config.role("student"), {}).model]
    known = {m.display: m.id for m in project.store.models.all()}
    missing = [n for n in names if n not in known]
    if missing:
        raise AcotdError(
            f"no attempts by model {missing[0]!r} (models with attempts: "
            f"{', '.join(sorted(known)) or 'none'}); run `acotd diagnose` first or use --attempts-of"
        )
    return [known[n] for n in names]


def _select(project: Project, params: GradeParams) -> tuple[list[int], dict[int, list[Attempt]]]:
    store = project.store
    ids = store.problems.ids(
        ProblemFilter(sources=tuple(params.sources), splits=tuple(params.splits))
    )
    model_ids = attempt_models(project, params)
    by_problem = store.attempts.for_problems(ids, model_ids)
    chosen = [pid for pid in ids if by_problem.get(pid)]
    if params.limit is not None:
        chosen = chosen[: params.limit]
    return chosen, {pid: by_problem[pid] for pid in chosen}


class JudgeSink:
    def __init__(self, ctx: JobContext, grader: Grader, references: dict[int, str]) -> None:
        self.ctx, self.grader, self.references = ctx, grader, references
        self.unparsed: list[tuple[JudgeTarget, str]] = []

    async def prepare(
        self, batch: list[tuple[WorkItem[JudgeTarget], GenerationResult]]
    ) -> list[NewGrade]:
        rows = []
        for item, result in batch:
            target = item.payload
            try:
                verdict = parse_verdict(result.text, self.grader.scheme, truncated=result.truncated)
            except JudgeParseError as exc:
                self.unparsed.append((target, exc.kind))
                self.ctx.log.info(
                    "attempt %d: unparseable judge reply (%s), try %d",
                    target.attempt.id,
                    exc.kind,
                    target.try_index,
                )
                continue
            correct = target.attempt.correct
            rows.append(
                NewGrade(
                    problem_id=target.problem_id,
                    attempt_id=target.attempt.id,
                    scheme=self.grader.scheme,
                    label=verdict.label,
                    source=GradeSource.JUDGE,
                    rationale=verdict.rationale,
                    model=self.grader.role.model,
                    prompt_version=self.grader.version,
                    conflict=sample_conflict(verdict.label, correct)
                    if self.grader.scheme == SchemeName.EMH
                    else None,
                    symbolic_correct=correct,
                    detail={"try": target.try_index},
                    job_id=self.ctx.job_id,
                )
            )
        return rows

    def write(self, conn: sqlite3.Connection, rows: list[NewGrade]) -> None:
        if rows:
            self.ctx.store.grades.insert(conn, rows)


def tests_summary(attempt: Attempt) -> str:
    """What the judge of a code problem sees in place of a reference answer."""
    check = attempt.params.get("check") or {}
    if not check:
        return "not run"
    lines = [
        f"{check.get('passed', 0)}/{check.get('total', 0)} tests passed ({check.get('status')})"
    ]
    for i, t in enumerate(check.get("tests", [])[:5]):
        if t.get("status") != "pass":
            lines.append(f"test {i + 1}: {t.get('status')} {t.get('detail', '')}".strip())
    return "\n".join(lines)


def _judge_request(grader: Grader, problem: Any, attempt: Attempt, try_index: int) -> ChatRequest:
    code = problem.domain == "code" and grader.code_template is not None
    template = grader.code_template if code else grader.template
    assert template is not None
    messages = template.render(
        problem=problem.problem,
        reference=tests_summary(attempt) if code else problem.answer,
        student_answer=attempt.final_answer or "(no final answer)",
        student_cot=shorten_cot(attempt.cot or attempt.raw_text or "(empty)"),
    )
    params = sampling_from_role(
        grader.role, json_schema=EMH_SCHEMA if grader.scheme == SchemeName.EMH else ZTE_SCHEMA
    )
    if try_index:
        seed = None if params.seed is None else params.seed + try_index
        params = replace(
            params, seed=seed, temperature=max(params.temperature, RETRY_MIN_TEMPERATURE)
        )
    return ChatRequest(messages, params, try_index)


async def _judge_samples(
    ctx: JobContext, grader: Grader, todo: list[tuple[int, Attempt]], problems: dict[int, Any]
) -> dict[str, Any]:
    project = ctx.project
    budget = ctx.budget()
    backend = make_backend(grader.role, project.config.limits, budget=budget, base_dir=project.root)
    sink = JudgeSink(ctx, grader, {pid: problems[pid].answer for pid, _ in todo})
    stats: dict[str, Any] = {
        "calls_failed": 0,
        "needs_review": 0,
        "retried": 0,
        "cancelled": False,
        "stop_reason": None,
    }
    pending = [(pid, attempt, 0) for pid, attempt in todo]
    last_kinds: dict[int, str] = {}
    try:
        for try_index in range(project.config.grading.max_parse_retries + 1):
            if not pending:
                break
            items = []
            for pid, attempt, t in pending:
                request = _judge_request(grader, problems[pid], attempt, t)
                items.append(
                    WorkItem(
                        request.cache_key(grader.role.model), request, JudgeTarget(pid, attempt, t)
                    )
                )
            if try_index:
                stats["retried"] += len(items)
                ctx.progress.total = (ctx.progress.total or 0) + len(items)
            sink.unparsed = []
            summary = await run_requests(ctx, backend, items, sink, model_id=grader.role.model)
            stats["calls_failed"] += summary.failed
            if summary.cancelled or summary.stop_reason:
                stats["cancelled"], stats["stop_reason"] = summary.cancelled, summary.stop_reason
                return stats
            pending = [(t.problem_id, t.attempt, t.try_index + 1) for t, _ in sink.unparsed]
            last_kinds = {t.attempt.id: kind for t, kind in sink.unparsed}
    finally:
        await backend.aclose()
    if pending:  # still unparseable after every retry: needs review, never a guess
        rows = [
            NewGrade(
                problem_id=pid,
                attempt_id=attempt.id,
                scheme=grader.scheme,
                label=None,
                source=GradeSource.JUDGE,
                rationale=f"judge reply unusable after {t} tries ({last_kinds.get(attempt.id, 'unparseable')})",
                model=grader.role.model,
                prompt_version=grader.version,
                needs_review=True,
                symbolic_correct=attempt.correct,
                job_id=ctx.job_id,
            )
            for pid, attempt, t in pending
        ]
        ctx.store.grades.add(rows)
        stats["needs_review"] = len(rows)
    return stats


async def _prm_samples(
    ctx: JobContext, grader: Grader, todo: list[tuple[int, Attempt]], problems: dict[int, Any]
) -> dict[str, Any]:
    scorer = PRMScorer(grader.role, ctx.project.root)
    thresholds = ctx.project.config.grading.prm_thresholds
    for start in range(0, len(todo), 16):
        ctx.check_cancelled()
        rows = []
        for pid, attempt in todo[start : start + 16]:
            steps = split_steps(attempt.cot or attempt.raw_text or "")
            scores = await asyncio.to_thread(scorer.score, problems[pid].problem, steps)
            low = min(scores)
            rows.append(
                NewGrade(
                    problem_id=pid,
                    attempt_id=attempt.id,
                    scheme=SchemeName.ZTE,
                    label=level_from_score(low, thresholds),
                    source=GradeSource.PRM,
                    rationale=f"lowest step score {low:.3f} at step {scores.index(low) + 1} of {len(scores)}",
                    model=grader.role.model,
                    prompt_version=grader.version,
                    symbolic_correct=attempt.correct,
                    detail={"step_scores": [round(s, 4) for s in scores]},
                    job_id=ctx.job_id,
                )
            )
        ctx.store.grades.add(rows)
        ctx.advance(len(rows))
    return {
        "calls_failed": 0,
        "needs_review": 0,
        "retried": 0,
        "cancelled": False,
        "stop_reason": None,
    }


def _aggregate(
    ctx: JobContext,
    grader: Grader,
    attempts: dict[int, list[Attempt]],
    regrade: bool,
    rule: str,
) -> tuple[int, int]:
    """Write one per-problem grade for each problem whose samples are all graded."""
    store = ctx.store
    all_ids = [a.id for items in attempts.values() for a in items]
    samples = store.grades.sample_grades(
        all_ids, scheme=grader.scheme, model=grader.role.model, prompt_version=grader.version
    )
    done = (
        set()
        if regrade
        else store.grades.graded_problem_ids(
            grader.scheme, model=grader.role.model, prompt_version=grader.version
        )
    )
    easy_rate = ctx.project.config.grading.easy_pass_rate
    rows, incomplete = [], 0
    for pid, items in attempts.items():
        if pid in done:
            continue
        if any(a.id not in samples for a in items):
            incomplete += 1
            continue
        sample_list = [SampleGrade(a.id, samples[a.id].label, a.correct) for a in items]
        agg = aggregate(grader.scheme, rule, sample_list, easy_rate)
        only_rule = all(samples[a.id].source == GradeSource.RULE for a in items)
        rows.append(
            NewGrade(
                problem_id=pid,
                scheme=grader.scheme,
                label=agg.label,
                source=GradeSource.RULE if only_rule else grader.kind,
                rationale=agg.rationale,
                model=grader.role.model,
                prompt_version=grader.version,
                needs_review=agg.needs_review,
                conflict=agg.conflict,
                symbolic_correct=agg.symbolic_correct,
                detail=agg.detail,
                job_id=ctx.job_id,
            )
        )
    for start in range(0, len(rows), 500):
        store.grades.add(rows[start : start + 500])
    return len(rows), incomplete


async def run_job(ctx: JobContext) -> dict[str, Any]:
    params = GradeParams.from_job(ctx.params)
    project, store = ctx.project, ctx.store
    rule = params.rule or project.config.grading.rule
    if rule not in GRADING_RULES:
        raise AcotdError(f"unknown grading rule {rule!r} ({', '.join(GRADING_RULES)})")
    grader = make_grader(project, params)
    chosen, attempts = _select(project, params)
    problems = {p.id: p for p in store.problems.get_many(chosen)}
    all_attempts = [(pid, a) for pid in chosen for a in attempts[pid]]
    existing = store.grades.sample_grades(
        [a.id for _, a in all_attempts],
        scheme=grader.scheme,
        model=grader.role.model,
        prompt_version=grader.version,
    )
    todo = [(pid, a) for pid, a in all_attempts if a.id not in existing]
    if grader.scheme == SchemeName.ZTE:  # correct answers are easy by rule: no call needed
        rule_rows = [
            NewGrade(
                problem_id=pid,
                attempt_id=a.id,
                scheme=SchemeName.ZTE,
                label=ZTE.easy,
                source=GradeSource.RULE,
                rationale="answer correct",
                model=grader.role.model,
                prompt_version=grader.version,
                symbolic_correct=True,
                job_id=ctx.job_id,
            )
            for pid, a in todo
            if a.correct
        ]
        store.grades.add(rule_rows)
        todo = [(pid, a) for pid, a in todo if not a.correct]
    ctx.set_total(len(todo))
    ctx.note(
        f"{grader.kind} {grader.role.model} ({grader.version}): {len(chosen)} problems, {len(todo)} samples to grade, {len(all_attempts) - len(todo)} already graded"
    )
    if todo:
        run = _judge_samples if grader.kind == "judge" else _prm_samples
        stats = await run(ctx, grader, todo, problems)
    else:
        stats = {
            "calls_failed": 0,
            "needs_review": 0,
            "retried": 0,
            "cancelled": False,
            "stop_reason": None,
        }
    if stats["cancelled"] or stats["stop_reason"]:
        return {**stats, "graded_problems": 0}
    written, incomplete = _aggregate(ctx, grader, attempts, params.regrade, rule)
    message = f"{written} problems graded, {stats['needs_review']} samples need review, {incomplete} incomplete"
    if stats["calls_failed"]:
        message += f"; {stats['calls_failed']} judge calls failed: run again to retry"
    return {
        **stats,
        "graded_problems": written,
        "incomplete": incomplete,
        "samples": len(todo),
        "message": message,
    }
