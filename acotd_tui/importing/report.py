"""What an import understood and did, per file: printed, and stored with its provenance.

The accounting identity every file satisfies: rows read = added + duplicates + skipped, each
skip with its line and reason. The same summary is what `--dry-run` prints (the import is run
in full and rolled back, so the figures are the real ones) and what `imports.summary` keeps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PREVIEW_ROWS = 3
STORED_SKIPS = 200
_PREVIEW_CHARS = 120


def clip(text: Any, limit: int = _PREVIEW_CHARS) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


@dataclass
class Tally:
    """Notes (values changed, things worth a look): how many rows, and the first one's line."""

    counts: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, note: str, location: str) -> None:
        self.counts[note] += 1
        self.first.setdefault(note, location)

    def lines(self) -> list[str]:
        return [
            f"{n} × {note} (first: {self.first[note]})" for note, n in self.counts.most_common()
        ]


@dataclass
class Accounting:
    """Rows (or attempts) read, and where each went."""

    read: int = 0
    added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    skip_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def duplicates(self) -> int:
        return self.read - self.added - len(self.skipped)

    def skip(self, location: str, message: str, kind: str) -> None:
        self.skipped.append((location, message))
        self.skip_kinds[kind] += 1

    def line(self, unit: str = "rows") -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.skip_kinds.items()))
        return (
            f"{self.read} {unit} read = {self.added} added + {self.duplicates} duplicates"
            f" + {len(self.skipped)} skipped" + (f" ({kinds})" if kinds else "")
        )

    def skip_reasons(self) -> Counter[str]:
        return Counter(message for _, message in self.skipped)


def summary_dict(
    *,
    kind: str,
    shape: str,
    title: str,
    mapping: list[str],
    unkept: list[str],
    preview: list[dict[str, Any]],
    notes: Tally,
    accounting: dict[str, Any],
    skipped: list[tuple[str, str]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON kept in `imports.summary`: enough to see later what was understood."""
    return {
        "kind": kind,
        "shape": shape,
        "title": title,
        "mapping": mapping,
        "not_kept": unkept,
        "preview": preview,
        "notes": dict(notes.counts),
        "notes_first": notes.first,
        "accounting": accounting,
        "skipped": [list(s) for s in skipped[:STORED_SKIPS]],
        "skipped_more": max(0, len(skipped) - STORED_SKIPS),
        **(extra or {}),
    }


def summary_lines(
    label: str, summary: dict[str, Any], accounting_line: str, refusal: str | None = None
) -> list[str]:
    """Human-readable form of `summary_dict`, for the CLI (dry-run and real imports alike),
    ending with the refusal a run without --skip-bad / --skip-unmatched would give."""
    out = [f"{label}: shape {summary['shape']} ({summary['title']})"]
    out += [f"  {line}" for line in summary["mapping"]]
    if summary["not_kept"]:
        out.append(f"  not kept: {', '.join(summary['not_kept'])}")
    for i, row in enumerate(summary["preview"], start=1):
        out.append(f"  row {i}:")
        out += [f"    {k}: {clip(v)}" for k, v in row.items()]
    for line in summary.get("extra_lines", []):
        out.append(f"  {line}")
    notes = Tally()
    notes.counts.update(summary["notes"])
    notes.first.update(summary["notes_first"])
    out += [f"  warning: {line}" for line in notes.lines()]
    out.append(f"  {accounting_line}")
    for loc, message in summary["skipped"][:20]:
        out.append(f"  skipped {loc}: {message}")
    more = len(summary["skipped"]) - 20 + summary["skipped_more"]
    if more > 0:
        out.append(f"  ... and {more} more skipped (all in imports.summary up to {STORED_SKIPS})")
    if refusal:
        out.append(f"  without --skip-bad / --skip-unmatched the import refuses: {refusal}")
    return out
