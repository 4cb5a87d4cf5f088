"""Verify: check every teacher CoT of a dataset, regenerate failures, queue spot checks.

1. A CoT the teacher did not finish (stored finish reason `length`: cut off at max_tokens)
   fails with reason `truncated`, whatever answer its unfinished text seems to reach; a
   cut-off generation is never a pass. A person's edit replaces the generated text, so an
   edited CoT is judged on its edit.
   Otherwise the CoT's final answer is checked against the reference (math-verify, as for
   students).
2. Optionally a consistency judge (`consistency_judge` role) says whether the reasoning
   supports the stated answer; a CoT that reaches the right answer by broken reasoning is
   then rejected too. A reply that cannot be read counts as "unknown", not as a pass.
3. A dataset item with no passing CoT is taught again (next generation, another seed) up to
   `verification.max_regenerations` times; after that it stays unverified and is left out
   of exports.
3b. Top-up (`verification.top_up`, on by default): such an item is then retired and replaced
   by an unused problem of the same level (same CoT kind), drawn with a seed derived from
   the dataset's and recorded with the job (`store.topups`), then taught and verified like
   the rest, up to `verification.max_topup_rounds` rounds per run (a re-run continues the
   round count, so each round has its own seed); so a verified set is exactly K
   with the planned mix whenever the pool allows. When a level runs out, the shortfall is
   recorded and stated in the result, the dataset card and under the experiment tables.
4. `verification.spot_check_fraction` of the verified CoTs of each level are queued for a
   person to approve, reject or edit (seeded, so the same queue on a re-run).
Only verified, not rejected CoTs are exportable.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import sqlite3
from dataclasses import fields
from typing import Any

from acotd_tui.backends import (
    GenerationResult,
    apply_overrides,
    make_backend,
    sampling_from_role,
)
from acotd_tui.backends.base import ChatRequest
from acotd_tui.domain import CotKind
from acotd_tui.jobs import JobContext, WorkItem, raise_if_stopped, run_requests
from acotd_tui.outcomes import OutcomeChecker, Submission
from acotd_tui.project import Project
from acotd_tui.stages import TeachParams, VerifyParams
from acotd_tui.store import Cot, Dataset, DatasetItem, NewTopup, Store
from acotd_tui.templates import load_template

from .random_arm import RANDOM_POOL, UNLABELLED, RandomArmRequest, random_pool
from .sampling import SamplingRequest, SamplingService
from .teach import (
    CotSink,
    CotTarget,
    _reference_cots,
    active_items,
    teach_items,
    teacher_request,
    teachers,
)

CONSISTENCY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"consistent": {"type": "boolean"}, "rationale": {"type": "string"}},
    "required": ["consistent", "rationale"],
}


def parse_consistency(text: str) -> bool | None:
    body = re.sub(r"<think>.*?</think>", "", text or "", flags=re.DOTALL).strip()
    for candidate in [body, *re.findall(r"\{.*?\}", body, flags=re.DOTALL)]:
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(consistent := obj.get("consistent"), bool):
            return consistent
    found = {
        m.lower()
        for m in re.findall(r"\bconsistent\W{0,4}(true|false|yes|no)\b", body, flags=re.IGNORECASE)
    }
    if len(found) == 1:
        return found.pop() in ("true", "yes")
    return None


TRUNCATED = "truncated"


def is_truncated(cot: Cot) -> bool:
    """Cut off at max_tokens by the teacher, and not since rewritten by a person."""
    return cot.finish_reason == "length" and not cot.edited


def check_answers(
    store: Store, checker: OutcomeChecker, cots: list[Cot]
) -> dict[int, tuple[bool, str]]:
    """(passed, detail) per CoT: the final answer against the reference, or for code
    problems the CoT's code run against the problem's tests. A truncated CoT fails with
    detail starting `truncated` before anything is checked."""
    out: dict[int, tuple[bool, str]] = {
        c.id: (False, f"{TRUNCATED}: the teacher stopped at max_tokens before finishing")
        for c in cots
        if is_truncated(c)
    }
    cots = [c for c in cots if c.id not in out]
    if not cots:
        return out
    problems = {p.id: p for p in store.problems.get_many(sorted({c.problem_id for c in cots}))}
    tests = store.code_tests.get_many([pid for pid, p in problems.items() if p.domain == "code"])
    submissions = [
        Submission(
            problems[c.problem_id].domain,
            problems[c.problem_id].answer,
            c.final_answer_text,
            c.final_reasoning,
            True,
            tests.get(c.problem_id),
            final_answer=None if problems[c.problem_id].domain == "code" else c.final_answer,
        )
        for c in cots
    ]
    for cot, outcome in zip(cots, checker.check(submissions), strict=True):
        problem = problems[cot.problem_id]
        if problem.domain == "code":
            out[cot.id] = (bool(outcome.correct), f"code: {outcome.summary}")
        elif cot.final_answer is None:
            out[cot.id] = (False, "no final answer")
        elif outcome.correct:
            out[cot.id] = (True, f"answer {cot.final_answer} matches {problem.answer}")
        else:
            undecidable = " (undecidable)" if outcome.detail.get("undecidable") else ""
            out[cot.id] = (
                False,
                f"answer {cot.final_answer} does not match {problem.answer}{undecidable}",
            )
    return out


class ConsistencySink:
    def __init__(self) -> None:
        self.verdicts: dict[int, bool | None] = {}

    async def prepare(
        self, batch: list[tuple[WorkItem[int], GenerationResult]]
    ) -> list[tuple[int, bool | None]]:
        return [(item.payload, parse_consistency(result.text)) for item, result in batch]

    def write(self, conn: sqlite3.Connection, rows: list[tuple[int, bool | None]]) -> None:
        self.verdicts.update(rows)  # stored with the verification result below


async def _consistency(
    ctx: JobContext, params: VerifyParams, cots: list[Cot]
) -> dict[int, bool | None]:
    project = ctx.project
    role = apply_overrides(project.config.role("consistency_judge"), params.judge_overrides)
    template = load_template(project.config.verification.consistency_prompt, project.root)
    problems = {p.id: p for p in ctx.store.problems.get_many(sorted({c.problem_id for c in cots}))}
    items = []
    for cot in cots:
        messages = template.render(
            problem=problems[cot.problem_id].problem,
            solution=cot.final_reasoning,
            answer=cot.final_answer or "(none)",
        )
        request = ChatRequest(messages, sampling_from_role(role, json_schema=CONSISTENCY_SCHEMA))
        items.append(WorkItem(request.cache_key(role.model), request, cot.id))
    backend = make_backend(
        role,
        project.config.limits,
        budget=ctx.budget(),
        base_dir=project.root,
    )
    sink = ConsistencySink()
    try:
        raise_if_stopped(await run_requests(ctx, backend, items, sink, model_id=role.model))
    finally:
        await backend.aclose()
    return sink.verdicts


def _best(cots: list[Cot]) -> Cot | None:
    """The CoT an item would export: verified and not rejected, newest first."""
    good = [c for c in cots if c.exportable]
    return good[-1] if good else None


async def _verify_pending(
    ctx: JobContext,
    params: VerifyParams,
    checker: OutcomeChecker,
    kinds: dict[int, str],
    use_consistency: bool,
) -> None:
    """Check every CoT of the items' kinds that has no verdict yet, and store the verdicts."""
    store = ctx.store
    cots = store.cots.for_problems(list(kinds))
    pending = [
        c for pid in kinds for c in cots.get(pid, []) if c.kind == kinds[pid] and c.verified is None
    ]
    if not pending:
        return
    answers = await asyncio.to_thread(check_answers, store, checker, pending)
    consistent: dict[int, bool | None] = {}
    if use_consistency:
        consistent = await _consistency(ctx, params, [c for c in pending if answers[c.id][0]])
    updates = []
    for cot in pending:
        ok, detail = answers[cot.id]
        verdict = consistent.get(cot.id)
        if ok and use_consistency:
            if verdict is False:
                ok, detail = (
                    False,
                    detail + "; the consistency judge says the reasoning does not support it",
                )
            elif verdict is None:
                ok, detail = (False, detail + "; the consistency judge's reply could not be read")
        updates.append((cot.id, ok, detail, verdict))
    with store.db.tx() as conn:
        store.cots.set_verification(conn, updates)


def _failing(store: Store, kinds: dict[int, str]) -> list[int]:
    cots = store.cots.for_problems(list(kinds))
    return [
        pid
        for pid in kinds
        if _best([c for c in cots.get(pid, []) if c.kind == kinds[pid]]) is None
    ]


async def run_job(ctx: JobContext) -> dict[str, Any]:
    params = VerifyParams.from_job(ctx.params)
    project, store = ctx.project, ctx.store
    cfg = project.config.verification
    use_consistency = cfg.consistency_judge if params.consistency is None else params.consistency
    max_regen = (
        cfg.max_regenerations if params.max_regenerations is None else params.max_regenerations
    )
    top_up = cfg.top_up if params.top_up is None else params.top_up
    dataset = store.datasets.get(params.dataset)
    ctx.set_total(len(active_items(store, dataset.id)))
    checker = OutcomeChecker.for_project(project)
    regenerated = replaced = 0
    # A re-run continues the count of top-up rounds, so each round draws with its own seed.
    earlier = len({t.seed for t in store.topups.list(dataset.id)})
    try:
        for topup_round in range(earlier, earlier + cfg.max_topup_rounds + 1):
            items = active_items(store, dataset.id)
            kinds = {i.problem_id: i.cot_kind for i in items}
            for round_index in range(max_regen + 1):
                ctx.check_cancelled()
                await _verify_pending(ctx, params, checker, kinds, use_consistency)
                failing = _failing(store, kinds)
                ctx.progress.done = len(kinds) - len(failing)
                ctx.flush()
                if not failing or round_index == max_regen:
                    break
                cots = store.cots.for_problems(list(kinds))
                regenerated += await _regenerate(ctx, params, failing, kinds, cots)
            failing = _failing(store, kinds)
            if not top_up or not failing or topup_round == earlier + cfg.max_topup_rounds:
                break
            rows = draw_replacements(project, dataset, items, failing, topup_round)
            store.topups.record(dataset.id, rows, ctx.job_id)
            fresh = [(r.problem_id, r.cot_kind) for r in rows if r.problem_id is not None]
            ctx.note(
                f"top-up {topup_round + 1}: {len(failing)} failing items retired, {len(fresh)} replaced"
            )
            if not fresh:
                break
            replaced += len(fresh)
            teach = TeachParams(dataset=params.dataset, overrides=params.overrides)
            if params.from_reference:
                _reference_cots(ctx, fresh, progress=False)
            else:
                await teach_items(ctx, teach, fresh, progress=False)
    finally:
        checker.close()
    queued = _queue_spot_checks(
        store,
        dataset.id,
        cfg.spot_check_fraction
        if params.spot_check_fraction is None
        else params.spot_check_fraction,
        params.seed,
    )
    rates = store.cots.pass_rates(dataset.id)
    status = set_status(store, dataset.name)
    ok, n_items = status["verified"], status["items"]
    message = f"{ok} of {n_items} items have a verified CoT; {regenerated} regenerated; {replaced} replaced by top-up; {queued} queued for spot checks"
    if status["shortfall"]:
        message += f"; short of the planned {status['planned']} by {status['shortfall']} ({status['shortfall_by_label']})"
    return {
        "items": n_items,
        "exportable": ok,
        "unverified": n_items - ok,
        "regenerated": regenerated,
        "replaced": replaced,
        "planned": status["planned"],
        "shortfall": status["shortfall"],
        "shortfall_by_label": status["shortfall_by_label"],
        "spot_checks_queued": queued,
        "pass_rates": rates,
        "cost": sum(r["cost"] for r in rates),
        "message": message,
    }


def _unused_pool(project: Project, dataset: Dataset) -> dict[str, list[int]]:
    """Problems the dataset's own strategy could have drawn, by level, never used by it."""
    used = {i.problem_id for i in project.store.datasets.items(dataset.id)}
    params = dataset.params
    if dataset.strategy == RANDOM_POOL:
        wanted = {f.name for f in fields(RandomArmRequest)}
        arm_request = RandomArmRequest(**{k: v for k, v in params.items() if k in wanted})
        pool, _ = random_pool(project, arm_request)
        by_label = {UNLABELLED: pool}
    else:
        wanted = {f.name for f in fields(SamplingRequest)}
        request = SamplingRequest(**{k: v for k, v in params.items() if k in wanted})
        by_label, _ = SamplingService(project).pool(request)
    return {label: sorted(set(ids) - used) for label, ids in by_label.items()}


def draw_replacements(
    project: Project,
    dataset: Dataset,
    items: list[DatasetItem],
    failing: list[int],
    topup_round: int,
) -> list[NewTopup]:
    """One replacement per failing item: an unused problem of the same level with the same
    CoT kind, drawn with a seed derived from the dataset's (so a re-run draws the same)."""
    by_pid = {i.problem_id: i for i in items}
    unused = _unused_pool(project, dataset)
    seed = f"{dataset.seed}/topup/{topup_round}"
    rng = random.Random(seed)
    rows = []
    for pid in sorted(failing, key=lambda p: by_pid[p].position):
        item = by_pid[pid]
        candidates = unused.get(item.label, [])
        choice = candidates.pop(rng.randrange(len(candidates))) if candidates else None
        rows.append(
            NewTopup(
                replaced_problem_id=pid,
                problem_id=choice,
                label=item.label,
                cot_kind=item.cot_kind,
                reason="no CoT passed verification"
                + ("" if choice is not None else f"; no unused problem of level {item.label} left"),
                seed=seed,
            )
        )
    return rows


def set_status(store: Store, dataset_name: str) -> dict[str, Any]:
    """Planned size, items, verified items and the shortfall by level, for cards and tables."""
    dataset = store.datasets.get(dataset_name)
    items = active_items(store, dataset.id)
    cots = store.cots.for_problems([i.problem_id for i in items])
    verified = {
        i.problem_id
        for i in items
        if _best([c for c in cots.get(i.problem_id, []) if c.kind == i.cot_kind]) is not None
    }
    params = dataset.params
    planned = int(params.get("wanted") or params.get("k") or len(items))
    first_draw = len(store.datasets.items(dataset.id)) - sum(
        1 for t in store.topups.list(dataset.id) if t.problem_id is not None
    )
    short_by_label: dict[str, int] = {}
    for item in items:
        if item.problem_id not in verified:
            short_by_label[item.label] = short_by_label.get(item.label, 0) + 1
    missing_at_sampling = max(0, planned - first_draw)
    if missing_at_sampling:
        short_by_label["(not sampled)"] = missing_at_sampling
    return {
        "planned": planned,
        "items": len(items),
        "verified": len(verified),
        "replaced": sum(1 for t in store.topups.list(dataset.id) if t.problem_id is not None),
        "shortfall": max(0, planned - len(verified)),
        "shortfall_by_label": short_by_label,
    }


async def _regenerate(
    ctx: JobContext,
    params: VerifyParams,
    failing: list[int],
    kinds: dict[int, str],
    cots: dict[int, list[Cot]],
) -> int:
    project, store = ctx.project, ctx.store
    staff = teachers(project, TeachParams(dataset=params.dataset, overrides=params.overrides))
    problems = {p.id: p for p in store.problems.get_many(failing)}
    work: dict[str, list[WorkItem[CotTarget]]] = {kind: [] for kind in CotKind}
    for pid in failing:
        kind = kinds[pid]
        teacher = staff[kind]
        domain = "code" if problems[pid].domain == "code" else "math"
        version = teacher.template_for(domain).version
        own = [
            c
            for c in cots.get(pid, [])
            if c.kind == kind and c.teacher == teacher.name and c.prompt_version == version
        ]
        if not own:
            continue  # no CoT by this teacher yet (not taught, or reference only): that is `teach`'s job
        generation = 1 + max((c.generation for c in own), default=-1)
        request = teacher_request(teacher, problems[pid].problem, generation, domain)
        work[kind].append(
            WorkItem(
                request.cache_key(teacher.name),
                request,
                CotTarget(pid, kind, teacher.name, version, generation, domain),
            )
        )
    written = 0
    for kind, items in work.items():
        if not items:
            continue
        teacher = staff[kind]
        backend = make_backend(
            teacher.role,
            project.config.limits,
            budget=ctx.budget(),
            base_dir=project.root,
        )
        try:
            summary = await run_requests(ctx, backend, items, CotSink(ctx), model_id=teacher.name)
        finally:
            await backend.aclose()
        raise_if_stopped(summary)
        written += summary.written
    return written


def _queue_spot_checks(store: Store, dataset_id: int, fraction: float, seed: int) -> int:
    if fraction <= 0:
        return 0
    items = active_items(store, dataset_id)
    cots = store.cots.for_problems([i.problem_id for i in items])
    by_label: dict[str, list[int]] = {}
    for item in items:
        best = _best([c for c in cots.get(item.problem_id, []) if c.kind == item.cot_kind])
        if best is not None:
            by_label.setdefault(item.label, []).append(best.id)
    rng = random.Random(seed)
    chosen: list[int] = []
    for label in sorted(by_label):
        ids = sorted(by_label[label])
        chosen += rng.sample(ids, min(len(ids), math.ceil(fraction * len(ids))))
    return store.cots.queue_for_review(chosen)
