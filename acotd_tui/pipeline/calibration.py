"""How well does a judge agree with ground truth? (bench/grader_agreement.py drives this.)

Three yardsticks, all real data:
- answer correctness: on model solutions whose correctness is known (GSM8K's four GPT-3
  systems, Qwen2.5-Math samples), does the judge say Easy exactly when the answer is right?
- E/M/H: on ProcessBench solutions, the label implied by the human experts' earliest wrong
  step (labels/step_labels.py) against the judge's label;
- humans: in a project, the judge's latest label against every human label.
The judge runs through the normal grading stage in a scratch project, so what is measured
is exactly what `acotd grade` would do, cache and retries included.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acotd_tui.answers import extract_last_boxed
from acotd_tui.domain import EMH, JobStatus, SchemeName
from acotd_tui.jobs import submit
from acotd_tui.labels.step_labels import emh_from_first_error
from acotd_tui.project import Project
from acotd_tui.stages import GradeParams
from acotd_tui.store import SCHEME_LABELS

from .review import cohens_kappa, confusion_matrix


@dataclass
class AgreementRow:
    name: str
    compared: int
    agreement: float | None
    kappa: float | None = None
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _sample_jsonl(path: Path, n: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    rng.shuffle(rows)
    return rows[:n]


def build_calibration_set(shared: Path, root: Path, n: int, seed: int) -> dict[str, Path]:
    """Write the attempt files the scratch project imports; returns them by yardstick."""
    rng = random.Random(seed)
    files: dict[str, Path] = {}
    gsm = _sample_jsonl(shared / "gsm8k" / "model_solutions.jsonl", max(1, n // 4), rng)
    files["gsm8k_gpt3"] = root / "gsm8k_gpt3.jsonl"
    files["gsm8k_gpt3"].write_text("".join(json.dumps(r) + "\n" for r in gsm), encoding="utf-8")
    qwen = _sample_jsonl(shared / "qwen25_math_samples" / "math_cot_100.jsonl", max(1, n // 8), rng)
    files["qwen_math"] = root / "qwen_math.jsonl"
    files["qwen_math"].write_text("".join(json.dumps(r) + "\n" for r in qwen), encoding="utf-8")
    refs = {
        _norm(json.loads(x)["question"]): json.loads(x)["final"]
        for x in (shared / "gsm8k" / "test.jsonl").read_text().splitlines()
    }
    for name in ("test", "train"):
        for line in (shared / "math" / f"{name}.jsonl").read_text().splitlines():
            row = json.loads(line)
            answer = row.get("answer") or extract_last_boxed(row["solution"])
            if answer:
                refs.setdefault(_norm(row["problem"]), answer)
    pb = []
    for split in ("gsm8k", "math"):
        for row in _sample_jsonl(shared / "processbench" / f"{split}.jsonl", n // 2, rng):
            ref = refs.get(_norm(row["problem"]))
            if ref:
                pb.append({**row, "reference_answer": ref})
    files["processbench"] = root / "processbench.jsonl"
    files["processbench"].write_text("".join(json.dumps(r) + "\n" for r in pb), encoding="utf-8")
    return files


def run_calibration(
    config_text: str,
    shared: Path,
    *,
    n: int = 200,
    seed: int = 0,
    overrides: dict[str, str] | None = None,
) -> list[AgreementRow]:
    from acotd_tui.importing.attempts import import_attempts

    tmp = Path(tempfile.mkdtemp(prefix="acotd-calibration-"))
    try:
        project = Project.init(tmp / "p", config_text=config_text)
        files = build_calibration_set(shared, tmp, n, seed)
        models: dict[str, set[str]] = {}
        for name, path in files.items():
            model = "qwen2.5-math-7b-instruct" if name == "qwen_math" else None
            report = import_attempts(project.store, [path], model=model, source=name)
            models[name] = report.models
        job = submit(
            project,
            "grade",
            GradeParams(
                attempts_of=["*"], scheme=SchemeName.EMH, overrides=overrides or {}
            ).to_job(),
        )
        if job.status != JobStatus.DONE:
            raise RuntimeError(f"grading failed: {job.error}")
        rows = _agreements(project, files)
        project.close()
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _agreements(project: Project, files: dict[str, Path]) -> list[AgreementRow]:
    store = project.store
    out: list[AgreementRow] = []
    labels = EMH.labels
    per_source: dict[str, list[tuple[bool, str]]] = {}
    pb_pairs: list[tuple[str, str]] = []
    for pid in store.attempts.problem_ids_with_attempts():
        problem = store.problems.get(pid)
        for grade in store.grades.history(pid, SchemeName.EMH):
            if grade.attempt_id is None or grade.label is None:
                continue
            attempt = store.attempts.find(grade.attempt_id)
            if attempt is None or attempt.correct is None:
                continue
            per_source.setdefault(problem.source, []).append((attempt.correct, grade.label))
            if problem.source == "processbench" and "first_error_step" in attempt.params:
                expert = emh_from_first_error(
                    attempt.correct, attempt.params["first_error_step"], attempt.params["steps"]
                )
                if expert.label:
                    pb_pairs.append((grade.label, expert.label))
    for source, pairs in sorted(per_source.items()):
        agree = sum((label == EMH.easy) == correct for correct, label in pairs)
        out.append(
            AgreementRow(
                f"answer correctness ({source})", len(pairs), agree / len(pairs) if pairs else None
            )
        )
    if pb_pairs:
        agree = sum(a == b for a, b in pb_pairs)
        out.append(
            AgreementRow(
                "E/M/H vs ProcessBench experts",
                len(pb_pairs),
                agree / len(pb_pairs),
                cohens_kappa(pb_pairs, labels),
                confusion_matrix(pb_pairs, labels),
            )
        )
    return out


def human_agreement(project: Project) -> AgreementRow:
    labels = SCHEME_LABELS[project.config.grading.scheme]
    pairs = project.store.grades.human_auto_pairs(project.config.grading.scheme)
    agree = sum(a == h for a, h in pairs)
    return AgreementRow(
        "labels vs humans (project)",
        len(pairs),
        agree / len(pairs) if pairs else None,
        cohens_kappa(pairs, labels),
        confusion_matrix(pairs, labels),
    )
