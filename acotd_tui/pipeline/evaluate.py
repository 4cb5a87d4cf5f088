"""Evaluate a model (or base + adapter) on benchmarks: accuracy and CoTQS.

- n samples per problem (default 4) at temperature 0.6, top-p 0.9 (config `eval`), with the
  same prompt as diagnosis, up to `eval.max_tokens` (16,384 by default, the paper's Table 2);
  answers checked with math-verify; truncated (cut-off) outputs count as wrong, and how many
  there were is stored with each result and shown beside the tables. Accuracy is reported as mean ± std over the n sample runs: run j's accuracy is the
  share of problems its j-th sample solved (std is the sample standard deviation, 0 for n=1).
- CoTQS: the `cotqs_judge` scores CoTs 1-5 on logical coherence, step completeness and
  factual correctness; a CoT's score is the mean of the three; the benchmark's CoTQS is the
  mean over judged CoTs, and its std the sample standard deviation over the n sample runs
  (`eval.cotqs_samples` per problem: 0 = every sample, the default, as the tables need).
- `thinking` turns Qwen3's `enable_thinking` chat-template switch on or off (the paper's
  Table 3 baseline "thinking off"); it is part of every request's key, so runs with thinking
  on and off never share samples.
- Refuses to evaluate an adapter on benchmark problems its training set contained.
Every sample is stored, keyed by (evaluation, item, sample), so a re-run resumes.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from acotd_tui.answers import split_reasoning
from acotd_tui.backends import (
    ChatRequest,
    GenerationResult,
    apply_overrides,
    expand_samples,
    make_backend,
    sampling_from_role,
)
from acotd_tui.benchmarks import BenchItem, load_benchmark
from acotd_tui.domain import RunStatus
from acotd_tui.errors import AcotdError
from acotd_tui.jobs import JobContext, WorkItem, raise_if_stopped, run_requests
from acotd_tui.outcomes import OutcomeChecker, Submission
from acotd_tui.stages import EvalParams
from acotd_tui.store import Eval, EvalSample, problem_hash
from acotd_tui.templates import load_template

from .grade import shorten_cot

COTQS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "logical_coherence": {"type": "integer", "minimum": 1, "maximum": 5},
        "step_completeness": {"type": "integer", "minimum": 1, "maximum": 5},
        "factual_correctness": {"type": "integer", "minimum": 1, "maximum": 5},
        "rationale": {"type": "string"},
    },
    "required": ["logical_coherence", "step_completeness", "factual_correctness"],
}
CRITERIA = ("logical_coherence", "step_completeness", "factual_correctness")


@dataclass(frozen=True)
class EvalTarget:
    eval_id: int
    item_index: int
    sample_index: int
    item: BenchItem


def accuracy(samples: list[EvalSample], n: int) -> tuple[float, float]:
    items = {s.item_index for s in samples}
    if not items:
        return 0.0, 0.0
    runs = []
    for j in range(n):
        solved = sum(1 for s in samples if s.sample_index == j and s.correct)
        runs.append(solved / len(items))
    return statistics.fmean(runs), statistics.stdev(runs) if len(runs) > 1 else 0.0


def parse_cotqs(text: str) -> tuple[float, float, float] | None:
    body = re.sub(r"<think>.*?</think>", "", text or "", flags=re.DOTALL)
    for candidate in [body.strip(), *re.findall(r"\{.*?\}", body, flags=re.DOTALL)]:
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            try:
                coherence, completeness, factual = (float(obj[c]) for c in CRITERIA)
            except (KeyError, TypeError, ValueError):
                continue
            values = (coherence, completeness, factual)
            if all(1 <= v <= 5 for v in values):
                return values
    return None


class SampleSink:
    def __init__(self, ctx: JobContext, checker: OutcomeChecker) -> None:
        self.ctx, self.checker = ctx, checker

    async def prepare(
        self, batch: list[tuple[WorkItem[EvalTarget], GenerationResult]]
    ) -> list[tuple[int, EvalSample]]:
        splits = [split_reasoning(result.text, result.reasoning) for _, result in batch]
        submissions = [
            Submission(
                item.payload.item.domain,
                item.payload.item.answer,
                split.answer_text,
                split.reasoning,
                split.closed,
                item.payload.item.tests,
            )
            for (item, _), split in zip(batch, splits, strict=True)
        ]
        outcomes = await asyncio.to_thread(self.checker.check, submissions)
        rows = []
        for (item, result), split, outcome in zip(batch, splits, outcomes, strict=True):
            t = item.payload
            truncated = result.truncated or not split.closed
            rows.append(
                (
                    t.eval_id,
                    EvalSample(
                        item_index=t.item_index,
                        sample_index=t.sample_index,
                        problem_hash=t.item.hash,
                        reference=t.item.answer if t.item.domain != "code" else "(tests)",
                        final_answer=outcome.final_answer,
                        correct=bool(outcome.correct) and not truncated,
                        truncated=truncated,
                        raw_text=result.text,
                        cot=split.reasoning or split.answer_text,
                        tokens_out=result.tokens_out,
                    ),
                )
            )
        return rows

    def write(self, conn: sqlite3.Connection, rows: list[tuple[int, EvalSample]]) -> None:
        by_eval: dict[int, list[EvalSample]] = {}
        for eval_id, sample in rows:
            by_eval.setdefault(eval_id, []).append(sample)
        for eval_id, samples in by_eval.items():
            self.ctx.store.evals.insert_samples(conn, eval_id, samples)


class CotqsSink:
    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.unreadable = 0

    async def prepare(
        self, batch: list[tuple[WorkItem[tuple[int, int, int]], GenerationResult]]
    ) -> list[tuple[int, tuple[int, int, float, float, float]]]:
        out = []
        for item, result in batch:
            scores = parse_cotqs(result.text)
            if scores is None:
                self.unreadable += 1
                continue
            eval_id, i, j = item.payload
            out.append((eval_id, (i, j, *scores)))
        return out

    def write(
        self, conn: sqlite3.Connection, rows: list[tuple[int, tuple[int, int, float, float, float]]]
    ) -> None:
        by_eval: dict[int, list[Any]] = {}
        for eval_id, score in rows:
            by_eval.setdefault(eval_id, []).append(score)
        for eval_id, scores in by_eval.items():
            self.ctx.store.evals.set_cotqs(conn, eval_id, scores)


def _adapter(ctx: JobContext, ref: str | None) -> tuple[str, str | None, set[bytes]]:
    """(adapter label, adapter path, hashes of the problems it was trained on)."""
    if not ref:
        return "", None, set()
    store = ctx.store
    try:
        run = store.train_runs.get(ref)
    except Exception:
        path = Path(ref)
        if not path.exists():
            raise AcotdError(f"adapter {ref!r} is neither a training run nor a folder") from None
        return path.name, str(path.resolve()), set()
    if run.status != RunStatus.DONE or not run.adapter_path:
        raise AcotdError(f"training run {run.name!r} has not finished (status {run.status})")
    trained: set[bytes] = set()
    if run.dataset_id is not None:
        ids = [i.problem_id for i in store.datasets.items(run.dataset_id)]
        trained = {problem_hash(p.problem, p.domain) for p in store.problems.get_many(ids)}
    return run.name, run.adapter_path, trained


async def run_job(ctx: JobContext) -> dict[str, Any]:
    params = EvalParams.from_job(ctx.params)
    project, store = ctx.project, ctx.store
    cfg = project.config.eval
    role = apply_overrides(project.config.role("student"), params.overrides)
    if params.thinking is not None:
        role = role.model_copy(update={"enable_thinking": params.thinking})
    adapter_label, adapter_path, trained = _adapter(ctx, params.adapter)
    n = params.n or cfg.n
    sampling = sampling_from_role(
        role,
        temperature=cfg.temperature if params.temperature is None else params.temperature,
        top_p=cfg.top_p if params.top_p is None else params.top_p,
        max_tokens=params.max_tokens or cfg.max_tokens,
        n=n,
    )
    name = params.name or (f"{role.model}+{adapter_label}" if adapter_label else role.model)
    if params.thinking is False and not params.name:
        name += "#no-thinking"
    templates = {
        "math": load_template(project.config.diagnose.prompt, project.root),
        "code": load_template(project.config.code.diagnose_prompt, project.root),
    }
    identity = f"{role.model}|{adapter_path or ''}"
    benchmarks = [load_benchmark(b, store) for b in (params.benchmarks or cfg.benchmarks)]
    items_by_bench = {
        b.name: list(b.items[: params.limit] if params.limit else b.items) for b in benchmarks
    }
    for bench, items in items_by_bench.items():
        overlap = sum(1 for it in items if it.hash in trained)
        if overlap and not params.allow_overlap:
            raise AcotdError(
                f"{bench}: {overlap} problems were in the training set of {adapter_label}; refusing to evaluate (decontaminate the dataset)"
            )
    work: list[WorkItem[EvalTarget]] = []
    evals: dict[str, Eval] = {}
    already = 0
    for bench, items in items_by_bench.items():
        ev = store.evals.ensure(
            name,
            bench,
            model=role.model,
            adapter=adapter_label,
            n=n,
            params={
                "sampling": asdict(sampling),
                "adapter_path": adapter_path,
                "limit": params.limit,
            },
            items=len(items),
            job_id=ctx.job_id,
        )
        evals[bench] = ev
        done = store.evals.done_samples(ev.id)
        for index, item in enumerate(items):
            template = templates["code" if item.domain == "code" else "math"]
            for request in expand_samples(template.render(problem=item.problem), sampling):
                if (index, request.sample_index) in done:
                    already += 1
                    continue
                work.append(
                    WorkItem(
                        request.cache_key(identity),
                        request,
                        EvalTarget(ev.id, index, request.sample_index, item),
                    )
                )
    ctx.set_total(len(work) + already, already_done=already)
    ctx.note(f"{name}: {len(work)} samples to generate over {', '.join(items_by_bench)} (n={n})")
    checker = OutcomeChecker.for_project(project)
    try:
        if work:
            backend = make_backend(
                role,
                project.config.limits,
                budget=ctx.budget(),
                adapter=adapter_path,
                base_dir=project.root,
            )
            try:
                summary = await run_requests(
                    ctx, backend, work, SampleSink(ctx, checker), model_id=identity
                )
            finally:
                await backend.aclose()
            if summary.cancelled or summary.stop_reason:
                return {"cancelled": summary.cancelled, "stop_reason": summary.stop_reason}
    finally:
        checker.close()
    use_cotqs = cfg.cotqs if params.cotqs is None else params.cotqs
    unreadable = await _cotqs(ctx, evals, items_by_bench) if use_cotqs else 0
    results = {}
    for bench, ev in evals.items():
        samples = store.evals.samples(ev.id)
        mean, std = accuracy(samples, n)
        judged = [s for s in samples if s.coherence is not None]
        cotqs = (
            statistics.fmean((s.coherence + s.completeness + s.factual) / 3 for s in judged)
            if judged
            else None
        )
        detail: dict[str, Any] = (
            {
                c: statistics.fmean(getattr(s, a) for s in judged)
                for c, a in zip(CRITERIA, ("coherence", "completeness", "factual"), strict=True)
            }
            if judged
            else {}
        )
        detail["judged"] = len(judged)
        runs = [
            statistics.fmean(
                (s.coherence + s.completeness + s.factual) / 3
                for s in judged
                if s.sample_index == j
            )
            for j in range(n)
            if any(s.sample_index == j for s in judged)
        ]
        detail["cotqs_runs"] = runs  # CoTQS of sample run j (mean over its judged CoTs)
        detail["cotqs_std"] = statistics.stdev(runs) if len(runs) > 1 else 0.0 if runs else None
        detail["truncated"] = sum(1 for s in samples if s.truncated)
        detail["samples"] = len(samples)
        store.evals.finish(ev.id, acc_mean=mean, acc_std=std, cotqs=cotqs, detail=detail)
        results[bench] = {
            "acc_mean": mean,
            "acc_std": std,
            "cotqs": cotqs,
            "truncated": detail["truncated"],
            "samples": len(samples),
        }
    summary_text = "; ".join(
        f"{b} {r['acc_mean']:.1%}±{r['acc_std']:.1%}"
        + (f" CoTQS {r['cotqs']:.2f}" if r["cotqs"] is not None else "")
        + (f" ({r['truncated']} of {r['samples']} samples cut off)" if r["truncated"] else "")
        for b, r in results.items()
    )
    return {
        "name": name,
        "results": results,
        "cotqs_unreadable": unreadable,
        "message": summary_text,
    }


async def _cotqs(
    ctx: JobContext, evals: dict[str, Eval], items_by_bench: dict[str, list[BenchItem]]
) -> int:
    project, store = ctx.project, ctx.store
    role = project.config.role("cotqs_judge")
    template = load_template(project.config.eval.cotqs_prompt, project.root)
    per_problem = project.config.eval.cotqs_samples
    work = []
    for bench, ev in evals.items():
        for s in store.evals.samples(ev.id):
            if (
                s.coherence is not None
                or (per_problem and s.sample_index >= per_problem)
                or not s.cot
            ):
                continue
            messages = template.render(
                problem=items_by_bench[bench][s.item_index].problem,
                cot=shorten_cot(s.cot),
                answer=s.final_answer or "(none)",
            )
            request = ChatRequest(messages, sampling_from_role(role, json_schema=COTQS_SCHEMA))
            work.append(
                WorkItem(
                    request.cache_key(role.model), request, (ev.id, s.item_index, s.sample_index)
                )
            )
    if not work:
        return 0
    ctx.note(f"CoTQS: {len(work)} CoTs to score with {role.model}")
    ctx.progress.total = (ctx.progress.total or 0) + len(work)
    backend = make_backend(
        role,
        project.config.limits,
        budget=ctx.budget(),
        base_dir=project.root,
    )
    sink = CotqsSink(ctx)
    try:
        raise_if_stopped(await run_requests(ctx, backend, work, sink, model_id=role.model))
    finally:
        await backend.aclose()
    return sink.unreadable
