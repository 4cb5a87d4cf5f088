"""Running model-written code against a problem's tests, never in the app's own process.

What the sandbox does, in layers (see README "Code problems" for the full account):
- a separate process (`python -I`), in its own session, in a throwaway directory that is
  deleted afterwards, with HOME and TMPDIR pointing there and an environment holding no
  keys or tokens;
- a wall-clock limit for the whole run (the process group is killed) and a per-test alarm;
- resource limits: address space (memory), CPU seconds, file size, open files, processes;
- when started as root, the code runs as `nobody`, so it cannot modify files it does not own;
- a new network namespace (no interfaces) where the kernel permits it;
- a Python audit hook refusing writes/deletions outside the directory, process creation,
  network connections and ctypes calls to such functions.
What it does not protect against: a determined escape through a kernel or interpreter bug,
reading world-readable files, or (when not root and without namespaces) anything the user
running acotd may do that the audit hook does not see. For untrusted code at scale, set
`code.isolation_command` to a container or bubblewrap prefix, e.g.
["bwrap", "--ro-bind", "/", "/", "--bind", "{workdir}", "{workdir}", "--unshare-all", "--die-with-parent"].
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from acotd_tui.store import CodeTests

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
    if all(o.status == "pass" for o in outcomes):
        return "pass"
    for status in ("blocked", "memory", "timeout", "crash"):
        if any(o.status == status for o in outcomes):
            return status
    return "fail"


def _scrubbed_env(workdir: Path) -> dict[str, str]:
    """No keys, tokens or proxies reach the submission."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


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
    workdir = Path(tempfile.mkdtemp(prefix="acotd-sandbox-"))
    started = time.perf_counter()
    try:
        shutil.copyfile(
            str(resources.files("acotd_tui") / "code" / "harness.py"), workdir / "harness.py"
        )
        (workdir / "solution.py").write_text(code, encoding="utf-8")
        spec = {
            "kind": tests.kind,
            "cases": tests.cases,
            "entry_point": tests.entry_point,
            "setup": tests.setup,
            "per_test_timeout_s": limits.per_test_timeout_s,
            "memory_mb": limits.memory_mb,
            "cpu_s": limits.cpu_s,
            "max_file_mb": limits.max_file_mb,
        }
        (workdir / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        for path in workdir.iterdir():
            path.chmod(0o644)
        workdir.chmod(0o777)  # the harness may drop to `nobody`, who must be able to write here
        prefix = [part.replace("{workdir}", str(workdir)) for part in limits.isolation_command]
        command = [*prefix, limits.python, "-I", "harness.py"]
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=_scrubbed_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            _, err = proc.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # anything the submission left running
        result = {}
        result_path = workdir / "result.json"
        if result_path.exists():
            try:
                result = json.loads(result_path.read_text(encoding="utf-8") or "{}")
            except json.JSONDecodeError:
                result = {}
        outcomes = [TestOutcome(**o) for o in result.get("outcomes", [])]
        done = len(outcomes)
        if done < len(tests.cases):
            # The process died mid-test: that test gets the cause, the rest were never run.
            signal_no = -proc.returncode if proc.returncode and proc.returncode < 0 else None
            if timed_out or signal_no == signal.SIGXCPU:
                cause = "timeout"
            elif signal_no == signal.SIGKILL:
                cause = "memory"
            else:
                cause = "crash"
            tail = (err or b"").decode("utf-8", "replace")[-400:]
            outcomes.append(TestOutcome(done, cause, tail or f"exit code {proc.returncode}"))
            outcomes += [TestOutcome(i, "not_run") for i in range(done + 1, len(tests.cases))]
        return RunReport(
            outcomes, _overall(outcomes), time.perf_counter() - started, result.get("isolation", [])
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
