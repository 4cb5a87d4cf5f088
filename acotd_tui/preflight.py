"""Checks a job's parameters before its row is written.

Bad input must leave the store unchanged (README, "Errors"): a job that fails on a typo in
its dataset name, a negative limit or an unsafe name would otherwise stay behind as a
`failed` row. The CLI (`run_stage`) and the app (`AppServices.launch`) both call
`check_job` first, so the two refuse the same things with the same line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acotd_tui.domain import ACTIVE_JOB_STATUSES
from acotd_tui.errors import AcotdError
from acotd_tui.names import NameKind, check_name
from acotd_tui.project import Project
from acotd_tui.stages import validate_params

DATASET_KINDS = ("teach", "verify", "export", "train")


def positive(value: object, what: str, *, allow_none: bool = True) -> None:
    """Refuse zero, negative and non-integer counts in one line (the Sampling screen's K)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AcotdError(f"{what} must be a whole number of at least 1 (got {value!r})")


def check_benchmarks(project: Project, names: list[str]) -> None:
    """An unknown benchmark (or SOURCE/SPLIT with no imported problems) is refused here, not
    in the job: `eval --benchmark nosuch` once left a `failed` eval (and experiment) row."""
    from acotd_tui.benchmarks import BUNDLED, load_benchmark

    for name in names:
        if name not in BUNDLED:
            load_benchmark(name, project.store)  # AcotdError naming it


def _active(project: Project, kind: str) -> list[Any]:
    """The queued and running jobs of this kind: their results are still to come."""
    jobs = project.store.jobs.list(limit=100_000, statuses=ACTIVE_JOB_STATUSES)
    return [job for job in jobs if job.kind == kind]


def check_adapter(project: Project, ref: str) -> None:
    """An adapter is a training run, a queued or running training job's run-to-be, or a
    folder; anything else was a `failed` eval row. (Whether the run has finished is the
    job's to say: a queued eval may follow a queued training.)"""
    from pathlib import Path

    from acotd_tui.store import StoreError

    try:
        project.store.train_runs.get(ref)
        return
    except StoreError:
        pass
    if Path(ref).exists():
        return
    for job in _active(project, "train"):
        if (job.params.get("name") or job.params.get("dataset")) == ref:
            return
    raise AcotdError(f"adapter {ref!r} is neither a training run nor a folder")


def check_job(project: Project, kind: str, params: Mapping[str, Any]) -> None:
    """Raise AcotdError for parameters the job would fail on at once; write nothing.

    Types and bounds (positive counts, shares between 0 and 1, -1 or >= 1 steps) are the
    stage model's (acotd_tui.stages); what needs the project (a dataset that exists, names
    that become paths, the config's training bounds) is checked here."""
    validate_params(kind, params)
    overrides = params.get("overrides") or {}
    if isinstance(overrides, Mapping) and overrides.get("api_base"):
        from acotd_tui.backends.api import api_base_problem

        if problem := api_base_problem(overrides["api_base"]):
            raise AcotdError(problem)
    if kind in DATASET_KINDS:
        dataset = params.get("dataset")
        # StoreError naming it when there is none
        project.store.datasets.get(check_name(dataset, NameKind.DATASET))
    if kind in ("train", "experiment") and params.get("hyper"):
        from acotd_tui.training.job import training_config

        training_config(project, dict(params["hyper"]))  # the config's own bounds, one line
    if kind == "train" and params.get("name"):
        check_name(params["name"], NameKind.RUN)
    if kind in ("eval", "experiment"):
        check_benchmarks(project, params.get("benchmarks") or project.config.eval.benchmarks)
    if kind == "eval" and params.get("adapter"):
        check_adapter(project, str(params["adapter"]))
    if kind == "experiment":
        name = check_name(params.get("name"), NameKind.EXPERIMENT)
        # Its datasets, runs and evals are named `<name>-<method>`: those must pass too.
        for method in [*(params.get("methods") or []), "base"]:
            check_name(f"{name}-{method}", NameKind.EXPERIMENT)
    if kind == "grade" and not _active(project, "diagnose"):
        # Attempts may still be on their way from a queued or running diagnose job.
        from acotd_tui.pipeline.grade import attempt_models
        from acotd_tui.stages import GradeParams

        attempt_models(project, GradeParams.from_job(params))
    if kind == "export":
        from acotd_tui.pipeline.export import FORMATS, export_rows

        export_rows(project, params["dataset"])  # read-only: refuses a set with nothing to export

        unknown = sorted(set(params.get("formats") or []) - set(FORMATS))
        if unknown:
            raise AcotdError(f"unknown export format {unknown[0]!r} ({', '.join(FORMATS)})")
