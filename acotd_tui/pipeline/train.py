"""The `train` job's entry: LoRA training (acotd_tui.training) fed by the export stage.

Training does not import the pipeline (an import-linter contract in pyproject.toml); the
dataset it trains on is the pipeline's TRL export, so the pipeline hands that step in here.
"""

from __future__ import annotations

from typing import Any

from acotd_tui.jobs import JobContext
from acotd_tui.training import job as training_job

from .export import ensure_export


def run_job(ctx: JobContext) -> dict[str, Any]:
    return training_job.run_job(ctx, ensure_export)
