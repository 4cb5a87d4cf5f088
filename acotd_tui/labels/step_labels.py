"""Turning a human expert's step label into an ACoTD difficulty label.

ProcessBench-style data says, for one solution, whether its final answer is right and which
step (0-based) is the earliest wrong one (-1: none). The ACoTD categories are about the
student's reasoning, so the mapping is:

- right answer, no wrong step                 -> E (correct, logical, complete)
- wrong answer, first error in the later half -> M (basically sound, a slip along the way)
- wrong answer, no step marked wrong          -> M (sound steps, a slip in the final answer)
- wrong answer, first error in the first half -> H (broken or confused from early on)
- right answer reached through a wrong step   -> no label; needs review (the categories do
  not cover it, and a person should decide)

The half-way cut is `late_fraction` (0.5 by default): an error at step k of n is "late" when
k / n >= late_fraction.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepLabelGrade:
    label: str | None
    rationale: str
    needs_review: bool
    conflict: str | None


def emh_from_first_error(
    correct: bool, first_error: int, n_steps: int, late_fraction: float = 0.5
) -> StepLabelGrade:
    if n_steps <= 0:
        raise ValueError("a solution has at least one step")
    if correct and first_error < 0:
        return StepLabelGrade(
            "E", f"expert: all {n_steps} steps correct, answer correct", False, None
        )
    if correct:
        return StepLabelGrade(
            None,
            f"expert: answer correct but step {first_error + 1} of {n_steps} is wrong",
            True,
            "correct answer through a wrong step",
        )
    if first_error < 0:
        return StepLabelGrade(
            "M", f"expert: all {n_steps} steps correct, final answer wrong", False, None
        )
    late = first_error / n_steps >= late_fraction
    where = f"first wrong step {first_error + 1} of {n_steps}"
    return StepLabelGrade("M" if late else "H", f"expert: {where}, answer wrong", False, None)
