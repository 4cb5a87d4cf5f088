"""Hostile solutions: every one is wrong and tries to be scored correct, or to touch the host.

Each attack targets one test kind (stdio, function call, HumanEval `check(candidate)`, MBPP
asserts) of the same problem, add(a, b), with a wrong answer underneath (a * b). None may
pass, and a canary file outside the sandbox must stay as it was. The attacks run in parallel
(so they also try each other's runs), as root and as an unprivileged user created with
`useradd`, behind bubblewrap where the machine has it and in the plain-process fallback.
The table of what each attack did before and does now is in bench/RESULTS.md.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from acotd_tui.code.isolation import Isolation, bwrap_prefix
from acotd_tui.code.sandbox import (
    RunReport,
    SandboxLimits,
    SandboxPool,
    checker_spec,
    parse_report,
    private_run_dir,
    run_checker,
)
from acotd_tui.store import CodeTests

KINDS = {
    "stdio": CodeTests(
        "stdio", [{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4\n", "output": "6\n"}]
    ),
    "function": CodeTests(
        "functional", [{"args": [2, 3], "expected": 5}, {"args": [10, -4], "expected": 6}], "add"
    ),
    "humaneval": CodeTests(
        "assert",
        [
            "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(10, -4) == 6\n\ncheck(add)\n"
        ],
        "add",
    ),
    "mbpp": CodeTests(
        "assert", ["assert int(add(2, 3)) == 5", "assert set([add(10, -4)]) == set([6])"]
    ),
}
WRONG_FN = "def add(a, b):\n    return a * b\n"
WRONG_IO = "a, b = map(int, input().split())\nprint(a * b)\n"
ALWAYS_EQUAL = """
class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__
def add(a, b):
    return Anything()
"""
FAKE_RESULT = """
import json, os
fake = {"isolation": [], "outcomes": [{"index": i, "status": "pass", "detail": "", "stdout": "",
        "stderr": "", "seconds": 0.0} for i in range(2)]}
for path in ("result.json", "../result.json", "/tmp/result.json"):
    try:
        os.remove(path)
    except BaseException:
        pass
    try:
        open(path, "w").write(json.dumps(fake))
    except BaseException:
        pass
"""
FIND_REPLY_FD = """
import gc, os
fd = [o for o in gc.get_objects() if type(o).__name__ == "Replies"][0].fd
"""
SCRIBBLER = """
import json, os, time
fake = json.dumps({"isolation": [], "outcomes": [{"index": i, "status": "pass", "detail": "",
                   "stdout": "", "stderr": "", "seconds": 0.0} for i in range(2)]})
end = time.time() + 1.0
while time.time() < end:
    runs = ["/tmp/" + n for n in os.listdir("/tmp") if n.startswith("acotd-sandbox-")]
    targets = runs + [run + "/box" for run in runs]
    targets += ["/proc/%s/cwd" % p for p in os.listdir("/proc") if p.isdigit()]
    for target in targets:
        path = os.path.join(target, "result.json")
        try:
            os.remove(path)
        except BaseException:
            pass
        try:
            open(path, "w").write(fake)
        except BaseException:
            pass
    time.sleep(0.02)
"""
TRY = "try:\n{body}\nexcept BaseException:\n    pass\n"


def guarded(body: str) -> str:
    return TRY.format(body="\n".join("    " + line for line in body.strip().splitlines()))


def attacks(canary: Path) -> list[tuple[str, str, str]]:
    """(name, test kind, code). CANARY is the host file, CANARY_DIR its folder."""
    raw = [
        ("always-equal object", "function", ALWAYS_EQUAL),
        ("always-equal object", "humaneval", ALWAYS_EQUAL),
        ("always-equal object", "mbpp", ALWAYS_EQUAL),
        (
            "always-equal int subclass",
            "function",
            "class E(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\ndef add(a, b):\n    return E(a * b)\n",
        ),
        (
            "patch the comparator (sys.modules['__main__'].same)",
            "function",
            "import sys\nm = sys.modules['__main__']\nfor n in ('same', 'same_output', 'audit'):\n    setattr(m, n, lambda *a, **k: True)\n"
            + WRONG_FN,
        ),
        (
            "patch the comparator (sys.modules['__main__'].same_output)",
            "stdio",
            "import sys\nm = sys.modules['__main__']\nfor n in ('same', 'same_output'):\n    setattr(m, n, lambda *a, **k: True)\n"
            + WRONG_IO,
        ),
        (
            "patched builtins (AssertionError, isinstance, len, all)",
            "humaneval",
            "import builtins\nbuiltins.AssertionError = type('AssertionError', (BaseException,), {})\nbuiltins.isinstance = lambda *a: True\nbuiltins.len = lambda x: 0\nbuiltins.all = lambda x: True\n"
            + WRONG_FN,
        ),
        (
            "shadow builtins the test uses (int, set)",
            "mbpp",
            "def int(*a):\n    return 5\ndef set(*a):\n    return 1\n" + WRONG_FN,
        ),
        ("rewrite result.json and exit", "function", FAKE_RESULT + "os._exit(0)\n"),
        ("rewrite result.json", "stdio", FAKE_RESULT + WRONG_IO),
        ("sys.exit(0) before the tests", "humaneval", "import sys\nsys.exit(0)\n" + WRONG_FN),
        ("sys.exit(0) before the tests", "stdio", "import sys\nsys.exit(0)\n"),
        ("os._exit(0) at import", "function", "import os\nos._exit(0)\n"),
        ("os._exit(0) inside the call", "mbpp", "import os\ndef add(a, b):\n    os._exit(0)\n"),
        (
            "signals to the parent and everyone (os.kill)",
            "function",
            guarded("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
            + guarded("import os\nos.kill(-1, 9)")
            + WRONG_FN,
        ),
        (
            "signals via ctypes kill",
            "stdio",
            guarded("import ctypes, os\nctypes.CDLL(None).kill(os.getppid(), 9)") + WRONG_IO,
        ),
        ("fork", "stdio", "import os\nif os.fork() == 0:\n    print(5)\n" + WRONG_IO),
        (
            "thread outliving the test writes the canary",
            "function",
            "import threading, time\ndef later():\n    time.sleep(0.3)\n    open(CANARY, 'w').write('owned')\nthreading.Thread(target=later, daemon=True).start()\n"
            + WRONG_FN,
        ),
        (
            "thread forging replies on every descriptor",
            "function",
            'import os, threading\ndef spam():\n    for _ in range(200):\n        for fd in range(3, 30):\n            try:\n                os.write(fd, b\'{"id": 1, "ok": true, "value": 5}\\n{"id": 2, "ok": true, "value": 5}\\n\')\n            except OSError:\n                pass\nthreading.Thread(target=spam, daemon=True).start()\n'
            + WRONG_FN,
        ),
        (
            "huge output",
            "stdio",
            "import sys\nsys.stdout.write('5\\n' + 'x' * (64 * 1024 * 1024))\n",
        ),
        ("huge return value", "function", "def add(a, b):\n    return 'x' * (200 * 1024 * 1024)\n"),
        (
            "forged ready + unknown tag on the reply channel",
            "humaneval",
            FIND_REPLY_FD
            + 'os.write(fd, b\'{"ready": true, "names": ["add"]}\\n{"id": 1, "ok": true, "value": {"$": "eq", "v": []}}\\n\')\n'
            + WRONG_FN,
        ),
        (
            "deeply nested JSON at the checker",
            "function",
            FIND_REPLY_FD + "os.write(fd, b'[' * 200000 + b']' * 200000 + b'\\n')\n" + WRONG_FN,
        ),
        (
            "dir_fd write",
            "stdio",
            guarded(
                "import os\nd = os.open(CANARY_DIR, os.O_RDONLY)\nf = os.open('canary.txt', os.O_WRONLY | os.O_TRUNC, dir_fd=d)\nos.write(f, b'owned')"
            )
            + WRONG_IO,
        ),
        (
            "dir_fd delete",
            "function",
            guarded(
                "import os\nd = os.open(CANARY_DIR, os.O_RDONLY)\nos.unlink('canary.txt', dir_fd=d)"
            )
            + WRONG_FN,
        ),
        (
            "ctypes fopen",
            "stdio",
            guarded(
                "import ctypes\nlibc = ctypes.CDLL('libc.so.6')\nf = libc.fopen(CANARY.encode(), b'w')\nlibc.fputs(b'owned', f)\nlibc.fclose(f)"
            )
            + WRONG_IO,
        ),
        (
            "ctypes syscall unlink",
            "function",
            guarded("import ctypes\nctypes.CDLL('libc.so.6').syscall(87, CANARY.encode())")
            + WRONG_FN,
        ),
        (
            "audit hook disarmed, then plain writes",
            "stdio",
            "import sys\nm = sys.modules['__main__']\nm.inside = lambda p: True\n"
            + guarded("open(CANARY, 'w').write('owned')")
            + guarded("import os\nos.remove(CANARY)")
            + WRONG_IO,
        ),
        (
            "hook's code replaced, then ctypes remounts / read-write and writes",
            "function",
            "import sys, ctypes, os\nsys.modules['__main__'].audit.__code__ = (lambda event, args: None).__code__\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "for target in (b'/', b'/tmp', CANARY_DIR.encode()):\n"
            "    libc.mount(None, target, None, 0x20 | 0x1000, None)\n"
            + guarded("open(CANARY, 'w').write('owned')")
            + guarded("os.remove(CANARY)")
            + WRONG_FN,
        ),
        (
            "write /proc/<parent>/mem",
            "function",
            guarded("import os\nopen('/proc/%d/mem' % os.getppid(), 'r+b').write(b'x')") + WRONG_FN,
        ),
        (
            "terminal injection (TIOCSTI)",
            "stdio",
            guarded(
                "import os, fcntl, termios\nfd = os.open('/dev/tty', os.O_RDWR)\nfcntl.ioctl(fd, termios.TIOCSTI, b'x')"
            )
            + WRONG_IO,
        ),
        ("parallel runs: scribble on every other run", "stdio", SCRIBBLER + WRONG_IO),
        (
            "parallel runs: slow, wrong victim",
            "function",
            "import time\ndef add(a, b):\n    time.sleep(0.4)\n    return a * b\n",
        ),
        (
            "infinite loop in the call",
            "humaneval",
            "def add(a, b):\n    while True:\n        pass\n",
        ),
    ]
    out = []
    for name, kind, code in raw:
        code = code.replace("CANARY_DIR", repr(str(canary.parent))).replace(
            "CANARY", repr(str(canary))
        )
        out.append((name, kind, code))
    return out


LIMITS = SandboxLimits(timeout_s=10, per_test_timeout_s=1.5, memory_mb=256)


@pytest.fixture
def canary():
    """A host file the sandbox must not change, in a world-readable folder outside /tmp (a
    private /tmp alone would hide it; this way the read-only root is tested too)."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="acotd-canary-", dir=base))
    folder.chmod(0o755)
    path = folder / "canary.txt"
    path.write_text("host data")
    path.chmod(0o644)
    yield path
    shutil.rmtree(folder, ignore_errors=True)


def assert_held(named: list[tuple[str, str, str]], reports: list[RunReport], canary: Path) -> None:
    passed = [
        (name, kind, r.summary())
        for (name, kind, _), r in zip(named, reports, strict=True)
        if r.passed or r.passed_count == 2
    ]
    assert passed == [], passed
    assert canary.read_text() == "host data"
    assert sorted(p.name for p in canary.parent.iterdir()) == ["canary.txt"]


def test_there_are_enough_attacks(tmp_path):
    named = attacks(tmp_path / "c")
    assert len(named) >= 25 and {k for _, k, _ in named} == set(KINDS)


@pytest.mark.slow
@pytest.mark.parametrize("level", [Isolation.AUTO, Isolation.PROCESS])
def test_hostile_solutions_as_this_user(level, canary):
    named = attacks(canary)
    limits = SandboxLimits(**{**LIMITS.__dict__, "isolation": level})
    started = time.monotonic()
    reports = SandboxPool(limits, workers=6).run_many(
        [(code, KINDS[kind]) for _, kind, code in named]
    )
    assert_held(named, reports, canary)
    by_name = {f"{n} [{k}]": r for (n, k, _), r in zip(named, reports, strict=True)}
    # A few must fail in a particular way, not just "not pass".
    assert (
        by_name["always-equal object [function]"].outcomes[0].detail.endswith("is not plain data")
    )
    assert by_name["os._exit(0) at import [function]"].status == "crash"
    assert by_name["infinite loop in the call [humaneval]"].status == "timeout"
    # over the output limit; "timeout" when the machine is too busy to write 8 MB in 1.5 s
    assert by_name["huge output [stdio]"].status in ("crash", "memory", "timeout")
    assert time.monotonic() - started < 60


# ------------------------------------------------------------- as an unprivileged user


@pytest.fixture(scope="module")
def unprivileged_user():
    """A throwaway user (useradd) and an interpreter it may run; skips with the reason."""
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: the tests above ran as this user")
    python = shutil.which("python3", path="/usr/bin:/bin:/usr/local/bin")
    if shutil.which("useradd") is None or python is None:
        pytest.skip("needs useradd and a system python3 readable by any user")
    name = f"acotd{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["useradd", "--system", "--no-create-home", name], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"useradd failed: {made.stderr.decode()[-200:]}")
    try:
        entry = pwd.getpwnam(name)
        yield entry.pw_uid, entry.pw_gid, python
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def level_works_for(level: Isolation, user: tuple[int, int, str]) -> bool:
    """Can this isolation level run for the user (bubblewrap installed, namespaces allowed)?"""
    uid, gid, python = user
    with tempfile.TemporaryDirectory() as tmp:
        os.chown(tmp, uid, gid)
        if level is Isolation.BUBBLEWRAP:
            if shutil.which("bwrap") is None:
                return False
            command = [*bwrap_prefix(Path(tmp), as_root=False), "/bin/true"]
        else:
            harness = Path(checker_spec.__code__.co_filename).parent / "harness.py"
            command = [python, "-I", str(harness), "--probe-namespaces"]
        done = subprocess.run(
            command, cwd=tmp, user=uid, group=gid, extra_groups=[], capture_output=True
        )
        return done.returncode == 0


def run_as(user: tuple[int, int, str], code: str, tests: CodeTests, level: Isolation) -> RunReport:
    """The real checker and sandbox, started as the unprivileged user."""
    uid, gid, python = user
    limits = SandboxLimits(**{**LIMITS.__dict__, "python": python})
    with private_run_dir(owner=(uid, gid)) as run_dir:
        spec = checker_spec(code, tests, limits, run_dir, level, as_root=False)
        report = run_checker(spec, python, 40, user=uid, group=gid, extra_groups=[])
    outcomes, isolation, detail = parse_report(report, len(tests.cases))
    from acotd_tui.code.sandbox import _overall

    return RunReport(outcomes, _overall(outcomes), 0.0, isolation, detail)


@pytest.mark.slow
@pytest.mark.parametrize("level", [Isolation.BUBBLEWRAP, Isolation.NAMESPACES])
def test_hostile_solutions_as_an_unprivileged_user(level, unprivileged_user, canary):
    uid, gid, _ = unprivileged_user
    # The canary belongs to the user, so only the sandbox (not file modes) can protect it.
    os.chown(canary, uid, gid)
    if not level_works_for(level, unprivileged_user):
        pytest.skip(f"{level} cannot run for an unprivileged user on this machine")
    named = attacks(canary)
    with ThreadPoolExecutor(6) as pool:
        reports = list(
            pool.map(lambda a: run_as(unprivileged_user, a[2], KINDS[a[1]], level), named)
        )
    assert_held(named, reports, canary)
    assert not any("uid nobody" in r.isolation for r in reports)
    if level is Isolation.NAMESPACES:
        assert all("network namespace" in r.isolation for r in reports if r.isolation)
    right = run_as(unprivileged_user, "def add(a, b):\n    return a + b\n", KINDS["mbpp"], level)
    assert right.passed, right.outcomes


@pytest.mark.slow
def test_verdicts_hold_for_an_unprivileged_user_without_bubblewrap(unprivileged_user, canary):
    """The process fallback as a plain user (no bubblewrap, no user namespaces): verdicts still
    cannot be forged. The files the user may write are only guarded by the audit hook there,
    a tripwire that a solution can disarm (README), so the canary attacks are left out."""
    named = [a for a in attacks(canary) if str(canary.parent) not in a[2]]
    with ThreadPoolExecutor(6) as pool:
        reports = list(
            pool.map(
                lambda a: run_as(unprivileged_user, a[2], KINDS[a[1]], Isolation.PROCESS), named
            )
        )
    passed = [(n, k, r.summary()) for (n, k, _), r in zip(named, reports, strict=True) if r.passed]
    assert passed == [] and len(named) >= 25
