"""`acotd attempts import`: student outputs that already exist, so grading needs no re-run.

Recognised shapes (decided from a file's first record; `--map PATH=FIELD` overrides):
- processbench:    `problem`, `steps`, `label` (earliest wrong step, -1 none),
                   `final_answer_correct`, `generator` (Qwen/ProcessBench); with `labels=True`
                   the expert step label becomes an E/M/H grade of that attempt.
- model_solutions: GSM8K `example_model_solutions.jsonl`: `question`, `ground_truth`, one
                   object per model (`{"solution", "is_correct"}`); one attempt per model.
- prm800k:         PRM800K rows: `question` {problem, ground_truth_answer, pre_generated_steps,
                   pre_generated_answer}, `label` {steps[].completions[].rating, finish_reason};
                   the first step rated -1 is the expert step label.
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

import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

from acotd_tui.answers import extract_final_answer, split_reasoning
from acotd_tui.checking import AnswerChecker
from acotd_tui.domain import GradeSource, SchemeName
from acotd_tui.errors import ImportFailure
from acotd_tui.labels.step_labels import emh_from_first_error
from acotd_tui.store import NewProblem, Store
from acotd_tui.store.attempts import NewAttempt
from acotd_tui.store.grades import NewGrade

from .attempt_shapes import (
    ATTEMPT_FIELDS,
    CUT_OFF,
    AttemptPlan,
    ParsedAttempt,
    detect_attempt_plan,
    parse_attempt_mapping,
    parse_row,
)
from .importer import (
    PROBE_ROWS,
    expand_sources,
    file_sha256,
    guess_source_split,
    probe_record,
    refusal,
)
from .label_rule import RULE, RULE_VERSION, majority_label
from .readers import RecordError, Source, read_records
from .report import PREVIEW_ROWS, Tally, clip, summary_dict, summary_lines

__all__ = [
    "ATTEMPT_FIELDS",
    "AttemptFileReport",
    "AttemptImportReport",
    "detect_attempt_plan",
    "import_attempts",
    "parse_attempt_mapping",
]

IMPORTED_PROMPT = "imported"
EXPERT_MODEL = "expert-step-label"


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
        return summary_lines(self.path, self.summary(), self.accounting_line(), self.refusal)


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
        records = read_records(src)
        head = list(islice(records, PROBE_ROWS))
        probe = probe_record(r for _, r in head)  # fields row 1 lacks still count
        for location, record in chain(head, records):
            rep.rows_read += 1
            try:
                if isinstance(record, RecordError):
                    raise record
                if plan is None:
                    plan = detect_attempt_plan(probe or record, options.mapping)
                    rep.shape, rep.title = plan.shape, plan.title
                    rep.mapping = plan.mapping_lines(options.model)
                rows = parse_row(plan, record, location, options.model)
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
        _grade(store, conn, new + [p for p in parsed if p.same_as is not None], rep)
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
            conn,
            [
                store.problems.prepare(
                    NewProblem(problem=p.problem, answer=p.reference, source=default_source),
                    None,
                )
            ],
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
    next free index. A duplicate of an attempt this file itself adds (one solution labelled by
    two experts) keeps a link to it (`same_as`), so its label is kept as a second grade of
    that attempt; a duplicate of an attempt stored before (a re-import) adds nothing.
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
    added_here: dict[tuple[int, int, str], ParsedAttempt] = {}
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
            added_here[(*key, p.text)] = p
            new.append(p)
        elif held is not None and held == p.text:
            p.outcome = "duplicate"
            p.same_as = added_here.get((*key, p.text))
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
            p.same_as = added_here.get((*key, p.text))
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
            added_here[(*key, p.text)] = p
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
        for pid, prob in (
            (i, store.problems.find(i))
            for i in {p.problem_id for p in new if p.problem_id is not None}
        )
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
    store: Store,
    conn: sqlite3.Connection,
    labelled: list[ParsedAttempt],
    rep: AttemptFileReport,
) -> None:
    """One grade per expert label, on the attempt it labels; then each touched problem's
    label by the rule."""
    grades = []
    touched: set[int] = set()
    for p in labelled:
        if p.first_error is None or p.n_steps is None:
            continue
        target = p.same_as or p  # a second expert's label of an attempt this file adds
        pid = int(target.problem_id or 0)
        attempt_id = store.attempts.id_for(
            conn, pid, target.params["model_id"], IMPORTED_PROMPT, int(target.sample_index or 0)
        )
        correct = target.correct if p.correct is None else p.correct
        g = emh_from_first_error(bool(correct), p.first_error, p.n_steps)
        grades.append(
            NewGrade(
                problem_id=pid,
                attempt_id=attempt_id,
                scheme=SchemeName.EMH,
                label=g.label,
                source=GradeSource.IMPORT,
                rationale=f"{p.model}: {g.rationale}",
                model=EXPERT_MODEL,
                prompt_version="step_labels_v1",
                needs_review=g.needs_review,
                conflict=g.conflict,
                symbolic_correct=correct,
                detail={
                    "first_error_step": p.first_error,
                    "steps": p.n_steps,
                    "generator": p.model,
                    "line": p.location,
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
            for g in store.grades.history(pid, SchemeName.EMH)
            if g.source == GradeSource.IMPORT
            and g.model == EXPERT_MODEL
            and g.attempt_id is not None
        ]
        vote = majority_label([g.label for g in per_attempt])
        rep.labelled_problems += 1
        rep.disagreements += int(vote.disagree)
        rep.queued_for_review += int(vote.needs_review)
        problem_grades.append(
            NewGrade(
                problem_id=pid,
                scheme=SchemeName.EMH,
                label=vote.label,
                source=GradeSource.IMPORT,
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
