"""Reading sampling weights typed by a person: `6:3:1` (E:M:H) or `easy=1,1=1,2=2,...`.

One parser for the CLI (`--ratios`) and the Sampling screen, so both accept and refuse the
same text with the same line. A weight is a finite number >= 0 (0: none of that level); a
negative weight, or all weights 0, is refused rather than silently producing an odd plan.
"""

from __future__ import annotations

import math

from acotd_tui.domain import EMH, SchemeName
from acotd_tui.errors import AcotdError


def _weight(label: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AcotdError(f"ratios: {text.strip()!r} for {label} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise AcotdError(f"ratios: the weight for {label} must be 0 or more (got {text.strip()})")
    return value


def parse_ratios(text: str | None, scheme: str | None = None) -> dict[str, float]:
    """{} for blank text; else the weights by label. `scheme` "emh" or None allows E:M:H."""
    text = (text or "").strip()
    if not text:
        return {}
    out: dict[str, float] = {}
    if "=" not in text and scheme in (None, SchemeName.EMH):
        parts = text.split(":")
        if len(parts) != 3:
            raise AcotdError(
                f"ratios {text!r}: E:M:H needs three numbers, e.g. 6:3:1 (ZTE: easy=..,1=..,...)"
            )
        out = {label: _weight(label, part) for label, part in zip(EMH.labels, parts, strict=True)}
    else:
        for part in text.split(","):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not key:
                raise AcotdError(f"ratios: {part.strip()!r} is not LABEL=weight (comma separated)")
            if key in out:
                raise AcotdError(f"ratios: {key} is given twice")
            out[key] = _weight(key, value)
    if not any(out.values()):
        raise AcotdError(f"ratios {text!r}: at least one weight must be above 0")
    return out
