"""One rule for a problem's label when several experts' labels of its attempts disagree.

ProcessBench-style files hold several models' solutions to one problem, each with an expert
step label that maps to E/M/H (labels/step_labels.py). Every attempt keeps its own grade;
the problem's label is the majority of those labels, a tie going to the harder label (H over M
over E: a problem some experts saw students fail on is not called easy on a coin flip).
Attempts whose label is undecided (a right answer through a wrong step) do not vote. Any
disagreement, or no vote at all, queues the problem for review.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from acotd_tui.domain import SchemeName
from acotd_tui.store.grades import SCHEME_LABELS

RULE = "majority of the attempts' expert labels, ties to the harder label (H > M > E)"
RULE_VERSION = "step_labels_v1+majority"


@dataclass(frozen=True, slots=True)
class Vote:
    label: str | None
    votes: dict[str, int]
    undecided: int
    disagree: bool

    @property
    def needs_review(self) -> bool:
        return self.disagree or self.label is None

    def describe(self) -> str:
        parts = [f"{k}×{n}" for k, n in sorted(self.votes.items())]
        if self.undecided:
            parts.append(f"undecided×{self.undecided}")
        return ", ".join(parts) or "no labels"


def majority_label(labels: Sequence[str | None], scheme: str = SchemeName.EMH) -> Vote:
    order = SCHEME_LABELS[scheme]  # easiest first
    counts = Counter(label for label in labels if label is not None)
    undecided = sum(1 for label in labels if label is None)
    if not counts:
        return Vote(None, {}, undecided, False)
    best = max(counts.items(), key=lambda kv: (kv[1], order.index(kv[0])))[0]
    return Vote(best, dict(counts), undecided, len(counts) > 1)
