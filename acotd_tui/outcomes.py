"""Did a model's output solve its problem? One answer for every stage, whatever the domain.

- math: the final answer (last `\\boxed{}`, or the configured pattern) compared with the
  reference by `AnswerChecker` (exact/numeric, then math-verify);
- code: the last fenced code block run against the problem's tests in the sandbox
  (`acotd_tui.code.sandbox`); correct means every test passed, and the per-test results
  are kept as detail (status, stdout/stderr tails) for the review screens.
Diagnosis, verification of teacher CoTs, evaluation and CoT edits all call this, so a
problem is judged the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acotd_tui.answers import extract_final_answer
from acotd_tui.checking import AnswerChecker
from acotd_tui.store import CodeTests


@dataclass(frozen=True)
class Submission:
    """What is checked: the problem's domain and reference/tests, and the model's text."""

    domain: str
    reference: str
    answer_text: str
    reasoning: str = ""
    complete: bool = True  # False when the output was cut off while still reasoning
    tests: CodeTests | None = None
    final_answer: str | None = None  # a known final answer (a CoT already parsed)


@dataclass
class Outcome:
    correct: bool | None
    final_answer: str | None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        if "tests" in self.detail:
            return f"{self.detail['passed']}/{self.detail['total']} tests passed" + (
                "" if self.detail["status"] in ("pass", "fail") else f" ({self.detail['status']})"
            )
        return f"answer {self.final_answer}" if self.final_answer is not None else "no final answer"


class OutcomeChecker:
    def __init__(
        self,
        *,
        answer_pattern: str | None = None,
        sandbox_limits: Any = None,
        sandbox_workers: int | None = None,
    ) -> None:
        self.answer_pattern = answer_pattern
        self.sandbox_limits = sandbox_limits
        self.sandbox_workers = sandbox_workers
        self._answers: AnswerChecker | None = None

    @classmethod
    def for_project(cls, project: Any) -> OutcomeChecker:
        from acotd_tui.code.sandbox import SandboxLimits

        code = project.config.code
        limits = SandboxLimits(
            timeout_s=code.timeout_s,
            per_test_timeout_s=code.per_test_timeout_s,
            memory_mb=code.memory_mb,
            isolation_command=tuple(code.isolation_command),
        )
        return cls(
            answer_pattern=project.config.diagnose.answer_pattern,
            sandbox_limits=limits,
            sandbox_workers=code.workers,
        )

    @property
    def answers(self) -> AnswerChecker:
        if self._answers is None:
            self._answers = AnswerChecker()
        return self._answers

    def check(self, submissions: list[Submission]) -> list[Outcome]:
        out: list[Outcome | None] = [None] * len(submissions)
        math_items: list[int] = []
        code_items: list[int] = []
        for i, s in enumerate(submissions):
            (code_items if s.domain == "code" else math_items).append(i)
        if math_items:
            finals = []
            for i in math_items:
                s = submissions[i]
                final = s.final_answer
                if final is None and s.complete:
                    final = extract_final_answer(
                        s.answer_text, self.answer_pattern
                    ) or extract_final_answer(s.reasoning, self.answer_pattern)
                finals.append(final)
            verdicts = self.answers.check_many(
                [(f, submissions[i].reference) for i, f in zip(math_items, finals, strict=True)]
            )
            for i, final, ok in zip(math_items, finals, verdicts, strict=True):
                out[i] = Outcome(
                    bool(ok) if final is not None else False,
                    final,
                    {} if ok is not None or final is None else {"undecidable": True},
                )
        if code_items:
            from acotd_tui.code.sandbox import SandboxPool, extract_code

            jobs = []
            for i in code_items:
                s = submissions[i]
                code = extract_code(s.answer_text) or (
                    extract_code(s.reasoning) if s.complete else None
                )
                if s.tests is None:
                    raise ValueError("a code problem has no tests in the store")
                jobs.append((code, s.tests))
            reports = SandboxPool(self.sandbox_limits, self.sandbox_workers).run_many(jobs)
            for i, report, (code, _) in zip(code_items, reports, jobs, strict=True):
                out[i] = Outcome(
                    report.passed, report.summary(), {**report.to_json(), "code": code}
                )
        return [o for o in out if o is not None]

    def close(self) -> None:
        if self._answers is not None:
            self._answers.close()
            self._answers = None
