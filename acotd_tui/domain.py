"""The closed vocabularies of the domain, declared once: label schemes, job and run statuses,
CoT kinds, review states, grade sources.

Every member is a `StrEnum`, so it equals (and is stored as) its string: the SQLite values
and the stored JSON are what they were before these types existed, and no migration was
needed. This module is a leaf: it imports nothing from the app, so the store, the screens and
the pipeline can all use it (an import-linter contract keeps it so).

A `Scheme` is one labelling scheme with everything the app needs to know about its labels:
their order (easiest first), how they are shown, and which CoT kind each level gets.
- EMH, the paper's scheme (ACoTD §3.2): Easy / Medium / Hard; Easy and Medium get short CoTs
  by teacher A, Hard gets long CoTs by teacher B (§3.3).
- ZTE: "easy" plus levels 1-5. By default every question gets a long CoT; the `split` option
  (`[sampling] zte_cot = "split"`) keeps short CoTs for easy-3 and long ones for 4-5.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class SchemeName(StrEnum):
    EMH = "emh"
    ZTE = "zte"


class CotKind(StrEnum):
    SHORT = "short"
    LONG = "long"


class ZteCot(StrEnum):
    """ZTE's CoT-kind rule (`[sampling] zte_cot`): long for every level, or split by level."""

    LONG = "long"
    SPLIT = "split"


class JobStatus(StrEnum):
    """A job row's status (store/jobs.py). `stale` is not a status: it is shown for a running
    job whose worker died, and `stopped` is the spending cap, not a failure."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"

    @property
    def active(self) -> bool:
        """Queued or running: a worker holds it or will."""
        return self in ACTIVE_JOB_STATUSES

    @property
    def resumable(self) -> bool:
        """Failed, cancelled or stopped by the cap: requeueing continues where it ended."""
        return self in RESUMABLE_JOB_STATUSES


#: In the order the store lists them (an SQL `IN (...)` takes them as parameters).
ACTIVE_JOB_STATUSES: tuple[JobStatus, ...] = (JobStatus.QUEUED, JobStatus.RUNNING)
RESUMABLE_JOB_STATUSES: tuple[JobStatus, ...] = (
    JobStatus.FAILED,
    JobStatus.CANCELLED,
    JobStatus.STOPPED,
)


class RunStatus(StrEnum):
    """A training run's or an evaluation's own status (train_runs, evals), beside its job's."""

    CREATED = "created"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ReviewQueue(StrEnum):
    """The label review queues (Review screen, `acotd review export --queue`)."""

    NEEDS_REVIEW = "needs_review"  # automatic grading could not decide and no human has
    CONFLICT = "conflict"  # the judge contradicts the answer check, no human label yet
    DISAGREEMENT = "disagreement"  # a human label differs from the latest automatic one
    SPOT_CHECK = "spot_check"  # a seeded random sample of the UNLABELLED queue
    UNLABELLED = "unlabelled"  # graded problems without a human label
    HUMAN = "human"  # problems a person has labelled
    ALL = "all"  # every problem with a label row

    @property
    def heading(self) -> str:
        """How the Review screen names the queue."""
        return _QUEUE_TITLES[self]


_QUEUE_TITLES = {
    ReviewQueue.NEEDS_REVIEW: "needs review",
    ReviewQueue.CONFLICT: "judge vs check conflicts",
    ReviewQueue.DISAGREEMENT: "judge vs human disagreements",
    ReviewQueue.SPOT_CHECK: "random spot check",
    ReviewQueue.UNLABELLED: "without a human label",
    ReviewQueue.HUMAN: "human-labelled",
    ReviewQueue.ALL: "all labelled",
}


class ReviewState(StrEnum):
    """A teacher CoT's human review state (cots.review)."""

    NONE = "none"
    QUEUED = "queued"
    APPROVED = "approved"
    REJECTED = "rejected"


class GradeSource(StrEnum):
    """Who gave a grade (grades.source). Every source but `human` is automatic."""

    JUDGE = "judge"
    RULE = "rule"
    PRM = "prm"
    HUMAN = "human"
    IMPORT = "import"

    @property
    def automatic(self) -> bool:
        return self is not GradeSource.HUMAN


AUTO_GRADE_SOURCES: tuple[GradeSource, ...] = tuple(s for s in GradeSource if s.automatic)


@dataclass(frozen=True)
class Scheme:
    """One labelling scheme: its labels easiest first, their display names, the CoT kind
    each gets. `long_from` is the easiest label that gets a long CoT when CoT kinds are
    split by level; `long_for_all` says the scheme's default gives every level a long CoT
    (ZTE), which its `zte_cot = "split"` option turns off."""

    name: SchemeName
    labels: tuple[str, ...]
    display_names: tuple[str, ...]
    long_from: str
    long_for_all: bool = False
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.display_names) != len(self.labels) or self.long_from not in self.labels:
            raise ValueError(f"scheme {self.name}: inconsistent declaration")
        object.__setattr__(self, "_index", {label: i for i, label in enumerate(self.labels)})

    @property
    def easy(self) -> str:
        """The easiest label (a correct answer's label when the pass rate decides)."""
        return self.labels[0]

    @property
    def hardest(self) -> str:
        return self.labels[-1]

    def is_label(self, value: object) -> bool:
        return isinstance(value, str) and value in self._index

    def index(self, label: str) -> int:
        """0 for the easiest label; ValueError for a label not in this scheme."""
        try:
            return self._index[label]
        except KeyError:
            raise ValueError(f"{label!r} is not a {self.name} label") from None

    def harder(self, a: str, b: str) -> str:
        """The harder of two labels; a tie (the same label) gives that label."""
        return a if self.index(a) >= self.index(b) else b

    def hardest_of(self, labels: Iterable[str]) -> str:
        """The hardest of the labels given (ties in aggregation go to the harder label)."""
        out: str | None = None
        for label in labels:
            out = label if out is None else self.harder(out, label)
        if out is None:
            raise ValueError("hardest_of needs at least one label")
        return out

    def display_name(self, label: str) -> str:
        """How a label is written for a person; an unknown text is shown as it is."""
        i = self._index.get(label)
        return label if i is None else self.display_names[i]

    @property
    def aliases(self) -> dict[str, str]:
        """Lower-case words a person or a judge may write for a label: the display names
        ("medium") and the labels themselves ("m"), each mapped to the label ("M")."""
        named = {n.lower(): label for label, n in zip(self.labels, self.display_names, strict=True)}
        return named | {label.lower(): label for label in self.labels}

    @property
    def long_labels(self) -> frozenset[str]:
        """The labels that get a long CoT when CoT kinds are split by level."""
        return frozenset(self.labels[self.index(self.long_from) :])

    def split_cot_kind(self, label: str) -> CotKind:
        """The CoT kind by level: long from `long_from` up, short below (and for a text that
        is no label of this scheme)."""
        return CotKind.LONG if label in self.long_labels else CotKind.SHORT

    def cot_kind(self, label: str, zte_cot: str = ZteCot.LONG) -> CotKind:
        """The CoT kind the scheme gives a label. `zte_cot` is `[sampling] zte_cot`; it only
        matters for a scheme with `long_for_all` (ZTE): "long" (default) gives every level
        a long CoT, "split" splits by level. EMH always splits (§3.3)."""
        if self.long_for_all and zte_cot == ZteCot.LONG:
            return CotKind.LONG
        return self.split_cot_kind(label)


EMH = Scheme(
    name=SchemeName.EMH,
    labels=("E", "M", "H"),
    display_names=("Easy", "Medium", "Hard"),
    long_from="H",
)
ZTE = Scheme(
    name=SchemeName.ZTE,
    labels=("easy", "1", "2", "3", "4", "5"),
    display_names=("easy", "1", "2", "3", "4", "5"),
    long_from="4",
    long_for_all=True,
)
SCHEMES: dict[SchemeName, Scheme] = {EMH.name: EMH, ZTE.name: ZTE}


def scheme(name: str) -> Scheme:
    """The scheme called `name` ("emh" or "zte"); ValueError for any other name."""
    try:
        return SCHEMES[SchemeName(name)]
    except ValueError:
        raise ValueError(f"unknown label scheme {name!r} ({', '.join(SchemeName)})") from None


def is_scheme(name: object) -> bool:
    return isinstance(name, str) and name in SCHEMES
