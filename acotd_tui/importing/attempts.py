"""`acotd attempts import`: student outputs that already exist, so grading needs no re-run.

Recognised shapes (decided from a file's first record; `--map PATH=FIELD` overrides):
- processbench:    `problem`, `steps`, `label` (earliest wrong step, -1 none),
                   `final_answer_correct`, `generator` (Qwen/ProcessBench); with `labels=True`
                   the expert step label becomes an E/M/H grade of that attempt.
- model_solutions: GSM8K `example_model_solutions.jsonl`: `question`, `ground_truth`, one
                   object per model (`{"solution", "is_correct"}`); one attempt per model.
- openr1:          OpenR1-Math: `problem`, `answer`, `generations` (list),
                   `correctness_math_verify` (list), `finish_reasons` (list); by DeepSeek-R1.
- samples:         Qwen2.5-Math evaluation output: `question`, `gt`, `response` (list, or a
                   Python-literal list), `pred`, `score` (lists); one attempt per sample.
- outputs:         one problem, `outputs` a list of objects with a response and, optionally,
                   an extracted answer and correctness (`outputs[].response`, ...).
- generic:         `problem`/`question`, `response`/`output`/`completion`, optional
                   `correct`/`is_correct`, `model`/`generator`, `answer`/`reference`/`gt`,
                   `sample_index`.
Attempts keep their identity: the position in a list of samples, or an explicit sample index,
is honoured; other responses of one model to one problem get the next free index, so none
overwrites another; the same text again is a duplicate. Each imported grade points at its own
attempt, and the problem's label follows label_rule.py. Problems are matched by text; one not
in the store is added when the row carries a reference answer, otherwise the row is
"unmatched" (`skip_unmatched`). A generation cut off (finish reason "length") is never correct.
All files of one call are one transaction; `dry_run` runs it in full and rolls back.
"""

from __future__ import annotations

import ast
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acotd_tui.answers import extract_final_answer, split_reasoning
from acotd_tui.checking import AnswerChecker
from acotd_tui.errors import ImportFailure
from acotd_tui.pipeline.step_labels import emh_from_first_error
from acotd_tui.store import NewProblem, Store
from acotd_tui.store.attempts import NewAttempt
from acotd_tui.store.grades import NewGrade

from .fieldpath import MISSING, FieldPath, PathError, parse_path
from .importer import expand_sources, file_sha256, guess_source_split, refusal
from .label_rule import RULE, RULE_VERSION, majority_label
from .readers import Record, RecordError, Source, read_records
from .report import PREVIEW_ROWS, Tally, clip, summary_dict, summary_lines
from .values import answer_text

IMPORTED_PROMPT = "imported"
EXPERT_MODEL = "expert-step-label"
ATTEMPT_FIELDS = (
    "problem",
    "reference",
    "model",
    "response",
    "steps",
    "answer",
    "correct",
    "sample_index",
    "first_error",
    "finish_reason",
)
_ALIASES: dict[str, tuple[str, ...]] = {
    "problem": ("problem", "question", "prompt", "query"),
    "reference": ("reference_answer", "reference", "ground_truth", "gt", "answer", "target"),
    "model": ("model", "generator", "model_name"),
    "response": ("response", "output", "completion", "generation", "text"),
    "answer": ("extracted_answer", "pred", "prediction", "final_answer", "answer"),
    # not `label` / `score`: in a plain row they are as often a step label or a reward
    "correct": ("correct", "is_correct", "correctness"),
    "sample_index": ("sample_index", "sample_idx", "sample_id", "position"),
    "finish_reason": ("finish_reason",),
}
CUT_OFF = "length"


def parse_attempt_mapping(text: str | None) -> dict[str, str]:
    """`outputs[].response=response,outputs[].label=correct` -> {path: field}."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        src, sep, dst = part.partition("=")
        src, dst = src.strip(), dst.strip()
        if not sep or not src or not dst:
            raise ValueError(f"bad --map entry {part!r}: expected SOURCE_PATH=FIELD")
        if dst not in ATTEMPT_FIELDS:
            raise ValueError(f"bad --map target {dst!r}: one of {', '.join(ATTEMPT_FIELDS)}")
        try:
            parse_path(src)
        except PathError as exc:
            raise ValueError(f"bad --map entry {part!r}: {exc}") from None
        mapping[src] = dst
    return mapping


@dataclass
class ParsedAttempt:
    problem: str
    reference: str | None
    model: str
    text: str
    correct: bool | None
    location: str
    sample_index: int | None = None  # None: the next free index for (problem, model)
    index_explicit: bool = False  # from a sample-index field (a list position only prefers)
    answer: str | None = None
    finish_reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    first_error: int | None = None
    n_steps: int | None = None
    problem_id: int | None = None
    outcome: str = ""  # added / duplicate / skipped, once identities are assigned


@dataclass(frozen=True)
class AttemptPlan:
    shape: str
    title: str
    fields: dict[str, str]  # attempt field -> path
    model_default: str | None = None
    mapped: frozenset[str] = frozenset()

    def path(self, name: str) -> FieldPath | None:
        return parse_path(self.fields[name]) if name in self.fields else None

    def mapping_lines(self) -> list[str]:
        if self.shape == "model_solutions":
            return [
                "problem  ← question",
                "reference ← ground_truth (text after '####')",
                "model    ← each field holding {solution, is_correct}",
                "response ← <model>.solution",
                "correct  ← <model>.is_correct",
            ]
        lines = []
        for name in ATTEMPT_FIELDS:
            if name in self.fields:
                by = " [--map]" if name in self.mapped else ""
                lines.append(f"{name:<8} ← {self.fields[name]}{by}")
        if "model" not in self.fields:
            lines.append(f"model    ← {self.model_default or 'unknown'} (--model overrides)")
        if "sample_index" not in self.fields:
            lines.append(
                "sample_index ← position in the list"
                if any("[]" in p for p in self.fields.values())
                else "sample_index ← next free index per (problem, model)"
            )
        return lines


_KNOWN: tuple[tuple[str, str, frozenset[str], dict[str, str], str | None], ...] = (
    (
        "processbench",
        "ProcessBench (Qwen/ProcessBench)",
        frozenset({"steps", "label", "final_answer_correct"}),
        {
            "problem": "problem",
            "reference": "reference_answer",
            "model": "generator",
            "steps": "steps",
            "correct": "final_answer_correct",
            "first_error": "label",
        },
        None,
    ),
    (
        "openr1",
        "OpenR1-Math-220k (generations by DeepSeek-R1, per its dataset card)",
        frozenset({"problem", "generations"}),
        {
            "problem": "problem",
            "reference": "answer",
            "response": "generations[]",
            "correct": "correctness_math_verify[]",
            "finish_reason": "finish_reasons[]",
        },
        "DeepSeek-R1",
    ),
)


def _literal_list(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value
        if isinstance(parsed, list):
            return parsed
    return value


def detect_attempt_plan(record: Record, mapping: dict[str, str] | None = None) -> AttemptPlan:
    keys = set(record)
    mapping = dict(mapping or {})
    if mapping:
        absent = [src for src in mapping if parse_path(src).root not in record]
        if absent:
            raise RecordError(
                "",
                f"--map names field {absent[0]!r}, which the file does not have"
                f" (fields: {', '.join(sorted(keys))})",
            )
        fields = {dst: src for src, dst in mapping.items()}
        _fill_aliases(fields, record)
        if "problem" not in fields or not fields.keys() & {"response", "steps"}:
            raise RecordError(
                "", "--map must lead to a problem and a response (or steps) for each attempt"
            )
        return AttemptPlan("mapped", "mapped with --map", fields, mapped=frozenset(fields))
    for name, title, requires, fields, model in _KNOWN:
        if requires <= keys:
            present = {k: v for k, v in fields.items() if parse_path(v).root in keys}
            return AttemptPlan(name, title, present, model)
    if (
        "question" in keys
        and "ground_truth" in keys
        and any(isinstance(v, dict) and "solution" in v for v in record.values())
    ):
        return AttemptPlan("model_solutions", "GSM8K example_model_solutions", {})
    response = _literal_list(record.get("response"))
    if isinstance(response, list):
        fields = {"response": "response[]"}
        for key, name in (("score", "correct"), ("pred", "answer")):
            if isinstance(_literal_list(record.get(key)), list):
                fields[name] = f"{key}[]"
        fields["problem"] = "question" if "question" in keys else "problem"
        ref = next((k for k in ("gt", "answer", "reference") if k in keys), None)
        if ref:
            fields["reference"] = ref
        if "model" in keys:
            fields["model"] = "model"
        return AttemptPlan("samples", "sampled outputs (Qwen2.5-Math evaluation)", fields)
    outputs = record.get("outputs")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
        inner = set(outputs[0])
        fields = {}
        for name in ("response", "answer", "correct", "sample_index", "finish_reason"):
            aliases = _ALIASES[name] + (("score",) if name == "correct" else ())
            alias = next((a for a in aliases if a in inner), None)
            if alias:
                fields[name] = f"outputs[].{alias}"
        if "response" not in fields:
            raise RecordError(
                "",
                f"`outputs` elements have no response field ({', '.join(sorted(inner))});"
                " pass --map outputs[].FIELD=response",
            )
        _fill_aliases(fields, record)
        return AttemptPlan("outputs", "one problem, a list of sampled outputs", fields)
    if keys & {"problem", "question"} and keys & {"response", "output", "completion"}:
        fields = {}
        _fill_aliases(fields, record)
        return AttemptPlan("generic", "one attempt per row", fields)
    raise RecordError(
        "",
        f"not a recognised attempt file (fields: {', '.join(sorted(keys))});"
        " pass --map PATH=problem,PATH=response,...",
    )


def _fill_aliases(fields: dict[str, str], record: Record) -> None:
    taken = {parse_path(p).root for p in fields.values()}
    for name, aliases in _ALIASES.items():
        if name in fields or (name == "response" and "steps" in fields):
            continue
        for alias in aliases:
            if alias in record and alias not in taken:
                fields[name] = alias
                taken.add(alias)
                break


def _bool(value: Any) -> bool | None:
    if value is None or value == "" or value is MISSING:
        return None
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "correct", "1.0"}
    if isinstance(value, (list, tuple)):  # pred_score-style [[x]]: not a verdict
        return None
    return bool(value)


def _parse_row(
    plan: AttemptPlan, record: Record, location: str, model_override: str | None
) -> list[ParsedAttempt]:
    if plan.shape == "model_solutions":
        return _model_solutions(record, location, model_override)
    for p in plan.fields.values():  # Python-literal lists (Qwen's output files)
        root = parse_path(p).root
        if "[]" in p and isinstance(record.get(root), str):
            record[root] = _literal_list(record[root])
    values: dict[str, Any] = {}
    n: int | None = None
    for name, p in plan.fields.items():
        path = parse_path(p)
        value = path.resolve(record)
        if path.each:
            if value is MISSING:
                raise RecordError(location, f"field {path.root!r} is not a list")
            if n is not None and len(value) != n:
                raise RecordError(
                    location, f"{n} responses but {len(value)} values for {name} ({p})"
                )
            n = len(value)
        values[name] = value
    problem = values.get("problem", MISSING)
    if problem is MISSING or problem is None or not str(problem).strip():
        kind = "unmatched" if problem is MISSING else "bad"
        raise RecordError(location, f"missing field {plan.fields.get('problem')!r}", kind=kind)
    reference = None
    ref_value = values.get("reference", MISSING)
    if ref_value is not MISSING and ref_value not in (None, ""):
        try:
            reference = answer_text(ref_value).text or None
        except ValueError:
            reference = None
    model = model_override or (
        str(values["model"])
        if values.get("model") not in (None, MISSING, "")
        else (plan.model_default or "unknown")
    )
    each = {name for name, p in plan.fields.items() if parse_path(p).each}
    count = n if n is not None else 1

    def at(name: str, i: int) -> Any:
        v = values.get(name, MISSING)
        return v[i] if name in each else v

    out = []
    for i in range(count):
        steps_value = at("steps", i)
        first_error = n_steps = None
        if steps_value is not MISSING and "steps" in plan.fields:
            steps = [str(s) for s in _literal_list(steps_value)] if steps_value else []
            if not steps or not isinstance(_literal_list(steps_value), list):
                raise RecordError(location, "field 'steps' is empty or not a list")
            text = "\n\n".join(steps)
            n_steps = len(steps)
            fe = at("first_error", i)
            if fe is not MISSING and fe is not None:
                try:
                    first_error = int(fe)
                except (TypeError, ValueError):
                    raise RecordError(location, f"step label {fe!r} is not a number") from None
                if not -1 <= first_error < n_steps:
                    raise RecordError(
                        location, f"label {first_error} is outside the {n_steps} steps"
                    )
        else:
            response = at("response", i)
            if response is MISSING or response is None:
                raise RecordError(
                    location,
                    f"missing field {plan.fields.get('response')!r}",
                    kind="unmatched" if response is MISSING else "bad",
                )
            text = str(response)
        explicit = at("sample_index", i)
        is_explicit = explicit is not MISSING and explicit is not None
        if is_explicit:
            try:
                index: int | None = int(explicit)
            except (TypeError, ValueError):
                raise RecordError(location, f"sample index {explicit!r} is not a number") from None
        else:
            index = i if n is not None else None
        finish = at("finish_reason", i)
        finish = None if finish in (MISSING, None) else str(finish)
        correct = _bool(at("correct", i))
        if finish == CUT_OFF and correct:
            correct = False  # a cut-off generation is never a pass
        answer = at("answer", i)
        params: dict[str, Any] = {}
        if first_error is not None:
            params = {"first_error_step": first_error, "steps": n_steps}
        if record.get("id") is not None and isinstance(record.get("id"), (str, int)):
            params["id"] = record["id"]
        out.append(
            ParsedAttempt(
                problem=str(problem),
                reference=reference,
                model=model,
                text=text,
                correct=correct,
                location=location,
                sample_index=index,
                index_explicit=is_explicit,
                answer=None if answer in (MISSING, None, "") else str(answer),
                finish_reason=finish,
                params=params,
                first_error=first_error,
                n_steps=n_steps,
            )
        )
    return out


def _model_solutions(
    record: Record, location: str, model_override: str | None
) -> list[ParsedAttempt]:
    question = record.get("question")
    if not question:
        raise RecordError(location, "missing field 'question'")
    truth = str(record.get("ground_truth") or "")
    reference = extract_final_answer(truth) if truth else None
    return [
        ParsedAttempt(
            problem=question,
            reference=reference,
            model=model_override or key,
            text=str(value["solution"]),
            correct=_bool(value.get("is_correct")),
            location=location,
        )
        for key, value in record.items()
        if isinstance(value, dict) and "solution" in value
    ]


@dataclass
class AttemptFileReport:
    path: str
    source: str
    shape: str = ""
    title: str = ""
    mapping: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_skipped: list[tuple[str, str]] = field(default_factory=list)
    skip_kinds: Counter[str] = field(default_factory=Counter)
    found: int = 0
    added: int = 0
    duplicates: int = 0
    attempts_skipped: list[tuple[str, str]] = field(default_factory=list)
    problems_added: int = 0
    grades_added: int = 0
    checked: int = 0
    models: set[str] = field(default_factory=set)
    preview: list[dict[str, Any]] = field(default_factory=list)
    notes: Tally = field(default_factory=Tally)
    refusal: str | None = None  # dry run: why a real import would refuse
    labelled_problems: int = 0
    disagreements: int = 0
    queued_for_review: int = 0
    import_id: int | None = None

    def accounting_line(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.skip_kinds.items()))
        return (
            f"{self.rows_read} rows read = {self.rows_read - len(self.rows_skipped)} used"
            f" + {len(self.rows_skipped)} skipped"
            + (f" ({kinds})" if kinds else "")
            + f"; {self.found} attempts = {self.added} added + {self.duplicates} duplicates"
            f" + {len(self.attempts_skipped)} skipped"
        )

    def summary(self) -> dict[str, Any]:
        extra_lines = [
            f"{self.problems_added} problems added, {len(self.models)} models,"
            f" {self.checked} answers checked, {self.grades_added} grades"
        ]
        if self.labelled_problems:
            extra_lines.append(
                f"problem labels ({RULE}): {self.labelled_problems} problems,"
                f" {self.disagreements} with disagreeing expert labels,"
                f" {self.queued_for_review} queued for review"
            )
        return summary_dict(
            kind="attempts",
            shape=self.shape,
            title=self.title,
            mapping=self.mapping,
            unkept=[],
            preview=self.preview,
            notes=self.notes,
            accounting={
                "rows_read": self.rows_read,
                "rows_skipped": len(self.rows_skipped),
                "attempts": self.found,
                "added": self.added,
                "duplicates": self.duplicates,
                "attempts_skipped": len(self.attempts_skipped),
                "skipped_by_kind": dict(self.skip_kinds),
            },
            skipped=self.rows_skipped + self.attempts_skipped,
            extra={
                "extra_lines": extra_lines,
                "models": sorted(self.models),
                "problems_added": self.problems_added,
                "grades_added": self.grades_added,
                "label_rule": RULE if self.labelled_problems else None,
                "disagreements": self.disagreements,
                "queued_for_review": self.queued_for_review,
            },
        )

    def summary_lines(self) -> list[str]:
        lines = summary_lines(self.path, self.summary(), self.accounting_line())
        if self.refusal:
            lines.append(
                f"  without --skip-bad / --skip-unmatched the import refuses: {self.refusal}"
            )
        return lines


@dataclass
class AttemptImportReport:
    files: list[AttemptFileReport] = field(default_factory=list)
    dry_run: bool = False

    def _sum(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    @property
    def read(self) -> int:
        return self._sum("rows_read")

    @property
    def attempts_added(self) -> int:
        return self._sum("added")

    @property
    def duplicates(self) -> int:
        return self._sum("duplicates")

    @property
    def problems_added(self) -> int:
        return self._sum("problems_added")

    @property
    def grades_added(self) -> int:
        return self._sum("grades_added")

    @property
    def checked(self) -> int:
        return self._sum("checked")

    @property
    def disagreements(self) -> int:
        return self._sum("disagreements")

    @property
    def queued_for_review(self) -> int:
        return self._sum("queued_for_review")

    @property
    def skipped(self) -> int:
        return sum(len(f.rows_skipped) + len(f.attempts_skipped) for f in self.files)

    @property
    def models(self) -> set[str]:
        return set().union(*(f.models for f in self.files)) if self.files else set()

    @property
    def shape(self) -> str:
        return self.files[-1].shape if self.files else ""


class _DryRun(Exception):
    pass


def import_attempts(
    store: Store,
    paths: Sequence[str | Path],
    *,
    model: str | None = None,
    source: str | None = None,
    labels: bool = False,
    checker: AnswerChecker | None = None,
    mapping: dict[str, str] | None = None,
    skip_bad: bool = False,
    skip_unmatched: bool = False,
    dry_run: bool = False,
) -> AttemptImportReport:
    report = AttemptImportReport()
    sources = expand_sources(paths, None)
    own_checker = checker is None
    checker = checker or AnswerChecker()
    options = _Options(model, source, labels, mapping or {}, skip_bad, skip_unmatched, dry_run)
    try:
        with store.db.tx() as conn:
            for src in sources:
                report.files.append(_import_file(store, conn, src, options, checker))
            if dry_run:
                raise _DryRun
    except _DryRun:
        report.dry_run = True
        for f in report.files:
            f.import_id = None
    except sqlite3.Error as exc:
        raise ImportFailure(f"cannot write to the store: {exc}; nothing was imported") from None
    finally:
        if own_checker:
            checker.close()
    return report


@dataclass(frozen=True)
class _Options:
    model: str | None
    source: str | None
    labels: bool
    mapping: dict[str, str]
    skip_bad: bool
    skip_unmatched: bool
    dry_run: bool = False

    def may_skip(self, kind: str) -> bool:
        return self.skip_bad if kind == "bad" else self.skip_unmatched


def _import_file(
    store: Store,
    conn: sqlite3.Connection,
    src: Source,
    options: _Options,
    checker: AnswerChecker,
) -> AttemptFileReport:
    default_source = options.source or guess_source_split(src.path)[0]
    rep = AttemptFileReport(path=str(src.path), source=default_source)
    import_id = store.imports.begin(
        conn,
        path=str(src.path.resolve()),
        sha256=file_sha256(src.path),
        source=default_source,
        split="",
        shape="attempts",
    )
    rep.import_id = import_id
    plan: AttemptPlan | None = None
    parsed: list[ParsedAttempt] = []
    refused: list[tuple[str, str]] = []
    refused_kinds: Counter[str] = Counter()
    problem_ids: dict[str, int] = {}

    def reject(exc: RecordError) -> None:
        if options.may_skip(exc.kind) or options.dry_run:
            rep.rows_skipped.append((exc.location, exc.message))
            rep.skip_kinds[exc.kind] += 1
        if not options.may_skip(exc.kind):
            refused.append((exc.location, exc.message))
            refused_kinds[exc.kind] += 1

    try:
        for location, record in read_records(src):
            rep.rows_read += 1
            try:
                if isinstance(record, RecordError):
                    raise record
                if plan is None:
                    plan = detect_attempt_plan(record, options.mapping)
                    rep.shape, rep.title = plan.shape, plan.title
                    rep.mapping = plan.mapping_lines()
                rows = _parse_row(plan, record, location, options.model)
                for p in rows:
                    p.problem_id = _problem_id(store, conn, p, problem_ids, default_source, rep)
            except RecordError as exc:
                if not exc.location:
                    raise
                reject(exc)
                continue
            parsed.extend(rows)
    except RecordError as exc:
        where = f"{src.label}, {exc.location}" if exc.location else src.label
        raise ImportFailure(f"{where}: {exc.message}") from None
    if rep.rows_read == 0:
        raise ImportFailure(f"{src.label}: no records")
    if refused:
        failure = refusal(src.label, refused[0], refused_kinds, rep.rows_read)
        if not options.dry_run:
            raise failure
        rep.refusal = str(failure)
    rep.found = len(parsed)
    new = _assign_identity(store, conn, parsed, rep)
    if rep.attempts_skipped and not options.skip_bad:
        failure = refusal(
            src.label,
            rep.attempts_skipped[0],
            Counter({"bad": len(rep.attempts_skipped)}),
            rep.rows_read,
        )
        if not options.dry_run:
            raise failure
        rep.refusal = rep.refusal or str(failure)
    _check_and_insert(store, conn, new, rep, checker, import_id)
    if options.labels:
        _grade(store, conn, new, rep)
    for p in parsed[:PREVIEW_ROWS]:
        rep.preview.append(
            {
                "problem": clip(p.problem),
                "model": p.model,
                "sample_index": p.sample_index,
                "outcome": p.outcome,
                "response": clip(p.text),
                "correct": p.correct,
                **({"first_error_step": p.first_error} if p.first_error is not None else {}),
            }
        )
    store.imports.finish_counts(
        conn,
        import_id,
        shape=f"attempts:{rep.shape}",
        read=rep.rows_read,
        added=rep.added,
        duplicates=rep.duplicates,
        skipped=len(rep.rows_skipped) + len(rep.attempts_skipped),
    )
    store.imports.set_summary(conn, import_id, rep.summary())
    return rep


def _problem_id(
    store: Store,
    conn: sqlite3.Connection,
    p: ParsedAttempt,
    cache: dict[str, int],
    default_source: str,
    rep: AttemptFileReport,
) -> int:
    if p.problem in cache:
        return cache[p.problem]
    pid = store.problems.id_by_hash(p.problem)
    if pid is None:
        if not p.reference:
            raise RecordError(
                p.location,
                "problem not in the store and the row has no reference answer;"
                " import the problems first (acotd import)",
                kind="unmatched",
            )
        rep.problems_added += store.problems.insert_rows(
            [
                store.problems.prepare(
                    NewProblem(problem=p.problem, answer=p.reference, source=default_source),
                    None,
                )
            ],
            conn,
        )
        pid = store.problems.id_by_hash(p.problem)
    cache[p.problem] = int(pid or 0)
    return cache[p.problem]


def _assign_identity(
    store: Store, conn: sqlite3.Connection, parsed: list[ParsedAttempt], rep: AttemptFileReport
) -> list[ParsedAttempt]:
    """Give every attempt its own sample index; return those that are new.

    An explicit index (or list position) is honoured: the same text there is a duplicate, a
    different text is a conflict (skipped as bad, never overwritten). Without one, the same
    text already stored for that (problem, model) is a duplicate; anything else takes the
    next free index.
    """
    model_ids = {
        name: store.models.ensure(name, backend="import").id
        for name in sorted({p.model for p in parsed})  # ids must not depend on hash order
    }
    rep.models = set(model_ids)
    pids = sorted({p.problem_id for p in parsed if p.problem_id})
    taken: dict[tuple[int, int], dict[int, str]] = {}
    for pid, attempts in store.attempts.for_problems(pids, list(model_ids.values())).items():
        for a in attempts:
            if a.prompt_hash == IMPORTED_PROMPT:
                taken.setdefault((pid, a.model_id), {})[a.sample_index] = a.raw_text
    new: list[ParsedAttempt] = []
    # explicit indices claim their slots first, then list positions, then the rest
    order = sorted(
        parsed, key=lambda p: 0 if p.index_explicit else (1 if p.sample_index is not None else 2)
    )
    for p in order:
        key = (int(p.problem_id or 0), model_ids[p.model])
        slots = taken.setdefault(key, {})
        held = slots.get(p.sample_index) if p.sample_index is not None else None
        if p.sample_index is not None and held is None:
            slots[p.sample_index] = p.text
            p.outcome = "added"
            new.append(p)
        elif held is not None and held == p.text:
            p.outcome = "duplicate"
            rep.duplicates += 1
        elif p.index_explicit:
            p.outcome = "skipped: index holds another response"
            rep.attempts_skipped.append(
                (
                    p.location,
                    f"sample index {p.sample_index} of {p.model} for this problem already"
                    " holds a different response",
                )
            )
        elif p.text in slots.values():
            p.outcome = "duplicate"
            rep.duplicates += 1
        else:
            if p.sample_index is not None:
                rep.notes.add(
                    "list position taken by another response: next free sample index", p.location
                )
            index = 0
            while index in slots:
                index += 1
            p.sample_index = index
            slots[index] = p.text
            p.outcome = "added"
            new.append(p)
    for p in new:
        p.params["model_id"] = model_ids[p.model]
    return new


def _check_and_insert(
    store: Store,
    conn: sqlite3.Connection,
    new: list[ParsedAttempt],
    rep: AttemptFileReport,
    checker: AnswerChecker,
    import_id: int,
) -> None:
    references = {
        pid: prob.answer
        for pid, prob in ((i, store.problems.get(i)) for i in {p.problem_id for p in new})
        if prob
    }
    finals = []
    for p in new:
        split = split_reasoning(p.text)
        final = p.answer or extract_final_answer(split.answer_text or split.reasoning or p.text)
        finals.append((split, final))
    unknown = [i for i, p in enumerate(new) if p.correct is None]
    if unknown:
        verdicts = checker.check_many(
            [(finals[i][1], references[int(new[i].problem_id or 0)]) for i in unknown]
        )
        for i, v in zip(unknown, verdicts, strict=True):
            new[i].correct = bool(v) and new[i].finish_reason != CUT_OFF
        rep.checked = len(unknown)
    rows = []
    for p, (split, final) in zip(new, finals, strict=True):
        model_id = p.params.pop("model_id")
        rows.append(
            NewAttempt(
                problem_id=int(p.problem_id or 0),
                model_id=model_id,
                prompt_hash=IMPORTED_PROMPT,
                sample_index=int(p.sample_index or 0),
                raw_text=p.text,
                cot=split.reasoning or split.answer_text,
                final_answer=final,
                correct=p.correct,
                truncated=p.finish_reason == CUT_OFF or not split.closed,
                finish_reason=p.finish_reason,
                params={**p.params, "import_id": import_id, "line": p.location},
            )
        )
        p.params["model_id"] = model_id
    rep.added = store.attempts.insert(conn, rows)


def _grade(
    store: Store, conn: sqlite3.Connection, new: list[ParsedAttempt], rep: AttemptFileReport
) -> None:
    """One grade per attempt (pointing at it), then each touched problem's label by the rule."""
    grades = []
    touched: set[int] = set()
    for p in new:
        if p.first_error is None or p.n_steps is None:
            continue
        pid = int(p.problem_id or 0)
        attempt_id = store.attempts.id_for(
            conn, pid, p.params["model_id"], IMPORTED_PROMPT, int(p.sample_index or 0)
        )
        g = emh_from_first_error(bool(p.correct), p.first_error, p.n_steps)
        grades.append(
            NewGrade(
                problem_id=pid,
                attempt_id=attempt_id,
                scheme="emh",
                label=g.label,
                source="import",
                rationale=f"{p.model}: {g.rationale}",
                model=EXPERT_MODEL,
                prompt_version="step_labels_v1",
                needs_review=g.needs_review,
                conflict=g.conflict,
                symbolic_correct=p.correct,
                detail={
                    "first_error_step": p.first_error,
                    "steps": p.n_steps,
                    "generator": p.model,
                },
            )
        )
        touched.add(pid)
    if not grades:
        return
    rep.grades_added = len(store.grades.insert(conn, grades))
    problem_grades = []
    for pid in sorted(touched):
        per_attempt = [
            g
            for g in store.grades.history(pid, "emh")
            if g.source == "import" and g.model == EXPERT_MODEL and g.attempt_id is not None
        ]
        vote = majority_label([g.label for g in per_attempt])
        rep.labelled_problems += 1
        rep.disagreements += int(vote.disagree)
        rep.queued_for_review += int(vote.needs_review)
        problem_grades.append(
            NewGrade(
                problem_id=pid,
                scheme="emh",
                label=vote.label,
                source="import",
                rationale=f"expert step labels of {len(per_attempt)} attempts: {vote.describe()}",
                model=EXPERT_MODEL,
                prompt_version=RULE_VERSION,
                needs_review=vote.needs_review,
                conflict=(
                    f"expert labels disagree ({vote.describe()})"
                    if vote.disagree
                    else ("no decided expert label" if vote.label is None else None)
                ),
                detail={
                    "rule": RULE,
                    "votes": vote.votes,
                    "undecided": vote.undecided,
                    "attempt_ids": [g.attempt_id for g in per_attempt],
                },
            )
        )
    store.grades.insert(conn, problem_grades)
