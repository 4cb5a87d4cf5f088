"""Reading a judge's verdict out of whatever it replied.

Judges are asked for one JSON object (with a JSON schema where the backend supports it),
but real replies come wrapped in code fences, prefixed by reasoning, as prose ("Label:
Medium"), cut off, or not at all. The parser accepts every unambiguous form and refuses the
rest with a named reason; the grading stage retries those and finally marks the problem
*needs review*. It never guesses.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

from acotd_tui.domain import EMH, SchemeName

EMH_WORDS = EMH.aliases
EMH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["easy", "medium", "hard"]},
        "rationale": {"type": "string"},
    },
    "required": ["label", "rationale"],
    "additionalProperties": False,
}
ZTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "level": {"type": "integer", "minimum": 1, "maximum": 5},
        "rationale": {"type": "string"},
    },
    "required": ["level", "rationale"],
    "additionalProperties": False,
}
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_REFUSAL = re.compile(
    r"\b(I can(?:'|no)t|I am unable|I'm unable|I'm sorry|I am sorry|cannot (?:help|assist))\b",
    re.IGNORECASE,
)
_EMH_MARKER = re.compile(
    r"\b(?:label|category|classification|difficulty|verdict|grade)\b\W{0,6}(easy|medium|hard)\b",
    re.IGNORECASE,
)
_ZTE_MARKER = re.compile(r"\b(?:level|difficulty|rating|score)\b\W{0,6}([1-5])\b", re.IGNORECASE)


class JudgeParseError(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(frozen=True)
class Verdict:
    label: str
    rationale: str


def _json_objects(text: str) -> list[Any]:
    """Every JSON value found: the whole text, fenced blocks, then balanced {...} spans."""
    found: list[Any] = []
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            found.append(json.loads(candidate))
            return found
        except json.JSONDecodeError:
            pass
    depth, start = 0, -1
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"' and depth:
            in_string = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                with contextlib.suppress(json.JSONDecodeError):
                    found.append(json.loads(text[start : i + 1]))
    return found


def _field(obj: dict[str, Any], *names: str) -> Any:
    lowered = {k.lower(): v for k, v in obj.items()}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _emh_value(value: Any) -> str:
    if not isinstance(value, str):
        raise JudgeParseError("bad_label", f"label {value!r} is not text")
    key = value.strip().strip(".").lower()
    if key not in EMH_WORDS:
        raise JudgeParseError("bad_label", f"label {value!r} is not easy, medium or hard")
    return EMH_WORDS[key]


def _zte_value(value: Any) -> str:
    if isinstance(value, bool):
        raise JudgeParseError("bad_label", f"level {value!r} is not 1-5")
    try:
        level = int(str(value).strip())
    except ValueError:
        raise JudgeParseError("bad_label", f"level {value!r} is not a number") from None
    if not 1 <= level <= 5 or str(value).strip() not in {str(level), f"{level}.0"}:
        raise JudgeParseError("bad_label", f"level {value!r} is not 1-5")
    return str(level)


def parse_verdict(text: str, scheme: str, *, truncated: bool = False) -> Verdict:
    """The judge's label (E/M/H, or "1".."5" for ZTE) and rationale, or JudgeParseError."""
    body = _THINK.sub("", text or "").strip()
    if "<think>" in body:  # a reasoning judge that never closed its thinking
        body = ""
    if not body:
        raise JudgeParseError("truncated" if truncated else "empty", "no verdict in the reply")
    names, convert, marker = (
        (("label", "category", "difficulty", "classification"), _emh_value, _EMH_MARKER)
        if scheme == SchemeName.EMH
        else (("level", "difficulty", "rating"), _zte_value, _ZTE_MARKER)
    )
    objects = [o for o in _json_objects(body) if isinstance(o, dict)]
    if objects:
        verdicts = []
        for obj in objects:
            value = _field(obj, *names)
            if value is None:
                continue
            verdicts.append(
                Verdict(
                    convert(value),
                    str(_field(obj, "rationale", "reason", "explanation") or "").strip(),
                )
            )
        if not verdicts:
            raise JudgeParseError("missing_label", f"JSON without {names[0]!r}")
        if len({v.label for v in verdicts}) > 1:
            raise JudgeParseError("ambiguous", "several JSON verdicts disagree")
        return verdicts[0]
    if body.lstrip().startswith(("{", "[")):
        raise JudgeParseError(
            "truncated" if truncated else "invalid_json",
            "the reply starts as JSON but does not parse",
        )
    marked = {convert(m.group(1)) for m in marker.finditer(body)}
    if len(marked) == 1:
        return Verdict(marked.pop(), body[:500])
    if len(marked) > 1:
        raise JudgeParseError("ambiguous", f"prose names several labels: {sorted(marked)}")
    if _REFUSAL.search(body):
        raise JudgeParseError("refusal", body[:120])
    raise JudgeParseError("truncated" if truncated else "no_verdict", body[:120])
