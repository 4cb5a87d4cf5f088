"""Human spot checks of teacher CoTs: approve, reject (with a reason), or edit.

An edit keeps the teacher's original text and stores the edited one beside it; the edited
final answer is re-checked against the reference at once, so an edit can never slip an
unverified CoT into an export. Every action is logged with the CoT.
"""

from __future__ import annotations

from dataclasses import replace

from acotd_tui.answers import extract_final_answer
from acotd_tui.domain import ReviewState
from acotd_tui.errors import AcotdError
from acotd_tui.outcomes import OutcomeChecker
from acotd_tui.store import Cot, Store

from .verify import check_answers


class CotReviewService:
    def __init__(self, store: Store, checker: OutcomeChecker | None = None) -> None:
        self.store = store
        self._checker = checker

    @property
    def checker(self) -> OutcomeChecker:
        if self._checker is None:
            self._checker = OutcomeChecker()
        return self._checker

    def close(self) -> None:
        if self._checker is not None:
            self._checker.close()
            self._checker = None

    def approve(self, cot_id: int, note: str | None = None) -> Cot:
        return self.store.cots.set_review(cot_id, ReviewState.APPROVED, note)

    def reject(self, cot_id: int, reason: str) -> Cot:
        if not reason.strip():
            raise AcotdError("a rejection needs a reason")
        return self.store.cots.set_review(cot_id, ReviewState.REJECTED, reason.strip())

    def reopen(self, cot_id: int) -> Cot:
        return self.store.cots.set_review(cot_id, ReviewState.QUEUED, "reopened")

    def edit(self, cot_id: int, reasoning: str, answer_text: str) -> Cot:
        cot = self.store.cots.get(cot_id)
        problem = self.store.problems.find(cot.problem_id)
        if problem is not None and problem.domain == "code":
            from acotd_tui.code.sandbox import extract_code

            final = "code" if extract_code(answer_text) else None
        else:
            final = extract_final_answer(answer_text) or extract_final_answer(reasoning)
        cot = replace(
            cot,
            reasoning=reasoning,
            answer_text=answer_text,
            edited_reasoning=None,
            edited_answer_text=None,
        )
        ok, detail = check_answers(self.store, self.checker, [replace(cot, final_answer=final)])[
            cot.id
        ]
        return self.store.cots.edit(
            cot_id,
            reasoning.strip(),
            answer_text.strip(),
            final,
            ok,
            "edited by a person; " + detail,
        )
