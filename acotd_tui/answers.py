"""Pulling final answers and reasoning out of text: reference solutions and model outputs.

Kept free of heavy imports: the importer calls these on every row of very large files, and
the symbolic comparison (math-verify) lives in `checking.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOXED_START = re.compile(r"\\(?:boxed|fbox)\s*")
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
_NUMBER_ONLY = re.compile(r"^[-+]?\d[\d,]*(?:\.\d+)?$")


_BRACE_TOKENS = re.compile(r"\\.|[{}]", re.DOTALL)


def _match_braces(text: str, open_at: int) -> int | None:
    """Index just past the brace that closes the one at `open_at`, or None if unbalanced.

    Escaped characters (`\\{`, `\\}`) do not count; the regex jumps between braces.
    """
    depth = 0
    for m in _BRACE_TOKENS.finditer(text, open_at):
        token = m.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth == 0:
                return m.end()
    return None


def extract_boxed_all(text: str) -> list[str]:
    r"""Contents of every `\boxed{...}` / `\fbox{...}` (and `\boxed 9`), braces matched."""
    out: list[str] = []
    for m in _BOXED_START.finditer(text):
        found = _boxed_at(text, m.start())
        if found is not None:
            out.append(found)
    return out


def _boxed_at(text: str, idx: int) -> str | None:
    """The content of the boxed command starting at `idx`, if it is well formed."""
    m = _BOXED_START.match(text, idx)
    if not m:
        return None
    start = m.end()
    if start < len(text) and text[start] == "{":
        end = _match_braces(text, start)
        return text[start + 1 : end - 1].strip() if end is not None else None
    tail = re.match(r"([^\s$]+)", text[start:])
    return tail.group(1).strip() if tail else None


def extract_last_boxed(text: str) -> str | None:
    """The last well-formed, non-empty boxed answer; scans backwards from the end."""
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    while idx >= 0:
        found = _boxed_at(text, idx)
        if found:
            return found
        idx = max(text.rfind("\\boxed", 0, idx), text.rfind("\\fbox", 0, idx))
    return None


def gsm8k_final(answer_field: str) -> tuple[str, str] | None:
    """GSM8K `answer`: (worked solution, final answer after `####` without thousands commas)."""
    if "####" not in answer_field:
        return None
    worked, _, final = answer_field.rpartition("####")
    final = final.strip().replace(",", "")
    return (worked.strip(), final) if final else None


def normalize_reference(value: object) -> str:
    """Reference answers from files: 27.0 -> "27", strip `$...$` and whitespace."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    if len(text) >= 2 and text[0] == "$" and text[-1] == "$":
        text = text.strip("$").strip()
    return text


_ANSWER_PATTERNS = (
    # "The (final) answer is $5$." (Minerva / lm-eval style), math in dollars
    re.compile(r"answer is[:\s]*\$([^$\n]+)\$", re.IGNORECASE),
    # "The answer is 42." up to the end of the line
    re.compile(r"answer is[:\s]*([^\n]+?)\s*\.?\s*$", re.IGNORECASE | re.MULTILINE),
    # "A: 26", "Answer: 26", "Final answer: 26" at the start of a line (GSM8K model outputs)
    re.compile(
        r"^\s*(?:final answer|answer|a)\s*:\s*\$?([^\n$]+?)\$?\s*\.?\s*$",
        re.IGNORECASE | re.MULTILINE,
    ),
)


def extract_final_answer(text: str, pattern: str | None = None) -> str | None:
    r"""The final answer of a model's output.

    Order: a configured regex (first group of the last match), the last `\boxed{}`, then an
    "answer: X" / "The answer is X" / GSM8K-style "A: X" line, then `#### X`.
    """
    if pattern:
        matches = list(re.finditer(pattern, text, re.MULTILINE))
        if matches:
            m = matches[-1]
            return (m.group(1) if m.groups() else m.group(0)).strip()
        return None
    boxed = extract_last_boxed(text)
    if boxed is not None:
        return boxed
    best: tuple[int, str] | None = None
    for pat in _ANSWER_PATTERNS:
        for m in pat.finditer(text):
            if best is None or m.start() > best[0]:
                best = (m.start(), m.group(1).strip().rstrip(".").strip())
    if best and best[1]:
        return best[1]
    final = gsm8k_final(text)
    if final:
        return final[1]
    return None


@dataclass(frozen=True, slots=True)
class SplitOutput:
    reasoning: str
    answer_text: str
    closed: bool  # False when a <think> block was opened and never closed (truncated)


def split_reasoning(text: str, reasoning_field: str | None = None) -> SplitOutput:
    """Separate reasoning from the visible answer.

    Reasoning models return it either in a separate field (`reasoning_content`) or inline as
    `<think>...</think>`; Qwen3's template may also leave the opening tag in the prompt, so a
    lone `</think>` splits too.
    """
    if reasoning_field:
        return SplitOutput(reasoning_field.strip(), text.strip(), True)
    if "</think>" in text:
        before, _, after = text.partition("</think>")
        return SplitOutput(before.replace("<think>", "", 1).strip(), after.strip(), True)
    m = _THINK.search(text)
    if m:  # opened but never closed: the output was cut off while thinking
        return SplitOutput(m.group(1).strip(), "", False)
    return SplitOutput("", text.strip(), True)


def is_plain_number(text: str) -> bool:
    return bool(_NUMBER_ONLY.match(text.strip()))
