"""Recognising the common dataset shapes and turning a record into a `NewProblem`.

Recognised without a mapping:
- gsm8k:  `question`, `answer` whose last line is `#### N`
- math:   `problem`, `solution` with `\\boxed{}` (optional `answer`, `level`, `type`/`subject`)
- numina: `problem`, `solution`, `source` (NuminaMath; the answer is the last `\\boxed{}`)
- qa:     `problem` or `question`, plus `answer` (AIME, AMC and similar)
`--map src=canonical,...` renames fields first, so any file can be brought to one of these.
The plan is decided once per file from its first record; every record must then fit it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from acotd_tui.answers import extract_last_boxed, gsm8k_final, normalize_reference
from acotd_tui.store import NewProblem

from .code_shapes import CodePlan, detect_code_shape
from .readers import Record, RecordError

CANONICAL = ("problem", "answer", "solution", "level", "subject", "domain")
ALIASES: dict[str, tuple[str, ...]] = {
    "problem": ("problem", "question", "prompt", "query", "input"),
    "answer": (
        "answer",
        "final_answer",
        "final",
        "gt",
        "ground_truth",
        "expected_answer",
        "target",
    ),
    "solution": ("solution", "rationale", "reasoning", "explanation"),
    "level": ("level", "difficulty"),
    "subject": ("subject", "type", "category"),
    "domain": ("domain",),
}
_METADATA_MAX_CHARS = 300


def parse_mapping(text: str | None) -> dict[str, str]:
    """`question=problem,final=answer` -> {"question": "problem", "final": "answer"}."""
    mapping: dict[str, str] = {}
    if not text:
        return mapping
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        src, sep, dst = part.partition("=")
        src, dst = src.strip(), dst.strip()
        if not sep or not src or not dst:
            raise ValueError(f"bad --map entry {part!r}: expected SOURCE_FIELD=CANONICAL_FIELD")
        if dst not in CANONICAL:
            raise ValueError(f"bad --map target {dst!r}: one of {', '.join(CANONICAL)}")
        mapping[src] = dst
    return mapping


def _normalize_level(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.lower().startswith("level"):
        text = text[5:].strip()
    return text or None


@dataclass(frozen=True)
class ShapePlan:
    """Which source field feeds each canonical field, decided once per file."""

    shape: str
    fields: dict[str, str]
    used: frozenset[str] = field(default_factory=frozenset)

    def convert(
        self, record: Record, location: str, *, source: str, split: str, row: int | None = None
    ) -> NewProblem:
        f = self.fields
        problem = record.get(f["problem"])
        if problem is None or (isinstance(problem, str) and not problem.strip()):
            raise RecordError(location, f"missing field {f['problem']!r} (the problem text)")
        if not isinstance(problem, str):
            raise RecordError(location, f"field {f['problem']!r} is not text")
        solution = record.get(f["solution"]) if "solution" in f else None
        if solution is not None and not isinstance(solution, str):
            solution = str(solution)
        answer: str | None = None

        if self.shape == "gsm8k":
            raw = record.get(f["answer"])
            split_answer = gsm8k_final(raw) if isinstance(raw, str) else None
            if split_answer is None:
                raise RecordError(location, f"field {f['answer']!r} has no '#### <answer>' line")
            solution, answer = split_answer
        else:
            if "answer" in f:
                raw = record.get(f["answer"])
                if raw is not None and str(raw).strip() != "":
                    answer = normalize_reference(raw)
            if answer is None and solution:
                answer = extract_last_boxed(solution)
        if not answer:
            where = []
            if "answer" in f:
                where.append(f"field {f['answer']!r} is missing or empty")
            if "solution" in f:
                where.append(f"{f['solution']!r} has no non-empty \\boxed{{}}")
            raise RecordError(
                location, "no reference answer: " + " and ".join(where or ["no answer field"])
            )

        metadata = {
            k: v
            for k, v in record.items()
            if k not in self.used
            and isinstance(v, (str, int, float, bool))
            and (not isinstance(v, str) or len(v) <= _METADATA_MAX_CHARS)
        }
        domain = record.get(f["domain"]) if "domain" in f else None
        return NewProblem(
            problem=problem,
            answer=answer,
            source=source,
            split=split,
            domain=str(domain) if domain else "math",
            solution=solution,
            level=_normalize_level(record.get(f["level"])) if "level" in f else None,
            subject=str(record[f["subject"]])
            if "subject" in f and record.get(f["subject"])
            else None,
            metadata=metadata or None,
            source_row=row,
        )


def plan_for(first: Record, mapping: Mapping[str, str] | None = None) -> ShapePlan | CodePlan:
    """Decide the shape from the first record (after applying the user's mapping)."""
    mapping = dict(mapping or {})
    keys = set(first)
    code_shape = detect_code_shape(keys) if not mapping else None
    if code_shape:
        return CodePlan(code_shape)
    missing = [src for src in mapping if src not in keys]
    if missing:
        raise RecordError(
            "",
            f"--map names field {missing[0]!r}, which the file does not have (fields: {', '.join(sorted(keys))})",
        )
    fields: dict[str, str] = {dst: src for src, dst in mapping.items()}
    for canonical, aliases in ALIASES.items():
        if canonical in fields:
            continue
        taken = set(fields.values())
        for alias in aliases:
            if alias in keys and alias not in taken and alias not in mapping:
                fields[canonical] = alias
                break
    if "problem" not in fields:
        raise RecordError(
            "",
            f"cannot recognise the fields ({', '.join(sorted(keys)) or 'none'}); "
            "pass --map FIELD=problem,FIELD=answer",
        )
    answer_value = first.get(fields.get("answer", ""), None)
    if (
        fields.get("problem") == "question"
        and isinstance(answer_value, str)
        and "####" in answer_value
    ):
        shape = "gsm8k"
        # GSM8K's `answer` is the worked solution; `final` (if present) is only a copy.
        fields["answer"] = "answer"
        fields.pop("solution", None)
    elif "solution" in fields and "source" in keys and "level" not in fields:
        shape = "numina"
    elif "solution" in fields:
        shape = "math"
    elif "answer" in fields:
        shape = "qa"
    else:
        raise RecordError(
            "",
            f"no reference answer field among ({', '.join(sorted(keys))}); pass --map FIELD=answer",
        )
    used = set(fields.values())
    if shape == "gsm8k":
        used.add("final")
    return ShapePlan(shape=shape, fields=fields, used=frozenset(used))


def describe(plan: ShapePlan | CodePlan) -> str:
    fields = getattr(plan, "fields", {})
    return f"{plan.shape} ({json.dumps(fields, sort_keys=True)})"
