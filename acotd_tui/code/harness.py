"""The program that runs inside the sandbox process (never imported by the app).

It is copied into the throwaway directory and started as `python -I harness.py`. Before any
submitted code runs it: applies resource limits, moves into a new network namespace where
the kernel allows, drops root to `nobody`, and installs an audit hook that refuses writes
and deletions outside the sandbox directory, process creation and network connections.
Then it runs every test case in a fresh namespace with a per-test alarm and writes the
outcomes to result.json. It uses only the standard library.
"""

import contextlib
import ctypes
import io
import json
import math
import os
import resource
import signal
import sys
import time
import traceback

SANDBOX = os.path.realpath(os.getcwd())
# Imported while still privileged: after dropping to `nobody` the interpreter may be unable
# to read its own library (e.g. Python under /root), and solutions commonly need these.
PRELOAD = [
    "abc",
    "array",
    "bisect",
    "calendar",
    "cmath",
    "collections",
    "collections.abc",
    "contextlib",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "encodings.idna",
    "encodings.latin_1",
    "encodings.ascii",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "itertools",
    "json",
    "math",
    "numbers",
    "operator",
    "pprint",
    "queue",
    "random",
    "re",
    "shutil",
    "socket",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "textwrap",
    "types",
    "typing",
    "unicodedata",
    "weakref",
]
TAIL = 2000


class SandboxViolation(Exception):
    pass


class TestTimeout(
    BaseException
):  # BaseException: a solution's `except Exception` cannot swallow it
    pass


def limit(kind, value):
    try:
        soft, hard = resource.getrlimit(kind)
        new = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (new, new))
    except (ValueError, OSError):
        pass


def isolate(spec):
    mb = spec["memory_mb"] * 1024 * 1024
    limit(resource.RLIMIT_AS, mb)
    limit(resource.RLIMIT_DATA, mb)
    limit(resource.RLIMIT_CPU, spec["cpu_s"])
    limit(resource.RLIMIT_FSIZE, spec["max_file_mb"] * 1024 * 1024)
    limit(resource.RLIMIT_NOFILE, 64)
    limit(resource.RLIMIT_CORE, 0)
    isolated = []
    try:  # a network namespace with no interfaces (needs CAP_SYS_ADMIN or user namespaces)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x40000000) == 0:  # CLONE_NEWNET
            isolated.append("network namespace")
    except OSError:
        pass
    if os.geteuid() == 0:  # never run submitted code as root
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            isolated.append("uid nobody")
        except OSError:
            pass
    limit(resource.RLIMIT_NPROC, 0 if os.geteuid() != 0 else 64)
    return isolated


def inside(path):
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return real == SANDBOX or real.startswith(SANDBOX + os.sep)


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {
    "os.remove",
    "os.unlink",
    "os.rmdir",
    "os.rename",
    "os.replace",
    "shutil.rmtree",
    "os.truncate",
    "os.chmod",
    "os.chown",
    "os.mkdir",
    "os.symlink",
    "os.link",
    "os.utime",
    "shutil.move",
    "shutil.copyfile",
}
PROCESS_EVENTS = {
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.spawn",
    "pty.spawn",
    "os.kill",
    "os.killpg",
}
NET_EVENTS = {
    "socket.connect",
    "socket.bind",
    "socket.sendto",
    "socket.sendmsg",
    "socket.getaddrinfo",
    "socket.gethostbyname",
}
DENIED_SYMBOLS = {
    b"unlink",
    b"unlinkat",
    b"remove",
    b"rmdir",
    b"rename",
    b"renameat",
    b"system",
    b"execve",
    b"execv",
    b"execvp",
    b"fork",
    b"vfork",
    b"socket",
    b"connect",
    b"kill",
    b"truncate",
    b"ftruncate",
    b"chmod",
    b"chown",
    b"open",
    b"openat",
    b"creat",
}


def audit(event, args):
    if event == "open":
        path, mode, flags = (list(args) + [None, None, 0])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE_FLAGS
        )
        if writing and isinstance(path, (str, bytes, os.PathLike)) and not inside(path):
            raise SandboxViolation(f"write outside the sandbox: {path}")
    elif event in PATH_EVENTS:
        for arg in args[:2]:
            if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                raise SandboxViolation(f"{event} outside the sandbox: {arg}")
    elif event in PROCESS_EVENTS:
        raise SandboxViolation(f"{event} is not allowed")
    elif event in NET_EVENTS:
        raise SandboxViolation(f"network access ({event}) is not allowed")
    elif event == "ctypes.dlsym" and len(args) > 1:
        name = args[1] if isinstance(args[1], bytes) else str(args[1]).encode()
        if name in DENIED_SYMBOLS:
            raise SandboxViolation(f"ctypes access to {name.decode()} is not allowed")


def alarm(_signum, _frame):
    raise TestTimeout()


def same(got, expected):
    if isinstance(got, float) or isinstance(expected, float):
        try:
            return math.isclose(float(got), float(expected), rel_tol=1e-6, abs_tol=1e-6)
        except (TypeError, ValueError):
            return False
    if isinstance(got, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(got) == len(expected) and all(
            same(a, b) for a, b in zip(got, expected, strict=False)
        )
    return got == expected


def same_output(got, expected):
    g = [line.rstrip() for line in got.strip().splitlines()]
    e = [line.rstrip() for line in expected.strip().splitlines()]
    if g == e:
        return True
    gt, et = " ".join(g).split(), " ".join(e).split()
    if len(gt) != len(et):
        return False
    for a, b in zip(gt, et, strict=False):
        if a != b:
            try:
                if not math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6):
                    return False
            except ValueError:
                return False
    return True


def entry(namespace, name):
    if name in namespace and callable(namespace[name]):
        return namespace[name]
    solution = namespace.get("Solution")
    if solution is not None and hasattr(solution, name):
        return getattr(solution(), name)
    raise NameError(f"the solution defines no {name}()")


def run_case(spec, code, case):
    kind = spec["kind"]
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    stdin = io.TextIOWrapper(
        io.BytesIO((case.get("input", "") if isinstance(case, dict) else "").encode()),
        encoding="utf-8",
    )
    stdout = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err_bytes, encoding="utf-8", write_through=True)
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    status, detail = "pass", ""
    try:
        namespace = {
            "__name__": "__main__" if kind == "stdio" else "solution",
            "__builtins__": __builtins__,
        }
        if spec.get("setup"):
            exec(compile(spec["setup"], "setup.py", "exec"), namespace)
        with contextlib.suppress(SystemExit):
            exec(compile(code, "solution.py", "exec"), namespace)
        if kind == "stdio":
            stdout.flush()
            got = out_bytes.getvalue().decode("utf-8", "replace")
            if not same_output(got, case["output"]):
                status, detail = (
                    "fail",
                    f"expected {case['output'].strip()[:200]!r}, got {got.strip()[:200]!r}",
                )
        elif kind == "functional":
            fn = entry(namespace, spec["entry_point"])
            got = fn(*case["args"])
            if not same(json.loads(json.dumps(got, default=str)), case["expected"]):
                status, detail = "fail", f"expected {case['expected']!r:.200}, got {got!r:.200}"
        else:
            exec(compile(case, "test.py", "exec"), namespace)
    except TestTimeout:
        status, detail = "timeout", f"over {spec['per_test_timeout_s']} s"
    except MemoryError:
        status, detail = "memory", f"over {spec['memory_mb']} MB"
    except SandboxViolation as exc:
        status, detail = "blocked", str(exc)
    except AssertionError as exc:
        status, detail = "fail", f"assertion failed {exc}".strip()
    except RecursionError:
        status, detail = "crash", "RecursionError: maximum recursion depth exceeded"
    except BaseException as exc:  # noqa: BLE001 - any failure of the submission is a result
        kind_ = "blocked" if isinstance(exc, PermissionError) else "crash"
        status, detail = (
            kind_,
            "".join(traceback.format_exception_only(type(exc), exc)).strip()[-400:],
        )
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    return (
        status,
        detail,
        out_bytes.getvalue()[-TAIL:].decode("utf-8", "replace"),
        err_bytes.getvalue()[-TAIL:].decode("utf-8", "replace"),
    )


def main():
    with open("spec.json", encoding="utf-8") as fh:
        spec = json.load(fh)
    with open("solution.py", encoding="utf-8") as fh:
        code = fh.read()
    result_file = open("result.json", "w", encoding="utf-8")  # noqa: SIM115 - before dropping privileges and the hook
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    isolation = isolate(spec)
    sys.addaudithook(audit)
    signal.signal(signal.SIGALRM, alarm)
    sys.setrecursionlimit(10_000)
    outcomes = []
    for index, case in enumerate(spec["cases"]):
        started = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, spec["per_test_timeout_s"])
        try:
            status, detail, out, err = run_case(spec, code, case)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        outcomes.append(
            {
                "index": index,
                "status": status,
                "detail": detail,
                "stdout": out,
                "stderr": err,
                "seconds": round(time.perf_counter() - started, 4),
            }
        )
        result_file.seek(0)
        result_file.truncate()
        json.dump({"isolation": isolation, "outcomes": outcomes}, result_file)
        result_file.flush()
    result_file.close()


if __name__ == "__main__":
    main()
