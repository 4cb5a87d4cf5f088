r"""The written forms of final answers: what two answers look like once notation is set aside.

Pure text work, no sympy, so it runs in the calling thread on every attempt. `checking.py`
uses it around math-verify:

- `canonical` removes notation that never changes a value: enclosing `$…$` and `\boxed{}`,
  `\left`/`\right`, `\dfrac`, thin spaces, `{,}`, degree signs, a whole-answer `\text{}`, and
  a Python list written as text (`['a', 'b']`, how older imports stored list-valued answers),
  which becomes the answer list `a, b`.
- `parse_number` reads plain numbers exactly (`Fraction`): thousands commas, `5.158e-07`,
  `5.158\times10^{-7}`, `\frac{3}{8}`, `12\frac{3}{5}`, `\$`, a unit after the number, `\%`.
- `structure` splits an answer into its parts: several answers (`1, 2`; `\text{ or }`),
  a set `\{…\}`, a tuple or interval with its exact brackets, a union of intervals.
- `strip_names` drops a left-hand side name (`m_{\max }=…`, `x = …`, `f(x) = …`).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

# ---------------------------------------------------------------- canonical text


def literal_list(text: str) -> list | None:
    """A list written as text: Python's `['a', 'b']`, or numpy's `['a' 'b']` (what pandas
    writes for list cells), whose adjacent strings Python would silently glue into one."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    if any(isinstance(v, str) for v in value):
        strings = _string_elements(text)
        if strings is not None and len(strings) > len(value):
            return strings
    return value


def _string_elements(text: str) -> list[str] | None:
    """`['a' 'b']` -> ['a', 'b']: each string token its own element (None if not that shape)."""
    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT}
    try:
        tokens = [
            t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip
        ]
    except (tokenize.TokenError, SyntaxError):
        return None
    if len(tokens) < 2 or tokens[0].string != "[" or tokens[-1].string != "]":
        return None
    out: list[str] = []
    for token in tokens[1:-1]:
        if token.type == tokenize.STRING:
            out.append(ast.literal_eval(token.string))
        elif token.string != ",":
            return None
    return out


def _unwrap_list_text(text: str) -> str:
    """`['a', 'b']` (a Python list stored as text) -> `a, b`; `['a']` -> `a`."""
    if not (text.startswith("[") and text.endswith("]") and ("'" in text or '"' in text)):
        return text
    value = literal_list(text)
    if value is None:
        return text
    if not isinstance(value, list | tuple) or not value:
        return text
    if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        return text
    return answer_list_text(value)


ANSWER_LIST_SEPARATOR = ", "
"""How several answers are written as one reference: `1, 2` (order free when checked)."""


def answer_list_text(values: Sequence[object]) -> str:
    """Several answers as one reference text the checker reads as such: `['$1$', '2']` ->
    `1, 2`; one element -> that element; empty elements dropped."""
    parts = [p for p in (_strip_dollars(str(v).strip()) for v in values) if p]
    return join_answers(parts)


def join_answers(parts: Sequence[str]) -> str:
    """`a, b`. With two or more answers a thousands comma is dropped, and an answer holding a
    comma of its own (`a=1,b=2`) is bracketed, `(a=1,b=2), (a=2,b=1)`, so its parts stay
    together: flat, `a=1,b=2, a=2,b=1` would let a wrong pairing pass as the same parts."""
    if len(parts) < 2:
        return ANSWER_LIST_SEPARATOR.join(parts)
    return ANSWER_LIST_SEPARATOR.join(_one_of_several(p) for p in parts)


def _one_of_several(part: str) -> str:
    if "," not in part:
        return part
    if _THOUSANDS.match(part):
        return part.replace(",", "")  # `1,000` among several answers would split in two
    return f"({part})" if len(split_top(part, ",")) > 1 else part


def _strip_dollars(text: str) -> str:
    while len(text) >= 2 and text[0] == "$" and text[-1] == "$":
        text = text[1:-1].strip()
    for left, right in (("\\[", "\\]"), ("\\(", "\\)")):
        if text.startswith(left) and text.endswith(right):
            text = text[len(left) : -len(right)].strip()
    return text


def _whole_command(text: str, names: tuple[str, ...]) -> str | None:
    r"""The argument of `\name{…}` when that command spans the whole text."""
    for name in names:
        prefix = f"\\{name}{{"
        if text.startswith(prefix) and text.endswith("}"):
            depth = 0
            for i, ch in enumerate(text[len(prefix) - 1 :], start=len(prefix) - 1):
                if ch == "{" and text[i - 1] != "\\":
                    depth += 1
                elif ch == "}" and text[i - 1] != "\\":
                    depth -= 1
                    if depth == 0:
                        return text[len(prefix) : i] if i == len(text) - 1 else None
    return None


_SPACING = re.compile(r"(?<!\\)\\(?:[,;:! ])|~")  # not the `\\` ending a matrix row
_QUAD = re.compile(r"\\q?quad\b")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![A-Za-z])\s*\.?")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree\b")
_CONNECTIVE = re.compile(
    r"\s*(?:\\(?:text|mbox|textrm|mathrm)\s*\{\s*(?:or|and|,)\s*\}|\bor\b|\band\b)\s*"
)
_CONTROL_WORD_SPACE = re.compile(r"(\\[A-Za-z]+)\s+(?=[A-Za-z])")
_WS = re.compile(r"\s+")


def squash_spaces(text: str) -> str:
    r"""Remove spaces, except the one a control word needs before a letter (`\pi r`)."""
    return _WS.sub("", _CONTROL_WORD_SPACE.sub("\\1\x00", text)).replace("\x00", " ")


@lru_cache(maxsize=8192)  # references repeat across K samples and attempts
def canonical(text: str) -> str:
    """The answer with value-neutral notation removed (see the module docstring)."""
    from acotd_tui.answers import extract_last_boxed

    text = _strip_dollars(text.strip())
    text = _unwrap_list_text(text)
    boxed = extract_last_boxed(text) if text.startswith(("\\boxed", "\\fbox")) else None
    if boxed is not None and len(boxed) >= len(text) - 8:
        text = boxed
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = text.replace("\\displaystyle", "").replace("{,}", ",")
    text = _LEFT_RIGHT.sub("", text)
    text = _SPACING.sub(" ", text)
    text = _QUAD.sub(",", text)
    text = _DEGREES.sub("", text)
    text = _CONNECTIVE.sub(",", text) if re.search(r"\bor\b|\band\b", text) else text
    text = re.sub(r",{2,}", ",", squash_spaces(text)).strip(",")
    while True:
        inner = _whole_command(text, ("text", "textbf", "mathrm", "mbox", "textrm", "mathbf"))
        if inner is None:
            break
        text = inner.strip()
    if text.endswith(".") and not re.search(r"[ap]\.m\.$", text, re.IGNORECASE):
        text = text[:-1]
    return _inequality_as_interval(text)


_LESS = r"(\\le(?:q)?|\\lt|<=|<)"
_CHAIN = re.compile(rf"^([^<>=\\]+?|\\?-?[^<>=]*?)\s*{_LESS}\s*([A-Za-z])\s*{_LESS}\s*(.+)$")
_ONE_SIDED = re.compile(r"^([A-Za-z])\s*(\\ge(?:q)?|\\gt|>=|>|\\le(?:q)?|\\lt|<=|<)\s*(.+)$")


_NUMERIC_BOUND = re.compile(r"\d|\\pi|\\infty")


def _inequality_as_interval(text: str) -> str:
    r"""`-2 \le x \le 7` -> `[-2,7]`; `x > 3` -> `(3,\infty)`: one variable, plain bounds."""
    if "<" not in text and "\\l" not in text and ">" not in text and "\\g" not in text:
        return text
    if m := _CHAIN.match(text):
        low, rel1, _, rel2, high = m.groups()
        if any(ch in low + high for ch in "<>") or "\\le" in high or "\\lt" in high:
            return text
        if not (_NUMERIC_BOUND.search(low) and _NUMERIC_BOUND.search(high)):
            return text  # `a < x < b`: bounds that are letters stay a relation
        left = "[" if rel1 in ("\\le", "\\leq", "<=") else "("
        right = "]" if rel2 in ("\\le", "\\leq", "<=") else ")"
        return f"{left}{low.strip()},{high.strip()}{right}"
    if m := _ONE_SIDED.match(text):
        _, rel, bound = m.groups()
        if any(ch in bound for ch in "<>=") or "\\le" in bound or "\\ge" in bound:
            return text
        if not _NUMERIC_BOUND.search(bound):
            return text
        closed = rel in ("\\le", "\\leq", "<=", "\\ge", "\\geq", ">=")
        if rel.startswith((">", "\\g")):
            return f"{'[' if closed else '('}{bound},\\infty)"
        return f"(-\\infty,{bound}{']' if closed else ')'}"
    return text


# ---------------------------------------------------------------- numbers

_UNIT_WORDS = (
    "square units|sq units|units|unit|cm|mm|km|m|meters|metres|meter|in|inches|inch|ft|feet"
    "|foot|yd|yards|miles|mile|mph|degrees|degree|dollars|dollar|cents|cent|hours|hour|hrs"
    "|hr|minutes|minute|mins|min|seconds|second|sec|s|days|day|weeks|week|years|year|kg|g"
    "|grams|lb|lbs|pounds|ounces|oz|liters|litres|l|ml|people|students|times|ways|sq"
)
_UNIT_TAIL = re.compile(
    r"(?:\\(?:text|mbox|mathrm|textrm)\{[^{}]*\}|\b(?:" + _UNIT_WORDS + r")\b\.?)"
    r"(?:\^\{?[23]\}?|²|³)?$",
    re.IGNORECASE,
)
_DECIMAL = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(rf"^{_DECIMAL}(?:e[-+]?\d+)?$", re.IGNORECASE)
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_SCI = re.compile(rf"^({_DECIMAL})(?:\\times|\\cdot|\*|x)10\^(?:\{{([-+]?\d+)\}}|([-+]?\d))$")
_FRAC = re.compile(rf"^\\frac(?:\{{({_DECIMAL})\}}|(\d))(?:\{{({_DECIMAL})\}}|(\d))$")
_MIXED = re.compile(r"^(\d+)\\frac\{(\d+)\}\{(\d+)\}$")
_SLASH = re.compile(rf"^({_DECIMAL})/({_DECIMAL})$")


_MAX_EXPONENT = 400


@dataclass(frozen=True, slots=True)
class Number:
    value: Fraction
    percent: bool


def _unsigned(text: str) -> Fraction | None:
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    if _PLAIN.match(text):
        written_exponent = text.lower().partition("e")[2]
        return Fraction(text) if abs(int(written_exponent or 0)) <= _MAX_EXPONENT else None
    if m := _SCI.match(text):
        exponent = int(m.group(2) or m.group(3))
        if abs(exponent) > _MAX_EXPONENT:
            return None  # 10^{999999} is not worth building exactly; math-verify decides
        return Fraction(m.group(1)) * Fraction(10) ** exponent
    if m := _FRAC.match(text):
        den = Fraction(m.group(3) or m.group(4))
        return Fraction(m.group(1) or m.group(2)) / den if den else None
    if m := _MIXED.match(text):
        whole, num, den_int = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return whole + Fraction(num, den_int) if den_int else None
    if m := _SLASH.match(text):
        den = Fraction(m.group(2))
        return Fraction(m.group(1)) / den if den else None
    return None


@lru_cache(maxsize=8192)  # references repeat across K samples and attempts
def parse_number(text: str) -> Number | None:
    """A plain number written in any of the usual ways, exactly; None for anything else."""
    text = text.strip()
    if not text or len(text) > 80:
        return None
    percent = False
    for suffix in ("\\%", "%", "\\text{%}", "\\text{\\%}", "percent"):
        if text.endswith(suffix):
            text, percent = text[: -len(suffix)].strip(), True
            break
    if not percent:
        stripped = _UNIT_TAIL.sub("", text).strip()
        if stripped and stripped != text and re.search(r"\d[})]?$", stripped):
            text = stripped
    text = text.removeprefix("\\$").removeprefix("$").strip()
    sign = 1
    if text and text[0] in "+-":
        sign, text = (-1 if text[0] == "-" else 1), text[1:].strip()
        text = text.removeprefix("\\$").removeprefix("$")
    if text.startswith("{") and text.endswith("}") and text.count("{") == 1:
        text = text[1:-1]
    value = _unsigned(text)
    return Number(sign * value, percent) if value is not None else None


REL_TOL = 1e-6
"""Relative tolerance between a non-integer reference and an answer (one part in a million)."""
ABS_FLOOR = Fraction(1, 10**12)
"""The smallest tolerance at all: far below any reference magnitude the datasets carry."""


def numbers_match(answer: Number, reference: Number) -> bool:
    """Integers exactly; other numbers to `REL_TOL` of the reference (floor `ABS_FLOOR`).

    A percent on one side only: `8\\%` matches `8` and `0.08`.
    """
    candidates = [answer.value]
    if reference.percent and not answer.percent:
        candidates.append(answer.value * 100)
    elif answer.percent and not reference.percent:
        candidates.append(answer.value / 100)
    ref = reference.value
    for value in candidates:
        if ref.denominator == 1:
            if value == ref:
                return True
        elif abs(value - ref) <= max(Fraction(REL_TOL) * abs(ref), ABS_FLOOR):
            return True
    return False


# ---------------------------------------------------------------- words, choices, times

_WORDS = re.compile(r"^[A-Za-z][A-Za-z '\-]*$")
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)$|^\(([A-Ea-e])\)?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?:([ap])\.?m\.?)?$", re.IGNORECASE)


def compare_words(answer: str, reference: str) -> bool | None:
    """Plain words (`Monday`, `(C)`, a time `4:30 p.m.`): decided here; None otherwise."""
    a, r = _choice(answer), _choice(reference)
    ta, tr = _TIME.match(a), _TIME.match(r)
    if ta and tr:
        same_clock = (int(ta[1]), ta[2]) == (int(tr[1]), tr[2])
        meridiem_ok = not ta[3] or not tr[3] or ta[3].lower() == tr[3].lower()
        return same_clock and meridiem_ok
    if _WORDS.match(a) and _WORDS.match(r) and (len(a) > 1 or len(r) > 1):
        if a.replace(" ", "").casefold() == r.replace(" ", "").casefold():
            return True
        # `ab` and `ba` may be products of variables, equal as such: short rearrangements go
        # to math-verify; longer letter runs are words (`Monday` is not `Dynamo`).
        if sorted(_letters(a)) == sorted(_letters(r)) and max(len(a), len(r)) <= 3:
            return None
        return False
    if len(a) == 1 and len(r) == 1 and a.isalpha() and r.isalpha():
        return a.casefold() == r.casefold()
    return None


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha()]


def _choice(text: str) -> str:
    m = _CHOICE.match(text)
    return (m.group(1) or m.group(2)).upper() if m else text


# ---------------------------------------------------------------- structure


class Kind(StrEnum):
    ATOM = "atom"
    ANSWERS = "answers"  # several answers: `1, 2` — order does not matter
    SET = "set"  # `\{1, 2\}` — order does not matter
    BRACKETED = "bracketed"  # tuple / point / interval: order and both brackets matter
    UNION = "union"  # `A \cup B` — order does not matter


@dataclass(frozen=True, slots=True)
class Form:
    kind: Kind
    parts: tuple[str, ...]
    brackets: str = ""


_OPEN, _CLOSE = "([{", ")]}"


def split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` outside any brackets (`\\{`, intervals' mixed brackets included)."""
    if sep not in text:
        return [text.strip()]
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text.startswith(("\\{", "\\}"), i):
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _spans_whole(text: str, open_len: int) -> bool:
    """Does the bracket opening at 0 close at the very end?"""
    depth, i = 0, 0
    while i < len(text):
        if text.startswith(("\\{", "\\}"), i):
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
        else:
            ch = text[i]
            depth += 1 if ch in _OPEN else -1 if ch in _CLOSE else 0
            i += 1
        if depth == 0:
            return i == len(text)
    return False


@lru_cache(maxsize=8192)  # references repeat across K samples and attempts
def structure(text: str) -> Form:
    """The top-level shape of a canonical answer."""
    if not _THOUSANDS.match(text):
        answers = [p for p in split_top(text, ",") if p]
        if len(answers) >= 2:
            return Form(Kind.ANSWERS, tuple(answers))
        union = split_top(text, "\\cup")
        if len(union) >= 2 and all(union):
            return Form(Kind.UNION, tuple(union))
    if text.startswith("\\{") and text.endswith("\\}") and _spans_whole(text, 2):
        return Form(Kind.SET, tuple(p for p in split_top(text[2:-2], ",") if p))
    if len(text) >= 2 and text[0] in "([" and text[-1] in ")]" and _spans_whole(text, 1):
        inner = split_top(text[1:-1], ",")
        if len(inner) >= 2:
            return Form(Kind.BRACKETED, tuple(inner), text[0] + text[-1])
    return Form(Kind.ATOM, (text,))


# ---------------------------------------------------------------- left-hand side names

_NAME = re.compile(
    r"^(?:[A-Za-z]|\\[A-Za-z]+|\\(?:text|mathrm|operatorname)\{[A-Za-z ]+\})"
    r"(?:_\{[^{}=]*\}|_\\?[A-Za-z0-9]+)?(?:'|\^\{?\*\}?)*(?:\([A-Za-z0-9, ]*\))?$"
)


_MEMBER = re.compile(r"\\in(?![A-Za-z])")


def _name_and_value(part: str) -> tuple[str | None, str]:
    if "=" not in part and "\\in" not in part:
        return None, part
    marked = _MEMBER.sub("\x01", part)  # `x \\in S`, not `\\infty`
    for relation in ("=", "\x01"):
        pieces = split_top(marked, relation)
        if len(pieces) == 2 and pieces[1] and _NAME.match(pieces[0]):
            return squash_spaces(pieces[0]).replace(" ", ""), pieces[1].replace("\x01", "\\in")
    return None, part


def strip_names(answer: str, reference: str) -> tuple[str, str]:
    r"""Drop a left-hand side name (`m_{\max }=n^2-n-1` -> `n^2-n-1`) where it carries nothing.

    Each side is a single equation or a list whose parts all name the same thing
    (`x=1, x=2`). Kept where both sides name different things (`x=5` vs `y=5`: two lines)
    or where one list names several things (`a=2, b=3`, compared by math-verify as equations).
    """
    sides = []
    for text in (answer, reference):
        parts = split_top(text, ",")
        named = [_name_and_value(p) for p in parts]
        names = {n for n, _ in named}
        if len(names) == 1 and None not in names:
            sides.append((names.pop(), ", ".join(v for _, v in named)))
        else:
            sides.append((None, text))
    (na, va), (nr, vr) = sides
    if na and nr and na != nr:
        return answer, reference
    return va, vr
