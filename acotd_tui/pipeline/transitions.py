"""The next round: how a student's labels moved after distillation (beyond the paper).

The paper grades the student once. Iterating on a student means diagnosing the *trained*
student on the same pool (`acotd diagnose --adapter RUN`, attempts stored as MODEL+RUN),
grading those attempts (`acotd grade --attempts-of MODEL+RUN --regrade`), and comparing:
which problems went from Hard to Easy, which regressed. `label_transitions` builds the
E/M/H (or ZTE) before → after matrix from the per-problem grades made from each student's
attempts, with the problems in every cell. A second distillation round then samples from the
new labels (the store's current label is the latest grade), and its dataset records round 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acotd_tui.domain import GradeSource
from acotd_tui.errors import AcotdError
from acotd_tui.project import Project
from acotd_tui.store import SCHEME_LABELS

NO_LABEL = "none"


@dataclass
class Transitions:
    before: str
    after: str
    scheme: str
    labels: tuple[str, ...]
    cells: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    only_before: int = 0
    only_after: int = 0

    def count(self, a: str, b: str) -> int:
        return len(self.cells.get((a, b), []))

    @property
    def compared(self) -> int:
        return sum(len(v) for v in self.cells.values())

    @property
    def moved(self) -> dict[tuple[str, str], list[int]]:
        return {k: v for k, v in self.cells.items() if k[0] != k[1] and v}


def _model_id(project: Project, name: str) -> int:
    known = {m.display: m.id for m in project.store.models.all()}
    if name not in known:
        raise AcotdError(
            f"no attempts by model {name!r} (models with attempts: {', '.join(sorted(known)) or 'none'})"
        )
    return known[name]


def _labels_from(project: Project, model: str, scheme: str) -> dict[int, str]:
    """Per problem: the label of the latest automatic grade made from this model's attempts."""
    store = project.store
    model_id = _model_id(project, model)
    pids = store.attempts.problem_ids_with_attempts([model_id])
    attempts = store.attempts.for_problems(pids, [model_id])
    out: dict[int, str] = {}
    for pid in pids:
        mine = {a.id for a in attempts.get(pid, [])}
        for grade in reversed(store.grades.history(pid, scheme)):
            if grade.attempt_id is not None or grade.source == GradeSource.HUMAN:
                continue
            samples = (grade.detail or {}).get("samples") or []
            ids = {s.get("attempt_id") for s in samples if isinstance(s, dict)}
            if ids and ids <= mine:
                out[pid] = grade.label or NO_LABEL
                break
    return out


def label_transitions(
    project: Project, before: str, after: str, scheme: str | None = None
) -> Transitions:
    scheme = scheme or project.config.grading.scheme
    first = _labels_from(project, before, scheme)
    second = _labels_from(project, after, scheme)
    result = Transitions(before, after, scheme, (*SCHEME_LABELS[scheme], NO_LABEL))
    for pid in sorted(set(first) & set(second)):
        result.cells.setdefault((first[pid], second[pid]), []).append(pid)
    result.only_before = len(set(first) - set(second))
    result.only_after = len(set(second) - set(first))
    return result


def transition_markdown(t: Transitions, show: int = 20) -> str:
    used = [
        label for label in t.labels if any(t.count(label, b) or t.count(b, label) for b in t.labels)
    ] or list(t.labels[:-1])
    lines = [
        f"**Label transitions ({t.scheme}): {t.before} → {t.after}, {t.compared} problems graded for both**",
        "",
        "| before \\ after | " + " | ".join(used) + " |",
        "|---|" + "---|" * len(used),
    ]
    for a in used:
        lines.append(f"| {a} | " + " | ".join(str(t.count(a, b)) for b in used) + " |")
    lines += [
        "",
        f"- graded for {t.before} only: {t.only_before}; for {t.after} only: {t.only_after}",
    ]
    for (a, b), pids in sorted(t.moved.items()):
        more = f" (+{len(pids) - show} more)" if len(pids) > show else ""
        lines.append(f"- {a} → {b}: problems {', '.join(map(str, pids[:show]))}{more}")
    return "\n".join(lines) + "\n"


def latest_round_pair(project: Project) -> tuple[str, str] | None:
    """The student and its most recently diagnosed trained version (MODEL+RUN), if any."""
    try:
        student = project.config.role("student").model
    except AcotdError:
        return None
    names = [m.display for m in project.store.models.all()]
    trained = [n for n in names if n.startswith(f"{student}+") and "#" not in n]
    if student not in names or not trained:
        return None
    return student, trained[-1]
