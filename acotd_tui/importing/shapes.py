"""Recognising the shapes public math datasets come in, and turning a record into a `NewProblem`.

How the mapping is chosen, decided once per file from its first record (after `--map`):

1. A `--map SOURCE=CANONICAL` entry always wins; SOURCE may be a path (`final_answer.0`,
   `question.problem`, see fieldpath.py).
2. A known public shape, recognised by its field names as its dataset card lists them
   (`KNOWN_SHAPES`): PRM800K, ProcessBench, OpenR1-Math, NuminaMath-1.5, Omni-MATH, Big-Math,
   OlympiadBench, GSM-hard, SVAMP — and the code sets (code_shapes.py).
3. Otherwise field names by alias: GSM8K (`question` + an answer ending `#### N`), MATH /
   MATH-500 / MATH-lighteval (`problem`, `solution`, `level`, `type`/`subject`), NuminaMath-CoT
   (`problem`, `solution`, `source`: the answer is the last `\\boxed{}`), DeepScaleR
   (`problem`, `answer`, `solution`), AIME / AMC and any question-answer file ("qa").
   The answer comes from the first of `ANSWER_PREFERENCE` the file has, so a short answer
   field (`final_answer`, `ground_truth`, `reference_answer`, `expected_answer`, `target`,
   `gt`) is preferred over an `answer` that may be a worked solution.
Values are then normalised by values.py (lists, `$...$`, numbers, boxed answers), and every
change is counted as a note the import reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from acotd_tui.answers import extract_final_answer, extract_last_boxed, gsm8k_final
from acotd_tui.store import NewProblem

from .code_shapes import CodePlan, detect_code_shape
from .fieldpath import MISSING, FieldPath, parse_map_option, parse_path
from .readers import Record, RecordError
from .values import (
    LONG_ANSWER_CHARS,
    LONG_PROBLEM_CHARS,
    Note,
    answer_text,
    looks_like_worked_solution,
    number_text,
    plain_text,
    solution_text,
)

CANONICAL = ("problem", "answer", "solution", "level", "subject", "domain")
ANSWER_PREFERENCE = (
    "final_answer",
    "ground_truth",
    "reference_answer",
    "expected_answer",
    "target",
    "gt",
    "answer",
    "final",
)
ALIASES: dict[str, tuple[str, ...]] = {
    "problem": ("problem", "question", "prompt", "query", "input"),
    "answer": ANSWER_PREFERENCE,
    "solution": ("solution", "rationale", "reasoning", "explanation"),
    "level": ("level", "difficulty"),
    "subject": ("subject", "type", "category"),
    "domain": ("domain",),
}
# Answers that say there is nothing to check (NuminaMath-1.5 marks proofs this way).
NON_ANSWERS = frozenset({"proof", "notfound", "none", "n/a"})
_NON_ANSWER_START = frozenset("pPnN \t\n")  # a cheap first test on the hot path
_METADATA_MAX_CHARS = 300


@dataclass(frozen=True)
class KnownShape:
    """A public dataset's fields, as its card lists them."""

    name: str
    title: str
    requires: frozenset[str]
    fields: dict[str, str]
    condition: Callable[[Record], bool] | None = None
    refuse: str | None = None  # a shape that is not a problem file at all

    def matches(self, record: Record) -> bool:
        return self.requires <= set(record) and (self.condition is None or self.condition(record))


KNOWN_SHAPES: tuple[KnownShape, ...] = (
    KnownShape(
        "prm800k",
        "PRM800K (openai/prm800k)",
        frozenset({"question", "label"}),
        {
            "problem": "question.problem",
            "answer": "question.ground_truth_answer",
            "solution": "question.ground_truth_solution",
        },
        condition=lambda r: isinstance(r.get("question"), dict) and "problem" in r["question"],
        # its rated solutions are attempts: `acotd attempts import --labels`
    ),
    KnownShape(
        "processbench",
        "ProcessBench (Qwen/ProcessBench)",
        frozenset({"problem", "steps", "label", "final_answer_correct"}),
        {"problem": "problem", "answer": "reference_answer"},
        refuse=(
            "ProcessBench rows are model solutions with expert step labels and no reference"
            " answer: import the problems from their own set, then the rows with"
            " `acotd attempts import --labels`"
        ),
    ),
    KnownShape(
        "openr1",
        "OpenR1-Math-220k",
        frozenset({"problem", "answer", "generations"}),
        {
            "problem": "problem",
            "answer": "answer",
            "solution": "solution",
            "subject": "problem_type",
        },
    ),
    KnownShape(
        "numina_1.5",
        "NuminaMath-1.5",
        frozenset({"problem", "solution", "answer", "problem_type", "question_type"}),
        {
            "problem": "problem",
            "answer": "answer",
            "solution": "solution",
            "subject": "problem_type",
        },
    ),
    KnownShape(
        "omni_math",
        "Omni-MATH",
        frozenset({"problem", "solution", "answer", "domain", "difficulty"}),
        {
            "problem": "problem",
            "answer": "answer",
            "solution": "solution",
            "level": "difficulty",
            "subject": "domain.0",
        },
    ),
    KnownShape(
        "bigmath",
        "Big-Math",
        frozenset({"problem", "answer", "source", "domain", "llama8b_solve_rate"}),
        {"problem": "problem", "answer": "answer", "subject": "domain.0"},
    ),
    KnownShape(
        "olympiadbench",
        "OlympiadBench",
        frozenset({"question", "final_answer"}),
        {
            "problem": "question",
            "answer": "final_answer",
            "solution": "solution",
            "subject": "subfield",
        },
    ),
    KnownShape(
        "gsm_hard",
        "GSM-hard (reasoning-machines/gsm-hard)",
        frozenset({"input", "target"}),
        {"problem": "input", "answer": "target"},
    ),
    KnownShape(
        "svamp",
        "SVAMP",
        frozenset({"Body", "Question", "Answer"}),
        {"problem": "Body+Question", "answer": "Answer", "subject": "Type"},
    ),
)


def parse_mapping(text: str | None) -> dict[str, str]:
    """`question=problem,final_answer.0=answer` -> {"question": "problem", ...}; paths checked."""
    return parse_map_option(
        text, CANONICAL, entry="SOURCE_FIELD=CANONICAL_FIELD", per_element=False
    )


def _normalize_level(value: Any) -> str | None:
    if value is None or value == "" or value is MISSING:
        return None
    text = number_text(value) if isinstance(value, (int, float)) else str(value).strip()
    if text.lower().startswith("level"):
        text = text[5:].strip()
    return text or None


def _present(value: Any) -> bool:
    return (
        value is not MISSING
        and value is not None
        and not (isinstance(value, str) and not value.strip())
    )


@dataclass(frozen=True)
class ShapePlan:
    """Which source path feeds each canonical field, decided once per file."""

    shape: str
    fields: dict[str, str]
    used: frozenset[str] = field(default_factory=frozenset)
    title: str = ""
    mapped: frozenset[str] = field(default_factory=frozenset)  # canonical fields set by --map
    gsm8k: bool = False

    @cached_property
    def _paths(self) -> dict[str, list[FieldPath]]:
        return {c: [parse_path(p) for p in src.split("+")] for c, src in self.fields.items()}

    @cached_property
    def _getters(self) -> dict[str, Callable[[Record], Any]]:
        """One reader per canonical field; a plain key is a dict lookup (the hot path)."""
        getters: dict[str, Callable[[Record], Any]] = {}
        for canonical, paths in self._paths.items():
            if len(paths) == 1 and paths[0].simple:
                key = paths[0].text
                getters[canonical] = _field_getter(key)
            elif len(paths) == 1:
                getters[canonical] = paths[0].resolve
            else:
                getters[canonical] = _joined_getter(paths)
        return getters

    def path(self, canonical: str) -> list[FieldPath]:
        return self._paths[canonical]

    def _get(self, record: Record, canonical: str) -> Any:
        return self._getters[canonical](record)

    def mapping_lines(self) -> list[str]:
        """`problem  ← question` lines for the dry-run and the stored summary."""
        lines = []
        for canonical in CANONICAL:
            if canonical not in self.fields:
                continue
            src = self.fields[canonical].replace("+", " + ")
            how = ""
            if canonical == "answer" and self.gsm8k:
                how = " (text after '####'; the worked part becomes the solution)"
            elif canonical == "answer":
                how = " (lists: one element unwrapped, several joined 'a, b'; $…$ stripped)"
            elif canonical == "solution" and "answer" not in self.fields:
                how = " (the answer is its last \\boxed{})"
            by = " [--map]" if canonical in self.mapped else ""
            lines.append(f"{canonical:<8} ← {src}{how}{by}")
        if "answer" not in self.fields and "solution" not in self.fields:
            lines.append("answer   ← (none)")
        return lines

    def convert(
        self,
        record: Record,
        location: str,
        *,
        source: str,
        split: str,
        row: int | None = None,
        notes: list[Note] | None = None,
        dropped: set[str] | None = None,
    ) -> NewProblem:
        """`dropped` collects the fields of this row neither mapped nor kept in metadata."""
        notes = notes if notes is not None else []
        f = self.fields
        get = self._getters
        problem = get["problem"](record)
        if type(problem) is not str or not problem or problem.isspace():  # else: plain text
            if not _present(problem):
                kind = "unmatched" if problem is MISSING else "bad"
                raise RecordError(
                    location, f"missing field {f['problem']!r} (the problem text)", kind=kind
                )
            if isinstance(problem, (list, dict)):
                raise RecordError(location, f"field {f['problem']!r} is not text")
            problem = plain_text(problem) or ""
        if len(problem) > LONG_PROBLEM_CHARS:
            notes.append(Note.LONG_PROBLEM)
        solution: str | None = None
        if "solution" in get:
            raw_solution = get["solution"](record)
            if type(raw_solution) is str and raw_solution[:1] != "[":
                solution = raw_solution or None
            elif raw_solution is not MISSING:
                solution, sol_notes = solution_text(raw_solution)
                if solution is not None:
                    notes.extend(sol_notes)
        answer: str | None = None
        answer_list: list[Any] | None = None

        if self.gsm8k:
            raw = self._get(record, "answer")
            split_answer = gsm8k_final(raw) if isinstance(raw, str) else None
            if split_answer is None:
                raise RecordError(location, f"field {f['answer']!r} has no '#### <answer>' line")
            solution, answer = split_answer
        else:
            if "answer" in f:
                raw = self._get(record, "answer")
                if _present(raw):
                    try:
                        converted = answer_text(raw)
                    except ValueError as exc:
                        raise RecordError(location, f"field {f['answer']!r} {exc}") from None
                    notes.extend(converted.notes)
                    answer, answer_list = converted.text or None, converted.original_list
                    if answer and looks_like_worked_solution(answer):
                        final = extract_final_answer(answer)
                        if final:
                            if not solution:
                                worked = gsm8k_final(answer)
                                solution = worked[0] if worked else answer
                            answer = final.replace(",", "") if "####" in answer else final
                            notes.append(Note.BOXED_FROM_ANSWER)
                        else:
                            notes.append(Note.WORKED_ANSWER)
            if answer is None and solution:
                answer = extract_last_boxed(solution)
                if answer and "answer" in f:
                    notes.append(Note.BOXED_FROM_SOLUTION)
        if not answer:
            where = []
            if "answer" in f:
                where.append(f"field {f['answer']!r} is missing or empty")
            if "solution" in f:
                where.append(f"{f['solution']!r} has no non-empty \\boxed{{}}")
            raise RecordError(
                location,
                "no reference answer: " + " and ".join(where or ["no answer field"]),
            )
        if answer[:1] in _NON_ANSWER_START and answer.strip().lower() in NON_ANSWERS:
            raise RecordError(location, f"no checkable answer ({answer.strip()!r})")
        if len(answer) > LONG_ANSWER_CHARS:
            notes.append(Note.LONG_ANSWER)

        metadata: dict[str, Any] = {}
        for k, v in record.items():
            if k in self.used:
                continue
            if isinstance(v, (str, int, float, bool)) and (
                not isinstance(v, str) or len(v) <= _METADATA_MAX_CHARS
            ):
                metadata[k] = v
            elif v is not None and dropped is not None:
                dropped.add(k)  # a list, object or long text: the import reports it
        if answer_list is not None:
            metadata["answer_list"] = answer_list
        domain = plain_text(self._get(record, "domain")) if "domain" in f else None
        subject = plain_text(self._get(record, "subject")) if "subject" in f else None
        return NewProblem(
            problem=problem,
            answer=answer,
            source=source,
            split=split,
            domain=domain or "math",
            solution=solution,
            level=_normalize_level(self._get(record, "level")) if "level" in f else None,
            subject=subject or None,
            metadata=metadata or None,
            source_row=row,
        )


def _field_getter(key: str) -> Callable[[Record], Any]:
    return lambda record: record.get(key, MISSING)


def _joined_getter(paths: list[FieldPath]) -> Callable[[Record], Any]:
    return lambda record: _joined(record, paths)


def _joined(record: Record, paths: list[FieldPath]) -> Any:
    values = [p.resolve(record) for p in paths]
    if any(v is MISSING for v in values):
        return MISSING
    return " ".join(str(v).strip() for v in values if v is not None)


def _root(path: str) -> str:
    return parse_path(path).root


def _known_plan(first: Record, known: KnownShape) -> ShapePlan:
    if known.refuse and not all(
        parse_path(p).resolve(first) is not MISSING
        for path in known.fields.values()
        for p in path.split("+")
    ):
        raise RecordError("", f"recognised as {known.title}. {known.refuse}")
    fields = {}
    for canonical, path in known.fields.items():
        if all(parse_path(p).root in first for p in path.split("+")):
            fields[canonical] = path
    if known.name == "svamp" and "question_concat" in first:
        fields["problem"] = "question_concat"
    used = {_root(p) for path in fields.values() for p in path.split("+")}
    return ShapePlan(shape=known.name, fields=fields, used=frozenset(used), title=known.title)


def plan_for(first: Record, mapping: Mapping[str, str] | None = None) -> ShapePlan | CodePlan:
    """Decide the shape from the first record (after applying the user's mapping)."""
    mapping = dict(mapping or {})
    keys = set(first)
    code_shape = detect_code_shape(keys) if not mapping else None
    if code_shape:
        return CodePlan(code_shape)
    missing = [src for src in mapping if parse_path(src).resolve(first) is MISSING]
    if missing:
        raise RecordError(
            "",
            f"--map names field {missing[0]!r}, which the file does not have (fields: {', '.join(sorted(keys))})",
        )
    if not mapping:
        for known in KNOWN_SHAPES:
            if known.matches(first):
                return _known_plan(first, known)
    fields: dict[str, str] = {dst: src for src, dst in mapping.items()}
    mapped_roots = {_root(src) for src in mapping}
    # Field names as the file spells them, found case-insensitively where the exact alias is
    # absent (Maxwell-Jia/AIME_2024: `Problem`, `Solution`, `Answer`).
    by_lower: dict[str, str] = {}
    for key in first:
        by_lower.setdefault(key.lower(), key)
    for canonical, aliases in ALIASES.items():
        if canonical in fields:
            continue
        taken = {_root(v) for v in fields.values()}
        for alias in aliases:
            found = alias if alias in keys else by_lower.get(alias)
            if found is not None and found not in taken and found not in mapped_roots:
                fields[canonical] = found
                break
    if "problem" not in fields:
        raise RecordError(
            "",
            f"cannot recognise the fields ({', '.join(sorted(keys)) or 'none'}); "
            "pass --map FIELD=problem,FIELD=answer",
        )
    answer_value = parse_path(fields["answer"]).resolve(first) if "answer" in fields else None
    gsm8k = False
    if isinstance(answer_value, str) and "####" in answer_value and gsm8k_final(answer_value):
        shape, gsm8k = "gsm8k", True
        fields.pop("solution", None)
    elif (
        "solution" in fields
        and "source" in keys
        and "level" not in fields
        and "answer" not in fields
    ):
        shape = "numina"
    elif "solution" in fields and keys == {"problem", "answer", "solution"}:
        shape = "deepscaler"
    elif "solution" in fields and (
        "answer" not in fields or "level" in fields or "subject" in fields
    ):
        shape = "math"
    elif "answer" in fields:
        shape = "qa"
    elif "solution" in fields:
        shape = "math"
    else:
        raise RecordError(
            "",
            f"no reference answer field among ({', '.join(sorted(keys))}); pass --map FIELD=answer",
        )
    used = {_root(v) for v in fields.values()}
    if gsm8k:
        used |= {"final"} & keys
    return ShapePlan(
        shape=shape,
        fields=fields,
        used=frozenset(used),
        title={
            "gsm8k": "GSM8K",
            "numina": "NuminaMath-CoT",
            "deepscaler": "DeepScaleR",
            "math": "MATH / MATH-500 / MATH-lighteval",
            "qa": "question and answer (AIME, AMC, ...)",
        }[shape],
        mapped=frozenset(mapping.values()),
        gsm8k=gsm8k,
    )


def unkept_fields(plan: ShapePlan | CodePlan, first: Record) -> list[str]:
    """Fields of the first record that neither feed a canonical field nor go to metadata."""
    if not isinstance(plan, ShapePlan):
        return []
    return sorted(
        k
        for k, v in first.items()
        if k not in plan.used
        and not (
            isinstance(v, (str, int, float, bool))
            and (not isinstance(v, str) or len(v) <= _METADATA_MAX_CHARS)
        )
        and v is not None
    )


def describe(plan: ShapePlan | CodePlan) -> str:
    title = getattr(plan, "title", "") or plan.shape
    return f"{plan.shape} ({title})"
