"""Checks a job's parameters before its row is written.

Bad input must leave the store unchanged (README, "Errors"): a job that fails on a typo in
its dataset name, a negative limit or an unsafe name would otherwise stay behind as a
`failed` row. The CLI (`run_stage`) and the app (`AppServices.launch`) both call
`check_job` first, so the two refuse the same things with the same line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def check_job(project: Project, kind: str, params: Mapping[str, Any]) -> None:
    """Raise AcotdError for parameters the job would fail on at once; write nothing.

    Types and bounds (positive counts, shares between 0 and 1, -1 or >= 1 steps) are the
    stage model's (acotd_tui.stages); what needs the project (a dataset that exists, names
    that become paths, the config's training bounds) is checked here."""
    validate_params(kind, params)
    if kind in DATASET_KINDS:
        dataset = params.get("dataset")
        check_name(dataset, NameKind.DATASET)
        project.store.datasets.get(dataset)  # StoreError naming it when there is none
    if kind in ("train", "experiment") and params.get("hyper"):
        from acotd_tui.training.job import training_config

        training_config(project, dict(params["hyper"]))  # the config's own bounds, one line
    if kind == "train" and params.get("name"):
        check_name(params["name"], NameKind.RUN)
    if kind == "experiment":
        name = check_name(params.get("name"), NameKind.EXPERIMENT)
        # Its datasets, runs and evals are named `<name>-<method>`: those must pass too.
        for method in [*(params.get("methods") or []), "base"]:
            check_name(f"{name}-{method}", NameKind.EXPERIMENT)
    if kind == "export":
        from acotd_tui.pipeline.export import FORMATS, export_rows

        export_rows(project, params["dataset"])  # read-only: refuses a set with nothing to export

        unknown = sorted(set(params.get("formats") or []) - set(FORMATS))
        if unknown:
            raise AcotdError(f"unknown export format {unknown[0]!r} ({', '.join(FORMATS)})")
