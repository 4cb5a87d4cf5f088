"""The trusted checker: runs a problem's tests against a solution it never lets in.

Started by the app as `python -I checker.py` with a JSON spec on stdin; prints one JSON
report on stdout. It holds no solution code: it starts the sandbox (`harness.py`, behind
bubblewrap where available), and
- stdio problems: sends each case's input, receives the program's output, compares here;
- function problems: sends the arguments, receives the return value as plain data
  (`wire.py`: exact built-in types rebuilt here) and compares here;
- assert tests (HumanEval `check(candidate)`, MBPP asserts): runs the dataset's test code in
  this process against proxies that forward each call to the sandbox.
A reply that is late, missing, malformed or not plain data, and a sandbox that exits, is a
failure. The expected values never leave this process. It makes itself undumpable so a
solution running as the same user cannot attach to it. Standard library only.
"""

import builtins
import contextlib
import ctypes
import importlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

del sys.path[0]

MAX_REPLY = 64 * 1024 * 1024
TAIL = 300
EXIT_MEMORY, EXIT_BLOCKED = 12, 13


class CaseTimeout(BaseException):
    """The case ran past its time (BaseException: test code cannot swallow it)."""


class SandboxGone(BaseException):
    """The solution's process exited, or sent something that is not a reply."""


class RemoteFailure(BaseException):
    """The call ended in memory exhaustion or a blocked action inside the sandbox."""

    def __init__(self, status, detail):
        super().__init__(detail)
        self.status, self.detail = status, detail


class Channel:
    """Newline-framed JSON messages from the sandbox's stdout, read with a deadline."""

    def __init__(self, fd, deadline):
        self.fd, self.deadline, self.buffer = fd, deadline, bytearray()

    def read(self):
        while b"\n" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise CaseTimeout()
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise SandboxGone("the solution's process exited before answering")
            self.buffer += chunk
            if len(self.buffer) > MAX_REPLY:
                raise SandboxGone(f"a reply over {MAX_REPLY // 2**20} MB")
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        try:
            return wire.loads(line)
        except wire.WireError as exc:
            raise SandboxGone(str(exc)) from exc


class Sandbox:
    def __init__(self, spec, mode):
        self.spec = spec
        err = open(spec["stderr_path"], "wb")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            spec["command"],
            cwd=spec["cwd"],
            env=spec["env"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            close_fds=True,
        )
        err.close()
        self.channel = Channel(self.proc.stdout.fileno(), time.monotonic() + spec["timeout_s"])
        self.next_id = 0
        self.send(
            {"mode": mode, "code": spec["code"], "setup": spec.get("setup"),
             "limits": spec["limits"]}
        )  # fmt: skip
        self.isolation = self.channel.read().get("isolation")
        if not isinstance(self.isolation, list):
            raise SandboxGone("malformed start-up message")

    def send(self, message):
        try:
            self.proc.stdin.write(wire.dumps(message))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise SandboxGone("the solution's process exited before answering") from exc

    def request(self, message):
        self.next_id += 1
        self.send({"id": self.next_id, **message})
        reply = self.channel.read()
        if reply.get("id") != self.next_id:
            raise SandboxGone("a reply to a question that was not asked")
        return reply

    def stderr_tail(self):
        return stderr_tail(self.spec["stderr_path"])

    def close(self):
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()


def stderr_tail(path):
    """The end of what the sandbox wrote to stderr (only ever shown, never trusted)."""
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - TAIL))
        return fh.read().decode("utf-8", "replace")
    return ""


class Remote:
    """`candidate` for test code: each call goes to the sandbox; plain data comes back."""

    def __init__(self, sandbox, name, log):
        self.sandbox, self.__name__, self.log = sandbox, name, log

    def __call__(self, *args, **kwargs):
        try:
            message = {"name": self.__name__, "args": wire.encode(list(args)),
                       "kwargs": wire.encode(dict(kwargs))}  # fmt: skip
        except wire.WireError as exc:
            raise RemoteFailure(
                "crash", f"the test passes a value the sandbox cannot take: {exc}"
            ) from None
        reply = self.sandbox.request(message)
        self.log.append(str(reply.get("stdout", ""))[-TAIL:])
        if reply.get("ok") is True:
            try:
                return wire.decode(reply.get("value"))
            except (wire.WireError, RecursionError) as exc:
                raise RemoteFailure("crash", f"{self.__name__}() returned {exc}") from None
        status, detail = str(reply.get("status")), str(reply.get("detail", ""))[-400:]
        if status in ("memory", "blocked"):
            raise RemoteFailure(status, detail)
        name = str(reply.get("error"))
        error = getattr(builtins, name, None)
        if isinstance(error, type) and issubclass(error, Exception):
            raise error(detail.removeprefix(f"{name}: "))  # the test may expect this type
        raise RemoteFailure("crash", detail)


def same(got, expected):
    """Both sides are exact built-in values built in this process, so `==` is honest."""
    if isinstance(got, float) or isinstance(expected, float):
        try:
            return math.isclose(float(got), float(expected), rel_tol=1e-6, abs_tol=1e-6)
        except (TypeError, ValueError):
            return False
    if isinstance(got, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(got) == len(expected) and all(map(same, got, expected))
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in got)
    return got == expected


def same_output(got, expected):
    g = [line.rstrip() for line in got.strip().splitlines()]
    e = [line.rstrip() for line in expected.strip().splitlines()]
    if g == e:
        return True
    gt, et = " ".join(g).split(), " ".join(e).split()
    if len(gt) != len(et):
        return False
    for a, b in zip(gt, et, strict=True):
        if a != b:
            try:
                if not math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6):
                    return False
            except ValueError:
                return False
    return True


def stdio_outcome(sandbox, case):
    reply = sandbox.request({"stdin": case.get("input", "")})
    out, err = str(reply.get("stdout", "")), str(reply.get("stderr", ""))
    code, verdict = reply.get("exit"), reply.get("verdict")
    if verdict == "timeout" or code == -signal.SIGXCPU:
        return "timeout", "over the time limit", out, err
    if verdict is not None:
        return "crash", "output over the limit", out[-TAIL:], err
    if code == 0:
        if same_output(out, case["output"]):
            return "pass", "", out, err
        return (
            "fail",
            f"expected {case['output'].strip()[:200]!r}, got {out.strip()[:200]!r}",
            out,
            err,
        )
    if code == EXIT_MEMORY or code == -signal.SIGKILL:
        return "memory", "over the memory limit", out, err
    if code == EXIT_BLOCKED:
        return "blocked", err.strip()[-400:], out, err
    return "crash", err.strip()[-400:] or f"exit code {code}", out, err


def function_outcome(sandbox, spec, case):
    log = []
    got = Remote(sandbox, spec["entry_point"], log)(*case["args"])
    if same(got, case["expected"]):
        return "pass", "", "".join(log), ""
    return "fail", f"expected {case['expected']!r:.200}, got {got!r:.200}", "".join(log), ""


def assert_outcome(sandbox, namespace, case):
    log = []
    scope = dict(namespace)
    for name, value in scope.items():
        if isinstance(value, Remote):
            scope[name] = Remote(sandbox, name, log)
    try:
        exec(compile(case, "test.py", "exec"), scope)
    except AssertionError as exc:
        return "fail", f"assertion failed {exc}".strip(), "".join(log), ""
    return "pass", "", "".join(log), ""


def callable_names(spec, names, namespace):
    """Which of the solution's names the test code calls in the sandbox: the entry point
    always; other functions it defines (MBPP tests call them by name, HumanEval tests call
    helpers) unless a builtin or already defined by the dataset's setup code (HumanEval's
    prompt), so a solution defining `set`, `len` or the prompt's `poly` does not decide what
    the test's own calls mean."""
    entry = [spec["entry_point"]] if spec.get("entry_point") else []
    return entry + [
        n for n in names if n not in entry and not hasattr(builtins, n) and n not in namespace
    ]


# Standard modules a test may use because the solution imported them (MBPP: `math.isclose`).
SHAREABLE_MODULES = frozenset({
    "math", "cmath", "re", "string", "collections", "itertools", "functools", "heapq",
    "bisect", "operator", "decimal", "fractions", "statistics", "typing", "random", "array",
})  # fmt: skip


def share_modules(modules, namespace):
    """The checker imports its own copy of such a module, never anything the solution made."""
    if not isinstance(modules, dict):
        return
    for name, module in modules.items():
        usable = isinstance(name, str) and name.isidentifier() and not hasattr(builtins, name)
        if module in SHAREABLE_MODULES and usable and name not in namespace:
            namespace[name] = importlib.import_module(module)


def on_alarm(_signum, _frame):
    raise CaseTimeout()


def run(spec):
    kind, cases = spec["kind"], spec["cases"]
    per_test = spec["limits"]["per_test_timeout_s"]
    outcomes, isolation, sandbox = [], [], None
    signal.signal(signal.SIGALRM, on_alarm)

    def record(status, detail, out="", err=""):
        outcomes.append({"index": len(outcomes), "status": status, "detail": detail[-400:],
                         "stdout": out[-TAIL:], "stderr": err[-TAIL:], "seconds": 0.0})  # fmt: skip

    try:
        signal.setitimer(signal.ITIMER_REAL, per_test + 5)  # start-up and loading
        sandbox = Sandbox(spec, "stdio" if kind == "stdio" else "call")
        isolation = [str(x) for x in sandbox.isolation]
        namespace = {"__name__": "__checker__", "__builtins__": builtins}
        if kind != "stdio":
            ready = sandbox.channel.read()
            if ready.get("ready") is not True:
                status = (
                    ready.get("status") if ready.get("status") in ("memory", "blocked") else "crash"
                )
                for _ in cases:
                    record(status, str(ready.get("detail", "the solution did not load")),
                           str(ready.get("stdout", "")))  # fmt: skip
                return outcomes, isolation
            names = [n for n in ready.get("names", []) if isinstance(n, str)]
            if kind == "assert":
                if spec.get("setup"):
                    exec(compile(spec["setup"], "setup.py", "exec"), namespace)
                for name in callable_names(spec, names, namespace):
                    namespace[name] = Remote(sandbox, name, [])
                share_modules(ready.get("modules"), namespace)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for case in cases:
            started = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, per_test + (2 if kind == "stdio" else 0))
            try:
                if kind == "stdio":
                    result = stdio_outcome(sandbox, case)
                elif kind == "functional":
                    result = function_outcome(sandbox, spec, case)
                else:
                    result = assert_outcome(sandbox, namespace, case)
            except RemoteFailure as exc:
                result = (exc.status, exc.detail, "", "")
            except (CaseTimeout, SandboxGone):
                raise
            except RecursionError:
                result = ("crash", "RecursionError: maximum recursion depth exceeded", "", "")
            except Exception as exc:  # noqa: BLE001 - the solution's failure, seen by the test
                result = ("crash", f"{type(exc).__name__}: {exc}"[-400:], "", "")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            record(*result)
            outcomes[-1]["seconds"] = round(time.perf_counter() - started, 4)
    except CaseTimeout:
        signal.setitimer(signal.ITIMER_REAL, 0)
        record("timeout", f"over {per_test} s")
    except SandboxGone as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        record("crash", f"{exc}: {stderr_tail(spec['stderr_path']).strip()}".rstrip(": "))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if sandbox is not None:
            sandbox.close()
    while len(outcomes) < len(cases):
        record("not_run", "")
    return outcomes[: len(cases)], isolation


def main():
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc/pid/mem
    spec = json.loads(sys.stdin.read())
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the dataset's test code prints cannot corrupt the report
    outcomes, isolation = run(spec)
    report.write(json.dumps({"outcomes": outcomes, "isolation": isolation}))
    report.close()


if __name__ == "__main__":
    main()
