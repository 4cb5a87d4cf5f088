"""Code problems: import with tests, the sandbox, and the pipeline end to end."""

from __future__ import annotations

import json
import os
import time
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from acotd_tui.cli import main
from acotd_tui.code.sandbox import SandboxLimits, SandboxPool, extract_code, run_solution
from acotd_tui.errors import ImportFailure
from acotd_tui.importing import import_files
from acotd_tui.store import CodeTests, ProblemFilter

CODE_DATA = Path(str(resources.files("acotd_tui") / "data" / "code"))
FIXTURES = sorted(CODE_DATA.glob("*.jsonl"))
STDIO = CodeTests(
    "stdio", [{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4\n", "output": "6\n"}]
)
LIMITS = SandboxLimits(timeout_s=10, per_test_timeout_s=1.5, memory_mb=256)


def code_project(project):
    import_files(project.store, FIXTURES)
    return project


def test_import_all_code_shapes(project):
    code_project(project)
    store = project.store
    ids = store.problems.ids(ProblemFilter(domain="code"))
    assert len(ids) == 20
    tests = store.code_tests.get_many(ids)
    kinds = {}
    for p in store.problems.get_many(ids):
        kinds.setdefault(p.source, set()).add(tests[p.id].kind)
    assert kinds == {
        "apps_shaped": {"stdio"},
        "humaneval_shaped": {"assert"},
        "mbpp_shaped": {"assert"},
        "livecodebench_shaped": {"stdio", "functional"},
    }
    lcb = next(p for p in store.problems.get_many(ids) if "Max Profit" in json.dumps(p.metadata))
    assert tests[lcb.id].entry_point == "maxProfit" and tests[lcb.id].cases[0] == {
        "args": [[7, 1, 5, 3, 6, 4]],
        "expected": 5,
    }
    # Every reference solution passes its own tests in the sandbox.
    problems = store.problems.get_many(ids)
    reports = SandboxPool(LIMITS).run_many([(p.solution, tests[p.id]) for p in problems])
    assert all(r.passed for r in reports), [
        (p.source, r.summary()) for p, r in zip(problems, reports, strict=True) if not r.passed
    ]
    # Re-importing adds nothing and keeps one test set per problem.
    assert import_files(store, FIXTURES).added == 0


def test_malformed_code_rows(project, tmp_path):
    bad = tmp_path / "apps.jsonl"
    bad.write_text(
        json.dumps(
            {"question": "ok", "input_output": json.dumps({"inputs": ["1"], "outputs": ["1"]})}
        )
        + "\n"
        + json.dumps({"question": "broken", "input_output": "{not json"})
        + "\n"
    )
    with pytest.raises(ImportFailure, match=r"line 2: field 'input_output' is not valid JSON"):
        import_files(project.store, [bad])
    bad.write_text(
        json.dumps(
            {"question": "q", "input_output": json.dumps({"inputs": ["1", "2"], "outputs": ["1"]})}
        )
        + "\n"
    )
    with pytest.raises(ImportFailure, match="2 inputs but 1 outputs"):
        import_files(project.store, [bad])
    assert project.store.problems.count() == 0


def test_extract_code():
    assert (
        extract_code("text\n```python\nprint(1)\n```\nmore\n```python\nprint(2)\n```")
        == "print(2)\n"
    )
    assert extract_code("```\nx = 1\n```") == "x = 1\n"
    assert extract_code("no code at all") is None


@pytest.mark.parametrize(
    ("name", "code", "status"),
    [
        ("correct", "a, b = map(int, input().split())\nprint(a + b)\n", "pass"),
        ("wrong", "a, b = map(int, input().split())\nprint(a * b)\n", "fail"),
        ("infinite loop", "while True:\n    pass\n", "timeout"),
        (
            "memory hungry",
            "hog = []\nwhile True:\n    hog.append(bytearray(50 * 1024 * 1024))\n",
            "memory",
        ),
        ("crash", "raise ValueError('boom')\n", "crash"),
        ("network", "import socket\nsocket.create_connection(('127.0.0.1', 9))\n", "blocked"),
        ("subprocess", "import subprocess\nsubprocess.run(['true'])\n", "blocked"),
    ],
)
def test_sandbox_classifies(name, code, status):
    started = time.monotonic()
    report = run_solution(code, STDIO, LIMITS)
    assert report.status == status, (name, report.outcomes)
    assert (report.passed_count == 2) == (status == "pass")
    assert time.monotonic() - started < LIMITS.timeout_s + 2


def test_file_deleting_solution_leaves_the_host_untouched(tmp_path):
    canary = tmp_path / "keep" / "canary.txt"
    canary.parent.mkdir()
    canary.write_text("host data")
    attacks = [
        f"import os\nos.remove({str(canary)!r})\n",
        f"import shutil\nshutil.rmtree({str(canary.parent)!r})\n",
        f"open({str(canary)!r}, 'w').write('overwritten')\n",
        f"import ctypes\nctypes.CDLL(None).unlink({str(canary).encode()!r})\n",
        "import os\nfor root, dirs, files in os.walk('/tmp'):\n    for f in files:\n        try:\n            os.remove(os.path.join(root, f))\n        except OSError:\n            pass\n",
    ]
    for code in attacks[:-1]:
        report = run_solution(code + "print(5)\n", STDIO, LIMITS)
        assert report.status in ("blocked", "crash") and not report.passed, (code, report.outcomes)
    # Behind bubblewrap /tmp is private and empty: the walk finds nothing to delete, the
    # program prints 5 for both cases and honestly fails the second.
    report = run_solution(attacks[-1] + "print(5)\n", STDIO, LIMITS)
    assert report.status in ("blocked", "crash", "fail") and not report.passed, report.outcomes
    assert canary.read_text() == "host data"
    # The throwaway directories are gone too.
    assert not [
        p for p in Path("/tmp").glob("acotd-sandbox-*") if p.stat().st_mtime > time.time() - 60
    ]


def test_no_code_and_environment_is_scrubbed(monkeypatch):
    assert run_solution(None, STDIO, LIMITS).status == "no_code"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    tests = CodeTests("stdio", [{"input": "", "output": "None\n"}])
    report = run_solution("import os\nprint(os.environ.get('OPENAI_API_KEY'))\n", tests, LIMITS)
    assert report.passed


def pipeline_script(project, *, student_wrong: set[int], teacher_wrong_first: set[int]):
    """Scripted replies: per problem the student's code (right or wrong) and the teachers'."""
    store = project.store
    problems = store.problems.get_many(store.problems.ids(ProblemFilter(domain="code")))
    student, teacher, teacher_bad = {}, {}, {}
    for p in problems:
        key = p.problem[:80]
        right = f"I will read the input and compute it.\n\n```python\n{p.solution.strip()}\n```"
        student[key] = "```python\nprint('no idea')\n```" if p.id in student_wrong else right
        teacher[key] = f"Key idea first.\n\n```python\n{p.solution.strip()}\n```"
        if p.id in teacher_wrong_first:
            teacher_bad[key] = "Rushed.\n\n```python\nprint(0)\n```"
    return [
        {"contains": "expert programmer", "by_prefix": teacher_bad, "max_uses": len(teacher_bad)}
        if teacher_bad
        else {"contains": "\x00never"},
        {"contains": "expert programmer", "by_prefix": teacher},
        {
            "contains": "tests passed (pass)",
            "reply": '{"label": "easy", "rationale": "all tests pass"}',
        },
        {
            "contains": "strict grader",
            "replies": [
                '{"label": "medium", "rationale": "off by one"}',
                '{"label": "hard", "rationale": "wrong algorithm"}',
            ],
        },
        {"contains": "Solve this programming problem", "by_prefix": student},
    ]


def test_code_pipeline_end_to_end(project, llm_server, point_at, tmp_path):
    code_project(project)
    point_at(project, llm_server, roles=("student", "judge", "teacher_short", "teacher_long"))
    ids = project.store.problems.ids(ProblemFilter(domain="code"))
    wrong = set(ids[::2])
    llm_server.configure(
        rules=pipeline_script(project, student_wrong=wrong, teacher_wrong_first={ids[1]})
    )
    runner = CliRunner()
    out = runner.invoke(main, ["diagnose", "-p", str(project.root)])
    assert out.exit_code == 0, out.output
    store = project.store
    for pid in ids:
        attempt = store.attempts.for_problem(pid)[0]
        assert attempt.correct is (pid not in wrong), (pid, attempt.final_answer)
        check = attempt.params["check"]
        assert (
            check["total"] == len(store.code_tests.get(pid).cases) and "tests" in check and check["code"]
        )
    out = runner.invoke(main, ["grade", "-p", str(project.root)])
    assert out.exit_code == 0, out.output
    labels = store.grades.labels("emh", ids)
    assert all(labels[pid].label == "E" for pid in ids if pid not in wrong)
    assert all(labels[pid].label in ("M", "H") for pid in wrong)
    assert store.grades.queue("emh", "conflict") == []  # the judge saw the test results
    out = runner.invoke(
        main,
        ["sample", "create", "code-set", "-p", str(project.root), "-k", "20", "--no-decontaminate"],
    )
    assert out.exit_code == 0, out.output
    assert runner.invoke(main, ["teach", "code-set", "-p", str(project.root)]).exit_code == 0
    out = runner.invoke(main, ["verify", "code-set", "-p", str(project.root)])
    assert out.exit_code == 0, out.output
    regenerated = store.cots.for_problems([ids[1]])[ids[1]]
    assert [c.verified for c in regenerated] == [
        False,
        True,
    ]  # wrong code, then regenerated and passing
    assert "code: 0/" in regenerated[0].verify_detail
    out = runner.invoke(
        main, ["export", "code-set", "-p", str(project.root), "--out", str(tmp_path / "x")]
    )
    assert out.exit_code == 0, out.output
    rows = [json.loads(x) for x in (tmp_path / "x" / "messages.jsonl").read_text().splitlines()]
    assert len(rows) == 20
    for row in rows:
        user, assistant = row["messages"]
        assert "Solve this programming problem in Python" in user["content"]
        assert (
            assistant["content"].startswith("<think>\n")
            and "```python" in assistant["content"]
            and "\\boxed" not in assistant["content"]
        )


async def test_review_screen_shows_test_results(project, llm_server, point_at):
    from acotd_tui.app import AcotdApp
    from acotd_tui.jobs import submit
    from acotd_tui.store import NewGrade

    code_project(project)
    point_at(project, llm_server, roles=("student",))
    ids = project.store.problems.ids(ProblemFilter(domain="code"))
    llm_server.configure(
        rules=pipeline_script(project, student_wrong=set(ids), teacher_wrong_first=set())
    )
    assert submit(project, "diagnose", {}).status == "done"
    project.store.grades.add([NewGrade(ids[0], "emh", None, "judge", needs_review=True)])
    app = AcotdApp(project)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("3")
        for _ in range(4):
            await app.workers.wait_for_complete()
            await pilot.pause(0.05)
        shown = "\n".join(str(w.render()) for w in app.screen.query(".tests"))
        assert "tests: 0/" in shown and "✗ test 1: fail" in shown


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to nobody needs root")
def test_runs_as_nobody_in_its_own_network_namespace_when_root():
    report = run_solution(
        "import os\nprint(os.geteuid())\n",
        CodeTests("stdio", [{"input": "", "output": "65534\n"}]),
        LIMITS,
    )
    assert report.passed and "uid nobody" in report.isolation


# ------------------------------------------------------------------ tests that would notice

ADD_TESTS = {
    "stdio": STDIO,
    "functional": CodeTests(
        "functional", [{"args": [2, 3], "expected": 5}, {"args": [10, -4], "expected": 6}], "add"
    ),
    "humaneval": CodeTests(
        "assert",
        [
            "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(10, -4) == 6\n\ncheck(add)\n",
            "def check(candidate):\n    assert candidate(1, 1) == 2\n\ncheck(add)\n",
        ],
        "add",
    ),
    "mbpp": CodeTests("assert", ["assert add(2, 3) == 5", "assert add(10, -4) == 6"]),
}
HALF_RIGHT_FN = "def add(a, b):\n    return a + b if a < 5 else 0\n"
HALF_RIGHT_IO = "a, b = map(int, input().split())\nprint(a + b if a < 5 else 0)\n"


@pytest.mark.parametrize("kind", list(ADD_TESTS))
def test_partly_right_solutions_fail(kind):
    """Some tests right, some wrong: the answer fails, and each test is reported as it went.
    (HumanEval: the first check() has a right then a wrong assert; the second is right.)"""
    code = HALF_RIGHT_IO if kind == "stdio" else HALF_RIGHT_FN
    report = run_solution(code, ADD_TESTS[kind], LIMITS)
    assert (
        [o.status for o in report.outcomes] == ["pass", "fail"]
        if kind != "humaneval"
        else [
            "fail",
            "pass",
        ]
    ), report.outcomes
    assert report.status == "fail" and not report.passed and report.passed_count == 1
    right = (
        "a, b = map(int, input().split())\nprint(a + b)\n"
        if kind == "stdio"
        else ("def add(a, b):\n    return a + b\n")
    )
    assert run_solution(right, ADD_TESTS[kind], LIMITS).passed


def test_plain_data_crosses_and_tests_run_outside():
    """Tuples, sets, dicts with int keys, bytes and floats come back as themselves; a
    HumanEval check that expects an exception sees the solution's ValueError; MBPP setup code
    runs beside the tests."""
    code = (
        "def pair(a):\n    return (a, {a}, {a: [a]}, bytes([a]), a / 4)\n"
        "def strict(a):\n    if a < 0:\n        raise ValueError('negative')\n    return a\n"
        "import math as m\ndef area(r):\n    return m.pi * r * r\n"
    )
    tests = CodeTests(
        "assert",
        [
            "assert pair(3) == (3, {3}, {3: [3]}, b'\\x03', 0.75)",
            "assert type(pair(1)[0]) is int and type(pair(1)) is tuple",
            "try:\n    strict(-1)\nexcept ValueError as e:\n    assert 'negative' in str(e)\nelse:\n    assert False\n",
            "assert strict(LIMIT) == LIMIT",
            "print('tests may print', strict(1))\nassert strict(1) == 1",
            "assert m.isclose(area(2), 12.566, rel_tol=1e-3)",  # `m`: the solution's import
        ],
        None,
        "LIMIT = 7",
    )
    report = run_solution(code, tests, LIMITS)
    assert report.passed, report.outcomes


def test_wire_refuses_anything_but_plain_data():
    from acotd_tui.code import wire

    value = [1, (2.5, "x"), {3: {4}}, frozenset({5}), b"\x00", None, True, 1j]
    assert wire.decode(wire.encode(value)) == value
    for bad in ({"$": "eq", "v": []}, {"$": "set", "v": [[1]]}, {"a": 1}, {"$": "tuple"}):
        with pytest.raises(wire.WireError):
            wire.decode(bad)

    class Anything:
        def __eq__(self, other):
            return True

    with pytest.raises(wire.WireError):
        wire.encode(Anything())


def test_a_short_or_odd_checker_report_is_never_a_pass():
    from acotd_tui.code.sandbox import parse_report

    one_pass = {"index": 0, "status": "pass"}
    outcomes, _, _ = parse_report({"outcomes": [one_pass]}, 2)
    assert [o.status for o in outcomes] == ["crash", "not_run"]
    outcomes, _, _ = parse_report({"outcomes": [one_pass, {"status": "passed"}]}, 2)
    assert [o.status for o in outcomes] == ["pass", "crash"]
    outcomes, _, _ = parse_report({"error": "timeout", "detail": "late"}, 1)
    assert [o.status for o in outcomes] == ["timeout"]
    assert run_solution("print(1)\n", CodeTests("stdio", []), LIMITS).status == "fail"


def test_each_run_directory_is_private(tmp_path):
    """0700 and owned by the runner; the report comes on a pipe, not from a file in it."""
    from acotd_tui.code.sandbox import private_run_dir

    with private_run_dir() as run_dir:
        assert run_dir.stat().st_mode & 0o777 == 0o700 and run_dir.stat().st_uid == os.geteuid()
        assert (run_dir / "box").stat().st_mode & 0o777 == 0o700
    assert not run_dir.exists()
    probe = "import os\nprint(oct(os.stat('..').st_mode & 0o777), sorted(os.listdir('.')))\n"
    report = run_solution(probe, CodeTests("stdio", [{"input": "", "output": "x"}]), LIMITS)
    assert "[]" in report.outcomes[0].stdout  # nothing of ours in the solution's folder


def test_status_says_once_how_code_is_isolated(project, monkeypatch):
    from acotd_tui.code import isolation

    out = CliRunner().invoke(main, ["status", "-p", str(project.root)])
    assert out.exit_code == 0 and out.output.count("code sandbox: ") == 1, out.output
    monkeypatch.setattr(isolation, "bubblewrap_works", lambda euid: False)
    line = isolation.isolation_summary()
    assert line.startswith("WARNING: no filesystem or network isolation") and "bubblewrap" in line
    out = CliRunner().invoke(main, ["status", "-p", str(project.root)])
    assert "code sandbox: WARNING" in out.output
    assert "custom-wrapper" in isolation.isolation_summary(["custom-wrapper", "--flag"])


def test_a_configured_isolation_command_wraps_the_sandbox():
    """`[code] isolation_command` replaces the automatic level; the verdict stays outside."""
    limits = SandboxLimits(
        timeout_s=10, per_test_timeout_s=1.5, memory_mb=256, isolation_command=("env", "A=1")
    )
    right = run_solution("import os\nprint(int(os.environ['A']) + 4)\n", STDIO, limits)
    assert right.isolation[0] == "isolation_command" and right.passed_count == 1
    assert not right.passed  # 5 then 5 again: the second case wants 6


def test_humaneval_helpers_from_the_prompt_stay_trusted(project, tmp_path):
    """HumanEval/32-shaped: the test calls the prompt's `poly`. The importer keeps the prompt
    as setup, so the checker uses the prompt's `poly`; a solution redefining it to always
    return 0 does not make its wrong `find_zero` pass, and a right one still passes."""
    prompt = (
        "import math\n\ndef poly(xs, x):\n    return sum(c * math.pow(x, i) for i, c in enumerate(xs))\n\n"
        "def find_zero(xs):\n    '''A zero of the polynomial with coefficients xs.'''\n"
    )
    row = {
        "task_id": "Shaped/32",
        "prompt": prompt,
        "canonical_solution": "    lo, hi = -100.0, 100.0\n    for _ in range(200):\n        mid = (lo + hi) / 2\n        if poly(xs, lo) * poly(xs, mid) <= 0:\n            hi = mid\n        else:\n            lo = mid\n    return lo\n",
        "test": "def check(candidate):\n    for xs in ([1, 2], [-6, 11, -6, 1]):\n        assert math.fabs(poly(xs, candidate(xs))) < 1e-4\n",
        "entry_point": "find_zero",
    }
    path = tmp_path / "humaneval.jsonl"
    path.write_text(json.dumps(row) + "\n")
    import_files(project.store, [path])
    [pid] = project.store.problems.ids(ProblemFilter(domain="code"))
    problem, tests = project.store.problems.get(pid), project.store.code_tests.get(pid)
    assert tests.setup == prompt
    assert run_solution(problem.solution, tests, LIMITS).passed
    cheat = prompt + "    return 12345.0\n\ndef poly(xs, x):\n    return 0\n"
    report = run_solution(cheat, tests, LIMITS)
    assert report.status == "fail" and not report.passed, report.outcomes
