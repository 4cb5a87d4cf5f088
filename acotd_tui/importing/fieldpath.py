"""Paths into nested records, for `--map` and the built-in shapes.

A path names a field and, optionally, what lies inside it:

- `question`                 the field itself (a key that literally contains dots wins:
                             `qwen2.5_score` is one field, not a path);
- `question.problem`         a field of a nested object (PRM800K's `question`);
- `final_answer.0`, `final_answer[0]`   one element of a list (negative counts from the end);
- `outputs[].response`       the `response` of every element of `outputs` -> a list, one
                             value per element (how several attempts sit in one row).

At most one `[]` per path: a row expands into one item per element, never a cross product.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

EACH = "[]"
_TOKEN = re.compile(r"\[(-?\d*)\]|\.?([^.\[\]]+)")


class PathError(ValueError):
    """The path text itself is malformed."""


class Missing:
    """What a path resolves to when the record has nothing there (distinct from None)."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = Missing()


@dataclass(frozen=True)
class FieldPath:
    text: str
    parts: tuple[str | int, ...]

    @property
    def root(self) -> str:
        return str(self.parts[0])

    @property
    def each(self) -> bool:
        return EACH in self.parts

    @property
    def simple(self) -> bool:
        return len(self.parts) == 1

    def __str__(self) -> str:
        return self.text

    def resolve(self, record: dict[str, Any]) -> Any:
        """The value at this path, MISSING where the record has none; a list for `[]` paths."""
        if self.text in record:
            return record[self.text]
        return _walk(record, self.parts)


def parse_path(text: str) -> FieldPath:
    text = text.strip()
    if not text:
        raise PathError("empty field path")
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise PathError(f"bad field path {text!r} at {text[pos:]!r}")
        index, name = m.group(1), m.group(2)
        if index is not None:
            if not parts:
                raise PathError(f"bad field path {text!r}: starts with an index")
            parts.append(EACH if index == "" else int(index))
        elif name.lstrip("-").isdigit() and parts:
            parts.append(int(name))
        else:
            parts.append(name)
        pos = m.end()
    if parts.count(EACH) > 1:
        raise PathError(f"bad field path {text!r}: at most one [] per path")
    return FieldPath(text, tuple(parts))


def _walk(value: Any, parts: tuple[str | int, ...]) -> Any:
    for i, part in enumerate(parts):
        if part == EACH:
            if not isinstance(value, list):
                return MISSING
            rest = parts[i + 1 :]
            return [_walk(item, rest) for item in value]
        if isinstance(part, int):
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                return MISSING
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                return MISSING
            value = value[part]
    return value


def parse_map_option(
    text: str | None, targets: tuple[str, ...], *, entry: str, per_element: bool
) -> dict[str, str]:
    """`--map SOURCE=TARGET,...` -> {source path: target}, for both imports: each path parsed,
    each target one of `targets` and named once. `per_element` allows `x[].y` (attempts: one
    value per sample); a problem import takes one value and is told how to pick one."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        src, sep, dst = part.partition("=")
        src, dst = src.strip(), dst.strip()
        if not sep or not src or not dst:
            raise ValueError(f"bad --map entry {part!r}: expected {entry}")
        if dst not in targets:
            raise ValueError(f"bad --map target {dst!r}: one of {', '.join(targets)}")
        try:
            path = parse_path(src)
        except PathError as exc:
            raise ValueError(f"bad --map entry {part!r}: {exc}") from None
        if path.each and not per_element:
            raise ValueError(
                f"bad --map entry {part!r}: [] (one value per element) is for"
                f" `attempts import`; a problem takes one value, e.g. {src.replace('[]', '.0')}"
            )
        twice = next((s for s, d in mapping.items() if d == dst and s != src), None)
        if twice is not None:
            raise ValueError(f"bad --map: {dst!r} given twice ({twice}, {src}); name one field")
        mapping[src] = dst
    return mapping
