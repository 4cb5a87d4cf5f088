"""Human review of difficulty labels: set, clear, undo, CSV round-trip, agreement statistics.

Human labels are grades with source "human", appended to the history like any other; the
store makes them win over every automatic grade, now and later. "Undo" appends the human
state that preceded the last human action, so the history stays complete.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from acotd_tui.domain import EMH, ZTE, GradeSource, SchemeName
from acotd_tui.errors import AcotdError
from acotd_tui.importing.readers import CSV_FIELD_LIMIT
from acotd_tui.store import SCHEME_LABELS, NewGrade, Store

CSV_FIELDS = [
    "problem_id",
    "source",
    "split",
    "problem",
    "reference",
    "student_answer",
    "student_correct",
    "auto_label",
    "auto_source",
    "human_label",
    "note",
]


def normalize_label(value: str, scheme: str) -> str:
    text = value.strip()
    if scheme == SchemeName.EMH:
        text = EMH.aliases.get(text.lower(), text.upper())
    elif text.lower() == ZTE.easy:
        text = ZTE.easy
    if text not in SCHEME_LABELS[scheme]:
        raise AcotdError(
            f"label {value!r} is not one of {', '.join(SCHEME_LABELS[scheme])} ({scheme})"
        )
    return text


class ReviewService:
    def __init__(self, store: Store, scheme: str) -> None:
        self.store = store
        self.scheme = scheme

    def _check_problem(self, problem_id: int) -> None:
        if self.store.problems.find(problem_id) is None:
            raise AcotdError(f"no problem {problem_id}")

    def set_label(self, problem_id: int, label: str, note: str | None = None) -> str:
        self._check_problem(problem_id)
        value = normalize_label(label, self.scheme)
        self.store.grades.add(
            [NewGrade(problem_id, self.scheme, value, GradeSource.HUMAN, note=note)]
        )
        return value

    def clear_label(self, problem_id: int, note: str | None = None) -> None:
        self._check_problem(problem_id)
        self.store.grades.add(
            [NewGrade(problem_id, self.scheme, None, GradeSource.HUMAN, note=note or "cleared")]
        )

    def undo(self, problem_id: int) -> str | None:
        """Revert the last human action on a problem; returns the human label now in force."""
        humans = [
            g
            for g in self.store.grades.history(problem_id, self.scheme)
            if g.source == GradeSource.HUMAN
        ]
        if not humans:
            raise AcotdError(f"problem {problem_id} has no human label to undo")
        previous = humans[-2].label if len(humans) > 1 else None
        self.store.grades.add(
            [
                NewGrade(
                    problem_id,
                    self.scheme,
                    previous,
                    GradeSource.HUMAN,
                    note=f"undo of grade {humans[-1].id}",
                )
            ]
        )
        return previous

    # -- CSV ---------------------------------------------------------------------------------
    def export_csv(self, path: Path, queue: str = "all") -> int:
        ids = self.store.grades.queue(self.scheme, queue, limit=10_000_000)
        labels = self.store.grades.labels(self.scheme, ids)
        rows = 0
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                attempts = self.store.attempts.for_problems(chunk)
                for problem in self.store.problems.get_many(chunk):
                    label = labels.get(problem.id)
                    found = attempts.get(problem.id)
                    first = found[0] if found else None
                    writer.writerow(
                        {
                            "problem_id": problem.id,
                            "source": problem.source,
                            "split": problem.split,
                            "problem": problem.problem,
                            "reference": problem.answer,
                            "student_answer": first.final_answer if first else "",
                            "student_correct": ""
                            if first is None or first.correct is None
                            else int(first.correct),
                            "auto_label": (label.auto_label or "") if label else "",
                            "auto_source": (label.auto_source or "") if label else "",
                            "human_label": (label.human_label or "") if label else "",
                            "note": "",
                        }
                    )
                    rows += 1
        return rows

    def import_csv(self, path: Path) -> int:
        """Apply the `human_label` column (blank = leave as is); all or nothing.

        Two rows for one problem with different labels are refused, naming both lines:
        letting the last one win would silently drop a reviewer's decision. The same label
        twice is one decision and counts once."""
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                csv.field_size_limit(CSV_FIELD_LIMIT)
                reader = csv.DictReader(fh, strict=True)
                if not reader.fieldnames or not {"problem_id", "human_label"} <= set(
                    reader.fieldnames
                ):
                    raise AcotdError(f"{path}: needs columns problem_id and human_label")
                twice = sorted({c for c in reader.fieldnames if reader.fieldnames.count(c) > 1})
                if twice:  # the reader would keep the last of them without a word
                    raise AcotdError(f"{path}: column {twice[0]!r} is given twice in the header")
                rows = list(enumerate(reader, start=2))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise AcotdError(f"{path}: cannot read ({exc})") from None
        current = self.store.grades.labels(self.scheme)
        grades = []
        first: dict[int, tuple[int, str]] = {}
        conflicts: list[str] = []
        for line, row in rows:
            raw = (row.get("human_label") or "").strip()
            if not raw:
                continue
            try:
                pid = _problem_id(row["problem_id"])
                label = normalize_label(raw, self.scheme)
            except (ValueError, AcotdError) as exc:
                raise AcotdError(f"{path}, line {line}: {exc}") from None
            if pid in first:
                first_line, first_label = first[pid]
                if first_label != label:
                    conflicts.append(
                        f"problem {pid}: line {first_line} says {first_label}, line {line} says {label}"
                    )
                continue
            first[pid] = (line, label)
            if self.store.problems.find(pid) is None:
                raise AcotdError(f"{path}, line {line}: no problem {pid}")
            existing = current.get(pid)
            if existing is not None and existing.human_label == label:
                continue
            grades.append(
                NewGrade(
                    pid,
                    self.scheme,
                    label,
                    GradeSource.HUMAN,
                    note=(row.get("note") or "").strip() or f"imported from {path.name}",
                )
            )
        if conflicts:
            more = f" (and {len(conflicts) - 3} more)" if len(conflicts) > 3 else ""
            raise AcotdError(
                f"{path}: conflicting rows, nothing applied: {'; '.join(conflicts[:3])}{more}"
            )
        self.store.grades.add(grades)
        return len(grades)

    # -- statistics --------------------------------------------------------------------------
    def stats(self) -> ReviewStats:
        labels = SCHEME_LABELS[self.scheme]
        pairs = self.store.grades.human_auto_pairs(self.scheme)
        return ReviewStats(
            scheme=self.scheme,
            labels=labels,
            distribution=self.store.grades.distribution(self.scheme),
            confusion=confusion_matrix(pairs, labels),
            kappa=cohens_kappa(pairs, labels),
            compared=len(pairs),
            agreement=(sum(a == h for a, h in pairs) / len(pairs)) if pairs else None,
        )


@dataclass
class ReviewStats:
    scheme: str
    labels: tuple[str, ...]
    distribution: dict[str, dict[str, int]]
    confusion: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # auto label -> human label -> n
    kappa: float | None = None
    compared: int = 0
    agreement: float | None = None

    def ratio(self, source: str = "(all)") -> str:
        counts = self.distribution.get(source, {})
        return ":".join(str(counts.get(label, 0)) for label in self.labels)


def confusion_matrix(
    pairs: list[tuple[str, str]], labels: tuple[str, ...]
) -> dict[str, dict[str, int]]:
    matrix = {a: {h: 0 for h in labels} for a in labels}
    for auto, human in pairs:
        if auto in matrix and human in matrix[auto]:
            matrix[auto][human] += 1
    return matrix


def cohens_kappa(pairs: list[tuple[str, str]], labels: tuple[str, ...]) -> float | None:
    """Agreement beyond chance between the automatic grader and humans; None if undefined."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == h for a, h in pairs) / n
    expected = sum(
        (sum(a == k for a, _ in pairs) / n) * (sum(h == k for _, h in pairs) / n) for k in labels
    )
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else None
    return (observed - expected) / (1 - expected)


def _problem_id(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise AcotdError(f"problem_id {text!r} is not a whole number") from None
