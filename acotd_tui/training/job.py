"""The `train` job: prepare a run, start the training process, watch it, record the outcome.

Training always runs in its own process (`python -m acotd_tui.training.run`, or
`accelerate launch` for several GPUs), whether the job was started from the CLI, a worker
or the TUI; this job only writes the spec, relays cancellation (SIGTERM, which the trainer
turns into a checkpoint and a clean stop) and records the result. Re-running a run that
did not finish resumes it from its last checkpoint; a finished run is not trained again.
Without a GPU, a model larger than CPU_PARAMETER_LIMIT is refused with a clear message:
tiny models (the tests, the demo) train on the CPU.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from acotd_tui.backends import apply_overrides
from acotd_tui.config import TrainingConfig
from acotd_tui.domain import RunStatus
from acotd_tui.errors import AcotdError
from acotd_tui.jobs import JobContext
from acotd_tui.names import NameKind, check_name, inside
from acotd_tui.project import Project
from acotd_tui.stages import TrainParams

from .spec import TrainSpec, parameter_count

CPU_PARAMETER_LIMIT = 200_000_000
EXIT_CANCELLED = 3


def training_config(project: Project, hyper: dict[str, Any]) -> TrainingConfig:
    try:
        return TrainingConfig.model_validate({**project.config.training.model_dump(), **hyper})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AcotdError(f"training.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


# The dataset's TRL export, made when there is none yet. The export stage belongs to the
# pipeline, which training may not import (import-linter contract): the `train` job's entry,
# acotd_tui.pipeline.train, hands it in.
ExportFor = Callable[[Project, str], Path]


def resolve_model(project: Project, model: str) -> str:
    local = project.root / model
    return str(local) if local.exists() else model


def check_hardware(model: str, device: str) -> int:
    import torch

    try:
        params = parameter_count(model)
    except (OSError, ValueError) as exc:
        raise AcotdError(
            f"cannot read the config of model {model!r}: {str(exc).splitlines()[0]}"
        ) from None
    gpu = torch.cuda.is_available() and device != "cpu"
    if not gpu and params > CPU_PARAMETER_LIMIT:
        raise AcotdError(
            f"no GPU visible: LoRA training of {model} ({params / 1e9:.1f}B parameters) needs one. "
            "Run `acotd train` on a GPU machine (see README), or train a small model."
        )
    return params


def run_job(ctx: JobContext, ensure_export: ExportFor) -> dict[str, Any]:
    params = TrainParams.from_job(ctx.params)
    project, store = ctx.project, ctx.store
    dataset = store.datasets.get(params.dataset)
    cfg = training_config(project, params.hyper)
    role = apply_overrides(project.config.role("student"), params.overrides)
    base = resolve_model(project, role.model)
    n_params = check_hardware(base, params.device)
    data_file = ensure_export(project, params.dataset)
    check_name(params.run_name, NameKind.RUN)
    folder = inside(project.root, project.runs_dir / f"train-{params.run_name}")
    run = store.train_runs.ensure(
        params.run_name,
        dataset_id=dataset.id,
        base_model=role.model,
        config=cfg.model_dump(),
        output_dir=str(folder / "output"),
    )
    if run.status == RunStatus.DONE and run.adapter_path and Path(run.adapter_path).exists():
        return {
            "run": run.name,
            "adapter": run.adapter_path,
            "message": f"run {run.name} is already trained ({run.adapter_path})",
        }
    spec = TrainSpec.from_config(
        cfg,
        run_name=run.name,
        project_root=str(project.root),
        run_id=run.id,
        job_id=ctx.job_id,
        base_model=base,
        data_file=str(data_file),
        output_dir=run.output_dir,
        max_steps=params.max_steps,
        device=params.device,
    )
    spec_path = spec.save(folder).resolve()
    store.train_runs.set_status(run.id, RunStatus.RUNNING, job_id=ctx.job_id)
    if spec.num_gpus > 1:
        command = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            str(spec.num_gpus),
            "-m",
            "acotd_tui.training.run",
            str(spec_path),
        ]
    else:
        command = [sys.executable, "-m", "acotd_tui.training.run", str(spec_path)]
    ctx.note(
        f"training {role.model} ({n_params / 1e6:.1f}M parameters) on {dataset.size} problems; log {folder / 'train.log'}"
    )
    with open(folder / "train.log", "ab") as log:
        # cwd: the run's folder, never wherever acotd was started (`-m` puts the working
        # directory first on sys.path, and a source checkout there would shadow the install).
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
        )
        signalled = False
        while proc.poll() is None:
            if ctx.cancelled and not signalled:
                proc.send_signal(signal.SIGTERM)
                signalled = True
            time.sleep(0.5)
    result_file = Path(run.output_dir) / "result.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    ctx.progress.done, ctx.progress.total = result.get("global_step", 0), result.get("max_steps")
    if proc.returncode == EXIT_CANCELLED or (signalled and proc.returncode != 0):
        store.train_runs.set_status(run.id, RunStatus.CANCELLED)
        return {**result, "run": run.name, "cancelled": True}
    if proc.returncode != 0:
        store.train_runs.set_status(run.id, RunStatus.FAILED)
        tail = (folder / "train.log").read_text(errors="replace").strip().splitlines()[-1:] or [
            "(no output)"
        ]
        raise AcotdError(f"training process exited with {proc.returncode}: {tail[0][:300]}")
    store.train_runs.set_status(run.id, RunStatus.DONE, adapter_path=str(spec.adapter_dir))
    speed = f", {result['tokens_per_s']:.0f} tokens/s" if result.get("tokens_per_s") else ""
    return {
        **result,
        "run": run.name,
        "adapter": str(spec.adapter_dir),
        "message": f"trained {run.name}: {result.get('global_step')} steps, loss {result.get('train_loss', 0):.3f}{speed}",
    }
