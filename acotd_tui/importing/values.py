"""Turning the values files hold into the texts the store keeps, noting every change.

The reference answer is what the judge reads, verification compares against and exports
carry, so its form is fixed here, once:

- numbers: the shortest text that round-trips (`27.0` -> `27`, `5.158e-07` stays `5.158e-07`);
- enclosing `$...$` / `$$...$$` / `\\(...\\)` are stripped; inner dollars are left alone;
- a one-element list is unwrapped; several answers are joined as `a, b` (the form the checker
  reads as several answers) and the original list is kept in metadata `answer_list`;
- a list that arrived as Python-literal text (`"['$x$']"`, from a CSV or `str(list)`) is read
  back as the list it was;
- an answer that is a worked solution (a `\\boxed{}` inside longer prose, `#### N`, several
  lines) gives its final answer (last boxed value, `#### N`, "A: N" / "The answer is N"); the
  worked text becomes the solution when the row has none.
Each change is reported as a note (`Note`), which the import counts and shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from acotd_tui.answer_forms import join_answers, literal_list
from acotd_tui.answers import extract_last_boxed

LONG_PROBLEM_CHARS = 8000
LONG_ANSWER_CHARS = 200
_LIST_TEXT = re.compile(r"^\[\s*(?:['\"]|\])")
_ENCLOSERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


class Note(StrEnum):
    """Changes made to a value and things worth a look; counted per file."""

    UNWRAPPED = "one-element list unwrapped"
    JOINED = "several answers joined as 'a, b' (list kept in metadata answer_list)"
    LIST_TEXT = "list written as text read back as a list"
    DOLLARS = "enclosing $...$ stripped"
    NUMBER = "number written as shortest round-trip text"
    BOXED_UNWRAPPED = "answer written as \\boxed{...}: the value inside kept"
    BOXED_FROM_SOLUTION = "answer taken from the last \\boxed{} of the solution"
    BOXED_FROM_ANSWER = "answer field held a worked solution: took its final answer"
    WORKED_ANSWER = "answer looks like a worked solution (kept as is)"
    SOLUTION_JOINED = "solution given as a list: parts joined"
    LONG_PROBLEM = f"problem longer than {LONG_PROBLEM_CHARS} characters"
    LONG_ANSWER = f"answer longer than {LONG_ANSWER_CHARS} characters"
    DUPLICATE_OTHER_ANSWER = (
        "duplicate of a kept problem with a different answer (the kept one stays)"
    )
    FIELD_NOT_KEPT = (
        "a field past the first rows was not kept (long text, list or object: see 'not kept')"
    )


@dataclass
class Converted:
    text: str
    notes: list[Note] = field(default_factory=list)
    original_list: list[Any] | None = None


def number_text(value: int | float) -> str:
    """Shortest text that reads back as the same number; integral floats lose their `.0`."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return repr(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)  # Python's repr is the shortest round-trip form


def strip_enclosing_math(text: str) -> tuple[str, bool]:
    """`$\\frac12$` -> `\\frac12`; `$1$ and $2$` is left as it is (not one enclosure)."""
    text = text.strip()
    for left, right in _ENCLOSERS:
        if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
            inner = text[len(left) : len(text) - len(right)]
            if "$" not in inner and "\\(" not in inner and "\\[" not in inner:
                return inner.strip(), True
    return text, False


def looks_like_worked_solution(text: str) -> bool:
    """Longer prose around a boxed answer, or a GSM8K `####` line: not a bare answer."""
    if "####" in text:
        return True
    boxed = extract_last_boxed(text)
    if boxed is not None:
        return len(text) - len(boxed) > 20
    if "\n" in text.strip() and len(text) > 20:
        return True
    return len(text) > LONG_ANSWER_CHARS and text.count(". ") >= 2


def list_from_text(text: str) -> list[Any] | None:
    """`"['a', 'b']"` -> ['a', 'b']; intervals such as `[0, 1]` are not lists of strings."""
    if "[" not in text[:8]:
        return None
    stripped = text.strip()
    if not _LIST_TEXT.match(stripped):
        return None
    return literal_list(stripped)


def _scalar_text(value: Any, notes: list[Note]) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = number_text(value)
        if isinstance(value, float):
            notes.append(Note.NUMBER)
        return text
    text, stripped = strip_enclosing_math(str(value))
    if stripped:
        notes.append(Note.DOLLARS)
    if text.startswith("\\boxed{") and text.endswith("}"):
        inner = extract_last_boxed(text)
        if inner is not None and text == "\\boxed{" + inner + "}" and inner.strip():
            notes.append(Note.BOXED_UNWRAPPED)
            return inner.strip()
    return text


def answer_text(value: Any) -> Converted:
    """The stored form of a reference answer value (see the module docstring)."""
    notes: list[Note] = []
    if value is None:
        return Converted("", notes)
    if isinstance(value, str):
        parsed = list_from_text(value)
        if parsed is not None:
            notes.append(Note.LIST_TEXT)
            value = parsed
    if isinstance(value, (list, tuple)):
        items = [_scalar_text(v, notes) for v in value if v is not None and str(v).strip() != ""]
        items = [t for t in items if t]
        original = list(value)
        if len(items) == 1:
            notes.append(Note.UNWRAPPED)
            return Converted(items[0], notes, original if len(original) != 1 else None)
        if not items:
            return Converted("", notes)
        notes.append(Note.JOINED)
        return Converted(join_answers(items), notes, original)
    if isinstance(value, dict):
        raise ValueError("is an object, not an answer")
    return Converted(_scalar_text(value, notes), notes)


def solution_text(value: Any) -> tuple[str | None, list[Note]]:
    """A worked solution; OlympiadBench-style lists of parts are joined by blank lines."""
    if value is None or value == "":
        return None, []
    if isinstance(value, str):
        parsed = list_from_text(value)
        if parsed is not None:
            value = parsed
    if isinstance(value, (list, tuple)):
        parts = [str(v).strip() for v in value if v is not None and str(v).strip()]
        if not parts:
            return None, []
        return "\n\n".join(parts), ([Note.SOLUTION_JOINED] if len(parts) > 1 else [])
    return str(value), []


def plain_text(value: Any) -> str | None:
    """Problem text and other labels: numbers as shortest text, one-element lists unwrapped."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_text(value)
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value if v is not None and str(v).strip()]
        return parts[0] if len(parts) == 1 else ("; ".join(parts) or None)
    return str(value)
