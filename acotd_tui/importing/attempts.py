"""`acotd attempts import`: student outputs that already exist, so grading needs no re-run.

Recognised shapes (one file may not mix them):
- model_solutions: GSM8K `example_model_solutions.jsonl` — `question`, `ground_truth`, and
  one object per model (`{"solution": ..., "is_correct": ...}`); one attempt per model.
- processbench:    `problem`, `steps`, `label` (earliest wrong step, -1 none),
  `final_answer_correct`, `generator`; the expert step label is kept with the attempt and,
  with `labels=True`, turned into an E/M/H grade (see pipeline/step_labels.py).
- samples:         `question`, `gt`, `response` (a list, or a Python-literal list string),
  optional `score` list (Qwen2.5-Math evaluation output); one attempt per sample.
- generic:         `problem`/`question`, `response`/`output`/`completion`, optional
  `correct`/`is_correct`, `model`/`generator`, `answer`/`reference`.
Problems are matched by text; one missing from the store is added when the row carries a
reference answer. Correctness given by the file is kept; otherwise it is checked.
Like problem import, the whole file is one transaction.
"""

from __future__ import annotations

import ast
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acotd_tui.answers import extract_final_answer, normalize_reference, split_reasoning
from acotd_tui.checking import AnswerChecker
from acotd_tui.errors import ImportFailure
from acotd_tui.pipeline.step_labels import emh_from_first_error
from acotd_tui.store import NewProblem, Store
from acotd_tui.store.attempts import NewAttempt
from acotd_tui.store.grades import NewGrade

from .importer import expand_sources, guess_source_split
from .readers import Record, RecordError, read_records

IMPORTED_PROMPT = "imported"


@dataclass
class ParsedAttempt:
    problem: str
    reference: str | None
    model: str
    sample_index: int
    text: str
    correct: bool | None
    params: dict[str, Any] = field(default_factory=dict)
    first_error: int | None = None
    n_steps: int | None = None


@dataclass
class AttemptImportReport:
    read: int = 0
    attempts_added: int = 0
    problems_added: int = 0
    grades_added: int = 0
    checked: int = 0
    models: set[str] = field(default_factory=set)
    shape: str = ""


def detect_attempt_shape(record: Record) -> str:
    keys = set(record)
    if {"steps", "label", "final_answer_correct"} <= keys:
        return "processbench"
    if (
        "question" in keys
        and "ground_truth" in keys
        and any(isinstance(v, dict) and "solution" in v for v in record.values())
    ):
        return "model_solutions"
    response = record.get("response")
    if isinstance(response, list) or (
        isinstance(response, str) and response.lstrip().startswith("[")
    ):
        return "samples"
    if keys & {"problem", "question"} and keys & {"response", "output", "completion"}:
        return "generic"
    raise RecordError("", f"not a recognised attempt file (fields: {', '.join(sorted(keys))})")


def _as_list(value: Any, name: str, location: str) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise RecordError(location, f"field {name!r} is not a list") from None
        if isinstance(parsed, list):
            return parsed
    raise RecordError(location, f"field {name!r} is not a list")


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "correct"}
    return bool(value)


def parse_attempts(
    shape: str, record: Record, location: str, model_override: str | None
) -> list[ParsedAttempt]:
    def need(key: str) -> Any:
        if key not in record or record[key] is None:
            raise RecordError(location, f"missing field {key!r}")
        return record[key]

    if shape == "processbench":
        steps = [str(s) for s in _as_list(need("steps"), "steps", location)]
        if not steps:
            raise RecordError(location, "field 'steps' is empty")
        first_error = int(need("label"))
        if first_error >= len(steps) or first_error < -1:
            raise RecordError(location, f"label {first_error} is outside the {len(steps)} steps")
        ref = record.get("reference_answer")
        return [
            ParsedAttempt(
                problem=need("problem"),
                reference=normalize_reference(ref) if ref not in (None, "") else None,
                model=model_override or str(record.get("generator") or "unknown"),
                sample_index=0,
                text="\n\n".join(steps),
                correct=bool(need("final_answer_correct")),
                params={
                    "first_error_step": first_error,
                    "steps": len(steps),
                    "id": record.get("id"),
                },
                first_error=first_error,
                n_steps=len(steps),
            )
        ]
    if shape == "model_solutions":
        question = need("question")
        reference = extract_final_answer(str(need("ground_truth")))
        out = []
        for key, value in record.items():
            if isinstance(value, dict) and "solution" in value:
                out.append(
                    ParsedAttempt(
                        problem=question,
                        reference=reference,
                        model=model_override or key,
                        sample_index=0,
                        text=str(value["solution"]),
                        correct=_bool(value.get("is_correct")),
                    )
                )
        return out
    if shape == "samples":
        responses = _as_list(need("response"), "response", location)
        scores = (
            _as_list(record["score"], "score", location)
            if "score" in record
            else [None] * len(responses)
        )
        if len(scores) != len(responses):
            raise RecordError(location, f"{len(responses)} responses but {len(scores)} scores")
        ref = record.get("gt", record.get("answer"))
        return [
            ParsedAttempt(
                problem=record.get("question") or need("problem"),
                reference=normalize_reference(ref) if ref not in (None, "") else None,
                model=model_override or str(record.get("model") or "unknown"),
                sample_index=i,
                text=str(text),
                correct=_bool(score),
            )
            for i, (text, score) in enumerate(zip(responses, scores, strict=True))
        ]
    text_key = next(k for k in ("response", "output", "completion") if k in record)
    ref = next(
        (record[k] for k in ("reference", "answer", "gt") if record.get(k) not in (None, "")), None
    )
    correct_key = next((k for k in ("correct", "is_correct") if k in record), None)
    return [
        ParsedAttempt(
            problem=record.get("problem") or need("question"),
            reference=normalize_reference(ref) if ref is not None else None,
            model=model_override
            or str(record.get("model") or record.get("generator") or "unknown"),
            sample_index=int(record.get("sample_index", 0)),
            text=str(need(text_key)),
            correct=_bool(record[correct_key]) if correct_key else None,
        )
    ]


def import_attempts(
    store: Store,
    paths: Sequence[str | Path],
    *,
    model: str | None = None,
    source: str | None = None,
    labels: bool = False,
    checker: AnswerChecker | None = None,
) -> AttemptImportReport:
    report = AttemptImportReport()
    parsed: list[tuple[ParsedAttempt, str, str]] = []  # (attempt, location label, default source)
    for src in expand_sources(paths, None):
        default_source = source or guess_source_split(src.path)[0]
        shape = ""
        try:
            for location, record in read_records(src):
                report.read += 1
                if isinstance(record, RecordError):
                    raise record
                if not shape:
                    shape = detect_attempt_shape(record)
                    report.shape = shape
                for p in parse_attempts(shape, record, location, model):
                    parsed.append((p, f"{src.label}, {location}", default_source))
        except RecordError as exc:
            where = f"{src.label}, {exc.location}" if exc.location else src.label
            raise ImportFailure(f"{where}: {exc.message}") from None
    if not parsed:
        raise ImportFailure("no attempts found")

    own_checker = checker is None
    checker = checker or AnswerChecker()
    try:
        with store.db.tx() as conn:
            _write(store, conn, parsed, report, labels, checker)
    except sqlite3.Error as exc:
        raise ImportFailure(f"cannot write to the store: {exc}; nothing was imported") from None
    finally:
        if own_checker:
            checker.close()
    return report


def _write(
    store: Store,
    conn: sqlite3.Connection,
    parsed: list[tuple[ParsedAttempt, str, str]],
    report: AttemptImportReport,
    labels: bool,
    checker: AnswerChecker,
) -> None:
    problem_ids: dict[str, int] = {}
    for p, where, default_source in parsed:
        if p.problem in problem_ids:
            continue
        pid = store.problems.id_by_hash(p.problem)
        if pid is None:
            if not p.reference:
                raise ImportFailure(
                    f"{where}: problem not in the store and the row has no reference answer;"
                    " import the problems first (acotd import)"
                )
            result = store.problems.insert_rows(
                [
                    store.problems.prepare(
                        NewProblem(problem=p.problem, answer=p.reference, source=default_source),
                        None,
                    )
                ],
                conn,
            )
            report.problems_added += result
            pid = store.problems.id_by_hash(p.problem)
        problem_ids[p.problem] = int(pid or 0)

    references = {
        pid: prob.answer
        for pid, prob in ((i, store.problems.get(i)) for i in set(problem_ids.values()))
        if prob
    }
    answers = []
    for p, _, _ in parsed:
        split = split_reasoning(p.text)
        answers.append(
            (split, extract_final_answer(split.answer_text or split.reasoning or p.text))
        )
    unknown = [i for i, (p, _, _) in enumerate(parsed) if p.correct is None]
    if unknown:
        verdicts = checker.check_many(
            [(answers[i][1], references[problem_ids[parsed[i][0].problem]]) for i in unknown]
        )
        for i, v in zip(unknown, verdicts, strict=True):
            parsed[i][0].correct = v
        report.checked = len(unknown)

    model_ids = {
        name: store.models.ensure(name, backend="import").id
        for name in sorted({p.model for p, _, _ in parsed})  # ids must not depend on hash order
    }
    report.models = set(model_ids)
    new_attempts = []
    for (p, _, _), (split, final) in zip(parsed, answers, strict=True):
        new_attempts.append(
            NewAttempt(
                problem_id=problem_ids[p.problem],
                model_id=model_ids[p.model],
                prompt_hash=IMPORTED_PROMPT,
                sample_index=p.sample_index,
                raw_text=p.text,
                cot=split.reasoning or split.answer_text,
                final_answer=final,
                correct=p.correct,
                params=p.params,
            )
        )
    report.attempts_added = store.attempts.insert(conn, new_attempts)

    if labels:
        grades = []
        for p, _, _ in parsed:
            if p.first_error is None or p.n_steps is None:
                continue
            pid = problem_ids[p.problem]
            attempt_id = store.attempts.id_for(
                conn, pid, model_ids[p.model], IMPORTED_PROMPT, p.sample_index
            )
            g = emh_from_first_error(bool(p.correct), p.first_error, p.n_steps)
            grades.append(
                NewGrade(
                    problem_id=pid,
                    scheme="emh",
                    label=g.label,
                    source="import",
                    rationale=g.rationale,
                    model="expert-step-label",
                    prompt_version="step_labels_v1",
                    needs_review=g.needs_review,
                    conflict=g.conflict,
                    symbolic_correct=p.correct,
                    detail={
                        "attempt_id": attempt_id,
                        "first_error_step": p.first_error,
                        "steps": p.n_steps,
                    },
                )
            )
        if grades:
            report.grades_added = len(store.grades.insert(conn, grades))
