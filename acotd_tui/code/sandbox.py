"""Running model-written code against a problem's tests, where it cannot reach the verdict.

Three processes per answer (README "Code problems" has the full account):
- the app (this module) prepares a private run directory (0700, owned by the runner) and
  starts the **checker** (`checker.py`), a trusted process holding the tests but no solution
  code; its report comes back on a pipe, never through a file;
- the checker starts the **sandbox** (`harness.py`) behind bubblewrap where the machine allows
  it (`isolation.py`), sends it the code, and then only asks: stdin in, stdout out for stdio
  problems; arguments in, a plain-data return value out for function problems; HumanEval's
  `check(candidate)` and MBPP's asserts run in the checker against a proxy `candidate`;
- the sandbox runs the solution with rlimits, as `nobody` when root, in fresh namespaces,
  behind an audit hook. It never sees an expected value.
A late, missing, malformed or non-plain reply, a crash or an early exit is a failure. What
it does not protect against: a kernel or interpreter exploit; and without bubblewrap,
writes the running user may make that the audit hook does not see (`acotd status` says
which level this machine has).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acotd_tui.code.isolation import (
    BOX,
    Isolation,
    bwrap_prefix,
    interpreter_paths,
    labels,
    resolve,
)
from acotd_tui.store import CodeTests

CODE_DIR = Path(__file__).resolve().parent
NOBODY = 65534

FENCE = re.compile(r"```([a-zA-Z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
STATUSES = ("pass", "fail", "timeout", "memory", "crash", "blocked", "not_run")


def extract_code(text: str) -> str | None:
    """The last fenced code block (python preferred); None when the answer has no code."""
    blocks = [(lang.lower(), body) for lang, body in FENCE.findall(text or "")]
    if not blocks:
        return None
    python = [body for lang, body in blocks if lang in ("python", "py", "python3")]
    return (python or [body for _, body in blocks])[-1].strip() + "\n"


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 20.0  # the whole run
    per_test_timeout_s: float = 4.0
    memory_mb: int = 512
    cpu_s: int = 20
    max_file_mb: int = 16
    python: str = sys.executable
    isolation_command: tuple[str, ...] = ()
    isolation: str = Isolation.AUTO  # auto | bubblewrap | namespaces | process (isolation.py)


@dataclass
class TestOutcome:
    index: int
    status: str
    detail: str = ""
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0


@dataclass
class RunReport:
    outcomes: list[TestOutcome] = field(default_factory=list)
    status: str = "fail"  # pass | fail | timeout | memory | crash | blocked | no_code | error
    seconds: float = 0.0
    isolation: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def passed_count(self) -> int:
        return sum(o.status == "pass" for o in self.outcomes)

    def summary(self) -> str:
        return f"{self.passed_count}/{len(self.outcomes)} tests passed" + (
            "" if self.status in ("pass", "fail") else f" ({self.status})"
        )

    def to_json(self) -> dict:
        return {
            "status": self.status,
            "passed": self.passed_count,
            "total": len(self.outcomes),
            "seconds": round(self.seconds, 3),
            "isolation": self.isolation,
            "detail": self.detail,
            "tests": [
                {
                    "status": o.status,
                    "detail": o.detail[:300],
                    "stdout": o.stdout[-300:],
                    "stderr": o.stderr[-300:],
                    "seconds": o.seconds,
                }
                for o in self.outcomes
            ],
        }


def _overall(outcomes: list[TestOutcome]) -> str:
    """Pass only when there are tests and every one of them passed."""
    if outcomes and all(o.status == "pass" for o in outcomes):
        return "pass"
    for status in ("blocked", "memory", "timeout", "crash"):
        if any(o.status == status for o in outcomes):
            return status
    return "fail"


def _scrubbed_env(home: str) -> dict[str, str]:
    """No keys, tokens or proxies reach the submission."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


@contextlib.contextmanager
def private_run_dir(
    *, owner: tuple[int, int] | None = None, for_nobody: bool = False
) -> Iterator[Path]:
    """A run directory only its runner can enter (mkdtemp: 0700; `owner` when the runner is
    another user), with the solution's working directory `box` inside (owned by `nobody`
    when the solution will drop to it); removed afterwards whatever the solution left there."""
    run_dir = Path(tempfile.mkdtemp(prefix="acotd-sandbox-"))
    try:
        box = run_dir / "box"
        box.mkdir(mode=0o700)
        if owner is not None:
            os.chown(run_dir, *owner)
            os.chown(box, *owner)
        if for_nobody:
            os.chown(box, NOBODY, NOBODY)
        yield run_dir
    finally:

        def unlock(_fn: object, path: str, _exc: object) -> None:
            with contextlib.suppress(OSError):  # a solution may leave unreadable folders
                os.chmod(os.path.dirname(path), 0o700)
                os.chmod(path, 0o700)
            shutil.rmtree(path, ignore_errors=True)

        shutil.rmtree(run_dir, onerror=unlock)


def checker_spec(
    code: str,
    tests: CodeTests,
    limits: SandboxLimits,
    run_dir: Path,
    level: Isolation,
    *,
    as_root: bool | None = None,
) -> dict:
    """What the checker needs: the tests, the limits and the exact sandbox command."""
    box = run_dir / "box"
    harness = [limits.python, "-I", str(CODE_DIR / "harness.py")]
    if level is Isolation.BUBBLEWRAP:
        as_root = os.geteuid() == 0 if as_root is None else as_root
        prefix = bwrap_prefix(box, as_root=as_root, extra_ro=interpreter_paths())
        inner_box = BOX
    elif level is Isolation.NAMESPACES:  # the harness enters them itself (isolation.py)
        prefix, inner_box = [], BOX
    elif level is Isolation.CUSTOM:
        prefix = [part.replace("{workdir}", str(box)) for part in limits.isolation_command]
        inner_box = str(box)
    else:
        prefix, inner_box = [], str(box)
    return {
        "command": [*prefix, *harness],
        "cwd": str(box),
        "env": _scrubbed_env(inner_box),
        "stderr_path": str(run_dir / "stderr.txt"),
        "code": code,
        "kind": tests.kind,
        "cases": tests.cases,
        "entry_point": tests.entry_point,
        "setup": tests.setup,
        "timeout_s": limits.timeout_s,
        "limits": {
            "per_test_timeout_s": limits.per_test_timeout_s,
            "memory_mb": limits.memory_mb,
            "cpu_s": limits.cpu_s,
            "max_file_mb": limits.max_file_mb,
            "namespaces": level is Isolation.NAMESPACES,
        },
    }


def run_checker(spec: dict, python: str, timeout_s: float, **popen: Any) -> dict:
    """Start the checker, hand it the spec, read its report from its stdout (not a file)."""
    proc = subprocess.Popen(
        [python, "-I", str(CODE_DIR / "checker.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=spec["stderr_path"].rsplit("/", 1)[0],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        start_new_session=True,  # no terminal; its process group holds the sandbox too
        **popen,
    )
    try:
        out, err = proc.communicate(json.dumps(spec).encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": "timeout", "detail": "the checker did not finish in time"}
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the submission left running
        proc.wait()
    try:
        report = json.loads(out)
    except ValueError:
        tail = err.decode("utf-8", "replace")[-400:]
        return {"error": "crash", "detail": f"the checker failed: {tail}"}
    return report if isinstance(report, dict) else {"error": "crash", "detail": "bad report"}


def parse_report(report: dict, n_cases: int) -> tuple[list[TestOutcome], list[str], str]:
    """Outcomes from the checker's report; anything short or odd counts against the answer."""
    raw = report.get("outcomes")
    if not isinstance(raw, list) or len(raw) != n_cases:
        cause = report.get("error") if report.get("error") in STATUSES else "crash"
        detail = str(report.get("detail") or "the checker returned no verdict")
        first = [TestOutcome(0, str(cause), detail)] if n_cases else []
        return first + [TestOutcome(i, "not_run") for i in range(1, n_cases)], [], detail
    outcomes = []
    for i, o in enumerate(raw):
        status = o.get("status") if isinstance(o, dict) else None
        if status not in STATUSES:
            status, o = "crash", {"detail": "malformed outcome"}
        outcomes.append(
            TestOutcome(
                i,
                status,
                str(o.get("detail", "")),
                str(o.get("stdout", "")),
                str(o.get("stderr", "")),
                float(o.get("seconds", 0.0)),
            )
        )
    return outcomes, [str(x) for x in report.get("isolation", [])], ""


def run_solution(
    code: str | None, tests: CodeTests, limits: SandboxLimits | None = None
) -> RunReport:
    limits = limits or SandboxLimits()
    if not code:
        return RunReport(
            [
                TestOutcome(i, "not_run", "no code block in the answer")
                for i in range(len(tests.cases))
            ],
            "no_code",
            detail="no code block in the answer",
        )
    started = time.perf_counter()
    level = resolve(limits.isolation, limits.isolation_command)
    with private_run_dir(for_nobody=os.geteuid() == 0) as run_dir:
        spec = checker_spec(code, tests, limits, run_dir, level)
        budget = limits.timeout_s + limits.per_test_timeout_s + 15
        report = run_checker(spec, limits.python, budget)
    outcomes, inner, detail = parse_report(report, len(tests.cases))
    if not tests.cases:
        detail = "the problem has no tests"
    return RunReport(
        outcomes,
        _overall(outcomes) if tests.cases else "fail",
        time.perf_counter() - started,
        [*labels(level), *inner],
        detail,
    )


class SandboxPool:
    """Check many submissions in parallel (each in its own sandbox process)."""

    def __init__(self, limits: SandboxLimits | None = None, workers: int | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self.workers = workers or max(1, os.cpu_count() or 1)

    def run_many(self, jobs: list[tuple[str | None, CodeTests]]) -> list[RunReport]:
        if not jobs:
            return []
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(lambda job: run_solution(job[0], job[1], self.limits), jobs))
