"""The services the screens call: every read and action of the app, testable without a UI.

Screens hold no business logic and no SQL; they call these methods (from worker threads for
anything that touches the store) and render the dataclasses that come back. Each action
goes through the same pipeline code as the CLI, so the app and `acotd ...` never differ.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from acotd_tui.config import ROLES
from acotd_tui.domain import GradeSource, ReviewQueue
from acotd_tui.pipeline.sampling import (
    COT_MODE_NAMES,
    STRATEGIES,
    STRATEGY_NAMES,
    choices,
)
from acotd_tui.project import Project
from acotd_tui.stages import COT_MODES, FORM_KINDS, FormField
from acotd_tui.store import (
    Attempt,
    Cot,
    CotFilter,
    Dataset,
    Grade,
    Job,
    Label,
    PipelineCounts,
    Problem,
    ProblemFilter,
    ProblemRow,
    Store,
)


@dataclass(frozen=True)
class DashboardData:
    project_name: str
    scheme: str
    counts: PipelineCounts
    active_jobs: list[Job]
    budget_usd: float = 0.0  # the project's spending cap; 0 = none


@dataclass(frozen=True)
class ProblemDetail:
    problem: Problem
    label: Label | None
    attempts: list[Attempt]
    grades: list[Grade]
    cots: list[Cot]
    tests: Any = None  # CodeTests of a code problem


@dataclass(frozen=True)
class ReviewItem:
    problem: Problem
    label: Label | None
    attempts: list[Attempt]
    judge: Grade | None  # the latest automatic per-problem grade
    samples: dict[int, Grade]  # per-attempt grades of that grader, by attempt id
    history: list[Grade]


@dataclass(frozen=True)
class CotItem:
    cot: Cot
    problem: Problem
    level: str | None
    log: list[tuple[str, str | None, str]]


@dataclass(frozen=True)
class RoleInfo:
    role: str
    backend: str
    model: str
    api_base: str | None
    key_env: str | None
    key_present: bool | None  # None: the role needs no key


@dataclass(frozen=True)
class SettingsData:
    root: Path
    config_path: Path
    roles: list[RoleInfo]
    missing_roles: list[str]
    limits: dict[str, Any]
    scheme: str
    sandbox: str = ""  # how model-written code is isolated here (isolation_summary)


# The queues the Review screen offers, in its order.
REVIEW_QUEUES: tuple[ReviewQueue, ...] = (
    ReviewQueue.NEEDS_REVIEW,
    ReviewQueue.CONFLICT,
    ReviewQueue.DISAGREEMENT,
    ReviewQueue.SPOT_CHECK,
    ReviewQueue.ALL,
)
JOB_KINDS = FORM_KINDS  # the kinds the job form offers, from the stage table
# The Sampling screen's choices, (name, value), from the sampling vocabularies.
SAMPLING_STRATEGIES = choices(STRATEGIES, STRATEGY_NAMES)
SAMPLING_COT_MODES = choices(COT_MODES, COT_MODE_NAMES)


@dataclass
class JobForm:
    """The fields of a new job, a widget each, prefilled from the config."""

    kind: str
    fields: list[FormField] = field(default_factory=list)


class AppServices:
    def __init__(self, project: Project) -> None:
        self.project = project

    @property
    def store(self) -> Store:
        return self.project.store

    @property
    def scheme(self) -> str:
        return self.project.config.grading.scheme

    # -- dashboard ---------------------------------------------------------------------------
    def dashboard(self) -> DashboardData:
        active = [j for j in self.store.jobs.list(limit=20) if j.status.active]
        return DashboardData(
            self.project.config.name,
            self.scheme,
            self.store.stats.pipeline(self.scheme),
            active,
            self.project.config.limits.budget_usd,
        )

    # -- problems ----------------------------------------------------------------------------
    def problem_page(
        self,
        flt: ProblemFilter,
        *,
        after_id: int = 0,
        before_id: int | None = None,
        limit: int = 200,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[ProblemRow]:
        return self.store.problems.page(
            flt, after_id=after_id, before_id=before_id, limit=limit, cancelled=cancelled
        )

    def problem_count(
        self, flt: ProblemFilter, *, cancelled: Callable[[], bool] | None = None
    ) -> int:
        """`cancelled`: polled while counting; True stops it with `QueryCancelled`."""
        return self.store.problems.count(flt, cancelled=cancelled)

    def last_problem_id(self, flt: ProblemFilter) -> int:
        rows = self.store.problems.page(flt, before_id=2**62, limit=1)
        return rows[0].id if rows else 0

    def problem_detail(self, problem_id: int) -> ProblemDetail:
        problem = self.store.problems.find(problem_id)
        if problem is None:
            raise KeyError(problem_id)
        return ProblemDetail(
            problem,
            self.store.grades.label(problem_id, self.scheme),
            self.store.attempts.for_problem(problem_id),
            self.store.grades.history(problem_id),
            self.store.cots.for_problems([problem_id]).get(problem_id, []),
            self.store.code_tests.find(problem_id) if problem.domain == "code" else None,
        )

    def sources(self) -> list[str]:
        return sorted({s for s, _, _ in self.store.problems.sources()})

    # -- label review ------------------------------------------------------------------------
    @cached_property
    def review(self):
        from acotd_tui.pipeline.review import ReviewService

        return ReviewService(self.store, self.scheme)

    def review_queue(
        self, kind: str, *, sources: tuple[str, ...] = (), seed: int = 0, size: int = 50
    ) -> list[int]:
        if kind == ReviewQueue.SPOT_CHECK:  # a random sample of automatically labelled problems
            import random

            ids = self.store.grades.queue(
                self.scheme, ReviewQueue.UNLABELLED, limit=10_000_000, sources=sources
            )
            return sorted(random.Random(seed).sample(ids, min(size, len(ids))))
        return self.store.grades.queue(self.scheme, kind, limit=100_000, sources=sources)

    def review_item(self, problem_id: int) -> ReviewItem:
        detail = self.problem_detail(problem_id)
        autos = [
            g
            for g in detail.grades
            if g.attempt_id is None and g.source != GradeSource.HUMAN and g.scheme == self.scheme
        ]
        judge = autos[-1] if autos else None
        samples: dict[int, Grade] = {}
        if judge is not None:
            for g in detail.grades:
                if (
                    g.attempt_id is not None
                    and g.model == judge.model
                    and g.prompt_version == judge.prompt_version
                ):
                    samples[g.attempt_id] = g
        graded = set(samples) or {a.id for a in detail.attempts}
        return ReviewItem(
            detail.problem,
            detail.label,
            [a for a in detail.attempts if a.id in graded],
            judge,
            samples,
            [g for g in detail.grades if g.scheme == self.scheme],
        )

    def set_label(self, problem_id: int, label: str, note: str | None = None) -> str:
        return self.review.set_label(problem_id, label, note)

    def clear_label(self, problem_id: int) -> None:
        self.review.clear_label(problem_id)

    def undo_label(self, problem_id: int) -> str | None:
        return self.review.undo(problem_id)

    def review_stats(self):
        return self.review.stats()

    # -- CoT approval ------------------------------------------------------------------------
    def datasets(self) -> list[Dataset]:
        return self.store.datasets.all()

    def cot_list(self, flt: CotFilter, limit: int = 500) -> list[Cot]:
        return self.store.cots.list(flt, limit=limit)

    def cot_item(self, cot_id: int) -> CotItem:
        cot = self.store.cots.get(cot_id)
        problem = self.store.problems.get(cot.problem_id)
        label = self.store.grades.label(cot.problem_id, self.scheme)
        return CotItem(
            cot, problem, label.label if label else None, self.store.cots.review_log(cot_id)
        )

    @cached_property
    def cot_review(self):
        from acotd_tui.pipeline.cot_review import CotReviewService

        return CotReviewService(self.store)

    def approve(self, cot_id: int) -> Cot:
        return self.cot_review.approve(cot_id)

    def reject(self, cot_id: int, reason: str) -> Cot:
        return self.cot_review.reject(cot_id, reason)

    def edit_cot(self, cot_id: int, reasoning: str, answer_text: str) -> Cot:
        return self.cot_review.edit(cot_id, reasoning, answer_text)

    # -- sampling ----------------------------------------------------------------------------
    @cached_property
    def sampling(self):
        from acotd_tui.pipeline.sampling import SamplingService

        return SamplingService(self.project)

    def sampling_request(self, **changes: Any):
        from acotd_tui.preflight import positive

        if "k" in changes:
            positive(changes["k"], "K")
        return self.sampling.default_request(**changes)

    def sampling_preview(self, request):
        return self.sampling.preview(request)

    def sampling_create(self, name: str, request) -> Dataset:
        from acotd_tui.names import NameKind, check_name

        check_name(name, NameKind.DATASET)
        return self.sampling.create(name, request)

    # -- jobs --------------------------------------------------------------------------------
    def jobs(self, limit: int = 200) -> list[Job]:
        return self.store.jobs.list(limit=limit)

    def job(self, job_id: int) -> Job:
        return self.store.jobs.get(job_id)

    def job_log(self, job: Job, lines: int = 200) -> str:
        paths = [job.log_path] if job.log_path else []
        if job.kind == "train":
            name = job.params.get("name") or job.params.get("dataset")
            paths.append(str(self.project.runs_dir / f"train-{name}" / "train.log"))
        out = []
        for path in paths:
            if path and Path(path).exists():
                with open(path, encoding="utf-8", errors="replace") as fh:
                    out += fh.read().splitlines()[-lines:]
        return "\n".join(out[-lines:])

    def job_form(self, kind: str) -> JobForm:
        """The stage's form, generated from its parameter model (acotd_tui.stages)."""
        from acotd_tui.stages import form_fields

        datasets = [d.name for d in self.store.datasets.all()]
        latest = datasets[-1] if datasets else ""
        return JobForm(kind, form_fields(kind, self.project.config, latest_dataset=latest))

    def job_params(self, form: JobForm, values: dict[str, Any]) -> dict[str, Any]:
        """The filled form (widget values by field name) as the job's validated parameters."""
        from acotd_tui.stages import params_from_form

        return params_from_form(form.kind, values)

    def launch(self, kind: str, params: dict[str, Any]) -> Job:
        """Start a job in a worker process; the app only watches the store."""
        from acotd_tui.jobs import spawn_worker
        from acotd_tui.preflight import check_job

        check_job(self.project, kind, params)  # bad input leaves no job row
        job = self.store.jobs.create(kind, params)
        spawn_worker(self.project.root, job.id)
        return job

    def cancel_job(self, job_id: int) -> Job:
        from acotd_tui.jobs import cancel

        return cancel(self.project, job_id)

    def resume_job(self, job_id: int) -> Job:
        from acotd_tui.jobs import spawn_worker
        from acotd_tui.stages import STAGES, validate_params

        stored = self.store.jobs.get(job_id)
        if stored.resumable and stored.kind in STAGES:  # stored params checked again: one line
            validate_params(stored.kind, stored.params)
        job = self.store.jobs.requeue(job_id)
        spawn_worker(self.project.root, job.id)
        return job

    def train_metrics_for_job(self, job: Job) -> list:
        """Loss curve of the training run a train job works on (empty before it starts)."""
        if job.kind != "train":
            return []
        from acotd_tui.store import StoreError

        try:
            run = self.store.train_runs.get(job.params.get("name") or job.params["dataset"])
        except StoreError:
            return []
        return self.store.train_runs.metrics(run.id)

    # -- results -----------------------------------------------------------------------------
    def results(self):
        from acotd_tui.pipeline.results import ResultsTable

        return ResultsTable.from_store(self.store)

    def transitions(self):
        """The label transition matrix of the student vs its latest trained version, or None."""
        from acotd_tui.pipeline.transitions import label_transitions, latest_round_pair

        pair = latest_round_pair(self.project)
        return None if pair is None else label_transitions(self.project, *pair)

    def train_runs(self):
        return self.store.train_runs.all()

    def run_metrics(self, run_id: int):
        return self.store.train_runs.metrics(run_id)

    # -- settings ----------------------------------------------------------------------------
    def settings(self) -> SettingsData:
        from acotd_tui.code.isolation import isolation_summary

        cfg = self.project.config
        roles = [
            RoleInfo(
                name,
                role.backend,
                role.model,
                role.api_base,
                role.api_key_env,
                None if not role.api_key_env else bool(os.environ.get(role.api_key_env)),
            )
            for name, role in cfg.models.items()
        ]
        return SettingsData(
            self.project.root,
            self.project.config_path,
            roles,
            [r for r in ROLES if r not in cfg.models],
            cfg.limits.model_dump(),
            cfg.grading.scheme,
            isolation_summary(cfg.code.isolation_command),
        )

    def reload_config(self) -> None:
        self.project.reload_config()
        for name in ("review", "sampling"):
            self.__dict__.pop(name, None)
