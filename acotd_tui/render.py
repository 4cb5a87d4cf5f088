"""Making LaTeX-heavy math text readable in a terminal.

Not a TeX renderer: common commands become Unicode (fractions, roots, Greek letters,
relations, super/subscripts of digits), `\\boxed{x}` becomes ⟦x⟧, and math `$` signs go
(escaped `\\$` and prices stay).
The original text is always available beside it; this is only for reading.
"""

from __future__ import annotations

import re

from .answers import _match_braces

SYMBOLS = {
    r"\times": "×",
    r"\cdot": "·",
    r"\div": "÷",
    r"\pm": "±",
    r"\mp": "∓",
    r"\le": "≤",
    r"\leq": "≤",
    r"\ge": "≥",
    r"\geq": "≥",
    r"\neq": "≠",
    r"\ne": "≠",
    r"\approx": "≈",
    r"\equiv": "≡",
    r"\infty": "∞",
    r"\pi": "π",
    r"\theta": "θ",
    r"\alpha": "α",
    r"\beta": "β",
    r"\gamma": "γ",
    r"\delta": "δ",
    r"\Delta": "Δ",
    r"\lambda": "λ",
    r"\mu": "μ",
    r"\sigma": "σ",
    r"\omega": "ω",
    r"\phi": "φ",
    r"\angle": "∠",
    r"\circ": "°",
    r"\degree": "°",
    r"\in": "∈",
    r"\cup": "∪",
    r"\cap": "∩",
    r"\rightarrow": "→",
    r"\to": "→",
    r"\Rightarrow": "⇒",
    r"\implies": "⇒",
    r"\ldots": "…",
    r"\dots": "…",
    r"\cdots": "⋯",
    r"\sum": "∑",
    r"\prod": "∏",
    r"\int": "∫",
    r"\%": "%",
    r"\$": "$",
    r"\left": "",
    r"\right": "",
    r"\!": "",
    r"\,": " ",
    r"\;": " ",
    r"\quad": "  ",
    r"\qquad": "    ",
}
SUPERSCRIPT = str.maketrans("0123456789+-n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ")
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_COMMAND = re.compile(
    r"\\(frac|dfrac|tfrac|sqrt|boxed|text|textbf|mathrm|mathbf|operatorname)\s*(?=\{)"
)
_SYMBOL = re.compile(
    "|".join(re.escape(k) for k in sorted(SYMBOLS, key=len, reverse=True)) + r"(?![a-zA-Z])"
)


def _arg(text: str, start: int) -> tuple[str, int]:
    end = _match_braces(text, start)
    if end is None:
        return text[start + 1 :], len(text)
    return text[start + 1 : end - 1], end


def _group(part: str) -> str:
    return part if re.fullmatch(r"[\w.]+", part) else f"({part})"


def _commands(text: str) -> str:
    out, pos = [], 0
    for m in _COMMAND.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos : m.start()])
        first, after = _arg(text, m.end())
        name = m.group(1)
        if name.endswith("frac") and after < len(text) and text[after] == "{":
            second, after = _arg(text, after)
            out.append(f"{_group(_commands(first))}/{_group(_commands(second))}")
        elif name == "sqrt":
            out.append(f"√({_commands(first)})")
        elif name == "boxed":
            out.append(f"⟦{_commands(first)}⟧")
        else:
            out.append(_commands(first))
        pos = after
    out.append(text[pos:])
    return "".join(out)


_MONEY = "\x00"  # stands in for an escaped dollar (money) while math delimiters are removed
_INLINE_MATH = re.compile(r"\$([^$\n]+?)\$")
_PROSE = re.compile(r"[A-Za-z]{3,}\s+[A-Za-z]{3,}\s+[A-Za-z]{3,}")


def _inline_math(match: re.Match[str]) -> str:
    """`$x^2$` loses its delimiters; a span of prose between two prices ("costs $25 per
    session and $3 per student") is money, not math, and keeps them."""
    body = match.group(1)
    return match.group(0) if _PROSE.search(body) else body


def latexish(text: str) -> str:
    had_latex = "\\" in text or "^" in text
    text = text.replace("\\$", _MONEY)
    text = _commands(text.replace("^\\circ", "°").replace("^{\\circ}", "°"))
    text = _SYMBOL.sub(lambda m: SYMBOLS[m.group(0)], text)
    text = re.sub(r"\^\{?([0-9+\-n]{1,3})\}?", lambda m: m.group(1).translate(SUPERSCRIPT), text)
    text = re.sub(r"_\{?([0-9]{1,3})\}?", lambda m: m.group(1).translate(SUBSCRIPT), text)
    if had_latex:  # in plain text (GSM8K) "$" is money, not math
        text = (
            text.replace("$$", "")
            .replace("\\[", "")
            .replace("\\]", "")
            .replace("\\(", "")
            .replace("\\)", "")
        )
        text = _INLINE_MATH.sub(_inline_math, text)
    return text.replace(_MONEY, "$")
