"""Answer extraction and checking on real model-output shapes."""

from __future__ import annotations

import ast
import json
import threading

import pytest

from acotd_tui.answers import (
    extract_boxed_all,
    extract_final_answer,
    extract_last_boxed,
    split_reasoning,
)
from acotd_tui.checking import AnswerChecker, quick_check


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so $x = \\boxed{\\frac{1}{2}}$", "\\frac{1}{2}"),
        (
            "\\boxed{1} then \\boxed{\\left\\{ 3, \\frac{\\pi}{2} \\right\\}}",
            "\\left\\{ 3, \\frac{\\pi}{2} \\right\\}",
        ),
        ("The answer is \\boxed 9.", "9."),
        ("$\\fbox{204}$ minutes", "204"),
        ("broken \\boxed{12", None),
        ("\\boxed{5} and later \\boxed{}", "5"),
    ],
)
def test_last_boxed(text, answer):
    assert extract_last_boxed(text) == answer


def test_boxed_all():
    assert extract_boxed_all("\\boxed{1} x \\boxed 2 y \\fbox{3}") == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("step\nA: 26", "26"),
        ("So the answer is 42.", "42"),
        ("Final Answer: The final answer is $5$. I hope it is correct.", "5"),
        ("blah\n#### 1,234", "1234"),
        ("Answer: \\boxed{7}", "7"),
        ("no answer here", None),
    ],
)
def test_final_answer(text, answer):
    assert extract_final_answer(text) == answer


def test_configured_pattern():
    assert extract_final_answer("Result => 12\nResult => 13", r"Result => (\d+)") == "13"
    assert extract_final_answer("nothing", r"Result => (\d+)") is None


def test_split_reasoning_shapes():
    s = split_reasoning("<think>plan</think>\n\nSo \\boxed{3}")
    assert (s.reasoning, s.answer_text, s.closed) == ("plan", "So \\boxed{3}", True)
    s = split_reasoning(
        "plan without opening tag</think>answer"
    )  # Qwen3 template pre-fills <think>
    assert (s.reasoning, s.answer_text) == ("plan without opening tag", "answer")
    s = split_reasoning("<think>cut off mid-thought")
    assert (s.reasoning, s.answer_text, s.closed) == ("cut off mid-thought", "", False)
    s = split_reasoning("answer only", reasoning_field="separate reasoning")
    assert (s.reasoning, s.answer_text) == ("separate reasoning", "answer only")


def test_gpt3_gsm8k_solutions_parse_to_their_known_correctness(shared_data):
    """Every GPT-3 solution's `A: N` answer, compared with the reference, gives `is_correct`."""
    rows = [json.loads(line) for line in (shared_data / "gsm8k" / "model_solutions.jsonl").open()]
    mismatches = total = 0
    for row in rows:
        reference = extract_final_answer(row["ground_truth"])
        for key in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"):
            verdict = quick_check(extract_final_answer(row[key]["solution"]), reference)
            total += 1
            mismatches += verdict is not row[key]["is_correct"]
    assert total == 5276
    assert mismatches <= total * 0.005, f"{mismatches} of {total} disagree with is_correct"


def test_qwen_math_samples_parse_to_their_known_scores(shared_data):
    """Real n=8 Qwen2.5-Math outputs: our extraction + math-verify reproduces `score`."""
    rows = [
        json.loads(line)
        for line in (shared_data / "qwen25_math_samples" / "math_cot_100.jsonl").open()
    ]
    pairs, expected = [], []
    for row in rows:
        for text, score in zip(
            ast.literal_eval(row["response"])
            if isinstance(row["response"], str)
            else row["response"],
            ast.literal_eval(row["score"]) if isinstance(row["score"], str) else row["score"],
            strict=True,
        ):
            pairs.append((extract_final_answer(text), str(row["gt"])))
            expected.append(bool(score))
    with AnswerChecker(workers=2) as checker:
        got = checker.check_many(pairs)
    agree = sum(g is e for g, e in zip(got, expected, strict=True))
    assert len(pairs) == 800
    assert agree / len(pairs) >= 0.97, f"agreement {agree}/{len(pairs)}"


def test_checker_works_from_threads_and_decides_symbolically():
    """math-verify refuses threads (signal.alarm); the checker's worker processes don't care."""
    results: list = []
    with AnswerChecker() as checker:
        t = threading.Thread(
            target=lambda: results.append(
                checker.check_many(
                    [
                        ("\\frac{1}{2}", "0.5"),
                        ("\\frac{\\pi}{2}", "\\pi/2"),
                        ("(x+1)^2", "x^2+2x+1"),
                        ("3", "4"),
                        ("\\sqrt{18}", "3\\sqrt{2}"),
                    ]
                )
            )
        )
        t.start()
        t.join(60)
        # "3" vs "4" and 1/2 vs 0.5 (exact numbers) never left the thread
        assert checker.sympy_checks == 3
    assert results == [[True, True, True, False, True]]
