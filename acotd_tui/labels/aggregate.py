"""From per-sample grades to one label per problem (the documented aggregation rules).

Two rules for scheme "emh", chosen by `[grading] rule`:

"paper" (default; ACoTD Algorithm 1 as written, §3.2): the judge's E/M/H verdict is the
label. With several samples, the majority judge verdict over all samples; ties go to the
harder label (the conservative choice: Hard problems get the long CoT). The symbolic check
is kept beside it: a verdict that contradicts the check (Easy on a wrong answer,
Medium/Hard on a right one) is a conflict, flagged and queued for review, but the label
stands and the problem stays in the sampling pool, so the E:M:H proportions that drive
sampling come from the whole graded pool. Unparseable replies cast no vote.

"checked" (an option, beyond the paper). The symbolic check is trusted for *whether* the answer is right; the
judge is needed for *how* the reasoning fails:
1. pass rate = correct samples / samples checked. If it reaches `easy_pass_rate` (default
   1.0: every sample correct) the problem is Easy.
2. Otherwise the label is the majority judge label among the wrong samples; Medium/Hard
   ties go to Hard (the conservative choice: Hard problems get the long CoT).
3. A judge label that contradicts the check (Easy on a wrong answer, Medium/Hard on a right
   one) is a conflict: both are kept, the aggregate is flagged and enters the review
   queue. A wrong sample judged Easy casts no Medium/Hard vote; if no vote is left the
   problem has no label and needs review.
4. Samples whose judge reply could not be parsed cast no vote; if nothing is left to
   decide on, the problem needs review.
ZTE (scheme "zte", either rule): pass rate as above gives "easy"; otherwise the median level of the
wrong samples (upper median), from the judge or the PRM.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, get_args

from acotd_tui.config import LabelRule
from acotd_tui.domain import EMH, ZTE, SchemeName

GRADING_RULES: tuple[str, ...] = get_args(LabelRule)  # declared with grading.rule


@dataclass(frozen=True)
class SampleGrade:
    attempt_id: int
    label: str | None  # None: the grader could not decide
    correct: bool | None  # the symbolic check


@dataclass
class Aggregate:
    label: str | None
    needs_review: bool
    conflict: str | None
    pass_rate: float | None
    rationale: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def symbolic_correct(self) -> bool | None:
        return None if self.pass_rate is None else self.pass_rate >= 1.0


def sample_conflict(label: str | None, correct: bool | None) -> str | None:
    if label is None or correct is None:
        return None
    if label == EMH.easy and not correct:
        return f"judge says {EMH.display_name(label)} but the answer is wrong"
    if _harder_than_easy(label) and correct:
        return f"judge says {EMH.display_name(label)} but the answer is right"
    return None


def _harder_than_easy(label: str | None) -> bool:
    """An E/M/H label other than Easy: a vote that the student cannot solve the problem."""
    return EMH.is_label(label) and label != EMH.easy


def _majority(votes: Counter[str | None]) -> str | None:
    """The label with the most votes; a tie goes to the harder label."""
    return max(votes, key=lambda k: (votes[k], EMH.index(k or "")))


def _pass_rate(samples: list[SampleGrade]) -> float | None:
    checked = [s for s in samples if s.correct is not None]
    return None if not checked else sum(bool(s.correct) for s in checked) / len(checked)


def _evidence(
    samples: list[SampleGrade], rule: str, rule_text: str
) -> tuple[float | None, str | None, dict[str, Any]]:
    """What both E/M/H rules start from: the pass rate, the judge-vs-check conflicts, and the
    stored detail (every sample, the rule and how it decides)."""
    if not samples:
        raise ValueError("no samples to aggregate")
    rate = _pass_rate(samples)
    conflicts = [c for s in samples if (c := sample_conflict(s.label, s.correct))]
    detail = {
        "samples": [
            {"attempt_id": s.attempt_id, "label": s.label, "correct": s.correct} for s in samples
        ],
        "pass_rate": rate,
        "grading_rule": rule,
        "rule": rule_text,
    }
    return rate, "; ".join(sorted(set(conflicts))) or None, detail


def aggregate_emh(samples: list[SampleGrade], easy_pass_rate: float = 1.0) -> Aggregate:
    rate, conflict, detail = _evidence(
        samples,
        "checked",
        f"E if pass rate >= {easy_pass_rate}; else majority judge label of wrong samples (tie -> H)",
    )
    n = len(samples)
    if rate is not None and rate >= easy_pass_rate:
        return Aggregate(
            EMH.easy, False, conflict, rate, f"{rate:.0%} of {n} samples correct", detail
        )
    votes = Counter(
        s.label for s in samples if s.correct is not True and _harder_than_easy(s.label)
    )
    if rate is None:  # nothing could be checked: the judge alone decides
        votes = Counter(s.label for s in samples if EMH.is_label(s.label))
        if votes:
            label = _majority(votes)
            return Aggregate(
                label,
                True,
                conflict,
                None,
                "answers could not be checked; judge label only",
                detail,
            )
    if not votes:
        return Aggregate(
            None, True, conflict, rate, "no usable judge verdict on the wrong samples", detail
        )
    label = _majority(votes)
    wrong = sum(1 for s in samples if s.correct is not True)
    return Aggregate(
        label,
        False,
        conflict,
        rate,
        f"{wrong} of {n} samples wrong; judge votes {dict(votes)}",
        detail,
    )


def aggregate_emh_paper(samples: list[SampleGrade]) -> Aggregate:
    """Algorithm 1 as written: the judge's verdict is the label; the check is shown beside it."""
    rate, conflict, detail = _evidence(
        samples,
        "paper",
        "majority judge verdict over all samples (tie -> harder); check shown beside it",
    )
    votes = Counter(s.label for s in samples if EMH.is_label(s.label))
    if not votes:
        return Aggregate(None, True, conflict, rate, "no usable judge verdict", detail)
    label = _majority(votes)
    checked = "not checked" if rate is None else f"check: {rate:.0%} of samples correct"
    return Aggregate(
        label,
        conflict
        is not None,  # queued for review; the label stays and the problem stays in the pool
        conflict,
        rate,
        f"judge votes {dict(votes)}; {checked}",
        detail,
    )


def aggregate(
    scheme: str, rule: str, samples: list[SampleGrade], easy_pass_rate: float = 1.0
) -> Aggregate:
    """The per-problem label under the configured scheme and rule."""
    if rule not in GRADING_RULES:
        raise ValueError(f"unknown grading rule {rule!r} ({', '.join(GRADING_RULES)})")
    if scheme == SchemeName.ZTE:
        return aggregate_zte(samples, easy_pass_rate)
    if rule == "paper":
        return aggregate_emh_paper(samples)
    return aggregate_emh(samples, easy_pass_rate)


def aggregate_zte(samples: list[SampleGrade], easy_pass_rate: float = 1.0) -> Aggregate:
    if not samples:
        raise ValueError("no samples to aggregate")
    rate = _pass_rate(samples)
    n = len(samples)
    detail = {
        "samples": [
            {"attempt_id": s.attempt_id, "label": s.label, "correct": s.correct} for s in samples
        ],
        "pass_rate": rate,
        "rule": f"easy if pass rate >= {easy_pass_rate}; else upper median level of wrong samples",
    }
    if rate is not None and rate >= easy_pass_rate:
        return Aggregate(ZTE.easy, False, None, rate, f"{rate:.0%} of {n} samples correct", detail)
    levels = sorted(
        int(s.label) for s in samples if s.correct is not True and s.label and s.label.isdigit()
    )
    if not levels:
        return Aggregate(None, True, None, rate, "no usable level for the wrong samples", detail)
    level = levels[len(levels) // 2]
    return Aggregate(str(level), False, None, rate, f"levels of wrong samples {levels}", detail)
