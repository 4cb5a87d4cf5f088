"""Code problems with executable tests, in the shapes of the common datasets.

- humaneval:     `prompt` (signature + docstring), `test` (defines check(candidate)),
                 `entry_point`, optional `canonical_solution`;
- mbpp:          `text`, `test_list` (asserts), optional `code`, `test_setup_code`;
- apps:          `question`, `input_output` (JSON: inputs/outputs, optional fn_name),
                 optional `solutions` (JSON list);
- livecodebench: `question_content`, `public_test_cases` / `private_test_cases` (JSON list
                 of {input, output, testtype: stdin|functional}), `metadata` (JSON with
                 func_name), `starter_code`.
Problems get domain "code"; the reference "answer" is the reference solution when the file
has one. The tests go to the store's problem_tests table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from acotd_tui.store import CodeTests, NewProblem

from .readers import Record, RecordError

CODE_SHAPES = ("humaneval", "mbpp", "apps", "livecodebench")


def detect_code_shape(keys: set[str]) -> str | None:
    if {"prompt", "test", "entry_point"} <= keys:
        return "humaneval"
    if {"text", "test_list"} <= keys:
        return "mbpp"
    if {"question", "input_output"} <= keys:
        return "apps"
    if "question_content" in keys and keys & {"public_test_cases", "private_test_cases"}:
        return "livecodebench"
    return None


def _json(value: Any, name: str, location: str) -> Any:
    if isinstance(value, (list, dict)):
        return value
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError):
        raise RecordError(location, f"field {name!r} is not valid JSON") from None


def _need(record: Record, key: str, location: str) -> Any:
    value = record.get(key)
    if value is None or value == "":
        raise RecordError(location, f"missing field {key!r}")
    return value


@dataclass(frozen=True)
class CodePlan:
    shape: str

    def convert(
        self,
        record: Record,
        location: str,
        *,
        source: str,
        split: str,
        row: int | None = None,
        notes: list | None = None,
        dropped: set[str] | None = None,  # unused: code rows keep what their shape reads
    ) -> NewProblem:
        problem, answer, tests = getattr(self, f"_{self.shape}")(record, location)
        if not tests.cases:
            raise RecordError(location, "no test cases")
        metadata = {
            k: v
            for k, v in record.items()
            if k
            in ("task_id", "problem_id", "question_id", "question_title", "difficulty", "platform")
            and isinstance(v, (str, int))
        }
        return NewProblem(
            problem=problem,
            answer=answer or "(see tests)",
            source=source,
            split=split,
            domain="code",
            solution=answer,
            metadata=metadata or None,
            source_row=row,
            tests=tests,
        )

    def _humaneval(self, r: Record, loc: str) -> tuple[str, str | None, CodeTests]:
        prompt, entry = _need(r, "prompt", loc), _need(r, "entry_point", loc)
        test = _need(r, "test", loc) + f"\ncheck({entry})\n"
        solution = (prompt + r["canonical_solution"]) if r.get("canonical_solution") else None
        # The prompt is setup: its helpers (HumanEval/32's `poly`) run in the checker, trusted.
        return prompt, solution, CodeTests("assert", [test], entry, prompt)

    def _mbpp(self, r: Record, loc: str) -> tuple[str, str | None, CodeTests]:
        tests = r.get("test_list")
        if not isinstance(tests, list) or not tests:
            raise RecordError(loc, "field 'test_list' must be a non-empty list")
        problem = f"{_need(r, 'text', loc)}\nYour code should pass this test:\n{tests[0]}"
        return (
            problem,
            r.get("code") or None,
            CodeTests("assert", list(tests), None, r.get("test_setup_code") or None),
        )

    def _apps(self, r: Record, loc: str) -> tuple[str, str | None, CodeTests]:
        io = _json(_need(r, "input_output", loc), "input_output", loc)
        inputs, outputs = io.get("inputs", []), io.get("outputs", [])
        if len(inputs) != len(outputs):
            raise RecordError(loc, f"{len(inputs)} inputs but {len(outputs)} outputs")
        if io.get("fn_name"):
            tests = CodeTests(
                "functional",
                [
                    {
                        "args": list(a),
                        "expected": o[0] if isinstance(o, list) and len(o) == 1 else o,
                    }
                    for a, o in zip(inputs, outputs, strict=True)
                ],
                io["fn_name"],
            )
        else:
            tests = CodeTests(
                "stdio",
                [{"input": str(a), "output": str(o)} for a, o in zip(inputs, outputs, strict=True)],
            )
        solutions = _json(r["solutions"], "solutions", loc) if r.get("solutions") else []
        return _need(r, "question", loc), (solutions[0] if solutions else None), tests

    def _livecodebench(self, r: Record, loc: str) -> tuple[str, str | None, CodeTests]:
        cases: list[dict[str, Any]] = []
        for key in ("public_test_cases", "private_test_cases"):
            if r.get(key):
                cases += _json(r[key], key, loc)
        kinds = {c.get("testtype", "stdin") for c in cases}
        if len(kinds) > 1:
            raise RecordError(loc, f"mixed test types {sorted(kinds)}")
        meta = _json(r["metadata"], "metadata", loc) if r.get("metadata") else {}
        problem = _need(r, "question_content", loc)
        if r.get("starter_code"):
            problem += f"\n\nStarter code:\n```python\n{r['starter_code']}\n```"
        if kinds == {"functional"}:
            if not meta.get("func_name"):
                raise RecordError(loc, "functional tests need metadata.func_name")
            tests = CodeTests(
                "functional",
                [
                    {
                        "args": [
                            json.loads(line) for line in c["input"].splitlines() if line.strip()
                        ],
                        "expected": json.loads(c["output"]),
                    }
                    for c in cases
                ],
                meta["func_name"],
            )
        else:
            tests = CodeTests(
                "stdio", [{"input": c["input"], "output": c["output"]} for c in cases]
            )
        return problem, r.get("reference_solution") or None, tests
